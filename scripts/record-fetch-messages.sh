#!/usr/bin/env bash
# record-fetch-messages.sh - record the messages real BuildStream prints for the fetch jobs
# of some elements of testprojects/fetch, as facts for tests/sources.rs.
#
# Usage:
#     scripts/record-fetch-messages.sh [ELEMENT...]   (default: remote merged git tar-gz sha-mismatch patched)
#
# In a copy of testprojects/fetch whose aliases point to a local HTTP server (python3 -m
# http.server over testprojects/fetch/files) and to git repositories made by
# scripts/make-fetch-git-repos.sh, runs, for each element with an empty source directory,
#
#     $BST --no-interactive -c <private config> source fetch ELEMENT
#
# and writes tests/expected/fetch-messages/<element>.txt: `# terminal`, then the message lines
# of the element's fetch job on stderr; `# log`, then the message lines of the job's log
# file (detail lines and command output left out). Times are replaced by [time], the job's
# log file name by <log>, the HTTP server by <http>, the git directory by <git> and the
# private directory by <tmp>, and the random part of a staging directory's name
# (`staging-temp<random>`) as well.
#
# Environment:
#     BST   the bst executable (default: bst on PATH): BuildStream 2.8.1 with
#           buildstream-plugins 2.7.0 and buildstream-plugins-community 2.3.1. It needs
#           buildbox-casd on PATH.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
BST=${BST:-bst}
out_dir="$repo/tests/expected/fetch-messages"
mkdir -p "$out_dir"

# shellcheck source=lib/fetch-project.sh
. "$repo/scripts/lib/fetch-project.sh"
fetch_project "$repo"
export XDG_CONFIG_HOME="$tmp/config" XDG_CACHE_HOME="$tmp/xdg-cache" XDG_DATA_HOME="$tmp/data"

if [ $# -gt 0 ]; then
    elements=("$@")
else
    elements=(remote.bst merged.bst git.bst tar-gz.bst sha-mismatch.bst patched.bst)
fi

normalize() {
    sed -E "s/^\[[-0-9:]{8}\]/[time]/; s|[^ ]*-fetch\.[0-9-]+\.log$|<log>|; s|$tmp/git|<git>|g; s/staging-temp[a-z0-9_]{8}/staging-temp<random>/g; s|$tmp|<tmp>|g; s|http://127.0.0.1:$port|<http>|g"
}

for el in "${elements[@]}"; do
    name=${el%.bst}
    rm -rf "$tmp/cache" "$tmp/sources" "$tmp/logs"
    cat > "$tmp/bst.conf" <<CONF
cachedir: $tmp/cache
sourcedir: $tmp/sources
logdir: $tmp/logs
CONF
    set +e
    (cd "$tmp/project" && "$BST" --no-interactive -c "$tmp/bst.conf" source fetch "$el") \
        >"$tmp/stdout" 2>"$tmp/stderr"
    set -e
    log=$(find "$tmp/logs" -name '*-fetch.*.log' | head -n 1)
    {
        echo "# terminal"
        grep -F "][   fetch:$el " "$tmp/stderr" | grep '^\[' | normalize
        echo "# log"
        grep '^\[' "$log" | normalize
    } > "$out_dir/$name.txt"
    echo "$name: $(grep -c . "$out_dir/$name.txt") lines"
done
