"""Load with hub faults: 50 clients create sources on the box for DURATION seconds while a
TCP proxy between the box and its PostgreSQL hub goes down and up every 0.5-2 s (connections
cut mid-push, mid-pull, mid-notify). Passes when no client saw an error, and after the hub
stays up the queue drains: queue 0, and the hub holds exactly the sources every client was
told were created — no duplicate, no gap (origin sequences 1..n, each once).
Prints one JSON line. Usage: load_with_faults.py path/to/venuebox POSTGRES_URL [seconds] [clients]
"""
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import http.client
from urllib.parse import urlparse, urlunparse

BIN, PG = sys.argv[1], sys.argv[2]
DURATION = float(sys.argv[3]) if len(sys.argv) > 3 else 20
CLIENTS = int(sys.argv[4]) if len(sys.argv) > 4 else 50
PRODUCTION = "faults"


def psql(url, sql):
    return subprocess.run(["psql", url, "-qAtc", sql], check=True, capture_output=True, text=True).stdout.strip()


class Proxy:
    """A TCP proxy in its own event loop thread; `up = False` cuts every connection."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.up = True
        self.writers = set()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait()

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _handle(self, reader, writer):
        if not self.up:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers.update([writer, up_writer])

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                dst.close()
                self.writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def set_up(self, up):
        self.up = up
        if not up:
            def cut():
                for w in list(self.writers):
                    w.transport.abort()
                self.writers.clear()
            self.loop.call_soon_threadsafe(cut)


def start_box(data_dir, hub_url):
    config = os.path.join(os.path.dirname(data_dir), "venuebox.toml")
    with open(config, "w") as f:
        f.write(f'[hub]\nurl = "{hub_url}"\nsync_interval = "1s"\n')
    proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--no-mdns", "--auth-mode", "open",
                             "--data-dir", data_dir, "--config", config],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for line in proc.stderr:
        match = re.search(rb"serving on http://127\.0\.0\.1:(\d+)", line)
        if match:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, int(match.group(1))
    raise SystemExit("the box did not start")


def call(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    answer = json.loads(response.read() or b"null")
    conn.close()
    return response.status, answer


def main():
    database = f"venuebox_faults_{os.getpid()}"
    psql(PG, f"CREATE DATABASE {database}")
    work = tempfile.mkdtemp(prefix="venuebox-faults-")
    url = urlparse(PG)
    proxy = Proxy(url.hostname, url.port or 5432)
    hub_direct = urlunparse(url._replace(path=f"/{database}"))
    netloc = url.netloc.rsplit(":", 1)[0] if url.port else url.netloc
    hub_proxied = urlunparse(url._replace(netloc=f"{netloc}:{proxy.port}", path=f"/{database}"))
    proc, port = start_box(os.path.join(work, "data"), hub_proxied)
    try:
        status, _ = call(port, "POST", "/api/productions", {"id": PRODUCTION, "name": "Faults"})
        assert status == 201, status
        created, errors, lock = {}, [], threading.Lock()
        stop = threading.Event()

        def client(index):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    conn.request("POST", "/api/sources", body=json.dumps(
                        {"productionId": PRODUCTION, "name": f"C{index}-{n}", "type": "CAMERA"}),
                        headers={"Content-Type": "application/json"})
                    response = conn.getresponse()
                    body = json.loads(response.read())
                except Exception as error:  # noqa: BLE001 - any failure is a finding
                    with lock:
                        errors.append(repr(error))
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    continue
                with lock:
                    if response.status == 201:
                        created[body["uuid"]] = body["name"]
                    else:
                        errors.append(f"{response.status} {body}")

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        cuts = 0
        deadline = time.time() + DURATION
        while time.time() < deadline:
            time.sleep(random.uniform(0.5, 2.0))
            proxy.set_up(not proxy.up)
            cuts += 0 if proxy.up else 1
        stop.set()
        for t in threads:
            t.join()
        proxy.set_up(True)
        drained_at = None
        started = time.time()
        while time.time() - started < 300:
            _, sync = call(port, "GET", "/api/sync/status")
            if sync["queueLength"] == 0 and sync["online"]:
                drained_at = time.time() - started
                break
            time.sleep(0.5)
        assert drained_at is not None, f"queue did not drain: {sync}"
        _, sync = call(port, "GET", "/api/sync/status")
        node = sync["nodeId"]
        hub_sources = dict(line.split("|", 1) for line in psql(hub_direct,
            f"SELECT uuid, data->>'name' FROM hub_entities WHERE kind = 'source' AND production_id = '{PRODUCTION}' "
            "AND deleted_hlc IS NULL").splitlines() if line)
        seqs = [int(s) for s in psql(hub_direct,
            f"SELECT origin_seq FROM hub_changes WHERE origin_node = '{node}' ORDER BY origin_seq").splitlines()]
        missing = [u for u, name in created.items() if hub_sources.get(u) != name]
        extra = [u for u in hub_sources if u not in created]
        gapless = seqs == list(range(1, len(seqs) + 1))
        summary = {"seconds": DURATION, "clients": CLIENTS, "hubCuts": cuts, "acknowledgedCreates": len(created),
                   "clientErrors": len(errors), "drainedSecondsAfterHubBack": round(drained_at, 1),
                   "hubSources": len(hub_sources), "missingOnHub": len(missing), "unexpectedOnHub": len(extra),
                   "originSequences": len(seqs), "sequencesGapFreeAndUnique": gapless}
        print(json.dumps(summary))
        if errors:
            print("client errors, e.g.:", errors[:3], file=sys.stderr)
        ok = not errors and not missing and not extra and gapless
        sys.exit(0 if ok else 1)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)
        psql(PG, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


main()
