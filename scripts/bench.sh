#!/usr/bin/env bash
# Benchmarks (figures, not pass/fail): API write and read throughput over loopback.
# Usage: scripts/bench.sh [seconds-per-level]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
say "API throughput (release build, server and client on this machine, mDNS off)"
cargo run --release --locked -q -p venuebox-api --example bench_api -- "${1:-5}" open
say "the same with crew credentials checked on every request (editor bearer token)"
cargo run --release --locked -q -p venuebox-api --example bench_api -- "${1:-5}" token
say "realtime delivery latency (100 socket.io-client connections, release build)"
ensure_node
cargo build --release --locked -q -p venuebox
npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
(cd tests/node && VENUEBOX_BIN="$PWD/../../target/release/venuebox" node bench-latency.mjs 100 50)
say "sync push and pull rates"
scripts/bench-sync.sh 10000
say "pre-show download rate and peak memory"
scripts/bench-download.sh 10000
