"""Start-up time of the box on an existing database: from spawning the process to the first
200 from /health (polled every millisecond), over several runs; and idle RSS after start.
Prints one JSON line. Usage: startup.py path/to/venuebox [runs]"""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import http.client

from box_http import free_port

BIN = sys.argv[1]
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 10


def healthy(port):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", "/health")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def run(data_dir, port):
    started = time.perf_counter()
    proc = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{port}", "--no-mdns", "--auth-mode", "open",
                             "--data-dir", data_dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not healthy(port):
        if proc.poll() is not None:
            raise SystemExit("the box exited during start-up")
        if time.perf_counter() - started > 60:
            raise SystemExit("no healthy answer within 60 s")
        time.sleep(0.001)
    elapsed = time.perf_counter() - started
    return proc, elapsed


def rss_kb(pid):
    return int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{pid}/status").read()).group(1))


work = tempfile.mkdtemp(prefix="venuebox-startup-")
data_dir = os.path.join(work, "data")
port = free_port()
proc, first = run(data_dir, port)  # creates, migrates and seeds the database
proc.terminate()
proc.wait()
times = []
idle = None
for i in range(RUNS):
    proc, elapsed = run(data_dir, port)
    times.append(elapsed * 1000)
    if i == RUNS - 1:
        time.sleep(5)
        idle = rss_kb(proc.pid)
    proc.terminate()
    proc.wait()
shutil.rmtree(work)
print(json.dumps({
    "firstStartMs": round(first * 1000, 1),
    "startupMsMedian": round(statistics.median(times), 1),
    "startupMsMax": round(max(times), 1),
    "runs": RUNS,
    "idleRssKbExistingDatabase": idle,
}))
