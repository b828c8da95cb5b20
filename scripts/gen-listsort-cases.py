#!/usr/bin/env python3
"""Generate src/loader/listsort_cases.txt: ground truth for src/loader/listsort.rs.

BuildStream sorts dependency lists with a vendored copy of CPython 3.12.9's
list sort (buildstream/_loader/listsort.c) and a comparator that is not a
total order, so the exact sequence of comparisons matters.  This script sorts
pseudo-random inputs with pseudo-random (often non-transitive) comparators and
records, per case, the number of comparator calls, a hash of the sequence of
compared (left, right) index pairs, and a hash of the output permutation.
The Rust tests regenerate the same inputs and comparators and must reproduce
all three exactly.

Sort backend ("vendored" is preferred):
  * vendored -- BuildStream's own listsort.c, compiled on the fly into a tiny
    extension module (needs gcc and the Python headers). The C file is found
    via --listsort-c, $BST_LISTSORT_C, or the importable `buildstream`
    package (e.g. run this script with BuildStream's virtualenv python).
  * builtin  -- this interpreter's sorted(key=functools.cmp_to_key(...)).
    CPython 3.11 and 3.12 share the same listsort algorithm; when both
    backends are available the script cross-checks them and reports any
    difference.

All data generation uses integer arithmetic only (64-bit LCG), mirrored by the
`tests` module of src/loader/listsort.rs.

Usage:
  gen-listsort-cases.py [--backend auto|vendored|builtin] [--listsort-c PATH]
                        [--out PATH]
  gen-listsort-cases.py --show CMP SHAPE N M SEED   # print one case in full
"""

import argparse
import functools
import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import sysconfig
import tempfile

MASK64 = (1 << 64) - 1


class Rng:
    """64-bit LCG (Knuth's MMIX constants); yields the top 31 bits."""

    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) & MASK64
        return self.state >> 33


def fnv_words(words, h=0xCBF29CE484222325):
    """FNV-1a style hash over whole integers (one xor+multiply per word)."""
    for w in words:
        h = ((h ^ w) * 0x100000001B3) & MASK64
    return h


def _table(seed, size, bit):
    rng = Rng(seed)
    return [bit(rng.next()) for _ in range(size)]


# Fixed pseudo-random tables shared by the comparators below.
TAB = _table(12345, 97, lambda x: (x >> 7) & 1 == 1)  # ~1/2 true
FLIP = _table(777, 101, lambda x: x % 16 == 0)  # ~1/16 true
DEP = _table(4242, 89, lambda x: x % 3 == 0)  # ~1/3 true


def _dep(a, b):
    return a > b and DEP[(a * 7 + b * 13) % 89]


def _name(a):
    return ((a * 37) % 101, a)


# lt(a, b) on element values.  Only "lt" is a strict weak order.
COMPARATORS = {
    # Plain "<" (many duplicate values: exercises stability).
    "lt": lambda a, b: a < b,
    # Arbitrary non-transitive table.
    "tab": lambda a, b: a != b and TAB[(a * 31 + b) % 97],
    # "<" with ~1/16 of the pairs flipped: mostly consistent, so runs and
    # galloping happen, but with inconsistent answers mixed in.
    "flip": lambda a, b: a != b and ((a < b) != FLIP[(a * 17 + b * 5) % 101]),
    # Shaped like BuildStream's _dependency_cmp: direct "depends" edges
    # first (not transitively closed), then a name-like key.
    "dag": lambda a, b: (
        False if _dep(a, b) else True if _dep(b, a) else _name(a) < _name(b)
    ),
}


def gen_values(shape, n, m, seed):
    """Input values: shape "r" is uniform random in [0, m); shape "s" is a
    concatenation of ascending / descending / constant / random chunks."""
    rng = Rng(seed)
    if shape == "r":
        return [rng.next() % m for _ in range(n)]
    assert shape == "s"
    out = []
    while len(out) < n:
        length = 1 + rng.next() % 40
        kind = rng.next() % 4
        start = rng.next() % m
        step = rng.next() % 3
        for j in range(length):
            if kind == 0:
                out.append(start + j * step)
            elif kind == 1:
                out.append(start + (length - j) * (step + 1))
            elif kind == 2:
                out.append(start)
            else:
                out.append(rng.next() % m)
    return out[:n]


def case_list():
    """(cmp, shape, n, m, seed) for every recorded case."""
    cases = []
    k = 0
    for n in range(0, 301):
        for cmp in COMPARATORS:
            for shape in ("r", "s"):
                k += 1
                if shape == "r":
                    m = (2, 5, n // 4 + 1, 1000)[k % 4]
                else:
                    m = (10, 100, 1000)[k % 3]
                cases.append((cmp, shape, n, m, k * 1000003 + 17))
    for n in (500, 777, 1024, 2000, 4096, 5000):
        for cmp in COMPARATORS:
            for shape in ("r", "s"):
                for m in (7, 3000):
                    k += 1
                    cases.append((cmp, shape, n, m, k * 1000003 + 17))
    return cases


def load_vendored(listsort_c):
    """Compile BuildStream's listsort.c into an extension exposing
    sort(list, keyfunc); return that function or None."""
    if listsort_c is None:
        spec = importlib.util.find_spec("buildstream")
        if spec is None or not spec.submodule_search_locations:
            return None
        for loc in spec.submodule_search_locations:
            path = os.path.join(loc, "_loader", "listsort.c")
            if os.path.exists(path):
                listsort_c = path
                break
        else:
            return None
    tmp = tempfile.mkdtemp(prefix="bst-listsort-")
    src = os.path.join(tmp, "vendored_listsort.c")
    with open(src, "w") as f:
        f.write(
            """#include "listsort.c"
static PyObject *vsort(PyObject *self, PyObject *args) {
    PyObject *list, *key;
    if (!PyArg_ParseTuple(args, "OO", &list, &key)) return NULL;
    if (_list_sort(list, key) < 0) return NULL;
    Py_RETURN_NONE;
}
static PyMethodDef methods[] = {{"sort", vsort, METH_VARARGS, NULL}, {NULL}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "vendored_listsort",
                                 NULL, -1, methods};
PyMODINIT_FUNC PyInit_vendored_listsort(void) { return PyModule_Create(&mod); }
"""
        )
    so = os.path.join(tmp, "vendored_listsort" + sysconfig.get_config_var("EXT_SUFFIX"))
    cmd = [
        "gcc", "-shared", "-fPIC", "-O1", "-w",
        "-I" + sysconfig.get_paths()["include"],
        "-I" + os.path.dirname(os.path.abspath(listsort_c)),
        src, "-o", so,
    ]
    try:
        subprocess.run(cmd, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"note: cannot compile {listsort_c}: {e}", file=sys.stderr)
        return None
    loader = importlib.machinery.ExtensionFileLoader("vendored_listsort", so)
    spec = importlib.util.spec_from_file_location("vendored_listsort", so, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    print(f"compiled {listsort_c}", file=sys.stderr)
    return module.sort


def builtin_sort(lst, key):
    lst[:] = sorted(lst, key=key)


def run_case(sort, cmp, shape, n, m, seed):
    """Sort indices 0..n by their values; return (values, output, trace)."""
    values = gen_values(shape, n, m, seed)
    lt = COMPARATORS[cmp]
    trace = []

    def cmpfunc(i, j):
        trace.append((i, j))
        return -1 if lt(values[i], values[j]) else 0

    out = list(range(n))
    sort(out, functools.cmp_to_key(cmpfunc))
    assert sorted(out) == list(range(n))
    return values, out, trace


def summary(out, trace):
    th = fnv_words(w for pair in trace for w in pair)
    return f"{len(trace)} {th:016x} {fnv_words(out):016x}"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=("auto", "vendored", "builtin"), default="auto")
    ap.add_argument("--listsort-c", default=os.environ.get("BST_LISTSORT_C"))
    ap.add_argument(
        "--out", default=os.path.join(here, "..", "src", "loader", "listsort_cases.txt")
    )
    ap.add_argument("--show", nargs=5, metavar=("CMP", "SHAPE", "N", "M", "SEED"))
    args = ap.parse_args()

    vendored = None
    if args.backend != "builtin":
        vendored = load_vendored(args.listsort_c)
        if vendored is None and args.backend == "vendored":
            sys.exit("error: vendored listsort.c not available")
    sort = vendored or builtin_sort
    name = "vendored listsort.c (CPython 3.12.9)" if vendored else (
        "builtin list.sort of Python %d.%d.%d" % sys.version_info[:3]
    )

    print(f"using {name}", file=sys.stderr)

    if args.show:
        cmp, shape, n, m, seed = args.show
        values, out, trace = run_case(sort, cmp, shape, int(n), int(m), int(seed))
        print("backend:", name)
        print("values:", values)
        print("output:", out)
        print("trace:", trace)
        print("summary:", summary(out, trace))
        return

    lines = [
        "# Generated by scripts/gen-listsort-cases.py; do not edit.",
        f"# backend: {name}",
        "# cmp shape n m seed ncmp trace-hash output-hash",
    ]
    mismatches = 0
    cases = case_list()
    for cmp, shape, n, m, seed in cases:
        _, out, trace = run_case(sort, cmp, shape, n, m, seed)
        s = summary(out, trace)
        if vendored:
            _, out2, trace2 = run_case(builtin_sort, cmp, shape, n, m, seed)
            if summary(out2, trace2) != s:
                mismatches += 1
                print(f"builtin differs: {cmp} {shape} {n} {m} {seed}", file=sys.stderr)
        lines.append(f"{cmp} {shape} {n} {m} {seed} {s}")
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(cases)} cases to {os.path.normpath(args.out)}", file=sys.stderr)
    if vendored:
        print(
            f"builtin sort of Python {sys.version.split()[0]} differs from the "
            f"vendored sort in {mismatches} of {len(cases)} cases",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
