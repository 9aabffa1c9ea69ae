#!/usr/bin/env python3
"""Floods from one stranger on the venue Wi-Fi, and what the crew sees meanwhile.

Starts the box (release binary, passphrase mode, mDNS off) with the open-file soft limit at
1,024 as systemd's default gives it, signs in, mints a crew token, then for each flood runs it
for SECONDS while a crew client sends GET /api/productions with its token every 20 ms on a
fresh connection from 127.0.0.1. The attacker is a separate process on 127.0.0.2 (one LAN
host). Prints, per flood, the crew request's p50/p99/max latency and failures, and the box's
peak memory. The target (issue: security round 2, V3): crew p99 < 100 ms under each flood;
box memory under the guess burst < 100 MB.

Floods:
  slow-body   1,100 connections that send a sign-in request announcing 100 bytes and then
              one byte, reopened as soon as the box lets them go
  slowloris   1,100 connections that send a request's headers a few bytes a second,
              reopened as soon as the box lets them go
  guesses     bursts of 150 concurrent wrong passphrases, again and again, from the one
              address and from 20 more (127.0.0.3-22)

Usage: floods.py BINARY [SECONDS]
"""
import asyncio
import http.client
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ADMIN = "flood benchmark admin passphrase"


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_box(binary, data_dir):
    def systemd_default_soft_limit():
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))

    env = dict(os.environ, VENUEBOX_ADMIN_PASSPHRASE=ADMIN, VENUEBOX_LOG="warn,venuebox=info")
    proc = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--no-mdns", "--data-dir", data_dir,
         "--auth-mode", "passphrase"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=systemd_default_soft_limit)
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stderr.readline()
        if "serving on http://" in line:
            port = int(line.split("serving on http://")[1].split("/")[0].rsplit(":", 1)[1])
            # Keep draining stderr so the box never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, port
    raise SystemExit("the box did not start")


def request(port, method, path, body=None, headers=None, source="127.0.0.1", timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source, 0))
    data = json.dumps(body) if body is not None else None
    conn.request(method, path, body=data,
                 headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, response.getheader("Set-Cookie"), payload


def crew_token(port):
    status, cookie, _ = request(port, "POST", "/api/auth/login", {"passphrase": ADMIN})
    assert status == 200, status
    cookie = cookie.split(";")[0]
    status, _, payload = request(port, "POST", "/api/auth/tokens",
                                 {"role": "editor", "name": "crew laptop"},
                                 headers={"Cookie": cookie})
    assert status == 201, (status, payload)
    return json.loads(payload)["token"]


def memory_kb(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


# ---------------------------------------------------------------- the attacker's process

async def slow_body(port, stop_at, held=1100):
    async def one():
        while time.time() < stop_at:
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", port, local_addr=("127.0.0.2", 0))
                writer.write(b"POST /api/auth/login HTTP/1.1\r\nHost: box\r\n"
                             b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
                await writer.drain()
                await asyncio.wait_for(reader.read(), timeout=max(0.1, stop_at - time.time()))
                writer.close()
            except (OSError, asyncio.TimeoutError):
                await asyncio.sleep(0.01)
    await asyncio.gather(*(one() for _ in range(held)))


async def slowloris(port, stop_at, held=1100):
    request = b"GET /api/productions HTTP/1.1\r\nHost: box\r\nX-Padding: " + b"a" * 64
    async def one():
        while time.time() < stop_at:
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", port, local_addr=("127.0.0.2", 0))
                for byte in request:
                    if time.time() >= stop_at or reader.at_eof():
                        break
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.3)
                writer.close()
            except (OSError, asyncio.TimeoutError):
                await asyncio.sleep(0.01)
    await asyncio.gather(*(one() for _ in range(held)))


async def guesses(port, stop_at):
    async def guess(source, n):
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(source, 0))
            body = json.dumps({"passphrase": f"guess {n}"}).encode()
            writer.write(b"POST /api/auth/login HTTP/1.1\r\nHost: box\r\nConnection: close\r\n"
                         b"Content-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            await writer.drain()
            await asyncio.wait_for(reader.read(), timeout=30)
            writer.close()
        except (OSError, asyncio.TimeoutError):
            pass
    n = 0
    while time.time() < stop_at:
        sources = ["127.0.0.2"] * 150 + [f"127.0.0.{3 + i}" for i in range(20) for _ in range(10)]
        await asyncio.gather(*(guess(source, n + i) for i, source in enumerate(sources)))
        n += len(sources)


def attacker(kind, port, seconds):
    raise_nofile()
    stop_at = time.time() + seconds
    flood = {"slow-body": slow_body, "slowloris": slowloris, "guesses": guesses}[kind]
    asyncio.run(flood(port, stop_at))


# ---------------------------------------------------------------- the crew's view

def measure(port, token, pid, seconds, kind):
    flood = None
    if kind != "none":
        flood = multiprocessing.Process(target=attacker, args=(kind, port, seconds))
        flood.start()
        time.sleep(1)  # let the flood build up before measuring
    latencies, failures, peak_rss = [], 0, 0
    stop_at = time.time() + seconds - (1 if flood else 0)
    while time.time() < stop_at:
        started = time.perf_counter()
        try:
            status, _, _ = request(port, "GET", "/api/productions",
                                   headers={"Authorization": f"Bearer {token}"}, timeout=5)
            if status != 200:
                failures += 1
        except OSError:
            failures += 1
        latencies.append((time.perf_counter() - started) * 1000)
        peak_rss = max(peak_rss, memory_kb(pid, "VmRSS"))
        time.sleep(0.02)
    if flood:
        flood.join()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return {
        "flood": kind,
        "requests": len(latencies),
        "failures": failures,
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(latencies[-1], 2),
        "peak_rss_mb": round(peak_rss / 1024, 1),
    }


def main():
    binary = sys.argv[1]
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    raise_nofile()
    with tempfile.TemporaryDirectory() as data_dir:
        proc, port = start_box(binary, data_dir)
        try:
            token = crew_token(port)
            with open(f"/proc/{proc.pid}/limits") as limits:
                nofile = next(line for line in limits if line.startswith("Max open files"))
            print(f"box started with soft limit 1024; now: {' '.join(nofile.split()[3:5])}")
            results = []
            for kind in ["none", "slow-body", "slowloris", "guesses"]:
                result = measure(port, token, proc.pid, seconds, kind)
                result["target_met"] = result["p99_ms"] < 100 and result["failures"] == 0
                results.append(result)
                print(f"{kind:10} crew GET p50 {result['p50_ms']:7.2f} ms  p99 "
                      f"{result['p99_ms']:7.2f} ms  max {result['max_ms']:8.2f} ms  "
                      f"failures {result['failures']:3}/{result['requests']}  "
                      f"box RSS peak {result['peak_rss_mb']} MB  "
                      f"(target p99 < 100 ms: {'met' if result['target_met'] else 'MISSED'})",
                      flush=True)
                time.sleep(2)
            results.append({"box_peak_rss_mb_overall": memory_kb(proc.pid, "VmHWM") / 1024})
            os.makedirs("target/bench", exist_ok=True)
            with open("target/bench/floods.json", "w") as out:
                json.dump(results, out, indent=2)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
