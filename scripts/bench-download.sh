#!/usr/bin/env bash
# Pre-show download benchmark (figures, not pass/fail): the real box (release build) downloads
# a 10,000-row production from a local PostgreSQL hub; reports rows/s and the box's peak
# memory (VmHWM). The production reaches the hub as a real one does: an office box (the same
# binary) creates it through its REST API and its sync engine pushes it, clocks and all
# (tests/bench/office_seed.py). The hub database is created for the run and dropped after.
# Targets (issue #17): >= 50,000 rows/s from command start to the verified summary, peak RSS
# < 64 MB whatever the size.
# Usage: scripts/bench-download.sh [rows]   (default 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
ensure_postgres
rows="${1:-10000}"
say "building the release binary"
cargo build --release --locked -q -p venuebox
bin="$PWD/target/release/venuebox"
db="venuebox_bench_$$"
hub="${VENUEBOX_TEST_PG%/*}/$db"
work="$(mktemp -d)"
cleanup() {
    [ -n "${box:-}" ] && kill "$box" 2>/dev/null && wait "$box" 2>/dev/null || true
    [ -n "${office:-}" ] && kill "$office" 2>/dev/null && wait "$office" 2>/dev/null || true
    psql "$VENUEBOX_TEST_PG" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
psql "$VENUEBOX_TEST_PG" -qc "CREATE DATABASE $db" >/dev/null
port=3310
VENUEBOX_HUB_URL="$hub" VENUEBOX_LOG=warn,venuebox_sync::download=info "$bin" serve --listen "127.0.0.1:$port" --no-mdns \
    --auth-mode open --data-dir "$work/data" 2>"$work/log" &
box=$!
for _ in $(seq 1 100); do
    curl -fs "127.0.0.1:$port/api/sync/status" | grep -q '"online":true' && break
    sleep 0.2
done
say "an office box creates a production of $rows rows through its API and pushes it"
VENUEBOX_HUB_URL="$hub" VENUEBOX_LOG=warn "$bin" serve --listen "127.0.0.1:$((port + 1))" \
    --no-mdns --auth-mode open --data-dir "$work/office" 2>"$work/office.log" &
office=$!
for _ in $(seq 1 100); do
    curl -fs "127.0.0.1:$((port + 1))/api/sync/status" | grep -q '"online":true' && break
    sleep 0.2
done
python3 tests/bench/office_seed.py "http://127.0.0.1:$((port + 1))" bench "$rows"
kill "$office" && wait "$office" 2>/dev/null || true
office=
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$box/status")
say "downloading"
cpu() { awk '{print $14 + $15}' "/proc/$box/stat"; }
tick=$(getconf CLK_TCK)
cpu_before=$(cpu)
start=$(date +%s.%N)
"$bin" download --production bench --url "http://127.0.0.1:$port" >"$work/out" 2>"$work/progress"
end=$(date +%s.%N)
cat "$work/out"
peak=$(awk '/VmHWM/ {print $2}' "/proc/$box/status")
rss_after=$(awk '/VmRSS/ {print $2}' "/proc/$box/status")
awk -v r="$rows" -v s="$start" -v e="$end" 'BEGIN { printf "end to end (command start to verified): %d rows in %.2f s = %.0f rows/s\n", r, e - s, r / (e - s) }'
grep -o "download phases.*" "$work/log" || true
echo "box CPU during the download: $(( ($(cpu) - cpu_before) * 1000 / tick )) ms (user + system; steadier than the rate on a shared VM)"
echo "box memory: RSS ${rss_before} kB before, peak (VmHWM) ${peak} kB, ${rss_after} kB after"
echo "targets: >= 50,000 rows/s end to end; peak RSS < 64 MB (65,536 kB)"
