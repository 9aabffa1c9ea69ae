#!/usr/bin/env bash
# A stranger and a low-privileged crew member on the venue Wi-Fi, played with curl against the
# real `venuebox` binary in passphrase mode on a loopback port. Every request is sent exactly
# as written (`--path-as-is`); each must be refused.
# Usage: tests/smoke/attacks.sh path/to/venuebox
set -euo pipefail
bin=${1:?usage: $0 path/to/venuebox}
. "$(dirname "$0")/../start-box.sh"
smoke_scratch
admin_pass="attack-test admin passphrase"
VENUEBOX_AUTH_MODE=passphrase VENUEBOX_ADMIN_PASSPHRASE="$admin_pass" start_box "$bin" "$data/db" "$log"

# expect NAME WANTED_STATUSES curl-args...: the status must be one of WANTED (space-separated).
expect() {
    local name=$1 wanted=$2
    shift 2
    local status
    status=$(curl -sS --path-as-is -o "$data/body" -w '%{http_code}' "$@")
    if [[ " $wanted " == *" $status "* ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAILED: $name: status $status (want one of: $wanted): $(head -c 300 "$data/body")"
    fi
}

json=(-H 'Content-Type: application/json')
login() {
    curl -sS -c "$data/$1.jar" "${json[@]}" -d "{\"passphrase\":\"$2\"}" "$base/api/auth/login" >/dev/null
}
login admin "$admin_pass"
for role in editor viewer; do
    curl -sS -b "$data/admin.jar" "${json[@]}" \
        -d "{\"role\":\"$role\",\"passphrase\":\"attack-test $role passphrase\"}" \
        "$base/api/auth/passphrases" >/dev/null
    login "$role" "attack-test $role passphrase"
done
editor=(-b "$data/editor.jar")
viewer=(-b "$data/viewer.jar")

# V1: percent-encoding must not walk past the route's role (issue #16).
expect "editor: POST /api/auth/%74okens (admin token)" "403" "${editor[@]}" "${json[@]}" \
    -d '{"role":"admin","name":"x"}' "$base/api/auth/%74okens"
expect "editor: POST /api/auth/p%61ssphrases" "403" "${editor[@]}" "${json[@]}" \
    -d '{"role":"admin","passphrase":"taken over by the editor"}' "$base/api/auth/p%61ssphrases"
expect "editor: POST /api/auth/%2574okens (double encoded)" "403 404" "${editor[@]}" "${json[@]}" \
    -d '{"role":"admin","name":"x"}' "$base/api/auth/%2574okens"
expect "editor: POST /api%2Fauth%2Ftokens" "403 404" "${editor[@]}" "${json[@]}" \
    -d '{"role":"admin","name":"x"}' "$base/api%2Fauth%2Ftokens"
expect "editor: POST //api/auth/tokens" "403 404" "${editor[@]}" "${json[@]}" \
    -d '{"role":"admin","name":"x"}' "$base//api/auth/tokens"
expect "editor: POST /api/auth/tokens/" "403 404" "${editor[@]}" "${json[@]}" \
    -d '{"role":"admin","name":"x"}' "$base/api/auth/tokens/"
expect "editor: POST /api/./auth/tokens" "403 404" "${editor[@]}" "${json[@]}" \
    -d '{"role":"admin","name":"x"}' "$base/api/./auth/tokens"
for path in /api/%61dmin/status /%61dmin /%61dmin/backups /api/%61dmin/backups /%41dmin \
    /api/admin/%73tatus /admin/%71r.svg?text=x /api/sync/%6Eow; do
    expect "viewer: GET $path" "403 404 405" "${viewer[@]}" "$base$path"
    expect "stranger: GET $path" "401 404 405" "$base$path"
done
expect "viewer: POST /api/%73ync/now" "403" "${viewer[@]}" -X POST "$base/api/%73ync/now"
expect "viewer: POST /api/%73ources" "403" "${viewer[@]}" "${json[@]}" -d '{}' "$base/api/%73ources"
# A spreadsheet import is a write: not for a viewer or a stranger, however the path is spelled.
xlsx=(-H 'Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet')
for path in /api/productions/x/workbook /api/productions/x/%77orkbook /productions/x/workbook; do
    expect "viewer: POST $path" "403" "${viewer[@]}" "${xlsx[@]}" --data-binary 'PK' "$base$path"
    expect "stranger: POST $path" "401" "${xlsx[@]}" --data-binary 'PK' "$base$path"
done
expect "stranger: GET /api/%70roductions" "401" "$base/api/%70roductions"
expect "stranger: GET /%70roductions" "401" "$base/%70roductions"
# The console's API: the box's name and hub, the crew app, logs, clients, backups by name.
for path in /api/admin/node /api/%61dmin/node /admin/%6Eode /api/admin/logs /api/admin/%6Cogs \
    /api/admin/clients /api/admin/app /api/admin/%61pp /api/admin/setup /api/admin/backups/x.db; do
    expect "editor: GET $path" "403 404 405" "${editor[@]}" "$base$path"
    expect "stranger: GET $path" "401 404 405" "$base$path"
done
tgz=(-H 'Content-Type: application/gzip')
printf 'x' | gzip > "$data/app.tgz"
for path in /api/admin/app /api/%61dmin/app /api/admin/%61pp /admin/app /api/admin/app/rollback; do
    expect "editor: POST $path" "403 404" "${editor[@]}" "${tgz[@]}" --data-binary @"$data/app.tgz" "$base$path"
    expect "stranger: POST $path" "401 404" "${tgz[@]}" --data-binary @"$data/app.tgz" "$base$path"
done
for path in /api/admin/node /api/admin/%6Eode; do
    expect "editor: PUT $path" "403 404" "${editor[@]}" "${json[@]}" -X PUT \
        -d '{"hubUrl":"postgres://attacker@evil.example/db"}' "$base$path"
done
# Deleting a library entry is the admin's, the crew's only to add and edit: the library
# families have a route of their own whose DELETE gate needs an admin, so no spelling of the
# path (encoded, the root alias, another case) reaches a delete the editor may call.
spec=$(curl -sS -b "$data/admin.jar" "$base/api/equipment" | jq -r '.[0].uuid')
for path in /api/equipment/$spec /api/%65quipment/$spec /%65quipment/$spec /equipment/$spec \
    /api/equipment/%2F$spec /api/Equipment/$spec /api/formats/$spec; do
    expect "editor: DELETE $path" "403 404" "${editor[@]}" -X DELETE "$base$path"
done
expect "the library entry is still there" "200" "${viewer[@]}" "$base/api/equipment/$spec"

# A device token is no better in a cookie than in a header, and a wrong one is refused.
expect "stranger: POST /api/auth/token (made up)" "401" "${json[@]}" -d '{"token":"vbx_0000"}' \
    "$base/api/auth/token"
expect "stranger: venuebox_token cookie (made up)" "401" -b "venuebox_token=vbx_0000" "$base/api/productions"
# The admin passphrase still works, so no editor replaced it.
expect "admin signs in with the original passphrase" "200" "${json[@]}" \
    -d "{\"passphrase\":\"$admin_pass\"}" "$base/api/auth/login"
expect "admin lists tokens: none was created" "200" -b "$data/admin.jar" "$base/api/auth/tokens"
if [ "$(jq length "$data/body")" = "0" ]; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
    echo "FAILED: a token was created by a lower role: $(cat "$data/body")"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
