#!/usr/bin/env python3
"""Writes testprojects/junction-sources/files/sub.tar.gz from the tree under
testprojects/junction-sources/tarball/ (deterministic: sorted entries, fixed mtimes, owners
and modes, no gzip timestamp), then sets the ref of elements/tarred.bst to its sha256.

Run from the repository root: python3 scripts/gen-junction-tarball.py
"""
import gzip
import hashlib
import io
import os
import re
import tarfile

BASE = os.path.join("testprojects", "junction-sources")
TREE = os.path.join(BASE, "tarball")
OUT = os.path.join(BASE, "files", "sub.tar.gz")
ELEMENT = os.path.join(BASE, "elements", "tarred.bst")


def entries():
    for root, dirs, files in os.walk(TREE):
        dirs.sort()
        rel = os.path.relpath(root, TREE)
        if rel != ".":
            yield rel, None
        for f in sorted(files):
            with open(os.path.join(root, f), "rb") as fh:
                yield os.path.join(rel, f), fh.read()


def main():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in entries():
            ti = tarfile.TarInfo(name)
            ti.mtime = 1000000000
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            if data is None:
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                tar.addfile(ti)
            else:
                ti.mode = 0o644
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
    data = gzip.compress(buf.getvalue(), mtime=0)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "wb") as fh:
        fh.write(data)
    sha = hashlib.sha256(data).hexdigest()
    with open(ELEMENT) as fh:
        text = fh.read()
    text = re.sub(r"ref: \S+", "ref: " + sha, text)
    with open(ELEMENT, "w") as fh:
        fh.write(text)
    print(sha, OUT)


if __name__ == "__main__":
    main()
