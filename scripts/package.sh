#!/usr/bin/env bash
# Builds what the box ships as, each target built once:
#   deb      Debian packages for amd64 and arm64 (Raspberry Pi OS bookworm and later):
#            target/debian/venuebox_<version>-1_{amd64,arm64}.deb, the arm64 one cross-built
#            with Debian's gcc-aarch64-linux-gnu
#   static   static Linux binaries (musl, built with cargo-zigbuild) for any distribution:
#            target/dist/venuebox-<version>-{x86_64,aarch64}-linux-musl.tar.gz
#   windows  target/dist/venuebox-<version>-x86_64-windows.zip (mingw-w64)
#   image    an OCI image FROM scratch around the x86_64 static binary (buildah):
#            target/dist/venuebox-<version>-image.tar (docker-archive: `podman load` or `docker load`), tagged localhost/venuebox:<version>
# and target/dist/SHA256SUMS over the archives. Usage: scripts/package.sh [deb|static|windows|image|all ...]
# (default: all). `image` needs `static` built first (in the same run or before).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
what=("$@")
[ ${#what[@]} -eq 0 ] && what=(all)
[ "${what[*]}" = all ] && what=(deb static windows image)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
dist=target/dist
mkdir -p "$dist"

# An archive's folder: the binary, the documented configuration, the systemd unit, the excerpt.
stage() {
    local name=$1 binary=$2
    local folder="$dist/stage/$name"
    rm -rf "$folder" && mkdir -p "$folder"
    install -m 0755 "$binary" "$folder/"
    install -m 0644 config/venuebox.toml systemd/venuebox.service deploy/dist/README.txt "$folder/"
    echo "$folder"
}

for part in "${what[@]}"; do
    case "$part" in
        deb)
            ensure_packaging_tools
            for arch in amd64 arm64; do
                case "$arch" in
                    amd64) target=() ;;
                    arm64) target=(--target aarch64-unknown-linux-gnu) ;;
                esac
                say "building the $arch Debian package (release)"
                cargo deb --locked -p venuebox "${target[@]}" --output target/debian/ >&2
            done
            ls -l target/debian/*.deb
            ;;
        static)
            ensure_static_tools
            for arch in x86_64 aarch64; do
                target="$arch-unknown-linux-musl"
                say "building the static $arch Linux binary (musl, release)"
                cargo zigbuild --release --locked --target "$target" -p venuebox >&2
                name="venuebox-$version-$arch-linux-musl"
                folder=$(stage "$name" "target/$target/release/venuebox")
                tar -C "$(dirname "$folder")" --owner=0 --group=0 --numeric-owner \
                    -czf "$dist/$name.tar.gz" "$name"
            done
            ;;
        windows)
            ensure_windows_tools
            say "building the Windows binary (x86_64-pc-windows-gnu, release)"
            cargo build --release --locked --target x86_64-pc-windows-gnu -p venuebox >&2
            name="venuebox-$version-x86_64-windows"
            folder=$(stage "$name" target/x86_64-pc-windows-gnu/release/venuebox.exe)
            rm -f "$folder/venuebox.service"
            rm -f "$dist/$name.zip"
            (cd "$(dirname "$folder")" && python3 -m zipfile -c "../$name.zip" "$name")
            ;;
        image)
            ensure_image_tools
            binary="target/x86_64-unknown-linux-musl/release/venuebox"
            [ -x "$binary" ] || { echo "build the static binaries first: scripts/package.sh static image" >&2; exit 2; }
            say "building the OCI image (FROM scratch, buildah)"
            scripts/build-image.sh "$binary" "localhost/venuebox:$version" "$dist/venuebox-$version-image.tar"
            ;;
        *) echo "unknown part $part (deb, static, windows, image or all)" >&2; exit 2 ;;
    esac
done
rm -rf "$dist/stage"
(cd "$dist" && ls ./*.tar.gz ./*.zip ./*.tar 2>/dev/null | sed 's#^\./##' | xargs -r sha256sum > SHA256SUMS)
ls -l "$dist"
