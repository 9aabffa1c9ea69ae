"""Power-cut torture: writers create sources as fast as the box acknowledges them, each
acknowledged write is logged, and the box is killed with SIGKILL at a random moment (what a
power cut does to the process; fsync-before-ack is what keeps the data). After each kill the
database must pass PRAGMA integrity_check and, once the box is back, hold every acknowledged
write. Prints a JSON summary; exits 1 if anything acknowledged was lost.

Usage: power_cut.py path/to/venuebox CYCLES [WRITERS]
"""
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import http.client

BIN, CYCLES = sys.argv[1], int(sys.argv[2])
WRITERS = int(sys.argv[3]) if len(sys.argv) > 3 else 8
PRODUCTION = "power-cut"


def start(data_dir):
    log = open(os.path.join(os.path.dirname(data_dir), "server.log"), "ab")
    proc = subprocess.Popen(
        [BIN, "serve", "--listen", "127.0.0.1:0", "--no-mdns", "--auth-mode", "open", "--data-dir", data_dir],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    seen = b""
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        log.write(line)
        seen += line
        match = re.search(rb"serving on http://127\.0\.0\.1:(\d+)", line)
        if match:
            # Keep draining stderr so the box never blocks on a full pipe.
            threading.Thread(target=lambda: [log.write(l) for l in proc.stderr], daemon=True).start()
            return proc, int(match.group(1))
    proc.kill()
    raise SystemExit(f"the box did not start:\n{seen.decode(errors='replace')}")


def request(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def writer(port, index, acknowledged, lock, stop):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    n = 0
    while not stop.is_set():
        n += 1
        name = f"W{index}-{n}-{random.getrandbits(32):08x}"
        try:
            conn.request("POST", "/api/sources", body=json.dumps(
                {"productionId": PRODUCTION, "name": name, "type": "CAMERA"}),
                headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            body = json.loads(response.read())
        except Exception:
            return  # the box is gone: whatever was not acknowledged may or may not be there
        if response.status == 201:
            with lock:
                acknowledged[body["uuid"]] = name


def main():
    work = tempfile.mkdtemp(prefix="venuebox-power-cut-")
    data_dir = os.path.join(work, "data")
    proc, port = start(data_dir)
    status, _ = request(port, "POST", "/api/productions", {"id": PRODUCTION, "name": "Power cut"})
    assert status == 201, status
    acknowledged, lock = {}, threading.Lock()
    lost_total, integrity_failures = 0, 0
    for cycle in range(1, CYCLES + 1):
        stop = threading.Event()
        threads = [threading.Thread(target=writer, args=(port, i, acknowledged, lock, stop)) for i in range(WRITERS)]
        for t in threads:
            t.start()
        time.sleep(random.uniform(0.2, 1.5))
        proc.send_signal(signal.SIGKILL)  # the power cut
        proc.wait()
        stop.set()
        for t in threads:
            t.join()
        # Checked on a copy of the files as the kill left them, so the box itself does the
        # WAL recovery when it restarts.
        copy = os.path.join(work, "check")
        os.makedirs(copy, exist_ok=True)
        for suffix in ("", "-wal"):
            source = os.path.join(data_dir, "venuebox.db" + suffix)
            if os.path.exists(source):
                shutil.copyfile(source, os.path.join(copy, "venuebox.db" + suffix))
        db = sqlite3.connect(os.path.join(copy, "venuebox.db"))
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        db.close()
        shutil.rmtree(copy)
        if check != "ok":
            integrity_failures += 1
            print(f"cycle {cycle}: integrity_check: {check}", file=sys.stderr)
        proc, port = start(data_dir)
        status, rows = request(port, "GET", f"/api/sources/production/{PRODUCTION}")
        assert status == 200, status
        present = {row["uuid"]: row["name"] for row in rows}
        lost = [uuid for uuid, name in acknowledged.items() if present.get(uuid) != name]
        lost_total += len(lost)
        if lost:
            print(f"cycle {cycle}: {len(lost)} acknowledged writes lost, e.g. {lost[:3]}", file=sys.stderr)
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    summary = {"cycles": CYCLES, "writers": WRITERS, "acknowledgedWrites": len(acknowledged),
               "lost": lost_total, "integrityFailures": integrity_failures}
    print(json.dumps(summary))
    shutil.rmtree(work)
    sys.exit(1 if lost_total or integrity_failures else 0)


main()
