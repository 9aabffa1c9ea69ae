#!/usr/bin/env bash
# Sync benchmark (figures, not pass/fail): push and pull rates against a local PostgreSQL hub,
# in a fresh database that is dropped afterwards.
# Usage: scripts/bench-sync.sh [changes]   (default 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
ensure_postgres
say "sync: push and pull rates against PostgreSQL on 127.0.0.1 (release build)"
cargo run --release --locked -q -p venuebox-sync --features testkit --example bench_sync -- "${1:-10000}"
