#!/usr/bin/env bash
# Checks the systemd unit: `systemd-analyze verify` (where systemd is available), and that
# the hardening the box relies on is present. Usage: tests/systemd/verify.sh path/to/venuebox
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="$(realpath "$1")"
unit=systemd/venuebox.service
for directive in 'User=venuebox' 'StateDirectory=venuebox' 'Restart=on-failure' \
    'ProtectSystem=strict' 'NoNewPrivileges=yes' 'PrivateTmp=yes' 'ProtectHome=yes' \
    'CapabilityBoundingSet=$' 'RestrictAddressFamilies=.*AF_NETLINK' 'KillSignal=SIGTERM' \
    'Type=notify' 'WatchdogSec=[0-9]+' 'LimitNOFILE=[0-9]+' 'MemoryMax=[0-9]+M' 'TasksMax=[0-9]+'; do
    grep -Eq "^$directive" "$unit" || { echo "missing in $unit: $directive" >&2; exit 1; }
done
echo "ok - the unit has its hardening directives"
# deploy/install.sh into a folder: binary, unit and a config the binary accepts; a second run
# keeps the config.
stage="$(mktemp -d)"
DESTDIR="$stage" deploy/install.sh "$bin" >/dev/null
for file in usr/bin/venuebox lib/systemd/system/venuebox.service etc/venuebox/venuebox.toml; do
    [ -e "$stage/$file" ] || { echo "deploy/install.sh did not install $file" >&2; exit 1; }
done
"$stage/usr/bin/venuebox" config show --config "$stage/etc/venuebox/venuebox.toml" >/dev/null
echo "# edited" >> "$stage/etc/venuebox/venuebox.toml"
DESTDIR="$stage" deploy/install.sh "$bin" >/dev/null
grep -q '# edited' "$stage/etc/venuebox/venuebox.toml" || { echo "reinstall replaced the config" >&2; exit 1; }
rm -rf "$stage"
echo "ok - deploy/install.sh installs the binary, the unit and a valid config, and keeps it on upgrade"
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
