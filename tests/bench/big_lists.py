"""Sixteen crew laptops opening the same long list at once. Used by scripts/bench-lists.sh.

Usage: big_lists.py BASE_URL PRODUCTION_ID ROWS seed|read [CLIENTS]
  seed  creates ROWS sources (two outputs each) through the box's REST API, 16 at a time
  read  CLIENTS concurrent GETs of the production's source list; each answer is checked:
        every row once, in creation order. Prints the time and the bytes read.
"""
import json
import sys
import threading
import time

import box_http
from box_http import post

base, production, rows, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
clients = int(sys.argv[5]) if len(sys.argv) > 5 else 16


def connect():
    return box_http.connect(base, timeout=120)


def seed():
    post(connect(), "/api/productions", {"id": production, "name": "Arena", "client": "ACME"})

    def work(first):
        conn = connect()
        for n in range(first, rows, 16):
            post(conn, "/api/sources", {
                "productionId": production, "id": f"SRC {n:05}", "name": f"Source {n:05}",
                "type": "CAMERA", "note": "x" * 40,
                "outputs": [{"connector": "HDMI"}, {"connector": "SDI"}]})

    threads = [threading.Thread(target=work, args=(w,)) for w in range(16)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"created {rows} sources in {time.perf_counter() - started:.1f} s")


def read():
    failures = []
    sizes = []

    def work():
        try:
            conn = connect()
            conn.request("GET", f"/api/sources/production/{production}")
            answer = conn.getresponse()
            body = answer.read()
            sizes.append(len(body))
            listed = json.loads(body)
            names = {row["name"] for row in listed}
            created = [row["createdAt"] for row in listed]
            if len(listed) != rows or len(names) != rows or created != sorted(created):
                failures.append(f"{len(listed)} rows, {len(names)} names, "
                                f"in creation order: {created == sorted(created)}")
        except Exception as err:  # noqa: BLE001 - reported below
            failures.append(repr(err))

    threads = [threading.Thread(target=work) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - started
    if failures:
        raise SystemExit(f"lists failed: {failures[:3]}")
    print(f"{clients} concurrent lists of {rows} rows ({sizes[0]:,} bytes each), "
          f"every row once and in order, in {took:.1f} s")


{"seed": seed, "read": read}[mode]()
