#!/usr/bin/env bash
# Torture tests (bounded: a few minutes). Pass/fail, with figures.
#   power cut: writers on the release binary, SIGKILL at random moments, every acknowledged
#   write must be there after restart and the database must pass integrity_check.
#   hub faults under load: 50 clients write for 30 s while the hub link is cut and restored
#   every 0.5-2 s; no client error, the queue drains, the hub holds exactly the acknowledged
#   writes with gap-free origin sequences. Plus the sync fault tests (a push's COMMIT answer
#   lost, a download cut at a random row) from the Rust suite.
#   bad input: schemathesis generates valid and invalid requests for every operation of the
#   generated /api/openapi.json; no 5xx, no crash, no panic.
# Usage: scripts/torture.sh [power-cut-cycles]      (scripts/test.sh runs a short version)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
cycles="${1:-50}"
ensure_python_venv
ensure_postgres
cargo build --release --locked -q -p venuebox
mkdir -p target/bench
say "power cut: $cycles cycles of SIGKILL under 8 concurrent writers"
python3 tests/torture/power_cut.py target/release/venuebox "$cycles" 8 | tee target/bench/power-cut.json
say "bad input: schemathesis, 25 examples per operation and phase, on the release build"
tests/torture/bad_input.sh target/release/venuebox .venv/bin/schemathesis 25
say "hub faults under load: 50 clients for 30 s, the hub link cut and restored every 0.5-2 s"
python3 tests/torture/load_with_faults.py target/release/venuebox "$VENUEBOX_TEST_PG" 30 50 | tee target/bench/load-with-faults.json
say "sync fault tests: lost COMMIT answer, interrupted download (cargo test -p venuebox-sync --release)"
cargo test --release --locked -q -p venuebox-sync --features testkit --test sync 2>&1 | tail -3
