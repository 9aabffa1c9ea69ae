#!/usr/bin/env bash
# The OCI image of the box, FROM scratch (no base image to pull: nothing but the static
# binary, which carries SQLite and its TLS roots): non-root (uid 65532), data on the volume
# /data, port 3010, mDNS off (a container's network rarely reaches the venue LAN's multicast;
# run with --network host and VENUEBOX_MDNS_ENABLED=true for discovery), a health check that
# is the binary itself (`venuebox health`, there is no curl in the image).
# Usage: scripts/build-image.sh STATIC_BINARY TAG ARCHIVE   (a docker-archive: podman/docker load)
set -euo pipefail
binary=$1 tag=$2 archive=$3
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$(dirname "$0")/../Cargo.toml" | head -1)
work=$(mktemp -d)
ctr=""
cleanup() { [ -n "$ctr" ] && buildah rm "$ctr" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
# The data folder must exist in the image, owned by the user the box runs as, so a fresh
# named volume starts with that owner; scratch has no mkdir.
mkdir -p "$work/data"
ctr=$(buildah from scratch)
buildah copy --quiet --chmod 0755 "$ctr" "$binary" /venuebox >/dev/null
buildah copy --quiet --chown 65532:65532 --chmod 0700 "$ctr" "$work/data" /data >/dev/null
buildah config \
    --user 65532:65532 \
    --workingdir /data \
    --port 3010/tcp \
    --volume /data \
    --env VENUEBOX_LISTEN=0.0.0.0:3010 \
    --env VENUEBOX_DATA_DIR=/data \
    --env VENUEBOX_MDNS_ENABLED=false \
    --entrypoint '["/venuebox"]' \
    --cmd serve \
    --healthcheck 'CMD /venuebox health' \
    --healthcheck-interval 30s \
    --healthcheck-timeout 10s \
    --healthcheck-retries 3 \
    --label org.opencontainers.image.title=venuebox \
    --label "org.opencontainers.image.version=$version" \
    --label org.opencontainers.image.description="Offline-first venue server for live-event video crews" \
    "$ctr"
# Docker's image format: it is the one that carries HEALTHCHECK (OCI's has no field for it).
buildah commit --quiet --format docker --rm "$ctr" "$tag" >/dev/null
ctr=""
rm -f "$archive"
buildah push --quiet "$tag" "docker-archive:$archive:$tag"
echo "built $tag ($(stat -c %s "$archive") bytes) -> $archive"
