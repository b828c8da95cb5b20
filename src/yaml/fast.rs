//! A fast path for the YAML that BuildStream projects are written in.
//!
//! saphyr's scanner handles all of YAML one character at a time and dominated loading large
//! projects. Element files use a small, regular part of YAML: block mappings and sequences,
//! one-line plain and quoted scalars, literal and folded block scalars, one-line flow
//! sequences and `{}`. This parser reads that part line by line and builds the same
//! [`Node`] tree (values, provenance) as the saphyr path in `parse.rs`.
//!
//! It never reports an error: on anything outside that part, or anything it is not sure is
//! valid (tabs, anchors, tags, multi-line plain or quoted scalars, explicit indentation
//! indicators, duplicate keys, ...), it gives up and the caller parses the text with saphyr,
//! which reproduces BuildStream's behaviour and messages. Giving up is always correct, so
//! every rule here errs on that side; `tests` and the `yaml_fast` fuzz target check that
//! whatever it accepts, saphyr parses to the very same tree.

use super::node::{FileId, Map, Node, Provenance, Value};
use std::sync::Arc;

/// Parses `text` if it stays within the supported subset; `None` otherwise.
pub fn parse(text: &str, file: FileId) -> Option<Node> {
    // Tabs, carriage returns and other control characters are left to saphyr.
    if text.bytes().any(|b| (b < 0x20 && b != b'\n') || b == 0x7f) {
        return None;
    }
    let lines: Vec<Line> = text.split('\n').map(Line::new).collect();
    if lines
        .iter()
        .any(|l| l.is_document_marker() || (!l.ascii && !l.text.chars().all(is_plain_char)))
    {
        return None;
    }
    let mut p = FastParser {
        lines,
        pos: 0,
        file,
        entries: Vec::new(),
    };
    let first = p.next_content()?;
    if p.lines[first].indent != 0 {
        return None;
    }
    let root = p.mapping(0, None)?;
    // Everything must have been consumed.
    match p.next_content() {
        None => Some(root),
        Some(_) => None,
    }
}

/// A plain mapping key as a shared string: the same few dozen keys recur in every file,
/// so each thread keeps one copy of each short key instead of allocating it again.
fn intern_key(key: &str) -> Arc<str> {
    use std::cell::RefCell;
    thread_local! {
        static KEYS: RefCell<rustc_hash::FxHashSet<Arc<str>>> = RefCell::default();
    }
    if key.len() > 32 {
        return Arc::from(key);
    }
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if let Some(k) = keys.get(key) {
            return k.clone();
        }
        let k: Arc<str> = Arc::from(key);
        keys.insert(k.clone());
        k
    })
}

/// Non-ASCII characters YAML allows anywhere (printable, not a BOM or line separator).
fn is_plain_char(c: char) -> bool {
    c.is_ascii()
        || matches!(c, '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
            && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// One line of the input.
struct Line<'t> {
    text: &'t str,
    /// Leading spaces.
    indent: usize,
    ascii: bool,
}

impl<'t> Line<'t> {
    fn new(text: &'t str) -> Self {
        let indent = text.bytes().take_while(|&b| b == b' ').count();
        Line {
            text,
            indent,
            ascii: text.is_ascii(),
        }
    }

    /// Only spaces (or nothing).
    fn is_blank(&self) -> bool {
        self.indent == self.text.len()
    }

    /// Blank or a comment.
    fn is_skippable(&self) -> bool {
        self.is_blank() || self.text.as_bytes()[self.indent] == b'#'
    }

    fn is_document_marker(&self) -> bool {
        let t = self.text;
        t.starts_with("---") || t.starts_with("...") || t.starts_with('%')
    }

    /// The column (in characters, as saphyr counts) of byte offset `at`.
    fn col(&self, at: usize) -> u32 {
        if self.ascii {
            at as u32
        } else {
            self.text[..at].chars().count() as u32
        }
    }

    /// Content from `at`: is it a sequence entry (`-` followed by a space or the end)?
    fn is_dash_at(&self, at: usize) -> bool {
        let b = self.text.as_bytes();
        b.get(at) == Some(&b'-') && matches!(b.get(at + 1), None | Some(b' '))
    }
}

struct FastParser<'t> {
    lines: Vec<Line<'t>>,
    /// The next line to read.
    pos: usize,
    file: FileId,
    /// Entries of the mappings being parsed, innermost last: each mapping is built once
    /// its entries are known, with the right capacity (no growing).
    entries: Vec<(Arc<str>, Node)>,
}

/// Characters that may not start a plain scalar (besides `-`, `?`, `:` before a space).
fn is_indicator(b: u8) -> bool {
    matches!(
        b,
        b',' | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    )
}

/// Can a plain scalar start with `s`?
fn plain_start(s: &str) -> bool {
    let b = s.as_bytes();
    match b.first() {
        None => false,
        Some(&c) if is_indicator(c) => false,
        Some(b'-' | b'?' | b':') => matches!(b.get(1), Some(&c) if c != b' '),
        Some(_) => true,
    }
}

/// What follows a value on its line: nothing, or spaces and an optional comment.
fn rest_is_empty(s: &str) -> bool {
    let t = s.trim_start_matches(' ');
    t.is_empty() || (t.starts_with('#') && t.len() < s.len())
}

/// The end of a one-line plain scalar starting at `s[0]`: before a ` #` comment, without
/// trailing spaces. None if the line holds anything a plain scalar cannot (`: `, a final `:`).
fn plain_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut end = b.len();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' if i > 0 && b[i - 1] == b' ' => {
                end = i;
                break;
            }
            b':' if matches!(b.get(i + 1), None | Some(b' ')) => return None,
            _ => {}
        }
        i += 1;
    }
    let value = s[..end].trim_end_matches(' ');
    (!value.is_empty()).then_some(value.len())
}

/// A single-quoted scalar at the start of `s`: its value and the bytes it spans.
fn single_quoted(s: &str) -> Option<(String, usize)> {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut run = 1;
    let mut i = 1;
    while i < b.len() {
        if b[i] == b'\'' {
            out.push_str(&s[run..i]);
            if b.get(i + 1) == Some(&b'\'') {
                out.push('\'');
                i += 2;
                run = i;
                continue;
            }
            return Some((out, i + 1));
        }
        i += 1;
    }
    None
}

/// A double-quoted scalar at the start of `s` (common escapes only).
fn double_quoted(s: &str) -> Option<(String, usize)> {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut run = 1;
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'"' => {
                out.push_str(&s[run..i]);
                return Some((out, i + 1));
            }
            b'\\' => {
                out.push_str(&s[run..i]);
                let (c, len) = match *b.get(i + 1)? {
                    b'\\' => ('\\', 2),
                    b'"' => ('"', 2),
                    b'/' => ('/', 2),
                    b'n' => ('\n', 2),
                    b't' => ('\t', 2),
                    b'r' => ('\r', 2),
                    b'0' => ('\0', 2),
                    b'a' => ('\x07', 2),
                    b'b' => ('\x08', 2),
                    b'e' => ('\x1b', 2),
                    b'f' => ('\x0c', 2),
                    b'v' => ('\x0b', 2),
                    b'x' => (hex_char(s.get(i + 2..i + 4)?)?, 4),
                    b'u' => (hex_char(s.get(i + 2..i + 6)?)?, 6),
                    b'U' => (hex_char(s.get(i + 2..i + 10)?)?, 10),
                    _ => return None,
                };
                out.push(c);
                i += len;
                run = i;
            }
            _ => i += 1,
        }
    }
    None
}

fn hex_char(digits: &str) -> Option<char> {
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    char::from_u32(u32::from_str_radix(digits, 16).ok()?)
}

/// Python's `str.strip()`, as the saphyr path applies to scalar values.
fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
}

impl<'t> FastParser<'t> {
    fn prov(&self, line: usize, at: usize) -> Provenance {
        Provenance {
            file: self.file,
            line: line as u32,
            col: self.lines[line].col(at),
        }
    }

    fn scalar(&self, value: &str, line: usize, at: usize) -> Node {
        Node::scalar(py_strip(value), self.prov(line, at))
    }

    /// Skips blank and comment lines; returns the next content line without consuming it.
    fn next_content(&mut self) -> Option<usize> {
        while self.pos < self.lines.len() {
            if !self.lines[self.pos].is_skippable() {
                return Some(self.pos);
            }
            self.pos += 1;
        }
        None
    }

    /// After a value that ends on its line, within a block at `indent`: the next content line
    /// must not be more indented (that would continue a multi-line scalar, or be an error).
    fn value_ends_line(&mut self, indent: usize) -> Option<()> {
        match self.next_content() {
            Some(l) if self.lines[l].indent > indent => None,
            _ => Some(()),
        }
    }

    /// A block mapping whose keys are at column `indent`. `first` is the byte offset of the
    /// first key when it starts mid-line (after a sequence entry's `- `) on line `self.pos`.
    fn mapping(&mut self, indent: usize, first: Option<usize>) -> Option<Node> {
        let start = self.pos;
        let base = self.entries.len();
        let map = self.mapping_entries(indent, first, base);
        let entries = self.entries.drain(base..);
        let mut map = map.map(|()| Map::with_capacity(entries.len()))?;
        for (key, value) in entries {
            if map.insert(key, value).is_some() {
                return None;
            }
        }
        Some(Node {
            value: Value::Map(Arc::new(map)),
            prov: self.prov(start, first.unwrap_or(indent)),
        })
    }

    /// The entries of [`FastParser::mapping`], pushed on `self.entries` above `base`.
    fn mapping_entries(&mut self, indent: usize, first: Option<usize>, base: usize) -> Option<()> {
        let mut at = first;
        loop {
            let empty = self.entries.len() == base;
            let l = match at.take() {
                Some(_) => self.pos,
                None => match self.next_content() {
                    Some(l) if self.lines[l].indent == indent && !empty => l,
                    Some(l) if empty => l,
                    Some(l) if self.lines[l].indent > indent => return None,
                    _ => break,
                },
            };
            let offset = if empty {
                first.unwrap_or(indent)
            } else {
                indent
            };
            let line = &self.lines[l];
            if line.is_dash_at(offset) {
                if empty {
                    return None;
                }
                // An indentless sequence ends here; the parent decides what follows.
                break;
            }
            let (key, colon) = self.key(l, offset)?;
            self.pos = l + 1;
            let value = self.mapping_value(l, colon, indent)?;
            self.entries.push((key, value));
        }
        Some(())
    }

    /// The key starting at byte `at` of line `l`, and the offset of its `:`.
    fn key(&self, l: usize, at: usize) -> Option<(Arc<str>, usize)> {
        let text = self.lines[l].text;
        let s = &text[at..];
        let (key, len): (Arc<str>, usize) = match s.as_bytes()[0] {
            b'\'' => {
                let (v, n) = single_quoted(s)?;
                (Arc::from(v), n)
            }
            b'"' => {
                let (v, n) = double_quoted(s)?;
                (Arc::from(v), n)
            }
            _ => {
                if !plain_start(s) {
                    return None;
                }
                // The first `: ` (or a final `:`) ends the key, which must not end with a
                // space nor hold a comment (` #`).
                let b = s.as_bytes();
                let mut colon = None;
                for i in 0..b.len() {
                    match b[i] {
                        b':' if i + 1 == b.len() || b[i + 1] == b' ' => {
                            colon = Some(i);
                            break;
                        }
                        b' ' if b.get(i + 1) == Some(&b'#') => return None,
                        _ => {}
                    }
                }
                let colon = colon?;
                let key = &s[..colon];
                if key.ends_with(' ') {
                    return None;
                }
                (intern_key(key), colon)
            }
        };
        // YAML limits implicit keys to 1024 characters.
        let b = s.as_bytes();
        (len < 1000 && b.get(len) == Some(&b':') && matches!(b.get(len + 1), None | Some(b' ')))
            .then_some((key, at + len))
    }

    /// The value after `key:` (colon at byte `colon` of line `l`) in a mapping at `indent`.
    fn mapping_value(&mut self, l: usize, colon: usize, indent: usize) -> Option<Node> {
        let text = self.lines[l].text;
        let after = &text[colon + 1..];
        let skip = after.len() - after.trim_start_matches(' ').len();
        let at = colon + 1 + skip;
        if rest_is_empty(after) {
            // The value is on the following lines, or empty.
            return match self.next_content() {
                Some(n) if self.lines[n].indent > indent => {
                    let ni = self.lines[n].indent;
                    if self.lines[n].is_dash_at(ni) {
                        self.sequence(ni, false)
                    } else {
                        self.mapping(ni, None)
                    }
                }
                Some(n) if self.lines[n].indent == indent && self.lines[n].is_dash_at(indent) => {
                    self.sequence(indent, true)
                }
                // An empty value: BuildStream places it just after the colon.
                _ => Some(self.scalar("", l, colon + 1)),
            };
        }
        self.inline_value(l, at, indent)
    }

    /// A value starting at byte `at` of line `l` (already consumed), in a block at `indent`.
    fn inline_value(&mut self, l: usize, at: usize, indent: usize) -> Option<Node> {
        let text = self.lines[l].text;
        let s = &text[at..];
        let node = match s.as_bytes()[0] {
            b'\'' | b'"' => {
                let (v, n) = if s.starts_with('\'') {
                    single_quoted(s)?
                } else {
                    double_quoted(s)?
                };
                if !rest_is_empty(&s[n..]) {
                    return None;
                }
                self.scalar(&v, l, at)
            }
            b'[' => self.flow_sequence(l, at)?,
            b'{' => {
                let inner = s[1..].trim_start_matches(' ');
                if !inner.starts_with('}') || !rest_is_empty(&inner[1..]) {
                    return None;
                }
                Node::empty_map(self.prov(l, at))
            }
            b'|' | b'>' => return self.block_scalar(l, at, indent),
            _ => {
                if !plain_start(s) {
                    return None;
                }
                let end = plain_end(s)?;
                self.scalar(&s[..end], l, at)
            }
        };
        self.value_ends_line(indent)?;
        Some(node)
    }

    /// A one-line flow sequence of scalars at byte `at` of line `l`.
    fn flow_sequence(&self, l: usize, at: usize) -> Option<Node> {
        let text = self.lines[l].text;
        let b = text.as_bytes();
        let mut items = Vec::new();
        let skip_spaces = |mut i: usize| {
            while b.get(i) == Some(&b' ') {
                i += 1;
            }
            i
        };
        let mut i = skip_spaces(at + 1);
        if b.get(i) != Some(&b']') {
            loop {
                let s = &text[i..];
                let (value, len) = match *b.get(i)? {
                    b'\'' => single_quoted(s)?,
                    b'"' => double_quoted(s)?,
                    _ => {
                        if !plain_start(s) {
                            return None;
                        }
                        let len = s.find([',', ']'])?;
                        let item = &s[..len];
                        // saphyr rejects a `-` or `?` after a space, before a flow indicator.
                        if item.contains(['[', '{', '}', '#', ':'])
                            || item.contains(" -")
                            || item.contains(" ?")
                            || matches!(s.as_bytes(), [b'-' | b'?', b',' | b']', ..])
                        {
                            return None;
                        }
                        (item.trim_end_matches(' ').to_owned(), len)
                    }
                };
                items.push(self.scalar(&value, l, i));
                i = skip_spaces(i + len);
                match *b.get(i)? {
                    b',' => {
                        i = skip_spaces(i + 1);
                        if matches!(b.get(i), None | Some(b']')) {
                            return None;
                        }
                    }
                    b']' => break,
                    _ => return None,
                }
            }
        }
        if !rest_is_empty(&text[i + 1..]) {
            return None;
        }
        Some(Node {
            value: Value::Seq(Arc::new(items)),
            prov: self.prov(l, at),
        })
    }

    /// A block sequence whose dashes are at column `indent`, starting at line `self.pos`.
    /// `indentless`: the mapping value of a key at the same column as the dashes.
    fn sequence(&mut self, indent: usize, indentless: bool) -> Option<Node> {
        let start = self.pos;
        // Where the saphyr path places the sequence: the first dash, except that saphyr
        // marks an indentless sequence at its first item and `parse.rs` only moves that mark
        // back to the dash when the item starts with neither `-` nor `[`.
        let mut prov = self.prov(start, indent);
        let mut items = Vec::new();
        while let Some(l) = self.next_content() {
            let line = &self.lines[l];
            if line.indent != indent || !line.is_dash_at(indent) {
                if line.indent > indent {
                    return None;
                }
                break;
            }
            let after = &line.text[indent + 1..];
            let at = indent + 1 + (after.len() - after.trim_start_matches(' ').len());
            let s = &line.text[at..];
            if rest_is_empty(after) || line.is_dash_at(at) {
                // Nested blocks and empty entries are left to saphyr.
                return None;
            }
            if indentless && items.is_empty() && (s.starts_with('-') || s.starts_with('[')) {
                prov = self.prov(l, at);
            }
            let item = if plain_start(s) && self.key(l, at).is_some() {
                self.mapping(at, Some(at))?
            } else {
                self.pos = l + 1;
                self.inline_value(l, at, indent)?
            };
            items.push(item);
        }
        Some(Node {
            value: Value::Seq(Arc::new(items)),
            prov,
        })
    }

    /// A literal (`|`) or folded (`>`) block scalar whose header is at byte `at` of line `l`,
    /// in a block at `indent`.
    fn block_scalar(&mut self, l: usize, at: usize, indent: usize) -> Option<Node> {
        let header = &self.lines[l].text[at..];
        let literal = header.starts_with('|');
        let mut h = &header[1..];
        let mut keep = false;
        let mut strip = false;
        match h.as_bytes().first() {
            Some(b'-') => {
                strip = true;
                h = &h[1..];
            }
            Some(b'+') => {
                keep = true;
                h = &h[1..];
            }
            _ => {}
        }
        if !h.is_empty() && !rest_is_empty(h) {
            return None;
        }
        // The content: its indentation is that of the first line, which must be deeper than
        // the block's (leading empty lines are left to saphyr).
        let first = self.pos;
        let content_indent = {
            let line = self.lines.get(first)?;
            if line.is_blank() || line.indent <= indent + 1 {
                return None;
            }
            line.indent
        };
        let mut end = first;
        while let Some(line) = self.lines.get(end) {
            if line.is_blank() {
                if line.text.len() > content_indent {
                    return None;
                }
            } else if line.indent < content_indent {
                break;
            }
            end += 1;
        }
        let mut last = end;
        while last > first && self.lines[last - 1].is_blank() {
            last -= 1;
        }
        let trailing_blank = end - last;
        let body: Vec<&str> = self.lines[first..last]
            .iter()
            .map(|line| {
                if line.is_blank() {
                    ""
                } else {
                    &line.text[content_indent..]
                }
            })
            .collect();
        let mut value = String::new();
        if literal {
            value = body.join("\n");
        } else {
            let mut empties = 0;
            let mut prev_spaced = None::<bool>;
            for text in body {
                if text.is_empty() {
                    empties += 1;
                    continue;
                }
                let spaced = text.starts_with(' ');
                match prev_spaced {
                    None => {}
                    Some(false) if !spaced && empties == 0 => value.push(' '),
                    Some(false) if !spaced => value.extend(std::iter::repeat_n('\n', empties)),
                    Some(_) => value.extend(std::iter::repeat_n('\n', empties + 1)),
                }
                value.push_str(text);
                empties = 0;
                prev_spaced = Some(spaced);
            }
        }
        if !strip {
            value.push('\n');
            if keep {
                value.extend(std::iter::repeat_n('\n', trailing_blank));
            }
        }
        self.pos = end;
        let node = self.scalar(&value, first, content_indent);
        self.value_ends_line(indent)?;
        Some(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::node::SYNTHETIC;

    /// Both parsers on `text`: the fast one must either give up or agree with saphyr.
    fn agree(text: &str) -> bool {
        let fast = parse(text, SYNTHETIC);
        let reference = super::super::parse::parse_str_reference(text, SYNTHETIC);
        match fast {
            None => false,
            Some(f) => {
                let r = reference.unwrap_or_else(|e| {
                    panic!("fast parser accepted an error ({}):\n{text}", e.message)
                });
                assert!(f.identical(&r), "trees differ for:\n{text}\n{f:?}\n{r:?}");
                true
            }
        }
    }

    #[test]
    fn common_forms_are_handled_like_saphyr() {
        let handled = [
            "kind: manual\n",
            "# c\nkind: manual\n\ndepends:\n- a.bst\n- filename: b.bst\n  type: build\n",
            "variables:\n  foo: bar  # c\n  empty:\n  q: 'x''y'\n  dq: \"a\\\"b\\n\"\n",
            "a:\n  lit: |\n    line1\n      line2\n\n    x\n  fold: >-\n    a\n    b\n\n    c\n     d\n    e\n",
            "config:\n  build-commands:\n    - echo 1\n    - |\n      multi\n  x: []\n  y: {}\n  z: [a, 'b', \"c\" ]\n",
            "public:\n  bst:\n    split-rules:\n      devel:\n        (>):\n        - x\nlast:\n",
            "a: # comment\nb:\nc:\n   # only comment\nd: x\n",
            "s:\n- k: v\n  l:\n  - 1\n  - 2\n  m: |+\n    keep\n\n- x\nt: 'q'   # c\n",
            "url: https://example.com/x:y\nh: a#b\ni: -x\n'(>)': [y]\n\"k\": v\n",
            "sources:\n- kind: tar\n  url: alias:foo.tar.gz\n  ref: abc\n",
            "x: caf\u{e9}\ny: [\u{e9}, b]\n",
        ];
        for text in handled {
            assert!(agree(text), "not handled by the fast parser:\n{text}");
        }
    }

    #[test]
    fn gives_up_on_what_it_does_not_know() {
        let refused = [
            "a:\tb\n",
            "a: &x b\n",
            "a: !tag b\n",
            "a: plain\n  continued\n",
            "a: 'multi\n  line'\n",
            "a: |2\n   x\n",
            "a: x\na: y\n",
            "- a\n",
            "a: [b,\n  c]\n",
            "a: {b: c}\n",
            "a:\n  - \n  - y\n",
            "a: b: c\n",
            "---\na: b\n",
            "",
            "a: |\n\n  x\n",
            "a:\n  b\n",
            "a: [x or  -]\n",
            "a: [-]\n",
        ];
        for text in refused {
            assert!(!agree(text), "unexpectedly handled:\n{text}");
        }
    }
}

/// The fast path against saphyr on real files: every YAML file under `testprojects/` and, if
/// present, the shared corpus (`../shared/corpus`), and on mutations of each line of them.
#[cfg(test)]
mod differential {
    use super::parse;
    use crate::yaml::node::SYNTHETIC;
    use crate::yaml::parse_str_reference;
    use std::path::{Path, PathBuf};

    fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(ty) = e.file_type() else { continue };
            if ty.is_dir() {
                yaml_files(&p, out);
            } else if ty.is_file()
                && p.extension().is_some_and(|x| {
                    ["bst", "yml", "yaml", "conf", "refs"].contains(&&*x.to_string_lossy())
                })
            {
                out.push(p);
            }
        }
    }

    /// Returns whether the fast path handled `text`; panics if it disagrees with saphyr.
    fn check(text: &str, what: &str) -> bool {
        let Some(fast) = parse(text, SYNTHETIC) else {
            return false;
        };
        match parse_str_reference(text, SYNTHETIC) {
            Ok(reference) => assert!(fast.identical(&reference), "trees differ: {what}:\n{text}"),
            Err(e) => panic!(
                "accepted what saphyr rejects ({}): {what}:\n{text}",
                e.message
            ),
        }
        true
    }

    /// Small edits of one line at a time, to probe the edges of the subset.
    fn mutations(text: &str) -> Vec<String> {
        let lines: Vec<&str> = text.split('\n').collect();
        let edits: [fn(&str) -> String; 8] = [
            |l| format!(" {l}"),
            |l| l.strip_prefix(' ').unwrap_or(l).to_owned(),
            |l| format!("{l}:"),
            |l| format!("{l} #"),
            |l| l.replacen(": ", ":", 1),
            |l| l.replacen("- ", "-", 1),
            |l| l.replacen('\'', "", 1),
            |l| l.get(..l.len() / 2).unwrap_or(l).to_owned(),
        ];
        let mut out = Vec::new();
        for i in 0..lines.len().min(60) {
            for edit in edits {
                let mut m = lines.clone();
                let new = edit(lines[i]);
                m[i] = &new;
                out.push(m.join("\n"));
            }
            let mut m = lines.clone();
            m.remove(i);
            out.push(m.join("\n"));
        }
        out
    }

    fn run(root: &Path, mutate: bool) -> (usize, usize) {
        let mut files = Vec::new();
        yaml_files(root, &mut files);
        files.sort();
        let (mut handled, mut total) = (0, 0);
        for f in &files {
            let Ok(text) = std::fs::read_to_string(f) else {
                continue;
            };
            total += 1;
            if check(&text, &f.display().to_string()) {
                handled += 1;
            }
            if mutate && text.len() < 20_000 {
                for (n, m) in mutations(&text).iter().enumerate() {
                    check(m, &format!("{} mutation {n}", f.display()));
                }
            }
        }
        (handled, total)
    }

    #[test]
    fn agrees_with_saphyr_on_test_projects() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let (handled, total) = run(&root.join("testprojects"), true);
        eprintln!("fast path: {handled} of {total} test project files");
        assert!(handled * 2 > total);
    }

    #[test]
    fn agrees_with_saphyr_on_the_corpus() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
        if !corpus.is_dir() {
            eprintln!("skipped: {} is absent", corpus.display());
            return;
        }
        let (handled, total) = run(&corpus, false);
        eprintln!("fast path: {handled} of {total} corpus files");
    }
}
