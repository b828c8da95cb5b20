#!/usr/bin/env bash
# Installs what bst-rs needs, builds it, and runs it on the bundled example project.
# Safe to run twice: every step checks before it installs.
set -euo pipefail
cd "$(dirname "$0")/.."

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
echo "== bst-rs show on the bundled example (testprojects/hello) =="
./target/release/bst-rs -C testprojects/hello show hello.bst
