"""The HTTP client side shared by the benchmark scripts that drive a box's REST API
(office_seed.py, big_lists.py): one keep-alive connection per thread, and a POST that must
answer 201."""
import http.client
import json
from urllib.parse import urlsplit


def connect(base, timeout=60):
    host = urlsplit(base)
    return http.client.HTTPConnection(host.hostname, host.port, timeout=timeout)


def post(conn, path, body):
    conn.request("POST", path, json.dumps(body), {"content-type": "application/json"})
    answer = conn.getresponse()
    text = answer.read()
    if answer.status != 201:
        raise SystemExit(f"POST {path}: {answer.status} {text[:200]!r}")
