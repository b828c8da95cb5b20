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
# It then records, under tests/expected/build-kinds/checkout/, what `artifact checkout` does
# with its options (see checkout_case below: integration, --hardlinks, --deps, --tar with
# and without compression, to stdout, option conflicts, errors), and in
# tests/expected/build-kinds/integration-failures.txt what building each element of
# elements/fail/ (whose dependencies' integration commands fail) does: exit code, the
# element's last failure message, the build queue's counts and the states afterwards.
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

# --- artifact checkout ---------------------------------------------------------------------
# Each case: `exit N`, then the error and warning messages (unindented lines of stderr that
# start with ERROR, WARNING, Error, Destination, Output file or Missing; the checkout's path
# replaced by DEST), then a listing of what was checked out: a directory as list-tree.py lists
# it, a tarball as list-tar.py lists it (members under bin/ left out of both), and for
# tarballs of libfoo alone the sha256 of the (uncompressed) archive's bytes. An argument
# ARTIFACT:<element> stands for the artifact name of the element's artifact
# (`buildkinds/<normal name>/<key>`), UNCACHED:<element> for a name of it with a key no
# artifact has.
co_out="$out_dir/checkout"
rm -rf "$co_out"
mkdir -p "$co_out"
n=0
checkout_case() { # NAME KIND(dir|tar|stdout) PREPARE(-|file|nonempty) DEST-SUFFIX ARGS...
    local name=$1 kind=$2 prepare=$3 suffix=$4
    shift 4
    n=$((n + 1))
    local dest="$tmp/checkout/$n/out$suffix"
    mkdir -p "$tmp/checkout/$n"
    case $prepare in
    file) touch "$dest" ;;
    nonempty) mkdir -p "$dest" && touch "$dest/file" ;;
    esac
    local args=()
    for a in "$@"; do
        case $a in
        ARTIFACT:* | UNCACHED:*)
            local el=${a#*:} key
            key=$(run_bst show --deps none --format '%{full-key}' "$el" 2>/dev/null)
            [ "${a%%:*}" = UNCACHED ] && key=$(printf '0%.0s' $(seq 64))
            el=${el%.bst}
            args+=("buildkinds/${el//\//-}/$key")
            ;;
        *) args+=("${a//DEST/$dest}") ;;
        esac
    done
    set +e
    run_bst artifact checkout "${args[@]}" >"$tmp/co.stdout" 2>"$tmp/co.stderr"
    local code=$?
    set -e
    {
        echo "exit $code"
        { grep -E '^(ERROR|WARNING|Error|Destination|Output file|Missing)' "$tmp/co.stderr" || true; } | sed "s#$dest#DEST#g"
        if [ "$code" = 0 ]; then
            case $kind in
            dir)
                python3 "$repo/scripts/list-tree.py" "$dest" | { grep -v '^[dfxl] bin/' || true; }
                ;;
            tar | stdout)
                local archive=$dest
                [ "$kind" = stdout ] && archive="$tmp/co.stdout"
                python3 "$repo/scripts/list-tar.py" --skip ./bin/ "$archive"
                case $name in
                tar-libfoo*) python3 -c '
import bz2, gzip, hashlib, lzma, sys
data = open(sys.argv[1], "rb").read()
for decompress in (gzip.decompress, lzma.decompress, bz2.decompress):
    try:
        data = decompress(data)
        break
    except Exception:
        pass
print("archive sha256=" + hashlib.sha256(data).hexdigest())' "$archive" ;;
                esac
                ;;
            esac
        fi
    } >"$co_out/$name.txt"
    echo "checkout/$name: exit $code, $(grep -c . "$co_out/$name.txt") lines"
}
checkout_case integrated dir - "" --directory DEST integration.bst
checkout_case no-integrate dir - "" --no-integrate --directory DEST integration.bst
checkout_case integrate-last-wins dir - "" --no-integrate --integrate --directory DEST integration.bst
checkout_case hardlinks dir - "" --hardlinks --directory DEST integration.bst
checkout_case deps-build dir - "" --deps build --directory DEST script-integrated.bst
checkout_case deps-none dir - "" --deps none --directory DEST libfoo.bst
checkout_case deps-none-no-commands dir - "" --deps none --directory DEST integration.bst
checkout_case uncached dir - "" --directory DEST fail/manual.bst
checkout_case not-empty dir nonempty "" --directory DEST integration.bst
checkout_case force dir nonempty "" --force --no-integrate --deps none --directory DEST libfoo.bst
checkout_case tar tar - .tar --tar DEST integration.bst
checkout_case tar-stdout stdout - "" --tar - integration.bst
checkout_case tar-libfoo tar - .tar --deps none --no-integrate --tar DEST libfoo.bst
checkout_case tar-libfoo-gz tar - .tar.gz --deps none --no-integrate --tar DEST libfoo.bst
checkout_case tar-libfoo-xz tar - .tar.xz --deps none --no-integrate --tar DEST libfoo.bst
checkout_case tar-libfoo-bz2 tar - .tar.bz2 --deps none --no-integrate --tar DEST libfoo.bst
checkout_case tar-libfoo-compression tar - .tar.gz --deps none --no-integrate --compression bz2 --tar DEST libfoo.bst
checkout_case tar-exists tar file .tar --deps none --no-integrate --tar DEST libfoo.bst
checkout_case tar-exists-force tar file .tar --force --deps none --no-integrate --tar DEST libfoo.bst
checkout_case hardlinks-tar tar - .tar --hardlinks --tar DEST integration.bst
checkout_case directory-tar tar - .tar --directory DEST.d --tar DEST integration.bst
checkout_case compression-without-tar dir - "" --compression gz --directory DEST integration.bst
checkout_case tar-unknown-compression tar - .tar.zst --tar DEST integration.bst
checkout_case named-deps-build dir - "" --deps build --directory DEST ARTIFACT:script-integrated.bst
checkout_case named-deps-none dir - "" --deps none --directory DEST ARTIFACT:libfoo.bst
checkout_case named-no-integrate dir - "" --deps none --no-integrate --directory DEST ARTIFACT:libfoo.bst
checkout_case named-deps-run dir - "" --directory DEST ARTIFACT:integration.bst
checkout_case named-uncached dir - "" --deps none --directory DEST UNCACHED:libfoo.bst
checkout_case named-tar tar - .tar --deps build --tar DEST ARTIFACT:integration.bst

# --- integration failures ------------------------------------------------------------------
{
    for el in fail/manual.bst fail/compose.bst fail/script.bst; do
        set +e
        run_bst build "$el" >"$tmp/fail.log" 2>&1
        code=$?
        set -e
        echo "$el: exit $code"
        echo "failure: $(grep -F "build:$el" "$tmp/fail.log" | grep -F '] FAILURE ' | tail -n 1 | sed 's/.*\] FAILURE //')"
        grep -E '^ +Build Queue:' "$tmp/fail.log" | sed 's/^ *//; s/ *$//'
        run_bst show --format '%{name} %{state}' "$el" 2>/dev/null
    done
} >"$out_dir/integration-failures.txt"
echo "integration-failures: $(grep -c . "$out_dir/integration-failures.txt") lines"
