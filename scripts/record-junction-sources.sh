#!/usr/bin/env bash
# record-junction-sources.sh - record what real BuildStream does with the junctions of
# testprojects/junction-sources, whose subprojects come from sources other than a single
# `local` one, for tests/junction_sources.rs.
#
# Usage:
#     BST=/path/to/bst scripts/record-junction-sources.sh
#
# In a scratch copy of the project, with a private cache, log and source directory whose
# tar mirror already holds files/sub.tar.gz (so the junction's URL, which is never
# reachable, is not fetched and the keys do not depend on where the copy lives), runs
#
#     bst --no-interactive -c <private config> show --deps all \
#         --format '%{name} %{full-key}' top.bst
#
# and writes to tests/expected/junction-sources/:
#     show.txt     its standard output;
#     staged.txt   every file and symbolic link bst staged under .bst/staged-junctions
#                  (nested stages included): its path, then the sha256 of its content or
#                  `-> target`.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
project=$repo/testprojects/junction-sources
out_dir=$repo/tests/expected/junction-sources

BST=${BST:-bst}
if ! bst_path=$(command -v "$BST"); then
    echo "record-junction-sources.sh: bst executable '$BST' not found; set BST=/path/to/bst" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/record-junction-sources.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/xdg-cache" "$tmp/xdg-config" "$tmp/xdg-data"
cp -a "$project" "$tmp/project"
rm -rf "$tmp/project/.bst"
sha=$(sha256sum "$project/files/sub.tar.gz" | cut -d' ' -f1)
mkdir -p "$tmp/sources/tar/upstream_sub_tar_gz"
cp "$project/files/sub.tar.gz" "$tmp/sources/tar/upstream_sub_tar_gz/$sha"
cat > "$tmp/buildstream.conf" <<CONF
cachedir: $tmp/cache
sourcedir: $tmp/sources
logdir: $tmp/logs
CONF

mkdir -p "$out_dir"
if ! (cd "$tmp/project" &&
      XDG_CACHE_HOME=$tmp/xdg-cache XDG_CONFIG_HOME=$tmp/xdg-config XDG_DATA_HOME=$tmp/xdg-data \
      "$bst_path" --no-interactive -c "$tmp/buildstream.conf" \
          show --deps all --format '%{name} %{full-key}' top.bst) > "$tmp/stdout" 2> "$tmp/stderr"; then
    echo "record-junction-sources.sh: bst failed:" >&2
    cat "$tmp/stderr" >&2
    exit 1
fi
mv "$tmp/stdout" "$out_dir/show.txt"
(cd "$tmp/project" && find .bst/staged-junctions \( -type f -o -type l \) | LC_ALL=C sort |
    while IFS= read -r f; do
        if [ -L "$f" ]; then
            printf '%s -> %s\n' "$f" "$(readlink "$f")"
        else
            printf '%s %s\n' "$f" "$(sha256sum < "$f" | cut -d' ' -f1)"
        fi
    done) > "$out_dir/staged.txt"
echo "recorded $(wc -l < "$out_dir/show.txt") keys and $(wc -l < "$out_dir/staged.txt") staged files in $out_dir" >&2
