#!/usr/bin/env bash
# Builds the base sysroot of the C toolchain tests: Debian unstable (sid) minbase with gcc, make,
# libc6-dev and buildbox (for /usr/bin/recc inside the sandbox); with --tools also cmake,
# autoconf, automake, libtool and pkgconf (+140 MB and +6.7k files: perl, cmake's modules).
# Stripped of what compiling does not need (docs, man pages, locales, apt lists and caches, device
# nodes); /run exists (the sandbox's REAPI socket directory).
#
#   scripts/make-sysroot.sh [--tools] [--name NAME] [--force]
#
# Output: ${XDG_CACHE_HOME:-~/.cache}/bst-rs/sysroot/NAME (default NAME: c-chain, or
# c-chain-tools with --tools), printed on the
# last line of stdout; progress, size and timing go to stderr. The result is cached: a second
# run with the same package list only checks the stamp (NAME.stamp next to the directory). It is
# built in a temporary directory and renamed at the end, so an interrupted run never leaves a
# sysroot that looks complete. Needs root (debootstrap, chroot), apt-get and the network access
# to the Debian mirror this machine's apt already uses (BST_RS_DEBIAN_MIRROR overrides it).
# BST_RS_SYSROOT_NO_CHECK_GPG=1 skips the Release signature check (only if the keyring is too
# old for sid's signing key; not needed on an up-to-date bookworm).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
LOG_TAG=make-sysroot
# shellcheck source-path=SCRIPTDIR
. "$here/lib/debian.sh"

# Bump when the way the sysroot is made changes: older sysroots are then rebuilt.
FORMAT=2
SUITE=sid
BASE_PACKAGES=(gcc make libc6-dev buildbox)
EXTRA_PACKAGES=(cmake autoconf automake libtool pkgconf)

name=""
tools=0
force=0
while [ $# -gt 0 ]; do
    case $1 in
        --name) name=${2:?--name needs a value}; shift ;;
        --name=*) name=${1#--name=} ;;
        --tools) tools=1 ;;
        --force) force=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
    shift
done
packages=("${BASE_PACKAGES[@]}")
if [ "$tools" = 1 ]; then
    packages+=("${EXTRA_PACKAGES[@]}")
    name=${name:-c-chain-tools}
fi
name=${name:-c-chain}
case $name in */* | .*) die "bad --name: $name" ;; esac
key="format=$FORMAT suite=$SUITE variant=minbase packages=$(printf '%s\n' "${packages[@]}" | sort -u | tr '\n' ' ')"

dir=$(bst_rs_cache)/sysroot
out=$dir/$name
stamp=$dir/$name.stamp
mkdir -p "$dir"

report() {
    local size files
    size=$(du -sh "$out" | cut -f1)
    files=$(find "$out" | wc -l)
    log "sysroot $out: $size, $files entries${1:+, $1}"
    printf '%s\n' "$out"
}

if [ "$force" = 0 ] && [ -d "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$key" ]; then
    log "up to date (--force to rebuild)"
    report
    exit 0
fi

[ "$(id -u)" = 0 ] || die "building the sysroot needs root (debootstrap and chroot)"
command -v flock >/dev/null 2>&1 && {
    exec 9>"$dir/.$name.lock"
    flock 9
}
start=$(date +%s)
command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
[ -r /usr/share/keyrings/debian-archive-keyring.gpg ] || apt_install debian-archive-keyring
mirror=$(debian_mirror) || die "cannot derive a Debian mirror from /etc/apt; set BST_RS_DEBIAN_MIRROR"
log "building '$name' from $SUITE at $mirror: ${packages[*]}"

tmp=$dir/.$name.tmp.$$
old=""
# unmount_under DIR: unmounts whatever is mounted below DIR, deepest first.
unmount_under() {
    local m
    awk -v d="$1/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" || true
    done
}
remove_tree() {
    [ -e "$1" ] || return 0
    unmount_under "$1"
    rm -rf --one-file-system "$1"
}
cleanup() {
    remove_tree "$tmp"
    [ -z "$old" ] || remove_tree "$old"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Under the lock, leftovers of this name are from runs that were killed outright.
for stale in "$dir/.$name.tmp."* "$dir/.$name.old."*; do
    [ -e "$stale" ] || continue
    log "removing the leftover $stale"
    remove_tree "$stale"
done

# Downloaded packages are kept here across attempts and interrupted runs; removed on success.
debs=$dir/.$name.debs
mkdir -p "$debs"

# 1. minbase with debootstrap. Everything else is installed with apt inside the new system:
#    debootstrap does not resolve virtual packages (buildbox's libgrpc needs
#    libre2-11-absl<version>, provided by libre2-11), apt does.
gpg_opts=()
[ "${BST_RS_SYSROOT_NO_CHECK_GPG:-0}" = 1 ] && gpg_opts=(--no-check-gpg)
attempt=1
while :; do
    remove_tree "$tmp"
    t0=$(date +%s)
    if debootstrap --variant=minbase --components=main --cache-dir="$debs" "${gpg_opts[@]}" \
        "$SUITE" "$tmp" "$mirror" >"$dir/.$name.debootstrap.log" 2>&1; then
        log "debootstrap: $(($(date +%s) - t0)) s"
        break
    fi
    tail -n 5 "$dir/.$name.debootstrap.log" >&2
    [ -f "$tmp/debootstrap/debootstrap.log" ] && tail -n 20 "$tmp/debootstrap/debootstrap.log" >&2
    if grep -qiE 'signature|NO_PUBKEY|KEYRING|Release signed by unknown key' "$dir/.$name.debootstrap.log"; then
        log "hint: the Release file could not be verified; updating debian-archive-keyring may help," \
            "BST_RS_SYSROOT_NO_CHECK_GPG=1 skips the check"
    fi
    [ "$attempt" -lt 3 ] || die "debootstrap failed $attempt times (log: $dir/.$name.debootstrap.log)"
    attempt=$((attempt + 1))
    log "debootstrap failed; retrying ($attempt of 3)"
    sleep 5
done
rm -f "$dir/.$name.debootstrap.log"

# 2. The packages, with apt in a chroot. Docs, man pages and translations of the packages
#    installed now are not even unpacked, nor gcc's lto-dump (39 MB, a debugging tool).
cat >"$tmp/etc/dpkg/dpkg.cfg.d/90bst-rs-nodoc" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
path-exclude=/usr/bin/*lto-dump*
EOF
cat >"$tmp/etc/apt/apt.conf.d/90bst-rs" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Retries "5";
Acquire::Languages "none";
EOF
# The host's own acquire settings (proxies, and Check-Valid-Until on machines whose clock or
# mirror snapshot makes sid's Release look expired), for the duration of the install.
apt-config dump 2>/dev/null |
    grep -E '^Acquire::(Check-Valid-Until|Check-Date|Max-FutureTime|https?::|ftp::)' \
        >"$tmp/etc/apt/apt.conf.d/80bst-rs-host" || true
# No fsync per file while installing (a half-installed tree is thrown away anyway).
echo force-unsafe-io >"$tmp/etc/dpkg/dpkg.cfg.d/80bst-rs-unsafe-io"
printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
chmod 755 "$tmp/usr/sbin/policy-rc.d"
mount -t proc proc "$tmp/proc"
proxy_env=()
for v in http_proxy https_proxy ftp_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [ -z "${!v:-}" ] || proxy_env+=("$v=${!v}")
done
in_root() {
    chroot "$tmp" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive HOME=/root "${proxy_env[@]}" "$@"
}
t0=$(date +%s)
aptlog=$dir/.$name.apt.log
apt_failed() {
    tail -n 30 "$aptlog" >&2
    die "$1 in the sysroot failed (log: $aptlog)"
}
retry 3 in_root apt-get -q update >"$aptlog" 2>&1 || apt_failed "apt-get update"
retry 3 in_root apt-get -q -y install "${packages[@]}" >>"$aptlog" 2>&1 || apt_failed "apt-get install"
rm -f "$aptlog"
log "apt-get install: $(($(date +%s) - t0)) s"

# 3. Check that it compiles, and that recc is there.
cat >"$tmp/tmp/hello.c" <<'EOF'
#include <stdio.h>
int main(void) { puts("hello from the sysroot"); return 0; }
EOF
in_root sh -c 'cd /tmp && gcc -O2 -o hello hello.c && ./hello' >&2 || die "the sysroot's gcc does not work"
rm -f "$tmp/tmp/hello.c" "$tmp/tmp/hello"
# shellcheck disable=SC2016 # expanded in the sysroot
versions=$(in_root sh -c 'echo "gcc $(gcc -dumpfullversion)"; recc --version 2>&1 | head -n1
    if command -v cmake >/dev/null; then cmake --version | head -n1; fi' | tr '\n' ';')
log "versions: $versions"
umount "$tmp/proc"
# Anything still mounted there would be a bug; refuse to publish it.
if awk -v d="$tmp/" 'index($2, d) == 1 {found = 1} END {exit !found}' /proc/mounts; then
    die "something is still mounted under $tmp"
fi

# 4. Strip what compiling does not need.
in_root apt-get clean
rm -f "$tmp/usr/sbin/policy-rc.d" "$tmp/etc/apt/apt.conf.d/80bst-rs-host" "$tmp/etc/apt/apt.conf.d/90bst-rs" \
    "$tmp/etc/dpkg/dpkg.cfg.d/80bst-rs-unsafe-io"
find "$tmp/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "$tmp/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$tmp/usr/share/man" "$tmp/usr/share/info" "$tmp/usr/share/lintian" "$tmp/usr/share/linda"
find "$tmp/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
rm -rf "$tmp/var/lib/apt/lists"/* "$tmp/var/cache/apt"/* "$tmp/var/cache/debconf"/*-old \
    "$tmp/var/lib/dpkg"/*-old "$tmp/var/cache/ldconfig/aux-cache"
mkdir -p "$tmp/var/lib/apt/lists/partial"
find "$tmp/var/log" -type f -delete
# Host specifics copied by debootstrap, and device nodes (bubblewrap supplies /dev; CAS cannot
# store device nodes).
rm -f "$tmp/etc/resolv.conf"
echo localhost >"$tmp/etc/hostname"
find "$tmp/dev" -mindepth 1 -delete
find "$tmp/tmp" "$tmp/proc" "$tmp/sys" -mindepth 1 -delete 2>/dev/null || true
mkdir -p "$tmp/run"

# 5. Publish: the stamp goes last, so a directory without a matching stamp is never trusted.
rm -f "$stamp"
if [ -e "$out" ]; then
    old=$dir/.$name.old.$$
    mv "$out" "$old"
fi
mv "$tmp" "$out"
printf '%s\n' "$key" >"$stamp"
[ -z "$old" ] || remove_tree "$old"
old=""
rm -rf "$debs"
report "built in $(($(date +%s) - start)) s"
