#!/usr/bin/env bash
# Long lists in bounded memory (figures, not pass/fail): the release box serves a production
# of 10,000 sources (made through its REST API) to 16 laptops at once; reports the box's RSS
# idle on that database and its peak (VmHWM) while serving. The box is restarted after
# seeding so the peak is the lists', not the seeding's.
# Target (issue #17): peak < 64 MB serving 16 concurrent 10k-row lists.
# Usage: scripts/bench-lists.sh [rows] [clients]   (default 10000 16)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
rows="${1:-10000}"
clients="${2:-16}"
say "building the release binary"
cargo build --release --locked -q -p venuebox
bin="${VENUEBOX_BENCH_BIN:-$PWD/target/release/venuebox}"
work="$(mktemp -d)"
port=3320
cleanup() {
    [ -n "${box:-}" ] && kill "$box" 2>/dev/null && wait "$box" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
start_box() {
    VENUEBOX_LOG=warn "$bin" serve --listen "127.0.0.1:$port" --no-mdns --auth-mode open \
        --data-dir "$work/data" 2>>"$work/log" &
    box=$!
    for _ in $(seq 1 100); do
        curl -fs "127.0.0.1:$port/health" >/dev/null && return
        sleep 0.1
    done
    echo "the box did not start" >&2
    cat "$work/log" >&2
    exit 1
}
start_box
say "creating $rows sources through the API"
python3 tests/bench/big_lists.py "http://127.0.0.1:$port" arena "$rows" seed
kill "$box" && wait "$box" 2>/dev/null || true
start_box
sleep 2
idle=$(awk '/VmRSS/ {print $2}' "/proc/$box/status")
say "$clients concurrent lists"
cpu() { awk '{print $14 + $15}' "/proc/$box/stat"; }
before=$(cpu)
python3 tests/bench/big_lists.py "http://127.0.0.1:$port" arena "$rows" read "$clients"
ticks=$(($(cpu) - before))
awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$clients" 'BEGIN {
    printf "box CPU: %.2f s for the %d lists, %.0f ms a list\n", t / hz, n, 1000 * t / hz / n }'
peak=$(awk '/VmHWM/ {print $2}' "/proc/$box/status")
after=$(awk '/VmRSS/ {print $2}' "/proc/$box/status")
echo "box memory: idle ${idle} kB on the ${rows}-row database, peak (VmHWM) ${peak} kB, ${after} kB after"
echo "target: peak < 64 MB (65,536 kB) serving $clients concurrent ${rows}-row lists"
