#!/usr/bin/env python3
"""Lists a tar archive's members in order, for comparisons (tests/build_kinds.rs reads tar
archives the same way with the `tar` crate; keep them in step).

One line per member:
    d NAME mode=0755 owner=0:0 names=: mtime=1321009871
    f NAME mode=0644 owner=0:0 names=: mtime=1321009871 size=N sha256=HEX
    l NAME mode=0777 owner=0:0 names=: mtime=1321009871 -> TARGET
(directories without their trailing slash; other member types as `? NAME`). Members whose
name starts with one of the --skip prefixes are left out.

Usage: list-tar.py [--skip PREFIX]... ARCHIVE   (- for stdin; any compression)
"""
import hashlib
import sys
import tarfile


def main(args):
    skip = []
    while args and args[0] == "--skip":
        skip.append(args[1])
        args = args[2:]
    path = args[0]
    if path == "-":
        tf = tarfile.open(fileobj=sys.stdin.buffer, mode="r|*")
    else:
        tf = tarfile.open(path, mode="r:*")
    with tf:
        for m in tf:
            if any(m.name.startswith(p) for p in skip):
                continue
            common = "{} mode={:04o} owner={}:{} names={}:{} mtime={}".format(
                m.name, m.mode, m.uid, m.gid, m.uname, m.gname, m.mtime
            )
            if m.isdir():
                print("d " + common)
            elif m.isfile():
                data = tf.extractfile(m).read()
                print("f {} size={} sha256={}".format(common, m.size, hashlib.sha256(data).hexdigest()))
            elif m.issym():
                print("l {} -> {}".format(common, m.linkname))
            else:
                print("? " + m.name)


if __name__ == "__main__":
    main(sys.argv[1:])
