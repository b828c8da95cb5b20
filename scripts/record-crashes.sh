#!/usr/bin/env bash
# record-crashes.sh - record where real BuildStream crashes collecting source information.
#
# Some sources make BuildStream 2.8.1 (and its plugins) die of an unhandled Python exception
# in `bst show --format '%{source-info}'` (a git source without ref, say). bst then prints
# nothing on stdout, reports the exception on a `BUG` status line followed by a traceback,
# and exits with 255. bst-rs cannot reproduce a Python traceback; it must fail the same way
# and name the same exception.
#
# For every element testprojects/sourceinfo/elements/crash/<name>.bst this runs, from
# testprojects/sourceinfo,
#
#     $BST --no-interactive -c <private config> show --deps none \
#         --format '%{name}: %{source-info}' crash/<name>.bst
#
# and writes tests/expected/crashes/<name>.txt:
#
#     exit: <exit code>
#     stdout: <number of bytes bst printed on stdout>
#     BUG: <the exception message of bst's BUG line>
#
# Usage: BST=/path/to/bst scripts/record-crashes.sh
set -euo pipefail
BST=${BST:-bst}
command -v "$BST" >/dev/null 2>&1 || { echo "record-crashes.sh: cannot run bst ('$BST'); set BST=" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
project=$repo/testprojects/sourceinfo
out=$repo/tests/expected/crashes
tmp=$(mktemp -d "${TMPDIR:-/tmp}/record-crashes.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/buildstream.conf" <<CONF
cachedir: $tmp/cache
sourcedir: $tmp/sources
logdir: $tmp/logs
CONF
mkdir -p "$out"
rm -f "$out"/*.txt
count=0
for element in "$project"/elements/crash/*.bst; do
    name=$(basename "$element" .bst)
    set +e
    (cd "$project" && XDG_CACHE_HOME=$tmp/xdg-cache XDG_CONFIG_HOME=$tmp/xdg-config XDG_DATA_HOME=$tmp/xdg-data \
        "$BST" --no-interactive -c "$tmp/buildstream.conf" show --deps none \
        --format '%{name}: %{source-info}' "crash/$name.bst") >"$tmp/stdout" 2>"$tmp/stderr" </dev/null
    rc=$?
    set -e
    bug=$(sed -n -E 's/^\[[^]]*\]\[[^]]*\]\[[^]]*\] BUG +//p' "$tmp/stderr" | head -n 1)
    if [ -z "$bug" ]; then
        echo "record-crashes.sh: crash/$name.bst: bst did not crash (exit $rc):" >&2
        cat "$tmp/stderr" >&2
        exit 1
    fi
    printf 'exit: %s\nstdout: %s\nBUG: %s\n' "$rc" "$(wc -c <"$tmp/stdout")" "$bug" >"$out/$name.txt"
    printf '%-28s %s\n' "$name" "$bug"
    count=$((count + 1))
done
echo "record-crashes.sh: recorded $count case(s) into ${out#"$repo"/}" >&2
