#!/usr/bin/env bash
# The crew app's start-up requests, sent by curl to the real `venuebox` binary on a
# loopback port, at /api and at the root; then /metrics, read by Prometheus' reference
# parser, and the .xlsx export, read by openpyxl.
# Usage: tests/smoke/curl.sh path/to/venuebox [python-with-prometheus_client-and-openpyxl]
#        VENUEBOX_SMOKE_BASE=http://127.0.0.1:PORT tests/smoke/curl.sh - [python]
#        (a box already running in open mode, e.g. in a container: nothing is started, and the
#        export is fetched with curl instead of `venuebox export`)
set -euo pipefail
bin=${1:?usage: $0 path/to/venuebox [python]}
python=${2:-}
. "$(dirname "$0")/../start-box.sh"
smoke_scratch
if [ "$bin" = - ]; then
    base=${VENUEBOX_SMOKE_BASE:?VENUEBOX_SMOKE_BASE names the running box}
else
    start_box "$bin" "$data/db" "$log"
fi

# check NAME EXPECTED_STATUS JQ_FILTER curl-args...: the filter must print "true".
check() {
    local name=$1 want=$2 filter=$3
    shift 3
    local body status
    body=$(mktemp)
    status=$(curl -sS -o "$body" -w '%{http_code}' "$@")
    if [ "$status" = "$want" ] && [ "$(jq -r "$filter" "$body")" = "true" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAILED: $name: status $status (want $want): $(head -c 300 "$body")"
    fi
    rm -f "$body"
}

json=(-H 'Content-Type: application/json')
for prefix in /api ""; do
    check "$prefix/equipment" 200 'length == 257' "$base$prefix/equipment"
    check "$prefix/settings/connector-types" 200 'length == 24' "$base$prefix/settings/connector-types"
    check "$prefix/settings/source-types" 200 'length == 8' "$base$prefix/settings/source-types"
    check "$prefix/settings/frame-rates" 200 '.[0] == "60"' "$base$prefix/settings/frame-rates"
    check "$prefix/settings/resolutions" 200 'length == 9' "$base$prefix/settings/resolutions"
    check "$prefix/formats" 200 'length == 37' "$base$prefix/formats"
    check "$prefix/productions" 200 'type == "array"' "$base$prefix/productions"
    check "$prefix/settings" 200 'type == "object"' "$base$prefix/settings"
    id="smoke$(echo "$prefix" | tr -d /)"
    check "$prefix create show" 201 ".id == \"$id\" and .name == \"Smoke\"" "${json[@]}" -X POST \
        -d "{\"id\":\"$id\",\"name\":\"Smoke\",\"client\":\"C\",\"loadIn\":\"2026-03-15\",\"status\":\"PLANNING\"}" \
        "$base$prefix/productions"
    check "$prefix checklist item" 201 '.uuid != null and .completedAt == null' "${json[@]}" -X POST \
        -d "{\"id\":\"chk-1\",\"productionId\":\"$id\",\"title\":\"Patch\",\"category\":\"SOURCES\",\"completed\":false}" \
        "$base$prefix/checklist-items"
    for family in checklist-items sources sends cameras ccus media-servers; do
        check "$prefix open show: $family" 200 'type == "array"' "$base$prefix/$family/production/$id"
    done
    check "$prefix stale version" 409 '.code == "VERSION_CONFLICT"' "${json[@]}" -X PUT \
        -d '{"name":"x","version":9}' "$base$prefix/productions/$id"
    check "$prefix malformed JSON" 400 '.code == "MALFORMED_JSON"' "${json[@]}" -X POST -d '{"name":' "$base$prefix/sends"
    # CORS preflight of a JSON PUT from the app's dev origin (docs/contract.md §1.3).
    if curl -sS -o /dev/null -D - -X OPTIONS -H 'Origin: http://localhost:3011' \
        -H 'Access-Control-Request-Method: PUT' -H 'Access-Control-Request-Headers: content-type' \
        "$base$prefix/sources/x" | grep -qi '^access-control-allow-origin: http://localhost:3011'; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAILED: $prefix preflight"
    fi
done
check "/health" 200 '.status == "healthy" and .database.connected' "$base/health"
check "/api/health" 200 '.status == "ok"' "$base/api/health"
check "unknown route" 404 '.error == "Route not found"' "$base/api/nothing-here"

if [ -n "$python" ]; then
    curl -sS "$base/metrics" >"$data/metrics.txt"
    if "$python" - "$data/metrics.txt" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
families = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
requests = families["venuebox_http_requests"]
assert requests.type == "counter"
assert any(s.labels["route"] == "/api/equipment" and s.labels["status"] == "200" for s in requests.samples), requests.samples[:3]
assert families["venuebox_http_request_duration_seconds"].type == "histogram"
for name in ["venuebox_store_writes", "venuebox_store_commits", "venuebox_database_bytes", "venuebox_realtime_connections"]:
    assert name in families, name
assert families["venuebox_database_bytes"].samples[0].value > 0
PY
    then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: /metrics did not parse as expected"; fi

    # The spreadsheet export, written by `venuebox export` and read back by openpyxl: a sheet
    # per kind, as many rows as the JSON export has, the values in their cells.
    curl -sS -X POST "${json[@]}" -d '{"productionId":"smokeapi","name":"CAM 1","type":"CAMERA"}' \
        "$base/api/sources" >/dev/null
    curl -sS "$base/api/productions/smokeapi/export" >"$data/export.json"
    if [ "$bin" = - ]; then
        curl -sS -o "$data/export.xlsx" "$base/api/productions/smokeapi/export?format=xlsx"
    else
        "$bin" export --production smokeapi --out "$data/export.xlsx" --url "$base" 2>/dev/null
    fi
    if "$python" - "$data/export.json" "$data/export.xlsx" <<'PY'
import json, sys
from openpyxl import load_workbook
document = json.load(open(sys.argv[1]))
book = load_workbook(sys.argv[2], read_only=True)
assert book.sheetnames[0] == "production", book.sheetnames
production = {row[0]: row[1] for row in book["production"].iter_rows(min_row=2, values_only=True)}
assert production["name"] == "Smoke", production
kinds = document["kinds"]
# production, a sheet per kind, and the hidden record an import of the edited workbook reads
assert len(book.sheetnames) == 2 + len(kinds), (book.sheetnames, list(kinds))
assert book.sheetnames[-1] == "venuebox" and book["venuebox"].sheet_state == "hidden"
for sheet_name, (kind, rows) in zip(book.sheetnames[1:], kinds.items()):
    table = list(book[sheet_name].iter_rows(values_only=True))
    header = list(table[0])
    assert len(table) - 1 == len(rows), (sheet_name, len(table) - 1, len(rows))
    for row, entity in zip(table[1:], rows):
        for column, value in zip(header, row):
            want = entity.get(column)
            if isinstance(want, (list, dict)):
                want = json.dumps(want, separators=(",", ":"), ensure_ascii=False)
            if isinstance(want, (int, float)) and not isinstance(want, bool):
                assert float(value) == float(want), (sheet_name, column, value, want)
            else:
                assert value == want, (sheet_name, column, value, want)
sources = list(book["sources"].iter_rows(values_only=True))
assert dict(zip(sources[0], sources[1]))["name"] == "CAM 1"
checklist = list(book["checklist-items"].iter_rows(values_only=True))
assert dict(zip(checklist[0], checklist[1]))["title"] == "Patch"
PY
    then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: the .xlsx export did not read back as the JSON export"; fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
