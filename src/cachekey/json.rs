//! Canonical JSON for cache keys.
//!
//! BuildStream 2 computes every cache key as
//! `sha256(ujson.dumps(value, sort_keys=True, escape_forward_slashes=False).encode("utf-8"))`
//! (`buildstream/_cachekey.py`). This module reproduces that byte for byte
//! for the values that enter a key (checked against ujson 6.1.0):
//!
//! * compact separators: `,` and `:` with no whitespace;
//! * `null`, `true`, `false`, integers in plain decimal;
//! * dict keys sorted by code point (Python `str` ordering, which equals the
//!   UTF-8 byte ordering of a Rust `String`, hence `BTreeMap`);
//! * strings, with `ensure_ascii` on:
//!   - `"` → `\"`, `\` → `\\`;
//!   - U+0008 → `\b`, U+0009 → `\t`, U+000A → `\n`, U+000C → `\f`,
//!     U+000D → `\r`; every other U+0000..=U+001F → `\u00xx`;
//!   - every other ASCII character, including DEL (U+007F), `/`, `<`, `>`,
//!     `&` and `'`, is written as is;
//!   - U+0080..=U+FFFF → `\uxxxx` (lowercase hex);
//!   - U+10000 and above → a UTF-16 surrogate pair `\uxxxx\uxxxx`.

use std::collections::BTreeMap;
use std::fmt;

/// A value that enters a cache key.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyValue {
    /// JSON `null` (Python `None`).
    Null,
    /// JSON `true` / `false`.
    Bool(bool),
    /// A JSON integer.
    Int(i64),
    /// A JSON string.
    Str(String),
    /// A JSON array.
    List(Vec<KeyValue>),
    /// A JSON object; serialised with its keys sorted.
    Dict(BTreeMap<String, KeyValue>),
    /// A value already serialised as [`to_json`] would (for large keys built directly).
    Json(String),
}

impl KeyValue {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Self {
        KeyValue::Str(s.into())
    }

    /// A list value from anything convertible to `KeyValue`.
    pub fn list<T: Into<KeyValue>>(items: impl IntoIterator<Item = T>) -> Self {
        KeyValue::List(items.into_iter().map(Into::into).collect())
    }

    /// A dict value from `(key, value)` pairs; a later duplicate key wins.
    pub fn dict<K: Into<String>, V: Into<KeyValue>>(
        items: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        KeyValue::Dict(
            items
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// An empty dict value.
    pub fn empty_dict() -> Self {
        KeyValue::Dict(BTreeMap::new())
    }
}

impl From<&str> for KeyValue {
    fn from(s: &str) -> Self {
        KeyValue::Str(s.to_owned())
    }
}

impl From<String> for KeyValue {
    fn from(s: String) -> Self {
        KeyValue::Str(s)
    }
}

impl From<&String> for KeyValue {
    fn from(s: &String) -> Self {
        KeyValue::Str(s.clone())
    }
}

impl From<bool> for KeyValue {
    fn from(b: bool) -> Self {
        KeyValue::Bool(b)
    }
}

impl From<i64> for KeyValue {
    fn from(i: i64) -> Self {
        KeyValue::Int(i)
    }
}

impl From<i32> for KeyValue {
    fn from(i: i32) -> Self {
        KeyValue::Int(i.into())
    }
}

impl From<u32> for KeyValue {
    fn from(i: u32) -> Self {
        KeyValue::Int(i.into())
    }
}

impl From<Vec<KeyValue>> for KeyValue {
    fn from(v: Vec<KeyValue>) -> Self {
        KeyValue::List(v)
    }
}

impl From<BTreeMap<String, KeyValue>> for KeyValue {
    fn from(m: BTreeMap<String, KeyValue>) -> Self {
        KeyValue::Dict(m)
    }
}

impl<T: Into<KeyValue>> From<Option<T>> for KeyValue {
    /// `None` becomes `null`.
    fn from(o: Option<T>) -> Self {
        o.map_or(KeyValue::Null, Into::into)
    }
}

impl fmt::Display for KeyValue {
    /// Writes the canonical JSON (as [`to_json`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_json_string(self))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Per-ASCII-byte escape action: 0 = copy verbatim, `b'u'` = `\u00xx`,
/// anything else = backslash followed by that byte.
static ASCII_ESCAPE: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Serialises exactly as `ujson.dumps(v, sort_keys=True, escape_forward_slashes=False)`,
/// appending to `out`.
pub fn to_json(v: &KeyValue, out: &mut String) {
    match v {
        KeyValue::Null => out.push_str("null"),
        KeyValue::Bool(true) => out.push_str("true"),
        KeyValue::Bool(false) => out.push_str("false"),
        KeyValue::Int(i) => write_int(*i, out),
        KeyValue::Str(s) => write_str(s, out),
        KeyValue::Json(json) => out.push_str(json),
        KeyValue::List(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                to_json(item, out);
            }
            out.push(']');
        }
        KeyValue::Dict(map) => {
            out.push('{');
            for (n, (k, item)) in map.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                to_json(item, out);
            }
            out.push('}');
        }
    }
}

/// The canonical JSON of `v` as a new `String` (see [`to_json`]).
pub fn to_json_string(v: &KeyValue) -> String {
    let mut out = String::with_capacity(256);
    to_json(v, &mut out);
    out
}

/// sha256 hex (64 lowercase chars) of the JSON; BuildStream's `generate_key()`.
pub fn generate_key(v: &KeyValue) -> String {
    crate::util::sha256_hex(to_json_string(v).as_bytes())
}

fn write_int(i: i64, out: &mut String) {
    if i < 0 {
        out.push('-');
    }
    let mut n = i.unsigned_abs();
    let mut buf = [0u8; 20];
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &buf[pos..] {
        out.push(d as char);
    }
}

/// Appends `\uxxxx` (lowercase hex) for one UTF-16 code unit.
fn push_u16_escape(u: u32, out: &mut String) {
    out.push('\\');
    out.push('u');
    for shift in [12, 8, 4, 0] {
        out.push(HEX[((u >> shift) & 0xf) as usize] as char);
    }
}

/// Does any of the eight bytes of `w` need escaping (a control character, `"`, `\\` or a
/// non-ASCII byte)? The usual SWAR tests; exact for "any byte".
fn needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    let quote = has_zero(w ^ (ONES * u64::from(b'"')));
    let backslash = has_zero(w ^ (ONES * u64::from(b'\\')));
    (control | quote | backslash | (w & HIGH)) != 0
}

/// Appends `s` as a JSON string.
pub fn write_str(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    // `start..i` is the pending run of bytes that are copied verbatim.
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Skip eight plain bytes at a time.
        while let Some(chunk) = bytes.get(i..i + 8) {
            if needs_escape(u64::from_le_bytes(chunk.try_into().expect("8 bytes"))) {
                break;
            }
            i += 8;
        }
        let Some(&b) = bytes.get(i) else {
            break;
        };
        if b < 0x80 {
            let esc = ASCII_ESCAPE[usize::from(b)];
            if esc == 0 {
                i += 1;
                continue;
            }
            out.push_str(&s[start..i]);
            if esc == b'u' {
                push_u16_escape(u32::from(b), out);
            } else {
                out.push('\\');
                out.push(esc as char);
            }
            i += 1;
        } else {
            out.push_str(&s[start..i]);
            // `s` is valid UTF-8 and `i` is at the lead byte of a multi-byte
            // sequence, so the continuation bytes are present.
            let cont = |k: usize| u32::from(bytes[i + k] & 0x3f);
            let (cp, len) = if b < 0xe0 {
                ((u32::from(b & 0x1f) << 6) | cont(1), 2)
            } else if b < 0xf0 {
                ((u32::from(b & 0x0f) << 12) | (cont(1) << 6) | cont(2), 3)
            } else {
                let cp = (u32::from(b & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
                (cp, 4)
            };
            if cp >= 0x10000 {
                let c = cp - 0x10000;
                push_u16_escape(0xd800 | (c >> 10), out);
                push_u16_escape(0xdc00 | (c & 0x3ff), out);
            } else {
                push_u16_escape(cp, out);
            }
            i += len;
        }
        start = i;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- BEGIN output of scripts/gen-json-cases.py (real ujson 6.1.0) ----
    // Produced by scripts/gen-json-cases.py against ujson 6.1.0.
    // Do not edit by hand; re-run the script and paste its output.
    fn cases() -> Vec<(&'static str, KeyValue, &'static str, &'static str)> {
        vec![
        (
            "null",
            KeyValue::Null,
            "null",
            "74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b",
        ),
        (
            "true",
            KeyValue::Bool(true),
            "true",
            "b5bea41b6c623f7c09f1bf24dcae58ebab3c0cdd90ad966bc43a45b44867e12b",
        ),
        (
            "false",
            KeyValue::Bool(false),
            "false",
            "fcbcf165908dd18a9e49f7ff27810176db8e9f63b4352213741664245224f8aa",
        ),
        (
            "zero",
            KeyValue::Int(0),
            "0",
            "5feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9",
        ),
        (
            "negative",
            KeyValue::Int(-1),
            "-1",
            "1bad6b8cf97131fceab8543e81f7757195fbb1d36b376ee994ad1cf17699c464",
        ),
        (
            "i64_max",
            KeyValue::Int(9223372036854775807),
            "9223372036854775807",
            "b34a1c30a715f6bf8b7243afa7fab883ce3612b7231716bdcbbdc1982e1aed29",
        ),
        (
            "i64_min",
            KeyValue::Int(i64::MIN),
            "-9223372036854775808",
            "85386477f3af47e4a0b308ee3b3a688df16e8b2228105dd7d4dcd42a9807cb78",
        ),
        (
            "empty_str",
            KeyValue::str(""),
            "\"\"",
            "12ae32cb1ec02d01eda3581b127c1fee3b0dc53572ed6baf239721a03d82e126",
        ),
        (
            "empty_list",
            KeyValue::List(vec![]),
            "[]",
            "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
        ),
        (
            "empty_dict",
            KeyValue::Dict(BTreeMap::new()),
            "{}",
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        ),
        (
            "nested_empties",
            KeyValue::List(vec![KeyValue::str("x"), KeyValue::List(vec![]), KeyValue::Dict(BTreeMap::new()), KeyValue::List(vec![KeyValue::List(vec![])]), KeyValue::dict([("a", KeyValue::Dict(BTreeMap::new()))])]),
            "[\"x\",[],{},[[]],{\"a\":{}}]",
            "1430641f9abeb2b68eb2fa67954d8f8471df76da6bf0c5680e4f619aad92ba2b",
        ),
        (
            "all_ascii",
            KeyValue::str("\u{0}\u{1}\u{2}\u{3}\u{4}\u{5}\u{6}\u{7}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{e}\u{f}\u{10}\u{11}\u{12}\u{13}\u{14}\u{15}\u{16}\u{17}\u{18}\u{19}\u{1a}\u{1b}\u{1c}\u{1d}\u{1e}\u{1f} !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\u{7f}"),
            "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f !\\\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\u{7f}\"",
            "25c46ed605d810855b1be6a87098d03867acbd32f5c8a06a301f289fb18cbb91",
        ),
        (
            "quote_backslash",
            KeyValue::str("say \"hi\" \\ bye \\\""),
            "\"say \\\"hi\\\" \\\\ bye \\\\\\\"\"",
            "697a65c0feea8337d9ca25ee59e20029644cc62967bfa7c31f4c69045841cf6e",
        ),
        (
            "short_escapes",
            KeyValue::str("\u{8}\u{9}\u{a}\u{c}\u{d}"),
            "\"\\b\\t\\n\\f\\r\"",
            "6e62a535b04fecef3e63e0a67bc2a0657383132fed040cbe7fcb725ed72bae27",
        ),
        (
            "u_escapes",
            KeyValue::str("\u{0}\u{1}\u{b}\u{e}\u{1f}"),
            "\"\\u0000\\u0001\\u000b\\u000e\\u001f\"",
            "49b87ce4077d619798db85253267796ed6a279723a0b5b6717b6bb38b9e221d9",
        ),
        (
            "del_slash_html",
            KeyValue::str("\u{7f} / <script>&amp;</script> 'q'"),
            "\"\u{7f} / <script>&amp;</script> 'q'\"",
            "fcc43997f5be4005b8b3bf0c72a8fccbadfeedd9b085a29135cb1d4133032964",
        ),
        (
            "latin1",
            KeyValue::str("caf\u{e9} \u{80}\u{9f}\u{a0}\u{ff}"),
            "\"caf\\u00e9 \\u0080\\u009f\\u00a0\\u00ff\"",
            "0bcaa74f9a05796ea446a1c58a58f991bc78e6c068fc36c9a876545872ede259",
        ),
        (
            "bmp",
            KeyValue::str("\u{100}\u{2028}\u{2029}\u{abcd}\u{feff}\u{d7ff}\u{e000}\u{ffff}"),
            "\"\\u0100\\u2028\\u2029\\uabcd\\ufeff\\ud7ff\\ue000\\uffff\"",
            "7554a29b1bf4c3934f8c4c5a6bd3b1cdd04d73808f248ff923d621a13c6bdf58",
        ),
        (
            "astral",
            KeyValue::str("\u{10000} \u{1f600} \u{10ffff}"),
            "\"\\ud800\\udc00 \\ud83d\\ude00 \\udbff\\udfff\"",
            "725efa57ae9d0a32f88f451102e77050d12ec293474bdf8b5ffdf35ea947464d",
        ),
        (
            "mixed_utf8",
            KeyValue::str("a\u{e9}b\u{4e2d}c\u{1f600}d\u{a}"),
            "\"a\\u00e9b\\u4e2dc\\ud83d\\ude00d\\n\"",
            "ea1bb1f73508556570476bae28a86c387b8e612f2721c77944ae73bc5fd17e0a",
        ),
        (
            "sorting",
            KeyValue::dict([("b", KeyValue::Int(1)), ("a", KeyValue::Int(2)), ("", KeyValue::Int(3)), ("B", KeyValue::Int(4)), ("aa", KeyValue::Int(5)), ("a b", KeyValue::Int(6)), ("a-b", KeyValue::Int(7)), ("a_b", KeyValue::Int(8))]),
            "{\"\":3,\"B\":4,\"a\":2,\"a b\":6,\"a-b\":7,\"a_b\":8,\"aa\":5,\"b\":1}",
            "538009f11b4123c3f2a3d1ed268d04db9d40e302dd7ec810dcd184ef5c37e542",
        ),
        (
            "sorting_non_ascii",
            KeyValue::dict([("\u{1f600}", KeyValue::Int(1)), ("\u{ffff}", KeyValue::Int(2)), ("\u{e9}", KeyValue::Int(3)), ("z", KeyValue::Int(4)), ("\u{e000}", KeyValue::Int(5)), ("\u{ff}", KeyValue::Int(6)), ("\u{100}", KeyValue::Int(7)), ("\u{10000}", KeyValue::Int(8)), ("\u{d7ff}", KeyValue::Int(9))]),
            "{\"z\":4,\"\\u00e9\":3,\"\\u00ff\":6,\"\\u0100\":7,\"\\ud7ff\":9,\"\\ue000\":5,\"\\uffff\":2,\"\\ud800\\udc00\":8,\"\\ud83d\\ude00\":1}",
            "362c05b240962394f6255aff615f31c54387243bea9be4442721c4ce276838fb",
        ),
        (
            "escaped_keys",
            KeyValue::dict([("a\"b", KeyValue::str("\\")), ("tab\u{9}", KeyValue::str("\u{a}")), ("/", KeyValue::str("/")), ("\u{e9}", KeyValue::str("\u{1f600}"))]),
            "{\"/\":\"/\",\"a\\\"b\":\"\\\\\",\"tab\\t\":\"\\n\",\"\\u00e9\":\"\\ud83d\\ude00\"}",
            "df6caa29b7d8ffa3fbbeef2b81bd2f4b045b816af200a7342f7218ef9858bfea",
        ),
        (
            "nesting",
            KeyValue::dict([("z", KeyValue::List(vec![KeyValue::Int(1), KeyValue::List(vec![KeyValue::Int(2), KeyValue::List(vec![KeyValue::Int(3), KeyValue::dict([("y", KeyValue::Null), ("x", KeyValue::List(vec![KeyValue::Bool(true), KeyValue::Bool(false)]))])])])])), ("a", KeyValue::dict([("c", KeyValue::dict([("b", KeyValue::Dict(BTreeMap::new()))]))]))]),
            "{\"a\":{\"c\":{\"b\":{}}},\"z\":[1,[2,[3,{\"x\":[true,false],\"y\":null}]]]}",
            "b72e9a711916c12721d4e8e62aada7210e34cb250d47509f2340e14bfc7e4629",
        ),
        (
            "element_key",
            KeyValue::dict([("core-artifact-version", KeyValue::Int(11)), ("element-plugin-key", KeyValue::dict([("source", KeyValue::str("/")), ("target", KeyValue::str("/"))])), ("element-plugin-name", KeyValue::str("import")), ("element-plugin-version", KeyValue::Int(0)), ("sandbox", KeyValue::dict([("build-os", KeyValue::str("linux")), ("build-arch", KeyValue::str("x86_64"))])), ("environment", KeyValue::dict([("PATH", KeyValue::str("/usr/bin:/bin:/usr/sbin:/sbin")), ("SHELL", KeyValue::str("/bin/sh")), ("TERM", KeyValue::str("dumb")), ("USER", KeyValue::str("tomjon")), ("USERNAME", KeyValue::str("tomjon")), ("LOGNAME", KeyValue::str("tomjon")), ("LC_ALL", KeyValue::str("C")), ("HOME", KeyValue::str("/tmp")), ("TZ", KeyValue::str("UTC")), ("SOURCE_DATE_EPOCH", KeyValue::str("1321009871"))])), ("sources", KeyValue::List(vec![KeyValue::dict([("key", KeyValue::List(vec![KeyValue::str("https://example.com/foo.bar"), KeyValue::str("abc"), KeyValue::str("foo.bar"), KeyValue::Bool(false)])), ("name", KeyValue::str("remote"))]), KeyValue::dict([("key", KeyValue::dict([("path", KeyValue::str("files/a b")), ("directory", KeyValue::Null)])), ("name", KeyValue::str("local"))])])), ("fatal-warnings", KeyValue::List(vec![])), ("public", KeyValue::dict([("bst", KeyValue::dict([("integration-commands", KeyValue::List(vec![KeyValue::str("ldconfig"), KeyValue::str("echo \"done\" > /dev/null")])), ("split-rules", KeyValue::dict([("devel", KeyValue::List(vec![KeyValue::str("/usr/include"), KeyValue::str("/usr/include/**")]))]))]))])), ("dependencies", KeyValue::List(vec![KeyValue::dict([("key", KeyValue::str("44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"))])]))]),
            "{\"core-artifact-version\":11,\"dependencies\":[{\"key\":\"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\"}],\"element-plugin-key\":{\"source\":\"/\",\"target\":\"/\"},\"element-plugin-name\":\"import\",\"element-plugin-version\":0,\"environment\":{\"HOME\":\"/tmp\",\"LC_ALL\":\"C\",\"LOGNAME\":\"tomjon\",\"PATH\":\"/usr/bin:/bin:/usr/sbin:/sbin\",\"SHELL\":\"/bin/sh\",\"SOURCE_DATE_EPOCH\":\"1321009871\",\"TERM\":\"dumb\",\"TZ\":\"UTC\",\"USER\":\"tomjon\",\"USERNAME\":\"tomjon\"},\"fatal-warnings\":[],\"public\":{\"bst\":{\"integration-commands\":[\"ldconfig\",\"echo \\\"done\\\" > /dev/null\"],\"split-rules\":{\"devel\":[\"/usr/include\",\"/usr/include/**\"]}}},\"sandbox\":{\"build-arch\":\"x86_64\",\"build-os\":\"linux\"},\"sources\":[{\"key\":[\"https://example.com/foo.bar\",\"abc\",\"foo.bar\",false],\"name\":\"remote\"},{\"key\":{\"directory\":null,\"path\":\"files/a b\"},\"name\":\"local\"}]}",
            "3b79da343d8d8a64ba485472e3b320d42c8c45f0c9ccceed2808bb9cadfb2138",
        ),
    ]
    }

    /// `(json.len(), generate_key)` of the string of every Unicode scalar value.
    const ALL_SCALARS: (usize, &str) = (
        12963344,
        "eb2efa0a1aa66fb49674eb593c572096a01480ce297a450a0178d493a6128e43",
    );
    /// `generate_key` of `{chr(i): i}` for every scalar value `i` divisible by 7.
    const SCALAR_KEYS_DICT: &str =
        "bdd9c0606c2e154de1d7cc676ec91a74159b112e708f56a97f7040187db1f74c";
    // ---- END output of scripts/gen-json-cases.py ----

    #[test]
    fn word_test_matches_the_byte_table() {
        for b in 0..=255u8 {
            let plain = b < 0x80 && ASCII_ESCAPE[usize::from(b)] == 0;
            for pos in 0..8 {
                let mut word = [b'a'; 8];
                word[pos] = b;
                assert_eq!(
                    needs_escape(u64::from_le_bytes(word)),
                    !plain,
                    "byte {b:#x}"
                );
            }
        }
    }

    #[test]
    fn recorded_ujson_cases() {
        for (name, value, json, key) in cases() {
            assert_eq!(to_json_string(&value), json, "JSON of case {name}");
            assert_eq!(generate_key(&value), key, "key of case {name}");
        }
    }

    fn all_scalars() -> impl Iterator<Item = char> {
        (0..=0x10ffff).filter_map(char::from_u32)
    }

    #[test]
    fn every_scalar_value_escapes_like_ujson() {
        let s: String = all_scalars().collect();
        let v = KeyValue::Str(s);
        assert_eq!(to_json_string(&v).len(), ALL_SCALARS.0);
        assert_eq!(generate_key(&v), ALL_SCALARS.1);
    }

    #[test]
    fn every_scalar_value_sorts_like_ujson() {
        let v = KeyValue::dict(
            all_scalars()
                .filter(|c| u32::from(*c) % 7 == 0)
                .map(|c| (c.to_string(), i64::from(u32::from(c)))),
        );
        assert_eq!(generate_key(&v), SCALAR_KEYS_DICT);
    }

    #[test]
    fn constructors_and_display() {
        let v = KeyValue::dict([
            ("s", KeyValue::from("x")),
            ("b", true.into()),
            ("i", 3i32.into()),
            ("n", Option::<bool>::None.into()),
            ("l", KeyValue::list(["a", "b"])),
            ("d", KeyValue::empty_dict()),
        ]);
        assert_eq!(
            v.to_string(),
            r#"{"b":true,"d":{},"i":3,"l":["a","b"],"n":null,"s":"x"}"#
        );
        // to_json appends rather than overwriting.
        let mut out = String::from(">");
        to_json(&KeyValue::List(vec![]), &mut out);
        assert_eq!(out, ">[]");
    }
}
