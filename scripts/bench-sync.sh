#!/usr/bin/env bash
# Sync benchmark (figures with their targets, not pass/fail): push on loopback and through a
# 100 ms round trip, the delay a box with a dead link causes another box, and pull, against a
# local PostgreSQL hub in a fresh database that is dropped afterwards. Every change reaches
# the hub through a node's real push.
# Usage: scripts/bench-sync.sh [changes]   (default 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
ensure_postgres
say "sync: push, slow-link push, blackholed link, pull against PostgreSQL on 127.0.0.1 (release build)"
cargo run --release --locked -q -p venuebox-sync --features testkit --example bench_sync -- "${1:-10000}"
