#!/usr/bin/env bash
# Floods from one stranger on the venue Wi-Fi (slow bodies, slowloris, bursts of guesses)
# against the release binary, with the crew's GET latency measured during each.
# Writes target/bench/floods.json. Usage: scripts/bench-floods.sh [seconds-per-flood]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
cargo build --release --locked -q -p venuebox
say "floods from one host (127.0.0.2, guesses also from 127.0.0.3-22); crew GET from 127.0.0.1"
python3 tests/bench/floods.py target/release/venuebox "${1:-15}"
