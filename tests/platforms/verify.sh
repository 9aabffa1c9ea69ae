#!/usr/bin/env bash
# Checks what `scripts/package.sh static windows image` built, beyond Debian: each archive's
# contents and checksum, and each build serving the curl smoke test (create, read, list,
# health, metrics, the .xlsx export) — the static x86_64 binary natively, the static aarch64
# binary and the arm64 Debian package's binary under qemu-user, the Windows build under Wine,
# the image in a podman container (non-root, its health check passing).
# Usage: tests/platforms/verify.sh [python-with-prometheus_client-and-openpyxl]
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${1:-.venv/bin/python}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
dist=target/dist
work=$(mktemp -d)
container=""
cleanup() {
    [ -n "$container" ] && podman --runtime runc rm -f "$container" >/dev/null 2>&1
    podman --runtime runc volume rm -f venuebox-verify-data >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "not ok - $*" >&2; exit 1; }
# smoke WHAT BIN [env...]: the curl smoke test against BIN, its output shown only on failure.
smoke() {
    local what=$1 bin=$2
    shift 2
    env "$@" tests/smoke/curl.sh "$bin" "$python" >"$work/smoke.log" 2>&1 \
        || { cat "$work/smoke.log" >&2; fail "$what failed the smoke test"; }
}
ok() { echo "ok - $*"; }

(cd "$dist" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS does not match the archives"
ok "SHA256SUMS matches $(wc -l < "$dist/SHA256SUMS") archives"

# The static Linux archives.
for arch in x86_64 aarch64; do
    name="venuebox-$version-$arch-linux-musl"
    archive="$dist/$name.tar.gz"
    [ -f "$archive" ] || fail "no archive $archive"
    listing=$(tar -tvzf "$archive")
    for file in venuebox venuebox.toml venuebox.service README.txt; do
        grep -q " $name/$file\$" <<<"$listing" || fail "$name: $file missing"
    done
    grep -Eq '^-rwxr-xr-x 0/0 .* '"$name"'/venuebox$' <<<"$listing" || fail "$name: the binary is not 0755 root"
    tar -C "$work" -xzf "$archive"
    kind=$(file -b "$work/$name/venuebox")
    grep -Eq 'statically linked|static-pie linked' <<<"$kind" || fail "$name: not statically linked: $kind"
    ok "$name.tar.gz: binary (statically linked), config, unit, README"
done
bin="$work/venuebox-$version-x86_64-linux-musl/venuebox"
[ "$("$bin" --version)" = "venuebox $version" ] || fail "static x86_64 --version"
smoke "the static x86_64 binary" "$bin"
ok "static x86_64 binary serves the smoke test"
arm="$work/venuebox-$version-aarch64-linux-musl/venuebox"
grep -q 'ARM aarch64' <<<"$(file -b "$arm")" || fail "the aarch64 binary is not aarch64"
smoke "the static aarch64 binary (qemu-aarch64)" tests/platforms/qemu-venuebox VENUEBOX_ARM_BIN="$arm"
ok "static aarch64 binary serves the smoke test under qemu-aarch64"

# The Pi's Debian package, field-checked the same way (its binary links glibc dynamically).
deb="target/debian/venuebox_${version}-1_arm64.deb"
if [ -f "$deb" ]; then
    dpkg-deb -x "$deb" "$work/arm64-deb"
    smoke "the arm64 package's binary (qemu-aarch64)" tests/platforms/qemu-venuebox \
        VENUEBOX_ARM_BIN="$work/arm64-deb/usr/bin/venuebox" QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
    ok "arm64 Debian package's binary serves the smoke test under qemu-aarch64"
fi

# Windows.
name="venuebox-$version-x86_64-windows"
zip="$dist/$name.zip"
[ -f "$zip" ] || fail "no archive $zip"
listing=$(python3 -m zipfile -l "$zip")
for file in venuebox.exe venuebox.toml README.txt; do
    grep -q "^$name/$file " <<<"$listing" || fail "$name: $file missing"
done
python3 -m zipfile -e "$zip" "$work"
exe="$work/$name/venuebox.exe"
grep -q 'PE32+ executable' <<<"$(file -b "$exe")" || fail "not a 64-bit Windows executable"
# Wine 8 lacks the DLL Rust's std takes randomness from on Windows 10+; the test-only shim
# goes next to the .exe (Windows has the real one).
x86_64-w64-mingw32-gcc -shared -O2 -o "$work/$name/bcryptprimitives.dll" \
    tests/platforms/bcryptprimitives.c -ladvapi32
export WINEPREFIX="$work/wineprefix" WINEDEBUG=-all
wineboot --init >/dev/null 2>&1 || true
[ "$(VENUEBOX_EXE="$exe" tests/platforms/wine-venuebox --version | tr -d '\r')" = "venuebox $version" ] \
    || fail "venuebox.exe --version under Wine"
smoke "the Windows build (Wine)" tests/platforms/wine-venuebox VENUEBOX_EXE="$exe"
ok "$name.zip: venuebox.exe serves the smoke test under Wine"
# Ctrl+C (Wine turns SIGINT into the console's Ctrl-C event): the same clean stop as SIGTERM.
VENUEBOX_EXE="$exe" VENUEBOX_AUTH_MODE=open tests/platforms/wine-venuebox serve --listen 127.0.0.1:0 \
    --no-mdns --data-dir "$work/windows-data" 2>"$work/windows.log" &
wine_pid=$!
for _ in $(seq 1 300); do grep -q 'serving on' "$work/windows.log" && break; sleep 0.1; done
grep -q 'serving on' "$work/windows.log" || fail "venuebox.exe serve did not start: $(cat "$work/windows.log")"
kill -INT "$(pgrep -f "$exe serve" | head -1)"
wait "$wine_pid" || fail "Ctrl+C: venuebox.exe exited with $?"
grep -q 'every acknowledged write is on disk' "$work/windows.log" || fail "Ctrl+C did not stop it cleanly"
ok "venuebox.exe stops cleanly on Ctrl+C, exit code 0"
wineserver -k >/dev/null 2>&1 || true

# The container image. This test machine is itself a container (cgroups in hybrid mode, no
# CAP_SYS_RESOURCE, no systemd): runc copes with hybrid cgroups where crun does not, limits
# are set below the machine's own, and the health check is run by hand instead of by a
# systemd timer. None of this is needed on an ordinary host.
pod() { podman --runtime runc --cgroup-manager cgroupfs "$@"; }
image="$dist/venuebox-$version-image.tar"
[ -f "$image" ] || fail "no image archive $image"
pod load -q -i "$image" >/dev/null
tag="localhost/venuebox:$version"
[ "$(pod image inspect "$tag" --format '{{.Config.User}}')" = "65532:65532" ] || fail "the image runs as root"
pod image inspect "$tag" --format '{{json .Config.Volumes}}' | grep -q '"/data"' || fail "no /data volume"
pod image inspect "$tag" --format '{{json .Config.Healthcheck}}' | grep -q 'health' || fail "no health check"
# Host networking bound to loopback only (the box listens on 127.0.0.1): no bridge, no
# iptables rules, nothing on the machine's real interfaces; mDNS is off in the image.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
container=$(pod run -d --network host --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
    --health-interval disable -v venuebox-verify-data:/data \
    -e VENUEBOX_LISTEN="127.0.0.1:$port" -e VENUEBOX_AUTH_MODE=open "$tag")
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
done
pod healthcheck run "$container" >/dev/null || fail "the image's health check does not pass"
[ "$(pod exec "$container" /venuebox --version)" = "venuebox $version" ] || fail "venuebox --version in the container"
[ "$(pod exec "$container" /venuebox health --url "http://127.0.0.1:$port" >/dev/null && echo up)" = up ] \
    || fail "venuebox health in the container"
smoke "the container" - VENUEBOX_SMOKE_BASE="http://127.0.0.1:$port"
pod stop -t 20 "$container" >/dev/null
[ "$(pod inspect "$container" --format '{{.State.ExitCode}}')" = 0 ] || fail "the container did not stop cleanly"
pod logs "$container" 2>&1 | grep -q 'every acknowledged write is on disk' || fail "no clean stop in the log"
ok "image $tag: non-root, /data volume, health check passes, serves the smoke test, stops cleanly"
