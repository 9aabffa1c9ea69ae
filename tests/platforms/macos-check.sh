#!/usr/bin/env bash
# macOS cannot be built or run here (no Apple SDK to link with), but it can be type-checked:
# `cargo clippy --target x86_64-apple-darwin` compiles every crate for macOS — the bundled
# SQLite and ring's C and assembly by zig's clang with the macOS headers zig ships — and
# refuses a warning, so Linux-only code without a fallback fails here. Linking (and running) is
# what stays untested; README, Deployment, says so.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
ensure_static_tools
rustup target list --installed | grep -qx x86_64-apple-darwin || rustup target add x86_64-apple-darwin
wrapper_dir=$(mktemp -d)
trap 'rm -rf "$wrapper_dir"' EXIT
# cc-rs passes clang's spelling of the target, which zig does not parse; zig gets its own.
cat >"$wrapper_dir/zig-cc-macos" <<WRAPPER
#!/usr/bin/env bash
args=()
for arg in "\$@"; do
    case "\$arg" in --target=*|-mmacosx-version-min=*) ;; *) args+=("\$arg") ;; esac
done
exec "$PWD/.venv/bin/python" -m ziglang cc -target x86_64-macos "\${args[@]}"
WRAPPER
chmod +x "$wrapper_dir/zig-cc-macos"
CC_x86_64_apple_darwin="$wrapper_dir/zig-cc-macos" \
    cargo clippy --locked --target x86_64-apple-darwin -p venuebox -- -D warnings
