#!/usr/bin/env bash
# REST benchmark with a load generator we did not write (wrk): the release binary on loopback
# (fresh data folder, mDNS off, open mode) with the sample-sized production of 50 sources.
# For 16 and 64 connections, SECONDS each: get one source, list 50 sources, create a source
# (durable), update a source with its version. Reports requests/s, p50/p99/max latency and the
# server's CPU time per request (utime+stime from /proc/<pid>/stat around each run — stable on
# a noisy shared machine where wall-clock rates are not), plus group-commit batch sizes and
# memory. Writes target/bench/rest.json. Usage: scripts/bench-rest.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
ensure_apt_packages wrk curl jq
seconds="${1:-10}"
threads=2
cargo build --release --locked -q -p venuebox
bin=target/release/venuebox
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p target/bench
. tests/start-box.sh
start_box "$bin" "$work/data" "$work/log"
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$pid/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
ticks_per_second=$(getconf CLK_TCK)
post() { curl -sS -X POST -H 'Content-Type: application/json' -d "$2" "$base$1"; }

say "seeding: a production of 50 sources (reads), one for creates, 2 x 256 rows to update"
post /api/productions '{"id":"bench-read","name":"Bench reads"}' >/dev/null
post /api/productions '{"id":"bench-write","name":"Bench writes"}' >/dev/null
post /api/productions '{"id":"bench-update","name":"Bench updates"}' >/dev/null
for i in $(seq 1 50); do
    post /api/sources "{\"productionId\":\"bench-read\",\"name\":\"CAM $i\",\"type\":\"CAMERA\",\"outputs\":[{\"connector\":\"SDI\"}]}" | jq -r .uuid
done >"$work/read-rows"
# Each run updates rows of its own, so every run starts from version 1 (wrk's script tracks
# the versions it gets back).
for connections in 16 64; do
    for i in $(seq 1 256); do
        post /api/sources "{\"productionId\":\"bench-update\",\"name\":\"ROW $i\",\"type\":\"CAMERA\"}" | jq -r .uuid
    done >"$work/update-rows-$connections"
done
sleep 2
idle_rss=$(rss_kb)

metric() { curl -sS "$base/metrics" | awk -v name="$1" '$1 == name {print $2}'; }
results="[]"
for connections in 16 64; do
    for scenario in get list create update; do
        case "$scenario" in
            get|list) rows="$work/read-rows"; production=bench-read ;;
            create) rows="$work/read-rows"; production=bench-write ;;
            update) rows="$work/update-rows-$connections"; production=bench-update ;;
        esac
        writes_before=$(metric venuebox_store_writes_total)
        commits_before=$(metric venuebox_store_commits_total)
        before=$(cpu_ticks)
        line=$(BENCH_SCENARIO=$scenario BENCH_PRODUCTION=$production BENCH_ROWS=$rows BENCH_THREADS=$threads \
            wrk -t"$threads" -c"$connections" -d"${seconds}s" --timeout 10s -s tests/bench/rest.lua "$base" | tail -1)
        after=$(cpu_ticks)
        writes=$(( $(metric venuebox_store_writes_total) - writes_before ))
        commits=$(( $(metric venuebox_store_commits_total) - commits_before ))
        results=$(jq -c --argjson r "$line" --argjson c "$connections" --argjson ticks "$((after - before))" \
            --argjson hz "$ticks_per_second" --argjson writes "$writes" --argjson commits "$commits" \
            --argjson rss "$(rss_kb)" \
            '. + [$r + {connections: $c, serverCpuMsPerRequest: (($ticks / $hz * 1000) / $r.requests),
                 writesPerCommit: (if $commits > 0 then $writes / $commits else null end), rssKb: $rss}]' <<<"$results")
    done
done
peak_rss=$(hwm_kb)
jq -n --argjson results "$results" --argjson idle "$idle_rss" --argjson peak "$peak_rss" \
    --arg date "$(date -u +%FT%TZ)" --arg machine "$(nproc) cores, $(uname -m), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" \
    --arg command "scripts/bench-rest.sh $seconds" \
    '{date: $date, machine: $machine, command: $command, idleRssKb: $idle, peakRssKb: $peak, results: $results}' \
    >target/bench/rest.json
printf '%-6s %5s %10s %9s %9s %9s %12s %8s %7s\n' scenario conns "req/s" "p50 ms" "p99 ms" "max ms" "cpu ms/req" "w/commit" non2xx
jq -r '.results[] | [.scenario, .connections, (.requestsPerSecond|floor), (.p50Ms*100|round/100), (.p99Ms*100|round/100),
    (.maxMs*100|round/100), (.serverCpuMsPerRequest*1000|round/1000), (if .writesPerCommit then (.writesPerCommit*10|round/10) else "-" end), .non2xx] | @tsv' \
    target/bench/rest.json | while IFS=$'\t' read -r s c r p50 p99 max cpu w e; do
    printf '%-6s %5s %10s %9s %9s %9s %12s %8s %7s\n' "$s" "$c" "$r" "$p50" "$p99" "$max" "$cpu" "$w" "$e"
done
echo "idle RSS $((idle_rss / 1024)) MB, peak RSS under load $((peak_rss / 1024)) MB; JSON: target/bench/rest.json"
