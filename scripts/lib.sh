# Shared set-up for the scripts: install what is missing, never assume it is there.
# shellcheck shell=bash

say() { printf '==> %s\n' "$*" >&2; }

# Installs Debian packages that are not installed yet (as root, or with sudo).
ensure_apt_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The Rust toolchain comes from rustup (Debian's packaged Rust is too old for edition 2024).
require_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        say "Rust is not installed. Install it with rustup (https://rustup.rs):"
        say "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y"
        say "then open a new shell and run this script again."
        exit 1
    fi
}

# Build dependencies: a C compiler for the bundled SQLite.
ensure_build_deps() {
    command -v dpkg-query >/dev/null 2>&1 && ensure_apt_packages gcc libc6-dev
    require_rust
}

# Node.js and npm for the protocol tests (socket.io-client), from Debian when missing.
ensure_node() {
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        ensure_apt_packages nodejs npm
    fi
}

# A virtualenv (.venv, ignored by git) with the Python clients the tests use.
ensure_python_venv() {
    if ! python3 -m venv --help >/dev/null 2>&1; then
        ensure_apt_packages python3 python3-venv
    fi
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    .venv/bin/python -c 'import zeroconf, prometheus_client, openpyxl, schemathesis' 2>/dev/null || .venv/bin/pip install --quiet -r tests/requirements.txt
}

# Runs a command as the postgres system user (peer authentication on the local socket).
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

# PostgreSQL for the sync tests: Debian's server, installed if missing, started if stopped,
# reachable on 127.0.0.1:5432 as the postgres role with a known password (harmless where the
# server trusts loopback). Each test creates its own database and drops it. Exports
# VENUEBOX_TEST_PG.
ensure_postgres() {
    local url="postgres://postgres:venuebox-test@127.0.0.1:5432/postgres"
    if ! command -v pg_lsclusters >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
        ensure_apt_packages postgresql postgresql-client
    fi
    if ! pg_isready -q -h 127.0.0.1 -p 5432; then
        say "starting PostgreSQL"
        local sudo=""
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        pg_lsclusters --no-header | while read -r version cluster _; do
            $sudo pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start || true
        done
        for _ in $(seq 1 30); do
            pg_isready -q -h 127.0.0.1 -p 5432 && break
            sleep 1
        done
    fi
    if ! psql "$url" -Atqc 'SELECT 1' >/dev/null 2>&1; then
        as_postgres psql -qc "ALTER ROLE postgres PASSWORD 'venuebox-test'" >/dev/null
    fi
    if ! psql "$url" -Atqc 'SELECT 1' >/dev/null 2>&1; then
        say "PostgreSQL does not answer on 127.0.0.1:5432 (see pg_lsclusters)"
        exit 1
    fi
    export VENUEBOX_TEST_PG="$url"
}

# What `cargo deb` needs to package amd64 and cross-build arm64: Debian's aarch64 gcc (links
# the binary and compiles the bundled SQLite and ring), the rustup target, cargo-deb itself,
# dpkg-dev (dpkg-shlibdeps) and qemu-user to run the arm64 binary in the package checks.
ensure_packaging_tools() {
    ensure_apt_packages dpkg-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user binutils-aarch64-linux-gnu
    rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
    if ! cargo deb --version >/dev/null 2>&1; then
        say "installing cargo-deb"
        cargo install --locked cargo-deb --version 3.8.0
    fi
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
}

# The static Linux builds: cargo-zigbuild links with zig (from PyPI, into .venv) for both
# musl targets, so no musl cross-gcc is needed; qemu-user runs the aarch64 binary in tests.
ensure_static_tools() {
    ensure_python_venv
    .venv/bin/python -c 'import ziglang' 2>/dev/null && [ -x .venv/bin/cargo-zigbuild ] \
        || .venv/bin/pip install --quiet ziglang==0.17.1 cargo-zigbuild==0.24.1
    export PATH="$PWD/.venv/bin:$PATH"
    for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
        rustup target list --installed | grep -qx "$target" || rustup target add "$target"
    done
    command -v dpkg-query >/dev/null 2>&1 && ensure_apt_packages qemu-user file
    return 0
}

# The Windows build (mingw-w64) and what runs it in the tests (Wine).
ensure_windows_tools() {
    command -v dpkg-query >/dev/null 2>&1 && ensure_apt_packages gcc-mingw-w64-x86-64 wine64
    rustup target list --installed | grep -qx x86_64-pc-windows-gnu || rustup target add x86_64-pc-windows-gnu
    return 0
}

# The container image: built with buildah, run in the tests with podman (both Debian's).
ensure_image_tools() {
    command -v dpkg-query >/dev/null 2>&1 && ensure_apt_packages buildah podman runc
    return 0
}
