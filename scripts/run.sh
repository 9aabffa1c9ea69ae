#!/usr/bin/env bash
# Runs the box on its embedded defaults: SQLite in ./data, port 3010, no cloud hub.
# Extra arguments go to `venuebox serve` (e.g. --listen 127.0.0.1:3010 --no-mdns).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
say "building venuebox (release)"
cargo build --release --locked -p venuebox
exec target/release/venuebox serve "$@"
