#!/usr/bin/env bash
# Torture tests (bounded: a few minutes). Pass/fail, with figures.
#   power cut: writers on the release binary, SIGKILL at random moments, every acknowledged
#   write must be there after restart and the database must pass integrity_check.
#   bad input: schemathesis generates valid and invalid requests for every operation of the
#   generated /api/openapi.json; no 5xx, no crash, no panic.
# Usage: scripts/torture.sh [power-cut-cycles]      (scripts/test.sh runs a short version)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
cycles="${1:-50}"
ensure_python_venv
cargo build --release --locked -q -p venuebox
mkdir -p target/bench
say "power cut: $cycles cycles of SIGKILL under 8 concurrent writers"
python3 tests/torture/power_cut.py target/release/venuebox "$cycles" 8 | tee target/bench/power-cut.json
say "bad input: schemathesis, 25 examples per operation and phase, on the release build"
tests/torture/bad_input.sh target/release/venuebox .venv/bin/schemathesis 25
