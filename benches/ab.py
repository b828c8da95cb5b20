#!/usr/bin/env python3
"""Two bst-rs binaries against each other on gnome-build-meta's `show`, interleaved.

The machine's speed drifts within minutes, so two binaries are compared by alternating them
run after run (the order flipping each round) and taking medians. Two conditions:

  back-to-back   each run right after the previous one
  --idle         each run after a process that touched 300 MB and a 1 s pause, as a run
                 in bench.py follows a bst run and a pause (see benches/README.md,
                 2026-11-28, on why that is slower)

Usage: benches/ab.py BIN_A BIN_B [--idle] [--runs N] (needs benches/work's repaired corpus,
made by `bench.py --repair-corpus`). Prints, per binary, the median CPU time (user + system
of the process), the median and minimum wall time and the median of minor page faults.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

from bench import FULL, GBM_TARGETS, WORK

CORPUS = os.path.join(WORK, "gnome-corpus", "gnome-build-meta")
ARGS = ["-o", "arch", "x86_64", "show", "--deps", "all", "--format", FULL] + GBM_TARGETS
TOUCH = "b = bytearray(300 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--idle", action="store_true")
    ap.add_argument("--runs", type=int, default=20)
    opts = ap.parse_args()
    if not os.path.isdir(CORPUS):
        sys.exit("no repaired corpus at %s: run bench.py --repair-corpus first" % CORPUS)
    binaries = [os.path.abspath(opts.a), os.path.abspath(opts.b)]
    results = {b: [] for b in binaries}
    null = os.open(os.devnull, os.O_WRONLY)
    for i in range(opts.runs):
        for binary in binaries if i % 2 == 0 else binaries[::-1]:
            if opts.idle:
                subprocess.run([sys.executable, "-c", TOUCH], check=True)
                time.sleep(1.0)
            start = time.perf_counter()
            proc = subprocess.Popen([binary] + ARGS, cwd=CORPUS, stdout=null, stderr=null)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
            if status != 0:
                sys.exit("%s failed (status %d)" % (binary, status))
            results[binary].append((usage.ru_utime + usage.ru_stime, wall, usage.ru_minflt))
    for binary, runs in results.items():
        cpu = [r[0] for r in runs]
        wall = [r[1] for r in runs]
        faults = [r[2] for r in runs]
        print("%-40s cpu %6.1f ms  wall %6.1f ms (min %6.1f)  faults %6d  (%d runs)"
              % (binary, 1000 * statistics.median(cpu), 1000 * statistics.median(wall),
                 1000 * min(wall), statistics.median(faults), len(runs)))


if __name__ == "__main__":
    main()
