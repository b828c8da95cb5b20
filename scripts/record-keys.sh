#!/usr/bin/env bash
# record-keys.sh - record the expected `bst show` output of every conformance
# case with the real BuildStream.
#
# Usage:
#     scripts/record-keys.sh [CASE-NAME...]
#
# Reads testprojects/cases.txt (one case per line, TAB-separated columns:
# case name, project directory relative to testprojects/, global options,
# show arguments; `#` lines and blank lines are ignored; see
# testprojects/README.md) and, for each case (or only the named ones), runs
# from inside the project directory:
#
#     $BST --no-interactive -c <private config> <global options> \
#         show --deps all --format '%{name} %{full-key}' <show arguments>
#
# `--deps all` and `--format ...` are only added when the show arguments do
# not contain their own --deps/-d or --format/-f. Arguments are split like a
# shell would (quotes allowed; they are trusted input).
#
# Standard output is written to tests/expected/keys/<case name>.txt, and the
# WARNING messages bst printed on stderr (with their detail lines), if any, to
# <case name>.warnings.
# Any bst
# failure aborts the run with bst's error output and a non-zero exit status;
# nothing is written for the failing case.
#
# Environment:
#     BST        the bst executable (default: `bst` on PATH), BuildStream
#                2.8.1 with buildstream-plugins 2.7.0, e.g. BST=/work/V/bin/bst
#     MAX_JOBS   build.max-jobs for the private user configuration
#                (default 0 = BuildStream's own default). Recording twice with
#                different values must give identical files: the projects
#                keep %{max-jobs} out of every cache key.
#
# Each run uses a fresh private cache, log and source directory (and XDG
# directories) under a temporary directory, so ~/.cache, ~/.config and
# ~/.local are neither read nor written. Re-running is idempotent: files are
# overwritten; when all cases are recorded, files of cases that no longer
# exist in cases.txt are removed.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
projects=$repo/testprojects
cases_file=$projects/cases.txt
out_dir=$repo/tests/expected/keys

BST=${BST:-bst}
if ! bst_path=$(command -v "$BST"); then
    echo "record-keys.sh: bst executable '$BST' not found; install BuildStream 2.8.1 or set BST=/path/to/bst" >&2
    exit 2
fi
version=$("$bst_path" --version 2>/dev/null || true)
if [ "$version" != "2.8.1" ]; then
    echo "record-keys.sh: warning: expected BuildStream 2.8.1, '$bst_path --version' says '$version'" >&2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/record-keys.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/xdg-cache" "$tmp/xdg-config" "$tmp/xdg-data"
config=$tmp/buildstream.conf
cat > "$config" <<EOF
cachedir: $tmp/cache
sourcedir: $tmp/sources
logdir: $tmp/logs
build:
  max-jobs: ${MAX_JOBS:-0}
EOF

mkdir -p "$out_dir"

declare -A wanted=()
for name in "$@"; do wanted[$name]=1; done
declare -A seen=()
count=0
lineno=0

while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    case $line in ''|'#'*) continue ;; esac
    # Split on TABs, keeping empty columns (`read` would merge them)
    mapfile -t -d $'\t' cols < <(printf '%s' "$line")
    if [ "${#cols[@]}" -lt 3 ] || [ "${#cols[@]}" -gt 4 ] || [ -z "${cols[0]}" ] || [ -z "${cols[1]}" ]; then
        echo "record-keys.sh: $cases_file:$lineno: expected 4 TAB-separated columns" >&2
        exit 2
    fi
    name=${cols[0]} project=${cols[1]} global=${cols[2]} show=${cols[3]:-}
    if [ -n "${seen[$name]:-}" ]; then
        echo "record-keys.sh: $cases_file:$lineno: duplicate case name '$name'" >&2
        exit 2
    fi
    seen[$name]=1
    if [ $# -gt 0 ] && [ -z "${wanted[$name]:-}" ]; then
        continue
    fi
    if [ ! -f "$projects/$project/project.conf" ]; then
        echo "record-keys.sh: $cases_file:$lineno: no project.conf in testprojects/$project" >&2
        exit 2
    fi

    # Shell-style splitting of the two argument columns
    eval "global_args=($global)"
    eval "show_args=($show)"
    defaults=()
    has_deps=0 has_format=0
    for arg in "${show_args[@]}"; do
        case $arg in
            --deps|--deps=*|-d|-d?*) has_deps=1 ;;
            --format|--format=*|-f|-f?*) has_format=1 ;;
        esac
    done
    [ $has_deps = 1 ] || defaults+=(--deps all)
    [ $has_format = 1 ] || defaults+=(--format '%{name} %{full-key}')

    echo "recording $name" >&2
    if ! (cd "$projects/$project" &&
          XDG_CACHE_HOME=$tmp/xdg-cache XDG_CONFIG_HOME=$tmp/xdg-config XDG_DATA_HOME=$tmp/xdg-data \
          "$bst_path" --no-interactive -c "$config" "${global_args[@]}" \
              show "${defaults[@]}" "${show_args[@]}") \
          > "$tmp/stdout" 2> "$tmp/stderr"; then
        echo "record-keys.sh: bst failed for case '$name' (testprojects/$project):" >&2
        cat "$tmp/stderr" >&2
        exit 1
    fi
    if [ ! -s "$tmp/stdout" ]; then
        echo "record-keys.sh: bst printed nothing for case '$name'" >&2
        cat "$tmp/stderr" >&2
        exit 1
    fi
    mv "$tmp/stdout" "$out_dir/$name.txt"
    # The warnings bst printed, if any, are facts too: each WARNING message line with
    # the detail lines below it (up to the next message line).
    rm -f "$out_dir/$name.warnings"
    awk '/^\[[^]]*\]\[[^]]*\]\[[^]]*\] / { keep = / WARNING / }
         keep { print }' "$tmp/stderr" > "$tmp/warnings"
    if [ -s "$tmp/warnings" ]; then
        mv "$tmp/warnings" "$out_dir/$name.warnings"
    fi
    count=$((count + 1))
done < "$cases_file"

for name in "$@"; do
    if [ -z "${seen[$name]:-}" ]; then
        echo "record-keys.sh: no case named '$name' in $cases_file" >&2
        exit 2
    fi
done

if [ $# -eq 0 ]; then
    for f in "$out_dir"/*.txt "$out_dir"/*.warnings; do
        [ -e "$f" ] || continue
        base=$(basename "$f"); base=${base%.*}
        if [ -z "${seen[$base]:-}" ]; then
            echo "removing stale $f" >&2
            rm -f "$f"
        fi
    done
fi

echo "recorded $count case(s) into $out_dir" >&2
