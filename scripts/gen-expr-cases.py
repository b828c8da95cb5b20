#!/usr/bin/env python3
"""Generate the ground-truth table for src/project/expr.rs (`(?)` conditionals).

BuildStream evaluates a conditional expression EXPR by rendering

    {% if EXPR %} True {% else %} False {% endif %}

with a jinja2 Environment(undefined=StrictUndefined) whose globals are
cleared, in a context holding the project options (bool options as Python
bools, enum/arch/os options as str, flags/element-mask options as lists of
str); see buildstream/_options/optionpool.py `_evaluate`.  This script does
exactly the same for every expression in CASES under each option environment
in ENVS and records the outcome:

    "T"        rendered True
    "F"        rendered False
    "E:msg"    jinja2 TemplateError; BuildStream reports
               "Failed to evaluate expression (EXPR): msg"
    "X:msg"    any other exception (TypeError, ZeroDivisionError, ...);
               real BuildStream crashes with a Python traceback here, the
               Rust side reports msg in the same format as "E:"

Run it with a python that has jinja2 (e.g. BuildStream's virtualenv):

    /work/V/bin/python scripts/gen-expr-cases.py            # print the table
    /work/V/bin/python scripts/gen-expr-cases.py --update   # rewrite it in
                                                            # src/project/expr.rs

The table lives between the `// BEGIN GENERATED CASES` and
`// END GENERATED CASES` markers in the tests module of src/project/expr.rs.
"""

import argparse
import os
import sys

import jinja2
import jinja2.exceptions
import jinja2.utils

# Option environments.  Names and Python types mirror what BuildStream puts
# in the template context.
ENVS = [
    {
        "debug": False,
        "bootstrap": True,
        "arch": "x86_64",
        "target_os": "linux",
        "flags": ["a", "b"],
        "noflags": [],
    },
    {
        "debug": True,
        "bootstrap": False,
        "arch": "aarch64",
        "target_os": "freebsd",
        "flags": ["c"],
        "noflags": [],
    },
    {
        "debug": False,
        "bootstrap": False,
        "arch": "",
        "target_os": "linux",
        "flags": [],
        "noflags": [],
    },
]

CASES = [
    # --- bools, truthiness --------------------------------------------------
    "debug",
    "not debug",
    "bootstrap",
    "not not debug",
    "debug == True",
    "debug == False",
    "debug == true",
    "debug != false",
    "debug == 'True'",
    "debug == 1",
    "debug == 0",
    "debug in [True]",
    "debug in [0]",
    # --- enums (str) ---------------------------------------------------------
    "arch",
    "not arch",
    'arch == "x86_64"',
    "arch == 'aarch64'",
    "arch != 'x86_64'",
    "arch in ['x86_64', 'i686']",
    'arch in ("x86_64", "i686")',
    "arch not in ['aarch64']",
    "arch in 'x86_64 i686'",
    "'86' in arch",
    "'' in arch",
    "arch == ''",
    "target_os == 'linux' and arch in ['x86_64', 'aarch64']",
    "arch == 'x86_64' or arch == 'i686'",
    "arch < 'b'",
    "arch >= 'aarch64'",
    # --- flags (list of str) -------------------------------------------------
    "flags",
    "not flags",
    "noflags",
    "'a' in flags",
    "'c' in flags",
    "'a' not in flags",
    "'a' in flags and 'b' in flags",
    "flags == ['a', 'b']",
    "flags == ('a', 'b')",
    "flags == []",
    "flags != []",
    "flags in [['a', 'b'], ['c']]",
    "flags < ['b']",
    # --- boolean operators and precedence -------------------------------------
    "debug and arch == 'x86_64'",
    "debug or arch == 'x86_64'",
    "not debug and not bootstrap",
    "(debug or bootstrap) and target_os == 'linux'",
    "debug or bootstrap and target_os == 'freebsd'",
    "not debug == True",
    "not (debug == True)",
    "(arch or 'none') == 'none'",
    "(debug and arch) == False",
    "(flags or noflags) == []",
    # --- chained comparisons ---------------------------------------------------
    "'a' < arch < 'z'",
    "debug == False == bootstrap",
    "1 < 2 < 3",
    "1 < 3 < 2",
    "arch == arch == 'x86_64'",
    "1 < 2 > 0 != 5",
    # --- literals ----------------------------------------------------------------
    "True",
    "False",
    "true",
    "false",
    "None",
    "none",
    "''",
    "'x'",
    "[]",
    "[False]",
    "()",
    "(False)",
    "(False,)",
    "[1, 2,]",
    "0",
    "1",
    "0.0",
    "1.5",
    "'a' 'b' == 'ab'",
    "\"it's\" == 'it\\'s'",
    "'\\x41\\u00e9' == 'A\u00e9'",
    "'a\\nb' == \"a\\nb\"",
    "'\\q' == '\\\\q'",
    "1_000 == 1000",
    "0x1f == 31",
    "0o17 == 15 and 0b101 == 5",
    "1e3 == 1000",
    # --- mixed types ------------------------------------------------------------
    "True == 1",
    "1 == 1.0",
    "'1' == 1",
    "None == none",
    "None != False",
    "[1, 2] == [1, 2]",
    "[1] == (1,)",
    "(1, 'a') == (1, 'a')",
    "[[]] == [[]]",
    "[1, 2] < [1, 3]",
    "(1, 2) <= (1,)",
    "True > False",
    "1 in [True]",
    # --- arithmetic / concatenation ------------------------------------------------
    "1 + 1 == 2",
    "'a' + 'b' == 'ab'",
    "arch ~ '-' ~ target_os == 'x86_64-linux'",
    "-1 < 0",
    "- -1 == +1",
    "2 ** 3 == 8",
    "-2 ** 2 == 4",
    "2 ** 3 ** 2 == 64",
    "7 // 2 == 3",
    "-7 // 2 == -4",
    "7 % 3 == 1",
    "-7 % 3 == 2",
    "7 / 2 == 3.5",
    "1 + 2 * 3 == 7",
    "flags + ['c'] == ['a', 'b', 'c']",
    "'ab' * 2 == 'abab'",
    "2 * [0] == [0, 0]",
    "debug + 1 == 1",
    "True ~ 1 ~ None == 'True1None'",
    "[1, 'a', \"b'\"] ~ '' == '[1, \\'a\\', \"b\\'\"]'",
    "(1,) ~ () == '(1,)()'",
    "1.5 ~ 1e20 ~ 2.0 == '1.51e+202.0'",
    "1 ~ 2 == '12'",
    # --- jinja2 constant-folds; a non-finite float constant is written as the
    #     Python name inf/nan into the generated code ---------------------------
    "1e500",
    "-1e500",
    "1e500 > 1",
    "1e308 * 10",
    "1e500 - 1e500",
    "(1e500 - 1e500) ~ '' == 'nan'",
    "[1, 1e500]",
    "debug and 1e500",
    "bootstrap and 1e500",
    "1e500 and debug",
    "-(1e500 if debug else 1) < 0",
    # --- top-level tuple, trailing colon ------------------------------------------
    "debug, bootstrap",
    "debug,",
    "debug:",
    # --- conditional expressions (only inside brackets) -----------------------------
    "('x' if debug else 'y') == 'y'",
    "('x' if debug else 'y' if bootstrap else 'z') == 'z'",
    "(arch if debug)",
    "[1 if debug]",
    "(1 if debug) == 1",
    # --- undefined names ----------------------------------------------------------
    "foo",
    "foo == 'x'",
    "not foo",
    "debug and foo",
    "debug or foo",
    "bootstrap or foo",
    "bootstrap and foo",
    "'a' in foo",
    "foo in ['a']",
    "foo in []",
    "[foo]",
    "[foo] == [foo]",
    "[foo] == [bar]",
    "[foo] == []",
    "foo == foo",
    "foo in [foo]",
    "foo in [bar]",
    "'x' == foo",
    "foo + 1",
    "arch == 'x86_64' and foo == 'y'",
    "arch == x86_64",
    "x86_64 == arch",
    "and",
    "in == 'x'",
    "(foo, 1)",
    "1 < foo",
    "foo ~ 'a'",
    # --- undefined from an inline if without else (jinja2's lenient Undefined) ----
    "(1 if debug) + 1",
    "(1 if debug) ~ 'a' == 'a'",
    "(1 if debug) != 1",
    "(1 if debug) == (2 if debug)",
    "'a' in (1 if debug)",
    "(1 if debug) in ['a']",
    "(1 if debug) < 1",
    "[(1 if debug)] ~ '' == '[Undefined]'",
    "-(1 if debug)",
    "not (1 if debug)",
    "(foo if debug)",
    "(1 if debug) == foo",
    "[foo] ~ '' == '[Undefined]'",
    "foo == (1 if debug)",
    "[(1 if debug)] == [(2 if bootstrap)]",
    # --- errors Python raises outside jinja2 (BuildStream crashes on these) ------
    "'a' in debug",
    "'a' in 1",
    "'a' in None",
    "1 in 'abc'",
    "foo in 'abc'",
    "(1 if debug) in 'abc'",
    "arch > 1",
    "None < None",
    "[1] < ['a']",
    "flags > arch",
    "debug < foo",
    "'a' - 'b'",
    "-arch",
    "+arch",
    "'a' + 1",
    "1 + 'a'",
    "[1] + (1,)",
    "(1,) + [1]",
    "'a' * 'b'",
    "1 // 0",
    "1 % 0",
    "1 / 0",
    "1.5 // 0",
    "1.5 % 0",
    "1.5 / 0",
    "0 ** -1",
    "2 ** -1 == 0.5",
    "[1] - [1]",
    "None + None",
    # --- the tests and filters bst-rs implements; unknown names ----------------
    "foo is defined",
    "debug is defined",
    "foo is not defined",
    "debug is undefined",
    "(1 if debug) is defined",
    "arch is string",
    "debug is boolean",
    "debug is true",
    "debug is not false",
    "1 is number and True is number",
    "True is integer",
    "1 is integer",
    "1.5 is float",
    "none is none",
    "'a' is in flags",
    "arch is eq 'x86_64'",
    "arch is equalto('x86_64')",
    "arch is ne 'x86_64'",
    "1 is lt 2",
    "2 is greaterthan(1)",
    "arch is ge 'b'",
    "flags|length == 2",
    "flags|count > 0",
    "arch|length",
    "(1 if debug)|length == 0",
    "debug|length",
    "foo|length",
    "debug|nosuch",
    "debug is nosuch",
    "debug is not nosuch",
    "false and debug|nosuch",
    "(1 + foo)|nosuch",
    "foo.bar",
    "foo[0]",
    "foo()",
    "debug == not (bootstrap)",
    "{foo: 1}",
    "\n(1\n if debug) + 1",
    "debug ==\r\n== 1",
    "\u00e9 == 1",
    "a\u00b9 == 1",
    "'\\U00110000'",
    "debug is defined is defined",
    "arch is == 'x86_64'",
    "debug|",
    "debug | length(",
    "foo(1, x=2, 3)",
    "foo(*a, *b)",
    "foo(**a, x=1)",
    # --- syntax errors ----------------------------------------------------------------
    "",
    " ",
    "debug ==",
    "== debug",
    "(debug",
    "debug)",
    "[debug",
    "debug]",
    "(debug]",
    "[debug)",
    "'abc",
    '"abc',
    "debug not arch",
    "debug arch",
    "debug and",
    "not",
    "debug == = 'x'",
    "debug = True",
    "debug && bootstrap",
    "debug || bootstrap",
    "!debug",
    "debug === True",
    "[debug,,]",
    "(,)",
    "(debug,,)",
    "debug }",
    "$foo",
    "debug if bootstrap else arch",
    "debug;",
    "01",
    "'\\xZZ'",
    "debug not",
    "not in",
    "debug in",
    "arch == 'x86_64' )",
    "((debug)",
    "debug . ",
    "1.",
    "@",
    "debug ==\n== 1",
    "debug == (",
    "{",
    "debug is",
    "debug |",
    "foo(",
    "foo[",
    "debug . 1.5",
    "debug 'a'",
    "'a' 1",
    "'x' if",
    "(1 if)",
    "(1 if 2 else)",
    "[1 2]",
    "(1 2)",
]


def evaluate(expr, variables):
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.globals = []
    template_string = "{{% if {} %}} True {{% else %}} False {{% endif %}}".format(expr)
    try:
        template = env.from_string(template_string)
        context = template.new_context(variables, shared=True)
        val = jinja2.utils.concat(template.root_render_func(context)).strip()
    except jinja2.exceptions.TemplateError as e:
        return "E:" + str(e)
    except Exception as e:  # BuildStream crashes here
        return "X:" + str(e)
    if val == "True":
        return "T"
    if val == "False":
        return "F"
    raise AssertionError("unexpected rendering {!r} for {!r}".format(val, expr))


def rust_str(s):
    out = ['"']
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u{{{:x}}}".format(ord(ch)))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def generate():
    lines = [
        "    // BEGIN GENERATED CASES",
        "    // Generated by scripts/gen-expr-cases.py with jinja2 {}; do not edit.".format(
            jinja2.__version__
        ),
        "    // (expression, [outcome under ENVS[0], ENVS[1], ENVS[2]])",
        "    #[rustfmt::skip]",
        "    const CASES: &[(&str, [&str; {}])] = &[".format(len(ENVS)),
    ]
    for expr in CASES:
        results = [evaluate(expr, env) for env in ENVS]
        lines.append(
            "        ({}, [{}]),".format(rust_str(expr), ", ".join(rust_str(r) for r in results))
        )
    lines.append("    ];")
    lines.append("    // END GENERATED CASES")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--update",
        action="store_true",
        help="rewrite the generated block in src/project/expr.rs",
    )
    parser.add_argument(
        "--file",
        default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "project", "expr.rs"),
        help="file to rewrite with --update (default: src/project/expr.rs)",
    )
    args = parser.parse_args()
    table = generate()
    if not args.update:
        sys.stdout.write(table)
        return
    path = args.file
    with open(path, encoding="utf-8") as f:
        text = f.read()
    begin = text.index("    // BEGIN GENERATED CASES\n")
    end_marker = "    // END GENERATED CASES\n"
    end = text.index(end_marker) + len(end_marker)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text[:begin] + table + text[end:])


if __name__ == "__main__":
    main()
