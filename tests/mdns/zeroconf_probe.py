"""Watches a DNS-SD service type with python-zeroconf (a client we did not write) and prints
one JSON line per event: {"event": "added"|"updated"|"removed", "name", "host", "port",
"addresses", "txt"}. Runs until --seconds pass; meant to run inside a test network namespace.

Usage: zeroconf_probe.py [--type _video-prod-api._tcp.local.] [--seconds 10] [--interface IP]
"""
import argparse
import json
import sys
import time

from zeroconf import IPVersion, ServiceBrowser, ServiceStateChange, Zeroconf


def describe(zc, service_type, name, event):
    record = {"event": event, "name": name}
    if event != "removed":
        info = zc.get_service_info(service_type, name, timeout=3000)
        if info is not None:
            record.update(
                host=info.server,
                port=info.port,
                addresses=sorted(info.parsed_addresses(IPVersion.V4Only)),
                txt={k.decode(): (v.decode() if v is not None else None) for k, v in info.properties.items()},
            )
    print(json.dumps(record), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--type", default="_video-prod-api._tcp.local.")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interface", action="append", help="interface address to use")
    args = parser.parse_args()
    zc = Zeroconf(interfaces=args.interface) if args.interface else Zeroconf()

    def on_change(zeroconf, service_type, name, state_change):
        event = {
            ServiceStateChange.Added: "added",
            ServiceStateChange.Updated: "updated",
            ServiceStateChange.Removed: "removed",
        }[state_change]
        describe(zeroconf, service_type, name, event)

    ServiceBrowser(zc, args.type, handlers=[on_change])
    try:
        time.sleep(args.seconds)
    finally:
        zc.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
