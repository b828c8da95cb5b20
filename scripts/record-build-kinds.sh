#!/usr/bin/env bash
# record-build-kinds.sh - record what real BuildStream builds for the elements of
# testprojects/buildkinds (compose, filter, script, junction-crossing), as facts for
# tests/build_kinds.rs.
#
# Usage:
#     scripts/record-build-kinds.sh
#
# In a copy of testprojects/buildkinds whose subproject gets a copy of testprojects/hello/sysroot
# (scripts/make-hello-sysroot.sh) as sub/sysroot, builds every element with
#
#     $BST --no-interactive -c <private config> build ELEMENTS...
#
# and writes, for each element, tests/expected/build-kinds/<element>.txt: the output of
# `artifact list-contents ELEMENT`, a line `--`, then a listing of
# `artifact checkout --no-integrate --deps none ELEMENT` (one line per path, sorted: `d path`,
# `f path sha256`, `x path sha256` for executables, `l path -> target`; see
# scripts/list-tree.py). Paths under `bin/` are left out of both: they are busybox's
# applets, which depend on the host's busybox.
#
# Environment:
#     BST   the bst executable (default: bst on PATH): BuildStream 2.8.1. It needs buildbox-casd
#           and buildbox-run on PATH.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
BST=${BST:-bst}
out_dir="$repo/tests/expected/build-kinds"
mkdir -p "$out_dir"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bash "$repo/scripts/make-hello-sysroot.sh" >/dev/null
cp -a "$repo/testprojects/buildkinds" "$tmp/project"
cp -a "$repo/testprojects/hello/sysroot" "$tmp/project/sub/sysroot"
cat > "$tmp/bst.conf" <<CONF
cachedir: $tmp/cache
sourcedir: $tmp/sources
logdir: $tmp/logs
CONF
export XDG_CONFIG_HOME="$tmp/config" XDG_CACHE_HOME="$tmp/xdg-cache" XDG_DATA_HOME="$tmp/data"

elements=()
for f in "$repo"/testprojects/buildkinds/elements/*.bst; do
    el=$(basename "$f")
    [ "$el" = sub.bst ] || elements+=("$el")
done
elements+=("sub.bst:tool.bst")

run_bst() { (cd "$tmp/project" && "$BST" --no-interactive -c "$tmp/bst.conf" "$@"); }
run_bst build "${elements[@]}" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }

for el in "${elements[@]}"; do
    name=${el%.bst}
    name=${name//:/-}
    name=${name//.bst/}
    {
        run_bst artifact list-contents "$el" 2>/dev/null | { grep -v $'^\tbin/' || true; }
        echo --
        run_bst artifact checkout --no-integrate --deps none --directory "$tmp/co/$name" "$el" >/dev/null 2>&1
        python3 "$repo/scripts/list-tree.py" "$tmp/co/$name" | { grep -v '^[dfxl] bin/' || true; }
    } > "$out_dir/$name.txt"
    echo "$name: $(grep -c . "$out_dir/$name.txt") lines"
done
