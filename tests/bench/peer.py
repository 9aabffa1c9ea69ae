#!/usr/bin/env python3
"""Venuebox and PocketBase side by side, in one run, on the same machine.

Both servers start fresh on loopback; each gets a production of 50 sources through its own
HTTP API (PocketBase: a `sources` collection with open rules, an index on the production, as
Venuebox's open mode). Then, for get-one, list-of-50 and create, wrk (2 threads, 16
connections) runs against each in turn, alternating, ROUNDS times; the server's CPU time
(utime + stime from /proc/<pid>/stat) divided by the requests it answered is the figure, and
the ratio Venuebox / PocketBase is the one to judge by (absolute numbers move with the
machine). Target (issue: performance on a Pi's terms): ratio <= 0.5 on each workload.

What differs and is not hidden: Venuebox acknowledges a create after fsync (synchronous=FULL,
group commit); PocketBase runs SQLite with synchronous=NORMAL, no fsync per commit. Venuebox's
answers carry the crew app's wire format (embedded outputs, display ids).

Usage: peer.py VENUEBOX_BINARY POCKETBASE_BINARY [SECONDS] [ROUNDS]
Writes target/bench/peer.json.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

THREADS, CONNECTIONS = 2, 16
HZ = os.sysconf("SC_CLK_TCK")


def http(method, url, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", token)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def wait_up(url):
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def start_venuebox(binary, work):
    port = 38110
    proc = subprocess.Popen(
        [binary, "serve", "--listen", f"127.0.0.1:{port}", "--no-mdns", "--auth-mode", "open",
         "--data-dir", os.path.join(work, "venuebox")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, VENUEBOX_LOG="warn"))
    base = f"http://127.0.0.1:{port}"
    wait_up(base + "/health")
    for production in ["bench-read", "bench-write"]:
        http("POST", base + "/api/productions", {"id": production, "name": production})
    ids = [http("POST", base + "/api/sources",
                {"productionId": "bench-read", "name": f"CAM {n}", "type": "CAMERA"})["uuid"]
           for n in range(50)]
    return proc, base, {
        "get": ("GET", [f"/api/sources/{i}" for i in ids], None),
        "list": ("GET", ["/api/sources/production/bench-read"], None),
        "create": ("POST", ["/api/sources"],
                   '{"productionId":"bench-write","name":"BENCH %d","type":"CAMERA"}'),
    }


def start_pocketbase(binary, work):
    port = 38120
    data = os.path.join(work, "pocketbase")
    subprocess.run([binary, "superuser", "upsert", "bench@example.invalid", "bench-password-1",
                    "--dir", data], check=True, stdout=subprocess.DEVNULL)
    proc = subprocess.Popen([binary, "serve", "--http", f"127.0.0.1:{port}", "--dir", data],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_up(base + "/api/health")
    token = http("POST", base + "/api/collections/_superusers/auth-with-password",
                 {"identity": "bench@example.invalid", "password": "bench-password-1"})["token"]
    http("POST", base + "/api/collections", {
        "name": "sources", "type": "base",
        # Timestamps as Venuebox keeps them; the list is in creation order, as Venuebox's.
        "fields": [{"name": "production", "type": "text"}, {"name": "name", "type": "text"},
                   {"name": "type", "type": "text"},
                   {"name": "created", "type": "autodate", "onCreate": True},
                   {"name": "updated", "type": "autodate", "onCreate": True, "onUpdate": True}],
        "indexes": ["CREATE INDEX idx_sources_production ON sources (production)"],
        "listRule": "", "viewRule": "", "createRule": "",
    }, token)
    records = base + "/api/collections/sources/records"
    ids = [http("POST", records, {"production": "bench-read", "name": f"CAM {n}", "type": "CAMERA"})["id"]
           for n in range(50)]
    query = urllib.parse.urlencode({"filter": "production='bench-read'", "perPage": 50,
                                    "skipTotal": 1, "sort": "created"})
    return proc, base, {
        "get": ("GET", [f"/api/collections/sources/records/{i}" for i in ids], None),
        "list": ("GET", [f"/api/collections/sources/records?{query}"], None),
        "create": ("POST", ["/api/collections/sources/records"],
                   '{"production":"bench-write","name":"BENCH %d","type":"CAMERA"}'),
    }


def run(work, proc, base, workload, seconds):
    method, paths, body = workload
    paths_file = os.path.join(work, "paths")
    with open(paths_file, "w") as out:
        out.write("\n".join(paths) + "\n")
    env = dict(os.environ, BENCH_METHOD=method, BENCH_PATHS=paths_file, BENCH_BODY=body or "")
    before = cpu_ticks(proc.pid)
    out = subprocess.run(["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s",
                          "-s", "tests/bench/peer.lua", base],
                         env=env, capture_output=True, text=True, check=True).stdout
    after = cpu_ticks(proc.pid)
    result = json.loads(out.strip().splitlines()[-1])
    result["cpuMsPerRequest"] = (after - before) / HZ * 1000 / max(1, result["requests"])
    return result


def main():
    venuebox_bin, pocketbase_bin = sys.argv[1], sys.argv[2]
    seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    with tempfile.TemporaryDirectory() as work:
        ours, ours_base, ours_work = start_venuebox(venuebox_bin, work)
        theirs, theirs_base, theirs_work = start_pocketbase(pocketbase_bin, work)
        try:
            table = []
            for name in ["get", "list", "create"]:
                samples = {"venuebox": [], "pocketbase": []}
                for _ in range(rounds):
                    samples["venuebox"].append(run(work, ours, ours_base, ours_work[name], seconds))
                    samples["pocketbase"].append(run(work, theirs, theirs_base, theirs_work[name], seconds))
                row = {"workload": name}
                for server, results in samples.items():
                    row[server] = {
                        "cpuMsPerRequest": statistics.median(r["cpuMsPerRequest"] for r in results),
                        "requestsPerSecond": statistics.median(r["requestsPerSecond"] for r in results),
                        "p99Ms": statistics.median(r["p99Ms"] for r in results),
                        "non2xx": sum(r["non2xx"] for r in results),
                    }
                row["ratio"] = row["venuebox"]["cpuMsPerRequest"] / row["pocketbase"]["cpuMsPerRequest"]
                table.append(row)
                v, p = row["venuebox"], row["pocketbase"]
                print(f"{name:7} CPU/request venuebox {v['cpuMsPerRequest']:.3f} ms, pocketbase "
                      f"{p['cpuMsPerRequest']:.3f} ms: ratio {row['ratio']:.2f} (target <= 0.5: "
                      f"{'met' if row['ratio'] <= 0.5 else 'MISSED'}); req/s {v['requestsPerSecond']:.0f} vs "
                      f"{p['requestsPerSecond']:.0f}; p99 {v['p99Ms']:.2f} vs {p['p99Ms']:.2f} ms; "
                      f"non-2xx {v['non2xx']} / {p['non2xx']}", flush=True)
            os.makedirs("target/bench", exist_ok=True)
            with open("target/bench/peer.json", "w") as out:
                json.dump({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           "threads": THREADS, "connections": CONNECTIONS, "seconds": seconds,
                           "rounds": rounds, "results": table}, out, indent=2)
        finally:
            for proc in (ours, theirs):
                proc.terminate()
                proc.wait(timeout=30)


if __name__ == "__main__":
    main()
