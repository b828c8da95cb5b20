//! Parsing text into a [`Node`] tree with BuildStream's rules, on saphyr's event parser.

use super::node::{register_file, FileId, Map, Node, Provenance, Value};
use super::{LoadError, LoadErrorReason, Result};
use saphyr_parser::{Event, Parser, ScanError, Span};
use std::path::Path;
use std::sync::Arc;

/// Loads a YAML file; `displayname` is used in error messages and provenance.
pub fn load_file(path: &Path, displayname: &str) -> Result<Node> {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            LoadError::new(
                LoadErrorReason::InvalidYaml,
                format!("{displayname}: File is not valid UTF-8"),
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LoadError::new(
                LoadErrorReason::MissingFile,
                format!("Could not find file at {}", path.display()),
            ))
        }
        Err(_) if path.is_dir() => {
            return Err(LoadError::new(
                LoadErrorReason::LoadingDirectory,
                format!("{} is a directory", path.display()),
            ))
        }
        Err(e) => {
            return Err(LoadError::new(
                LoadErrorReason::MissingFile,
                format!("{displayname}: {e}"),
            ))
        }
    };
    let file = register_file(path.to_path_buf(), displayname.to_owned());
    parse_str(&text, file).map_err(|e| e.prefixed(&format!("{displayname}: ")))
}

/// A position in BuildStream's own messages: 0-based line and column.
#[derive(Clone, Copy)]
struct Pos(u32, u32);

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at line {} column {}", self.0, self.1)
    }
}

impl Pos {
    fn capitalised(self) -> String {
        format!("line {} column {}", self.0, self.1)
    }
}

/// Python's `str.strip()` whitespace set.
fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
}

enum Frame {
    Map(Map, Provenance, Option<Arc<str>>),
    Seq(Vec<Node>, Provenance),
}

fn prov(file: FileId, span: &Span) -> Provenance {
    Provenance {
        file,
        line: span.start.line().saturating_sub(1) as u32,
        col: span.start.col() as u32,
    }
}

fn malformed(msg: String) -> LoadError {
    LoadError::new(
        LoadErrorReason::InvalidYaml,
        format!("Malformed YAML:\n\n{msg}\n\n"),
    )
}

/// A YAML error in libyaml's form, as BuildStream prints it: each message with its position
/// (1-based line and column).
fn severe(parts: &[(&str, usize, usize)]) -> LoadError {
    let mut text = String::from("Severely malformed YAML:\n\n");
    for (message, line, col) in parts {
        text += &format!("{message}\n  in \"<unicode string>\", line {line}, column {col}\n");
    }
    text.push('\n');
    LoadError::new(LoadErrorReason::InvalidYaml, text)
}

/// libyaml's words where no token can start.
const NO_TOKEN: &str =
    "while scanning for the next token\nfound character that cannot start any token";

fn scan_error(text: &str, e: &ScanError) -> LoadError {
    let m = e.marker();
    if let Some(err) = two_part_scan_error(text, e) {
        return err;
    }
    if e.info().starts_with("unexpected character: ") {
        // A reserved indicator (`%`, `@`, `` ` ``) where a token should start.
        return severe(&[(NO_TOKEN, m.line(), m.col() + 1)]);
    }
    if e.info().starts_with("tabs disallowed") {
        // A tab where indentation is expected: libyaml stops at the first tab of the blanks
        // before saphyr's mark.
        let chars: Vec<char> = text
            .split('\n')
            .nth(m.line().saturating_sub(1))
            .unwrap_or_default()
            .chars()
            .collect();
        let start = blank_run_start(&chars, m.col(), |c| c == ' ' || c == '\t');
        let col = (start..m.col().min(chars.len()))
            .find(|&i| chars[i] == '\t')
            .map_or(m.col(), |i| i + 1);
        return severe(&[(NO_TOKEN, m.line(), col)]);
    }
    severe(&[(e.info(), m.line(), m.col() + 1)])
}

/// libyaml's error for a quote that `e` marks and nothing closes: the problem is at the end
/// of the text (1-based: the line after the last line break, the column after its last
/// character).
fn unclosed_quote_error(text: &str, e: &ScanError) -> LoadError {
    let m = e.marker();
    let end_line = text.matches('\n').count() + 1;
    let end_col = text.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
    severe(&[
        ("while scanning a quoted scalar", m.line(), m.col() + 1),
        ("found unexpected end of stream", end_line, end_col),
    ])
}

/// saphyr's one-line scanner errors `while scanning X, problem` in libyaml's two-part form:
/// the context at the token's start (saphyr's mark), then libyaml's problem at the position
/// where its scanner stopped. None for the errors whose problem position is not known here.
fn two_part_scan_error(text: &str, e: &ScanError) -> Option<LoadError> {
    let m = e.marker();
    let context = (m.line(), m.col() + 1);
    let lines: Vec<&str> = text.split('\n').collect();
    let (context_msg, problem_msg, problem) = match e.info() {
        "while scanning a quoted scalar, found unexpected end of stream" => {
            return Some(unclosed_quote_error(text, e));
        }
        "while scanning a quoted scalar, found unexpected document indicator" => {
            // At the start of the first later line that begins with `---` or `...`.
            let n = (m.line()..lines.len())
                .find(|&n| lines[n].starts_with("---") || lines[n].starts_with("..."))?;
            (
                "while scanning a quoted scalar",
                "found unexpected document indicator",
                (n + 1, 1),
            )
        }
        "while scanning a plain scalar, found a tab" => {
            // At the first tab in the indentation of a later line.
            let (n, col) = (m.line()..lines.len()).find_map(|n| {
                let blanks: Vec<char> = lines[n]
                    .chars()
                    .take_while(|c| *c == ' ' || *c == '\t')
                    .collect();
                blanks.iter().position(|c| *c == '\t').map(|i| (n, i))
            })?;
            (
                "while scanning a plain scalar",
                "found a tab character that violates indentation",
                (n + 1, col + 1),
            )
        }
        "while scanning a tag, did not find expected '!'" => {
            // Only a `%TAG` directive's handle can lack its `!`: libyaml stops where the
            // handle should begin, after the directive name and its blanks.
            let line: Vec<char> = lines.get(m.line().checked_sub(1)?)?.chars().collect();
            let mut i = m.col();
            while i < line.len() && !matches!(line[i], ' ' | '\t') {
                i += 1;
            }
            while i < line.len() && matches!(line[i], ' ' | '\t') {
                i += 1;
            }
            (
                "while scanning a tag directive",
                "did not find expected '!'",
                (m.line(), i + 1),
            )
        }
        _ => return None,
    };
    Some(severe(&[
        (context_msg, context.0, context.1),
        (problem_msg, problem.0, problem.1),
    ]))
}

/// Parses YAML text whose nodes are attributed to `file` (use [`super::node::SYNTHETIC`]
/// for built-in data). Errors carry no file prefix.
///
/// Most project files take the fast path (`fast.rs`); everything else, and every error,
/// goes through saphyr.
pub fn parse_str(text: &str, file: FileId) -> Result<Node> {
    match super::fast::parse(text, file) {
        Some(node) => Ok(node),
        None => parse_str_reference(text, file),
    }
}

/// [`parse_str`] on saphyr's event parser alone, without the fast path (for differential
/// tests of the fast path).
pub fn parse_str_reference(text: &str, file: FileId) -> Result<Node> {
    parse_reference_retrying(text, file, 0)
}

/// How many times one parse re-indents a construct that libyaml reads regardless of
/// indentation (see [`Reindent`]).
const MAX_REINDENTS: usize = 8;

fn parse_reference_retrying(text: &str, file: FileId, reindents: usize) -> Result<Node> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut docs: Vec<Node> = Vec::new();
    let mut parser = Parser::new_from_str(text);
    let mut lines = Lines::new(text);
    // For each open collection in flow context (a `[` or `{`, or inside one), where the
    // outermost flow collection around it starts (0-based line and column), and where the
    // innermost does, with its bracket.
    let mut flow: Vec<Option<(usize, usize)>> = Vec::new();
    let mut inner_flow: Vec<Option<(usize, usize, char)>> = Vec::new();
    while let Some(item) = parser.next_event() {
        if let Err(e) = &item {
            if let Some(fixed) = tab_separator_as_space(text, e) {
                return parse_reference_retrying(&fixed, file, reindents);
            }
            if reindents < MAX_REINDENTS {
                let outer_flow = flow.iter().flatten().next().copied();
                match Reindent::for_error(text, e, outer_flow) {
                    Some(Ok(r)) => return r.parse(text, file, reindents + 1),
                    Some(Err(libyaml_error)) => return Err(libyaml_error),
                    None => {}
                }
            }
        }
        let (event, span) = item.map_err(|e| {
            if e.info().contains("unknown anchor") {
                // libyaml emits the alias event, which BuildStream then rejects.
                let m = e.marker();
                return malformed(format!(
                    "Anchors are disallowed in BuildStream at line {} column {}",
                    m.line().saturating_sub(1),
                    m.col()
                ));
            }
            let in_flow = flow.last().is_some_and(Option::is_some);
            let trailing = e.info().starts_with("invalid trailing content");
            if trailing {
                // libyaml scans on after the quote: a reserved indicator starts no token.
                let m = e.marker();
                let at = lines
                    .chars(m.line().saturating_sub(1))
                    .get(m.col())
                    .copied();
                if matches!(at, Some('%' | '@' | '`')) {
                    return severe(&[(NO_TOKEN, m.line(), m.col() + 1)]);
                }
            }
            if let Some(err) = collection_error(text, &e, &stack).filter(|_| !(in_flow && trailing))
            {
                return err;
            }
            if e.info() == "simple key expect ':'" {
                return simple_key_error(text, &e);
            }
            if let (Some(Some((line, col, bracket))), "illegal placement of ':' indicator") =
                (inner_flow.last(), e.info())
            {
                // A `:` after a key that spans lines: libyaml's parser finds no `,` there,
                // unless its scanner stopped earlier, at a `:` inside the plain scalar.
                let m = e.marker();
                let colon = (m.line().saturating_sub(1), m.col());
                if let Some(err) = entry_start(&mut lines, (*line, *col), colon)
                    .and_then(|start| flow_colon_error(&mut lines, start))
                {
                    return err;
                }
                let mark = flow_key_mark(text, colon.0, colon.1);
                return flow_entry_error(*bracket, (*line, *col), (colon.0, mark));
            }
            scan_error(text, &e)
        })?;
        let here = prov(file, &span);
        let pos = Pos(here.line, here.col);
        let finished: Option<Node> = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => None,
            Event::DocumentStart(_) => None,
            Event::DocumentEnd => {
                if docs.len() > 1 {
                    // BuildStream's representer is left waiting for a key by the second
                    // document's mapping and has no handler for the document end.
                    return Err(malformed(format!(
                        "Invalid input detected. No handler for DocumentEndEvent() in state 3 {pos}"
                    )));
                }
                if docs.len() != 1 {
                    return Err(malformed(
                        "Zero, or more than one document found in YAML stream".into(),
                    ));
                }
                None
            }
            Event::Alias(_) => {
                return Err(malformed(format!(
                    "Anchors are disallowed in BuildStream {pos}"
                )))
            }
            Event::Scalar(value, style, anchor, tag) => {
                if style == saphyr_parser::ScalarStyle::Plain
                    && flow.last().is_some_and(Option::is_some)
                {
                    if let Some(e) = flow_colon_error(&mut lines, here) {
                        return Err(e);
                    }
                }
                if let Some(Some((line, col, bracket))) = inner_flow.last().copied() {
                    if let Some(colon) = stale_key_colon(&mut lines, &span) {
                        return Err(flow_entry_error(bracket, (line, col), colon));
                    }
                }
                if anchor != 0 {
                    return Err(malformed(format!(
                        "Anchors are disallowed in BuildStream {pos}"
                    )));
                }
                if let Some(tag) = tag {
                    if tag.handle != "tag:yaml.org,2002:" && tag.handle != "!!" {
                        return Err(malformed(format!(
                            "Non-core tag expressed in input.  This is disallowed in BuildStream. At {}",
                            pos.capitalised()
                        )));
                    }
                }
                // A scalar in key position becomes the pending key.
                if stack.is_empty() {
                    let (implicit, style) = match style {
                        saphyr_parser::ScalarStyle::Plain => ("(True, False)", "''"),
                        saphyr_parser::ScalarStyle::SingleQuoted => ("(False, True)", "\"'\""),
                        saphyr_parser::ScalarStyle::DoubleQuoted => ("(False, True)", "'\"'"),
                        saphyr_parser::ScalarStyle::Literal => ("(False, True)", "'|'"),
                        _ => ("(False, True)", "'>'"),
                    };
                    return Err(malformed(format!(
                        "Invalid input detected. No handler for ScalarEvent({}, implicit={implicit}, style={style}) in state 0 {pos}",
                        crate::util::py_repr(&value)
                    )));
                }
                if let Some(Frame::Map(map, _, key @ None)) = stack.last_mut() {
                    if map.contains_key(&value) {
                        return Err(malformed(format!("Duplicate key {value} {pos}")));
                    }
                    *key = Some(Arc::from(&*value));
                    None
                } else if value.is_empty() && style == saphyr_parser::ScalarStyle::Plain {
                    let here = empty_value_mark(&mut lines, here);
                    Some(Node::scalar(Arc::from(""), here))
                } else {
                    Some(Node::scalar(py_strip(&value), here))
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) if anchor != 0 => {
                return Err(malformed(format!(
                    "Anchors are disallowed in BuildStream {pos}"
                )))
            }
            Event::SequenceStart(..) => {
                let opens = lines.chars(here.line as usize).get(here.col as usize) == Some(&'[');
                check_not_key(&stack, pos, "SequenceStartEvent", opens)?;
                let start = (here.line as usize, here.col as usize);
                flow.push(flow.last().copied().flatten().or(opens.then_some(start)));
                let inner = opens.then_some((start.0, start.1, '['));
                inner_flow.push(inner.or(inner_flow.last().copied().flatten()));
                let here = fix_indentless_sequence(&mut lines, here);
                if stack.is_empty() {
                    let flow = lines.chars(here.line as usize).get(here.col as usize) == Some(&'[');
                    return Err(malformed(format!(
                        "Invalid input detected. No handler for SequenceStartEvent(implicit=True, flow_style={}) in state 0 {pos}",
                        if flow { "True" } else { "False" }
                    )));
                }
                stack.push(Frame::Seq(Vec::new(), here));
                None
            }
            Event::MappingStart(..) => {
                let opens = lines.chars(here.line as usize).get(here.col as usize) == Some(&'{');
                let start = (here.line as usize, here.col as usize);
                flow.push(flow.last().copied().flatten().or(opens.then_some(start)));
                let inner = opens.then_some((start.0, start.1, '{'));
                inner_flow.push(inner.or(inner_flow.last().copied().flatten()));
                check_not_key(&stack, pos, "MappingStartEvent", opens)?;
                stack.push(Frame::Map(Map::default(), here, None));
                None
            }
            Event::SequenceEnd => match (flow.pop(), inner_flow.pop(), stack.pop()).2 {
                Some(Frame::Seq(items, p)) => Some(Node {
                    value: Value::Seq(Arc::new(items)),
                    prov: p,
                }),
                _ => return Err(malformed(format!("Unexpected end of sequence {pos}"))),
            },
            Event::MappingEnd => match (flow.pop(), inner_flow.pop(), stack.pop()).2 {
                Some(Frame::Map(map, p, _)) => Some(Node {
                    value: Value::Map(Arc::new(map)),
                    prov: p,
                }),
                _ => return Err(malformed(format!("Unexpected end of mapping {pos}"))),
            },
        };
        if let Some(node) = finished {
            match stack.last_mut() {
                Some(Frame::Seq(items, _)) => items.push(node),
                Some(Frame::Map(map, _, key)) => {
                    let k = key.take().expect("value follows a key");
                    map.insert(k, node);
                }
                None => {
                    if !node.is_map() {
                        return Err(malformed(format!(
                            "Invalid input detected. No handler for {} in state doc {pos}",
                            if node.is_scalar() {
                                "ScalarEvent"
                            } else {
                                "SequenceStartEvent"
                            }
                        )));
                    }
                    docs.push(node);
                }
            }
        }
    }
    match docs.len() {
        0 => Ok(Node::empty_map(Provenance {
            file,
            line: 0,
            col: 0,
        })),
        1 => Ok(docs.pop().expect("one document")),
        _ => Err(malformed(
            "Zero, or more than one document found in YAML stream".into(),
        )),
    }
}

/// The lines of a file's text, split when first asked for (only some files need them).
struct Lines<'t> {
    text: &'t str,
    split: Option<Vec<&'t str>>,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Self {
        Lines { text, split: None }
    }

    fn all(&mut self) -> &[&'t str] {
        let text = self.text;
        self.split.get_or_insert_with(|| text.split('\n').collect())
    }

    /// How many lines the text has.
    fn count(&mut self) -> usize {
        self.all().len()
    }

    /// The characters of 0-based line `n` (none past the end).
    fn chars(&mut self, n: usize) -> Vec<char> {
        self.all()
            .get(n)
            .map_or(Vec::new(), |l| l.chars().collect())
    }
}

/// Lines that saphyr refuses as under-indented where libyaml, BuildStream's parser, does not
/// look at indentation: the continuation lines of a quoted scalar, and everything inside a
/// flow collection. Re-parsing with those lines indented by `by` more spaces gives saphyr
/// libyaml's reading; positions on them are then moved back.
struct Reindent {
    /// 0-based lines `first..=last` get `by` more leading spaces.
    first: usize,
    last: usize,
    by: usize,
}

impl Reindent {
    /// For saphyr's error `e` (`flow`: where the outermost open flow collection starts), the
    /// lines to re-indent, or libyaml's own error where it stops before any (an unclosed
    /// quote); None where indentation is not the problem.
    fn for_error(
        text: &str,
        e: &ScanError,
        flow: Option<(usize, usize)>,
    ) -> Option<std::result::Result<Reindent, LoadError>> {
        let m = e.marker();
        let lines: Vec<&str> = text.split('\n').collect();
        match e.info() {
            "invalid indentation in quoted scalar" => {
                let line = m.line().checked_sub(1)?;
                let chars: Vec<char> = lines.get(line)?.chars().collect();
                let quote = *chars.get(m.col())?;
                if quote != '\'' && quote != '"' {
                    return None;
                }
                // libyaml reads on to the closing quote, stopping at a document marker or
                // at the end of the text.
                let mut l = line;
                let mut c = m.col() + 1;
                loop {
                    let chars: Vec<char> = lines[l].chars().collect();
                    if l > line
                        && (chars.starts_with(&['-', '-', '-'])
                            || chars.starts_with(&['.', '.', '.']))
                        && chars.get(3).is_none_or(|c| matches!(c, ' ' | '\t' | '\r'))
                    {
                        return Some(Err(severe(&[
                            ("while scanning a quoted scalar", m.line(), m.col() + 1),
                            ("found unexpected document indicator", l + 1, 1),
                        ])));
                    }
                    while c < chars.len() {
                        match (quote, chars[c]) {
                            ('\'', '\'') if chars.get(c + 1) == Some(&'\'') => c += 2,
                            ('"', '\\') => c += 2,
                            (q, ch) if q == ch => {
                                return Some(Ok(Reindent {
                                    first: line + 1,
                                    last: l,
                                    by: m.col() + 1,
                                }))
                            }
                            _ => c += 1,
                        }
                    }
                    l += 1;
                    c = 0;
                    if l >= lines.len() {
                        return Some(Err(unclosed_quote_error(text, e)));
                    }
                }
            }
            "invalid indentation in flow construct"
            | "invalid indentation"
            | "\"-\" is only valid inside a block" => {
                let (line, col) = flow?;
                // Up to the line that closes the collection, or to the end.
                let last = flow_end_line(&lines, line, col).unwrap_or(lines.len() - 1);
                (last > line).then_some(Ok(Reindent {
                    first: line + 1,
                    last,
                    by: col + 1,
                }))
            }
            _ => None,
        }
    }

    fn shifted(&self, line: usize, col: usize) -> bool {
        (self.first..=self.last).contains(&line) && col >= self.by
    }

    /// Parses `text` re-indented, with positions moved back.
    fn parse(&self, text: &str, file: FileId, reindents: usize) -> Result<Node> {
        let pad = " ".repeat(self.by);
        let mut out = String::with_capacity(text.len() + pad.len() * (self.last - self.first + 1));
        for (n, line) in text.split('\n').enumerate() {
            if n > 0 {
                out.push('\n');
            }
            if (self.first..=self.last).contains(&n) {
                out.push_str(&pad);
            }
            out.push_str(line);
        }
        match parse_reference_retrying(&out, file, reindents) {
            Ok(mut node) => {
                self.unshift_node(&mut node);
                Ok(node)
            }
            Err(mut e) => {
                e.message = self.unshift_message(&e.message);
                Err(e)
            }
        }
    }

    fn unshift_node(&self, node: &mut Node) {
        let (line, col) = (node.prov.line as usize, node.prov.col as usize);
        if self.shifted(line, col) {
            node.prov.col -= self.by as u32;
        }
        match &mut node.value {
            Value::Scalar(_) => {}
            Value::Seq(items) => Arc::make_mut(items)
                .iter_mut()
                .for_each(|n| self.unshift_node(n)),
            Value::Map(map) => Arc::make_mut(map)
                .values_mut()
                .for_each(|n| self.unshift_node(n)),
        }
    }

    /// Moves back the positions in an error message: libyaml's `line L, column C` (1-based)
    /// and BuildStream's `line L column C` (0-based).
    fn unshift_message(&self, message: &str) -> String {
        let mut out = String::with_capacity(message.len());
        let mut rest = message;
        while let Some(at) = rest.find("line ") {
            out.push_str(&rest[..at + 5]);
            rest = &rest[at + 5..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let Ok(line) = rest[..digits].parse::<usize>() else {
                continue;
            };
            let (sep, one_based) = if rest[digits..].starts_with(", column ") {
                (", column ", true)
            } else if rest[digits..].starts_with(" column ") {
                (" column ", false)
            } else {
                continue;
            };
            let after = &rest[digits + sep.len()..];
            let cdigits = after.bytes().take_while(u8::is_ascii_digit).count();
            let Ok(col) = after[..cdigits].parse::<usize>() else {
                continue;
            };
            let (l0, c0) = if one_based {
                (line.saturating_sub(1), col.saturating_sub(1))
            } else {
                (line, col)
            };
            let col = if self.shifted(l0, c0) {
                col - self.by
            } else {
                col
            };
            out.push_str(&format!("{line}{sep}{col}"));
            rest = &after[cdigits..];
        }
        out.push_str(rest);
        out
    }
}

/// Walks `lines` from `start` (0-based line and column) on, calling `visit` with the position
/// of each character outside quoted scalars and comments until it returns `Break`.
fn walk_unquoted<B>(
    lines: &[&str],
    start: (usize, usize),
    mut visit: impl FnMut(usize, usize, char) -> std::ops::ControlFlow<B>,
) -> Option<B> {
    let mut quote: Option<char> = None;
    for (l, text) in lines.iter().enumerate().skip(start.0) {
        let chars: Vec<char> = text.chars().collect();
        let mut c = if l == start.0 { start.1 } else { 0 };
        while c < chars.len() {
            let ch = chars[c];
            match quote {
                Some('\'') if ch == '\'' && chars.get(c + 1) == Some(&'\'') => c += 1,
                Some('"') if ch == '\\' => c += 1,
                Some(q) if ch == q => quote = None,
                Some(_) => {}
                None => match ch {
                    '\'' | '"' => quote = Some(ch),
                    '#' if c == 0 || matches!(chars[c - 1], ' ' | '\t') => break,
                    _ => {
                        if let std::ops::ControlFlow::Break(b) = visit(l, c, ch) {
                            return Some(b);
                        }
                    }
                },
            }
            c += 1;
        }
    }
    None
}

/// The 0-based line of the bracket that closes the flow collection opening at `line`, `col`
/// (quoted scalars and comments skipped), if it is closed.
fn flow_end_line(lines: &[&str], line: usize, col: usize) -> Option<usize> {
    use std::ops::ControlFlow::{Break, Continue};
    let mut depth = 0usize;
    walk_unquoted(lines, (line, col), |l, _, ch| match ch {
        '[' | '{' => {
            depth += 1;
            Continue(())
        }
        ']' | '}' => {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                Break(l)
            } else {
                Continue(())
            }
        }
        _ => Continue(()),
    })
}

/// A plain scalar starting at `start` inside a flow collection with a `:` that is not followed
/// by a blank: libyaml, BuildStream's parser, refuses it (`[http://x/]`, `{a: b:c}`), where
/// saphyr takes the `:` as part of the scalar. The scalar ends at a flow indicator, at `: `
/// or at a comment.
fn flow_colon_error(lines: &mut Lines, start: Provenance) -> Option<LoadError> {
    let mut line = start.line as usize;
    let mut col = start.col as usize;
    let count = lines.count();
    while line < count {
        let chars = lines.chars(line);
        while col < chars.len() {
            match chars[col] {
                ':' => {
                    if chars
                        .get(col + 1)
                        .is_none_or(|c| matches!(c, ' ' | '\t' | '\r'))
                    {
                        return None;
                    }
                    return Some(severe(&[
                        (
                            "while scanning a plain scalar",
                            start.line as usize + 1,
                            start.col as usize + 1,
                        ),
                        ("found unexpected ':'", line + 1, col + 1),
                    ]));
                }
                ',' | '[' | ']' | '{' | '}' => return None,
                '#' if col == 0 || matches!(chars[col - 1], ' ' | '\t') => return None,
                _ => col += 1,
            }
        }
        line += 1;
        col = 0;
    }
    None
}

/// libyaml's parser error for a token other than `,` after an entry of the flow collection
/// opened by `bracket` at `open` (0-based line and column), the token at `at`.
fn flow_entry_error(bracket: char, open: (usize, usize), at: (usize, usize)) -> LoadError {
    let (context, problem) = if bracket == '[' {
        (
            "while parsing a flow sequence",
            "did not find expected ',' or ']'",
        )
    } else {
        (
            "while parsing a flow mapping",
            "did not find expected ',' or '}'",
        )
    };
    severe(&[
        (context, open.0 + 1, open.1 + 1),
        (problem, at.0 + 1, at.1 + 1),
    ])
}

/// The `:` (0-based line and column) that follows the scalar of `span` in a flow collection
/// on a later line than the scalar begins, if one does. libyaml keeps a simple key on one
/// line only, so that `:` is a value indicator with no key (`{a\n  b: c}`): its parser then
/// finds no `,` (saphyr takes `a b` as the key).
fn stale_key_colon(lines: &mut Lines, span: &Span) -> Option<(usize, usize)> {
    let start = span.start.line().saturating_sub(1);
    let mut line = span.end.line().saturating_sub(1);
    let mut col = span.end.col();
    let count = lines.count();
    while line < count {
        let chars = lines.chars(line);
        while col < chars.len() {
            match chars[col] {
                ' ' | '\t' | '\r' => col += 1,
                '#' => break,
                ':' => return (line > start).then_some((line, col)),
                _ => return None,
            }
        }
        line += 1;
        col = 0;
    }
    None
}

/// Where the entry that contains `at` begins in the flow collection opened at `open` (0-based
/// lines and columns), if it is a plain scalar: after the last `,` (outside quotes and nested
/// collections) before `at`, blanks, line breaks and comments skipped.
fn entry_start(lines: &mut Lines, open: (usize, usize), at: (usize, usize)) -> Option<Provenance> {
    use std::ops::ControlFlow::{Break, Continue};
    let mut entry = (open.0, open.1 + 1);
    let mut depth = 0usize;
    walk_unquoted(lines.all(), entry, |line, col, ch| {
        if (line, col) >= at {
            return Break(());
        }
        match ch {
            '[' | '{' => depth += 1,
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => entry = (line, col + 1),
            _ => {}
        }
        Continue(())
    });
    // The entry's first token.
    let (mut line, mut col) = entry;
    while line < lines.count() {
        let chars = lines.chars(line);
        while col < chars.len() && matches!(chars[col], ' ' | '\t' | '\r') {
            col += 1;
        }
        match chars.get(col) {
            None | Some('#') => {
                line += 1;
                col = 0;
            }
            Some('\'' | '"' | '[' | '{' | ',' | ']' | '}') => return None,
            Some(_) => {
                return Some(Provenance {
                    file: crate::yaml::SYNTHETIC,
                    line: line as u32,
                    col: col as u32,
                })
            }
        }
    }
    None
}

/// saphyr marks an indentless block sequence (`key:` then `- item` at the key's column) at
/// its first item; BuildStream (libyaml) marks it at the dash. Move such marks to the dash.
fn fix_indentless_sequence(lines: &mut Lines, here: Provenance) -> Provenance {
    let chars = lines.chars(here.line as usize);
    let col = here.col as usize;
    if col >= chars.len() || matches!(chars[col], '-' | '[') || col == 0 {
        return here;
    }
    let i = blank_run_start(&chars, col, |c| c == ' ');
    if i > 0 && chars[i - 1] == '-' {
        return Provenance {
            col: (i - 1) as u32,
            ..here
        };
    }
    here
}

/// Where the run of `blank` characters that ends at `end` (exclusive) in `chars` begins.
fn blank_run_start(chars: &[char], end: usize, blank: impl Fn(char) -> bool) -> usize {
    let mut i = end.min(chars.len());
    while i > 0 && blank(chars[i - 1]) {
        i -= 1;
    }
    i
}

/// saphyr's one-line errors about an unfinished collection, in libyaml's two-part form
/// (context at the collection's start, then the problem), as BuildStream reports them.
fn collection_error(text: &str, e: &ScanError, stack: &[Frame]) -> Option<LoadError> {
    let mut top = stack.last();
    let mut info = e.info();
    // A `key: value` pair written as an entry of a flow sequence is no flow mapping to
    // libyaml: its parser is still in the sequence.
    if info == "while parsing a flow mapping, did not find expected ',' or '}'" {
        if let (Some(Frame::Map(_, p, _)), Some(seq @ Frame::Seq(..))) =
            (top, stack.len().checked_sub(2).map(|i| &stack[i]))
        {
            let opens = text
                .split('\n')
                .nth(p.line as usize)
                .and_then(|l| l.chars().nth(p.col as usize));
            if opens != Some('{') {
                top = Some(seq);
                info = "while parsing a flow sequence, expected ',' or ']'";
            }
        }
    }
    let (context, problem) = match info {
        "while parsing a block mapping, did not find expected key" => {
            ("while parsing a block mapping", "did not find expected key")
        }
        "while parsing a block collection, did not find expected '-' indicator" => (
            "while parsing a block collection",
            "did not find expected '-' indicator",
        ),
        "while parsing a flow sequence, expected ',' or ']'" => (
            "while parsing a flow sequence",
            "did not find expected ',' or ']'",
        ),
        "while parsing a flow mapping, did not find expected ',' or '}'" => (
            "while parsing a flow mapping",
            "did not find expected ',' or '}'",
        ),
        // libyaml's scanner takes what follows a quoted scalar as the next token; its
        // parser then finds no key (or entry) there.
        "invalid trailing content after double-quoted scalar" => match top? {
            Frame::Map(..) => ("while parsing a block mapping", "did not find expected key"),
            Frame::Seq(..) => (
                "while parsing a block collection",
                "did not find expected '-' indicator",
            ),
        },
        _ => return None,
    };
    let start = match top? {
        Frame::Map(_, p, _) | Frame::Seq(_, p) => *p,
    };
    let m = e.marker();
    // libyaml marks an unexpected block entry at its dash; saphyr after it.
    let mut col = m.col();
    if let Some(line) = text.split('\n').nth(m.line().saturating_sub(1)) {
        let chars: Vec<char> = line.chars().collect();
        let i = blank_run_start(&chars, col, |c| c == ' ');
        if i > 0 && chars[i - 1] == '-' && i < col {
            col = i - 1;
        }
    }
    if problem.starts_with("did not find expected ','") {
        col = flow_key_mark(text, m.line().saturating_sub(1), col);
    }
    Some(severe(&[
        (context, start.line as usize + 1, start.col as usize + 1),
        (problem, m.line(), col + 1),
    ]))
}

/// Where libyaml marks an unexpected `key:` (its `:` at column `colon` of 0-based `line`)
/// inside a flow collection: a simple key lies on one line, so a key that begins on this
/// line is a KEY token marked at its start; a plain scalar continued from the line before
/// leaves the `:` alone, marked where it is.
fn flow_key_mark(text: &str, line: usize, colon: usize) -> usize {
    let mut lines = text.split('\n');
    let prev = line.checked_sub(1).and_then(|l| lines.nth(l));
    let Some(this) = lines.next() else {
        return colon;
    };
    let chars: Vec<char> = this.chars().collect();
    if chars.get(colon) != Some(&':') {
        return colon;
    }
    let Some(start) = flow_key_start(&chars, colon) else {
        return colon;
    };
    let first = chars.iter().position(|c| *c != ' ' && *c != '\t');
    let continued = first == Some(start)
        && !matches!(chars[start], '\'' | '"')
        && prev.is_some_and(|p| {
            !matches!(
                p.trim_end().chars().last(),
                None | Some('\'' | '"' | ',' | '[' | '{' | ']' | '}')
            )
        });
    match continued {
        true => colon,
        false => start,
    }
}

/// Where the plain or quoted key that ends just before the `:` at `colon` starts, on its
/// line of a flow collection; None if no key is there.
fn flow_key_start(chars: &[char], colon: usize) -> Option<usize> {
    let end = blank_run_start(chars, colon, |c| c == ' ' || c == '\t');
    let last = *chars.get(end.checked_sub(1)?)?;
    let start = if last == '\'' || last == '"' {
        // The quote that opens it (a doubled or escaped quote is inside it).
        let mut i = end - 1;
        loop {
            i = chars[..i].iter().rposition(|&c| c == last)?;
            let escaped = match last {
                '"' => i > 0 && chars[i - 1] == '\\',
                _ => i > 0 && chars[i - 1] == '\'',
            };
            if !escaped {
                break i;
            }
            i -= 1;
            if i == 0 {
                return None;
            }
        }
    } else {
        let after = chars[..end]
            .iter()
            .rposition(|&c| matches!(c, ',' | '[' | ']' | '{' | '}'))
            .map_or(0, |i| i + 1);
        after
            + chars[after..end]
                .iter()
                .take_while(|c| **c == ' ' || **c == '\t')
                .count()
    };
    (start < end).then_some(start)
}

/// A plain scalar line where a mapping key was expected, in libyaml's words. The key (a
/// simple key lies on one line) starts at the first character of the last line with content
/// before the one saphyr marks.
fn simple_key_error(text: &str, e: &ScanError) -> LoadError {
    let m = e.marker();
    let lines: Vec<&str> = text.split('\n').collect();
    let marked = m.line().saturating_sub(1).min(lines.len());
    let key = lines[..marked]
        .iter()
        .enumerate()
        .rev()
        .find_map(|(n, l)| {
            let content = l.trim_start_matches(' ');
            (!content.is_empty() && !content.starts_with('#'))
                .then(|| (n, l.chars().count() - content.chars().count()))
        })
        .unwrap_or((marked, m.col()));
    severe(&[
        ("while scanning a simple key", key.0 + 1, key.1 + 1),
        ("could not find expected ':'", m.line(), m.col() + 1),
    ])
}

/// `text` with the tab that saphyr refused after a mapping's `:` made a space, where saphyr
/// refused one: libyaml, BuildStream's parser, takes tabs there as separation (`key:<tab>value`,
/// also in flow mappings). Columns stay the same; the tab was never part of a value.
fn tab_separator_as_space(text: &str, e: &ScanError) -> Option<String> {
    if e.info() != "':' must be followed by a valid YAML whitespace" {
        return None;
    }
    let mut chars: Vec<char> = text.chars().collect();
    // saphyr marks the character after the whitespace that follows the colon.
    let end = e.marker().index().min(chars.len());
    let start = blank_run_start(&chars, end, |c| matches!(c, ' ' | '\t'));
    if start == 0 || chars[start - 1] != ':' || !chars[start..end].contains(&'\t') {
        return None;
    }
    for c in &mut chars[start..end] {
        *c = ' ';
    }
    Some(chars.into_iter().collect())
}

/// Where ruamel.yaml, and so BuildStream, places an empty (null) value; saphyr places it
/// elsewhere. A mapping value (saphyr: at its `:`) is placed just after the colon in a block
/// mapping, and at the next token (`,`, `}` or `]`, maybe on a later line) in a flow
/// collection. A block sequence entry (saphyr: after the spaces that follow its dash) is
/// placed just after the dash.
fn empty_value_mark(lines: &mut Lines, here: Provenance) -> Provenance {
    let chars = lines.chars(here.line as usize);
    let col = here.col as usize;
    if chars.get(col) == Some(&':') {
        let (mut l, mut c, mut chars) = (here.line as usize, col + 1, chars);
        loop {
            while chars
                .get(c)
                .is_some_and(|ch| matches!(ch, ' ' | '\t' | '\r'))
            {
                c += 1;
            }
            match chars.get(c) {
                Some(',' | '}' | ']') => {
                    return Provenance {
                        line: l as u32,
                        col: c as u32,
                        ..here
                    }
                }
                Some(ch) if *ch != '#' => break,
                _ => {}
            }
            l += 1;
            if l >= lines.count() {
                break;
            }
            c = 0;
            chars = lines.chars(l);
        }
        return Provenance {
            col: here.col + 1,
            ..here
        };
    }
    let i = blank_run_start(&chars, col, |c| matches!(c, ' ' | '\t'));
    if i > 0 && chars[i - 1] == '-' {
        return Provenance {
            col: i as u32,
            ..here
        };
    }
    here
}

/// A collection where a mapping key is expected: BuildStream takes only scalar keys.
fn check_not_key(stack: &[Frame], pos: Pos, event: &str, flow: bool) -> Result<()> {
    if let Some(Frame::Map(_, _, None)) = stack.last() {
        // BuildStream's representer, waiting for a key (state 3), has no handler for it.
        let flow = if flow { "True" } else { "False" };
        return Err(malformed(format!(
            "Invalid input detected. No handler for {event}(implicit=True, flow_style={flow}) in state 3 {pos}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::node::SYNTHETIC;

    fn parse(text: &str) -> Result<Node> {
        parse_str(text, SYNTHETIC)
    }

    #[test]
    fn scalars_are_stripped_strings() {
        let n = parse("a: 1\nb: true\nc: |\n  x\n  y\nd:\ne: ' q '\n").unwrap();
        assert_eq!(
            n.to_plain(),
            r"{'a': '1', 'b': 'true', 'c': 'x\ny', 'd': '', 'e': 'q'}"
        );
    }

    #[test]
    fn empty_file_is_empty_mapping() {
        assert_eq!(parse("# only a comment\n").unwrap().to_plain(), "{}");
        assert_eq!(parse("").unwrap().to_plain(), "{}");
    }

    #[test]
    fn provenance_is_zero_based_line_and_column() {
        let n = parse("kind: import\nfoo: bar\n").unwrap();
        let p = n.get("foo").unwrap().prov;
        assert_eq!((p.line, p.col), (1, 5));
    }

    #[test]
    fn rejects_anchors_duplicates_and_documents() {
        let e = parse("a: &x 1\nb: *x\n").unwrap_err();
        assert!(
            e.message.contains("Anchors are disallowed"),
            "{}",
            e.message
        );
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert!(
            e.message.contains("Duplicate key a at line 1 column 0"),
            "{}",
            e.message
        );
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(
            e.message
                .contains("No handler for DocumentEndEvent() in state 3"),
            "{}",
            e.message
        );
        let e = parse("- a\n").unwrap_err();
        assert_eq!(e.reason, LoadErrorReason::InvalidYaml);
    }

    #[test]
    fn nested_structures() {
        let n = parse("l:\n- a\n- {b: c}\n- [d, e]\n").unwrap();
        assert_eq!(n.to_plain(), "{'l': ['a', {'b': 'c'}, ['d', 'e']]}");
    }
}
