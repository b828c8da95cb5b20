#!/usr/bin/env bash
# Installs what bst-rs needs, builds it, and builds the bundled example project with it.
# Safe to run twice: every step checks before it installs.
#
#   scripts/setup.sh [--no-sysroot]
#
# After building bst-rs it installs buildbox (scripts/install-buildbox.sh: buildbox-casd,
# buildbox-run-bubblewrap, buildbox-fuse, recc, trexe, casupload) into
# ${XDG_CACHE_HOME:-~/.cache}/bst-rs/buildbox/bin, then the C-chain test sysroot
# (scripts/make-sysroot.sh: needs root, about 4 minutes the first time, cached). --no-sysroot
# (or BST_RS_SYSROOT=0) skips the sysroot; it is skipped with a message when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

sysroot=${BST_RS_SYSROOT:-1}
for arg in "$@"; do
    case $arg in
        --sysroot) sysroot=1 ;;   # the default; kept for older instructions
        --no-sysroot) sysroot=0 ;;
        *) echo "setup: unknown argument: $arg (usage: scripts/setup.sh [--no-sysroot])" >&2; exit 2 ;;
    esac
done
if [ "$sysroot" = 1 ] && [ "$(id -u)" != 0 ] && [ ! -d "${XDG_CACHE_HOME:-$HOME/.cache}/bst-rs/sysroot/c-chain/usr" ]; then
    echo "setup: not root, so the C-chain sysroot is not built (debootstrap needs root); its tests will be skipped" >&2
    sysroot=0
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo (the Rust toolchain) is required; install it with rustup first" >&2
    exit 1
fi

# Host tools some projects need (git and patch sources; lzip for .tar.lz sources).
need=()
for tool in git patch lzip; do
    command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if [ ${#need[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq "${need[@]}"
    else
        echo "setup: please install: ${need[*]}" >&2
    fi
fi

cargo build --release --locked

echo
echo "== buildbox (casd, runner, recc) =="
buildbox_bin=$(scripts/install-buildbox.sh | tail -n1)
echo "buildbox tools: $buildbox_bin (put it first on PATH to use them)"
if [ "$sysroot" = 1 ]; then
    echo
    echo "== C-chain test sysroot =="
    scripts/prepare-c-chain.sh | tail -n1   # make-sysroot.sh if needed, linked into testprojects/c-chain
fi
echo
echo "== bst-rs build on the bundled example (testprojects/hello) =="
scripts/make-hello-sysroot.sh
./target/release/bst-rs --no-interactive -C testprojects/hello show hello.bst
./target/release/bst-rs --no-interactive -C testprojects/hello build hello.bst
checkout=$(mktemp -d)
trap 'rm -rf "$checkout"' EXIT
./target/release/bst-rs --no-interactive -C testprojects/hello artifact checkout --force --directory "$checkout" hello.bst
echo "running the built artifact: $("$checkout/usr/bin/hello")"
