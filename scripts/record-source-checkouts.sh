#!/usr/bin/env bash
# record-source-checkouts.sh - record what real BuildStream stages for the elements of
# testprojects/fetch, as facts for tests/sources.rs.
#
# Usage:
#     scripts/record-source-checkouts.sh [ELEMENT...]     (default: every element)
#
# For each element, in a copy of testprojects/fetch whose aliases point to a local HTTP server
# (python3 -m http.server over testprojects/fetch/files) and to git repositories made by
# scripts/make-fetch-git-repos.sh, runs
#
#     $BST --no-interactive -c <private config> source checkout ELEMENT --directory OUT
#
# and writes tests/expected/sources/<element>.txt: `ok` and a listing of OUT/<element> (one
# line per path, sorted: `d path`, `f path sha256`, `x path sha256` for executables,
# `l path -> target`; a directory holding `.git` is listed as `git path head=<commit>
# branch=<branch or detached> tags=<names> describe=<git describe --tags --long --abbrev=40>`
# instead of its `.git` content), or `error` and the source's failure message when staging or
# fetching fails (paths of the private directories replaced by <tmp>).
#
# Environment:
#     BST   the bst executable (default: bst on PATH): BuildStream 2.8.1 with
#           buildstream-plugins 2.7.0 and buildstream-plugins-community 2.3.1. It needs
#           buildbox-casd on PATH.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
BST=${BST:-bst}
out_dir="$repo/tests/expected/sources"
mkdir -p "$out_dir"

# shellcheck source=lib/fetch-project.sh
. "$repo/scripts/lib/fetch-project.sh"
fetch_project "$repo"
cat > "$tmp/bst.conf" <<EOF
cachedir: $tmp/cache
sourcedir: $tmp/sources
logdir: $tmp/logs
EOF
export XDG_CONFIG_HOME="$tmp/config" XDG_CACHE_HOME="$tmp/xdg-cache" XDG_DATA_HOME="$tmp/data"

if [ $# -gt 0 ]; then
    elements=("$@")
else
    elements=()
    for f in "$repo"/testprojects/fetch/elements/*.bst; do elements+=("$(basename "$f")"); done
fi

for el in "${elements[@]}"; do
    name=${el%.bst}
    dest="$tmp/out/$name"
    rm -rf "$dest"
    set +e
    (cd "$tmp/project" && "$BST" --no-interactive -c "$tmp/bst.conf" source checkout "$el" \
        --directory "$dest") >"$tmp/stdout" 2>"$tmp/stderr"
    rc=$?
    set -e
    {
        if [ $rc -eq 0 ]; then
            echo ok
            python3 "$repo/scripts/list-tree.py" "$dest/$name"
        else
            echo error
            # The failure message of the source (last FAILURE line), else bst's last line.
            msg=$(grep -E '\] FAILURE ' "$tmp/stderr" | grep -v 'Try #' | tail -n 1 \
                | sed -E 's/^.*\] FAILURE //; s/^\[[0-9a-f]+\] [^ ]+: //' || true)
            [ -n "$msg" ] || msg=$(grep -v '^\s*$' "$tmp/stderr" | tail -n 1)
            echo "$msg" | sed "s|$tmp|<tmp>|g; s|http://127.0.0.1:$port|<http>|g"
        fi
    } > "$out_dir/$name.txt"
    echo "$name: $(head -n 1 "$out_dir/$name.txt")"
done
