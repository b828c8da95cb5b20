#!/usr/bin/env bash
# record-source-caches.sh - record the source cache refs real BuildStream writes when it
# fetches elements of testprojects/fetch, as facts for tests/source_cache.rs.
#
# Usage:
#     scripts/record-source-caches.sh [ELEMENT...]   (default: the list below)
#
# For each element, in a fresh cache directory and a copy of testprojects/fetch whose `files`
# alias points to file://<repo>/testprojects/fetch/files/, runs
#
#     $BST --no-interactive -c <private config> source fetch ELEMENT
#
# and writes tests/expected/source-caches/<element>.txt: one line per ref file under the
# cache directory's `elementsources/` and `source_protos/`, sorted, `<path> <content as hex>`
# (the path relative to the cache directory).
#
# Environment:
#     BST   the bst executable (default: bst on PATH): BuildStream 2.8.1 with
#           buildstream-plugins 2.7.0 and buildstream-plugins-community 2.3.1. It needs
#           buildbox-casd on PATH.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
BST=${BST:-bst}
out_dir="$repo/tests/expected/source-caches"
mkdir -p "$out_dir"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cp -r "$repo/testprojects/fetch" "$tmp/project"
sed -i -e "s|@HTTP@/|file://$repo/testprojects/fetch/files/|" -e "s|@GIT@|/nonexistent|" \
    "$tmp/project/project.conf"

elements=("$@")
[ ${#elements[@]} -gt 0 ] || elements=(tar.bst zip.bst remote.bst local.bst merged.bst patched.bst no-sources.bst)

for element in "${elements[@]}"; do
    cache="$tmp/cache-${element%.bst}"
    mkdir -p "$cache"
    printf 'cachedir: %s/cache\nsourcedir: %s/sources\nlogdir: %s/logs\n' \
        "$cache" "$cache" "$cache" >"$cache/user.conf"
    "$BST" --no-interactive -c "$cache/user.conf" -C "$tmp/project" source fetch "$element" \
        >"$cache/out.txt" 2>&1 || { cat "$cache/out.txt" >&2; exit 1; }
    (
        cd "$cache/cache"
        find elementsources source_protos -type f | LC_ALL=C sort | while read -r ref; do
            printf '%s %s\n' "$ref" "$(od -An -v -tx1 "$ref" | tr -d ' \n')"
        done
    ) >"$out_dir/$element.txt"
    echo "recorded $element"
done
