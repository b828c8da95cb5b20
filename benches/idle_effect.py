#!/usr/bin/env python3
"""How much slower one `bst-rs show` of gnome-build-meta is after the machine idled.

bench.py runs each show after a pause of SETTLE seconds; on a virtual machine an idle
pause leaves the next process slower (caches cold, CPUs clocked down, guest pages handed back
to the host), which weighs on a 0.1 s run and not on a 5 s one. This prints the median wall
time of the same command in four conditions, rotated so that drift hits each alike:

  back-to-back     right after the previous run
  after-idle       after a 1 s sleep
  idle+touch       after a 1 s sleep and a process that touches 200 MB
  idle+python      after a 1 s sleep and an empty Python process

Usage: benches/idle_effect.py BST_RS [ROUNDS] (run from anywhere; needs benches/work's
repaired corpus, made by `bench.py --repair-corpus`).
"""
import os
import statistics
import subprocess
import sys
import time

from bench import FULL, GBM_TARGETS, WORK

CORPUS = os.path.join(WORK, "gnome-corpus", "gnome-build-meta")
ARGS = ["-o", "arch", "x86_64", "show", "--deps", "all", "--format", FULL] + GBM_TARGETS


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    if not os.path.isdir(CORPUS):
        sys.exit("no repaired corpus at %s: run bench.py --repair-corpus first" % CORPUS)

    def show():
        start = time.perf_counter()
        subprocess.run([binary] + ARGS, cwd=CORPUS, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)
        return time.perf_counter() - start

    def idle(then=None):
        time.sleep(1.0)
        if then:
            subprocess.run(then, check=True)

    conditions = {
        "back-to-back": lambda: None,
        "after-idle": idle,
        "idle+touch": lambda: idle([sys.executable, "-c", "x = bytearray(200 << 20)"]),
        "idle+python": lambda: idle([sys.executable, "-c", "pass"]),
    }
    times = {name: [] for name in conditions}
    show()  # warm the page cache
    for _ in range(rounds):
        for name, before in conditions.items():
            before()
            times[name].append(show())
    for name, ts in times.items():
        print("%-14s median %6.1f ms  min %6.1f ms  (%d runs)"
              % (name, 1000 * statistics.median(ts), 1000 * min(ts), len(ts)))


if __name__ == "__main__":
    main()
