#!/usr/bin/env python3
"""Timestamps the lines of element build logs as they are written, to see where a build's
time goes (staging, configure, compile) without changing either tool.

    benches/logwatch.py record OUT.tsv 'GLOB' ...   # until interrupted (SIGINT/SIGTERM)
    benches/logwatch.py summary OUT.tsv             # per element phases

`record` polls the files matching the globs (e.g. 'benches/work/c-upstream/*/run0/logs/*/*/*-build.*.log')
every 0.2 s and appends `<unix time>\\t<file>\\t<line>` for each new line. The resolution is
the polling interval; the cost is a few stat() calls per interval. `summary` prints, per log,
the time from the log's first line to the milestones both tools write:

  staged    the sandbox's first output line (`+ sh -c -e ...` or BuildStream's
            `Running commands` ... first `+`): dependencies and sources staged, sandbox started
  make      the first line of the build phase (`+ sh -c -e make` / `cmake --build`): configure done
  end       the last line written by the sandbox's commands
  total     the last line of the log (artifact collected and cached)

Python 3 standard library only.
"""

import glob
import os
import re
import signal
import sys
import time


def record(out, patterns):
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    pos = {}
    partial = {}
    with open(out, "a") as f:
        while not stop:
            now = time.time()
            for pat in patterns:
                for path in glob.glob(pat):
                    try:
                        size = os.path.getsize(path)
                    except OSError:
                        continue
                    if size <= pos.get(path, 0):
                        continue
                    with open(path, "rb") as lf:
                        lf.seek(pos.get(path, 0))
                        data = lf.read()
                    pos[path] = pos.get(path, 0) + len(data)
                    text = partial.pop(path, b"") + data
                    lines = text.split(b"\n")
                    if lines[-1]:
                        partial[path] = lines[-1]
                    for line in lines[:-1]:
                        f.write("%.2f\t%s\t%s\n" % (now, path, line.decode("utf-8", "replace").replace("\t", " ")))
            f.flush()
            time.sleep(0.2)


BUILD_PHASE = re.compile(r"^\+ (sh -c -e )?(make( |$)|cmake --build)")
SANDBOX_START = re.compile(r"^\+ ")


def summary(path):
    logs = {}
    with open(path) as f:
        for line in f:
            t, name, text = line.rstrip("\n").split("\t", 2)
            logs.setdefault(name, []).append((float(t), text))
    print("%-60s %8s %8s %8s %8s" % ("log", "staged", "make", "end", "total"))
    for name, lines in sorted(logs.items(), key=lambda kv: kv[1][0][0]):
        t0 = lines[0][0]
        staged = next((t for t, l in lines if SANDBOX_START.match(l)), None)
        make = next((t for t, l in lines if BUILD_PHASE.match(l)), None)
        cmd_lines = [t for t, l in lines if not l.startswith("[") and "remote-apis-socket" not in l
                     and not l.startswith("  ")]
        end = cmd_lines[-1] if cmd_lines else None
        total = lines[-1][0]

        def rel(t):
            return "-" if t is None else "%.1f" % (t - t0)

        short = "/".join(name.split("/")[-5:])
        print("%-60s %8s %8s %8s %8s" % (short[-60:], rel(staged), rel(make), rel(end), rel(total)))


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "record":
        record(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 3 and sys.argv[1] == "summary":
        summary(sys.argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
