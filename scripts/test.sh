#!/usr/bin/env bash
# Runs every test of the project. Installs or starts whatever the tests need and assumes
# nothing was left running. Every server a test starts listens on loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_build_deps
command -v dpkg-query >/dev/null 2>&1 && ensure_apt_packages curl jq iproute2 util-linux chromium faketime libreoffice-calc-nogui
ensure_node
ensure_python_venv
ensure_postgres

say "formatting"
cargo fmt --all --check
say "lints"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
say "lints of the Windows build (Unix-only code must sit behind cfg(unix) with a fallback)"
ensure_windows_tools
cargo clippy --target x86_64-pc-windows-gnu -p venuebox --locked -- -D warnings
say "lints of the macOS build (type-checked with zig's macOS headers; not linked or run here)"
tests/platforms/macos-check.sh
say "unit and integration tests"
cargo test --workspace --locked
say "protocol smoke test with curl against the real binary"
tests/smoke/curl.sh target/debug/venuebox .venv/bin/python
say "attacks with curl against the real binary in passphrase mode: encoded paths, lower roles"
tests/smoke/attacks.sh target/debug/venuebox
say "the spreadsheet round trip: openpyxl and LibreOffice edit the .xlsx export, venuebox import brings it back"
.venv/bin/python tests/xlsx/roundtrip.py target/debug/venuebox
say "protocol tests with socket.io-client, and the status page in headless Chromium (playwright-core)"
npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
(cd tests/node && VENUEBOX_BIN="$PWD/../../target/debug/venuebox" node --test --test-concurrency=1)
say "power-cut torture, short: SIGKILL under 8 writers, nothing acknowledged may be lost (scripts/torture.sh runs more)"
python3 tests/torture/power_cut.py target/debug/venuebox 5 8
say "hub faults under load, short: 50 clients for 5 s while the hub link flaps; no client error, no gap"
python3 tests/torture/load_with_faults.py target/debug/venuebox "$VENUEBOX_TEST_PG" 5 50
say "bad input at scale: schemathesis against the generated OpenAPI document, no 5xx, no crash"
tests/torture/bad_input.sh target/debug/venuebox .venv/bin/schemathesis 3
say "mDNS tests, inside network namespaces (python-zeroconf and venuebox discover as clients)"
tests/mdns/run.sh target/debug/venuebox .venv/bin/python
say "the systemd unit"
tests/systemd/verify.sh target/debug/venuebox
say "packages: Debian amd64/arm64, static Linux x86_64/aarch64, Windows, the container image"
scripts/package.sh all
tests/package/verify.sh
say "each platform serves the smoke test: static binaries (aarch64 and the Pi package under qemu), Windows under Wine, the image under podman"
tests/platforms/verify.sh .venv/bin/python
say "all tests passed"
