"""Makes a production the way a real one reaches the hub: created through an office box's
REST API (the real write path: outbox, field clocks) and pushed by that box's sync engine.
Used by scripts/bench-download.sh. Prints how long creating and pushing took.

Usage: office_seed.py BASE_URL PRODUCTION_ID ROWS
The mix follows issue #17: 40 % sources with two outputs, 30 % sends, 20 % checklist items,
10 % cameras.
"""
import json
import sys
import threading
import time

import box_http
from box_http import post

base, production, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
WORKERS = 16


def connect():
    return box_http.connect(base)


def row(n):
    share = n % 10
    if share < 4:
        return "/api/sources", {"productionId": production, "name": f"Source {n}", "type": "LAPTOP",
                                "note": "x" * 40,
                                "outputs": [{"connector": "HDMI"}, {"connector": "SDI"}]}
    if share < 7:
        return "/api/sends", {"productionId": production, "name": f"Send {n}", "type": "VIDEO"}
    if share < 9:
        return "/api/checklist-items", {"productionId": production, "title": f"Item {n}"}
    return "/api/cameras", {"productionId": production, "name": f"Camera {n}"}


def work(first):
    conn = connect()
    for n in range(first, rows - 1, WORKERS):
        path, body = row(n)
        post(conn, path, body)


started = time.perf_counter()
post(connect(), "/api/productions", {"id": production, "name": "Bench show", "client": "ACME"})
threads = [threading.Thread(target=work, args=(w,)) for w in range(WORKERS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
created = time.perf_counter()
conn = connect()
while True:
    conn.request("GET", "/api/sync/status")
    status = json.loads(conn.getresponse().read())
    queue = status["queueLength"]
    if queue == 0:
        break
    if time.perf_counter() - created > 600:
        raise SystemExit(f"the office box still has {queue} changes queued after 10 minutes")
    time.sleep(0.2)
pushed = time.perf_counter()
print(f"office box: {rows} rows created through its API in {created - started:.1f} s, "
      f"pushed to the hub {pushed - created:.1f} s later")
