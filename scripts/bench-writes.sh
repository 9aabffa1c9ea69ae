#!/usr/bin/env bash
# Durable writes on a Pi's terms (figures with their targets, not pass/fail): the write-rate
# benchmark (bench_api example: concurrent creates over HTTP, every answer after fsync) run
# under an LD_PRELOAD shim (tests/bench/slow_fsync.c, built here with gcc) that counts the
# bytes SQLite appends to its write-ahead log, once at this disk's speed and once with every
# fsync made 10 ms slower, as on an SD card. Targets (issue #17): at most 3 WAL pages (~12 KB)
# per single-row create; >= 2,000 creates/s from 50 clients with a 10 ms fsync. First,
# tests/bench/wal_pages.py names the b-tree of every page a lone create appends.
# Usage: scripts/bench-writes.sh [seconds-per-level]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
mkdir -p target/bench
gcc -O2 -shared -fPIC -o target/bench/slow_fsync.so tests/bench/slow_fsync.c -ldl
cargo build --release --locked -q -p venuebox-api --example bench_api
cargo build --release --locked -q -p venuebox
say "where the WAL pages of one create go (tests/bench/wal_pages.py: frames read off the log)"
python3 tests/bench/wal_pages.py target/release/venuebox 600
stats=$(mktemp)
trap 'rm -f "$stats"' EXIT
for ms in 0 10; do
    say "creates with fsync as this disk has it + ${ms} ms (WAL bytes per write from the shim)"
    SLOW_FSYNC_MS=$ms SLOW_FSYNC_STATS="$stats" LD_PRELOAD="$PWD/target/bench/slow_fsync.so" \
        target/release/examples/bench_api "${1:-5}" open | sed -n '1,/^reads/p' | grep -v '^reads'
done
echo "targets: WAL bytes/write at concurrency 1 <= 12,360 (3 pages with their frame headers);"
echo "         writes/s at concurrency 50 with +10 ms fsync >= 2,000"
