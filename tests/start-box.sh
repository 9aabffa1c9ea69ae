# shellcheck shell=bash
# Sourced by the shell tests and benchmarks that drive the real binary.
# start_box BIN DATA_DIR LOG [serve args...]: starts `venuebox serve` on a loopback port chosen
# by the OS, mDNS off, open mode (unless the args say otherwise: VENUEBOX_AUTH_MODE=passphrase);
# sets `pid` and `base` (http://127.0.0.1:PORT) once the box logs that it is serving, or fails
# with its log.
start_box() {
    local bin=$1 data_dir=$2 log=$3
    shift 3
    VENUEBOX_AUTH_MODE=${VENUEBOX_AUTH_MODE:-open} \
        "$bin" serve --listen 127.0.0.1:0 --no-mdns --data-dir "$data_dir" "$@" 2>"$log" &
    pid=$!
    base=""
    for _ in $(seq 1 400); do
        base=$(grep -o 'serving on http://127\.0\.0\.1:[0-9]*' "$log" | head -1 | sed 's/serving on //') || true
        [ -n "$base" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "the box did not start:" >&2
    cat "$log" >&2
    return 1
}

# smoke_scratch: for the smoke tests. Sets `data` (a scratch folder, removed on exit together
# with the box `pid` it runs), `log` inside it, and the `passed`/`failed` counters.
smoke_scratch() {
    data=$(mktemp -d)
    log="$data/server.log"
    passed=0
    failed=0
    trap smoke_cleanup EXIT
}

smoke_cleanup() {
    local status=$?
    # A box that does not stop gracefully on SIGTERM (one under Wine is killed outright) must
    # not turn a passed test into a failed one, nor leave the scratch folder behind.
    if [ -n "${pid:-}" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$data"
    exit "$status"
}
