#!/usr/bin/env python3
"""Lists a staged source tree for comparisons (format: see record-source-checkouts.sh).

tests/sources.rs implements the same listing; keep them in step.
Usage: list-tree.py DIR
"""
import hashlib
import os
import stat
import subprocess
import sys


def git(d, *args):
    r = subprocess.run(["git", "-C", d, *args], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else "-"


def main(root):
    lines = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if ".git" in dirnames or ".git" in filenames:
            tags = git(dirpath, "tag", "-l").split()
            lines.append(
                "git {} head={} branch={} tags={} describe={}".format(
                    rel_dir,
                    git(dirpath, "rev-parse", "HEAD"),
                    git(dirpath, "symbolic-ref", "-q", "HEAD"),
                    ",".join(sorted(tags)) or "-",
                    git(dirpath, "describe", "--tags", "--long", "--abbrev=40"),
                )
            )
            if ".git" in dirnames:
                dirnames.remove(".git")
            if ".git" in filenames:
                filenames.remove(".git")
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                lines.append("l {} -> {}".format(rel, os.readlink(full)))
                if name in dirnames:
                    dirnames.remove(name)
            elif stat.S_ISDIR(st.st_mode):
                lines.append("d {}".format(rel))
            else:
                with open(full, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                kind = "x" if st.st_mode & stat.S_IXUSR else "f"
                lines.append("{} {} {}".format(kind, rel, digest))
    for line in sorted(lines, key=lambda l: l.split(" ", 2)[1] + " " + l.split(" ", 1)[0]):
        print(line)


if __name__ == "__main__":
    main(sys.argv[1])
