#!/usr/bin/env bash
# Installs Venuebox as a hardened system service on a plain Debian (or Raspberry Pi OS) box.
#
#   sudo deploy/install.sh [path/to/venuebox]     # default: target/release/venuebox
#
# Installs the binary to /usr/bin/venuebox, creates the `venuebox` system user, writes the
# documented configuration to /etc/venuebox/venuebox.toml (kept if it exists), installs the
# systemd unit and starts the service. The data lives in /var/lib/venuebox (StateDirectory).
# Run it again to upgrade: the binary and unit are replaced, config and data are kept, and the
# service restarts (it backs up its database before applying new migrations).
# DESTDIR=/some/dir installs into that folder instead and does not touch users or systemd.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/venuebox}"
root="${DESTDIR:-}"
if [ ! -x "$bin" ]; then
    echo "no venuebox binary at $bin; build it with: cargo build --release" >&2
    exit 1
fi
if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
    echo "run as root (sudo $0 $*)" >&2
    exit 1
fi
install -D -m 0755 "$bin" "$root/usr/bin/venuebox"
install -D -m 0644 systemd/venuebox.service "$root/lib/systemd/system/venuebox.service"
install -d -m 0755 "$root/etc/venuebox"
if [ ! -e "$root/etc/venuebox/venuebox.toml" ]; then
    "$bin" config example > "$root/etc/venuebox/venuebox.toml"
    chmod 0640 "$root/etc/venuebox/venuebox.toml"
    echo "wrote /etc/venuebox/venuebox.toml (edit it: node.name, hub.url, ...)"
else
    echo "kept the existing /etc/venuebox/venuebox.toml"
fi
if [ -n "$root" ]; then
    echo "installed into $root"
    exit 0
fi
if ! id venuebox >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/venuebox --no-create-home --shell /usr/sbin/nologin venuebox
fi
# The config may hold the hub password: readable by root and the service only.
chgrp venuebox /etc/venuebox/venuebox.toml
systemctl daemon-reload
systemctl enable venuebox.service
systemctl restart venuebox.service
echo "venuebox is running: systemctl status venuebox, journalctl -u venuebox"
echo "first start: the admin passphrase is in the log once:"
echo "  journalctl -u venuebox | grep -A2 'admin passphrase'"
