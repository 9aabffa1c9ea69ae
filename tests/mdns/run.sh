#!/usr/bin/env bash
# mDNS tests, only inside network namespaces this script creates. The whole run happens in a
# fresh user + mount + network namespace (unshare), so no packet reaches the machine's real
# interfaces and every namespace vanishes with the script. Inside: two "hosts" (ip netns)
# joined by a veth pair, 192.0.2.1 (box) and 192.0.2.2 (client), TEST-NET addresses.
# Usage: tests/mdns/run.sh path/to/venuebox path/to/python-with-zeroconf
set -euo pipefail
bin=$(realpath "${1:?usage: $0 venuebox python}")
python=$(realpath -s "${2:?usage: $0 venuebox python}")
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${VENUEBOX_MDNS_SANDBOX:-}" ]; then
    export VENUEBOX_MDNS_SANDBOX=1
    exec unshare --map-root-user --net --mount --propagation private "$0" "$bin" "$python"
fi

# Private /run so `ip netns` can keep its mounts here, out of the host's sight.
mount -t tmpfs tmpfs /run
mkdir -p /run/netns
work=$(mktemp -d)
passed=0
failed=0
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

ip netns add box
ip netns add client
ip link add veth-b type veth peer name veth-c
ip link set veth-b netns box
ip link set veth-c netns client
for ns in box client; do ip -n "$ns" link set lo up; done
ip -n box addr add 192.0.2.1/24 dev veth-b
ip -n client addr add 192.0.2.2/24 dev veth-c
ip -n box link set veth-b up
ip -n client link set veth-c up

ok() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "FAILED - $*"; }

# wait_for FILE JQ_FILTER SECONDS: until a JSON line of FILE satisfies the filter.
wait_for() {
    local file=$1 filter=$2 seconds=$3
    local deadline=$((SECONDS + seconds))
    while [ $SECONDS -lt $deadline ]; do
        if [ -s "$file" ] && jq -e -s "map(select($filter)) | length > 0" "$file" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# start_box NS NAME: runs venuebox in namespace NS (mDNS on, default names), waits for HTTP.
start_box() {
    local ns=$1 name=$2
    mkdir -p "$work/$name"
    printf '[mdns]\nip_check_interval_secs = 1\n' > "$work/$name/venuebox.toml"
    ip netns exec "$ns" "$bin" serve --listen 0.0.0.0:3010 --auth-mode open --data-dir "$work/$name/data" \
        --config "$work/$name/venuebox.toml" 2>"$work/$name/log" &
    pids+=($!)
    eval "${name}_pid=$!"
    for _ in $(seq 1 100); do
        ip netns exec "$ns" curl -sf "http://127.0.0.1:3010/health" >/dev/null && return 0
        sleep 0.1
    done
    echo "box $name did not start"; cat "$work/$name/log"; return 1
}

probe() { # probe NS OUTFILE SECONDS [TYPE]
    ip netns exec "$1" "$python" "$here/zeroconf_probe.py" --seconds "$3" --type "${4:-_video-prod-api._tcp.local.}" >"$2" 2>"$2.err" &
    pids+=($!)
}

start_box box alpha
probe client "$work/browse.json" 30
probe client "$work/http.json" 8 _http._tcp.local.

if wait_for "$work/browse.json" '.event == "added" and .name == "Venuebox._video-prod-api._tcp.local."
        and .port == 3010 and .txt.mode == "lan-server" and .txt.addresses == "192.0.2.1" and .txt.api == "/api"
        and (.txt.node_id | length) > 0 and .txt.node_name == "Venuebox" and (.txt.version | length) > 0
        and .host == "venuebox.local." and .addresses == ["192.0.2.1"]' 15; then
    ok "python-zeroconf in another namespace finds the box with its TXT records"
else fail "zeroconf did not find the box: $(cat "$work/browse.json" "$work/browse.json.err")"; fi

if wait_for "$work/http.json" '.event == "added" and .port == 3010' 10; then
    ok "the box also announces _http._tcp"
else fail "no _http._tcp: $(cat "$work/http.json")"; fi

ip netns exec client "$bin" discover --timeout 3s --json >"$work/discover.json"
if jq -e 'map(select(.name == "Venuebox" and .addresses == ["192.0.2.1"] and .port == 3010)) | length == 1' "$work/discover.json" >/dev/null; then
    ok "venuebox discover finds the box in the other namespace"
else fail "venuebox discover: $(cat "$work/discover.json")"; fi

# A second box with the same configured name, on the client host.
start_box client beta
sleep 3
ip netns exec client curl -sf "http://127.0.0.1:3010/api/server/discover?timeout=3000" >"$work/api-discover.json"
if jq -e '.servers | length == 2 and (map(.name) | unique | length == 2) and (map(.host) | unique | length == 2)
        and (map(.addresses[0]) | sort == ["192.0.2.1", "192.0.2.2"])' "$work/api-discover.json" >/dev/null; then
    ok "two boxes with the same name both announce, under different names ($(jq -c '[.servers[].name]' "$work/api-discover.json"))"
else fail "/api/server/discover with two boxes: $(cat "$work/api-discover.json")"; fi
info=$(ip netns exec client curl -sf "http://127.0.0.1:3010/api/server/info")
if echo "$info" | jq -e '.isLANServer and .serverName == "Venuebox (2)" and .hostname == "venuebox-2.local" and .addresses == ["192.0.2.2"]' >/dev/null; then
    ok "the renamed box reports the names it actually uses"
else fail "server info of the second box: $info"; fi

# An address change (DHCP renewal, Wi-Fi reconnect) is re-announced.
ip -n box addr add 192.0.2.11/24 dev veth-b
if wait_for "$work/browse.json" '(.event == "updated" or .event == "added") and .name == "Venuebox._video-prod-api._tcp.local."
        and (.txt.addresses | split(",") | index("192.0.2.11")) != null' 20; then
    ok "an added address is re-announced in the TXT record"
else fail "address change not seen: $(tail -3 "$work/browse.json")"; fi

# Shutdown says goodbye.
sleep 2
kill -TERM "$alpha_pid"
wait "$alpha_pid" || true
if wait_for "$work/browse.json" '.event == "removed" and .name == "Venuebox._video-prod-api._tcp.local."' 10; then
    ok "shutdown sends a goodbye the client sees"
else fail "no goodbye: $(tail -3 "$work/browse.json")"; fi

# Turning it off: a box started with --no-mdns announces nothing.
mkdir -p "$work/quiet"
ip netns exec box "$bin" serve --listen 0.0.0.0:3010 --no-mdns --auth-mode open --data-dir "$work/quiet/data" 2>"$work/quiet/log" &
pids+=($!)
quiet_pid=$!
sleep 2
ip netns exec client "$bin" discover --timeout 2s --json >"$work/quiet.json"
if jq -e 'map(select(.addresses[0] == "192.0.2.1")) | length == 0' "$work/quiet.json" >/dev/null; then
    ok "--no-mdns announces nothing"
else fail "--no-mdns still announced: $(cat "$work/quiet.json")"; fi
kill -TERM "$quiet_pid" "$beta_pid" 2>/dev/null || true

# A loopback-only host: the announcement follows `mdns.interfaces`, and the API starts and
# stops it (what the app's "Become LAN Server" / "Reconnect to Cloud" buttons call).
ip netns add solo
ip -n solo link set lo up
ip -n solo link set lo multicast on
mkdir -p "$work/solo"
printf '[mdns]\ninterfaces = ["lo"]\nprobe_ms = 300\n' > "$work/solo/venuebox.toml"
ip netns exec solo "$bin" serve --listen 127.0.0.1:3010 --auth-mode open --data-dir "$work/solo/data" \
    --config "$work/solo/venuebox.toml" 2>"$work/solo/log" &
pids+=($!)
for _ in $(seq 1 100); do ip netns exec solo curl -sf http://127.0.0.1:3010/health >/dev/null && break; sleep 0.1; done
probe solo "$work/solo.json" 60
if wait_for "$work/solo.json" '.event == "added" and .addresses == ["127.0.0.1"] and .txt.addresses == "127.0.0.1"' 10; then
    ok "mdns.interfaces = [\"lo\"] announces on loopback only"
else fail "loopback announcement: $(cat "$work/solo.json")"; fi
ip netns exec solo curl -sf -X POST http://127.0.0.1:3010/api/server/stop-advertising >/dev/null
if wait_for "$work/solo.json" '.event == "removed"' 10 \
    && ip netns exec solo curl -sf http://127.0.0.1:3010/api/server/info | jq -e '.isLANServer == false and .addresses == []' >/dev/null; then
    ok "POST /api/server/stop-advertising says goodbye"
else fail "stop-advertising: $(cat "$work/solo.json")"; fi
ip netns exec solo curl -sf -X POST http://127.0.0.1:3010/api/server/advertise >"$work/advertise.json"
if jq -e '.success' "$work/advertise.json" >/dev/null \
    && wait_for "$work/solo.json" '.event == "added"' 30 \
    && for _ in $(seq 1 150); do
        [ "$(jq -s 'map(select(.event == "added")) | length' "$work/solo.json")" -ge 2 ] && break
        sleep 0.2
    done \
    && [ "$(jq -s 'map(select(.event == "added")) | length' "$work/solo.json")" -ge 2 ]; then
    ok "POST /api/server/advertise announces again"
else fail "advertise: $(cat "$work/advertise.json" "$work/solo.json")"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
