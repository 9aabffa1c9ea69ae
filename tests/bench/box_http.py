"""The HTTP client side shared by the benchmark scripts that drive a box's REST API
(office_seed.py, big_lists.py, wal_pages.py, startup.py): one keep-alive connection per
thread, a POST that must answer 201 (its body returned), and a free loopback port for a box to listen on."""
import http.client
import json
import socket
from urllib.parse import urlsplit


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(base, timeout=60):
    host = urlsplit(base)
    return http.client.HTTPConnection(host.hostname, host.port, timeout=timeout)


def post(conn, path, body):
    conn.request("POST", path, json.dumps(body), {"content-type": "application/json"})
    answer = conn.getresponse()
    text = answer.read()
    if answer.status != 201:
        raise SystemExit(f"POST {path}: {answer.status} {text[:200]!r}")
    return text
