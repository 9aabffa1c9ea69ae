#!/usr/bin/env bash
# Checks the Debian packages scripts/package.sh built: what they install (dpkg-deb -c), their
# control data (conffile, dependencies, maintainer scripts), and that each binary runs — the
# arm64 one under qemu-aarch64. Usage: tests/package/verify.sh [target/debian]
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="${1:-target/debian}"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "not ok - $*" >&2; exit 1; }
for arch in amd64 arm64; do
    deb="$dir/venuebox_${version}-1_${arch}.deb"
    [ -f "$deb" ] || fail "no package at $deb"
    contents=$(dpkg-deb -c "$deb")
    for path in ./usr/bin/venuebox ./etc/venuebox/venuebox.toml ./usr/lib/systemd/system/venuebox.service \
        ./usr/share/doc/venuebox/README.md ./usr/share/doc/venuebox/copyright; do
        grep -q " $path\$" <<<"$contents" || fail "$arch: $path missing from the package"
    done
    grep -Eq '^-rwxr-xr-x root/root .* \./usr/bin/venuebox$' <<<"$(sed 's#0/0#root/root#' <<<"$contents")" \
        || fail "$arch: the binary is not executable"
    grep -Eq '^-rw-r----- .* \./etc/venuebox/venuebox.toml$' <<<"$contents" \
        || fail "$arch: the config (it may hold the hub password) is readable by everyone"
    [ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "$arch: wrong Architecture field"
    dpkg-deb -f "$deb" Depends | grep -q adduser || fail "$arch: does not depend on adduser"
    rm -rf "$work/$arch" && mkdir -p "$work/$arch/control"
    dpkg-deb -x "$deb" "$work/$arch/root"
    dpkg-deb -e "$deb" "$work/$arch/control"
    grep -qx /etc/venuebox/venuebox.toml "$work/$arch/control/conffiles" \
        || fail "$arch: the config is not a conffile (an upgrade would overwrite edits)"
    for script in "$work/$arch/control"/{preinst,postinst,prerm,postrm}; do
        if [ -e "$script" ] && ! sh -n "$script"; then fail "$arch: $(basename "$script") is not valid sh"; fi
    done
    grep -q 'adduser --system' "$work/$arch/control/postinst" || fail "$arch: postinst creates no user"
    grep -q 'deb-systemd-helper enable' "$work/$arch/control/postinst" || fail "$arch: postinst does not enable the unit"
    cmp -s systemd/venuebox.service "$work/$arch/root/usr/lib/systemd/system/venuebox.service" \
        || fail "$arch: the packaged unit is not systemd/venuebox.service"
    cmp -s config/venuebox.toml "$work/$arch/root/etc/venuebox/venuebox.toml" \
        || fail "$arch: the packaged config is not config/venuebox.toml"
    echo "ok - $arch package: $(stat -c %s "$deb") bytes; binary, unit, conffile and maintainer scripts in place"
done
bin="$work/amd64/root/usr/bin/venuebox"
[ "$("$bin" --version)" = "venuebox $version" ] || fail "amd64 binary --version"
"$bin" config show --config "$work/amd64/root/etc/venuebox/venuebox.toml" >/dev/null \
    || fail "the packaged config does not load"
echo "ok - amd64 binary runs: $("$bin" --version)"
arm="$work/arm64/root/usr/bin/venuebox"
file "$arm" | grep -q 'ARM aarch64' || fail "arm64 binary is not an aarch64 ELF: $(file "$arm")"
out=$(qemu-aarch64 -L /usr/aarch64-linux-gnu "$arm" --version) || fail "arm64 binary does not run under qemu-aarch64"
[ "$out" = "venuebox $version" ] || fail "arm64 --version printed $out"
qemu-aarch64 -L /usr/aarch64-linux-gnu "$arm" config show --config "$work/arm64/root/etc/venuebox/venuebox.toml" >/dev/null \
    || fail "arm64 binary cannot load the packaged config"
echo "ok - arm64 binary runs under qemu-aarch64: $out"
