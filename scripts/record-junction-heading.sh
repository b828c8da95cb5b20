#!/usr/bin/env bash
# record-junction-heading.sh - record the project part of the session heading real
# BuildStream prints for testprojects/junctions (each loaded project with its junction path,
# what loaded it, the projects declaring it a duplicate or internal, options and plugins), as facts for
# tests/heading.rs.
#
# Usage:
#     scripts/record-junction-heading.sh
#
# Runs `$BST --no-interactive -c <private config> source fetch --deps all app.bst` in a copy
# of testprojects/junctions (its remote source cannot be fetched, which does not matter: the
# heading is printed before any job runs) and writes the
# heading from the first `Project:` line up to `Pipeline` (excluded) into
# tests/expected/heading/junctions.txt.
#
# Environment:
#     BST   the bst executable (default: bst on PATH): BuildStream 2.8.1. It needs
#           buildbox-casd on PATH.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
BST=${BST:-bst}
out_dir="$repo/tests/expected/heading"
mkdir -p "$out_dir"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$repo/testprojects/junctions" "$tmp/project"
cat > "$tmp/bst.conf" <<CONF
cachedir: $tmp/cache
sourcedir: $tmp/sources
logdir: $tmp/logs
CONF
export XDG_CONFIG_HOME="$tmp/config" XDG_CACHE_HOME="$tmp/xdg-cache" XDG_DATA_HOME="$tmp/data"
(cd "$tmp/project" && "$BST" --no-interactive -c "$tmp/bst.conf" source fetch --deps all app.bst) \
    2>"$tmp/stderr" >/dev/null || true
sed -n '/^Project: /,/^Pipeline$/p' "$tmp/stderr" | sed '$d' > "$out_dir/junctions.txt"
echo "junctions: $(grep -c '^Project: ' "$out_dir/junctions.txt") projects"
