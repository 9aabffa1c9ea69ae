"""Where the WAL pages of a lone create go: starts the box (open mode, loopback, mDNS off) on a
fresh data folder, creates checklist items one at a time over HTTP, and after each reads the
frames that create appended to the write-ahead log, naming each frame's page by the b-tree it
belongs to (SQLite's dbstat table, read through a read-only connection). Prints the pages per
create over the second half of the run (the first half fills the tables past their first
splits) and the share of each b-tree. Usage: wal_pages.py path/to/venuebox [creates]"""
import collections
import json
import os
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time

import box_http
from box_http import free_port

BIN = sys.argv[1]
CREATES = int(sys.argv[2]) if len(sys.argv) > 2 else 600


def main():
    data = tempfile.mkdtemp(prefix="venuebox-wal-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    box = subprocess.Popen([BIN, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}",
                            "--no-mdns", "--auth-mode", "open"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn = box_http.connect(base)
        for _ in range(200):
            try:
                conn.request("GET", "/health")
                conn.getresponse().read()
                break
            except OSError:
                conn.close()
                time.sleep(0.05)

        def post(path, body):
            return json.loads(box_http.post(conn, path, body))

        production = post("/api/productions", {"name": "WAL pages"})["id"]
        database = os.path.join(data, "venuebox.db")
        wal = database + "-wal"
        reader = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        page_size = reader.execute("PRAGMA page_size").fetchone()[0]

        def frames():
            """The page numbers of the log's current frames (those carrying the header's
            salt: a log restarted after a checkpoint overwrites from the start)."""
            pages = []
            with open(wal, "rb") as log:
                salt = log.read(32)[16:24]
                while True:
                    header = log.read(24)
                    if len(header) < 24 or header[8:16] != salt:
                        return salt, pages
                    pages.append(struct.unpack(">I", header[:4])[0])
                    log.seek(page_size, 1)

        counted, pages, by_tree = 0, 0, collections.Counter()
        for n in range(CREATES):
            salt, before = frames()
            post("/api/checklist-items", {"productionId": production, "title": f"item {n}"})
            salt_after, after = frames()
            if n < CREATES // 2 or salt_after != salt:
                continue  # warming up, or a checkpoint restarted the log
            trees = {page: name for name, page in reader.execute("SELECT name, pageno FROM dbstat")}
            written = after[len(before):]
            counted += 1
            pages += len(written)
            by_tree.update(trees.get(page, "?") for page in written)
        print(f"WAL pages per lone create: {pages / counted:.2f} "
              f"({counted} creates after {CREATES // 2} to warm up; page size {page_size} B)")
        for tree, count in by_tree.most_common():
            print(f"  {count / counted:5.2f}  {tree}")
    finally:
        box.terminate()
        box.wait()


main()
