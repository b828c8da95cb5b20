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

Usage: BST=/path/to/bst scripts/diff-fuzz.py [--bst-rs BIN] [--seed N] [--count N]
       [--minutes M] [--out DIR]
"""
import argparse
import os
import random
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


def run(tool, d, conf, cli, fmt, targets):
    env = dict(os.environ)
    env.update(XDG_CONFIG_HOME=os.path.join(conf, "xdg-config"), XDG_CACHE_HOME=os.path.join(conf, "xdg-cache"),
               XDG_DATA_HOME=os.path.join(conf, "xdg-data"))
    p = subprocess.run([tool, "--no-interactive", "-c", os.path.join(conf, "bst.conf")] + cli
                       + ["show", "--deps", "all", "--format", fmt] + targets,
                       cwd=d, capture_output=True, text=True, env=env, timeout=120)
    return p.returncode, p.stdout, p.stderr


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
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    deadline = time.time() + 60 * a.minutes if a.minutes else None
    fails = 0
    ok = 0
    n = 0
    while (deadline and time.time() < deadline) or (not deadline and n < a.count):
        seed = a.seed + n
        n += 1
        work = tempfile.mkdtemp(prefix="dfz")
        try:
            d = os.path.join(work, "project")
            conf = os.path.join(work, "conf")
            os.makedirs(conf)
            with open(os.path.join(conf, "bst.conf"), "w") as f:
                f.write("cachedir: %s/cache\nlogdir: %s/logs\nsourcedir: %s/sources\n" % (conf, conf, conf))
            g = Gen(random.Random(seed))
            names, cli = g.make(d)
            targets = [names[-1]] if random.Random(seed).random() < 0.7 else names
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


if __name__ == "__main__":
    sys.exit(main())
