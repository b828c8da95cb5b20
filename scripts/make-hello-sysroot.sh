#!/usr/bin/env bash
# Prepares testprojects/hello/sysroot: Debian's static busybox with a symlink per applet, the
# smallest sysroot that can run BuildStream's shell commands. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
root=testprojects/hello/sysroot
[ -x "$root/bin/busybox" ] && exit 0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if command -v busybox >/dev/null 2>&1 && ! ldd "$(command -v busybox)" >/dev/null 2>&1; then
    cp "$(command -v busybox)" "$tmp/busybox"          # already static on this host
else
    (cd "$tmp" && apt-get download busybox-static >/dev/null 2>&1) || {
        echo "make-hello-sysroot: cannot download busybox-static with apt-get" >&2
        exit 1
    }
    dpkg -x "$tmp"/busybox-static_*.deb "$tmp/x"
    cp "$tmp/x/bin/busybox" "$tmp/busybox"
fi

stage="$tmp/sysroot"
mkdir -p "$stage/bin" "$stage/usr" "$stage/etc" "$stage/run"
install -m 755 "$tmp/busybox" "$stage/bin/busybox"
for applet in $("$stage/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$stage/bin/$applet"
done
ln -s ../bin "$stage/usr/bin"
ln -s bin "$stage/sbin"
ln -s ../bin "$stage/usr/sbin"
# Atomic: a half-made sysroot never looks complete.
rm -rf "$root.tmp" && mv "$stage" "$root.tmp" && mv "$root.tmp" "$root"
echo "make-hello-sysroot: $root ready"
