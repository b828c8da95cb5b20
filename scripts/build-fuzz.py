#!/usr/bin/env python3
"""build-fuzz.py - differential testing of `bst-rs build` against real BuildStream.

Generates small random projects (3-10 elements) on top of the busybox sysroot of
testprojects/hello (scripts/make-hello-sysroot.sh), made of

  - a base import of the sysroot (sometimes with a `sysroot: [/**]` split domain);
  - import elements of generated trees (nested directories, executables, empty files and
    directories, relative/absolute/dangling symlinks, odd names) with `config: source/target`;
  - manual elements whose configure/build/install commands create files, symlinks and modes
    under %{install-root} with the directory variables (so that the split rules apply), and
    that record the root they were staged on (a listing with checksums, see SNAPSHOT);
  - public data: integration commands (creating, appending to and removing files), custom
    split-rules domains (new ones and (>)/(<)/replaced defaults), overlap-whitelist;
  - compose (include/exclude/include-orphans/integrate), filter (include/exclude/
    include-orphans/pass-integration, one build dependency, sometimes runtime ones), script
    (layouts with `config: location:`, root-read-only, commands writing into %{install-root})
    and stack elements;
  - dependencies of every type (build-depends, runtime-depends, depends), declared in random
    order, so that staging runtime dependencies of build dependencies, staging order and
    overlaps (two elements installing the same path: the later one wins, with a warning unless
    `fatal-warnings` says otherwise) are exercised;
  - a few deliberate build errors (failing integration commands, unknown filter domains,
    writes to a read-only root, fatal overlap warnings, import `source:` directories that are
    missing, empty or files, manual elements that run no command, files and empty directories
    replacing each other) where both tools should fail alike.

For each project, with each tool (its own user configuration, cache, source and log
directories and XDG directories under the case's directory: the tools never share a cache):

    build --on-error continue --builders 1 TOP-LEVEL-ELEMENTS...
    show --deps all --format '%{name}||%{full-key}||%{state}' ALL-ELEMENTS
    artifact list-contents ELEMENT                               (each cached element)
    artifact checkout --no-integrate --deps none --directory D ELEMENT   (listed as
                                                                 scripts/list-tree.py does)
    artifact checkout --directory D TOP-LEVEL-ELEMENT            (integrated, with its
                                                                 runtime dependencies)

and compares: the show output (keys and states: which elements were built, which failed),
the listings and contents of every cached element and the integrated checkouts (paths under
bin/, busybox's applets, are left out), and, per element, the WARNING, FAILURE and BUG
messages of the build log (the first line of each). Any difference keeps the case as
OUT/case-SEED/ (project/, bst/ and bst-rs/ with build.log, show.txt, listings and contents
per element, and a `diff` file); every seed is logged to OUT/results.tsv (seed, verdict,
summary). Verdicts: same, same-fail (both failed some elements alike), differ (build status,
show, listing, contents), messages (only warnings or failure messages differ), bst-bug (real
bst crashed), bst-load-error (real bst could not load the project: a generator bug).

Both tools get --buildbox (default ~/.cache/bst-rs/buildbox/bin) first on PATH, so that they
run the same buildbox-casd and buildbox-run: a runner with another staging mode (e.g.
buildbox-run-bubblewrap --staging-mode=copy-or-link) leaves the sandbox root writable under
root-read-only, which shows up as a difference in every script and manual element. Run real
bst directly (BST=/path/to/venv/bin/bst), not through a wrapper that changes the runner.

Known differences can be kept out of the way with --ignore-msg REGEX (repeatable; drops
matching message lines from the comparison) and --no-fatal-overlaps (overlaps never fatal),
e.g. --no-fatal-overlaps --ignore-msg 'WARNING \[overlaps\]' --ignore-msg
'WARNING \[unstaged-files\]' --ignore-msg '^FAILURE Staging artifact$' --ignore-msg
'Destination is a'.

Usage: BST=/path/to/bst scripts/build-fuzz.py [--bst-rs BIN] [--seed N] [--count N]
       [--minutes M] [--out DIR] [--keep-all] [--generate-only] [--buildbox DIR]
       [--ignore-msg REGEX]... [--no-fatal-overlaps]
"""
import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SYSROOT = os.path.join(REPO, "testprojects", "hello", "sysroot")
LIST_TREE = os.path.join(REPO, "scripts", "list-tree.py")

DEFAULT_DOMAINS = ["runtime", "devel", "debug", "doc", "locale"]
NAMES = ["foo", "bar", "baz"]
WORDS = ["alpha", "beta", "gamma", "x", "y", "data", "conf", "README", "file"]

# Records the staged root (outside the sandbox's own mounts and the busybox applets) with
# checksums, so that what a build element saw of its dependencies becomes part of its output.
SNAPSHOT = (
    "cd / && find . -path ./proc -prune -o -path ./dev -prune -o -path ./tmp -prune -o -path ./sys -prune"
    " -o -path ./bin -prune -o -path ./buildstream -prune -o -path ./buildstream-install -prune"
    " -o -path '.%{install-root}' -prune -o -print | sort | while read f; do"
    ' if [ -L "$f" ]; then echo "l $f -> $(readlink "$f")"; elif [ -f "$f" ]; then'
    ' echo "f $f $(sha256sum < "$f" | cut -c1-16) $(stat -c %a "$f")"; else echo "d $f"; fi; done'
)


def q(s):
    """Single-quoted YAML scalar."""
    return "'" + s.replace("'", "''") + "'"


def sh(s):
    """Double-quoted shell word (keeps %{var} references)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`") + '"'


class El:
    def __init__(self, name, kind):
        self.name = name
        self.kind = kind
        self.build = []  # (element, config lines or None)
        self.runtime = []
        self.both = []
        self.domains = list(DEFAULT_DOMAINS)
        self.has_artifact = kind != "stack"
        self.lines = []
        self.expect_fail = False


class Gen:
    def __init__(self, rng, no_fatal_overlaps=False):
        self.r = rng
        self.no_fatal_overlaps = no_fatal_overlaps
        self.els = []
        self.notes = []

    def pick(self, xs):
        return self.r.choice(xs)

    def chance(self, p):
        return self.r.random() < p

    # --- paths -----------------------------------------------------------------------------
    def dir_var(self):
        """A directory variable and a subpath for manual elements."""
        n = self.pick(NAMES)
        choices = [
            ("%{bindir}", ""), ("%{sbindir}", ""), ("%{libdir}", ""), ("%{libdir}", "pkgconfig"),
            ("%{libexecdir}", n), ("%{datadir}", n), ("%{docdir}", n), ("%{includedir}", ""),
            ("%{includedir}", n), ("%{sysconfdir}", n), ("%{sysconfdir}", ""), ("%{mandir}", "man1"),
            ("%{datadir}", "locale/de"), ("%{debugdir}", ""), ("%{localstatedir}", "lib/" + n),
            ("%{prefix}", ""), ("", "opt/" + n), ("", ""), ("%{infodir}", ""), ("%{datadir}", "aclocal"),
            ("%{datadir}", "pkgconfig"),
        ]
        v, sub = self.pick(choices)
        if v in ("%{bindir}", "%{sbindir}") and self.prefix == "/usr" and not self.chance(0.25):
            v, sub = "%{datadir}", n  # /usr/bin is a symlink in the sysroot: rarely collide with it
        return v + ("/" + sub if sub else "")

    def literal_dir(self):
        p = self.prefix
        n = self.pick(NAMES)
        choices = [p + "/lib", p + "/lib/pkgconfig", p + "/include", p + "/include/" + n, p + "/share/doc/" + n,
                   p + "/share/man/man1", p + "/share/locale/de", p + "/share/" + n, p + "/libexec/" + n,
                   p + "/lib/debug", "/etc/" + n, "/etc", "/opt/" + n, "/srv", "/var/lib/" + n, "", "/" + n,
                   p + "/share/aclocal", p + "/share/info"]
        if p != "/usr" or self.chance(0.1):
            choices += [p + "/bin", p + "/sbin"]
        return self.pick(choices)

    def file_name(self, d):
        n = self.pick(NAMES)
        if d.endswith("/lib") or d.endswith("/debug"):
            return self.pick(["lib%s.so.1" % n, "lib%s.so" % n, "lib%s.a" % n, "lib%s.la" % n, "%s.txt" % n])
        if "pkgconfig" in d:
            return n + ".pc"
        if "include" in d:
            return n + ".h"
        if "aclocal" in d:
            return n + ".m4"
        if "man" in d:
            return n + ".1"
        return self.pick(WORDS + [n, n + ".conf", ".hidden", "with space", "dash-%s" % n, "caf\u00e9"])

    def content(self):
        if self.chance(0.15):
            return ""
        return "%s %d\n" % (self.pick(WORDS), self.r.randint(0, 3))

    # --- project ---------------------------------------------------------------------------
    def project(self, d):
        r = self.r
        self.prefix = self.pick(["/usr", "/usr", "/opt/p", "/app"])
        lines = ["name: bfz%d" % r.randint(0, 9), "min-version: 2.0", "element-path: elements"]
        if self.prefix != "/usr":
            lines += ["variables:", "  prefix: %s" % self.prefix]
        fatal = []
        if self.chance(0.1) and not self.no_fatal_overlaps:
            fatal.append("overlaps")
        if self.chance(0.05):
            fatal.append("unstaged-files")
        if fatal:
            lines.append("fatal-warnings: [%s]" % ", ".join(fatal))
            self.notes.append("fatal-warnings: " + ",".join(fatal))
        if self.chance(0.1):
            # Project-wide split rules replace the defaults' domains they name.
            lines += ["split-rules:", "  devel:", "  - '%{includedir}'", "  - '%{includedir}/**'",
                      "  extra:", "  - '/etc/**'"]
            self.project_domains = ["extra"]
        else:
            self.project_domains = []
        with open(os.path.join(d, "project.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")

    # --- public data -----------------------------------------------------------------------
    def public(self, el, files_hint):
        out = []
        bst = []
        if self.chance(0.35):
            bst.append("  split-rules:")
            used = set()
            for _ in range(self.r.randint(1, 2)):
                form = self.pick(["new", "new", "append", "prepend", "replace"])
                n = self.pick(NAMES)
                globs = self.pick([
                    ["%%{datadir}/%s" % n, "%%{datadir}/%s/**" % n],
                    ["%%{sysconfdir}/%s" % n, "%%{sysconfdir}/%s/**" % n],
                    ["%{sysconfdir}/**"],
                    ["/opt/**"],
                    ["%{libdir}/*.so*"],
                    ["/%s" % n],
                    ["%{prefix}/**"],
                    [self.pick(files_hint)] if files_hint else ["/nothing"],
                ])
                if form == "new":
                    dom = self.pick(["extra", "config", "data-" + n])
                    if dom in el.domains or dom in used:
                        continue
                    el.domains.append(dom)
                    used.add(dom)
                    bst.append("    %s:" % dom)
                    bst += ["    - %s" % q(g) for g in globs]
                else:
                    dom = self.pick(DEFAULT_DOMAINS)
                    if dom in used:
                        continue
                    used.add(dom)
                    bst.append("    %s:" % dom)
                    if form == "replace":
                        bst += ["    - %s" % q(g) for g in globs]
                    else:
                        bst.append("      (%s):" % (">" if form == "append" else "<"))
                        bst += ["      - %s" % q(g) for g in globs]
            if bst[-1] == "  split-rules:":
                bst.pop()
        if self.chance(0.3):
            bst.append("  integration-commands:")
            for _ in range(self.r.randint(1, 3)):
                n = self.pick(NAMES)
                cmd = self.pick([
                    "mkdir -p %%{datadir}/integ && echo %s >> %%{datadir}/integ/log" % el.name.replace("/", "-"),
                    "mkdir -p %%{sysconfdir} && touch %%{sysconfdir}/%s.cache" % n,
                    "rm -f %s" % (self.pick(files_hint) if files_hint else "/etc/none"),
                    "rm -rf %%{datadir}/%s" % n,
                    "mkdir -p /var/cache && ln -sf %%{datadir}/%s /var/cache/%s" % (n, n),
                    "test -e %s || true" % (self.pick(files_hint) if files_hint else "/"),
                ])
                if self.chance(0.03):
                    cmd = "false"
                    el.expect_fail = True
                bst.append("  - %s" % q(cmd))
        if self.chance(0.2):
            bst.append("  overlap-whitelist:")
            for g in self.r.sample(["%{datadir}/**", "%{prefix}/**", "/etc/**", "/**"]
                                   + ([self.pick(files_hint)] if files_hint else []), self.r.randint(1, 2)):
                bst.append("  - %s" % q(g))
        if bst:
            out = ["public:", "  bst:"] + ["  " + l for l in bst]
        return out

    # --- dependencies ----------------------------------------------------------------------
    def earlier(self, pred=lambda e: True):
        return [e for e in self.els if pred(e)]

    def dep_lines(self, el):
        """Writes build-depends/runtime-depends/depends in random order and forms."""
        out = []
        groups = [("build-depends", el.build), ("runtime-depends", el.runtime), ("depends", el.both)]
        self.r.shuffle(groups)
        for key, deps in groups:
            if not deps:
                continue
            out.append("%s:" % key)
            for dep, config in deps:
                if config:
                    out.append("- filename: %s" % dep.name)
                    out.append("  config:")
                    out += ["    " + c for c in config]
                elif self.chance(0.2):
                    out.append("- filename: %s" % dep.name)
                else:
                    out.append("- %s" % dep.name)
        return out

    def sample(self, xs, lo, hi):
        hi = min(hi, len(xs))
        lo = min(lo, hi)
        return self.r.sample(xs, self.r.randint(lo, hi))

    # --- element kinds ---------------------------------------------------------------------
    def base(self, d):
        el = El("base.bst", "import")
        self.base_el = el
        el.lines = ["kind: import", "sources:", "- kind: local", "  path: files/sysroot"]
        if self.chance(0.3):
            el.lines += ["public:", "  bst:", "    split-rules:", "      sysroot:", "      - /**"]
            el.domains.append("sysroot")
        return el

    def tree(self, root):
        """Writes a random tree under root; returns the absolute paths it holds."""
        paths = []
        for _ in range(self.r.randint(1, 6)):
            dpath = self.literal_dir()
            full_dir = os.path.join(root, dpath.lstrip("/"))
            if os.path.lexists(full_dir) and not os.path.isdir(full_dir):
                continue
            os.makedirs(full_dir, exist_ok=True)
            if self.chance(0.1):
                paths.append(dpath or "/")
                continue  # an empty directory
            if self.chance(0.05):
                # an empty directory named like another element's file, or a file named like
                # another element's directory (file/empty-directory/symlink replacements)
                name = self.pick(WORDS + NAMES)
                full = os.path.join(full_dir, name)
                if not os.path.lexists(full):
                    if self.chance(0.5):
                        os.makedirs(full)
                    else:
                        with open(full, "w") as f:
                            f.write("clash\n")
                    paths.append(dpath + "/" + name)
                continue
            name = self.file_name(dpath)
            full = os.path.join(full_dir, name)
            if os.path.lexists(full):
                continue
            if self.chance(0.2):
                target = self.pick([
                    "lib%s.so.1" % self.pick(NAMES), "../%s" % self.pick(WORDS), "/etc/%s" % self.pick(NAMES),
                    "dangling-%s" % self.pick(NAMES), ".", self.pick(WORDS),
                ])
                os.symlink(target, full)
            else:
                with open(full, "w") as f:
                    f.write(self.content())
                if self.chance(0.3):
                    os.chmod(full, 0o755)
            paths.append(dpath + "/" + name)
        return paths

    def import_el(self, d, i, name):
        el = El(name, "import")
        src = os.path.join(d, "files", "imp%d" % i)
        os.makedirs(src)
        paths = self.tree(src)
        el.lines = ["kind: import", "sources:", "- kind: local", "  path: files/imp%d" % i]
        config = []
        subdirs = sorted({p.rsplit("/", 1)[0] for p in paths if p.count("/") >= 2})
        if subdirs and self.chance(0.25):
            config.append("  source: %s" % subdirs[0].rsplit("/", 1)[0] if self.chance(0.5) else "  source: %s" % subdirs[0])
        elif self.chance(0.05):
            bad = self.pick(["/does-not-exist", "/empty-src", "/file-src"])
            if bad == "/empty-src":
                os.makedirs(os.path.join(src, "empty-src"))
            elif bad == "/file-src":
                with open(os.path.join(src, "file-src"), "w") as f:
                    f.write("f\n")
            config.append("  source: %s" % bad)
            el.expect_fail = True
        if self.chance(0.25):
            config.append("  target: %s" % self.pick(["/", "/usr", self.prefix, "/opt/t", "sub/dir"]))
        if config:
            el.lines += ["config:"] + config
        if self.chance(0.3):
            el.runtime = [(e, None) for e in self.sample(self.earlier(lambda e: e.kind != "compose" or True), 1, 2)]
        el.lines += self.public(el, paths)
        return el

    def manual_el(self, d, i, name):
        el = El(name, "manual")
        el.build = [(self.base_el, None)]
        others = self.earlier(lambda e: e is not self.base_el)
        for dep in self.sample(others, 0, 3):
            which = self.pick(["build", "build", "runtime", "both"])
            if which == "build":
                config = None
                if self.chance(0.1):
                    config = ["location: %s" % self.pick(["/sysroot", "/opt/stage"])]
                el.build.append((dep, config))
            elif which == "runtime":
                el.runtime.append((dep, None))
            else:
                el.both.append((dep, None))
        self.r.shuffle(el.build)
        lines = ["kind: manual"]
        if self.chance(0.15):
            lines += ["variables:", "  prefix: %s" % self.pick(["/opt/e%d" % i, "/usr/local", "/usr"])]
        if self.chance(0.04):
            # nothing runs, so the install root is never created
            el.lines = lines + ["config:", "  strip-commands: []"]
            return el
        cmds = {"configure-commands": [], "build-commands": [], "install-commands": []}
        if self.chance(0.25):
            # sources staged in the build root, the second one in a subdirectory
            lines += ["sources:"]
            for k in range(self.r.randint(1, 2)):
                src = os.path.join(d, "files", "man%d-%d" % (i, k))
                self.tree(src)
                lines += ["- kind: local", "  path: files/man%d-%d" % (i, k)]
                if k:
                    lines.append("  directory: %s" % self.pick(["sub", "sub/deeper", "."]))
            cmds["install-commands"].append(
                "mkdir -p %{install-root}%{datadir}/src && cp -a . %{install-root}%{datadir}/src/")
        created = []
        for _ in range(self.r.randint(1, 6)):
            step = self.pick(list(cmds))
            dvar = self.dir_var()
            dest = "%{install-root}" + dvar
            kind = self.pick(["file", "file", "exe", "empty", "link", "dir", "chmod"])
            fname = self.file_name(dvar)
            path = dest + "/" + fname
            created.append(dvar + "/" + fname)
            if kind == "file":
                c = "mkdir -p %s && echo %s > %s" % (sh(dest), sh(self.pick(WORDS) + str(i)), sh(path))
            elif kind == "exe":
                c = "mkdir -p %s && printf '#!/bin/sh\\necho %s\\n' > %s && chmod 755 %s" % (
                    sh(dest), self.pick(WORDS), sh(path), sh(path))
            elif kind == "empty":
                c = "mkdir -p %s && touch %s" % (sh(dest), sh(path))
            elif kind == "link":
                c = "mkdir -p %s && ln -sf %s %s" % (
                    sh(dest), sh(self.pick(["libfoo.so.1", "../" + self.pick(WORDS), "/etc/" + self.pick(NAMES),
                                            "%{datadir}/" + self.pick(NAMES)])), sh(path))
            elif kind == "dir":
                c = "mkdir -p %s" % sh(path)
            else:
                c = "mkdir -p %s && echo m > %s && chmod %s %s" % (
                    sh(dest), sh(path), self.pick(["600", "700", "644", "750", "444"]), sh(path))
            cmds[step].append(c)
        if self.chance(0.5):
            cmds["install-commands"].append(
                "mkdir -p %%{install-root}/snap && (%s) > %%{install-root}/snap/%s.txt" % (SNAPSHOT, "m%d" % i))
        if any(c for _, c in el.build if c):
            cmds["install-commands"].append(
                "mkdir -p %{install-root}/snap && for l in /sysroot /opt/stage; do if [ -d $l ]; then"
                " (cd $l && find . | sort); fi; done > %{install-root}/snap/located.txt")
        if self.chance(0.05):
            cmds["build-commands"].append("touch /rootfile-in-read-only-root")
            el.expect_fail = True
        lines.append("config:")
        for step, cs in cmds.items():
            if cs:
                lines.append("  %s:" % step)
                lines += ["  - %s" % q(c) for c in cs]
        lines += self.public(el, ["%{install-root}" and c for c in created])
        el.lines = lines
        return el

    def compose_el(self, d, i, name):
        el = El(name, "compose")
        deps = self.sample(self.earlier(), 1, 4)
        if self.chance(0.6) and self.base_el not in deps:
            deps.append(self.base_el)
        self.r.shuffle(deps)
        el.build = [(e, None) for e in deps]
        domains = sorted({dm for e in deps for dm in e.domains} | set(self.project_domains))
        config = []
        if self.chance(0.5):
            config.append("  integrate: %s" % self.pick(["true", "false"]))
        if self.chance(0.5):
            config.append("  include: [%s]" % ", ".join(self.sample(domains + ["nosuch"], 1, 3)))
        if self.chance(0.4):
            config.append("  exclude: [%s]" % ", ".join(self.sample(domains, 1, 2)))
        if self.chance(0.5):
            config.append("  include-orphans: %s" % self.pick(["true", "false"]))
        el.lines = ["kind: compose"] + (["config:"] + config if config else [])
        return el

    def filter_el(self, d, i, name):
        el = El(name, "filter")
        cands = self.earlier(lambda e: e.has_artifact)
        dep = self.pick(cands)
        el.build = [(dep, None)]
        rest = [e for e in self.earlier() if e is not dep]
        if rest and self.chance(0.3):
            el.runtime = [(e, None) for e in self.sample(rest, 1, 2)]
        domains = list(dep.domains) + self.project_domains
        config = []
        if self.chance(0.6):
            inc = self.sample(domains, 1, 2)
            if self.chance(0.04):
                inc.append("nosuch")
                el.expect_fail = True
            config.append("  include: [%s]" % ", ".join(inc))
        if self.chance(0.4):
            config.append("  exclude: [%s]" % ", ".join(self.sample(domains, 1, 2)))
        if self.chance(0.5):
            config.append("  include-orphans: %s" % self.pick(["true", "false"]))
        if self.chance(0.5):
            config.append("  pass-integration: %s" % self.pick(["true", "false"]))
        el.lines = ["kind: filter"] + (["config:"] + config if config else [])
        if self.chance(0.2):
            el.lines += ["public:", "  bst:", "    integration-commands:",
                         "    - 'mkdir -p /etc && echo %s >> /etc/filtered'" % el.name.replace("/", "-")]
        return el

    def script_el(self, d, i, name):
        el = El(name, "script")
        el.build = [(self.base_el, None)]
        locations = []
        for dep in self.sample(self.earlier(lambda e: e is not self.base_el), 0, 3):
            config = None
            if self.chance(0.5):
                loc = self.pick(["/sysroot", "/opt/stage", "/sysroot/sub"])
                config = ["location: %s" % loc]
                locations.append(loc)
            el.build.append((dep, config))
        self.r.shuffle(el.build)
        ro = self.chance(0.4)
        cmds = ["mkdir -p %{install-root}/out"]
        cmds.append("(%s) > %%{install-root}/out/root.txt" % SNAPSHOT)
        for loc in sorted(set(locations)):
            cmds.append("(cd %s && find . | sort) > %%{install-root}/out/%s.txt" % (loc, loc.strip("/").replace("/", "-")))
        cmds.append("if touch /rootfile 2>/dev/null; then echo writable; else echo read-only; fi"
                    " > %{install-root}/out/rootmode.txt")
        for _ in range(self.r.randint(0, 2)):
            n = self.pick(NAMES)
            cmds.append(self.pick([
                "mkdir -p %%{install-root}%%{datadir}/%s && echo s > %%{install-root}%%{datadir}/%s/s.txt" % (n, n),
                "ln -s /etc/%s %%{install-root}/link-%s" % (n, n),
                "if [ -e %%{datadir}/integ/log ]; then cp %%{datadir}/integ/log %%{install-root}/out/integ.txt; fi",
            ]))
        if ro and self.chance(0.1):
            cmds.append("touch /must-fail")
            el.expect_fail = True
        lines = ["kind: script"]
        if self.chance(0.15):
            lines += ["variables:", "  install-root: /outdir"]
        lines += ["config:"]
        if ro or self.chance(0.3):
            lines.append("  root-read-only: %s" % ("true" if ro else "false"))
        lines.append("  commands:")
        lines += ["  - %s" % q(c) for c in cmds]
        el.lines = lines
        return el

    def stack_el(self, d, i, name):
        el = El(name, "stack")
        el.both = [(e, None) for e in self.sample(self.earlier(), 1, 3)]
        el.lines = ["kind: stack"]
        return el

    def make(self, d):
        os.makedirs(os.path.join(d, "elements"))
        os.makedirs(os.path.join(d, "files"))
        shutil.copytree(SYSROOT, os.path.join(d, "files", "sysroot"), symlinks=True)
        self.project(d)
        self.els = [self.base(d)]
        n = self.r.randint(2, 9)
        for i in range(1, n + 1):
            kind = self.pick(["import", "import", "manual", "manual", "manual", "compose", "filter", "script",
                              "stack"])
            name = ("grp/" if self.chance(0.15) else "") + "%s%d.bst" % (kind, i)
            el = getattr(self, kind + "_el")(d, i, name)
            self.els.append(el)
        # A filter's build dependency may not also be one of its runtime dependencies, compose
        # and script elements take build dependencies only, and a stack's are all `depends`.
        for el in self.els:
            if el.expect_fail:
                self.notes.append("expect-fail: " + el.name)
            lines = list(el.lines)
            deps = self.dep_lines(el)
            # kind first, then dependencies, then the rest
            text = "\n".join(lines[:1] + deps + lines[1:]) + "\n"
            path = os.path.join(d, "elements", el.name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        used = set()
        for el in self.els:
            for dep, _ in el.build + el.runtime + el.both:
                used.add(dep.name)
        tops = [e.name for e in self.els if e.name not in used]
        return [e.name for e in self.els], tops


# --- running the tools ---------------------------------------------------------------------
LOGLINE = re.compile(r"^\[[^\]]*\]\[[^\]]*\]\[\s*(\w[\w-]*):(\S+)\s*\] (WARNING|FAILURE|BUG) (.*)$")


class Tool:
    def __init__(self, tag, exe, case, buildbox):
        self.tag = tag
        self.exe = exe
        self.dir = os.path.join(case, tag)
        os.makedirs(self.dir)
        self.conf = os.path.join(self.dir, "bst.conf")
        with open(self.conf, "w") as f:
            f.write("cachedir: {0}/cache\nsourcedir: {0}/sources\nlogdir: {0}/logs\n".format(self.dir))
        self.env = dict(os.environ)
        self.env.update(XDG_CONFIG_HOME=os.path.join(self.dir, "xdg-config"),
                        XDG_CACHE_HOME=os.path.join(self.dir, "xdg-cache"),
                        XDG_DATA_HOME=os.path.join(self.dir, "xdg-data"))
        if buildbox:  # the same buildbox-casd and buildbox-run for both tools
            self.env["PATH"] = buildbox + os.pathsep + self.env.get("PATH", "")

    def run(self, project, args, timeout=300):
        try:
            p = subprocess.run([self.exe, "--no-interactive", "-c", self.conf, "-C", project] + args,
                               capture_output=True, text=True, env=self.env, timeout=timeout)
            return p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            return 124, "", "TIMEOUT\n"


def messages(log, names, ignore=()):
    """{element: sorted list of 'WARNING first-line' / 'FAILURE first-line'} from a build log."""
    out = {}
    for line in log.splitlines():
        m = LOGLINE.match(line)
        if not m or m.group(1) not in ("build", "fetch", "main"):
            continue
        el, level, msg = m.group(2), m.group(3), m.group(4).rstrip()
        if el not in names:
            continue
        if level == "FAILURE" and re.search(r"\.log$", msg):
            continue  # the activity's log file
        if level == "FAILURE" and msg in ("Running commands", "Integrating sandbox", "Staging dependencies",
                                          "Caching artifact", "Staging sources"):
            continue
        line = "%s %s" % (level, msg)
        if any(re.search(pat, line) for pat in ignore):
            continue
        out.setdefault(el, []).append(line)
    return {k: sorted(set(v)) for k, v in out.items()}


def collect(tool, project, names, tops, ignore=()):
    res = {}
    rc, so, se = tool.run(project, ["--on-error", "continue", "--builders", "1", "build"] + tops, timeout=600)
    with open(os.path.join(tool.dir, "build.log"), "w") as f:
        f.write("exit %d\n--- stdout\n%s--- stderr\n%s" % (rc, so, se))
    res["build_rc"] = rc
    res["msgs"] = messages(se, set(names), ignore)
    rc2, so2, se2 = tool.run(project, ["show", "--deps", "all", "--format", "%{name}||%{full-key}||%{state}"] + names)
    res["show_rc"] = rc2
    res["show"] = so2 if rc2 == 0 else "exit %d\n%s" % (rc2, se2.strip().splitlines()[-1] if se2.strip() else "")
    with open(os.path.join(tool.dir, "show.txt"), "w") as f:
        f.write(res["show"])
    states = {}
    for line in so2.splitlines():
        parts = line.split("||")
        if len(parts) == 3:
            states[parts[0]] = parts[2]
    res["states"] = states
    res["listing"] = {}
    res["contents"] = {}
    res["integrated"] = {}
    for name in names:
        if states.get(name) != "cached":
            continue
        safe = name.replace("/", "-")
        dest = os.path.join(tool.dir, "co", safe)
        rc3, so3, se3 = tool.run(project, ["artifact", "checkout", "--no-integrate", "--deps", "none",
                                           "--directory", dest, name])
        if rc3 != 0:
            listing = "checkout exit %d: %s\n" % (rc3, (se3.strip().splitlines() or [""])[-1])
        else:
            p = subprocess.run([sys.executable, LIST_TREE, dest], capture_output=True, text=True)
            listing = "".join(l + "\n" for l in p.stdout.splitlines() if not re.match(r"^[dfxl] bin/", l))
        rc4, so4, se4 = tool.run(project, ["artifact", "list-contents", name])
        if rc4 != 0:
            contents = "list-contents exit %d: %s\n" % (rc4, (se4.strip().splitlines() or [""])[-1])
        else:
            contents = "".join(l + "\n" for l in so4.splitlines() if l.strip() and not l.startswith("\tbin/"))
        res["listing"][name] = listing
        res["contents"][name] = contents
        if name in tops:
            # an integrated checkout with the runtime dependencies (checkout runs the
            # integration commands)
            dest = os.path.join(tool.dir, "co-integrated", safe)
            rc5, so5, se5 = tool.run(project, ["artifact", "checkout", "--directory", dest, name])
            if rc5 != 0:
                integrated = "checkout exit %d: %s\n" % (rc5, (se5.strip().splitlines() or [""])[-1])
            else:
                p = subprocess.run([sys.executable, LIST_TREE, dest], capture_output=True, text=True)
                integrated = "".join(l + "\n" for l in p.stdout.splitlines() if not re.match(r"^[dfxl] bin/", l))
            res["integrated"][name] = integrated
            with open(os.path.join(tool.dir, "integrated-%s.txt" % safe), "w") as f:
                f.write(integrated)
        with open(os.path.join(tool.dir, "listing-%s.txt" % safe), "w") as f:
            f.write(listing + "--\n" + contents)
    return res


def udiff(a, b, la, lb):
    import difflib
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), la, lb, n=1))


def compare(rb, rr, names):
    """(verdict, summary, diff text)."""
    diffs = []
    summary = []
    hard = False
    if (rb["build_rc"] == 0) != (rr["build_rc"] == 0):
        diffs.append("build exit: bst %d, bst-rs %d\n" % (rb["build_rc"], rr["build_rc"]))
        summary.append("build-exit")
        hard = True
    if rb["show"] != rr["show"]:
        diffs.append("--- show\n" + udiff(rb["show"], rr["show"], "bst", "bst-rs"))
        summary.append("show")
        hard = True
    for name in names:
        for key in ("listing", "contents", "integrated"):
            a = rb[key].get(name)
            b = rr[key].get(name)
            if a is not None and b is not None and a != b:
                diffs.append("--- %s %s\n" % (key, name) + udiff(a, b, "bst", "bst-rs"))
                summary.append("%s:%s" % (key, name))
                hard = True
    soft = False
    for name in names:
        a = rb["msgs"].get(name, [])
        b = rr["msgs"].get(name, [])
        if a != b:
            diffs.append("--- messages %s\n" % name + udiff("\n".join(a) + "\n", "\n".join(b) + "\n", "bst", "bst-rs"))
            summary.append("msgs:%s" % name)
            soft = True
    failed = any(s == "failed" for s in rb["states"].values())
    if any(m.startswith("BUG") for ms in rb["msgs"].values() for m in ms):
        verdict = "bst-bug"  # real bst crashed (e.g. its overlap collector's assertion)
    elif hard:
        verdict = "differ"
    elif soft:
        verdict = "messages"
    elif rb["show_rc"] != 0:
        verdict = "bst-load-error"
    elif failed or rb["build_rc"] != 0:
        verdict = "same-fail"
    else:
        verdict = "same"
    return verdict, " ".join(summary), "".join(diffs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bst", default=os.environ.get("BST", "bst"))
    ap.add_argument("--bst-rs", default=os.path.join(REPO, "target", "release", "bst-rs"))
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--minutes", type=float, default=0)
    ap.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "bst-rs-build-fuzz"))
    ap.add_argument("--buildbox", default=os.path.expanduser("~/.cache/bst-rs/buildbox/bin"),
                    help="directory put first on PATH for both tools (buildbox-casd, buildbox-run)")
    ap.add_argument("--ignore-msg", action="append", default=[], metavar="REGEX",
                    help="leave WARNING/FAILURE messages matching REGEX out of the comparison (known differences)")
    ap.add_argument("--no-fatal-overlaps", action="store_true",
                    help="never make the overlaps warning fatal (a known difference)")
    ap.add_argument("--keep-all", action="store_true", help="keep every case, not only differing ones")
    ap.add_argument("--generate-only", action="store_true", help="write the projects without running the tools")
    a = ap.parse_args()
    if not os.path.exists(os.path.join(SYSROOT, "bin", "busybox")):
        subprocess.run(["bash", os.path.join(REPO, "scripts", "make-hello-sysroot.sh")], check=True)
    os.makedirs(a.out, exist_ok=True)
    results = open(os.path.join(a.out, "results.tsv"), "a")
    deadline = time.time() + 60 * a.minutes if a.minutes else None
    n = 0
    counts = {}
    elements = 0
    while (deadline and time.time() < deadline) or (not deadline and n < a.count):
        seed = a.seed + n
        n += 1
        case = os.path.join(a.out, "case-%d" % seed)
        shutil.rmtree(case, ignore_errors=True)
        project = os.path.join(case, "project")
        g = Gen(random.Random(seed), a.no_fatal_overlaps)
        names, tops = g.make(project)
        with open(os.path.join(case, "command"), "w") as f:
            f.write("build --on-error continue --builders 1 build %s\n" % " ".join(tops))
            f.write("notes: %s\n" % "; ".join(g.notes))
        if a.generate_only:
            print("seed %d: %s" % (seed, case))
            continue
        t0 = time.time()
        rb = collect(Tool("bst", a.bst, case, a.buildbox), project, names, tops, a.ignore_msg)
        rr = collect(Tool("bst-rs", a.bst_rs, case, a.buildbox), project, names, tops, a.ignore_msg)
        verdict, summary, diff = compare(rb, rr, names)
        elements += len(names)
        counts[verdict] = counts.get(verdict, 0) + 1
        with open(os.path.join(case, "diff"), "w") as f:
            f.write(diff)
        results.write("%d\t%s\t%s\n" % (seed, verdict, (summary + " " + "; ".join(g.notes)).strip()))
        results.flush()
        print("seed %d: %s %s (%d elements, %.0fs)" % (seed, verdict, summary, len(names), time.time() - t0),
              flush=True)
        if verdict in ("same", "same-fail") and not a.keep_all:
            shutil.rmtree(case, ignore_errors=True)
        else:
            for tag in ("bst", "bst-rs"):  # the caches are large and of no further use
                for sub in ("cache", "xdg-cache", "sources"):
                    shutil.rmtree(os.path.join(case, tag, sub), ignore_errors=True)
    print("%d projects, %d elements: %s (seeds %d..%d)" % (
        n, elements, ", ".join("%s %d" % kv for kv in sorted(counts.items())), a.seed, a.seed + n - 1))
    return 1 if any(k not in ("same", "same-fail") for k in counts) else 0


if __name__ == "__main__":
    sys.exit(main())
