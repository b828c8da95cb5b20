#!/usr/bin/env bash
# Puts the C-chain sysroot into testprojects/c-chain/sysroot, where base.bst imports it from (a
# local source must be inside the project). The sysroot is built (once, cached) by
# scripts/make-sysroot.sh, which needs root; here it is only hard-linked (`cp -al`, a fraction
# of a second; a plain copy if the cache is on another file system).
#
#   scripts/prepare-c-chain.sh [--tools] [--project DIR] [--no-build]
#
# --tools       use the c-chain-tools sysroot (cmake, autotools) instead of c-chain
# --project DIR link into DIR/sysroot instead of testprojects/c-chain/sysroot
# --no-build    do not run make-sysroot.sh; fail if the sysroot is not built yet
#
# Idempotent: the link is redone only when the cached sysroot was rebuilt (its stamp is copied
# to DIR/.sysroot.stamp). Prints the sysroot directory on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
LOG_TAG=prepare-c-chain
# shellcheck source-path=SCRIPTDIR
. "$here/lib/debian.sh"

project=$here/../testprojects/c-chain
name=c-chain
build=1
make_args=()
while [ $# -gt 0 ]; do
    case $1 in
        --tools) name=c-chain-tools; make_args+=(--tools) ;;
        --project) project=${2:?--project needs a value}; shift ;;
        --project=*) project=${1#--project=} ;;
        --no-build) build=0 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
    shift
done
project=$(cd "$project" && pwd)
src=$(bst_rs_cache)/sysroot/$name
stamp=$src.stamp
if [ ! -d "$src" ] || [ ! -s "$stamp" ]; then
    [ "$build" = 1 ] || die "$src is not built (run scripts/make-sysroot.sh ${make_args[*]})"
    "$here/make-sysroot.sh" "${make_args[@]}" >/dev/null
fi
[ -d "$src" ] && [ -s "$stamp" ] || die "make-sysroot.sh did not produce $src"

dest=$project/sysroot
want="$name $(cat "$stamp")"
if [ -d "$dest" ] && [ "$(cat "$project/.sysroot.stamp" 2>/dev/null)" = "$want" ]; then
    log "$dest is up to date"
    printf '%s\n' "$dest"
    exit 0
fi
t0=$(date +%s.%N)
tmp=$project/.sysroot.tmp.$$
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
if ! cp -al "$src" "$tmp" 2>/dev/null; then
    rm -rf "$tmp"
    log "cannot hard-link (another file system?); copying"
    cp -a "$src" "$tmp"
fi
rm -f "$project/.sysroot.stamp"
rm -rf "$dest"
mv "$tmp" "$dest"
printf '%s\n' "$want" >"$project/.sysroot.stamp"
log "$dest ready ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s)"
printf '%s\n' "$dest"
