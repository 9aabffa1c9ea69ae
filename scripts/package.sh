#!/usr/bin/env bash
# Builds the Debian packages: target/debian/venuebox_<version>-1_amd64.deb and _arm64.deb
# (Raspberry Pi OS bookworm and later, cross-built with Debian's gcc-aarch64-linux-gnu).
# Usage: scripts/package.sh [amd64|arm64 ...]     (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
ensure_packaging_tools
arches=("$@")
[ ${#arches[@]} -eq 0 ] && arches=(amd64 arm64)
for arch in "${arches[@]}"; do
    case "$arch" in
        amd64) target=() ;;
        arm64) target=(--target aarch64-unknown-linux-gnu) ;;
        *) echo "unknown architecture $arch (amd64 or arm64)" >&2; exit 2 ;;
    esac
    say "building the $arch package (release)"
    cargo deb --locked -p venuebox "${target[@]}" --output target/debian/ >&2
done
ls -l target/debian/*.deb
