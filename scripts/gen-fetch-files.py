#!/usr/bin/env python3
"""Writes the archives of testprojects/fetch/files (deterministic: fixed names, modes, owners
and mtimes), then prints each file's sha256 for the refs of testprojects/fetch/elements.

Run from the repository root: python3 scripts/gen-fetch-files.py
Needs the host `lzip` for the .lz archive.
"""
import hashlib
import io
import os
import subprocess
import tarfile
import zipfile

OUT = os.path.join("testprojects", "fetch", "files")

# The tree most archives hold: a top-level directory, an executable, a symlink, a hard link,
# an absolute symlink, an empty directory, and a second top-level directory that the default
# base-dir ("*": the first match in code point order) leaves out.
TREE = [
    ("hello-1.0", "dir", None),
    ("hello-1.0/README", "file", b"hello\n"),
    ("hello-1.0/configure", "exec", b"#!/bin/sh\necho configured\n"),
    ("hello-1.0/src", "dir", None),
    ("hello-1.0/src/main.c", "file", b"int main(void) { return 0; }\n"),
    ("hello-1.0/src/link.c", "symlink", "main.c"),
    ("hello-1.0/src/hard.c", "hardlink", "hello-1.0/src/main.c"),
    ("hello-1.0/abs-link", "symlink", "/usr/share"),
    ("hello-1.0/empty", "dir", None),
    ("zzz-extra", "dir", None),
    ("zzz-extra/ignored.txt", "file", b"not staged with the default base-dir\n"),
]


def info(name, kind, payload):
    ti = tarfile.TarInfo(name)
    ti.mtime = 1000000000
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    data = None
    if kind == "dir":
        ti.type = tarfile.DIRTYPE
        ti.mode = 0o755
    elif kind in ("file", "exec"):
        ti.mode = 0o755 if kind == "exec" else 0o644
        ti.size = len(payload)
        data = io.BytesIO(payload)
    elif kind == "symlink":
        ti.type = tarfile.SYMTYPE
        ti.linkname = payload
        ti.mode = 0o777
    elif kind == "hardlink":
        ti.type = tarfile.LNKTYPE
        ti.linkname = payload
        ti.mode = 0o644
    return ti, data


def tar_bytes(entries, prefix=""):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, kind, payload in entries:
            if kind == "hardlink" and prefix:
                payload = prefix + payload
            ti, data = info(prefix + name if name else prefix.rstrip("/") or ".", kind, payload)
            tar.addfile(ti, data)
    return buf.getvalue()


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def gz(data):
    import gzip

    return gzip.compress(data, mtime=0)


def main():
    os.makedirs(OUT, exist_ok=True)
    plain = tar_bytes(TREE)
    write("hello.tar", plain)
    write("hello.tar.gz", gz(plain))
    import bz2
    import lzma

    write("hello.tar.bz2", bz2.compress(plain))
    write("hello.tar.xz", lzma.compress(plain))
    lz = subprocess.run(["lzip", "-c"], input=plain, capture_output=True, check=True).stdout
    write("hello.tar.lz", lz)

    # "./"-prefixed members, as `tar -C dir -czf x.tar.gz .` writes them: the "./" member is
    # listed as "", which "*" matches, so BuildStream strips nothing.
    dot = [("", "dir", None)] + TREE
    write("dotslash.tar.gz", gz(tar_bytes(dot, prefix="./")))

    # Only top-level files: "*" finds no directory.
    write("flat.tar.gz", gz(tar_bytes([("a.txt", "file", b"a\n"), ("b.txt", "file", b"b\n")])))

    # A member climbing out of the destination.
    write("escape.tar", tar_bytes([("pkg", "dir", None), ("pkg/../../evil.txt", "file", b"evil\n")]))
    # A member written through a symbolic link pointing outside.
    write(
        "symlink-escape.tar",
        tar_bytes(
            [
                ("pkg", "dir", None),
                ("pkg/link", "symlink", "/tmp"),
                ("pkg/link/evil.txt", "file", b"evil\n"),
            ]
        ),
    )
    # A hard link to a file outside.
    write(
        "hardlink-escape.tar",
        tar_bytes([("pkg", "dir", None), ("pkg/passwd", "hardlink", "../../../../etc/passwd")]),
    )

    # zip: directory entries, an executable (zip modes are not kept), a second top directory.
    def zipped(with_dirs):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, kind, payload in TREE:
                zi = zipfile.ZipInfo(name + ("/" if kind == "dir" else ""), (2001, 9, 9, 1, 46, 40))
                if kind == "dir":
                    if with_dirs:
                        zi.external_attr = (0o40755 << 16) | 0x10
                        z.writestr(zi, b"")
                    continue
                if kind == "symlink":
                    payload = payload.encode()
                if kind == "hardlink":
                    continue
                zi.external_attr = (0o100755 if kind == "exec" else 0o100644) << 16
                zi.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(zi, payload)
        return buf.getvalue()

    write("hello.zip", zipped(True))
    write("nodirs.zip", zipped(False))

    for name in sorted(os.listdir(OUT)):
        with open(os.path.join(OUT, name), "rb") as f:
            print(hashlib.sha256(f.read()).hexdigest(), name)


if __name__ == "__main__":
    main()
