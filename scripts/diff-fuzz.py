#!/usr/bin/env python3
"""diff-fuzz.py - differential testing of `bst-rs show` against real BuildStream.

Generates small random projects (options of each type, project and element variables,
(@) includes, (?) conditionals, list directives, element kinds from core and
buildstream-plugins, dependency lists in every form, local and remote sources, public data,
environment) and runs, in each,

    show --deps all --format '%{name} %{full-key}'             (the cache keys)
    show --deps all --format '%{name}:%{vars}%{env}%{public}'  (what the keys are made of)

with both tools, with random `-o` options. Where the outputs (or the exit status, or the
first line of an error) differ, the project and both outputs are kept under OUT/fail-N for a
test case to be made of them; nothing is written to the repository.

With --mutate, each generated project is then broken by exactly one random mutation (one of
the m_* functions below: YAML syntax breakage, values of the wrong type, unknown or missing
keys, references to missing elements/junctions/files/includes, recursive includes, dependency
cycles, bad dependency types, undefined/circular/protected variables, bad `-o` values and option
definitions, bad (?) conditionals and (!) assertions, misplaced list directives, bad project.conf
name/min-version/element-path/plugins/mirrors, unknown plugin kinds, link/filter/junction misuse,
bad targets and element names...), `show --deps all --format '%{name} %{full-key}'` is run once
with both tools (and the %{vars} format too when both succeed), and what is compared is:

  - the exit status class: success (0) or failure (non-zero);
  - when both succeed: stdout, exactly;
  - when both fail: the error message proper, i.e. all of stderr after the last activity line
    (`[--:--:--][...] FAILURE ...`, `[00:00:00][...] ...`: timestamps and activity/log lines are
    dropped this way), with trailing spaces and leading/trailing blank lines removed and the
    temporary directories replaced by <PROJECT> and <WORK>. Multi-line messages (the indented
    detail, the YAML parser's marks) are compared in full. When bst crashes (BUG + traceback)
    the text compared is the indented traceback, so that always counts as a difference.

Differences are kept as OUT/<mutation>-<seed>/ (project/, command, mutation, bst.out and
bst-rs.out with exit status, stdout and stderr, and bst.err / bst-rs.err with the compared text);
every run is also logged to OUT/results.tsv (seed, mutation, description, verdict
same/status/stdout/message, both exit statuses, first line of both messages).

Usage: BST=/path/to/bst scripts/diff-fuzz.py [--bst-rs BIN] [--seed N] [--count N]
       [--minutes M] [--out DIR] [--mutate [--only NAME,NAME...]]
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

KINDS_CORE = ["manual", "import", "stack", "compose"]
KINDS_PLUGIN = ["autotools", "cmake", "make", "meson"]
FORMATS = [
    "%{name} %{full-key}",
    "%{name}:%{vars}%{env}%{public}",
]


class Gen:
    def __init__(self, rng):
        self.r = rng
        self.project_vars = []
        self.options = {}

    def pick(self, xs):
        return self.r.choice(xs)

    def chance(self, p):
        return self.r.random() < p

    def word(self):
        return self.pick(["alpha", "beta", "gamma", "delta", "x", "y", "usr", "lib", "opt", "v1.2", "a-b", "c_d"])

    def value(self, known):
        """A variable value: literals and references to `known` variables."""
        parts = []
        for _ in range(self.r.randint(1, 4)):
            if known and self.chance(0.45):
                parts.append("%%{%s}" % self.pick(known))
            else:
                parts.append(self.pick([self.word(), "/", "-", " ", "=", ":", "."]))
        s = "".join(parts)
        return s

    def yaml_str(self, s):
        return "'" + s.replace("'", "''") + "'"

    def cond(self):
        """A (?) condition over the project's options."""
        opts = list(self.options.items())
        name, (kind, values) = self.pick(opts)
        if kind == "bool":
            c = self.pick([name, "not " + name, name + " == True", name + " == False"])
        elif kind == "enum":
            c = "%s == '%s'" % (name, self.pick(values))
            if self.chance(0.3):
                c = "%s != '%s'" % (name, self.pick(values))
        elif kind == "flags":
            c = "'%s' in %s" % (self.pick(values), name)
        else:  # arch
            c = "%s == '%s'" % (name, self.pick(values))
        if len(opts) > 1 and self.chance(0.25):
            other = self.cond()
            c = "(%s) %s (%s)" % (c, self.pick(["and", "or"]), other)
        return c

    def cond_key(self):
        """A condition written as a mapping key (double-quoted when it holds quotes)."""
        c = self.cond()
        return '"%s"' % c if "'" in c else c

    def commands(self, known, indent):
        pad = " " * indent
        lines = []
        for _ in range(self.r.randint(0, 3)):
            lines.append("%s- %s" % (pad, self.yaml_str("echo " + self.value(known))))
        return lines

    def command_lists(self, kind, known, indent):
        """config: for BuildElement-like kinds, with list directives."""
        pad = " " * indent
        lists = {"manual": ["configure-commands", "build-commands", "install-commands", "strip-commands"],
                 "autotools": ["configure-commands", "build-commands", "install-commands"],
                 "cmake": ["configure-commands", "build-commands", "install-commands"],
                 "make": ["build-commands", "install-commands"],
                 "meson": ["configure-commands", "build-commands", "install-commands"]}[kind]
        out = []
        for name in self.r.sample(lists, self.r.randint(0, len(lists))):
            directive = self.pick([None, None, "(>)", "(<)", "(=)"])
            cmds = self.commands(known, indent + (4 if directive else 2))
            if not cmds:
                cmds = ["%s- %s" % (" " * (indent + (4 if directive else 2)), "true")]
            if directive:
                out.append("%s%s:" % (pad, name))
                out.append("%s  %s:" % (pad, directive))
            else:
                out.append("%s%s:" % (pad, name))
            out.extend(cmds)
        return out

    def project(self, d):
        r = self.r
        lines = ["name: fuzz%d" % r.randint(0, 9), "min-version: 2.0", "element-path: elements"]
        plugin_kinds = r.sample(KINDS_PLUGIN, r.randint(0, len(KINDS_PLUGIN)))
        self.kinds = KINDS_CORE + plugin_kinds
        self.git = self.chance(0.4)
        if plugin_kinds or self.git:
            lines += ["plugins:", "- origin: pip", "  package-name: buildstream-plugins"]
            if plugin_kinds:
                lines += ["  elements:"] + ["  - %s" % k for k in plugin_kinds]
            if self.git:
                lines += ["  sources:", "  - git", "  - patch"]
        lines += ["aliases:", "  upstream: https://example.com/files/", "  mirror: http://mirror.example.org/"]
        # options
        lines.append("options:")
        self.options = {}
        for i in range(r.randint(1, 4)):
            kind = self.pick(["bool", "enum", "flags", "arch"] if i == 0 else ["bool", "enum", "flags"])
            name = "opt%d" % i if kind != "arch" else "machine"
            if kind == "bool":
                self.options[name] = ("bool", [True, False])
                lines += ["  %s:" % name, "    type: bool", "    description: b",
                          "    default: %s" % self.pick(["True", "False"])]
            elif kind == "enum":
                vals = ["red", "green", "blue"][: r.randint(2, 3)]
                self.options[name] = ("enum", vals)
                lines += ["  %s:" % name, "    type: enum", "    description: e",
                          "    values: [%s]" % ", ".join(vals), "    default: %s" % self.pick(vals)]
            elif kind == "flags":
                vals = ["one", "two", "three"]
                self.options[name] = ("flags", vals)
                default = r.sample(vals, r.randint(0, 2))
                lines += ["  %s:" % name, "    type: flags", "    description: f",
                          "    values: [%s]" % ", ".join(vals), "    default: [%s]" % ", ".join(default)]
            else:
                vals = ["x86_64", "aarch64", "i686"]
                self.options[name] = ("arch", vals)
                lines += ["  %s:" % name, "    type: arch", "    description: a",
                          "    values: [%s]" % ", ".join(vals)]
            if self.chance(0.5):
                lines.append("    variable: %s_var" % name)
                self.project_vars.append("%s_var" % name)
        # variables
        builtin = ["prefix", "bindir", "libdir", "datadir", "install-root", "build-root", "element-name",
                   "project-name", "max-jobs"]
        known = list(builtin) + list(self.project_vars)
        lines.append("variables:")
        for i in range(r.randint(1, 5)):
            name = "pv%d" % i
            lines.append("  %s: %s" % (name, self.yaml_str(self.value(known))))
            known.append(name)
            self.project_vars.append(name)
        if self.chance(0.3):
            lines.append("  prefix: %s" % self.yaml_str(self.pick(["/usr", "/opt/x", "/app"])))
        self.known = known
        # environment
        lines.append("environment:")
        for i in range(r.randint(1, 3)):
            lines.append("  ENV%d: %s" % (i, self.yaml_str(self.value(known))))
        if self.chance(0.4):
            lines.append("environment-nocache: [ENV0]")
        # split rules
        if self.chance(0.4):
            lines += ["split-rules:", "  extra:", "  - '%{datadir}/extra'", "  - '%{bindir}/%{pv0}'"]
        # an include
        if self.chance(0.5):
            os.makedirs(os.path.join(d, "include"), exist_ok=True)
            inc = ["variables:", "  incvar: %s" % self.yaml_str(self.value(known))]
            if self.chance(0.5):
                inc += ["  (?):", "  - %s:" % self.cond_key(), "      incvar: %s" % self.yaml_str(self.value(known))]
            with open(os.path.join(d, "include", "common.yml"), "w") as f:
                f.write("\n".join(inc) + "\n")
            lines += ["(@): include/common.yml"]
            self.project_vars.append("incvar")
            known.append("incvar")
        # conditionals
        if self.chance(0.6):
            lines += ["(?):", "- %s:" % self.cond_key(), "    variables:",
                      "      pv0: %s" % self.yaml_str(self.value([v for v in known if not v.startswith("pv")]))]
        # per-kind overrides
        if self.chance(0.6):
            lines.append("elements:")
            for k in r.sample([k for k in self.kinds if k not in ("stack", "import", "compose")], 1):
                lines += ["  %s:" % k, "    variables:", "      kindvar: %s" % self.yaml_str(self.value(known))]
                cl = self.command_lists(k, known, 6)
                if cl:
                    lines += ["    config:"] + cl
                if self.chance(0.4):
                    lines += ["    environment:", "      KINDENV: %s" % self.yaml_str(self.value(known))]
        with open(os.path.join(d, "project.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def element(self, d, i, earlier):
        r = self.r
        kind = self.pick(self.kinds)
        known = list(self.known)
        lines = ["kind: %s" % kind]
        if self.chance(0.3):
            lines.append("description: %s" % self.yaml_str(self.value([])))
        # dependencies
        deps_forms = []
        if earlier:
            for name in r.sample(earlier, r.randint(0, min(3, len(earlier)))):
                deps_forms.append(name)
        build_only = kind in ("compose",)
        # stack: every dependency both build and runtime (bst refuses anything else)
        plain_only = kind == "stack"
        if deps_forms:
            if build_only or plain_only:
                lines.append("build-depends:" if build_only else "depends:")
                lines += ["- %s" % n for n in deps_forms]
            else:
                field = self.pick(["depends", "build-depends", "runtime-depends", "mixed"])
                if field != "mixed":
                    lines.append("%s:" % field)
                    for n in deps_forms:
                        if self.chance(0.3):
                            lines.append("- filename: %s" % n)
                            if field == "depends" and self.chance(0.5):
                                lines.append("  type: %s" % self.pick(["build", "runtime", "all"]))
                            if field != "runtime-depends" and self.chance(0.3):
                                lines.append("  strict: true")
                        else:
                            lines.append("- %s" % n)
                else:
                    lines.append("depends:")
                    for n in deps_forms:
                        lines += ["- filename: %s" % n, "  type: %s" % self.pick(["build", "runtime", "all"])]
        # variables
        if kind not in ("stack",) and self.chance(0.7):
            lines.append("variables:")
            for j in range(r.randint(1, 3)):
                name = "ev%d" % j
                lines.append("  %s: %s" % (name, self.yaml_str(self.value(known))))
                known.append(name)
            if self.chance(0.3):
                # only what the project defines: an element variable here could make a cycle
                lines.append("  pv0: %s" % self.yaml_str(self.value([v for v in self.known if not v.startswith("pv") and v != "incvar"])))
        if self.chance(0.5):
            lines.append("environment:")
            lines.append("  ELEMENT_ENV: %s" % self.yaml_str(self.value(known)))
        if kind in ("manual", "autotools", "cmake", "make", "meson"):
            cl = self.command_lists(kind, known, 2)
            if cl:
                lines += ["config:"] + cl
        if kind == "compose" and self.chance(0.5):
            lines += ["config:", "  integrate: %s" % self.pick(["true", "false"]),
                      "  include-orphans: %s" % self.pick(["true", "false"])]
        if kind == "import" and self.chance(0.4):
            lines += ["config:", "  target: %s" % self.yaml_str(self.pick(["/", "/usr", "%{prefix}"]))]
        # sources
        if kind not in ("stack", "compose") and (kind == "import" or self.chance(0.6)):
            lines.append("sources:")
            for s in range(r.randint(1, 2)):
                sk = self.pick(["local", "local", "remote", "tar"] + (["git", "patch"] if self.git else []))
                if sk == "local":
                    sub = "src%d_%d" % (i, s)
                    p = os.path.join(d, "files", sub)
                    os.makedirs(p, exist_ok=True)
                    for k in range(r.randint(1, 3)):
                        with open(os.path.join(p, "f%d.txt" % k), "w") as f:
                            f.write(self.value([]) * r.randint(1, 5) + "\n")
                        if self.chance(0.2):
                            os.chmod(os.path.join(p, "f%d.txt" % k), 0o755)
                    if self.chance(0.2):
                        os.makedirs(os.path.join(p, "sub", "deeper"), exist_ok=True)
                    lines += ["- kind: local", "  path: files/%s" % sub]
                    if self.chance(0.3):
                        lines.append("  directory: %s" % self.pick(["sub", "a/b", "."]))
                elif sk == "remote":
                    lines += ["- kind: remote", "  url: %s:thing%d.bin" % (self.pick(["upstream", "mirror"]), s),
                              "  ref: %064x" % r.getrandbits(256)]
                    if self.chance(0.4):
                        lines.append("  filename: %s" % self.pick(["a.bin", "c.bin"]))
                    if self.chance(0.3):
                        lines.append("  executable: true")
                elif sk == "patch":
                    name = "p%d_%d.patch" % (i, s)
                    with open(os.path.join(d, "files", name), "w") as f:
                        f.write("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-%s\n+%s\n" % (self.word(), self.word()))
                    lines += ["- kind: patch", "  path: files/%s" % name]
                    if self.chance(0.3):
                        lines.append("  strip-level: %d" % r.randint(0, 2))
                elif sk == "git":
                    lines += ["- kind: git", "  url: upstream:repo%d.git" % s, "  ref: %040x" % r.getrandbits(160)]
                    if self.chance(0.5):
                        lines.append("  track: %s" % self.pick(["main", "v1.0"]))
                    if self.chance(0.3):
                        lines += ["  checkout-submodules: false"]
                else:
                    lines += ["- kind: tar", "  url: upstream:pkg-%d.tar.gz" % s,
                              "  ref: %064x" % r.getrandbits(256)]
                    if self.chance(0.4):
                        lines.append("  base-dir: %s" % self.yaml_str(self.pick(["*", "pkg-*", ""])))
        if kind not in ("stack",) and self.chance(0.2):
            lines += ["sandbox:", "  build-uid: %d" % r.randint(0, 1000), "  build-gid: %d" % r.randint(0, 1000)]
        # public data
        if self.chance(0.4):
            lines += ["public:", "  bst:"]
            if self.chance(0.6):
                lines += ["    integration-commands:", "    - %s" % self.yaml_str("ldconfig " + self.value(known))]
            if self.chance(0.6):
                lines += ["    split-rules:", "      devel:", "        (>):",
                          "        - %s" % self.yaml_str("%{includedir}/" + self.word())]
            if lines[-1] == "  bst:":
                lines.append("    overlap-whitelist: ['%{bindir}/*']")
            if self.chance(0.4):
                lines += ["  custom:", "    key: %s" % self.yaml_str(self.value(known))]
        # conditionals
        if self.chance(0.4) and kind != "stack":
            lines += ["(?):", "- %s:" % self.cond_key(), "    variables:",
                      "      condvar: %s" % self.yaml_str(self.value(known))]
            if self.chance(0.5):
                lines += ["- %s:" % self.cond_key(), "    environment:",
                          "      COND_ENV: %s" % self.yaml_str(self.value(known))]
            if kind in ("manual", "autotools", "cmake", "make", "meson") and self.chance(0.5):
                lines += ["- %s:" % self.cond_key(), "    config:", "      install-commands:",
                          "        %s:" % self.pick(["(>)", "(<)", "(=)"]),
                          "        - %s" % self.yaml_str("echo " + self.value(known))]
            if self.chance(0.3):
                lines += ["- %s:" % self.cond_key(), "    environment-nocache:", "    - COND_ENV"]
        if kind not in ("stack",) and self.chance(0.2):
            # a conditional inside the element's own variables
            if "variables:" not in lines:
                lines.append("variables:")
            at = lines.index("variables:") + 1
            lines[at:at] = ["  (?):", "  - %s:" % self.cond_key(),
                            "      nested: %s" % self.yaml_str(self.value(list(self.known)))]
        name = "e%d.bst" % i
        with open(os.path.join(d, "elements", name), "w") as f:
            f.write("\n".join(lines) + "\n")
        return name

    def special(self, d, i, earlier):
        """A filter, script or link element over `earlier` ones, or an element with an include."""
        r = self.r
        kind = self.pick(["filter", "script", "link", "include"])
        lines = []
        if kind == "filter":
            lines += ["kind: filter", "build-depends:", "- %s" % self.pick(earlier)]
            if self.chance(0.7):
                lines += ["config:", "  %s:" % self.pick(["include", "exclude"]), "  - %s" % self.pick(["devel", "runtime", "extra"])]
                if self.chance(0.4):
                    lines.append("  include-orphans: %s" % self.pick(["true", "false"]))
        elif kind == "script":
            lines += ["kind: script", "build-depends:"] + ["- %s" % n for n in r.sample(earlier, min(2, len(earlier)))]
            lines += ["variables:", "  install-root: %s" % self.yaml_str(self.pick(["/", "/out", "%{prefix}/x"])),
                      "config:", "  commands:"] + self.commands(self.known, 2)
            lines += ["  - 'true'"]
            if self.chance(0.5):
                lines += ["  root-read-only: %s" % self.pick(["true", "false"])]
        elif kind == "link":
            lines += ["kind: link", "config:", "  target: %s" % self.pick(earlier)]
        else:
            os.makedirs(os.path.join(d, "include"), exist_ok=True)
            inc = "elem%d.yml" % i
            with open(os.path.join(d, "include", inc), "w") as f:
                f.write("variables:\n  fromfile: %s\nenvironment:\n  INC: %s\n"
                        % (self.yaml_str(self.value(self.known)), self.yaml_str(self.value(self.known))))
            lines += ["kind: %s" % self.pick([k for k in self.kinds if k in ("manual", "autotools", "make")] or ["manual"]),
                      "(@): include/%s" % inc, "depends:"] + ["- %s" % n for n in r.sample(earlier, min(2, len(earlier)))]
        name = "x%d.bst" % i
        with open(os.path.join(d, "elements", name), "w") as f:
            f.write("\n".join(lines) + "\n")
        return name

    def junction(self, d):
        """A subproject under sub/ and a junction to it, with some of its options set."""
        sub = Gen(random.Random(self.r.getrandbits(32)))
        sd = os.path.join(d, "sub")
        os.makedirs(os.path.join(sd, "elements"))
        os.makedirs(os.path.join(sd, "files"))
        sub.project(sd)
        if self.chance(0.75):
            # mostly a name of its own (a name loaded twice is an error, also tested)
            conf = os.path.join(sd, "project.conf")
            with open(conf) as f:
                text = f.read()
            with open(conf, "w") as f:
                f.write(text.replace("name: fuzz", "name: subfuzz", 1))
        snames = []
        for i in range(self.r.randint(1, 3)):
            snames.append(sub.element(sd, i, snames))
        lines = ["kind: junction", "sources:", "- kind: local", "  path: sub"]
        opts = [(n, v) for n, v in sub.options.items() if self.chance(0.6)]
        if opts:
            lines += ["config:", "  options:"]
            for n, (kind, values) in opts:
                if kind == "bool":
                    v = self.pick(["True", "False", "true"])
                elif kind == "flags":
                    v = "[%s]" % ", ".join(self.r.sample(values, self.r.randint(0, 2)))
                else:
                    v = self.yaml_str(self.pick(values))
                lines.append("    %s: %s" % (n, v))
        if self.chance(0.3):
            # replace one of the subproject's elements with one of this project
            with open(os.path.join(d, "elements", "ovr.bst"), "w") as f:
                f.write("kind: stack\ndescription: %s\n" % self.yaml_str(self.value([])))
            if "config:" not in lines:
                lines.append("config:")
            lines += ["  overrides:", "    %s: ovr.bst" % self.pick(snames)]
        with open(os.path.join(d, "elements", "sub.bst"), "w") as f:
            f.write("\n".join(lines) + "\n")
        if os.path.exists(os.path.join(sd, "include", "common.yml")) and self.chance(0.5):
            # an include across the junction, in an element of this project
            with open(os.path.join(d, "elements", "crossinc.bst"), "w") as f:
                f.write("kind: stack\n(@): sub.bst:include/common.yml\ndepends:\n- sub.bst:%s\n" % snames[0])
            return ["sub.bst:" + n for n in snames] + ["crossinc.bst"]
        return ["sub.bst:" + n for n in snames]

    def make(self, d):
        os.makedirs(os.path.join(d, "elements"))
        os.makedirs(os.path.join(d, "files"))
        self.project(d)
        names = []
        if self.chance(0.4):
            names += self.junction(d)
        for i in range(self.r.randint(1, 6)):
            if names and self.chance(0.25):
                names.append(self.special(d, i, names))
            else:
                names.append(self.element(d, i, names))
        cli = []
        for name, (kind, values) in self.options.items():
            if self.chance(0.5):
                if kind == "bool":
                    v = self.pick(["True", "False", "true", "false"])
                elif kind == "flags":
                    v = ",".join(self.r.sample(values, self.r.randint(1, 3)))
                else:
                    v = self.pick(values)
                cli += ["-o", name, v]
        return names, cli


# ---------------------------------------------------------------------------------------------
# Mutation mode (--mutate)
#
# Each mutation is a small function taking a Mut (the generated project plus helpers) and
# returning a short description of what it did, or None when it does not apply to this
# project (then another one is drawn).  Mutations edit the generated YAML as text: the
# generator writes every top-level key as a block that starts in column 0, which is what
# the helpers rely on.
# ---------------------------------------------------------------------------------------------

class NotApplicable(Exception):
    """A mutation that finds nothing to change in the project (as returning None)."""


class Mut:
    def __init__(self, rng, d, gen, names, cli, targets):
        self.r = rng
        self.d = d
        self.g = gen
        self.names = names
        self.cli = cli
        self.targets = targets

    def pick(self, xs):
        return self.r.choice(xs)

    def chance(self, p):
        return self.r.random() < p

    def path(self, rel):
        return os.path.join(self.d, rel)

    def read(self, rel):
        with open(self.path(rel)) as f:
            return f.read()

    def pick_line(self, candidates):
        """A random YAML file of the project and a random line of it among
        `candidates(text)` (line indices): (file, text, lines, index). Raises NotApplicable
        when there is none."""
        f = self.pick(self.yaml_files())
        text = self.read(f)
        cands = candidates(text)
        if not cands:
            raise NotApplicable()
        return f, text, text.splitlines(), self.pick(cands)

    def pick_from(self, xs):
        """A random item of `xs` (NotApplicable if there is none)."""
        if not xs:
            raise NotApplicable()
        return self.pick(xs)

    def other_elements(self, f):
        """The element names other than file `f`'s, to depend on (NotApplicable if none)."""
        deps = [n for n in self.names if n != os.path.basename(f)]
        if not deps:
            raise NotApplicable()
        return deps

    def element_containing(self, marker):
        """A random element file whose text contains `marker` (NotApplicable if none)."""
        return self.pick_from([f for f in self.elements() if marker in self.read(f)])

    def element_with_sources(self):
        """A random element file with a `sources:` list (NotApplicable if none)."""
        return self.element_containing("- kind: ")

    def write(self, rel, text):
        os.makedirs(os.path.dirname(self.path(rel)), exist_ok=True)
        with open(self.path(rel), "w") as f:
            f.write(text)

    def elements(self, kinds=None):
        """Element files of the top-level project (relative paths), optionally of some kinds."""
        out = []
        for n in sorted(os.listdir(self.path("elements"))):
            rel = "elements/" + n
            if not n.endswith(".bst"):
                continue
            if kinds is None or self.kind_of(rel) in kinds:
                out.append(rel)
        return out

    def kind_of(self, rel):
        for line in self.read(rel).splitlines():
            if line.startswith("kind: "):
                return line[6:].strip()
        return None

    def target_element(self):
        """An element the command line loads (so that a mistake in it is seen)."""
        local = [t for t in self.targets if ":" not in t]
        if local and self.chance(0.7):
            return "elements/" + self.pick(local)
        return self.pick(self.elements())

    def yaml_files(self):
        files = ["project.conf"] + self.elements()
        for sub in ("include", "sub/include"):
            if os.path.isdir(self.path(sub)):
                files += [sub + "/" + n for n in sorted(os.listdir(self.path(sub)))]
        return files


def top_blocks(text):
    """[(key, start, end)] of the top-level blocks of a generated YAML text (line indices)."""
    lines = text.splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line and not line[0].isspace() and not line.startswith("- ") and ":" in line:
            blocks.append([line.split(":")[0].strip(), i, len(lines)])
            if len(blocks) > 1:
                blocks[-2][2] = i
    return lines, blocks


def set_top(text, key, new_lines):
    """Replace (or add) the top-level block `key` with `new_lines`."""
    lines, blocks = top_blocks(text)
    for k, s, e in blocks:
        if k == key:
            return "\n".join(lines[:s] + new_lines + lines[e:]) + "\n"
    return "\n".join(lines + new_lines) + "\n"


def drop_top(text, key):
    lines, blocks = top_blocks(text)
    for k, s, e in blocks:
        if k == key:
            return "\n".join(lines[:s] + lines[e:]) + "\n"
    return None


def get_top(text, key):
    lines, blocks = top_blocks(text)
    for k, s, e in blocks:
        if k == key:
            return lines[s:e]
    return None


def scalar_lines(text):
    """Indices of lines that are `key: value` with a non-empty scalar value."""
    out = []
    for i, line in enumerate(text.splitlines()):
        s = line.strip()
        if ": " in s and not s.startswith("- ") and not s.endswith(":") and not s.startswith("("):
            out.append(i)
    return out


def edit_line(text, i, new):
    lines = text.splitlines()
    if isinstance(new, list):
        lines[i:i + 1] = new
    else:
        lines[i] = new
    return "\n".join(lines) + "\n"


# --- YAML syntax -----------------------------------------------------------------------------

def m_unclosed_quote(m):
    f, text, _, i = m.pick_line(lambda text: [i for i, l in enumerate(text.splitlines()) if l.rstrip().endswith("'") and ": '" in l])
    m.write(f, edit_line(text, i, text.splitlines()[i].rstrip()[:-1]))
    return "unclosed quote in %s line %d" % (f, i + 1)


def m_unclosed_bracket(m):
    f, text, _, i = m.pick_line(lambda text: scalar_lines(text))
    line = text.splitlines()[i]
    k, v = line.split(": ", 1)
    m.write(f, edit_line(text, i, "%s: %s%s" % (k, m.pick(["[", "{"]), v)))
    return "unclosed bracket in %s line %d" % (f, i + 1)


def m_bad_indent(m):
    f, _, lines, i = m.pick_line(lambda text: [i for i, l in enumerate(text.splitlines()) if i > 0 and l.strip()])
    if lines[i].startswith(" ") and m.chance(0.5):
        lines[i] = lines[i][1:]
    else:
        lines[i] = " " * m.r.randint(1, 3) + lines[i]
    m.write(f, "\n".join(lines) + "\n")
    return "indentation changed in %s line %d" % (f, i + 1)


def m_tab_indent(m):
    f, _, lines, i = m.pick_line(lambda text: [i for i, l in enumerate(text.splitlines()) if l.startswith("  ")])
    lines[i] = "\t" + lines[i][2:]
    m.write(f, "\n".join(lines) + "\n")
    return "tab indentation in %s line %d" % (f, i + 1)


def m_duplicate_key(m):
    f, text, _, i = m.pick_line(lambda text: scalar_lines(text))
    line = text.splitlines()[i]
    m.write(f, edit_line(text, i, [line, line.split(":")[0] + ": dup"]))
    return "duplicate key in %s line %d" % (f, i + 2)


def m_duplicate_top_block(m):
    f = m.pick(m.yaml_files())
    text = m.read(f)
    lines, blocks = top_blocks(text)
    if not blocks:
        return None
    k, s, e = m.pick(blocks)
    m.write(f, text + "\n".join(lines[s:e]) + "\n")
    return "top-level block %s repeated at the end of %s" % (k, f)


def m_stray_dash(m):
    f = m.pick(m.yaml_files())
    text = m.read(f)
    lines = text.splitlines()
    i = m.r.randint(1, len(lines))
    indent = ""
    if i < len(lines) and lines[i].startswith(" ") and not lines[i].strip().startswith("- "):
        indent = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
    lines[i:i] = [indent + "- stray"]
    m.write(f, "\n".join(lines) + "\n")
    return "stray '- stray' inserted in %s line %d" % (f, i + 1)


def m_key_value_value(m):
    f, text, _, i = m.pick_line(lambda text: [i for i in scalar_lines(text) if "'" not in text.splitlines()[i]])
    m.write(f, edit_line(text, i, text.splitlines()[i] + ": x"))
    return "'key: value: x' in %s line %d" % (f, i + 1)


def m_empty_file(m):
    f = m.pick(m.yaml_files())
    m.write(f, m.pick(["", "\n", "# nothing here\n", "---\n"]))
    return "%s emptied" % f


def m_not_a_mapping(m):
    f = m.pick(m.yaml_files())
    content = m.pick(["- a\n- b\n", "hello\n", "42\n", "[kind, manual]\n", "'kind: manual'\n"])
    m.write(f, content)
    return "%s holds %r instead of a mapping" % (f, content)


def m_anchor(m):
    f = m.target_element()
    text = m.read(f)
    m.write(f, text + "variables:\n  a1: &anch 'x'\n  a2: *anch\n" if "variables:" not in text
            else text.replace("variables:\n", "variables:\n  a1: &anch 'x'\n  a2: *anch\n", 1))
    return "YAML anchor and alias in %s" % f


def m_tag(m):
    f, text, _, i = m.pick_line(lambda text: scalar_lines(text))
    k, v = text.splitlines()[i].split(": ", 1)
    m.write(f, edit_line(text, i, "%s: %s %s" % (k, m.pick(["!foo", "!!str", "!!binary"]), v)))
    return "YAML tag in %s line %d" % (f, i + 1)


def m_two_documents(m):
    f = m.pick(m.yaml_files())
    m.write(f, m.read(f) + "---\nkind: stack\n")
    return "second YAML document in %s" % f


def m_bad_char(m):
    f = m.pick(m.yaml_files())
    text = m.read(f)
    lines = text.splitlines()
    i = m.r.randint(0, len(lines))
    lines[i:i] = [m.pick(["@bad: 1", "`x: 1", "%TAG x", "key with: colon: here", "? complex", "{a: 1}"])]
    m.write(f, "\n".join(lines) + "\n")
    return "odd line inserted in %s line %d" % (f, i + 1)


# --- wrong types -----------------------------------------------------------------------------

BAD_DICT = [["%s: [a, b]"], ["%s: text"], ["%s: 1"], ["%s:", "- x"]]
BAD_STR = [["%s: [a, b]"], ["%s: {a: b}"], ["%s:", "  x: y"]]
BAD_LIST = [["%s: text"], ["%s: {a: b}"], ["%s:", "  x: y"]]


def _bad_value(m, f, key, forms):
    form = m.pick(forms)
    m.write(f, set_top(m.read(f), key, [l % key if "%s" in l else l for l in form]))
    return "%s: %s in %s" % (key, " / ".join(form).replace("%s: ", "").replace("%s:", ""), f)


def m_elem_dict_key_wrong_type(m):
    f = m.target_element()
    key = m.pick(["variables", "environment", "config", "public", "sandbox"])
    return _bad_value(m, f, key, BAD_DICT)


def m_elem_str_key_wrong_type(m):
    f = m.target_element()
    return _bad_value(m, f, m.pick(["kind", "description"]), BAD_STR)


def m_elem_list_key_wrong_type(m):
    f = m.target_element()
    key = m.pick(["depends", "build-depends", "runtime-depends", "sources", "environment-nocache"])
    return _bad_value(m, f, key, BAD_LIST)


def m_project_wrong_type(m):
    key = m.pick(["name", "min-version", "element-path", "variables", "environment", "aliases",
                  "options", "elements", "split-rules", "plugins", "environment-nocache", "sandbox",
                  "sources", "shell", "fatal-warnings", "ref-storage", "defaults"])
    forms = BAD_DICT if key in ("variables", "environment", "aliases", "options", "elements",
                                "split-rules", "sandbox", "sources", "shell", "defaults") else \
        BAD_LIST if key in ("plugins", "environment-nocache", "fatal-warnings") else BAD_STR
    return _bad_value(m, "project.conf", key, forms)


def m_dep_item_wrong_type(m):
    f = m.target_element()
    text = m.read(f)
    item = m.pick(["- 42", "- [a.bst]", "- {type: build}", "- {filename: [a.bst]}", "- ''", "- ~",
                   "- {filename: e0.bst, junction: [x]}"])
    key = m.pick(["depends", "build-depends", "runtime-depends"])
    block = get_top(text, key)
    if block is None:
        block = ["%s:" % key]
    m.write(f, set_top(text, key, block + [item]))
    return "dependency item %r in %s of %s" % (item, key, f)


def m_variable_value_wrong_type(m):
    f = m.pick(["project.conf"] + [m.target_element()])
    text = m.read(f)
    block = get_top(text, "variables") or ["variables:"]
    block = block + m.pick([["  badvar: [a, b]"], ["  badvar:", "    x: y"], ["  badvar: {}"],
                             ["  prefix: [a]"], ["  badvar: ~"]])
    m.write(f, set_top(text, "variables", block))
    return "variable with a non-string value in %s" % f


def m_env_value_wrong_type(m):
    f = m.pick(["project.conf"] + [m.target_element()])
    text = m.read(f)
    block = get_top(text, "environment") or ["environment:"]
    block = block + m.pick([["  BADENV: [a, b]"], ["  BADENV:", "    x: y"]])
    m.write(f, set_top(text, "environment", block))
    return "environment variable with a non-string value in %s" % f


def m_bad_bool(m):
    """A non-boolean where a boolean is expected."""
    val = m.pick(["maybe", "'yes'", "1", "[true]", "2", "on", "'True'"])
    where = m.pick(["strict", "compose", "source", "option-default", "script"])
    if where == "strict":
        f = m.target_element()
        text = m.read(f)
        block = get_top(text, "build-depends") or ["build-depends:"]
        deps = m.other_elements(f)
        block += ["- filename: %s" % m.pick(deps), "  strict: %s" % val]
        m.write(f, set_top(text, "build-depends", block))
        return "strict: %s in %s" % (val, f)
    if where == "compose":
        f = m.pick_from(m.elements(["compose"]))
        m.write(f, set_top(m.read(f), "config", ["config:", "  %s: %s" % (m.pick(["integrate", "include-orphans"]), val)]))
        return "compose config boolean %s in %s" % (val, f)
    if where == "source":
        f = m.element_containing("- kind: remote")
        m.write(f, m.read(f).replace("- kind: remote\n", "- kind: remote\n  executable: %s\n" % val, 1))
        return "remote source executable: %s in %s" % (val, f)
    if where == "script":
        f = m.pick_from(m.elements(["script"]))
        text = m.read(f)
        text = text.replace("  root-read-only: true\n", "").replace("  root-read-only: false\n", "")
        m.write(f, text.replace("config:\n", "config:\n  root-read-only: %s\n" % val, 1))
        return "script root-read-only: %s in %s" % (val, f)
    text = m.read("project.conf")
    if "    type: bool\n" not in text:
        return None
    import re
    m.write("project.conf", re.sub(r"(    type: bool\n    description: b\n    default: )\w+", r"\g<1>" + val, text, 1))
    return "bool option default %s" % val


def m_sandbox_bad(m):
    f = m.target_element()
    val = m.pick(["build-uid: abc", "build-gid: [1]", "build-arch: 42", "colour: red", "build-os: {}"])
    m.write(f, set_top(m.read(f), "sandbox", ["sandbox:", "  " + val]))
    return "sandbox %s in %s" % (val, f)


# --- unknown and missing keys ----------------------------------------------------------------

def m_unknown_top_key(m):
    f = m.pick(["project.conf", m.target_element(), m.target_element()])
    key = m.pick(["colour", "depend", "source", "variable", "kinds", "build_depends", "runtime", "config2"])
    m.write(f, m.read(f) + "%s: %s\n" % (key, m.pick(["red", "[]", "{}"])))
    return "unknown top-level key %s in %s" % (key, f)


def m_unknown_dep_key(m):
    f = m.target_element()
    text = m.read(f)
    deps = m.other_elements(f)
    key = m.pick(["depends", "build-depends"])
    block = get_top(text, key) or ["%s:" % key]
    block += ["- filename: %s" % m.pick(deps), "  %s: %s" % (m.pick(["typ", "strcit", "file", "name"]), "x")]
    m.write(f, set_top(text, key, block))
    return "unknown key in a dependency dict in %s" % f


def m_unknown_source_key(m):
    f = m.element_with_sources()
    lines = m.read(f).splitlines()
    i = m.pick([i for i, l in enumerate(lines) if l.startswith("- kind: ")])
    lines[i + 1:i + 1] = ["  %s: x" % m.pick(["colour", "uri", "reff", "dir"])]
    m.write(f, "\n".join(lines) + "\n")
    return "unknown key in a source of %s" % f


def m_unknown_config_key(m):
    f = m.target_element()
    text = m.read(f)
    block = get_top(text, "config") or ["config:"]
    block += ["  %s: x" % m.pick(["colour", "command", "install-command", "targets"])]
    m.write(f, set_top(text, "config", block))
    return "unknown config key in %s (%s)" % (f, m.kind_of(f))


def m_unknown_option_key(m):
    text = m.read("project.conf")
    which = m.pick(["optkey", "plugin", "alias"])
    if which == "optkey":
        lines = text.splitlines()
        i = lines.index("options:") + 2
        lines[i:i] = ["    colour: red"]
        m.write("project.conf", "\n".join(lines) + "\n")
        return "unknown key in an option definition"
    if which == "plugin":
        if "- origin: pip" not in text:
            return None
        m.write("project.conf", text.replace("- origin: pip\n", "- origin: pip\n  colour: red\n", 1))
        return "unknown key in a plugin origin"
    m.write("project.conf", text.replace("aliases:\n", "aliases:\n  broken: [a]\n", 1))
    return "alias with a list value"


def m_missing_kind(m):
    f = m.target_element()
    text = drop_top(m.read(f), "kind")
    m.write(f, text)
    return "kind removed from %s" % f


def m_missing_source_key(m):
    f = m.element_with_sources()
    lines = m.read(f).splitlines()
    cands = [i for i, l in enumerate(lines) if l.startswith("  url:") or l.startswith("  path:")
             or l.startswith("  ref:") or l.startswith("- kind:")]
    i = m.pick(cands)
    removed = lines[i]
    if removed.startswith("- kind:"):
        lines[i + 1] = "- " + lines[i + 1][2:]
        del lines[i]
    else:
        del lines[i]
    m.write(f, "\n".join(lines) + "\n")
    return "source key removed (%s) in %s" % (removed.strip(), f)


def m_project_missing_key(m):
    key = m.pick(["name", "min-version", "element-path", "aliases"])
    text = drop_top(m.read("project.conf"), key)
    m.write("project.conf", text)
    return "%s removed from project.conf" % key


def m_option_missing_key(m):
    text = m.read("project.conf")
    key = m.pick(["type", "description", "values", "default"])
    lines = text.splitlines()
    cands = [i for i, l in enumerate(lines) if l.startswith("    %s:" % key)]
    if not cands:
        return None
    del lines[m.pick(cands)]
    m.write("project.conf", "\n".join(lines) + "\n")
    return "option %s removed" % key


# --- bad references --------------------------------------------------------------------------

def m_missing_dep(m):
    f = m.target_element()
    text = m.read(f)
    dep = m.pick(["nosuch.bst", "sub/missing.bst", "nojunction.bst:x.bst", "sub.bst:missing.bst",
                  "e0.bst:x.bst", "missing", "../e0.bst", "/abs.bst", "e0.bst ", "E0.BST"])
    key = m.pick(["depends", "build-depends", "runtime-depends"])
    block = get_top(text, key) or ["%s:" % key]
    if m.chance(0.5):
        block += ["- %s" % dep]
    else:
        block += ["- filename: %s" % dep]
        if m.chance(0.3):
            block += ["  junction: %s" % m.pick(["sub.bst", "nosuch.bst"])]
    m.write(f, set_top(text, key, block))
    return "dependency on %r in %s" % (dep, f)


def m_missing_local_path(m):
    f = m.pick_from([f for f in m.elements() if "- kind: local" in m.read(f) or "- kind: patch" in m.read(f)])
    bad = m.pick(["files/nosuch", "/etc", "../outside", "files", "", "project.conf", "elements/../files/nosuch"])
    text = m.read(f)
    lines = text.splitlines()
    i = m.pick([i for i, l in enumerate(lines) if l.startswith("  path: ")])
    lines[i] = "  path: %s" % (bad if bad else "''")
    m.write(f, "\n".join(lines) + "\n")
    return "local/patch source path %r in %s" % (bad, f)


def m_bad_include(m):
    f = m.pick(["project.conf", m.target_element()])
    text = m.read(f)
    inc = m.pick(["include/missing.yml", "nosuch.bst:include/x.yml", "sub.bst:include/missing.yml",
                  "include", "/etc/passwd", "../x.yml", "[]", "{}", "elements"])
    if "(@)" in text:
        lines = text.splitlines()
        i = m.pick([i for i, l in enumerate(lines) if l.startswith("(@)")])
        lines[i] = "(@): %s" % inc
        text = "\n".join(lines) + "\n"
    else:
        text += "(@): %s\n" % inc
    m.write(f, text)
    return "include of %r in %s" % (inc, f)


def m_recursive_include(m):
    form = m.pick(["self", "pair"])
    if form == "self":
        m.write("include/rec.yml", "(@): include/rec.yml\nvariables:\n  r: x\n")
    else:
        m.write("include/rec.yml", "(@): include/rec2.yml\n")
        m.write("include/rec2.yml", "(@): include/rec.yml\n")
    f = m.pick(["project.conf", m.target_element()])
    m.write(f, m.read(f) + "(@): include/rec.yml\n")
    return "recursive include (%s) from %s" % (form, f)


def m_include_bad_content(m):
    content = m.pick(["kind: manual\n", "name: other\n", "- a\n", "variables: [a]\n", "(@): include/bad.yml\n",
                      "min-version: 2.0\n", "elements:\n  manual:\n    kind: x\n", "options:\n  o:\n    type: bool\n"])
    m.write("include/bad.yml", content)
    f = m.pick(["project.conf", m.target_element()])
    m.write(f, m.read(f) + "(@): include/bad.yml\n")
    return "include of a file holding %r from %s" % (content, f)


def m_dep_cycle(m):
    local = [n for n in m.names if ":" not in n and n.startswith("e")]
    if not local:
        return None
    a = m.pick(local)
    b = m.pick([n for n in m.names if ":" not in n])
    f = "elements/" + a
    text = m.read(f)
    key = m.pick(["depends", "build-depends", "runtime-depends"])
    if m.kind_of(f) == "stack":
        key = "depends"
    block = get_top(text, key) or ["%s:" % key]
    m.write(f, set_top(text, key, block + ["- %s" % b]))
    m.targets[:] = [m.pick([a, b])]
    return "%s depends (%s) on %s (cycle unless ordering)" % (a, key, b)


def m_dep_type(m):
    f = m.target_element()
    text = m.read(f)
    deps = m.other_elements(f)
    t = m.pick(["bogus", "Build", "[build]", "runtime-build", "''"])
    block = get_top(text, "depends") or ["depends:"]
    extra = m.pick(["", "", "  strict: true", "  config: {a: b}", "  junction: sub.bst"])
    block += ["- filename: %s" % m.pick(deps), "  type: %s" % t] + ([extra] if extra else [])
    m.write(f, set_top(text, "depends", block))
    return "dependency type %s (%s) in %s" % (t, extra.strip(), f)


def m_runtime_strict(m):
    f = m.target_element()
    text = m.read(f)
    deps = m.other_elements(f)
    form = m.pick([["- filename: %s", "  strict: true", "  type: runtime"], ["- filename: %s", "  strict: false"],
                   ["- filename: %s", "  config: {a: b}", "  type: runtime"]])
    key = m.pick(["depends", "runtime-depends"])
    block = get_top(text, key) or ["%s:" % key]
    block += [form[0] % m.pick(deps)] + form[1:]
    m.write(f, set_top(text, key, block))
    return "dependency %s in %s of %s" % (" ".join(form[1:]), key, f)


def m_special_element(m):
    """filter/link/junction/stack/compose/script elements used wrongly."""
    which = m.pick(["filter0", "filter2", "filterrt", "linkdeps", "linkbad", "junctiondeps", "stackbuild",
                    "composert", "scriptnodeps", "junctionbadcfg", "junctionnosrc", "dependjunction",
                    "importnosrc", "filterconfig"])
    n = "zz.bst"
    deps = [x for x in m.names]
    d0 = m.pick(deps)
    body = {
        "filter0": "kind: filter\n",
        "filter2": "kind: filter\nbuild-depends:\n- %s\n- %s\n" % (d0, m.pick(deps)),
        "filterrt": "kind: filter\nbuild-depends:\n- %s\nruntime-depends:\n- %s\n" % (d0, m.pick(deps)),
        "filterconfig": "kind: filter\nbuild-depends:\n- %s\nconfig:\n  include: devel\n" % d0,
        "linkdeps": "kind: link\ndepends:\n- %s\nconfig:\n  target: %s\n" % (d0, d0),
        "linkbad": "kind: link\nconfig:\n  target: %s\n" % m.pick(["nosuch.bst", "[a]", "''"]),
        "junctiondeps": "kind: junction\ndepends:\n- %s\nsources:\n- kind: local\n  path: files\n" % d0,
        "stackbuild": "kind: stack\nbuild-depends:\n- %s\n" % d0,
        "composert": "kind: compose\nruntime-depends:\n- %s\n" % d0,
        "scriptnodeps": "kind: script\nconfig:\n  commands: [x]\n  layout: [a]\n",
        "junctionbadcfg": "kind: junction\nsources:\n- kind: local\n  path: files\nconfig:\n  colour: red\n",
        "junctionnosrc": "kind: junction\n",
        "dependjunction": None,
        "importnosrc": "kind: import\nconfig:\n  source: 42\n",
    }[which]
    if which == "dependjunction":
        if not os.path.exists(m.path("elements/sub.bst")):
            return None
        body = "kind: stack\ndepends:\n- sub.bst\n"
    m.write("elements/" + n, body)
    m.targets[:] = [n]
    return "special element %s" % which


def m_bad_target(m):
    t = m.pick(["nosuch.bst", "e0", "elements/e0.bst", "/tmp/e0.bst", "../e0.bst", "e0.bst/", "sub.bst:nosuch.bst",
                "nosuch.bst:e0.bst", "e 0.bst", "e0.yml", "sub.bst:", ":e0.bst", "sub.bst"])
    m.targets[:] = [t]
    return "target %r" % t


def m_bad_element_name(m):
    f = m.target_element()
    bad = m.pick(["bad name.bst", "noext", "x.yml", "a:b.bst", "ü.bst", "-lead.bst", "a@b.bst"])
    os.rename(m.path(f), m.path("elements/" + bad))
    old = os.path.basename(f)
    for g in m.elements() + (["elements/" + bad] if not bad.endswith(".bst") else []):
        m.write(g, m.read(g).replace("- %s\n" % old, "- %s\n" % bad).replace("filename: %s\n" % old, "filename: %s\n" % bad))
    m.targets[:] = [bad if t == old else t for t in m.targets]
    return "element %s renamed to %r" % (old, bad)


# --- variables -------------------------------------------------------------------------------

def m_undefined_variable(m):
    f = m.pick(["project.conf", m.target_element(), m.target_element()])
    text = m.read(f)
    where = m.pick(["variables", "environment"])
    block = get_top(text, where) or ["%s:" % where]
    block += ["  %s: '%s'" % ("undefvar" if where == "variables" else "UNDEF",
                               m.pick(["%{nosuch}", "a%{nosuch}b", "%{prefix}/%{nosuch-thing}", "%{NOSUCH}"]))]
    m.write(f, set_top(text, where, block))
    return "reference to an undefined variable in %s of %s" % (where, f)


def m_circular_variable(m):
    f = m.pick(["project.conf", m.target_element()])
    text = m.read(f)
    block = get_top(text, "variables") or ["variables:"]
    form = m.pick([["  ca: '%{ca}'"], ["  ca: '%{cb}'", "  cb: '%{ca}'"],
                   ["  ca: 'x%{cb}'", "  cb: '%{cc}y'", "  cc: '%{ca}'"], ["  prefix: '%{bindir}'"]])
    m.write(f, set_top(text, "variables", block + form))
    return "circular variables %s in %s" % (" ".join(s.strip() for s in form), f)


def m_bad_variable_syntax(m):
    f = m.pick(["project.conf", m.target_element(), m.target_element()])
    text = m.read(f)
    val = m.pick(["%{", "%{prefix", "a %{ b", "%{}", "%{a b}", "%{pre fix}", "%%{prefix}", "%{prefix}}", "%{%{prefix}}"])
    block = get_top(text, "variables") or ["variables:"]
    m.write(f, set_top(text, "variables", block + ["  synvar: '%s'" % val]))
    return "variable value %r in %s" % (val, f)


def m_protected_variable(m):
    f = m.pick(["project.conf", m.target_element(), m.target_element(), "include"])
    var = m.pick(["project-name", "element-name", "max-jobs"])
    if f == "include":
        m.write("include/prot.yml", "variables:\n  %s: x\n" % var)
        f = m.target_element()
        m.write(f, m.read(f) + "(@): include/prot.yml\n")
        return "protected variable %s set through an include in %s" % (var, f)
    text = m.read(f)
    block = get_top(text, "variables") or ["variables:"]
    m.write(f, set_top(text, "variables", block + ["  %s: 'x'" % var]))
    return "protected variable %s set in %s" % (var, f)


def m_variable_in_kind(m):
    f = m.target_element()
    text = m.read(f)
    which = m.pick(["kind", "dep", "path", "url"])
    if which == "kind":
        m.write(f, set_top(text, "kind", ["kind: '%{prefix}'"]))
    elif which == "dep":
        block = get_top(text, "depends") or ["depends:"]
        m.write(f, set_top(text, "depends", block + ["- '%{element-name}'"]))
    elif which == "path":
        if "  path: " not in text:
            return None
        m.write(f, text.replace("  path: ", "  path: %{prefix}/", 1))
    else:
        if "  url: " not in text:
            return None
        m.write(f, text.replace("  url: ", "  url: %{nosuch}", 1))
    return "variable syntax in %s of %s" % (which, f)


# --- options ---------------------------------------------------------------------------------

def m_cli_option(m):
    opts = m.g.options
    name = m.pick(list(opts) + ["nosuchopt"])
    kind = opts.get(name, ("none", []))[0]
    val = {"bool": ["maybe", "1", "yes", "TRUE", ""], "enum": ["purple", "RED", "", "red,green"],
           "flags": ["four", "one,four", "one, two", "ONE", "one,,two"],
           "arch": ["sparc", "x86-64", ""], "none": ["x"]}[kind]
    v = m.pick(val)
    # replace an existing setting for the same option, so that only this one is wrong
    cli = []
    i = 0
    while i < len(m.cli):
        if m.cli[i] == "-o" and m.cli[i + 1] == name:
            i += 3
            continue
        cli.append(m.cli[i])
        i += 1
    m.cli[:] = cli + ["-o", name, v]
    return "-o %s %r (%s)" % (name, v, kind)


def m_option_bad_default(m):
    text = m.read("project.conf")
    lines = text.splitlines()
    cands = [i for i, l in enumerate(lines) if l.startswith("    default: ")]
    if not cands:
        return None
    i = m.pick(cands)
    v = m.pick(["purple", "[four]", "maybe", "[one, four]", "{a: b}", "''", "[red]"])
    lines[i] = "    default: %s" % v
    m.write("project.conf", "\n".join(lines) + "\n")
    return "option default %s at project.conf line %d" % (v, i + 1)


def m_option_bad_definition(m):
    text = m.read("project.conf")
    form = m.pick([
        ["  badopt:", "    type: nosuchtype", "    description: x"],
        ["  badopt:", "    type: enum", "    description: x", "    values: []", "    default: a"],
        ["  badopt:", "    type: enum", "    description: x", "    values: [a, b]"],
        ["  badopt:", "    type: flags", "    description: x", "    values: a"],
        ["  badopt:", "    type: bool", "    description: x", "    default: True", "    variable: '%{x}'"],
        ["  badopt:", "    type: bool", "    description: x", "    default: True", "    variable: prefix"],
        ["  bad opt:", "    type: bool", "    description: x", "    default: True"],
        ["  badopt: 42"],
        ["  badopt:", "    type: arch", "    description: x", "    values: []"],
        ["  badopt:", "    type: element-mask", "    description: x", "    default: [nosuch.bst]"],
        ["  badopt:", "    type: os", "    description: x", "    values: [Plan9]"],
    ])
    lines = text.splitlines()
    i = lines.index("options:") + 1
    lines[i:i] = form
    m.write("project.conf", "\n".join(lines) + "\n")
    return "option definition: %s" % " ".join(s.strip() for s in form)


def m_bad_conditional(m):
    f = m.pick(["project.conf", m.target_element(), m.target_element()])
    text = m.read(f)
    opt = m.pick(list(m.g.options))
    form = m.pick([
        ["(?):", "- %s ==:" % opt, "    variables: {cv: x}"],
        ["(?):", "- nosuchopt:", "    variables: {cv: x}"],
        ["(?):", "- \"nosuchopt == 'x'\":", "    variables: {cv: x}"],
        ["(?):", "- %s: [a, b]" % opt],
        ["(?):", "- %s: text" % opt],
        ["(?): {%s: {variables: {cv: x}}}" % opt],
        ["(?): text"],
        ["(?):", "- %s:" % opt, "    variables: {cv: x}", "  %s:" % opt, "    variables: {cv: y}"],
        ["(?):", "- (%s:" % opt, "    variables: {cv: x}"],
        ["(?):", "- \"%s == 'x' and\":" % opt, "    variables: {cv: x}"],
        ["(?):", "- %s:" % opt, "    kind: import"],
        ["(?):", "- %s:" % opt, "    name: other"],
        ["(?):", "- %s:" % opt, "    min-version: 2.1"],
        ["(?):", "- %s:" % opt, "    element-path: other"],
        ["(?):", "- %s:" % opt, "    (!): asserted %s" % opt],
        ["(!): 'this project is not supported'"],
        ["(?):", "- 'True':", "    (!): always"],
        ["(?):", "- %s:" % opt, "    options: {}"],
        ["(?):", "- %s:" % opt, "    plugins: []"],
        ["(?):", "- %s:" % opt, "    depends: [nosuch.bst]"],
        ["(?):", "- %s:" % opt, "    sources: []"],
        ["(?):", "- %s | x:" % opt, "    variables: {cv: x}"],
        ["(?):", "- \"%s in ['a'\":" % opt, "    variables: {cv: x}"],
        ["(?):", "- '':", "    variables: {cv: x}"],
    ])
    if form[0] == "(?):" and get_top(text, "(?)"):
        form = get_top(text, "(?)") + form[1:]
    m.write(f, set_top(text, "(?)", form) if form[0].startswith("(?)") else text + "\n".join(form) + "\n")
    return "conditional %s in %s" % (" / ".join(form), f)


# --- list directives and composition ---------------------------------------------------------

def m_bad_directive(m):
    f = m.pick(["project.conf", m.target_element(), m.target_element()])
    text = m.read(f)
    form = m.pick([
        ("variables", ["variables:", "  prefix:", "    (>): [x]"]),
        ("variables", ["variables:", "  (>): [x]"]),
        ("environment", ["environment:", "  PATH:", "    (=): [x]"]),
        ("config", ["config:", "  install-commands:", "    (>): text"]),
        ("config", ["config:", "  install-commands:", "    (<): {a: b}"]),
        ("config", ["config:", "  install-commands:", "    (>): [a]", "    extra: [b]"]),
        ("config", ["config:", "  install-commands:", "    (@): [a]"]),
        ("config", ["config:", "  install-commands:", "    (x): [a]"]),
        ("public", ["public:", "  bst:", "    split-rules:", "      (>): [a]"]),
        ("public", ["public:", "  bst:", "    integration-commands:", "      (=):", "        x: y"]),
        ("config", ["config:", "  (=): [a]"]),
        ("environment-nocache", ["environment-nocache:", "  (>): [A]"]),
        ("depends", ["depends:", "  (>): [nosuch.bst]"]),
        ("sources", ["sources:", "  (>):", "  - kind: local", "    path: files"]),
        ("split-rules", ["split-rules:", "  devel:", "    (<): devel"]),
    ])
    key, lines = form
    m.write(f, set_top(text, key, lines))
    return "list directive: %s in %s" % (" / ".join(lines), f)


def m_composite_type_mismatch(m):
    """An element overriding a project/default value with one of another type."""
    f = m.target_element()
    text = m.read(f)
    k = m.kind_of(f)
    form = m.pick([
        ("config", ["config:", "  install-commands: text"]),
        ("config", ["config:", "  install-commands: {a: b}"]),
        ("config", ["config:", "  build-commands:", "    x: y"]),
        ("public", ["public:", "  bst: [a]"]),
        ("public", ["public:", "  bst:", "    split-rules: [a]"]),
        ("public", ["public:", "  bst:", "    integration-commands: text"]),
        ("variables", ["variables:", "  prefix:", "    x: y"]),
    ])
    m.write(f, set_top(text, form[0], form[1]))
    return "%s (%s) in %s" % (" / ".join(form[1]), k, f)


# --- project.conf ----------------------------------------------------------------------------

def m_project_name(m):
    v = m.pick(["fuzz 1", "1abc", "-fuzz", "fuzz.x", "fuzz_x", "''", "Fuzz", "fuzz/x", "fuzz:x", "ü", "a" * 80, "fuzz-"])
    text = m.read("project.conf")
    m.write("project.conf", set_top(text, "name", ["name: %s" % v]))
    return "project name %r" % v


def m_min_version(m):
    v = m.pick(["1.0", "2.99", "abc", "3.0", "2", "2.0.1", "'2.8'", "2.9", "1.4", "2.a", "''", "[2, 0]", "2.", ".2", "02.00"])
    text = m.read("project.conf")
    m.write("project.conf", set_top(text, "min-version", ["min-version: %s" % v]))
    return "min-version %r" % v


def m_element_path(m):
    v = m.pick(["nosuch", "/abs", "../elements", "project.conf", "''", "elements/..", "files", "./elements/"])
    text = m.read("project.conf")
    m.write("project.conf", set_top(text, "element-path", ["element-path: %s" % v]))
    return "element-path %r" % v


def m_project_misc(m):
    text = m.read("project.conf")
    form = m.pick([
        ("ref-storage", ["ref-storage: bogus"]),
        ("ref-storage", ["ref-storage: project.refs"]),
        ("fatal-warnings", ["fatal-warnings: [nosuch-warning]"]),
        ("plugins", ["plugins:", "- origin: nowhere", "  elements: [x]"]),
        ("plugins", ["plugins:", "- origin: local", "  path: nosuch", "  elements: [x]"]),
        ("plugins", ["plugins:", "- origin: pip", "  package-name: no-such-package-xyz", "  elements: [x]"]),
        ("plugins", ["plugins:", "- origin: junction", "  junction: nosuch.bst", "  elements: [x]"]),
        ("plugins", ["plugins:", "- elements: [x]"]),
        ("aliases", ["aliases:", "  upstream: 42"]),
        ("aliases", ["aliases:", "  'bad alias': http://x/"]),
        ("mirrors", ["mirrors:", "- name: m", "  aliases: {nosuch: [http://x/]}"]),
        ("mirrors", ["mirrors:", "- aliases: {upstream: [http://x/]}"]),
        ("source-mirrors", ["source-mirrors: x"]),
        ("defaults", ["defaults:", "  targets: [nosuch.bst]"]),
        ("sandbox", ["sandbox:", "  build-os: 42"]),
        ("artifacts", ["artifacts:", "  url: x"]),
        ("shell", ["shell:", "  command: text"]),
        ("source-provenance-fields", ["source-provenance-fields: [a]"]),
    ])
    m.write("project.conf", set_top(text, form[0], form[1]))
    return "project.conf %s" % " / ".join(form[1])


def m_unknown_kind(m):
    f = m.target_element()
    text = m.read(f)
    if m.chance(0.5) or "- kind: " not in text:
        k = m.pick(["nosuchkind", "git", "autotools2", "Manual", "''"])
        m.write(f, set_top(text, "kind", ["kind: %s" % k]))
        return "element kind %s in %s" % (k, f)
    k = m.pick(["nosuchsource", "git_tag", "Local", "zip"])
    m.write(f, text.replace("- kind: ", "- kind: %s\n  x_was: " % k, 1))
    return "source kind %s in %s" % (k, f)


def m_unknown_alias(m):
    f = m.element_containing("  url: ")
    text = m.read(f)
    v = m.pick(["nosuchalias:thing", "thing", "upstream", "https://example.com/x", "upstream:", ":x"])
    lines = text.splitlines()
    i = m.pick([i for i, l in enumerate(lines) if l.startswith("  url: ")])
    lines[i] = "  url: %s" % v
    m.write(f, "\n".join(lines) + "\n")
    return "source url %r in %s" % (v, f)


def m_source_ref(m):
    f = m.element_containing("  ref: ")
    v = m.pick(["abc", "[a]", "{a: b}", "''", "12", "zz" * 32])
    lines = m.read(f).splitlines()
    i = m.pick([i for i, l in enumerate(lines) if l.startswith("  ref: ")])
    lines[i] = "  ref: %s" % v
    m.write(f, "\n".join(lines) + "\n")
    return "source ref %r in %s" % (v, f)


def m_junction_mistake(m):
    if not os.path.exists(m.path("elements/sub.bst")):
        return None
    which = m.pick(["subconf", "suboption", "suboptval", "subname", "subpath", "override", "nosubconf"])
    text = m.read("elements/sub.bst")
    if which == "subconf":
        m.write("sub/project.conf", m.read("sub/project.conf") + "colour: red\n")
    elif which == "nosubconf":
        os.remove(m.path("sub/project.conf"))
    elif which == "suboption":
        block = get_top(text, "config") or ["config:"]
        m.write("elements/sub.bst", set_top(text, "config", block + ["  options:", "    nosuchopt: x"]
                                             if "  options:" not in "\n".join(block) else
                                             block + ["    nosuchopt: x"]))
    elif which == "suboptval":
        opts = m.g  # the subproject's options are unknown here, set a bool one wrongly
        block = get_top(text, "config") or ["config:"]
        if "  options:" in "\n".join(block):
            block = [l for l in block if not l.startswith("    opt0:")] + ["    opt0: purple"]
        else:
            block += ["  options:", "    opt0: purple"]
        m.write("elements/sub.bst", set_top(text, "config", block))
    elif which == "subname":
        m.write("sub/project.conf", set_top(m.read("sub/project.conf"), "name", ["name: %s" % m.pick(["bad name", "''"])]))
    elif which == "subpath":
        m.write("elements/sub.bst", text.replace("  path: sub", "  path: nosuch"))
    else:
        block = get_top(text, "config") or ["config:"]
        block = [l for l in block if not l.startswith("  overrides") and not l.startswith("    e")]
        m.write("elements/sub.bst", set_top(text, "config", block + ["  overrides:", "    %s: %s" % (
            m.pick(["nosuch.bst", "e0.bst"]), m.pick(["nosuch.bst", "e0.bst", "sub.bst"]))]))
    return "junction mistake: %s" % which


MUTATIONS = [
    m_unclosed_quote, m_unclosed_bracket, m_bad_indent, m_tab_indent, m_duplicate_key, m_duplicate_top_block,
    m_stray_dash, m_key_value_value, m_empty_file, m_not_a_mapping, m_anchor, m_tag, m_two_documents, m_bad_char,
    m_elem_dict_key_wrong_type, m_elem_str_key_wrong_type, m_elem_list_key_wrong_type, m_project_wrong_type,
    m_dep_item_wrong_type, m_variable_value_wrong_type, m_env_value_wrong_type, m_bad_bool, m_sandbox_bad,
    m_unknown_top_key, m_unknown_dep_key, m_unknown_source_key, m_unknown_config_key, m_unknown_option_key,
    m_missing_kind, m_missing_source_key, m_project_missing_key, m_option_missing_key,
    m_missing_dep, m_missing_local_path, m_bad_include, m_recursive_include, m_include_bad_content,
    m_dep_cycle, m_dep_type, m_runtime_strict, m_special_element, m_bad_target, m_bad_element_name,
    m_undefined_variable, m_circular_variable, m_bad_variable_syntax, m_protected_variable, m_variable_in_kind,
    m_cli_option, m_option_bad_default, m_option_bad_definition, m_bad_conditional,
    m_bad_directive, m_composite_type_mismatch,
    m_project_name, m_min_version, m_element_path, m_project_misc, m_unknown_kind, m_unknown_alias, m_source_ref,
    m_junction_mistake,
]


def mutate(rng, d, gen, names, cli, targets):
    """Apply one applicable mutation; returns its name and description."""
    m = Mut(rng, d, gen, names, cli, targets)
    for _ in range(50):
        fn = rng.choice(MUTATIONS)
        try:
            desc = fn(m)
        except NotApplicable:
            desc = None
        if desc is not None:
            return fn.__name__[2:], desc
    return "none", "no mutation applied"


ACTIVITY = re.compile(r"^\[[0-9:-]{8}\]\[")


def error_text(stderr, paths):
    """The error message proper: what follows the last activity line ([--:--:--][...] ...),
    with the temporary directories replaced by placeholders and blank lines at the ends and
    trailing spaces removed."""
    lines = stderr.splitlines()
    last = -1
    for i, line in enumerate(lines):
        if ACTIVITY.match(line):
            last = i
    lines = [l.rstrip() for l in lines[last + 1:]]
    text = "\n".join(lines).strip("\n")
    for p, tag in paths:
        text = text.replace(p, tag)
    return text


def run(tool, d, conf, cli, fmt, targets):
    env = dict(os.environ)
    env.update(XDG_CONFIG_HOME=os.path.join(conf, "xdg-config"), XDG_CACHE_HOME=os.path.join(conf, "xdg-cache"),
               XDG_DATA_HOME=os.path.join(conf, "xdg-data"))
    p = subprocess.run([tool, "--no-interactive", "-c", os.path.join(conf, "bst.conf")] + cli
                       + ["show", "--deps", "all", "--format", fmt] + targets,
                       cwd=d, capture_output=True, text=True, env=env, timeout=120)
    return p.returncode, p.stdout, p.stderr


def new_project(work, seed):
    """Generates project `seed` in WORK/project with a private configuration in WORK/conf:
    (project dir, conf dir, generator, element names, `-o` arguments, targets)."""
    d = os.path.join(work, "project")
    conf = os.path.join(work, "conf")
    os.makedirs(conf)
    with open(os.path.join(conf, "bst.conf"), "w") as f:
        f.write("cachedir: %s/cache\nlogdir: %s/logs\nsourcedir: %s/sources\n" % (conf, conf, conf))
    g = Gen(random.Random(seed))
    names, cli = g.make(d)
    targets = [names[-1]] if random.Random(seed).random() < 0.7 else list(names)
    return d, conf, g, names, cli, targets


def first_error(stderr):
    for line in stderr.splitlines():
        s = line.strip()
        if s and not s.startswith("[") and "WARNING" not in s:
            return s
    return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bst", default=os.environ.get("BST", "bst"))
    ap.add_argument("--bst-rs", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "..", "target", "release", "bst-rs"))
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--minutes", type=float, default=0)
    ap.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "bst-rs-diff-fuzz"))
    ap.add_argument("--mutate", action="store_true",
                    help="break each generated project with one mutation and compare the errors")
    ap.add_argument("--only", default=None,
                    help="with --mutate: comma-separated mutation names (without m_) to draw from")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.mutate:
        return main_mutate(a)
    deadline = time.time() + 60 * a.minutes if a.minutes else None
    fails = 0
    ok = 0
    n = 0
    while (deadline and time.time() < deadline) or (not deadline and n < a.count):
        seed = a.seed + n
        n += 1
        work = tempfile.mkdtemp(prefix="dfz")
        try:
            d, conf, g, names, cli, targets = new_project(work, seed)
            for fmt in FORMATS:
                rb = run(a.bst, d, conf, cli, fmt, targets)
                rr = run(a.bst_rs, d, conf, cli, fmt, targets)
                same = (rb[0] == 0) == (rr[0] == 0) and (rb[1] == rr[1] if rb[0] == 0 else
                                                         first_error(rb[2]) == first_error(rr[2]))
                if same and rb[0] == 0:
                    ok += 1
                if not same:
                    fails += 1
                    dest = os.path.join(a.out, "fail-%d" % seed)
                    shutil.rmtree(dest, ignore_errors=True)
                    shutil.copytree(d, os.path.join(dest, "project"))
                    with open(os.path.join(dest, "command"), "w") as f:
                        f.write(" ".join(cli + ["show", "--deps", "all", "--format", repr(fmt)] + targets) + "\n")
                    for tag, res in (("bst", rb), ("bst-rs", rr)):
                        with open(os.path.join(dest, tag + ".out"), "w") as f:
                            f.write("exit %d\n--- stdout\n%s--- stderr\n%s" % res)
                    print("seed %d: DIFFERENT (%s) -> %s" % (seed, fmt, dest), flush=True)
                    break
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if n % 20 == 0:
            print("%d projects, %d different, %d outputs alike and not errors" % (n, fails, ok), flush=True)
    print("%d projects, %d different, %d outputs alike and not errors (seeds %d..%d)"
          % (n, fails, ok, a.seed, a.seed + n - 1))
    return 1 if fails else 0


def main_mutate(a):
    global MUTATIONS
    if a.only:
        wanted = set(a.only.split(","))
        MUTATIONS = [fn for fn in MUTATIONS if fn.__name__[2:] in wanted]
    deadline = time.time() + 60 * a.minutes if a.minutes else None
    results = open(os.path.join(a.out, "results.tsv"), "a")
    fails = same_err = same_ok = n = 0
    while (deadline and time.time() < deadline) or (not deadline and n < a.count):
        seed = a.seed + n
        n += 1
        work = tempfile.mkdtemp(prefix="dfz")
        try:
            d, conf, g, names, cli, targets = new_project(work, seed)
            mname, desc = mutate(random.Random(seed * 7919 + 1), d, g, names, cli, targets)
            paths = [(d, "<PROJECT>"), (work, "<WORK>"), (os.path.realpath(d), "<PROJECT>")]
            verdict = "same"
            for fmt in FORMATS:
                rb = run(a.bst, d, conf, cli, fmt, targets)
                rr = run(a.bst_rs, d, conf, cli, fmt, targets)
                eb, er = error_text(rb[2], paths), error_text(rr[2], paths)
                if (rb[0] == 0) != (rr[0] == 0):
                    verdict = "status"
                elif rb[0] == 0 and rb[1] != rr[1]:
                    verdict = "stdout"
                elif rb[0] != 0 and eb != er:
                    verdict = "message"
                if verdict != "same" or rb[0] != 0:
                    break
            if verdict == "same":
                if rb[0] == 0:
                    same_ok += 1
                else:
                    same_err += 1
            else:
                fails += 1
                dest = os.path.join(a.out, "%s-%d" % (mname, seed))
                shutil.rmtree(dest, ignore_errors=True)
                shutil.copytree(d, os.path.join(dest, "project"), symlinks=True)
                with open(os.path.join(dest, "command"), "w") as f:
                    f.write(" ".join(cli + ["show", "--deps", "all", "--format", repr(fmt)] + targets) + "\n")
                with open(os.path.join(dest, "mutation"), "w") as f:
                    f.write("%s: %s\n" % (mname, desc))
                for tag, res, e in (("bst", rb, eb), ("bst-rs", rr, er)):
                    with open(os.path.join(dest, tag + ".out"), "w") as f:
                        f.write("exit %d\n--- stdout\n%s--- stderr\n%s" % res)
                    with open(os.path.join(dest, tag + ".err"), "w") as f:
                        f.write(e + "\n")
                print("seed %d: DIFFERENT %s (%s: %s) -> %s" % (seed, verdict, mname, desc, dest), flush=True)
            first = lambda e: e.splitlines()[0] if e else ""
            results.write("\t".join([str(seed), mname, desc, verdict, str(rb[0]), str(rr[0]),
                                      first(eb).replace("\t", " "), first(er).replace("\t", " ")]) + "\n")
            results.flush()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if n % 20 == 0:
            print("%d projects, %d different, %d same error, %d same success"
                  % (n, fails, same_err, same_ok), flush=True)
    print("%d projects, %d different, %d same error, %d same success (seeds %d..%d)"
          % (n, fails, same_err, same_ok, a.seed, a.seed + n - 1))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
