#!/usr/bin/env bash
# Bad input at scale: schemathesis (a fuzzer we did not write) generates valid and invalid
# requests for every operation of /api/openapi.json — the document generated from the
# registry — against the real binary. Passes when no response is a 5xx, the box never
# crashed or panicked, and it is healthy afterwards.
# Usage: tests/torture/bad_input.sh path/to/venuebox path/to/schemathesis [examples-per-operation]
set -euo pipefail
bin=${1:?usage: $0 path/to/venuebox path/to/schemathesis [examples]}
schemathesis=${2:?usage: $0 path/to/venuebox path/to/schemathesis [examples]}
examples=${3:-10}
bin=$(realpath "$bin")
schemathesis=$(realpath "$schemathesis")
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/../start-box.sh"
start_box "$bin" "$work/data" "$work/log"
# A production that exists, so generated creates can also succeed, not only be refused.
curl -sS -X POST -H 'Content-Type: application/json' -d '{"id":"fuzz","name":"Fuzz"}' "$base/api/productions" >/dev/null
status=0
(cd "$work" && "$schemathesis" run "$base/api/openapi.json" --url "$base" --checks not_a_server_error \
    -n "$examples" --workers 2 --seed 20261122 --no-color --report json --report-dir "$work/report") \
    >"$work/schemathesis.out" 2>&1 || status=$?
tail -25 "$work/schemathesis.out"
mkdir -p target/bench
cp "$work/schemathesis.out" target/bench/schemathesis.txt 2>/dev/null || true
out="$work/schemathesis.out"
# Failed checks (a 5xx) fail the run, and so does any error reaching the box (a connection the
# box dropped or refused). Schemathesis can also stop one operation with an error of its own
# while generating cases (seen: hypothesis' "FlakyFailure: Inconsistent results" in the
# coverage phase); that is its bug, not the box's, so it is reported and the run goes on.
if grep -q '^=* FAILURES =*$' "$out" || grep -Eq '^ +[0-9]+ generated, .*failed' "$out"; then
    echo "not ok - schemathesis found responses that fail its checks (exit $status)" >&2
    exit 1
fi
errors=$(sed -n '/^=* ERRORS =*$/,/^=* \(WARNINGS\|SUMMARY\) =*$/p' "$out")
if grep -Eq '^(Network Error|Schema Error|Schema Loading Error)' <<<"$errors"; then
    echo "not ok - schemathesis could not reach the box or read its document (exit $status)" >&2
    exit 1
fi
if [ "$status" -ne 0 ]; then
    if ! grep -q '^=* ERRORS =*$' "$out"; then
        echo "not ok - schemathesis exited $status" >&2
        exit 1
    fi
    echo "# schemathesis reported errors of its own while generating cases (not a failed check):"
    grep -E '^_{5,}|^Runtime Error|^Inconsistent results' <<<"$errors" | head -10
fi
kill -0 "$pid" 2>/dev/null || { echo "not ok - the box died under fuzzing" >&2; tail -20 "$work/log"; exit 1; }
if grep -qi 'panicked' "$work/log"; then
    echo "not ok - the box panicked under fuzzing:" >&2
    grep -i -A3 'panicked' "$work/log" | head -20 >&2
    exit 1
fi
[ "$(curl -sS "$base/health" | jq -r .status)" = healthy ] || { echo "not ok - unhealthy after fuzzing" >&2; exit 1; }
echo "ok - $(grep -Eo '[0-9]+ generated, [0-9]+ passed' "$work/schemathesis.out" | tail -1): no 5xx, no crash, no panic, healthy"
