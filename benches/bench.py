#!/usr/bin/env python3
"""Side-by-side benchmark of `bst show` (real BuildStream 2) and `bst-rs show`.

Usually run through benches/run.sh, which builds bst-rs first:

    benches/run.sh [--quick] [--runs N] [--only NAME,...] [--list]

For every scenario, each tool gets one warm-up run and then N measured runs
(default 3; in the show scenarios, the two tools' runs alternate); the table shows the median wall time, the largest peak RSS of the
measured runs, the ratio bst/bst-rs, and whether the two tools printed the same
bytes. Python 3 standard library only.

Environment:
    BST      real BuildStream's `bst` (default: `bst` on PATH; if absent the
             bst column is skipped and bst-rs numbers are printed alone)
    BST_RS   the bst-rs binary (default: target/release/bst-rs)
"""

import argparse
import datetime
import hashlib
import os
import resource
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORK = os.path.join(HERE, "work")
DEFAULT_CORPUS = os.path.normpath(os.path.join(ROOT, "..", "shared", "corpus"))

FULL = "%{name} %{full-key}"
NAME = "%{name}"
GBM_TARGETS = [
    "core.bst",
    "sdk.bst",
    "flatpak/runtimes-repo.bst",
    "gnomeos/build-non-images.bst",
    "gnomeos/live-image.bst",
]


class Scenario:
    def __init__(self, name, what, project, options, fmt, targets, size=None, big=False, reference=None, repair_from=None):
        self.name = name
        self.what = what
        self.project = project  # directory, or None if generated on demand (size)
        self.options = options  # global options, e.g. ["-o", "arch", "x86_64"]
        self.fmt = fmt
        self.targets = targets
        self.size = size  # generated project size
        self.big = big
        self.reference = reference  # recorded expected output, used if bst is unavailable/fails
        self.repair_from = repair_from  # shipped corpus to copy and repair (opt-in scenario)

    def show_args(self):
        return self.options + ["show", "--deps", "all", "--format", self.fmt] + self.targets


def scenarios(seed, corpus):
    def gen(n):
        return os.path.join(WORK, "gen-%d-s%d" % (n, seed))

    return [
        Scenario("gen-1k", "generated, 1,000 elements, name + full key", gen(1000), [], FULL, ["all.bst"], size=1000),
        Scenario("gen-5k", "generated, 5,000 elements, name + full key", gen(5000), [], FULL, ["all.bst"], size=5000),
        Scenario("gen-5k-name", "generated, 5,000 elements, name only", gen(5000), [], NAME, ["all.bst"], size=5000),
        Scenario(
            "gen-20k", "generated, 20,000 elements, name + full key", gen(20000), [], FULL, ["all.bst"], size=20000, big=True
        ),
        Scenario(
            "gnome-build-meta",
            "GNOME + freedesktop-sdk (1,223 elements), -o arch x86_64, 5 targets",
            os.path.join(corpus, "gnome-build-meta"),
            ["-o", "arch", "x86_64"],
            FULL,
            GBM_TARGETS,
            reference=os.path.join(corpus, "gnome-build-meta.expected-keys"),
        ),
        Scenario(
            "gnome-build-meta-repaired",
            "the same on a repaired copy of the corpus (opt-in: --repair-corpus)",
            os.path.join(WORK, "gnome-corpus", "gnome-build-meta"),
            ["-o", "arch", "x86_64"],
            FULL,
            GBM_TARGETS,
            reference=os.path.join(corpus, "gnome-build-meta.expected-keys"),
            repair_from=os.path.join(corpus, "gnome-build-meta"),
        ),
    ]


# The shipped corpus lost two things in packing (see tests/gnome_build_meta.rs); neither tool
# can load it as it is. --repair-corpus benchmarks a scratch copy with them put back.
FLATTENED_SYMLINK_DIR = "subprojects/freedesktop-sdk/elements/bootstrap/symlinks"
BOOT_KEYS_RE = r"files/boot-keys/[A-Za-z0-9_./-]+"


def repair_corpus(src, dest, log):
    """Copy src to dest, restore flattened symlinks, create missing boot-key placeholders
    (empty), put the plugin code back (restore_plugins). Returns the placeholder paths
    (relative to dest)."""
    import json
    import re

    stamp = os.path.join(os.path.dirname(dest), "repaired.json")
    if os.path.isdir(dest) and os.path.exists(stamp):
        with open(stamp) as f:
            info = json.load(f)
        if info.get("src") == src and info.get("plugins"):
            return info["placeholders"]
    log("repairing a copy of %s in %s ..." % (src, os.path.relpath(dest, ROOT)))
    shutil.rmtree(os.path.dirname(dest), ignore_errors=True)
    shutil.copytree(src, dest, symlinks=True)
    for d, dirs, files in os.walk(dest):
        os.chmod(d, 0o755)
        for fn in files:
            p = os.path.join(d, fn)
            if not os.path.islink(p):
                os.chmod(p, os.stat(p).st_mode | 0o200)
    for d, _, files in os.walk(os.path.join(dest, FLATTENED_SYMLINK_DIR)):
        for fn in files:
            p = os.path.join(d, fn)
            if not os.path.islink(p):
                with open(p) as f:
                    target = f.read().strip()
                os.remove(p)
                os.symlink(target, p)
    wanted = set()
    for d, _, files in os.walk(dest):
        for fn in files:
            if fn.endswith((".bst", ".yml", ".yaml", ".conf")):
                with open(os.path.join(d, fn), errors="replace") as f:
                    wanted.update(re.findall(BOOT_KEYS_RE, f.read()))
    placeholders = sorted(p for p in wanted if not os.path.lexists(os.path.join(dest, p)))
    for p in placeholders:
        os.makedirs(os.path.dirname(os.path.join(dest, p)), exist_ok=True)
        open(os.path.join(dest, p), "wb").close()
    restore_plugins(dest, log)
    with open(stamp, "w") as f:
        json.dump({"src": src, "placeholders": placeholders, "plugins": True}, f)
    return placeholders


# Real bst needs the plugin code that packing removed (see ../shared/corpus/README.md): each
# plugin junction gets the .py files of the package version its PKG-INFO names, and the two
# projects' local collect_initial_scripts plugins a minimal stand-in (COLLECT_INITIAL_SCRIPTS).
PLUGIN_DISTS = {
    # subproject directory (relative to the copy) -> (pip requirement, package directory)
    "subprojects/buildstream-plugins": ("buildstream-plugins==2.7.0", "buildstream_plugins"),
    "subprojects/buildstream-plugins-community": ("buildstream-plugins-community==2.3.1", "buildstream_plugins_community"),
    "subprojects/freedesktop-sdk/subprojects/buildstream-plugins": ("buildstream-plugins==2.5.0", "buildstream_plugins"),
    "subprojects/freedesktop-sdk/subprojects/buildstream-plugins-community": ("buildstream-plugins-community==2.3.1", "buildstream_plugins_community"),
}
LOCAL_PLUGINS = ["plugins/collect_initial_scripts.py",
                 "subprojects/freedesktop-sdk/plugins/elements/collect_initial_scripts.py"]

# Upstream's plugin code is not available here; for `show` only what enters the cache key
# matters: the class attributes (no sources, no reverse runtime dependencies, artifact
# version 0) and get_unique_key(). bst-rs implements the same (src/element/community.rs).
COLLECT_INITIAL_SCRIPTS = '''"""collect_initial_scripts: a stand-in written by benches/bench.py for `show`.

Same configuration, class attributes and unique key as the upstream plugin of
freedesktop-sdk and gnome-build-meta; it cannot build (assemble raises).
"""
from buildstream import Element, ElementError


class CollectInitialScriptsElement(Element):
    BST_MIN_VERSION = "2.0"
    BST_FORBID_RDEPENDS = True
    BST_FORBID_SOURCES = True

    def configure(self, node):
        node.validate_keys(["path"])
        self.path = node.get_str("path")

    def preflight(self):
        pass

    def get_unique_key(self):
        return {"path": self.path}

    def configure_sandbox(self, sandbox):
        pass

    def stage(self, sandbox):
        pass

    def assemble(self, sandbox):
        raise ElementError("collect_initial_scripts stand-in: building is not supported")


def setup():
    return CollectInitialScriptsElement
'''


def plugin_dists(log):
    """The plugin packages (sdists/wheels), downloaded once into work/plugin-dists with pip
    in a private venv (sdists need setuptools and wheel to be prepared)."""
    import glob

    dists = os.path.join(WORK, "plugin-dists")
    os.makedirs(dists, exist_ok=True)
    venv = os.path.join(WORK, "plugin-venv")
    pip = os.path.join(venv, "bin", "pip")
    found = {}
    for req, _ in PLUGIN_DISTS.values():
        name, version = req.split("==")
        stem = name.replace("-", "_")
        have = [p for p in glob.glob(os.path.join(dists, "*")) if
                os.path.basename(p).replace("-", "_").startswith("%s_%s" % (stem, version)) and
                os.path.basename(p).endswith((".tar.gz", ".whl"))]
        if not have:
            if not os.path.exists(pip):
                log("creating %s for pip ..." % os.path.relpath(venv, ROOT))
                subprocess.run([sys.executable, "-m", "venv", venv], check=True)
                subprocess.run([pip, "install", "-q", "setuptools", "wheel"], check=True)
            log("downloading %s ..." % req)
            subprocess.run([pip, "download", "-q", "--no-deps", "--no-build-isolation", req, "-d", dists], check=True)
            return plugin_dists(log)
        found[req] = have[0]
    return found


def restore_plugins(dest, log):
    """Put the plugin code back into the copy at dest, so real bst can load it."""
    import tarfile
    import zipfile

    dists = plugin_dists(log)
    for sub, (req, pkg) in PLUGIN_DISTS.items():
        target = os.path.join(dest, sub, "src", pkg)
        archive = dists[req]
        if archive.endswith(".whl"):
            with zipfile.ZipFile(archive) as z:
                members = [(n[len(pkg) + 1:], z.read(n)) for n in z.namelist()
                           if n.startswith(pkg + "/") and n.endswith(".py")]
        else:
            with tarfile.open(archive) as t:
                members = []
                for m in t.getmembers():
                    parts = m.name.split("/")
                    if m.isfile() and m.name.endswith(".py") and parts[1:3] == ["src", pkg]:
                        members.append(("/".join(parts[3:]), t.extractfile(m).read()))
        for rel, data in members:
            p = os.path.join(target, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
        log("  %s: %d plugin files from %s" % (sub, len(members), os.path.basename(archive)))
    for rel in LOCAL_PLUGINS:
        p = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(COLLECT_INITIAL_SCRIPTS)


def placeholder_dependent(bst_rs, sc, placeholders, first_output):
    """Names of elements whose keys change when the placeholders' contents change
    (their recorded keys come from unknown placeholder contents, so they cannot match)."""
    paths = [os.path.join(sc.project, p) for p in placeholders]
    try:
        for p in paths:
            with open(p, "wb") as f:
                f.write(b"different placeholder\n")
        out = subprocess.run([bst_rs, "-C", sc.project] + sc.show_args(), capture_output=True).stdout
    finally:
        for p in paths:
            open(p, "wb").close()
    a = dict(l.split(" ", 1) for l in first_output.decode().splitlines() if " " in l)
    b = dict(l.split(" ", 1) for l in out.decode().splitlines() if " " in l)
    return {k for k in a if a[k] != b.get(k)}


def drop_elements(output, names):
    return b"".join(l for l in output.splitlines(True) if l.split(b" ", 1)[0].decode() not in names)


# --------------------------------------------------------------------- running


class Result:
    def __init__(self):
        self.times = []
        self.rss_kb = []
        self.cpu = []
        self.loads = []  # (1-min load average before, after) of each timed build run
        self.output = None  # bytes of the first measured run
        self.unstable = False  # output differed between runs
        self.error = None  # short reason if the tool failed
        self.skipped = None  # reason if not run

    @property
    def ok(self):
        return self.error is None and self.skipped is None and bool(self.times)

    def median(self):
        return statistics.median(self.times)

    def peak_mb(self):
        return max(self.rss_kb) / 1024.0


# The CPU time of a run is that of its whole process tree, taken from a fresh cgroup (v1
# cpuacct or v2 cpu.stat) the tool is started in: it includes casd, buildbox-run, FUSE and the
# compilers in the sandboxes, which getrusage() misses (bubblewrap's PID namespace). Without a
# writable cgroup hierarchy it falls back to getrusage() of the waited-for children.
# The harness itself moves into the cgroup before starting the tool and back out after it,
# and its own CPU time meanwhile is subtracted: the tool is then started without a
# `preexec_fn`, so Python can vfork instead of forking the whole harness, which cost ~13 ms of
# wall time per run (measured on gnome-build-meta's show: 0.249 s median in the cgroup through
# preexec_fn, 0.236 s without a cgroup, 0.237 s plain Popen).
CGROUP_V1 = "/sys/fs/cgroup/cpuacct"
CGROUP_V2 = "/sys/fs/cgroup"
_cgroup_seq = [0]


def _new_cgroup():
    """(path, reader) of a fresh cgroup, or None."""
    if os.path.exists(os.path.join(CGROUP_V2, "cgroup.controllers")):
        base, v2 = CGROUP_V2, True
    elif os.path.exists(os.path.join(CGROUP_V1, "cpuacct.usage")):
        base, v2 = CGROUP_V1, False
    else:
        return None
    home = _own_cgroup(base, v2)
    if home is None:
        return None
    _cgroup_seq[0] += 1
    path = os.path.join(base, "bst-bench-%d-%d" % (os.getpid(), _cgroup_seq[0]))
    try:
        os.mkdir(path)
    except OSError:
        return None

    def read():
        try:
            if v2:
                with open(os.path.join(path, "cpu.stat")) as f:
                    usage = dict(l.split() for l in f if l.strip())
                return int(usage["usage_usec"]) / 1e6
            with open(os.path.join(path, "cpuacct.usage")) as f:
                return int(f.read()) / 1e9
        except (OSError, KeyError, ValueError):
            return None

    return path, read, home


def _own_cgroup(base, v2):
    """The directory of the cgroup this process is in, in the hierarchy mounted at base."""
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, rel = line.rstrip("\n").split(":", 2)
                if controllers == "" if v2 else "cpuacct" in controllers.split(","):
                    return os.path.join(base, rel.lstrip("/"))
    except (OSError, ValueError):
        pass
    return None


def _move_self(cgroup):
    """Moves this process (all its threads) into cgroup; False if not allowed."""
    try:
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
        return True
    except OSError:
        return False


def _own_cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def cpu_source():
    """What the cpu columns measure."""
    cg = _new_cgroup()
    if cg is None:
        return "getrusage() of the tool and its waited-for children"
    os.rmdir(cg[0])
    return "the tool's whole process tree (cgroup %s)" % os.path.dirname(cg[0])


def run_once(argv, out_path, err_path, timeout, env=None):
    """Run argv; return (exit code, wall s, peak RSS in KiB, CPU s, timed_out).

    Peak RSS is ru_maxrss from wait4() on the child: the largest resident set
    of the child or of any descendant it waited for (as /usr/bin/time's %M).
    CPU is the whole process tree's, from a cgroup when possible (see _new_cgroup).
    """
    cg = _new_cgroup()
    # Inside the cgroup (if allowed; else its usage stays 0 and getrusage() is reported).
    inside = cg is not None and _move_self(cg[0])
    own_before = _own_cpu()

    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True, env=env)
        timed_out = []

        def kill():
            timed_out.append(True)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
    own = _own_cpu() - own_before
    if inside:
        _move_self(cg[2])
    cpu = ru.ru_utime + ru.ru_stime
    if cg is not None:
        # bst's casd may take a moment to exit after bst: wait up to 5 s for the cgroup to
        # empty, so its CPU counts and the cgroup can be removed (else it is left behind).
        for _ in range(50):
            try:
                with open(os.path.join(cg[0], "cgroup.procs")) as f:
                    if not f.read().strip():
                        break
            except OSError:
                break
            time.sleep(0.1)
        tree = cg[1]()
        if tree and inside:
            cpu = max(tree - own, 0.0)
        try:
            os.rmdir(cg[0])
        except OSError:
            pass
    return p.returncode, wall, ru.ru_maxrss, cpu, bool(timed_out)


def error_summary(err_path, code, timed_out, timeout):
    if timed_out:
        return "timed out after %ds" % timeout
    try:
        with open(err_path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        lines = []
    # Skip BuildStream's "[--:--:--][...] START/FAILURE ..." status lines.
    lines = [l.strip() for l in lines if l.strip() and not l.startswith("[")]
    msg = lines[0] if lines else "(no message)"
    if len(msg) > 160:
        msg = msg[:157] + "..."
    return "exit %d: %s" % (code, msg)


def measure(tool, argv, sc, runs, warmup, timeout, log, env=None, check=None, before=None, r=None, of=None):
    """Run argv (warm-up, then `runs` measured runs); return a Result (or add to `r`).

    env: the environment (default: ours). check(err_path) -> None, or why the run does not
    count (a failure). before(i): called before run i (i = 0 for the warm-up if any), untimed.
    of: the number of measured runs planned in all, for the log's labels, when `r` is filled
    a few runs at a time (default: `runs`).
    """
    r = r if r is not None else Result()
    d = os.path.join(WORK, "out")
    os.makedirs(d, exist_ok=True)
    base = os.path.join(d, "%s.%s" % (sc.name, tool))
    total = runs + (1 if warmup else 0)
    for i in range(total):
        is_warmup = warmup and i == 0
        label = "warm-up" if is_warmup else "run %d/%d" % (len(r.times) + 1, of or runs)
        out_path, err_path = base + ".out", base + ".err"
        if before is not None:
            before(i)
        code, wall, rss, cpu, timed_out = run_once(argv, out_path, err_path, timeout, env)
        log("  %-7s %-9s %8.2f s wall %8.2f s cpu %8.1f MB  exit %d%s"
            % (tool, label, wall, cpu, rss / 1024.0, code, " (timeout)" if timed_out else ""))
        if code != 0 or timed_out:
            r.error = error_summary(err_path, code, timed_out, timeout)
            log("  %-7s failed: %s   (full stderr: %s)" % (tool, r.error, os.path.relpath(err_path, ROOT)))
            return r
        bad = check(err_path) if check is not None else None
        if bad:
            r.error = bad
            log("  %-7s failed: %s   (full stderr: %s)" % (tool, bad, os.path.relpath(err_path, ROOT)))
            return r
        if is_warmup:
            continue
        with open(out_path, "rb") as f:
            data = f.read()
        if r.output is None:
            r.output = data
        elif data != r.output:
            r.unstable = True
        r.times.append(wall)
        r.rss_kb.append(rss)
        r.cpu.append(cpu)
    return r


# Seconds of rest before each interleaved run: right after bst exits, a bst-rs run measured
# 0.15-0.18 s against 0.12-0.13 s one second later (the host still busy with the previous
# run's aftermath: bst writes its cache directory and frees 160 MB), so each run starts
# after the same pause, whichever tool ran before.
SETTLE = 1.0


def interleaved(argv_bst, argv_rs, sc, runs, timeout, log):
    """Warm both tools up, then alternate their measured runs (bst, bst-rs, bst, ...), so that
    the host's speed drifting during the scenario slows both alike. A tool that fails stops
    being run; the other goes on."""
    rb = measure("bst", argv_bst, sc, 0, True, timeout, log)
    rr = measure("bst-rs", argv_rs, sc, 0, True, timeout, log)
    settle = lambda _i: time.sleep(SETTLE)
    for _ in range(runs):
        for tool, argv, r in (("bst", argv_bst, rb), ("bst-rs", argv_rs, rr)):
            if r.error is None:
                measure(tool, argv, sc, 1, False, timeout, log, before=settle, r=r, of=runs)
    return rb, rr


def compare(a, b, a_name, b_name, limit=5):
    """Describe the differences between two outputs; return (n_differing, text lines)."""
    al = a.decode("utf-8", "replace").splitlines()
    bl = b.decode("utf-8", "replace").splitlines()
    notes = []
    if len(al) != len(bl):
        notes.append("%s printed %d lines, %s %d" % (a_name, len(al), b_name, len(bl)))
    amap = {}
    for l in al:
        amap.setdefault(l.split(" ", 1)[0], l)
    bmap = {}
    for l in bl:
        bmap.setdefault(l.split(" ", 1)[0], l)
    diff = [k for k in amap if k in bmap and amap[k] != bmap[k]]
    only_a = [k for k in amap if k not in bmap]
    only_b = [k for k in bmap if k not in amap]
    if diff:
        notes.append("%d elements differ; the first %d in %s's (dependency) order:" % (len(diff), min(limit, len(diff)), a_name))
    for k in diff[:limit]:
        notes.append("  %s: %s" % (a_name, amap[k]))
        notes.append("  %s: %s" % (b_name, bmap[k]))
    if only_a:
        notes.append("%d elements only in %s's output, e.g. %s" % (len(only_a), a_name, ", ".join(only_a[:3])))
    if only_b:
        notes.append("%d elements only in %s's output, e.g. %s" % (len(only_b), b_name, ", ".join(only_b[:3])))
    if not diff and not only_a and not only_b and al != bl:
        notes.append("same lines, different order (or duplicate lines)")
    n = len(diff) + len(only_a) + len(only_b)
    return max(n, 1 if al != bl else 0), notes


# ------------------------------------------------------------------ build scenarios
#
# `build` side by side. Real bst runs with BUILD_ENV_NOTE's PATH; bst-rs with ours (it finds
# the buildbox tools itself, and must not pick up the wrapper).

XDG_CACHE = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
BUILDBOX_BIN = os.path.join(XDG_CACHE, "bst-rs", "buildbox", "bin")
HELLO_SYSROOT = os.path.join(ROOT, "testprojects", "hello", "sysroot")
CCHAIN = os.path.join(ROOT, "testprojects", "c-chain")
CCHAIN_ELEMENTS = ["liba", "libb", "libc", "libd", "app"]
CUPSTREAM = os.path.join(HERE, "c-upstream")
CCHAIN_HEADER = ("files/liba/include/chain_a.h", "#define CHAIN_A_SCALE 3\n", "#define CHAIN_A_SCALE 5\n")

# recc-in-sandbox.md §3.3 B: BuildStream 2.8.1 lets casd serve the sandbox's REAPI socket
# inside the staged tree, which fails on casd's FUSE staging; so real bst's element sandboxes
# stage with copy-or-link (casd's own local executions keep FUSE).
RUN_WRAPPER = """#!/bin/sh
# Written by benches/bench.py: buildbox-run for real bst (recc-in-sandbox.md 3.3 B).
case " $* " in
  *" --capabilities "*|*" --stdout-file="*) exec buildbox-run-bubblewrap "$@" ;;
esac
exec buildbox-run-bubblewrap --staging-mode=copy-or-link "$@"
"""


class BuildScenario:
    big = False
    repair_from = None
    size = None

    def __init__(self, name, what, kind, size=None, opt_in=False):
        self.name = name
        self.what = what
        self.kind = kind  # "noop" | "c-chain" | "c-upstream"
        self.build_size = size
        self.opt_in = opt_in  # --c-upstream


def build_scenarios():
    return [
        BuildScenario("noop-1k", "build: no-op `build all.bst` of a fully cached generated 1,000-element graph "
                      "(import/manual/stack; cache shared by both tools)", "noop", 1000),
        BuildScenario("c-chain-cold", "build: testprojects/c-chain from an empty cache (48 recc compiles)", "c-chain"),
        BuildScenario("c-chain-rebuild", "build: c-chain again after a change of liba's public header "
                      "(recc action-cache hits for the TUs that do not include it)", "c-chain"),
        BuildScenario("c-upstream-cold", "build: zlib, xz, libpng, libjpeg-turbo, libxml2 (Debian's upstream tarballs; "
                      "autotools, cmake, configure) through recc, empty cache (opt-in: --c-upstream)", "c-upstream",
                      opt_in=True),
        BuildScenario("c-upstream-rebuild", "build: the same after a comment is appended to zlib's public header "
                      "zlib.h (zlib, libpng, libxml2 rebuilt; opt-in: --c-upstream)", "c-upstream", opt_in=True),
    ]


def bst_env():
    """The environment real bst builds with: the buildbox-run wrapper, then the buildbox tools
    scripts/install-buildbox.sh installed (if any), then PATH."""
    d = os.path.join(WORK, "bst-bin")
    os.makedirs(d, exist_ok=True)
    w = os.path.join(d, "buildbox-run")
    with open(w + ".tmp", "w") as f:
        f.write(RUN_WRAPPER)
    os.chmod(w + ".tmp", 0o755)
    os.replace(w + ".tmp", w)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([d, BUILDBOX_BIN, env.get("PATH", "")])
    return env


def write_user_conf(d):
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "user.conf")
    with open(conf, "w") as f:
        f.write("cachedir: %s/cache\nlogdir: %s/logs\n" % (d, d))
    return conf


def summary_check(pattern):
    """A `check` for measure(): the run's stderr must match `pattern` (its pipeline summary)."""
    import re

    def check(err_path):
        with open(err_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        if re.search(pattern, text):
            return None
        got = re.findall(r"Build Queue: [^\n]*", text)
        return "expected /%s/ in the summary, got %s" % (pattern, got[-1].strip() if got else "no Build Queue line")

    return check


def ensure_buildable(n, seed, log):
    project = os.path.join(WORK, "gen-build-%d-s%d" % (n, seed))
    stamp_path = os.path.join(project, ".gen-stamp")
    with open(os.path.join(HERE, "gen_project.py"), "rb") as f:
        want = "%s n=%d seed=%d buildable\n" % (hashlib.sha256(f.read()).hexdigest(), n, seed)
    try:
        with open(stamp_path) as f:
            if f.read() == want:
                return project, False
    except OSError:
        pass
    log("generating %s (%d elements, buildable) ..." % (os.path.relpath(project, ROOT), n))
    subprocess.run(
        [sys.executable, os.path.join(HERE, "gen_project.py"), project, "--elements", str(n), "--seed", str(seed),
         "--buildable", HELLO_SYSROOT],
        check=True,
        stdout=sys.stderr,
    )
    with open(stamp_path, "w") as f:
        f.write(want)
    return project, True


def run_noop(sc, ctx, log):
    """noop-1k: populate a persistent cache once (bst-rs build, untimed), then time no-op
    builds of both tools on it; every run must build nothing."""
    if not os.path.isdir(HELLO_SYSROOT):
        return None, None, "skipped: %s missing (scripts/make-hello-sysroot.sh)" % os.path.relpath(HELLO_SYSROOT, ROOT)
    project, fresh = ensure_buildable(sc.build_size, ctx.seed, log)
    d = os.path.join(WORK, "build-cache", "%s-s%d" % (sc.name, ctx.seed))
    if fresh:
        shutil.rmtree(d, ignore_errors=True)
    conf = write_user_conf(d)
    out_dir = os.path.join(WORK, "out")
    os.makedirs(out_dir, exist_ok=True)
    log("  populating %s with bst-rs (untimed; a no-op when already cached) ..." % os.path.relpath(d, ROOT))
    code, wall, _, _, timed_out = run_once(
        [ctx.bst_rs, "--no-interactive", "-c", conf, "-C", project, "build", "all.bst"],
        os.path.join(out_dir, sc.name + ".populate.out"), os.path.join(out_dir, sc.name + ".populate.err"), ctx.timeout)
    log("  populate: exit %d, %.1f s" % (code, wall))
    if code != 0 or timed_out:
        err = error_summary(os.path.join(out_dir, sc.name + ".populate.err"), code, timed_out, ctx.timeout)
        return None, None, "populating the cache with bst-rs failed: %s" % err
    # How many are "skipped" differs: bst counts only the elements its dynamic plan needs (966
    # of 1,000 here: build-only dependencies of cached elements are not), bst-rs all of them.
    check = summary_check(r"Build Queue: processed 0,\s+skipped \d+,\s+failed 0")
    rb = Result()
    if ctx.bst is not None:
        argv = [ctx.bst, "--no-interactive", "-c", conf, "-C", project, "build", "all.bst"]
        rb = measure("bst", argv, sc, ctx.runs, True, ctx.timeout, log, env=bst_env(), check=check)
    else:
        rb.skipped = "no bst"
    argv = [ctx.bst_rs, "--no-interactive", "-c", conf, "-C", project, "build", "all.bst"]
    rr = measure("bst-rs", argv, sc, ctx.runs, True, ctx.timeout, log, check=check)
    status = []
    ok = [t for t, r in (("bst", rb), ("bst-rs", rr)) if r.ok]
    if ok:
        status.append("%s: nothing built" % ", ".join(ok))
    return rb, rr, "; ".join(status)


def cchain_tus():
    """Per element: (TUs, TUs including the header the rebuild changes)."""
    name = os.path.basename(CCHAIN_HEADER[0])
    out = {}
    for e in CCHAIN_ELEMENTS:
        src = os.path.join(CCHAIN, "files", e, "src")
        total = including = 0
        for fn in os.listdir(src):
            if fn.endswith(".c"):
                total += 1
                with open(os.path.join(src, fn)) as f:
                    if any(l.startswith("#include") and name in l for l in f):
                        including += 1
        out[e] = (total, including)
    return out


def recc_counts(logdir, project_name, elements, since):
    """(hits, misses, unreachable) of recc in the build logs of each element written since
    `since` (a time.time(); elements not built then are skipped);
    unreachable counts compiles whose action-cache query failed (recc then reports a miss).
    Where recc logs to stderr (c-chain), compiles whose stderr goes elsewhere (configure's
    tests write to config.log) are not seen; c-upstream has recc log to files and copies
    their hit and miss lines into the log, so it sees every compile."""
    hits = misses = unreachable = 0
    for e in elements:
        d = os.path.join(logdir, project_name, e)
        logs = [f for f in os.listdir(d) if "-build." in f] if os.path.isdir(d) else []
        for log in logs:
            # A build log is named after the time its build started (local time, whole
            # seconds): `<key>-build.YYYYMMDD-HHMMSS.log`. Its mtime is no guide: the cold
            # build's last log can be written in the very second the rebuild starts.
            stamp = log.rsplit("-build.", 1)[1].removesuffix(".log")
            try:
                begun = time.mktime(time.strptime(stamp, "%Y%m%d-%H%M%S"))
            except ValueError:
                begun = os.path.getmtime(os.path.join(d, log))
            if begun < int(since):
                continue
            with open(os.path.join(d, log), "rb") as f:
                text = f.read().decode("utf-8", "replace")
            hits += text.count("Action Cache hit for [")
            misses += text.count("Action not cached")
            unreachable += text.count("Error while querying action cache")
    return hits, misses, unreachable


class TwoPhase:
    """A project built cold, then rebuilt after a source change (c-chain, c-upstream)."""

    def __init__(self, name, src, parts, prepare, skip_hint, target, elements, change, summaries, want=None, app=None):
        self.name = name  # project name and scenario prefix
        self.src = src  # the project directory in the repository
        self.parts = parts  # what to copy to the scratch project (the sysroot is hard-linked)
        self.prepare = prepare  # command that makes src buildable (sysroot, sources)
        self.skip_hint = skip_hint
        self.target = target
        self.elements = elements  # elements whose build logs hold recc's lines
        self.change = change  # (path, function(text) -> changed text)
        self.summaries = summaries  # Build Queue summary after (cold, rebuild)
        self.want = want  # expected recc (hits, misses) after (cold, rebuild), or None
        self.app = app  # (path in the target's checkout, expected output cold, after change)


def two_phase_specs():
    tus = cchain_tus()
    total = sum(t for t, _ in tus.values())
    changed = sum(i for _, i in tus.values())
    with open(os.path.join(CCHAIN, "expected", "app.out"), "rb") as f:
        app_before = f.read()
    with open(os.path.join(CCHAIN, "expected", "app-liba-scale-5.out"), "rb") as f:
        app_after = f.read()
    return {
        "c-chain": TwoPhase(
            "c-chain", CCHAIN, ["project.conf", "elements", "files", "expected"],
            [os.path.join(ROOT, "scripts", "prepare-c-chain.sh"), "--no-build"],
            "no c-chain sysroot (scripts/setup.sh --sysroot)", "app.bst", CCHAIN_ELEMENTS,
            (CCHAIN_HEADER[0], lambda t: t.replace(CCHAIN_HEADER[1], CCHAIN_HEADER[2])),
            ("processed 6, skipped 0, failed 0", "processed 5, skipped 1, failed 0"),
            want=((0, total), (total - changed, changed)),
            app=("usr/bin/c-chain-app", app_before, app_after)),
        "c-upstream": TwoPhase(
            "c-upstream", CUPSTREAM, ["project.conf", "elements", "sources"],
            [os.path.join(HERE, "prepare-c-upstream.sh"), "--no-build"],
            "benches/prepare-c-upstream.sh failed (needs the c-chain-tools sysroot and the Debian mirror)",
            "all.bst", ["zlib", "xz", "libpng", "libjpeg", "libxml2"],
            ("sources/zlib/zlib.h", lambda t: t + "/* bst-rs benchmark: a comment in the public header */\n"),
            ("processed 7, skipped 0, failed 0", "processed 4, skipped 3, failed 0")),
    }


def run_two_phase(spec, ctx, log):
    """<name>-cold and <name>-rebuild, for each tool and run: a fresh cache, a timed cold
    build, checks, the source change, a timed rebuild, checks. The checks: the pipeline
    summary, recc's hits/misses in the build logs (against spec.want if given, else only
    reported), recc reaching the socket, and the app's output (spec.app). Returns
    {scenario name: (bst Result, bst-rs Result, status, problems)}."""
    cold_sc, reb_sc = [s for s in build_scenarios() if s.kind == spec.name]
    prep = subprocess.run(spec.prepare, capture_output=True, text=True)
    if prep.returncode != 0:
        why = "skipped: %s: %s" % (spec.skip_hint, (prep.stderr.strip().splitlines() or ["?"])[-1])
        return {cold_sc.name: (None, None, why, []), reb_sc.name: (None, None, why, [])}
    results = {cold_sc.name: {}, reb_sc.name: {}}
    counts = {cold_sc.name: {}, reb_sc.name: {}}
    problems = []
    out_dir = os.path.join(WORK, "out")
    os.makedirs(out_dir, exist_ok=True)
    for tool in ("bst", "bst-rs"):
        cold, reb = Result(), Result()
        results[cold_sc.name][tool], results[reb_sc.name][tool] = cold, reb
        if tool == "bst" and ctx.bst is None:
            cold.skipped = reb.skipped = "no bst"
            continue
        exe = ctx.bst if tool == "bst" else ctx.bst_rs
        env = bst_env() if tool == "bst" else None
        base = os.path.join(WORK, spec.name, tool)
        shutil.rmtree(base, ignore_errors=True)
        project = os.path.join(base, "project")
        os.makedirs(project)
        for part in spec.parts:
            src = os.path.join(spec.src, part)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(project, part), symlinks=True)
            else:
                shutil.copy2(src, project)
        subprocess.run(["cp", "-al", os.path.join(spec.src, "sysroot"), os.path.join(project, "sysroot")], check=True)
        changed_file = os.path.join(project, spec.change[0])
        with open(changed_file) as f:
            original = f.read()
        for i in range(ctx.build_runs):
            with open(changed_file, "w") as f:
                f.write(original)
            d = os.path.join(base, "run%d" % i)
            conf = write_user_conf(d)
            argv = [exe, "--no-interactive", "-c", conf, "-C", project, "build", spec.target]
            for phase, (sc, r) in enumerate(((cold_sc, cold), (reb_sc, reb))):
                if r.error:
                    break
                if phase == 1:
                    with open(changed_file, "w") as f:
                        f.write(spec.change[1](original))
                out_path = os.path.join(out_dir, "%s.%s.out" % (sc.name, tool))
                err_path = os.path.join(out_dir, "%s.%s.err" % (sc.name, tool))
                started = time.time() - 1
                load0 = os.getloadavg()[0]
                code, wall, rss, cpu, timed_out = run_once(argv, out_path, err_path, ctx.timeout, env)
                load1 = os.getloadavg()[0]
                r.loads.append((load0, load1))
                log("  %-7s %-19s run %d/%d %8.2f s wall %8.2f s cpu %8.1f MB  exit %d%s  (load average %.1f -> %.1f)"
                    % (tool, sc.name, i + 1, ctx.build_runs, wall, cpu, rss / 1024.0, code, " (timeout)" if timed_out else "",
                       load0, load1))
                if code != 0 or timed_out:
                    r.error = error_summary(err_path, code, timed_out, ctx.timeout)
                else:
                    r.error = summary_check("Build Queue: " + spec.summaries[phase].replace(" ", r"\s+"))(err_path)
                if r.error:
                    log("  %-7s failed: %s   (full stderr: %s)" % (tool, r.error, os.path.relpath(err_path, ROOT)))
                    if phase == 0:
                        reb.error = "the cold build failed"
                    break
                r.times.append(wall)
                r.rss_kb.append(rss)
                r.cpu.append(cpu)
                # Checks (untimed): recc's hits and misses, and what the app prints.
                hmu = recc_counts(os.path.join(d, "logs"), spec.name, spec.elements, started)
                counts[sc.name].setdefault(tool, hmu[:2])
                if spec.want and hmu[:2] != spec.want[phase]:
                    problems.append("%s: %s run %d: recc hits/misses %s, expected %s" % (sc.name, tool, i + 1, hmu[:2], spec.want[phase]))
                if hmu[2]:
                    problems.append("%s: %s run %d: recc could not reach the action cache on /run/reapi.sock in %d compiles"
                                    % (sc.name, tool, i + 1, hmu[2]))
                if spec.app:
                    co = os.path.join(d, "checkout-" + sc.name)
                    p = subprocess.run([exe, "--no-interactive", "-c", conf, "-C", project, "artifact", "checkout",
                                        "--directory", co, spec.target], capture_output=True, env=env)
                    binary = os.path.join(co, spec.app[0])
                    got = subprocess.run([binary], capture_output=True).stdout if p.returncode == 0 and os.path.exists(binary) else None
                    if got != spec.app[1 + phase]:
                        problems.append("%s: %s run %d: the app printed %r, expected %r" % (sc.name, tool, i + 1, got, spec.app[1 + phase]))
            # Keep the logs of the last run (work/<name>/<tool>/run<i>/logs) for analysis;
            # drop the cache.
            shutil.rmtree(os.path.join(d, "cache"), ignore_errors=True)
    rows = {}
    for sc in (cold_sc, reb_sc):
        rb, rr = results[sc.name]["bst"], results[sc.name]["bst-rs"]
        status = []
        seen = [t for t in ("bst", "bst-rs") if counts[sc.name].get(t)]
        if seen:
            status.append("recc hit/miss " + ", ".join("%s %d/%d" % ((t,) + counts[sc.name][t]) for t in seen))
        if not spec.want and len(seen) == 2 and counts[sc.name]["bst"] != counts[sc.name]["bst-rs"]:
            problems.append("%s: recc hits/misses differ between the tools: bst %s, bst-rs %s"
                            % (sc.name, counts[sc.name]["bst"], counts[sc.name]["bst-rs"]))
        mine = [p for p in problems if p.startswith(sc.name + ":")]
        if mine:
            status.append("CHECK FAILED (below)")
        elif spec.app and seen:
            status.append("app output as expected")
        rows[sc.name] = (rb, rr, "; ".join(status), mine)
    return rows


# ------------------------------------------------------------------------ main


def generator_stamp(n, seed):
    with open(os.path.join(HERE, "gen_project.py"), "rb") as f:
        return "%s n=%d seed=%d\n" % (hashlib.sha256(f.read()).hexdigest(), n, seed)


def ensure_generated(sc, seed, log):
    stamp_path = os.path.join(sc.project, ".gen-stamp")
    want = generator_stamp(sc.size, seed)
    try:
        with open(stamp_path) as f:
            if f.read() == want:
                return
    except OSError:
        pass
    log("generating %s (%d elements) ..." % (os.path.relpath(sc.project, ROOT), sc.size))
    subprocess.run(
        [sys.executable, os.path.join(HERE, "gen_project.py"), sc.project, "--elements", str(sc.size), "--seed", str(seed)],
        check=True,
        stdout=sys.stderr,
    )
    with open(stamp_path, "w") as f:
        f.write(want)


def find_bst(arg):
    cand = arg or os.environ.get("BST") or "bst"
    if os.sep in cand:
        return cand if os.access(cand, os.X_OK) else None
    return shutil.which(cand)


def fmt_s(r):
    if r is None:
        return "-"
    if r.skipped:
        return "skipped"
    if r.error:
        return "FAILED"
    return "%.3f" % r.median() if r.median() < 10 else "%.2f" % r.median()


def fmt_cpu(r):
    return "%.2f" % statistics.median(r.cpu) if r is not None and r.ok else "-"


def fmt_mb(r):
    return "%.0f" % r.peak_mb() if r is not None and r.ok else "-"


def main():
    ap = argparse.ArgumentParser(description="bst vs bst-rs `show` benchmark")
    ap.add_argument("--runs", type=int, default=3, help="measured runs per tool and scenario (default 3)")
    ap.add_argument("--big-runs", type=int, default=1, help="measured runs for big scenarios (gen-20k; default 1, no bst warm-up)")
    ap.add_argument("--quick", action="store_true", help="skip big scenarios (gen-20k)")
    ap.add_argument("--build-runs", type=int, default=1,
                    help="measured runs of each tool for c-chain-cold/-rebuild (default 1; each from a fresh cache)")
    ap.add_argument("--no-build", action="store_true", help="skip the build scenarios (show only)")
    ap.add_argument("--only-build", action="store_true", help="only the build scenarios")
    ap.add_argument("--c-upstream", action="store_true",
                    help="also run c-upstream-cold/-rebuild (fetches Debian sources once; about 30 min with real bst)")
    ap.add_argument("--only", help="comma-separated scenario names to run")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    ap.add_argument("--bst", help="real BuildStream's bst (default: $BST, else `bst` on PATH)")
    ap.add_argument("--bst-rs", default=os.environ.get("BST_RS", os.path.join(ROOT, "target", "release", "bst-rs")),
                    help="the bst-rs binary (default: $BST_RS, else target/release/bst-rs)")
    ap.add_argument("--no-bst", action="store_true", help="do not run real bst")
    ap.add_argument("--corpus", default=DEFAULT_CORPUS,
                    help="directory holding gnome-build-meta/ and gnome-build-meta.expected-keys (default ../shared/corpus)")
    ap.add_argument("--repair-corpus", action="store_true",
                    help="also run gnome-build-meta-repaired: a scratch copy of the corpus with its packing defects fixed")
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    ap.add_argument("--timeout", type=int, default=3600, help="per-run timeout in seconds (default 3600)")
    a = ap.parse_args()

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    all_sc = scenarios(a.seed, os.path.abspath(a.corpus)) + build_scenarios()
    if a.list:
        for sc in all_sc:
            print("%-26s %s%s" % (sc.name, sc.what, "  [big: skipped by --quick]" if sc.big else ""))
        return 0
    chosen = all_sc
    if a.only:
        names = a.only.split(",")
        unknown = [n for n in names if n not in {s.name for s in all_sc}]
        if unknown:
            ap.error("unknown scenario(s): %s (see --list)" % ", ".join(unknown))
        chosen = [s for s in all_sc if s.name in names]
    else:
        chosen = [s for s in all_sc if (a.repair_corpus or not s.repair_from) and not (a.quick and s.big)]
        chosen = [s for s in chosen if a.c_upstream or not getattr(s, "opt_in", False)]
        if a.no_build:
            chosen = [s for s in chosen if not isinstance(s, BuildScenario)]
        if a.only_build:
            chosen = [s for s in chosen if isinstance(s, BuildScenario)]

    bst_rs = a.bst_rs
    if not os.access(bst_rs, os.X_OK):
        log("bench: bst-rs binary not found at %s (run `cargo build --release` or set BST_RS)" % bst_rs)
        return 2
    # Benchmark a private copy: others may rebuild target/release while we run.
    os.makedirs(os.path.join(WORK, "bin"), exist_ok=True)
    snap = os.path.join(WORK, "bin", "bst-rs.%d" % os.getpid())
    shutil.copy2(bst_rs, snap + ".tmp")
    os.replace(snap + ".tmp", snap)
    log("bench: bst-rs = %s (copied to %s)" % (bst_rs, os.path.relpath(snap, ROOT)))
    bst_rs = snap
    bst = None if a.no_bst else find_bst(a.bst)
    if bst is None:
        log("bench: real BuildStream not found (%s); printing bst-rs numbers alone" % (
            "--no-bst" if a.no_bst else "set BST=/path/to/bst or put bst on PATH"))
        bst_version = None
    else:
        v = subprocess.run([bst, "--version"], capture_output=True, text=True)
        bst_version = (v.stdout or v.stderr).strip()
        log("bench: bst = %s (%s)" % (bst, bst_version))

    os.makedirs(WORK, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="bst-bench-")
    cfg = os.path.join(tmp, "user.conf")
    with open(cfg, "w") as f:
        f.write("cachedir: %s/cache\nlogdir: %s/logs\n" % (tmp, tmp))

    class Ctx:
        pass

    ctx = Ctx()
    ctx.bst, ctx.bst_rs, ctx.runs, ctx.build_runs = bst, bst_rs, a.runs, a.build_runs
    ctx.timeout, ctx.seed = a.timeout, a.seed
    two_phase_rows = {}

    rows = []
    notes = []
    loud = []
    try:
        for sc in chosen:
            log("== %s: %s" % (sc.name, sc.what))
            if isinstance(sc, BuildScenario):
                problems = []
                if sc.kind == "noop":
                    rb, rr, status = run_noop(sc, ctx, log)
                else:
                    if sc.kind not in two_phase_rows:
                        two_phase_rows[sc.kind] = run_two_phase(two_phase_specs()[sc.kind], ctx, log)
                    rb, rr, status, problems = two_phase_rows[sc.kind][sc.name]
                if problems:
                    loud.append((sc.name, problems))
                for tool, r in (("bst", rb), ("bst-rs", rr)):
                    if r is not None and r.error:
                        status += "; %s failed" % tool
                        notes.append("%s: %s %s" % (sc.name, tool, r.error))
                loads = ["%s %s" % (t, ", ".join("%.1f->%.1f" % l for l in r.loads))
                         for t, r in (("bst", rb), ("bst-rs", rr)) if r is not None and r.loads]
                if loads:
                    notes.append("%s: 1-min load average before->after each run: %s" % (sc.name, "; ".join(loads)))
                rows.append((sc, rb, rr, status.lstrip("; ") or "-"))
                continue
            if sc.size is not None:
                ensure_generated(sc, a.seed, log)
            placeholders = None
            if sc.repair_from:
                if not os.path.isdir(sc.repair_from):
                    log("  skipped: %s does not exist" % sc.repair_from)
                    rows.append((sc, None, None, "skipped: %s absent" % sc.repair_from))
                    continue
                placeholders = repair_corpus(sc.repair_from, sc.project, log)
            if not os.path.isdir(sc.project):
                log("  skipped: %s does not exist" % sc.project)
                rows.append((sc, None, None, "skipped: %s absent" % sc.project))
                continue
            runs = a.big_runs if sc.big else a.runs
            argv_rs = [bst_rs, "-C", sc.project] + sc.show_args()
            if bst is None:
                rb = Result()
                rb.skipped = "no bst"
                rr = measure("bst-rs", argv_rs, sc, runs, True, a.timeout, log)
            else:
                argv_bst = [bst, "--no-interactive", "-c", cfg, "-C", sc.project] + sc.show_args()
                if sc.big:
                    rb = measure("bst", argv_bst, sc, runs, False, a.timeout, log)
                    rr = measure("bst-rs", argv_rs, sc, runs, True, a.timeout, log)
                else:
                    rb, rr = interleaved(argv_bst, argv_rs, sc, runs, a.timeout, log)

            # Output check.
            status = []
            if rb.ok and rr.ok:
                if rb.output == rr.output:
                    status.append("identical (%d lines)" % rb.output.count(b"\n"))
                else:
                    n, diff = compare(rb.output, rr.output, "bst", "bst-rs")
                    status.append("MISMATCH (%d elements)" % n)
                    loud.append((sc.name, diff))
            if (rr.ok or rb.ok) and sc.reference and os.path.exists(sc.reference):
                # Either tool against real bst's recorded output (bst itself on the repaired
                # copy, whose plugin code was put back).
                with open(sc.reference, "rb") as f:
                    ref = f.read()
                who = "bst" if rb.ok else "bst-rs"
                got = rb.output if rb.ok else rr.output
                skipped_note = ""
                if placeholders:
                    dep = placeholder_dependent(bst_rs, sc, placeholders, rr.output)
                    ref, got = drop_elements(ref, dep), drop_elements(got, dep)
                    skipped_note = " except %d placeholder-dependent" % len(dep)
                    notes.append("%s: %d elements depend on the %d placeholder files, so their keys cannot match "
                                 "the recorded ones and are not compared" % (sc.name, len(dep), len(placeholders)))
                if ref == got:
                    status.append("%s = recorded bst output%s" % (who, skipped_note))
                else:
                    n, diff = compare(ref, got, "recorded", who)
                    status.append("%s MISMATCH vs recorded (%d elements)" % (who, n))
                    loud.append((sc.name + " (%s vs recorded bst output)" % who, diff))
            if rb.error:
                status.append("bst failed")
                notes.append("%s: bst %s" % (sc.name, rb.error))
            if rr.error:
                status.append("bst-rs failed")
                notes.append("%s: bst-rs %s" % (sc.name, rr.error))
            for tool, r in (("bst", rb), ("bst-rs", rr)):
                if r.unstable:
                    status.append("%s output unstable" % tool)
                    loud.append((sc.name, ["%s printed different output in different runs" % tool]))
            rows.append((sc, rb, rr, "; ".join(status) or "-"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            os.remove(snap)
        except OSError:
            pass

    # ------------------------------------------------------------ the table
    print()
    print("bst-rs benchmark, %s, %s, %d cores, %s runs (median wall time; peak RSS, MiB; median user+sys CPU time)" % (
        datetime.date.today().isoformat(), platform.machine(), os.cpu_count() or 0,
        a.runs if all(not s.big for s in chosen) else "%d (big: %d)" % (a.runs, a.big_runs))
        + (", c-chain/c-upstream: %d" % a.build_runs if any(isinstance(s, BuildScenario) and s.kind != "noop" for s in chosen) else ""))
    if bst_version:
        print("bst: BuildStream %s" % bst_version)
    print("cpu s: %s" % cpu_source())
    print()
    hdr = ["scenario", "bst s", "bst-rs s", "ratio", "bst MB", "bst-rs MB", "bst cpu s", "bst-rs cpu s", "output"]
    table = []
    for sc, rb, rr, status in rows:
        ratio = "%.1fx" % (rb.median() / rr.median()) if rb is not None and rr is not None and rb.ok and rr.ok else "-"
        table.append([sc.name, fmt_s(rb), fmt_s(rr), ratio, fmt_mb(rb), fmt_mb(rr), fmt_cpu(rb), fmt_cpu(rr), status])
    widths = [max(len(h), *(len(r[i]) for r in table)) if table else len(h) for i, h in enumerate(hdr)]
    right = {1, 2, 3, 4, 5, 6, 7}

    def line(cells):
        return "| " + " | ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    print(line(hdr))
    print("|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|")
    for r in table:
        print(line(r))
    if notes:
        print()
        for n in notes:
            print("- " + n)
    if loud:
        print()
        print("!" * 72)
        print("!!! OUTPUT MISMATCH: bst-rs did not print what BuildStream printed, or a build check failed")
        for name, diff in loud:
            print("!!! %s:" % name)
            for d in diff:
                print("!!!   " + d)
        print("!!! (full outputs: %s/<scenario>.<tool>.out)" % os.path.relpath(os.path.join(WORK, "out"), ROOT))
        print("!" * 72)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
