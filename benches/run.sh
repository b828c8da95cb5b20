#!/usr/bin/env bash
# Build bst-rs (release) and run the side-by-side benchmark against real BuildStream.
#
#   benches/run.sh [--quick] [--runs N] [--only gen-5k,...] [--list] [--no-bst]
#
# BST=/path/to/bst selects real BuildStream (default: `bst` on PATH);
# BST_RS=/path/to/bst-rs skips the build and uses that binary.
# See benches/README.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${BST_RS:-}" ]; then
    if ! (cd "$ROOT" && cargo build --release --quiet); then
        if [ -x "$ROOT/target/release/bst-rs" ]; then
            echo "run.sh: WARNING: cargo build --release failed; benchmarking the existing target/release/bst-rs" >&2
        else
            echo "run.sh: cargo build --release failed and there is no bst-rs binary" >&2
            exit 2
        fi
    fi
fi
exec python3 "$ROOT/benches/bench.py" "$@"
