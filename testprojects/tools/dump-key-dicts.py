#!/usr/bin/env python3
"""Run real `bst` and log every value BuildStream hashes into a cache key.

Debugging aid for bst-rs: when a key differs, this shows the exact JSON
that BuildStream 2.8.1 fed to sha256 (`_cachekey.generate_key`).

Usage (with the interpreter of the BuildStream installation):

    cd testprojects/<project>
    /path/to/venv/bin/python ../tools/dump-key-dicts.py OUT.txt \\
        --no-interactive show --deps all --format '%{name} %{full-key}' TARGET.bst

Everything after OUT.txt is passed to bst unchanged. OUT.txt gets one line
per generate_key() call: "<sha256 hex> <ujson text that was hashed>".
Element keys are the lines whose JSON has "core-artifact-version"; the
strict/strong ones additionally carry "weak-cache-key". Lines for source
keys appear too. Use a private user config (-c FILE) to keep ~/.cache clean.
"""

import sys

import ujson

import buildstream._cachekey as _cachekey


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = open(sys.argv[1], "w", encoding="utf-8")
    original = _cachekey.generate_key

    def generate_key(value):
        key = original(value)
        out.write(key + " " + ujson.dumps(value, sort_keys=True, escape_forward_slashes=False) + "\n")
        out.flush()
        return key

    _cachekey.generate_key = generate_key

    from buildstream._frontend.cli import cli  # pylint: disable=import-outside-toplevel

    cli.main(args=sys.argv[2:], prog_name="bst")


if __name__ == "__main__":
    main()
