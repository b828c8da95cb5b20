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
# tests/expected/heading/junctions.txt; then the element list and the pipeline summary
# of two more fetch sessions into tests/expected/heading/fetch-pipeline.*.txt.
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

# The heading's element list and the pipeline summary of two fetch sessions:
# - fetch-pipeline.<name>.txt; the list holds everything the targets depend on (Total), the
#   session only the selection; a non-strict session shows no keys (`?`), as it does not
#   query artifacts.
record_pipeline() {
    local name=$1
    shift
    rm -rf "$tmp/cache" "$tmp/sources" "$tmp/logs"
    (cd "$tmp/project" && "$BST" --no-interactive -c "$tmp/bst.conf" "$@") 2>"$tmp/stderr" >/dev/null || true
    {
        sed -n '/^Pipeline$/,/^=====/p' "$tmp/stderr"
        sed -n '/^Pipeline Summary$/,$p' "$tmp/stderr" | sed '/^$/d'
    } > "$out_dir/fetch-pipeline.$name.txt"
    echo "fetch-pipeline.$name: $*"
}
record_pipeline strict-none source fetch hello.bst
record_pipeline nonstrict-all --no-strict source fetch --deps all app.bst
