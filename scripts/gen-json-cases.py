#!/usr/bin/env python3
"""Record ujson reference cases for src/cachekey/json.rs.

Run with the BuildStream venv's interpreter (real ujson 6.1.0):

    /work/V/bin/python scripts/gen-json-cases.py

Prints a Rust `const CASES` table: for each case, a Rust expression building
the `KeyValue`, the exact output of
`ujson.dumps(v, sort_keys=True, escape_forward_slashes=False)`, and the
sha256 hex digest BuildStream's `_cachekey.generate_key()` would produce.
The printed table is pasted verbatim into the tests module of json.rs.
"""

import hashlib

import ujson


def dumps(value):
    return ujson.dumps(value, sort_keys=True, escape_forward_slashes=False)


def generate_key(value):
    return hashlib.sha256(dumps(value).encode("utf-8")).hexdigest()


def rust_str(s):
    """A Rust string literal for `s` (ASCII-only source)."""
    out = []
    for ch in s:
        cp = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif 0x20 <= cp < 0x7F:
            out.append(ch)
        else:
            out.append("\\u{%x}" % cp)
    return '"' + "".join(out) + '"'


def rust_value(v):
    """A Rust expression building the KeyValue for Python value `v`."""
    if v is None:
        return "KeyValue::Null"
    if isinstance(v, bool):
        return "KeyValue::Bool(%s)" % ("true" if v else "false")
    if isinstance(v, int):
        return "KeyValue::Int(%d)" % v if v != -(2**63) else "KeyValue::Int(i64::MIN)"
    if isinstance(v, str):
        return "KeyValue::str(%s)" % rust_str(v)
    if isinstance(v, list):
        return "KeyValue::List(vec![%s])" % ", ".join(rust_value(x) for x in v)
    if isinstance(v, dict):
        if not v:
            return "KeyValue::Dict(BTreeMap::new())"
        return "KeyValue::dict([%s])" % ", ".join(
            "(%s, %s)" % (rust_str(k), rust_value(x)) for k, x in v.items()
        )
    raise TypeError(type(v))


# Every ASCII character, in one string.
ALL_ASCII = "".join(chr(i) for i in range(0x80))

CASES = [
    ("null", None),
    ("true", True),
    ("false", False),
    ("zero", 0),
    ("negative", -1),
    ("i64_max", 2**63 - 1),
    ("i64_min", -(2**63)),
    ("empty_str", ""),
    ("empty_list", []),
    ("empty_dict", {}),
    ("nested_empties", ["x", [], {}, [[]], {"a": {}}]),
    ("all_ascii", ALL_ASCII),
    ("quote_backslash", 'say "hi" \\ bye \\"'),
    ("short_escapes", "\b\t\n\f\r"),
    ("u_escapes", "\x00\x01\x0b\x0e\x1f"),
    ("del_slash_html", "\x7f / <script>&amp;</script> 'q'"),
    ("latin1", "caf\u00e9 \u0080\u009f\u00a0\u00ff"),
    ("bmp", "\u0100\u2028\u2029\uabcd\ufeff\ud7ff\ue000\uffff"),
    ("astral", "\U00010000 \U0001f600 \U0010ffff"),
    ("mixed_utf8", "a\u00e9b\u4e2dc\U0001f600d\n"),
    ("sorting", {"b": 1, "a": 2, "": 3, "B": 4, "aa": 5, "a b": 6, "a-b": 7, "a_b": 8}),
    (
        "sorting_non_ascii",
        {
            "\U0001f600": 1,
            "\uffff": 2,
            "\u00e9": 3,
            "z": 4,
            "\ue000": 5,
            "\u00ff": 6,
            "\u0100": 7,
            "\U00010000": 8,
            "\ud7ff": 9,
        },
    ),
    ("escaped_keys", {"a\"b": "\\", "tab\t": "\n", "/": "/", "\u00e9": "\U0001f600"}),
    (
        "nesting",
        {"z": [1, [2, [3, {"y": None, "x": [True, False]}]]], "a": {"c": {"b": {}}}},
    ),
    (
        "element_key",
        {
            "core-artifact-version": 11,
            "element-plugin-key": {"source": "/", "target": "/"},
            "element-plugin-name": "import",
            "element-plugin-version": 0,
            "sandbox": {"build-os": "linux", "build-arch": "x86_64"},
            "environment": {
                "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
                "SHELL": "/bin/sh",
                "TERM": "dumb",
                "USER": "tomjon",
                "USERNAME": "tomjon",
                "LOGNAME": "tomjon",
                "LC_ALL": "C",
                "HOME": "/tmp",
                "TZ": "UTC",
                "SOURCE_DATE_EPOCH": "1321009871",
            },
            "sources": [
                {
                    "key": ["https://example.com/foo.bar", "abc", "foo.bar", False],
                    "name": "remote",
                },
                {"key": {"path": "files/a b", "directory": None}, "name": "local"},
            ],
            "fatal-warnings": [],
            "public": {
                "bst": {
                    "integration-commands": ["ldconfig", "echo \"done\" > /dev/null"],
                    "split-rules": {"devel": ["/usr/include", "/usr/include/**"]},
                }
            },
            "dependencies": [
                {"key": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
            ],
        },
    ),
]


def main():
    print("// Produced by scripts/gen-json-cases.py against ujson %s." % ujson.__version__)
    print("// Do not edit by hand; re-run the script and paste its output.")
    print("fn cases() -> Vec<(&'static str, KeyValue, &'static str, &'static str)> {")
    print("    vec![")
    for name, value in CASES:
        print("        (")
        print("            %s," % rust_str(name))
        print("            %s," % rust_value(value))
        print("            %s," % rust_str(dumps(value)))
        print("            %s," % rust_str(generate_key(value)))
        print("        ),")
    print("    ]")
    print("}")
    print()
    # Every Unicode scalar value (all code points but surrogates), in order,
    # in one string; too long to embed, so only its JSON length and key.
    every = "".join(chr(i) for i in range(0x110000) if not 0xD800 <= i <= 0xDFFF)
    print("/// `(json.len(), generate_key)` of the string of every Unicode scalar value.")
    print("const ALL_SCALARS: (usize, &str) = (%d, %s);" % (len(dumps(every)), rust_str(generate_key(every))))
    # The same code points as dict keys, to check sort order exhaustively
    # (the values are the code points, so the order is visible in the key).
    keys = {chr(i): i for i in range(0x110000) if not 0xD800 <= i <= 0xDFFF and i % 7 == 0}
    print("/// `generate_key` of `{chr(i): i}` for every scalar value `i` divisible by 7.")
    print("const SCALAR_KEYS_DICT: &str = %s;" % rust_str(generate_key(keys)))


if __name__ == "__main__":
    main()
