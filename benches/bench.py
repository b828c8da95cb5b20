#!/usr/bin/env python3
"""Side-by-side benchmark of `bst show` (real BuildStream 2) and `bst-rs show`.

Usually run through benches/run.sh, which builds bst-rs first:

    benches/run.sh [--quick] [--runs N] [--only NAME,...] [--list]

For every scenario, each tool gets one warm-up run and then N measured runs
(default 3); the table shows the median wall time, the largest peak RSS of the
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
    (empty). Returns the placeholder paths (relative to dest)."""
    import json
    import re

    stamp = os.path.join(os.path.dirname(dest), "repaired.json")
    if os.path.isdir(dest) and os.path.exists(stamp):
        with open(stamp) as f:
            info = json.load(f)
        if info.get("src") == src:
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
    with open(stamp, "w") as f:
        json.dump({"src": src, "placeholders": placeholders}, f)
    return placeholders


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


def run_once(argv, out_path, err_path, timeout):
    """Run argv; return (exit code, wall s, peak RSS in KiB, CPU s, timed_out).

    Peak RSS is ru_maxrss from wait4() on the child: the largest resident set
    of the child or of any descendant it waited for (as /usr/bin/time's %M).
    """
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
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
    return p.returncode, wall, ru.ru_maxrss, ru.ru_utime + ru.ru_stime, bool(timed_out)


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


def measure(tool, argv, sc, runs, warmup, timeout, log):
    r = Result()
    d = os.path.join(WORK, "out")
    os.makedirs(d, exist_ok=True)
    base = os.path.join(d, "%s.%s" % (sc.name, tool))
    total = runs + (1 if warmup else 0)
    for i in range(total):
        is_warmup = warmup and i == 0
        label = "warm-up" if is_warmup else "run %d/%d" % (i + (0 if warmup else 1), runs)
        out_path, err_path = base + ".out", base + ".err"
        code, wall, rss, cpu, timed_out = run_once(argv, out_path, err_path, timeout)
        log("  %-7s %-9s %8.2f s wall %8.2f s cpu %8.1f MB  exit %d%s"
            % (tool, label, wall, cpu, rss / 1024.0, code, " (timeout)" if timed_out else ""))
        if code != 0 or timed_out:
            r.error = error_summary(err_path, code, timed_out, timeout)
            log("  %-7s failed: %s   (full stderr: %s)" % (tool, r.error, os.path.relpath(err_path, ROOT)))
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

    all_sc = scenarios(a.seed, os.path.abspath(a.corpus))
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

    rows = []
    notes = []
    loud = []
    try:
        for sc in chosen:
            log("== %s: %s" % (sc.name, sc.what))
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
            rb = None
            if bst is not None:
                argv = [bst, "--no-interactive", "-c", cfg, "-C", sc.project] + sc.show_args()
                rb = measure("bst", argv, sc, runs, not sc.big, a.timeout, log)
            else:
                rb = Result()
                rb.skipped = "no bst"
            argv = [bst_rs, "-C", sc.project] + sc.show_args()
            rr = measure("bst-rs", argv, sc, runs, True, a.timeout, log)

            # Output check.
            status = []
            if rb.ok and rr.ok:
                if rb.output == rr.output:
                    status.append("identical (%d lines)" % rb.output.count(b"\n"))
                else:
                    n, diff = compare(rb.output, rr.output, "bst", "bst-rs")
                    status.append("MISMATCH (%d elements)" % n)
                    loud.append((sc.name, diff))
            elif rr.ok and sc.reference and os.path.exists(sc.reference):
                with open(sc.reference, "rb") as f:
                    ref = f.read()
                got = rr.output
                skipped_note = ""
                if placeholders:
                    dep = placeholder_dependent(bst_rs, sc, placeholders, rr.output)
                    ref, got = drop_elements(ref, dep), drop_elements(got, dep)
                    skipped_note = " except %d placeholder-dependent" % len(dep)
                    notes.append("%s: %d elements depend on the %d placeholder files, so their keys cannot match "
                                 "the recorded ones and are not compared" % (sc.name, len(dep), len(placeholders)))
                if ref == got:
                    status.append("bst-rs = recorded bst output" + skipped_note)
                else:
                    n, diff = compare(ref, got, "recorded", "bst-rs")
                    status.append("MISMATCH vs recorded (%d elements)" % n)
                    loud.append((sc.name + " (vs recorded bst output)", diff))
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
    print("bst-rs show benchmark, %s, %s, %d cores, %s runs (median wall time; peak RSS, MiB; median user+sys CPU time)" % (
        datetime.date.today().isoformat(), platform.machine(), os.cpu_count() or 0,
        a.runs if all(not s.big for s in chosen) else "%d (big: %d)" % (a.runs, a.big_runs)))
    if bst_version:
        print("bst: BuildStream %s" % bst_version)
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
        print("!!! OUTPUT MISMATCH: bst-rs did not print what BuildStream printed")
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
