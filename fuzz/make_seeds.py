#!/usr/bin/env python3
"""Seeds fuzz/corpus/{yaml,project} from testprojects/ and a few hand-written inputs.

Run from anywhere: python3 fuzz/make_seeds.py. Existing corpus files are kept (libFuzzer
names its own by content hash; ours are prefixed with `seed-`).

A `project` input is the files of fuzz/harness.rs' PROJECT_FILES joined by NUL bytes:
project.conf, elements/a.bst, elements/b.bst, elements/c.bst, include.yml,
sub/project.conf, sub/x.bst, files/f.txt. The target is always a.bst, so each converted
project renames its target element to a.bst and up to two elements it mentions to b.bst
and c.bst, moves the element path to `elements`, points local sources at `files` and
its first included .yml file at include.yml.
"""
import hashlib
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TESTPROJECTS = os.path.join(HERE, "..", "testprojects")
CORPUS = os.path.join(HERE, "corpus")
MAX_SIZE = 16 * 1024  # bytes; larger files only slow the fuzzer down
PER_PROJECT = 24  # converted seeds per test project at most


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_SIZE:
        return
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return f.read()


def project(conf, a="", b=None, c=None, include=None, sub_conf=None, sub_x=None, f="hello\n"):
    files = [conf, a, b, c, include, sub_conf, sub_x, f]
    # Absent files at the end stay absent; absent files in the middle become empty.
    while files and files[-1] is None:
        files.pop()
    return "\0".join(x or "" for x in files)


def yaml_seeds():
    for root, _dirs, files in os.walk(TESTPROJECTS):
        for name in files:
            if name.endswith((".bst", ".conf", ".yml", ".yaml", ".refs")):
                write("yaml", read(os.path.join(root, name)).encode("utf-8", "surrogateescape"))
    depth = 200
    extra = [
        "[" * depth + "]" * depth,
        "{a: " * depth + "b" + "}" * depth,
        "".join("  " * i + "k:\n" for i in range(depth)) + "  " * depth + "v\n",
        "".join("  " * i + "-\n" for i in range(depth)) + "  " * depth + "v\n",
        "variables:\n  a: '" + "%{" * 100 + "'\n",
        "variables:\n  a: '%{b}%{b}%{b}%{b}'\n  b: '%{c}%{c}%{c}%{c}'\n  c: '%{d}%{d}%{d}'\n  d: x\n",
        "variables:\n  a: '%{a}'\n",
        "variables:\n  a: '%{b}'\n  b: '%{c}'\n  c: '%{a}'\n",
        "variables:\n  a: '%{%{b}}'\n  b: '%{}'\n  c: '%{ a }'\n  notparallel: true\n",
        "variables:\n  a: '%%{b}}%{'\n  b: '}}%{{'\n",
        "config:\n  l:\n" + "    (>): [a]\n" + "    (<): [b]\n" + "    (=): [c]\n",
        "l:\n" + "".join("  - {(>): [x%d]}\n" % i for i in range(50)),
        "a:\n  (>): [1]\n  b: 2\n",
        "(@): [x.yml]\n(?):\n- a == 'b':\n    c: d\n",
        "a: &x 1\nb: *x\n",
        "a: !tag 1\n",
        "a: 1\n---\nb: 2\n",
        "a: 1\na: 2\n",
        "? [a, b]\n: c\n",
        "a: |+\n  x\n\n\nb: >-\n  y\n  z\n",
        "\ufeffa: '\\u0000'\n",
        'a: "\\x00\\uD800\\U0010FFFF"\n',
        "- a\n- b: [c, {d: e}]\n",
        "",
        "~",
        "a:\n",
    ]
    for text in extra:
        write("yaml", text)


ELEMENT_PATH = re.compile(r"^element-path:.*$", re.M)
LOCAL_PATH = re.compile(r"^(\s*)path:.*$", re.M)
YML_REF = re.compile(r"[\w./:-]+\.yml")


def element_path(conf):
    m = re.search(r"^element-path:\s*(\S+)", conf, re.M)
    return m.group(1).strip("'\"") if m else "."


def rename(text, mapping):
    for old, new in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
        text = re.sub(r"(?<![\w./-])" + re.escape(old) + r"(?![\w./-])", new, text)
    return text


def convert(projdir, target):
    conf_path = os.path.join(projdir, "project.conf")
    if not os.path.exists(conf_path):
        return None
    conf = read(conf_path)
    epdir = os.path.normpath(os.path.join(projdir, element_path(conf)))
    elements = []
    for root, _dirs, files in os.walk(epdir):
        for name in files:
            if name.endswith(".bst"):
                elements.append(os.path.relpath(os.path.join(root, name), epdir))
    if target not in elements:
        return None
    chosen = [target]
    ttext = read(os.path.join(epdir, target))
    mentioned = sorted(
        (ttext.find(e), e) for e in elements if e != target and e in ttext
    )
    chosen += [e for _, e in mentioned][:2]
    mapping = dict(zip(chosen, ["a.bst", "b.bst", "c.bst"]))
    texts = [read(os.path.join(epdir, e)) for e in chosen]
    include = None
    for text in [conf] + texts:
        for ref in YML_REF.findall(text):
            p = os.path.join(projdir, ref)
            if ":" not in ref and os.path.isfile(p):
                include = (ref, read(p))
                break
        if include:
            break
    if include:
        mapping[include[0]] = "include.yml"
    conf = rename(conf, mapping)
    if ELEMENT_PATH.search(conf):
        conf = ELEMENT_PATH.sub("element-path: elements", conf)
    else:
        conf += "\nelement-path: elements\n"
    texts = [LOCAL_PATH.sub(r"\1path: files", rename(t, mapping)) for t in texts]
    texts += [None] * (3 - len(texts))
    inc = rename(include[1], mapping) if include else None
    return project(conf, *texts, include=inc)


def errors_targets():
    out = []
    with open(os.path.join(TESTPROJECTS, "errors", "cases.txt")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) >= 4:
                for t in fields[3].split():
                    if t.endswith(".bst"):
                        out.append((os.path.join(TESTPROJECTS, "errors", fields[1]), t))
                        break
    return out


HAND_WRITTEN = [
    # A valid project: manual -> import (local source) and a stack.
    project(
        "name: fuzz\nmin-version: 2.0\nelement-path: elements\n",
        "kind: manual\nbuild-depends:\n- b.bst\ndepends:\n- c.bst\nconfig:\n  build-commands:\n  - make %{prefix}\n",
        "kind: import\nsources:\n- kind: local\n  path: files\n",
        "kind: stack\ndepends:\n- b.bst\n",
    ),
    # Includes in project.conf and an element, conditionals and options.
    project(
        "name: fuzz\nmin-version: 2.0\nelement-path: elements\n(@): include.yml\n"
        "options:\n  debug:\n    type: bool\n    description: d\n    default: False\n    variable: dbg\n"
        "  flavour:\n    type: enum\n    description: f\n    values: [a, b]\n    default: a\n"
        "  feats:\n    type: flags\n    description: x\n    values: [x, y, z]\n    default: [z, x]\n",
        "kind: manual\n(@): include.yml\ndepends: [b.bst]\n(?):\n- debug:\n    variables:\n      x: '%{dbg}'\n"
        "- flavour == 'b' and 'x' in feats:\n    config:\n      build-commands: [b]\n",
        "kind: import\nsources:\n- kind: local\n  path: files/f.txt\n",
        None,
        "variables:\n  from-include: yes\nenvironment:\n  A: '%{prefix}'\n",
    ),
    # An include cycle.
    project(
        "name: fuzz\nmin-version: 2.0\nelement-path: elements\n(@): include.yml\n",
        "kind: stack\n(@): include.yml\n",
        include="(@): include.yml\n",
    ),
    # A junction to a subproject, and a link.
    project(
        "name: fuzz\nmin-version: 2.0\nelement-path: elements\n",
        "kind: stack\ndepends:\n- c.bst:x.bst\n- b.bst\n",
        "kind: link\nconfig:\n  target: c.bst:x.bst\n",
        "kind: junction\nsources:\n- kind: local\n  path: sub\nconfig:\n  options:\n    o: 'on'\n",
        None,
        "name: sub\nmin-version: 2.0\noptions:\n  o:\n    type: enum\n    description: o\n    values: ['on', 'off']\n    default: 'off'\n",
        "kind: import\nsources:\n- kind: local\n  path: x.bst\n",
    ),
    # A junction to the project itself.
    project(
        "name: fuzz\nmin-version: 2.0\nelement-path: elements\n",
        "kind: stack\ndepends:\n- c.bst:c.bst:b.bst\n",
        "kind: stack\n",
        "kind: junction\nsources:\n- kind: local\n  path: .\n",
    ),
    # A dependency cycle.
    project(
        "name: fuzz\nmin-version: 2.0\nelement-path: elements\n",
        "kind: stack\ndepends: [b.bst]\n",
        "kind: stack\ndepends: [c.bst]\n",
        "kind: stack\ndepends: [a.bst]\n",
    ),
    # Variables: a %{ storm, nesting, a cycle through project.conf.
    project(
        "name: fuzz\nmin-version: 2.0\nelement-path: elements\nvariables:\n  v1: '%{v2}%{v2}'\n  v2: '%{v3}%{v3}'\n  v3: '%{prefix}'\n",
        "kind: manual\nvariables:\n  s: '" + "%{" * 64 + "v1" + "}" * 64 + "'\n  t: '%{v1}%{v1}%{v1}'\nenvironment:\n  X: '%{t}'\n",
    ),
    # List directives through every layer.
    project(
        "name: fuzz\nmin-version: 2.0\nelement-path: elements\n(@): include.yml\n"
        "elements:\n  manual:\n    config:\n      build-commands:\n        (>): [p]\n"
        "split-rules:\n  devel:\n    (<): [/x]\n",
        "kind: manual\n(@): include.yml\nconfig:\n  build-commands:\n    (<): [a]\n    (>): [b]\n"
        "  install-commands:\n    (=): [c]\n",
        include="config:\n  build-commands:\n    (>): [i]\n  configure-commands:\n" + "    (>): [x]\n",
    ),
    # Dependencies in every form, with dependency config.
    project(
        "name: fuzz\nmin-version: 2.0\nelement-path: elements\n",
        "kind: script\nbuild-depends:\n- filename: b.bst\n  config:\n    location: /sysroot\n"
        "- filename: [c.bst, ./b.bst]\n  type: build\n  strict: true\nruntime-depends: [c.bst]\n",
        "kind: import\nsources:\n- kind: local\n  path: files\n",
        "kind: compose\nbuild-depends: [b.bst]\n",
    ),
]


def project_seeds():
    for seed in HAND_WRITTEN:
        write("project", seed)
    for projdir, target in errors_targets():
        s = convert(projdir, target)
        if s is not None:
            write("project", s)
    for name in sorted(os.listdir(TESTPROJECTS)):
        projdir = os.path.join(TESTPROJECTS, name)
        if name == "errors" or not os.path.isdir(projdir):
            continue
        conf_path = os.path.join(projdir, "project.conf")
        if not os.path.exists(conf_path):
            continue
        epdir = os.path.normpath(os.path.join(projdir, element_path(read(conf_path))))
        elements = sorted(
            os.path.relpath(os.path.join(r, f), epdir)
            for r, _d, fs in os.walk(epdir)
            for f in fs
            if f.endswith(".bst")
        )
        for target in elements[:PER_PROJECT]:
            s = convert(projdir, target)
            if s is not None:
                write("project", s)


if __name__ == "__main__":
    yaml_seeds()
    project_seeds()
    for t in ("yaml", "project"):
        d = os.path.join(CORPUS, t)
        print(t, len(os.listdir(d)), "files", file=sys.stderr)
