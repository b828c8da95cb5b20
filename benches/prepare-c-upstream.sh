#!/usr/bin/env bash
# Prepares benches/c-upstream for the `c-upstream-*` benchmark scenarios:
#  * sources/<name>: the upstream (orig) tarballs of Debian bookworm's zlib, xz-utils,
#    libpng1.6, libjpeg-turbo and libxml2, unpacked without Debian's patches. They are fetched
#    with `apt-get source --download-only` from the Debian mirror this machine's apt already
#    uses (BST_RS_DEBIAN_MIRROR overrides it), through a private apt state directory (the
#    machine's apt configuration is not changed), and cached in
#    ${XDG_CACHE_HOME:-~/.cache}/bst-rs/c-upstream.
#  * sysroot/: the c-chain-tools sysroot (cmake, autotools), hard-linked by
#    scripts/prepare-c-chain.sh --tools (which builds it first if needed, as root).
#
#   benches/prepare-c-upstream.sh [--no-build]
#
# Idempotent; prints the project directory on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
LOG_TAG=prepare-c-upstream
# shellcheck source-path=SCRIPTDIR
. "$root/scripts/lib/debian.sh"

project=$here/c-upstream
SUITE=bookworm
# source package -> directory under sources/
PACKAGES=(zlib:zlib xz-utils:xz libpng1.6:libpng libjpeg-turbo:libjpeg-turbo libxml2:libxml2)

build_args=()
for arg in "$@"; do
    case $arg in
        --no-build) build_args+=(--no-build) ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done

"$root/scripts/prepare-c-chain.sh" --tools --project "$project" "${build_args[@]}" >/dev/null

cache=$(bst_rs_cache)/c-upstream
mkdir -p "$cache/debs"
missing=()
for p in "${PACKAGES[@]}"; do
    ls "$cache/debs/${p%%:*}_"*.orig.tar.* >/dev/null 2>&1 || missing+=("${p%%:*}")
done
if [ ${#missing[@]} -gt 0 ]; then
    mirror=$(debian_mirror) || die "cannot derive a Debian mirror from /etc/apt; set BST_RS_DEBIAN_MIRROR"
    apt=$cache/apt
    mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/parts"
    printf 'deb-src %s %s main\n' "$mirror" "$SUITE" >"$apt/sources.list"
    opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/parts"
        -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt" -o "APT::Sandbox::User=root"
        -o "Acquire::Languages=none")
    log "fetching ${missing[*]} ($SUITE sources from $mirror)"
    apt-get "${opts[@]}" -q update >&2
    (cd "$cache/debs" && apt-get "${opts[@]}" -q source --download-only "${missing[@]}" >&2)
fi

mkdir -p "$project/sources"
for p in "${PACKAGES[@]}"; do
    pkg=${p%%:*} dir=${p#*:}
    tarball=$(ls "$cache/debs/${pkg}_"*.orig.tar.* | grep -v '\.asc$' | sort | tail -n1)
    dest=$project/sources/$dir
    stamp=$project/sources/.$dir.stamp
    if [ -d "$dest" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$(basename "$tarball")" ]; then
        continue
    fi
    rm -rf "$dest" "$dest.tmp"
    mkdir -p "$dest.tmp"
    tar -xf "$tarball" -C "$dest.tmp" --strip-components=1 --no-same-owner
    mv "$dest.tmp" "$dest"
    basename "$tarball" >"$stamp"
    log "sources/$dir: $(basename "$tarball")"
done
printf '%s\n' "$project"
