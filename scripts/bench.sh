#!/usr/bin/env bash
# Benchmarks (figures, not pass/fail), release build, everything on loopback, mDNS off.
# Prints each figure with the command that produced it; JSON lands in target/bench/.
#   1. REST under wrk at 16 and 64 connections: req/s, p50/p99/max, server CPU per request
#      (scripts/bench-rest.sh)
#   2. durable write rate at 1/10/50 clients and group-commit batch sizes (bench_api example);
#      WAL bytes per write, and the same with every fsync 10 ms slower as on an SD card
#      (scripts/bench-writes.sh)
#   3. realtime: one edit fanned out to 100 socket.io-client connections, server RSS with them
#   3b. long lists: 16 laptops opening a 10,000-row list at once, the box's peak memory
#      (scripts/bench-lists.sh)
#   4. footprint: start-up to a healthy /health on an existing database, idle RSS, binary size
#   5. sync push and pull rates, pre-show download of a 10,000-entity production
#   6. floods from one stranger (slow bodies, slowloris, guess bursts): crew GET p50/p99 during
#      each, box memory (scripts/bench-floods.sh)
#   7. Venuebox and PocketBase side by side: CPU per request and the ratio (scripts/bench-peer.sh)
# Usage: scripts/bench.sh [seconds-per-REST-run]      (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
ensure_node
mkdir -p target/bench
seconds="${1:-10}"
say "1. REST under wrk (scripts/bench-rest.sh $seconds)"
scripts/bench-rest.sh "$seconds"
say "2. durable writes: concurrent creates, fsync before every acknowledgement (bench_api example)"
cargo run --release --locked -q -p venuebox-api --example bench_api -- 5 open
say "   the same with an editor bearer token checked on every request"
cargo run --release --locked -q -p venuebox-api --example bench_api -- 5 token
say "   WAL bytes per write, and writes with a 10 ms fsync (scripts/bench-writes.sh 5)"
scripts/bench-writes.sh 5
say "3. realtime delivery to 100 socket.io-client connections (tests/node/bench-latency.mjs 100 50)"
cargo build --release --locked -q -p venuebox
npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
(cd tests/node && VENUEBOX_BIN="$PWD/../../target/release/venuebox" node bench-latency.mjs 100 50)
echo "target: p99 < 10 ms from sending the PUT to the event's arrival at every client"
say "3b. 16 concurrent lists of 10,000 sources, box memory (scripts/bench-lists.sh)"
scripts/bench-lists.sh 10000 16
say "4. footprint (tests/bench/startup.py target/release/venuebox 10)"
python3 tests/bench/startup.py target/release/venuebox 10 | tee target/bench/startup.json
echo "target: idle RSS < 15 MB (15,360 kB) on an existing database (idleRssKbExistingDatabase)"
strip -o target/bench/venuebox.stripped target/release/venuebox
binary=$(stat -c %s target/bench/venuebox.stripped)
rm target/bench/venuebox.stripped
echo "stripped release binary: $binary bytes ($((binary / 1024 / 1024)) MiB)"
echo "{\"strippedBinaryBytes\": $binary}" >target/bench/binary.json
say "5. sync push and pull rates (scripts/bench-sync.sh 10000)"
scripts/bench-sync.sh 10000
say "   pre-show download (scripts/bench-download.sh 10000)"
scripts/bench-download.sh 10000
say "6. floods from one host, crew latency meanwhile (scripts/bench-floods.sh 15)"
scripts/bench-floods.sh 15
say "7. Venuebox and PocketBase side by side (scripts/bench-peer.sh 10 2)"
scripts/bench-peer.sh 10 2
