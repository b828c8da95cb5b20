#!/usr/bin/env python3
"""Generate a synthetic BuildStream 2 project for benchmarking `show` (and `build`).

    benches/gen_project.py OUTDIR [--elements N] [--seed S] [--buildable SYSROOT]

The project is deterministic for a given (N, seed): same files, same bytes.
It uses only BuildStream's core element/source kinds plus the
buildstream-plugins 2.7.0 build kinds (autotools, cmake, make, meson) and its
`git` source, so a stock `bst` 2.8 with buildstream-plugins can load it.

Shape (proportions of N; see KIND_WEIGHTS):

  * layer 0: "bootstrap" import elements with `local` sources of small files,
    and `base/sdk.bst`, a stack of all of them that every build element
    build-depends on (like a toolchain);
  * layers 1..L-1 (L ~ N**0.35, so ~20 layers at 5,000 elements): import
    (local files), autotools, cmake, meson, make, manual, stack and compose
    elements; each depends on 1-6 elements of lower layers (mostly the layer
    just below), as build, runtime or both, written in all the forms
    BuildStream accepts (`depends`, `build-depends`, `runtime-depends`,
    dicts with `type:`);
  * build elements have `tar` (or `git`) sources with fixed refs, some a
    second `local` source; variables, environment, `(>)` list appends, and
    `(?)` conditionals on the project options `debug` (bool) and `flavour`
    (enum); about a third `(@)`-include a shared fragment from `include/`;
  * a few "group" stacks with 100-300 dependencies each (like sdk.bst or
    core.bst in real projects), composes built from stacks, and `all.bst`,
    a stack of every element nothing else depends on, so
    `show --deps all all.bst` visits the whole project.

--buildable SYSROOT makes a project both tools can actually build, with the same DAG
generator: only import (local files), manual and stack elements (see BUILDABLE_WEIGHTS), no
plugins, aliases or remote sources. SYSROOT (a small sysroot with a POSIX shell, e.g.
testprojects/hello/sysroot) is copied to OUTDIR/sysroot and imported by the first bootstrap
element, which `base/sdk.bst` includes; every manual element copies its one local file into
`%{datadir}/<its name>` with shell commands.
"""

import argparse
import os
import random
import shutil
import sys

WORDS = (
    "glib gtk pango cairo harf buzz font config free type png jpeg tiff webp "
    "xml json yaml curl ssl nss zlib bz lzma zstd brotli pcre icu gmp mpfr "
    "ffi elf dw unwind sys temd dbus polkit udev input wayland mesa drm gbm "
    "pipe wire pulse alsa sound gst base good bad ugly av codec vpx opus ogg "
    "vorbis flac theora dav1d aom gir python perl ruby rust llvm clang gcc "
    "bin utils make ninja meson cmake auto conf tool kit core app shell "
    "mutter gnome session settings desktop portal flat pak ostree secret "
    "soup gcr gdm nautilus files text edit term vte adwaita icon theme"
).split()

CATEGORIES = ["core-deps", "libs", "sdk", "desktop", "apps", "tools", "multimedia", "platform"]

# Relative weights of kinds for non-bootstrap elements.
KIND_WEIGHTS = [
    ("import", 12),
    ("autotools", 28),
    ("cmake", 11),
    ("meson", 11),
    ("make", 6),
    ("manual", 15),
    ("stack", 12),
    ("compose", 5),
]
BUILD_KINDS = ("autotools", "cmake", "meson", "make", "manual")
# --buildable: kinds both tools build without plugins or downloads.
BUILDABLE_WEIGHTS = [
    ("import", 25),
    ("manual", 45),
    ("stack", 30),
]


def q(s):
    """YAML double-quoted scalar."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Gen:
    def __init__(self, n, seed, sysroot=None):
        self.n = n
        self.sysroot = sysroot  # --buildable
        self.rng = random.Random(seed)
        self.elements = []  # dicts: name, kind, layer, deps [(name, type)]
        self.files = {}  # relpath -> (bytes, executable)

    def hexref(self, nbytes):
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(nbytes * 2))

    def words(self, k):
        return "-".join(self.rng.choice(WORDS) for _ in range(k))

    # ------------------------------------------------------------------ DAG
    def plan(self):
        rng = self.rng
        n = self.n
        nlayers = max(6, round(n ** 0.35))
        nboot = max(8, n // 60)
        ngroups = max(2, n // 1000)
        nrest = n - nboot - 1 - ngroups - 1  # minus sdk.bst, groups, all.bst
        if nrest < 10:
            sys.exit("gen_project: --elements too small (need at least ~40)")

        layers = [[] for _ in range(nlayers)]
        used = set()

        def fresh(cat, stem):
            i = len(self.elements)
            name = "%s/%s-%05d.bst" % (cat, stem, i)
            assert name not in used
            used.add(name)
            return name

        def add(name, kind, layer, deps=()):
            e = {"name": name, "kind": kind, "layer": layer, "deps": list(deps)}
            self.elements.append(e)
            layers[layer].append(e)
            return e

        boot = [add(fresh("bootstrap", self.words(1)), "import", 0) for _ in range(nboot)]
        sdk = add("base/sdk.bst", "stack", 1, [(b["name"], None) for b in boot])
        self.sdk = sdk["name"]

        kind_weights = BUILDABLE_WEIGHTS if self.sysroot else KIND_WEIGHTS
        kinds = [k for k, _ in kind_weights]
        weights = [w for _, w in kind_weights]
        # Spread the rest over layers 1..L-1, a bit thicker in the middle.
        lw = [1.0 + 0.6 * (1 - abs((2.0 * i / (nlayers - 1)) - 1)) for i in range(1, nlayers)]
        per_layer = [int(nrest * w / sum(lw)) for w in lw]
        per_layer[len(per_layer) // 2] += nrest - sum(per_layer)

        for li, count in enumerate(per_layer, start=1):
            below = [e for l in layers[:li] for e in l if e["name"] != self.sdk]
            prev = [e for e in layers[li - 1] if e["name"] != self.sdk] or below
            stacks_below = [e for e in below if e["kind"] == "stack"]
            for _ in range(count):
                kind = rng.choices(kinds, weights)[0]
                if kind == "compose" and not stacks_below:
                    kind = "stack"
                cat = rng.choice(CATEGORIES)
                name = fresh(cat, self.words(rng.choice((1, 2, 2, 3))))
                deps = []
                if kind == "import":
                    # Most imports are leaves; a few carry runtime deps.
                    if rng.random() < 0.25:
                        deps = [(d["name"], "runtime") for d in self.pick(prev, below, rng.randint(1, 2))]
                elif kind == "stack":
                    deps = [(d["name"], None) for d in self.pick(prev, below, rng.randint(2, 8))]
                elif kind == "compose":
                    deps = [(rng.choice(stacks_below)["name"], "build")]
                else:
                    deps = [(self.sdk, "build")]
                    for d in self.pick(prev, below, rng.randint(1, 6)):
                        deps.append((d["name"], rng.choices((None, "build", "runtime"), (5, 4, 1))[0]))
                add(name, kind, li, deps)

        # A few big aggregation stacks (like sdk.bst / core.bst).
        everything = [e for e in self.elements if e["name"] != self.sdk]
        for g in range(ngroups):
            k = min(len(everything), rng.randint(100, 300))
            members = rng.sample(everything, k)
            add("groups/group-%02d.bst" % g, "stack", nlayers - 1, [(m["name"], None) for m in members])

        depended = {d for e in self.elements for d, _ in e["deps"]}
        sinks = [e["name"] for e in self.elements if e["name"] not in depended]
        add("all.bst", "stack", nlayers - 1, [(s, None) for s in sinks])
        assert len(self.elements) == n, (len(self.elements), n)

    def stats(self):
        """Mean/median/max size of each element's build scope (the dependencies
        whose keys go into its cache key: build deps and their runtime closure)."""
        import statistics

        E = {e["name"]: e for e in self.elements}
        rt = {}

        def runc(n):
            if n not in rt:
                s = {n}
                for d, t in E[n]["deps"]:
                    if t != "build":
                        s |= runc(d)
                rt[n] = s
            return rt[n]

        sizes = []
        for e in self.elements:
            s = set()
            for d, t in e["deps"]:
                if t != "runtime":
                    s |= runc(d)
            sizes.append(len(s))
        return "build scope per element: mean %.0f, median %.0f, max %d, total %d" % (
            statistics.mean(sizes), statistics.median(sizes), max(sizes), sum(sizes))

    def pick(self, prev, below, k):
        rng = self.rng
        out = []
        seen = set()
        for _ in range(k * 3):
            if len(out) >= k:
                break
            pool = prev if rng.random() < 0.6 else below
            e = rng.choice(pool)
            if e["name"] not in seen:
                seen.add(e["name"])
                out.append(e)
        return out

    # --------------------------------------------------------------- render
    def render_deps(self, deps, kind):
        if not deps:
            return []
        rng = self.rng
        lines = []
        if kind in ("stack",):
            lines.append("depends:")
            lines += ["- %s" % d for d, _ in deps]
            return lines
        if kind == "compose":
            lines.append("build-depends:")
            lines += ["- %s" % d for d, _ in deps]
            return lines
        groups = {"depends": [], "build-depends": [], "runtime-depends": []}
        dict_form = []
        for d, t in deps:
            if t is not None and rng.random() < 0.15:
                dict_form.append((d, t))
            elif t is None:
                groups["depends"].append(d)
            elif t == "build":
                groups["build-depends"].append(d)
            else:
                groups["runtime-depends"].append(d)
        for d, t in dict_form:
            groups["depends"].append("{filename: %s, type: %s}" % (d, t))
        for key in ("build-depends", "depends", "runtime-depends"):
            if groups[key]:
                lines.append("%s:" % key)
                lines += ["- %s" % d for d in groups[key]]
        return lines

    def local_files(self, element_name, nfiles):
        """Create a few small files for a local source; return its path."""
        rng = self.rng
        base = "files/" + element_name[: -len(".bst")]
        # --buildable: nothing under bin/, which is a symlink at /usr in the sysroot.
        subs = ("", "", "share/doc/") if self.sysroot else ("", "", "bin/", "share/doc/", "lib/pkgconfig/")
        for i in range(nfiles):
            sub = rng.choice(subs)
            fname = "%s%s-%d%s" % (sub, rng.choice(WORDS), i, rng.choice((".txt", ".conf", ".sh", ".pc", "")))
            size = rng.choice((16, 64, 200, 512, 1500, 4000))
            text = " ".join(rng.choice(WORDS) for _ in range(size // 5)) + "\n"
            self.files["%s/%s" % (base, fname)] = (text.encode(), sub == "bin/" or fname.endswith(".sh"))
        return base

    def conditional_vars(self):
        rng = self.rng
        r = rng.random()
        if r < 0.5:
            return [
                "  (?):",
                "  - debug:",
                "      conf-local: --enable-debug --disable-silent-rules",
                "  - not debug:",
                "      conf-local: --disable-debug",
            ]
        return [
            "  (?):",
            "  - flavour == \"full\":",
            "      extra-features: %s" % " ".join("--with-" + rng.choice(WORDS) for _ in range(3)),
            "  - flavour != \"full\" and debug:",
            "      extra-features: --with-debug-minimal",
        ]

    def tar_source(self, stem):
        rng = self.rng
        ver = "%d.%d.%d" % (rng.randint(0, 9), rng.randint(0, 30), rng.randint(0, 9))
        if rng.random() < 0.25:
            return [
                "- kind: git",
                "  url: %s:%s/%s.git" % (rng.choice(("gnome", "github")), stem, stem),
                "  track: main",
                "  ref: %s-0-g%s" % (ver, self.hexref(20)),
            ]
        return [
            "- kind: tar",
            "  url: %s:%s/%s-%s.tar.xz" % (rng.choice(("upstream", "gnome_downloads")), stem, stem, ver),
            "  ref: %s" % self.hexref(32),
        ]

    def render(self, e):
        rng = self.rng
        kind = e["kind"]
        name = e["name"]
        stem = name.split("/")[-1].rsplit("-", 1)[0]
        L = ["kind: %s" % kind]
        if rng.random() < 0.3:
            L.append("description: %s" % q("The %s component (layer %d)" % (stem, e["layer"])))
        L.append("")
        dep_lines = self.render_deps(e["deps"], kind)
        if dep_lines:
            L += dep_lines + [""]

        if kind == "import":
            if self.sysroot and e["layer"] == 0 and name == self.elements[0]["name"]:
                L += ["sources:", "- kind: local", "  path: sysroot"]
                return L
            L += ["sources:", "- kind: local", "  path: %s" % self.local_files(name, rng.randint(1, 4))]
            if rng.random() < 0.3:
                L += ["", "config:", "  target: \"%{prefix}\""]
            return L

        if kind == "stack":
            if not e["deps"]:
                L.append("depends: []")
            return L

        if kind == "compose":
            L += ["config:", "  include:", "  - runtime", "  exclude:", "  - debug"]
            if rng.random() < 0.5:
                L += ["  - devel"]
            if rng.random() < 0.3:
                L += ["  integrate: false"]
            return L

        if self.sysroot:
            return L + self.render_buildable(name, stem)

        # Build kinds.
        if rng.random() < 0.35:
            L.insert(1, "(@): include/%s" % rng.choice(("common-flags.yml", "strip.yml", "full-flags.yml")))
        L += ["sources:"] + self.tar_source(stem)
        if rng.random() < 0.12:
            L += ["- kind: local", "  path: %s" % self.local_files(name, 1), "  directory: extra"]
        L.append("")

        variables = []
        if kind == "autotools":
            if rng.random() < 0.6:
                variables.append("  conf-local: --disable-static --enable-%s" % rng.choice(WORDS))
        elif kind == "cmake":
            variables.append("  cmake-local: -DBUILD_TESTING=OFF -DWITH_%s=ON" % rng.choice(WORDS).upper())
        elif kind == "meson":
            variables.append("  meson-local: -Dtests=false -D%s=enabled" % rng.choice(WORDS))
        elif kind == "make":
            variables.append("  make-args: PREFIX=%{prefix} LIBDIR=%{libdir}")
        elif kind == "manual":
            variables.append("  builddir: _build")
        if rng.random() < 0.3:
            variables.append("  optimize-level: -O%d" % rng.randint(1, 3))
        if rng.random() < 0.25:
            variables += self.conditional_vars()
        if variables:
            L += ["variables:"] + variables + [""]

        if rng.random() < 0.25:
            L += ["environment:", "  %s_FLAGS: %s" % (stem.upper().replace("-", "_"), q("%{optimize-level} -pipe")), ""]

        if kind == "manual":
            L += [
                "config:",
                "  configure-commands:",
                "  - mkdir -p %{builddir}",
                "  - ./configure --prefix=%{prefix} --libdir=%{libdir}",
                "  build-commands:",
                "  - make -C %{builddir} -j%{max-jobs}",
                "  install-commands:",
                "  - make -C %{builddir} DESTDIR=%{install-root} install",
            ]
            if rng.random() < 0.3:
                L += ["  - install -Dm644 -t %{install-root}%{datadir}/doc/" + stem + " README"]
            if rng.random() < 0.2:
                L += ["  (?):", "  - debug:", "      strip-commands: []"]
        elif rng.random() < 0.3:
            L += [
                "config:",
                "  install-commands:",
                "    (>):",
                "    - rm -rf %{install-root}%{datadir}/doc/" + stem,
            ]
            if rng.random() < 0.3:
                L += ["    - mkdir -p %{install-root}%{sysconfdir}/" + stem]
        if rng.random() < 0.15:
            L += [
                "",
                "public:",
                "  bst:",
                "    split-rules:",
                "      devel:",
                "        (>):",
                "        - " + q("%{libdir}/lib" + stem + ".so"),
            ]
        return L

    def render_buildable(self, name, stem):
        """A manual element of a --buildable project: one local file, copied."""
        rng = self.rng
        L = ["sources:", "- kind: local", "  path: %s" % self.local_files(name, 1), ""]
        if rng.random() < 0.3:
            L += ["variables:", "  optimize-level: -O%d" % rng.randint(1, 3), ""]
            if rng.random() < 0.5:
                L[-1:-1] = self.conditional_vars()
        if rng.random() < 0.25:
            L += ["environment:", "  %s_FLAGS: %s" % (stem.upper().replace("-", "_"), q("%{optimize-level} -pipe")), ""]
        dest = "%{install-root}%{datadir}/" + name[: -len(".bst")]
        L += [
            "config:",
            "  build-commands:",
            "  - find . -type f | sort > manifest.txt",
            "  install-commands:",
            "  - mkdir -p " + dest,
            "  - cp -R . " + dest,
        ]
        if rng.random() < 0.2:
            L += ["  (?):", "  - debug:", "      strip-commands: []"]
        return L

    # ---------------------------------------------------------------- write
    def write(self, out):
        if os.path.exists(out):
            shutil.rmtree(out)
        os.makedirs(out)

        def put(rel, text, executable=False):
            p = os.path.join(out, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(text if isinstance(text, bytes) else text.encode())
            os.chmod(p, 0o755 if executable else 0o644)

        put("project.conf", (BUILDABLE_PROJECT_CONF if self.sysroot else PROJECT_CONF) % {"n": self.n})
        put("include/project-vars.yml", PROJECT_VARS)
        put("include/common-flags.yml", COMMON_FLAGS)
        put("include/strip.yml", STRIP)
        put("include/full-flags.yml", FULL_FLAGS)
        for e in self.elements:
            put("elements/" + e["name"], "\n".join(self.render(e)).rstrip() + "\n")
        for rel, (data, ex) in sorted(self.files.items()):
            put(rel, data, ex)
        if self.sysroot:
            shutil.copytree(self.sysroot, os.path.join(out, "sysroot"), symlinks=True)


PROJECT_CONF = """\
# Synthetic project generated by benches/gen_project.py (%(n)d elements).
name: synth
min-version: 2.0
element-path: elements

(@): include/project-vars.yml

aliases:
  upstream: https://download.example.com/sources/
  gnome_downloads: https://download.gnome.org/sources/
  gnome: https://gitlab.gnome.org/GNOME/
  github: https://github.com/

plugins:
- origin: pip
  package-name: buildstream-plugins
  elements:
  - autotools
  - cmake
  - make
  - meson
  sources:
  - git

options:
  debug:
    type: bool
    description: Build with debugging information
    default: False
  flavour:
    type: enum
    description: Which feature set to build
    values:
    - minimal
    - full
    default: full

environment:
  LC_ALL: en_US.UTF-8
  CFLAGS: "%%{optimize-level} %%{debug-flags}"
  CXXFLAGS: "%%{optimize-level} %%{debug-flags}"

elements:
  autotools:
    variables:
      conf-global: --disable-static
  cmake:
    variables:
      generator: Ninja

split-rules:
  devel:
    (>):
    - "%%{libdir}/pkgconfig/**"
"""

# --buildable: the same without plugins and aliases (nothing is downloaded).
BUILDABLE_PROJECT_CONF = PROJECT_CONF.replace(
    "Synthetic project generated by benches/gen_project.py", "Synthetic buildable project generated by benches/gen_project.py --buildable"
)
BUILDABLE_PROJECT_CONF = BUILDABLE_PROJECT_CONF[: BUILDABLE_PROJECT_CONF.index("aliases:")] + BUILDABLE_PROJECT_CONF[BUILDABLE_PROJECT_CONF.index("options:"):]
BUILDABLE_PROJECT_CONF = BUILDABLE_PROJECT_CONF[: BUILDABLE_PROJECT_CONF.index("elements:\n  autotools")] + BUILDABLE_PROJECT_CONF[BUILDABLE_PROJECT_CONF.index("split-rules:"):]

PROJECT_VARS = """\
variables:
  prefix: /usr
  optimize-level: -O2
  debug-flags: -g1
  extra-features: ""
  (?):
  - debug:
      debug-flags: -g3 -fno-omit-frame-pointer
      optimize-level: -O0
"""

COMMON_FLAGS = """\
variables:
  conf-local: --disable-gtk-doc --disable-introspection
environment:
  PKG_CONFIG_PATH: "%{libdir}/pkgconfig"
"""

STRIP = """\
variables:
  (?):
  - debug:
      strip-binaries: ""
"""

FULL_FLAGS = """\
variables:
  (?):
  - flavour == "full":
      conf-local: --enable-all-features %{extra-features}
  - flavour == "minimal":
      conf-local: --disable-all-optional
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--elements", "-n", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stats", action="store_true", help="also print build-scope statistics (slow for 20,000)")
    ap.add_argument("--buildable", metavar="SYSROOT",
                    help="only import/manual/stack elements, buildable on SYSROOT (copied into the project)")
    a = ap.parse_args()
    if a.buildable and not os.path.isdir(a.buildable):
        sys.exit("gen_project: --buildable %s: not a directory" % a.buildable)
    g = Gen(a.elements, a.seed, a.buildable)
    g.plan()
    g.write(a.outdir)
    if a.stats:
        print("gen_project: " + g.stats())
    kinds = {}
    for e in g.elements:
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    print(
        "gen_project: %d elements in %s (%s), %d local files"
        % (len(g.elements), a.outdir, ", ".join("%s %d" % kv for kv in sorted(kinds.items())), len(g.files))
    )


if __name__ == "__main__":
    main()
