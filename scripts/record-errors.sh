#!/usr/bin/env bash
#
# record-errors.sh - record how real BuildStream reports bad input.
#
# For every case in testprojects/errors/cases.txt this runs the real `bst`
# (BuildStream 2.8.1) and writes tests/expected/errors/<case>.txt, which
# bst-rs must reproduce byte for byte:
#
#     exit: <exit code>
#     <bst's stderr, with the "[..][..][..] START/FAILURE ..." status lines
#      removed and leading/trailing blank lines trimmed>
#
# cases.txt format (TAB-separated, '#' comments and blank lines ignored):
#
#     case-name <TAB> project dir <TAB> global options <TAB> show arguments
#
# The project dir is relative to testprojects/errors/; global options and
# show arguments are split on whitespace (no quoting) and may be empty.
# Each case is run from inside its project dir as:
#
#     $BST --no-interactive -c <cfg> <global options> \
#          show --deps all --format '%{name} %{full-key}' <show arguments>
#
# where <cfg> is a private user configuration whose cachedir/logdir live in a
# throw-away temporary directory (so the user's own config/cache is never used).
#
# Normalisation: the absolute path of testprojects/errors is replaced by
# "<ERRORS>" in the recorded output (some messages, e.g. missing element or
# missing project.conf, contain absolute paths), so the expectations do not
# depend on where the repository is checked out. The temporary directory is
# likewise replaced by "<TMP>".
#
# Usage:
#     scripts/record-errors.sh [case-name ...]     # default: all cases
#     BST=/path/to/bst scripts/record-errors.sh    # default BST: bst
#
# The script fails loudly (exit 1, and no expected file is written for that
# case) if any case unexpectedly succeeds (exit 0). An exit code other than
# 255 is recorded but reported as a warning, as is any case whose stderr
# contains a Python traceback.
#
set -euo pipefail

BST="${BST:-bst}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ERRORS="$ROOT/testprojects/errors"
CASES="$ERRORS/cases.txt"
OUT="$ROOT/tests/expected/errors"

command -v "$BST" >/dev/null 2>&1 || { echo "record-errors: cannot run bst ('$BST'); set BST=" >&2; exit 2; }

TMP="$(mktemp -d "${TMPDIR:-/tmp}/bst-record-errors.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
CFG="$TMP/user.conf"
cat >"$CFG" <<EOF
cachedir: $TMP/cache
logdir: $TMP/logs
EOF

mkdir -p "$OUT"

# Filter bst's stderr down to the error message block.
filter() {
    # 1. drop status lines such as
    #    [--:--:--][        ][    main:core activity                 ] START   Loading elements
    # 2. normalise absolute paths
    # 3. trim leading and trailing blank lines
    sed -E '/^\[[^]]*\]\[[^]]*\]\[[^]]*\] /d' |
        sed -e "s|$ERRORS|<ERRORS>|g" -e "s|$TMP|<TMP>|g" |
        awk '
            { lines[NR] = $0 }
            END {
                first = 1; last = NR
                while (first <= last && lines[first] ~ /^[ \t]*$/) first++
                while (last >= first && lines[last] ~ /^[ \t]*$/) last--
                for (i = first; i <= last; i++) print lines[i]
            }'
}

declare -a only=("$@")
succeeded=()
warnings=()
count=0

# Tabs are converted to \037 first: with IFS=TAB, `read` would merge empty fields.
while IFS=$'\037' read -r name dir gopts args || [ -n "${name:-}" ]; do
    case "$name" in '' | '#'*) continue ;; esac
    if [ ${#only[@]} -gt 0 ]; then
        want=0
        for o in "${only[@]}"; do [ "$o" = "$name" ] && want=1; done
        [ $want = 1 ] || continue
    fi
    projdir="$ERRORS/$dir"
    [ -d "$projdir" ] || { echo "record-errors: $name: no such project dir $projdir" >&2; exit 2; }

    # bst may stage junctions into <project>/.bst; remove it again if we made it.
    had_dotbst=0; [ -e "$projdir/.bst" ] && had_dotbst=1

    # Word-splitting of options/arguments is intended here.
    # shellcheck disable=SC2086
    set +e
    (cd "$projdir" && "$BST" --no-interactive -c "$CFG" ${gopts:-} \
        show --deps all --format '%{name} %{full-key}' ${args:-}) \
        >"$TMP/stdout" 2>"$TMP/stderr" </dev/null
    rc=$?
    set -e
    [ $had_dotbst = 1 ] || rm -rf "$projdir/.bst"
    count=$((count + 1))

    if [ $rc -eq 0 ]; then
        echo "record-errors: FAIL: case '$name' unexpectedly SUCCEEDED (exit 0):" >&2
        sed 's/^/    /' "$TMP/stdout" >&2
        succeeded+=("$name")
        rm -f "$OUT/$name.txt"
        continue
    fi
    [ $rc -eq 255 ] || warnings+=("$name: exit code $rc (expected 255)")
    grep -q 'Traceback (most recent call last)' "$TMP/stderr" && warnings+=("$name: stderr contains a Python traceback")

    { echo "exit: $rc"; filter <"$TMP/stderr"; } >"$OUT/$name.txt"
    printf '%-40s %s\n' "$name" "$(sed -n 2p "$OUT/$name.txt")"
done < <(tr '\t' '\037' <"$CASES")

echo "record-errors: recorded $((count - ${#succeeded[@]})) of $count case(s) into ${OUT#"$ROOT"/}"
if [ ${#warnings[@]} -gt 0 ]; then printf 'record-errors: WARNING: %s\n' "${warnings[@]}" >&2; fi
if [ ${#succeeded[@]} -gt 0 ]; then
    echo "record-errors: ERROR: ${#succeeded[@]} case(s) unexpectedly succeeded: ${succeeded[*]}" >&2
    exit 1
fi
