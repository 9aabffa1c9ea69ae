#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: unlike wall-clock or even CPU time
# it is the same from run to run whatever else the machine does, so it shows what a code change
# bought. Release binary with debug info (so the dumps can be read with callgrind_annotate),
# fresh data folder, mDNS off, the bench's production of 50 sources. For each scenario the
# counters are zeroed, REQUESTS requests are sent with curl (outside the box, not counted), and
# the counters are dumped to target/profile/callgrind.<scenario>.
# Usage: scripts/profile.sh [requests]   then e.g.
#   callgrind_annotate target/profile/callgrind.list | head -40
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
ensure_apt_packages valgrind curl jq
requests="${1:-200}"
CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_PROFILE_RELEASE_STRIP=none \
    cargo build --release --locked -q -p venuebox --target-dir target/profile-build
bin=target/profile-build/release/venuebox
out=target/profile
mkdir -p "$out"
rm -f "$out"/callgrind.*
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT

# start_box runs "$bin" in the background; exec keeps $! the pid of valgrind (and the box).
valgrind_box() {
    exec valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.%p" \
        "$box_bin" "$@"
}
. tests/start-box.sh
box_bin=$bin
start_box valgrind_box "$work/data" "$work/log"
post() { curl -sS -X POST -H 'Content-Type: application/json' -d "$2" "$base$1"; }

say "seeding: a production of 50 sources, one for creates, $requests rows to update"
post /api/productions '{"id":"bench-read","name":"Bench reads"}' >/dev/null
post /api/productions '{"id":"bench-write","name":"Bench writes"}' >/dev/null
for i in $(seq 1 50); do
    post /api/sources "{\"productionId\":\"bench-read\",\"name\":\"CAM $i\",\"type\":\"CAMERA\",\"outputs\":[{\"connector\":\"SDI\"}]}" | jq -r .uuid
done >"$work/read-rows"
for i in $(seq 1 "$requests"); do
    post /api/sources "{\"productionId\":\"bench-write\",\"name\":\"ROW $i\",\"type\":\"CAMERA\"}" | jq -r .uuid
done >"$work/update-rows"
one=$(head -1 "$work/read-rows")

# One curl process per scenario, keep-alive, like a load generator's connection.
urls() { for _ in $(seq 1 "$requests"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$1"; done; }
run_scenario() {
    local name=$1
    shift
    callgrind_control -z "$pid" >/dev/null 2>&1
    "$@" >"$work/codes"
    callgrind_control -d "$name" "$pid" >/dev/null 2>&1
    # An error answer would profile the wrong path.
    local good
    good=$(grep -c '^2' "$work/codes" || true)
    if [ "$good" -ne "$requests" ]; then
        say "$name: only $good of $requests requests answered 2xx: $(sort "$work/codes" | uniq -c | tr '\n' ' ')"
        exit 1
    fi
}
get_one() { urls "$base/api/sources/$one" | curl -sS -K - -w '%{http_code}\n'; }
list_50() { urls "$base/api/sources/production/bench-read" | curl -sS -K - -w '%{http_code}\n'; }
# `next` starts a new set of options; a trailing one would leave curl a set without a URL.
create() {
    for i in $(seq 1 "$requests"); do
        [ "$i" -gt 1 ] && printf 'next\n'
        printf 'url = "%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\nrequest = "POST"\nheader = "Content-Type: application/json"\n' "$base/api/sources"
        printf 'data = "{\\"productionId\\":\\"bench-write\\",\\"name\\":\\"NEW\\",\\"type\\":\\"CAMERA\\"}"\n'
    done | curl -sS -K -
}
update() {
    local first=1
    while read -r uuid; do
        [ "$first" -eq 1 ] || printf 'next\n'
        first=0
        printf 'url = "%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\nrequest = "PUT"\nheader = "Content-Type: application/json"\n' "$base/api/sources/$uuid"
        printf 'data = "{\\"name\\":\\"RENAMED\\",\\"version\\":1}"\n'
    done <"$work/update-rows" | curl -sS -K -
}
run_scenario get get_one
run_scenario list list_50
run_scenario create create
run_scenario update update

printf '%-8s %14s %12s\n' scenario instructions "per request"
summary="[]"
for scenario in get list create update; do
    file=$(grep -l "^desc: Trigger: dump $scenario\$" "$out"/callgrind.* | head -1)
    total=$(awk '/^(summary|totals):/ {print $2; exit}' "$file")
    printf '%-8s %14s %12s\n' "$scenario" "$total" "$((total / requests))"
    summary=$(jq -c --arg s "$scenario" --argjson t "$total" --argjson n "$requests" --arg f "$file" \
        '. + [{scenario: $s, instructions: $t, requests: $n, perRequest: ($t / $n | floor), dump: $f}]' <<<"$summary")
done
jq -n --argjson results "$summary" --arg date "$(date -u +%FT%TZ)" --arg command "scripts/profile.sh $requests" \
    '{date: $date, command: $command, results: $results}' >"$out/summary.json"
