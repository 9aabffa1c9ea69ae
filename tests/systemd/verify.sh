#!/usr/bin/env bash
# Checks the systemd unit: `systemd-analyze verify` (where systemd is available), and that
# the hardening the box relies on is present. Usage: tests/systemd/verify.sh path/to/venuebox
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="$(realpath "$1")"
unit=systemd/venuebox.service
for directive in 'User=venuebox' 'StateDirectory=venuebox' 'Restart=on-failure' \
    'ProtectSystem=strict' 'NoNewPrivileges=yes' 'PrivateTmp=yes' 'ProtectHome=yes' \
    'CapabilityBoundingSet=$' 'RestrictAddressFamilies=.*AF_NETLINK' 'KillSignal=SIGTERM'; do
    grep -Eq "^$directive" "$unit" || { echo "missing in $unit: $directive" >&2; exit 1; }
done
echo "ok - the unit has its hardening directives"
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "ok - systemd-analyze not available here; verify skipped"
    exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The unit names the installed binary; verify it against the one just built.
sed "s|/usr/bin/venuebox|$bin|" "$unit" > "$work/venuebox.service"
if ! out=$(systemd-analyze verify "$work/venuebox.service" 2>&1) || [ -n "$out" ]; then
    echo "systemd-analyze verify complained:" >&2
    echo "$out" >&2
    exit 1
fi
echo "ok - systemd-analyze verify accepts the unit"
