#!/usr/bin/env bash
# Pre-show download benchmark (figures, not pass/fail): the real box (release build) downloads
# a 10,000-row production from a local PostgreSQL hub; reports rows/s and the box's peak
# memory (VmHWM). The hub database is created for the run and dropped afterwards.
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
    psql "$VENUEBOX_TEST_PG" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
psql "$VENUEBOX_TEST_PG" -qc "CREATE DATABASE $db" >/dev/null
port=3310
VENUEBOX_HUB_URL="$hub" VENUEBOX_LOG=warn "$bin" serve --listen "127.0.0.1:$port" --no-mdns \
    --auth-mode open --data-dir "$work/data" 2>"$work/log" &
box=$!
for _ in $(seq 1 100); do
    curl -fs "127.0.0.1:$port/api/sync/status" | grep -q '"online":true' && break
    sleep 0.2
done
say "generating a production of $rows rows on the hub"
psql "$hub" -q <<SQL
INSERT INTO hub_entities (uuid, kind, data, clocks) VALUES
  ('bench', 'production', '{"id":"bench","show_name":"Bench show","client":"ACME","venue":"Hall","_deleted":false}', '{}');
INSERT INTO hub_entities (uuid, kind, production_id, data, clocks)
SELECT md5('bench' || n), (ARRAY['source','camera','checklist-item'])[1 + n % 3], 'bench',
  CASE n % 3
    WHEN 0 THEN jsonb_build_object('id', 'SRC ' || n, 'name', 'Source ' || n, 'type', 'Camera',
                                   'note', repeat('x', 60), 'h_res', 1920, 'v_res', 1080, '_deleted', false)
    WHEN 1 THEN jsonb_build_object('id', 'CAM ' || n, 'name', 'Camera ' || n, 'manufacturer', 'Sony',
                                   'model', 'HDC-5500', '_deleted', false)
    ELSE jsonb_build_object('title', 'Checklist item ' || n, 'completed', false, 'category', 'GENERAL')
  END, '{}'
FROM generate_series(1, $rows - 1) AS n;
SQL
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$box/status")
say "downloading"
start=$(date +%s.%N)
"$bin" download --production bench --url "http://127.0.0.1:$port" >"$work/out" 2>"$work/progress"
end=$(date +%s.%N)
cat "$work/out"
peak=$(awk '/VmHWM/ {print $2}' "/proc/$box/status")
rss_after=$(awk '/VmRSS/ {print $2}' "/proc/$box/status")
awk -v r="$rows" -v s="$start" -v e="$end" 'BEGIN { printf "end to end (command start to verified): %d rows in %.2f s = %.0f rows/s\n", r, e - s, r / (e - s) }'
echo "box memory: RSS ${rss_before} kB before, peak (VmHWM) ${peak} kB, ${rss_after} kB after"
