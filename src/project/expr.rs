//! Evaluation of `(?)` conditional expressions.
//!
//! BuildStream decides each `(?)` branch by rendering the Jinja2 template
//! `{% if EXPR %} True {% else %} False {% endif %}` with
//! `undefined=StrictUndefined`, in a context that holds the project options:
//! bool options are Python bools, enum/arch/os options are `str`, and
//! flags/element-mask options are lists of `str`
//! (`buildstream/_options/optionpool.py`, `OptionPool._evaluate`).
//!
//! This module reimplements the Jinja2 3.1 expression language closely enough
//! to give the same answers and the same error texts:
//!
//! * The lexer runs over `EXPR + " %} True {% else %} False {% endif %}"`
//!   in Jinja's "block" state, including its bracket balancing, so an
//!   unclosed `(` or `[` fails with Jinja's exact message. Like Jinja's lazy
//!   token stream, a lexing error is reported only when the parser reaches
//!   the offending token.
//! * The parser mirrors `jinja2.parser.Parser` (the `if` test is a tuple
//!   without inline-if; a trailing `:` is accepted), with its messages.
//! * Evaluation follows the Python semantics the compiled template would
//!   have: truthiness, value-returning `and`/`or`, chained comparisons,
//!   `==` across types is `False`, `in` for sequences and substrings,
//!   ordering, `+ - * / // % **`, unary `-`/`+` and `~`, `a if b else c`,
//!   and both undefined flavours (`StrictUndefined` for unknown names, the
//!   lenient `Undefined` of an inline `if` without `else`).
//!
//! Supported literals: strings (both quotes, Python escapes, implicit
//! concatenation), integers (64-bit), floats, `true`/`false`/`none` in either
//! capitalisation, lists and tuples. Of Jinja's filters and tests, `length`
//! / `count` and the tests `defined`, `undefined`, `none`, `true`, `false`,
//! `boolean`, `string`, `number`, `integer`, `float`, `in` and the
//! comparison tests (`eq`, `ne`, `lt`, ... and their aliases) are
//! implemented; unknown names fail as in Jinja (`No filter named 'x'
//! found.`). Valid Jinja that bst-rs does not implement (other filters and
//! tests, attribute access, subscripts, calls, dict literals, `%` string
//! formatting, integers beyond 64 bits, complex numbers, `\N{..}` escapes,
//! `self`, `%}` outside a string) fails with an `... is not supported in
//! bst-rs conditional expressions` error rather than being evaluated
//! differently; operands are still evaluated first, so an undefined name in
//! them is reported as Jinja would.
//!
//! Errors read `Failed to evaluate expression (EXPR): MSG`, as BuildStream's
//! `LoadError` does; the caller prepends the provenance. For Python errors
//! that real BuildStream does not catch (a `TypeError` such as
//! `'a' in some_bool`, which makes `bst` crash with a traceback) MSG is the
//! Python exception text.

use std::cmp::Ordering;
use std::fmt;

/// An option value as seen by a conditional expression.
#[derive(Clone, Debug, PartialEq)]
pub enum OptValue {
    /// A `bool` option.
    Bool(bool),
    /// An `enum`, `arch` or `os` option.
    Str(String),
    /// A `flags` or `element-mask` option.
    List(Vec<String>),
}

/// Why an expression could not be evaluated (message text mirrors BuildStream's).
#[derive(Debug, Clone, PartialEq)]
pub struct ExprError {
    /// `Failed to evaluate expression (EXPR): ...`, without provenance.
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExprError {}

/// A parsed conditional expression, ready to be evaluated many times.
#[derive(Clone, Debug)]
pub struct Expr {
    source: String,
    root: Node,
}

/// Parses a `(?)` expression; syntax errors are reported here.
pub fn parse(expr: &str) -> Result<Expr, ExprError> {
    match parse_root(expr) {
        Ok(root) => Ok(Expr {
            source: expr.to_string(),
            root,
        }),
        Err(fail) => Err(fail.into_error(expr)),
    }
}

/// Evaluates a `(?)` expression; `lookup` returns an option's value by name.
pub fn evaluate(expr: &str, lookup: &dyn Fn(&str) -> Option<OptValue>) -> Result<bool, ExprError> {
    parse(expr)?.eval(lookup)
}

impl Expr {
    /// Evaluates the expression; `lookup` returns an option's value by name.
    pub fn eval(&self, lookup: &dyn Fn(&str) -> Option<OptValue>) -> Result<bool, ExprError> {
        eval(&self.root, lookup)
            .and_then(|value| truthy(&value))
            .map_err(|fail| fail.into_error(&self.source))
    }

    /// The expression text as given to [`parse`].
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// An internal failure, before the `Failed to evaluate expression` wrapping.
#[derive(Clone, Debug)]
enum Fail {
    /// A `jinja2.TemplateError` (syntax error, undefined name).
    Template(String),
    /// Another Python exception; real BuildStream crashes on these.
    Python(String),
    /// Valid Jinja that bst-rs does not implement.
    Unsupported(String),
}

impl Fail {
    fn into_error(self, expr: &str) -> ExprError {
        let detail = match self {
            Fail::Template(msg) | Fail::Python(msg) => msg,
            Fail::Unsupported(what) => {
                format!("{what} is not supported in bst-rs conditional expressions")
            }
        };
        ExprError {
            message: format!("Failed to evaluate expression ({expr}): {detail}"),
        }
    }
}

/// Valid Jinja that bst-rs does not evaluate.
fn unsupported<T>(what: &str) -> Result<T, Fail> {
    Err(Fail::Unsupported(what.to_string()))
}

/// A Python exception other than a `TemplateError`.
fn python_error<T>(msg: String) -> Result<T, Fail> {
    Err(Fail::Python(msg))
}

// ---------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------

/// Characters of the template before the expression (`{% if `); lexer error
/// positions count them.
const PREFIX_CHARS: usize = 6;
/// The template text after the expression.
const SUFFIX: &str = " %} True {% else %} False {% endif %}";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Div,
    FloorDiv,
    Mul,
    Mod,
    Pow,
    Tilde,
    LBracket,
    RBracket,
    LParen,
    RParen,
    LBrace,
    RBrace,
    Eq,
    Ne,
    Gt,
    GtEq,
    Lt,
    LtEq,
    Assign,
    Dot,
    Colon,
    Pipe,
    Comma,
    Semicolon,
}

/// Jinja's operators, longest first (as in its `operator_re`).
const OPERATORS: &[(&str, Op)] = &[
    ("//", Op::FloorDiv),
    ("**", Op::Pow),
    ("==", Op::Eq),
    ("!=", Op::Ne),
    (">=", Op::GtEq),
    ("<=", Op::LtEq),
    ("+", Op::Add),
    ("-", Op::Sub),
    ("/", Op::Div),
    ("*", Op::Mul),
    ("%", Op::Mod),
    ("~", Op::Tilde),
    ("[", Op::LBracket),
    ("]", Op::RBracket),
    ("(", Op::LParen),
    (")", Op::RParen),
    ("{", Op::LBrace),
    ("}", Op::RBrace),
    (">", Op::Gt),
    ("<", Op::Lt),
    ("=", Op::Assign),
    (".", Op::Dot),
    (":", Op::Colon),
    ("|", Op::Pipe),
    (",", Op::Comma),
    (";", Op::Semicolon),
];

impl Op {
    fn as_str(self) -> &'static str {
        OPERATORS
            .iter()
            .find(|(_, op)| *op == self)
            .map(|(text, _)| *text)
            .unwrap_or("?")
    }
}

#[derive(Clone, Debug)]
enum Tok {
    Name(String),
    Str(String),
    /// `None` when the literal does not fit in 64 bits.
    Int(Option<i64>),
    Float(f64),
    Op(Op),
    /// `%}`; `injected` when it is part of the expression text itself.
    BlockEnd {
        injected: bool,
    },
    /// Template data after the block end; the parser never looks at it.
    Data,
    Eof,
    /// A lexing error, raised when the parser reaches this token.
    Error(Fail),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
}

/// Python's `str.isspace` (what `\s` matches in Jinja's regexes).
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Approximates Python's `\w` (Jinja's identifier characters).
fn is_word(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Approximates Python's `str.isidentifier` for a run of [`is_word`]
/// characters: a letter or `_` first, and no non-ASCII number that is not a
/// letter (`²`, `½`; non-ASCII decimal digits are rejected too).
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let valid = |c: char| c.is_alphabetic() || c == '_' || c.is_ascii_digit();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_') && chars.all(valid)
}

/// Matches `(\d+_)*\d+` at `i`, returning the end.
fn digits_us(b: &[u8], i: usize) -> Option<usize> {
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let mut j = i;
    loop {
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        if b.get(j) == Some(&b'_') && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
            j += 1;
            continue;
        }
        return Some(j);
    }
}

/// Matches `e[+-]?(\d+_)*\d+` (case-insensitive) at `i`.
fn exponent(b: &[u8], i: usize) -> Option<usize> {
    if !matches!(b.get(i), Some(b'e' | b'E')) {
        return None;
    }
    let j = if matches!(b.get(i + 1), Some(b'+' | b'-')) {
        i + 2
    } else {
        i + 1
    };
    digits_us(b, j)
}

/// Jinja's `float_re` (without the look-behind, checked by the caller).
fn match_float(b: &[u8]) -> Option<usize> {
    let int_end = digits_us(b, 0)?;
    let frac_end = if b.get(int_end) == Some(&b'.') {
        digits_us(b, int_end + 1)
    } else {
        None
    };
    if let Some(end) = frac_end.and_then(|f| exponent(b, f)) {
        return Some(end);
    }
    if let Some(end) = exponent(b, int_end) {
        return Some(end);
    }
    frac_end
}

/// Matches `(_?[digit])+` at `i` for the given digit class.
fn prefixed_digits(b: &[u8], i: usize, is_digit: DigitClass) -> Option<usize> {
    let mut j = i;
    loop {
        if b.get(j).is_some_and(is_digit) {
            j += 1;
        } else if b.get(j) == Some(&b'_') && b.get(j + 1).is_some_and(is_digit) {
            j += 2;
        } else {
            break;
        }
    }
    (j > i).then_some(j)
}

/// Whether a byte is a digit of some radix.
type DigitClass = fn(&u8) -> bool;

/// Jinja's `integer_re`; returns the length and the value.
fn match_integer(b: &[u8]) -> Option<(usize, Option<i64>)> {
    let value = |digits: &[u8], radix: u32| {
        let clean: String = digits
            .iter()
            .filter(|&&c| c != b'_')
            .map(|&c| c as char)
            .collect();
        i64::from_str_radix(&clean, radix).ok()
    };
    if b.first() == Some(&b'0') {
        let prefixed: Option<(u32, DigitClass)> = match b.get(1) {
            Some(b'b' | b'B') => Some((2, |c| matches!(c, b'0' | b'1'))),
            Some(b'o' | b'O') => Some((8, |c| matches!(c, b'0'..=b'7'))),
            Some(b'x' | b'X') => Some((16, u8::is_ascii_hexdigit)),
            _ => None,
        };
        if let Some((radix, is_digit)) = prefixed {
            if let Some(end) = prefixed_digits(b, 2, is_digit) {
                return Some((end, value(&b[2..end], radix)));
            }
        }
        let mut j = 1;
        loop {
            if b.get(j) == Some(&b'0') {
                j += 1;
            } else if b.get(j) == Some(&b'_') && b.get(j + 1) == Some(&b'0') {
                j += 2;
            } else {
                break;
            }
        }
        return Some((j, Some(0)));
    }
    if !matches!(b.first(), Some(b'1'..=b'9')) {
        return None;
    }
    let end = prefixed_digits(b, 1, u8::is_ascii_digit).unwrap_or(1);
    Some((end, value(&b[..end], 10)))
}

/// Jinja's `string_re`: the length of the string literal at the start of `s`.
fn match_string(s: &str) -> Option<usize> {
    let mut chars = s.char_indices();
    let (_, quote) = chars.next()?;
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Some(i + c.len_utf8());
        }
        if c == '\\' {
            chars.next()?;
        }
    }
    None
}

/// Decodes a string literal's body the way Jinja does:
/// `.encode("ascii", "backslashreplace").decode("unicode-escape")`.
fn decode_string(body: &str) -> Result<String, Fail> {
    let mut ascii = Vec::with_capacity(body.len());
    for c in body.chars() {
        let code = c as u32;
        if c.is_ascii() {
            ascii.push(c as u8);
        } else if code < 0x100 {
            ascii.extend_from_slice(format!("\\x{code:02x}").as_bytes());
        } else if code < 0x10000 {
            ascii.extend_from_slice(format!("\\u{code:04x}").as_bytes());
        } else {
            ascii.extend_from_slice(format!("\\U{code:08x}").as_bytes());
        }
    }
    let syntax = |msg: &str| Err(Fail::Template(msg.to_string()));
    let hex = |digits: &[u8], n: usize| -> Option<u32> {
        let digits = digits.get(..n)?;
        if !digits.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let mut out = String::with_capacity(body.len());
    let mut i = 0;
    while i < ascii.len() {
        let c = ascii[i];
        i += 1;
        if c != b'\\' {
            out.push(c as char);
            continue;
        }
        let Some(&e) = ascii.get(i) else {
            return syntax("\\ at end of string");
        };
        i += 1;
        let code = match e {
            b'\n' => continue,
            b'\\' | b'\'' | b'"' => e as u32,
            b'a' => 0x07,
            b'b' => 0x08,
            b't' => 0x09,
            b'n' => 0x0a,
            b'v' => 0x0b,
            b'f' => 0x0c,
            b'r' => 0x0d,
            b'0'..=b'7' => {
                let mut code = u32::from(e - b'0');
                for _ in 0..2 {
                    match ascii.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            code = code * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                code
            }
            b'x' | b'u' | b'U' => {
                let (n, msg) = match e {
                    b'x' => (2, "truncated \\xXX escape"),
                    b'u' => (4, "truncated \\uXXXX escape"),
                    _ => (8, "truncated \\UXXXXXXXX escape"),
                };
                let Some(code) = hex(&ascii[i..], n) else {
                    return syntax(msg);
                };
                i += n;
                if code > 0x10FFFF {
                    return syntax("illegal Unicode character");
                }
                code
            }
            b'N' => return unsupported("a '\\N{...}' escape"),
            _ => {
                out.push('\\');
                out.push(e as char);
                continue;
            }
        };
        match char::from_u32(code) {
            Some(ch) => out.push(ch),
            None => return unsupported("a surrogate escape"),
        }
    }
    Ok(out)
}

/// Tokenizes `expr` followed by the rest of BuildStream's template, stopping
/// at the block end (or at the first lexing error, kept as an error token).
fn lex(expr: &str) -> Result<Vec<Token>, Fail> {
    let expr = expr.replace("\r\n", "\n").replace('\r', "\n");
    let expr_len = expr.len();
    let text = expr + SUFFIX;
    let bytes = text.as_bytes();
    let mut toks = Vec::new();
    let mut stack: Vec<char> = Vec::new();
    let mut pos = 0;
    let mut line = 1;
    loop {
        let rest = &text[pos..];
        if stack.is_empty() && ["%}", "-%}", "+%}"].iter().any(|e| rest.starts_with(e)) {
            toks.push(Token {
                tok: Tok::BlockEnd {
                    injected: pos < expr_len,
                },
                line,
            });
            toks.push(Token {
                tok: Tok::Data,
                line,
            });
            return Ok(toks);
        }
        let Some(c) = rest.chars().next() else {
            toks.push(Token {
                tok: Tok::Eof,
                line,
            });
            return Ok(toks);
        };
        if is_py_space(c) {
            let len = rest.find(|c| !is_py_space(c)).unwrap_or(rest.len());
            line += rest[..len].matches('\n').count();
            pos += len;
            continue;
        }
        let prev_is_dot = pos > 0 && bytes[pos - 1] == b'.';
        let (tok, len) = lex_token(rest, prev_is_dot, &mut stack).unwrap_or_else(|| {
            let at = PREFIX_CHARS + text[..pos].chars().count();
            let msg = format!(
                "unexpected char {} at {at}",
                crate::util::py_repr(&c.to_string())
            );
            (Tok::Error(Fail::Template(msg)), c.len_utf8())
        });
        let is_error = matches!(tok, Tok::Error(_));
        toks.push(Token { tok, line });
        if is_error {
            return Ok(toks);
        }
        line += rest[..len].matches('\n').count();
        pos += len;
    }
}

/// Lexes one non-whitespace token at the start of `rest` (Jinja's tag rules
/// after the block end: float, integer, name, string, operator); `None` when
/// no rule matches.
fn lex_token(rest: &str, prev_is_dot: bool, stack: &mut Vec<char>) -> Option<(Tok, usize)> {
    let b = rest.as_bytes();
    let c = rest.chars().next()?;
    if !prev_is_dot {
        if let Some(len) = match_float(b) {
            let clean = rest[..len].replace('_', "");
            return Some((Tok::Float(clean.parse().unwrap_or(f64::NAN)), len));
        }
    }
    if let Some((len, value)) = match_integer(b) {
        return Some((Tok::Int(value), len));
    }
    if is_word(c) {
        let len = rest.find(|c| !is_word(c)).unwrap_or(rest.len());
        let name = &rest[..len];
        if is_identifier(name) {
            return Some((Tok::Name(name.to_string()), len));
        }
        let msg = "Invalid character in identifier".to_string();
        return Some((Tok::Error(Fail::Template(msg)), len));
    }
    if c == '\'' || c == '"' {
        if let Some(len) = match_string(rest) {
            let tok = match decode_string(&rest[1..len - 1]) {
                Ok(s) => Tok::Str(s),
                Err(fail) => Tok::Error(fail),
            };
            return Some((tok, len));
        }
    }
    let &(text, op) = OPERATORS.iter().find(|(text, _)| rest.starts_with(text))?;
    match op {
        Op::LBrace => stack.push('}'),
        Op::LParen => stack.push(')'),
        Op::LBracket => stack.push(']'),
        Op::RBrace | Op::RParen | Op::RBracket => {
            let msg = match stack.pop() {
                None => Some(format!("unexpected '{text}'")),
                Some(expected) if text.starts_with(expected) => None,
                Some(expected) => Some(format!("unexpected '{text}', expected '{expected}'")),
            };
            if let Some(msg) = msg {
                return Some((Tok::Error(Fail::Template(msg)), text.len()));
            }
        }
        _ => {}
    }
    Some((Tok::Op(op), text.len()))
}

// ---------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    LtEq,
    Gt,
    GtEq,
    In,
    NotIn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
}

impl BinOp {
    fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::FloorDiv => "//",
            BinOp::Mod => "%",
            BinOp::Pow => "**",
        }
    }
}

#[derive(Clone, Debug)]
enum Node {
    Const(Value),
    Name(String),
    List(Vec<Node>),
    Tuple(Vec<Node>),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Compare(Box<Node>, Vec<(CmpOp, Node)>),
    Binary(BinOp, Box<Node>, Box<Node>),
    Concat(Vec<Node>),
    Neg(Box<Node>),
    Pos(Box<Node>),
    CondExpr {
        test: Box<Node>,
        then: Box<Node>,
        otherwise: Option<Box<Node>>,
        line: usize,
    },
    /// A constant holding a non-finite float, which Jinja's generated code
    /// spells as the undefined Python name `inf` or `nan`.
    NonFinite(&'static str),
    /// A construct bst-rs evaluates only in part. The operands are evaluated
    /// first, so that their errors (and undefined ones) come out as in Jinja.
    Special(Construct, Vec<Node>),
}

/// Jinja constructs evaluated only in part (or not at all) by bst-rs.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Construct {
    Attribute,
    Subscript,
    Call,
    Dict,
    BigInt,
    TemplateReference,
    /// `|name(args)`; `simple` when there are only positional arguments.
    Filter {
        name: String,
        simple: bool,
    },
    /// `is [not] name args`; `simple` when there are only positional arguments.
    Test {
        name: String,
        negated: bool,
        simple: bool,
    },
}

impl Construct {
    fn what(&self) -> String {
        match self {
            Construct::Attribute => "attribute access".into(),
            Construct::Subscript => "subscription".into(),
            Construct::Call => "a function call".into(),
            Construct::Dict => "a dict literal".into(),
            Construct::BigInt => "an integer beyond 64 bits".into(),
            Construct::TemplateReference => "'self' (Jinja's template reference)".into(),
            Construct::Filter { name, .. } => format!("the '{name}' filter"),
            Construct::Test { name, .. } => format!("the '{name}' test"),
        }
    }
}

/// The filters of a default jinja2 3.1 `Environment`.
#[rustfmt::skip]
const JINJA_FILTERS: &[&str] = &[
    "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e",
    "escape", "filesizeformat", "first", "float", "forceescape", "format", "groupby", "indent",
    "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min", "pprint",
    "random", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select",
    "selectattr", "slice", "sort", "string", "striptags", "sum", "title", "tojson", "trim",
    "truncate", "unique", "upper", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr",
];

/// The tests of a default jinja2 3.1 `Environment`.
#[rustfmt::skip]
const JINJA_TESTS: &[&str] = &[
    "!=", "<", "<=", "==", ">", ">=", "boolean", "callable", "defined", "divisibleby", "eq",
    "equalto", "escaped", "even", "false", "filter", "float", "ge", "greaterthan", "gt", "in",
    "integer", "iterable", "le", "lessthan", "lower", "lt", "mapping", "ne", "none", "number",
    "odd", "sameas", "sequence", "string", "test", "true", "undefined", "upper",
];

/// What a token is called in Jinja's messages (`describe_token`).
fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Name(name) => name.clone(),
        Tok::Str(_) => "string".into(),
        Tok::Int(_) => "integer".into(),
        Tok::Float(_) => "float".into(),
        Tok::Op(op) => op.as_str().into(),
        Tok::BlockEnd { .. } => "end of statement block".into(),
        Tok::Data => "template data / text".into(),
        Tok::Eof | Tok::Error(_) => "end of template".into(),
    }
}

/// A recursive-descent parser mirroring `jinja2.parser.Parser`.
struct Parser {
    toks: Vec<Token>,
    pos: usize,
    /// Current nesting of recursive rules, bounded by [`MAX_NESTING`].
    depth: usize,
}

/// Deepest nesting of unary operators, `not`, inline `if` and brackets accepted. Jinja2
/// (Python's recursion limit) gives up far earlier; without a bound the recursive parser
/// would overflow the stack on hostile input.
const MAX_NESTING: usize = 200;

fn parse_root(expr: &str) -> Result<Node, Fail> {
    let mut p = Parser {
        toks: lex(expr)?,
        pos: 0,
        depth: 0,
    };
    if let Tok::Error(fail) = &p.toks[0].tok {
        return Err(fail.clone());
    }
    // `{% if <tuple without inline-if> [:] %}`
    let node = p.parse_tuple(false, false)?;
    p.skip_if_op(Op::Colon)?;
    match p.cur() {
        Tok::BlockEnd { injected: false } => Ok(fold(node)),
        // `%}` in the expression closed the `if` tag early: the rest of the
        // template is no longer BuildStream's.
        Tok::BlockEnd { injected: true } => unsupported("'%}' outside a string"),
        _ => Err(p.expect_fail("end of statement block")),
    }
}

impl Parser {
    /// Runs a recursive rule one nesting level deeper, failing past [`MAX_NESTING`].
    fn nested<T>(&mut self, rule: impl FnOnce(&mut Self) -> Result<T, Fail>) -> Result<T, Fail> {
        if self.depth >= MAX_NESTING {
            return Err(Fail::Python("maximum recursion depth exceeded".into()));
        }
        self.depth += 1;
        let r = rule(self);
        self.depth -= 1;
        r
    }

    fn cur(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    fn line(&self) -> usize {
        self.toks[self.pos].line
    }

    /// Moves to the next token, raising a lexing error found there.
    fn advance(&mut self) -> Result<(), Fail> {
        if matches!(self.cur(), Tok::Eof) {
            return Ok(());
        }
        self.pos += 1;
        match &self.toks[self.pos].tok {
            Tok::Error(fail) => Err(fail.clone()),
            _ => Ok(()),
        }
    }

    /// The token after the current one.
    fn look(&self) -> Result<&Tok, Fail> {
        if matches!(self.cur(), Tok::Eof) {
            return Ok(self.cur());
        }
        match &self.toks[self.pos + 1].tok {
            Tok::Error(fail) => Err(fail.clone()),
            tok => Ok(tok),
        }
    }

    fn is_op(&self, op: Op) -> bool {
        matches!(self.cur(), Tok::Op(o) if *o == op)
    }

    fn is_name(&self, name: &str) -> bool {
        matches!(self.cur(), Tok::Name(n) if n == name)
    }

    fn skip_if_op(&mut self, op: Op) -> Result<bool, Fail> {
        if self.is_op(op) {
            self.advance()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn skip_if_name(&mut self, name: &str) -> Result<bool, Fail> {
        if self.is_name(name) {
            self.advance()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn fail(&self, msg: String) -> Fail {
        Fail::Template(msg)
    }

    /// `TokenStream.expect`'s error for an unexpected current token.
    fn expect_fail(&self, expected: &str) -> Fail {
        let expected = crate::util::py_repr(expected);
        if matches!(self.cur(), Tok::Eof) {
            return self.fail(format!("unexpected end of template, expected {expected}."));
        }
        let got = crate::util::py_repr(&describe(self.cur()));
        self.fail(format!("expected token {expected}, got {got}"))
    }

    fn expect_op(&mut self, op: Op) -> Result<(), Fail> {
        if !self.is_op(op) {
            return Err(self.expect_fail(op.as_str()));
        }
        self.advance()
    }

    fn expect_name(&mut self) -> Result<String, Fail> {
        let Tok::Name(name) = self.cur() else {
            return Err(self.expect_fail("name"));
        };
        let name = name.clone();
        self.advance()?;
        Ok(name)
    }

    fn unexpected(&self) -> Fail {
        self.fail(format!(
            "unexpected {}",
            crate::util::py_repr(&describe(self.cur()))
        ))
    }

    fn is_tuple_end(&self) -> bool {
        matches!(self.cur(), Tok::BlockEnd { .. } | Tok::Op(Op::RParen))
    }

    fn parse_tuple(&mut self, with_condexpr: bool, explicit_parens: bool) -> Result<Node, Fail> {
        let mut args = Vec::new();
        let mut is_tuple = false;
        loop {
            if !args.is_empty() {
                self.expect_op(Op::Comma)?;
            }
            if self.is_tuple_end() {
                break;
            }
            args.push(if with_condexpr {
                self.parse_condexpr()?
            } else {
                self.parse_or()?
            });
            if self.is_op(Op::Comma) {
                is_tuple = true;
            } else {
                break;
            }
        }
        if !is_tuple {
            if let Some(node) = args.pop() {
                return Ok(node);
            }
            if !explicit_parens {
                let got = crate::util::py_repr(&describe(self.cur()));
                return Err(self.fail(format!("Expected an expression, got {got}")));
            }
        }
        Ok(Node::Tuple(args))
    }

    fn parse_condexpr(&mut self) -> Result<Node, Fail> {
        self.nested(Self::parse_condexpr_inner)
    }

    fn parse_condexpr_inner(&mut self) -> Result<Node, Fail> {
        let mut line = self.line();
        let mut expr1 = self.parse_or()?;
        while self.skip_if_name("if")? {
            let expr2 = self.parse_or()?;
            let expr3 = if self.skip_if_name("else")? {
                Some(Box::new(self.parse_condexpr()?))
            } else {
                None
            };
            expr1 = Node::CondExpr {
                test: Box::new(expr2),
                then: Box::new(expr1),
                otherwise: expr3,
                line,
            };
            line = self.line();
        }
        Ok(expr1)
    }

    fn parse_or(&mut self) -> Result<Node, Fail> {
        let mut left = self.parse_and()?;
        while self.skip_if_name("or")? {
            let right = self.parse_and()?;
            left = Node::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> Result<Node, Fail> {
        let mut left = self.parse_not()?;
        while self.skip_if_name("and")? {
            let right = self.parse_not()?;
            left = Node::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_not(&mut self) -> Result<Node, Fail> {
        self.nested(Self::parse_not_inner)
    }

    fn parse_not_inner(&mut self) -> Result<Node, Fail> {
        if self.is_name("not") {
            self.advance()?;
            return Ok(Node::Not(Box::new(self.parse_not()?)));
        }
        self.parse_compare()
    }

    fn parse_compare(&mut self) -> Result<Node, Fail> {
        let expr = self.parse_math1()?;
        let mut ops = Vec::new();
        loop {
            let op = match self.cur() {
                Tok::Op(Op::Eq) => CmpOp::Eq,
                Tok::Op(Op::Ne) => CmpOp::Ne,
                Tok::Op(Op::Lt) => CmpOp::Lt,
                Tok::Op(Op::LtEq) => CmpOp::LtEq,
                Tok::Op(Op::Gt) => CmpOp::Gt,
                Tok::Op(Op::GtEq) => CmpOp::GtEq,
                Tok::Name(n) if n == "in" => CmpOp::In,
                Tok::Name(n) if n == "not" && matches!(self.look()?, Tok::Name(m) if m == "in") => {
                    self.advance()?;
                    CmpOp::NotIn
                }
                _ => break,
            };
            self.advance()?;
            ops.push((op, self.parse_math1()?));
        }
        if ops.is_empty() {
            return Ok(expr);
        }
        Ok(Node::Compare(Box::new(expr), ops))
    }

    fn parse_math1(&mut self) -> Result<Node, Fail> {
        let mut left = self.parse_concat()?;
        loop {
            let op = match self.cur() {
                Tok::Op(Op::Add) => BinOp::Add,
                Tok::Op(Op::Sub) => BinOp::Sub,
                _ => return Ok(left),
            };
            self.advance()?;
            let right = self.parse_concat()?;
            left = Node::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn parse_concat(&mut self) -> Result<Node, Fail> {
        let mut args = vec![self.parse_math2()?];
        while self.is_op(Op::Tilde) {
            self.advance()?;
            args.push(self.parse_math2()?);
        }
        if args.len() == 1 {
            return Ok(args.pop().expect("one operand"));
        }
        Ok(Node::Concat(args))
    }

    fn parse_math2(&mut self) -> Result<Node, Fail> {
        let mut left = self.parse_pow()?;
        loop {
            let op = match self.cur() {
                Tok::Op(Op::Mul) => BinOp::Mul,
                Tok::Op(Op::Div) => BinOp::Div,
                Tok::Op(Op::FloorDiv) => BinOp::FloorDiv,
                Tok::Op(Op::Mod) => BinOp::Mod,
                _ => return Ok(left),
            };
            self.advance()?;
            let right = self.parse_pow()?;
            left = Node::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn parse_pow(&mut self) -> Result<Node, Fail> {
        let mut left = self.parse_unary(true)?;
        while self.is_op(Op::Pow) {
            self.advance()?;
            let right = self.parse_unary(true)?;
            left = Node::Binary(BinOp::Pow, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_unary(&mut self, with_filter: bool) -> Result<Node, Fail> {
        self.nested(|p| p.parse_unary_inner(with_filter))
    }

    fn parse_unary_inner(&mut self, with_filter: bool) -> Result<Node, Fail> {
        let mut node = if self.is_op(Op::Sub) {
            self.advance()?;
            Node::Neg(Box::new(self.parse_unary(false)?))
        } else if self.is_op(Op::Add) {
            self.advance()?;
            Node::Pos(Box::new(self.parse_unary(false)?))
        } else {
            self.parse_primary()?
        };
        node = self.parse_postfix(node)?;
        if with_filter {
            node = self.parse_filter_expr(node)?;
        }
        Ok(node)
    }

    fn parse_primary(&mut self) -> Result<Node, Fail> {
        let node = match self.cur().clone() {
            Tok::Name(name) => {
                self.advance()?;
                match name.as_str() {
                    "true" | "True" => Node::Const(Value::Bool(true)),
                    "false" | "False" => Node::Const(Value::Bool(false)),
                    "none" | "None" => Node::Const(Value::None),
                    // Jinja binds `self` to a `TemplateReference`.
                    "self" => Node::Special(Construct::TemplateReference, Vec::new()),
                    _ => Node::Name(name),
                }
            }
            Tok::Str(first) => {
                self.advance()?;
                let mut buf = first;
                while let Tok::Str(next) = self.cur() {
                    buf.push_str(next);
                    self.advance()?;
                }
                Node::Const(Value::Str(buf))
            }
            Tok::Int(value) => {
                self.advance()?;
                match value {
                    Some(i) => Node::Const(Value::Int(i)),
                    None => Node::Special(Construct::BigInt, Vec::new()),
                }
            }
            Tok::Float(f) => {
                self.advance()?;
                Node::Const(Value::Float(f))
            }
            Tok::Op(Op::LParen) => {
                self.advance()?;
                let node = self.parse_tuple(true, true)?;
                self.expect_op(Op::RParen)?;
                node
            }
            Tok::Op(Op::LBracket) => self.parse_list()?,
            Tok::Op(Op::LBrace) => self.parse_dict()?,
            _ => return Err(self.unexpected()),
        };
        Ok(node)
    }

    fn parse_list(&mut self) -> Result<Node, Fail> {
        self.expect_op(Op::LBracket)?;
        let mut items = Vec::new();
        while !self.is_op(Op::RBracket) {
            if !items.is_empty() {
                self.expect_op(Op::Comma)?;
            }
            if self.is_op(Op::RBracket) {
                break;
            }
            items.push(self.parse_condexpr()?);
        }
        self.expect_op(Op::RBracket)?;
        Ok(Node::List(items))
    }

    fn parse_dict(&mut self) -> Result<Node, Fail> {
        self.expect_op(Op::LBrace)?;
        let mut operands = Vec::new();
        while !self.is_op(Op::RBrace) {
            if !operands.is_empty() {
                self.expect_op(Op::Comma)?;
            }
            if self.is_op(Op::RBrace) {
                break;
            }
            operands.push(self.parse_condexpr()?);
            self.expect_op(Op::Colon)?;
            operands.push(self.parse_condexpr()?);
        }
        self.expect_op(Op::RBrace)?;
        Ok(Node::Special(Construct::Dict, operands))
    }

    fn parse_postfix(&mut self, mut node: Node) -> Result<Node, Fail> {
        loop {
            node = if self.is_op(Op::Dot) || self.is_op(Op::LBracket) {
                self.parse_subscript(node)?
            } else if self.is_op(Op::LParen) {
                self.parse_call(node)?
            } else {
                return Ok(node);
            };
        }
    }

    fn parse_filter_expr(&mut self, mut node: Node) -> Result<Node, Fail> {
        loop {
            node = if self.is_op(Op::Pipe) {
                self.parse_filter(node)?
            } else if self.is_name("is") {
                self.parse_test(node)?
            } else if self.is_op(Op::LParen) {
                self.parse_call(node)?
            } else {
                return Ok(node);
            };
        }
    }

    fn parse_subscript(&mut self, node: Node) -> Result<Node, Fail> {
        let mut operands = vec![node];
        if self.is_op(Op::Dot) {
            self.advance()?;
            let attr = self.cur().clone();
            self.advance()?;
            return match attr {
                Tok::Name(_) => Ok(Node::Special(Construct::Attribute, operands)),
                Tok::Int(_) => Ok(Node::Special(Construct::Subscript, operands)),
                _ => Err(self.fail("expected name or number".into())),
            };
        }
        self.advance()?; // '['
        let mut first = true;
        while !self.is_op(Op::RBracket) {
            if !first {
                self.expect_op(Op::Comma)?;
            }
            self.parse_subscribed(&mut operands)?;
            first = false;
        }
        self.expect_op(Op::RBracket)?;
        Ok(Node::Special(Construct::Subscript, operands))
    }

    /// One subscript or slice; its expressions go to `operands`.
    fn parse_subscribed(&mut self, operands: &mut Vec<Node>) -> Result<(), Fail> {
        if self.is_op(Op::Colon) {
            self.advance()?;
        } else {
            operands.push(self.parse_condexpr()?);
            if !self.is_op(Op::Colon) {
                return Ok(());
            }
            self.advance()?;
        }
        let slice_end = |p: &Self| p.is_op(Op::RBracket) || p.is_op(Op::Comma);
        if !self.is_op(Op::Colon) && !slice_end(self) {
            operands.push(self.parse_condexpr()?);
        }
        if self.is_op(Op::Colon) {
            self.advance()?;
            if !slice_end(self) {
                operands.push(self.parse_condexpr()?);
            }
        }
        Ok(())
    }

    /// A call's argument list; its expressions go to `operands` in the
    /// order Jinja's generated code evaluates them. Returns whether there
    /// are only positional arguments.
    fn parse_call_args(&mut self, operands: &mut Vec<Node>) -> Result<bool, Fail> {
        self.expect_op(Op::LParen)?;
        let (mut args, mut kwargs) = (Vec::new(), Vec::new());
        let (mut dyn_args, mut dyn_kwargs) = (None, None);
        let mut require_comma = false;
        let invalid = |p: &Self| p.fail("invalid syntax for function call expression".into());
        while !self.is_op(Op::RParen) {
            if require_comma {
                self.expect_op(Op::Comma)?;
                if self.is_op(Op::RParen) {
                    break;
                }
            }
            if self.is_op(Op::Mul) {
                if dyn_args.is_some() || dyn_kwargs.is_some() {
                    return Err(invalid(self));
                }
                self.advance()?;
                dyn_args = Some(self.parse_condexpr()?);
            } else if self.is_op(Op::Pow) {
                if dyn_kwargs.is_some() {
                    return Err(invalid(self));
                }
                self.advance()?;
                dyn_kwargs = Some(self.parse_condexpr()?);
            } else if matches!(self.cur(), Tok::Name(_))
                && matches!(self.look()?, Tok::Op(Op::Assign))
            {
                if dyn_kwargs.is_some() {
                    return Err(invalid(self));
                }
                self.advance()?;
                self.advance()?;
                kwargs.push(self.parse_condexpr()?);
            } else {
                if dyn_args.is_some() || dyn_kwargs.is_some() || !kwargs.is_empty() {
                    return Err(invalid(self));
                }
                args.push(self.parse_condexpr()?);
            }
            require_comma = true;
        }
        self.expect_op(Op::RParen)?;
        let simple = kwargs.is_empty() && dyn_args.is_none() && dyn_kwargs.is_none();
        operands.extend(
            args.into_iter()
                .chain(kwargs)
                .chain(dyn_args)
                .chain(dyn_kwargs),
        );
        Ok(simple)
    }

    fn parse_call(&mut self, node: Node) -> Result<Node, Fail> {
        let mut operands = vec![node];
        self.parse_call_args(&mut operands)?;
        Ok(Node::Special(Construct::Call, operands))
    }

    fn parse_dotted_name(&mut self) -> Result<String, Fail> {
        let mut name = self.expect_name()?;
        while self.is_op(Op::Dot) {
            self.advance()?;
            name.push('.');
            name.push_str(&self.expect_name()?);
        }
        Ok(name)
    }

    fn parse_filter(&mut self, mut node: Node) -> Result<Node, Fail> {
        while self.is_op(Op::Pipe) {
            self.advance()?;
            let name = self.parse_dotted_name()?;
            let mut operands = vec![node];
            let simple = !self.is_op(Op::LParen) || self.parse_call_args(&mut operands)?;
            node = Node::Special(Construct::Filter { name, simple }, operands);
        }
        Ok(node)
    }

    fn parse_test(&mut self, node: Node) -> Result<Node, Fail> {
        self.advance()?; // 'is'
        let negated = self.skip_if_name("not")?;
        let name = self.parse_dotted_name()?;
        let mut operands = vec![node];
        let mut simple = true;
        if self.is_op(Op::LParen) {
            simple = self.parse_call_args(&mut operands)?;
        } else {
            let starts_arg = match self.cur() {
                Tok::Name(n) => !matches!(n.as_str(), "else" | "or" | "and"),
                Tok::Str(_) | Tok::Int(_) | Tok::Float(_) => true,
                Tok::Op(op) => matches!(op, Op::LParen | Op::LBracket | Op::LBrace),
                _ => false,
            };
            if starts_arg {
                if self.is_name("is") {
                    return Err(self.fail("You cannot chain multiple tests with is".into()));
                }
                let arg = self.parse_primary()?;
                operands.push(self.parse_postfix(arg)?);
            }
        }
        let test = Construct::Test {
            name,
            negated,
            simple,
        };
        Ok(Node::Special(test, operands))
    }
}

// ---------------------------------------------------------------------------
// Constant folding
// ---------------------------------------------------------------------------

/// Mirrors Jinja's optimizer, which folds constant sub-expressions and
/// writes them into the generated Python code with `repr`. That only shows
/// for non-finite floats (`1e500`, `1e308 * 10`): their `repr` is `inf` or
/// `nan`, an undefined name when the generated code runs. Such constants
/// become [`Node::NonFinite`].
fn fold(node: Node) -> Node {
    if let Some(value) = const_value(&node) {
        return match non_finite(&value) {
            Some(name) => Node::NonFinite(name),
            None => Node::Const(value),
        };
    }
    let fold_box = |n: Box<Node>| Box::new(fold(*n));
    let fold_all = |nodes: Vec<Node>| nodes.into_iter().map(fold).collect();
    match node {
        Node::List(items) => Node::List(fold_all(items)),
        Node::Tuple(items) => Node::Tuple(fold_all(items)),
        Node::Not(x) => Node::Not(fold_box(x)),
        Node::And(a, b) => Node::And(fold_box(a), fold_box(b)),
        Node::Or(a, b) => Node::Or(fold_box(a), fold_box(b)),
        Node::Compare(first, ops) => Node::Compare(
            fold_box(first),
            ops.into_iter().map(|(op, n)| (op, fold(n))).collect(),
        ),
        Node::Binary(op, a, b) => Node::Binary(op, fold_box(a), fold_box(b)),
        Node::Concat(items) => Node::Concat(fold_all(items)),
        Node::Neg(x) => Node::Neg(fold_box(x)),
        Node::Pos(x) => Node::Pos(fold_box(x)),
        Node::CondExpr {
            test,
            then,
            otherwise,
            line,
        } => Node::CondExpr {
            test: fold_box(test),
            then: fold_box(then),
            otherwise: otherwise.map(fold_box),
            line,
        },
        Node::Special(construct, operands) => Node::Special(construct, fold_all(operands)),
        other @ (Node::Const(_) | Node::Name(_) | Node::NonFinite(_)) => other,
    }
}

/// The first non-finite float in `value`, as Python's `repr` spells it.
fn non_finite(value: &Value) -> Option<&'static str> {
    match value {
        Value::Float(f) if f.is_nan() => Some("nan"),
        Value::Float(f) if f.is_infinite() => Some("inf"),
        Value::List(items) | Value::Tuple(items) => items.iter().find_map(non_finite),
        _ => None,
    }
}

/// The value of a constant expression (Jinja's `as_const`), or `None` when
/// it depends on names or its evaluation fails.
fn const_value(node: &Node) -> Option<Value> {
    let all = |nodes: &[Node]| nodes.iter().map(const_value).collect::<Option<Vec<_>>>();
    match node {
        Node::Const(v) => Some(v.clone()),
        Node::Name(_) | Node::Special(..) | Node::NonFinite(_) => None,
        Node::List(items) => all(items).map(Value::List),
        Node::Tuple(items) => all(items).map(Value::Tuple),
        Node::Not(x) => Some(Value::Bool(!truthy(&const_value(x)?).ok()?)),
        Node::And(a, b) => {
            let left = const_value(a)?;
            if truthy(&left).ok()? {
                const_value(b)
            } else {
                Some(left)
            }
        }
        Node::Or(a, b) => {
            let left = const_value(a)?;
            if truthy(&left).ok()? {
                Some(left)
            } else {
                const_value(b)
            }
        }
        Node::Compare(first, ops) => {
            let mut left = const_value(first)?;
            for (op, rhs) in ops {
                let right = const_value(rhs)?;
                if !py_compare(*op, &left, &right).ok()? {
                    return Some(Value::Bool(false));
                }
                left = right;
            }
            Some(Value::Bool(true))
        }
        Node::Binary(op, a, b) => py_binary(*op, &const_value(a)?, &const_value(b)?).ok(),
        Node::Concat(items) => {
            let mut out = String::new();
            for value in all(items)? {
                py_str(&value, &mut out).ok()?;
            }
            Some(Value::Str(out))
        }
        Node::Neg(x) => py_unary(true, &const_value(x)?).ok(),
        Node::Pos(x) => py_unary(false, &const_value(x)?).ok(),
        Node::CondExpr {
            test,
            then,
            otherwise,
            ..
        } => {
            if truthy(&const_value(test)?).ok()? {
                const_value(then)
            } else {
                const_value(otherwise.as_deref()?)
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Values and evaluation
// ---------------------------------------------------------------------------

/// A Python value inside the rendered template.
#[derive(Clone, Debug)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// `StrictUndefined` for an unknown name: any use but `[x]`/`(x,)` fails.
    Strict(String),
    /// Jinja's lenient `Undefined` from an inline `if` without `else`
    /// (the line number is part of its message).
    Lenient(usize),
}

impl Value {
    fn from_opt(value: OptValue) -> Value {
        match value {
            OptValue::Bool(b) => Value::Bool(b),
            OptValue::Str(s) => Value::Str(s),
            OptValue::List(items) => Value::List(items.into_iter().map(Value::Str).collect()),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Strict(_) => "StrictUndefined",
            Value::Lenient(_) => "Undefined",
        }
    }

    /// The `UndefinedError` raised when an undefined value is used.
    fn undefined_error(&self) -> Option<Fail> {
        match self {
            Value::Strict(name) => Some(Fail::Template(format!(
                "{} is undefined",
                crate::util::py_repr(name)
            ))),
            Value::Lenient(line) => Some(Fail::Template(format!(
                "the inline if-expression on line {line} evaluated to false and no else section was defined."
            ))),
            _ => None,
        }
    }

    fn num(&self) -> Option<Num> {
        match *self {
            Value::Bool(b) => Some(Num::Int(i64::from(b))),
            Value::Int(i) => Some(Num::Int(i)),
            Value::Float(f) => Some(Num::Float(f)),
            _ => None,
        }
    }
}

/// Fails if either operand is `StrictUndefined`, left first. For rich
/// comparisons Python tries the subclass (`StrictUndefined`) before a lenient
/// `Undefined` on the other side, so this check comes first.
fn check_strict(a: &Value, b: &Value) -> Result<(), Fail> {
    for v in [a, b] {
        if let Value::Strict(_) = v {
            return Err(v.undefined_error().expect("undefined"));
        }
    }
    Ok(())
}

/// Fails if either operand is undefined of any kind, left first. (For
/// arithmetic, Python tries a subclass's reflected method first only when
/// it overrides it, and `StrictUndefined` inherits those of `Undefined`.)
fn check_defined(a: &Value, b: &Value) -> Result<(), Fail> {
    match a.undefined_error().or_else(|| b.undefined_error()) {
        Some(fail) => Err(fail),
        None => Ok(()),
    }
}

/// Python truthiness.
fn truthy(v: &Value) -> Result<bool, Fail> {
    Ok(match v {
        Value::None | Value::Lenient(_) => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::List(items) | Value::Tuple(items) => !items.is_empty(),
        Value::Strict(_) => return Err(v.undefined_error().expect("undefined")),
    })
}

#[derive(Clone, Copy, Debug)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

/// Exact comparison of an integer with a float (`None` for NaN).
fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2**63
    if f.is_nan() {
        return None;
    }
    if f >= LIMIT {
        return Some(Ordering::Less);
    }
    if f < -LIMIT {
        return Some(Ordering::Greater);
    }
    let floor = f.floor();
    Some(match i.cmp(&(floor as i64)) {
        Ordering::Equal if f > floor => Ordering::Less,
        other => other,
    })
}

fn num_cmp(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y),
        (Num::Int(x), Num::Float(y)) => cmp_int_float(x, y),
        (Num::Float(x), Num::Int(y)) => cmp_int_float(y, x).map(Ordering::reverse),
    }
}

/// Python `a == b`.
fn py_eq(a: &Value, b: &Value) -> Result<bool, Fail> {
    check_strict(a, b)?;
    Ok(match (a, b) {
        // `Undefined.__eq__` is `type(self) is type(other)`.
        (Value::Lenient(_), Value::Lenient(_)) => true,
        (Value::Lenient(_), _) | (_, Value::Lenient(_)) => false,
        (Value::None, Value::None) => true,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => {
            // Lists compare lengths first; tuples only after the items.
            if matches!(a, Value::List(_)) && x.len() != y.len() {
                return Ok(false);
            }
            for (p, q) in x.iter().zip(y) {
                if !py_eq(p, q)? {
                    return Ok(false);
                }
            }
            x.len() == y.len()
        }
        _ => match (a.num(), b.num()) {
            (Some(x), Some(y)) => num_cmp(x, y) == Some(Ordering::Equal),
            _ => false,
        },
    })
}

/// Python `a OP b` for a comparison operator other than `in`/`not in`.
fn py_compare(op: CmpOp, a: &Value, b: &Value) -> Result<bool, Fail> {
    let want = |ord: Ordering| match op {
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::LtEq => ord != Ordering::Greater,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::GtEq => ord != Ordering::Less,
        _ => unreachable!("ordering operator"),
    };
    let symbol = match op {
        CmpOp::Eq => return py_eq(a, b),
        CmpOp::Ne => return py_eq(a, b).map(|eq| !eq),
        CmpOp::In => return py_contains(b, a),
        CmpOp::NotIn => return py_contains(b, a).map(|found| !found),
        CmpOp::Lt => "<",
        CmpOp::LtEq => "<=",
        CmpOp::Gt => ">",
        CmpOp::GtEq => ">=",
    };
    check_strict(a, b)?;
    check_defined(a, b)?;
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Ok(want(x.as_str().cmp(y.as_str()))),
        (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => {
            for (p, q) in x.iter().zip(y) {
                if !py_eq(p, q)? {
                    return py_compare(op, p, q);
                }
            }
            Ok(want(x.len().cmp(&y.len())))
        }
        _ => match (a.num(), b.num()) {
            (Some(x), Some(y)) => Ok(num_cmp(x, y).is_some_and(want)),
            _ => python_error(format!(
                "'{symbol}' not supported between instances of '{}' and '{}'",
                a.type_name(),
                b.type_name()
            )),
        },
    }
}

/// Python `item in container`.
fn py_contains(container: &Value, item: &Value) -> Result<bool, Fail> {
    match container {
        Value::Strict(_) => Err(container.undefined_error().expect("undefined")),
        // Jinja's lenient `Undefined` iterates as empty.
        Value::Lenient(_) => Ok(false),
        Value::List(items) | Value::Tuple(items) => {
            for element in items {
                if py_eq(element, item)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Value::Str(s) => match item {
            Value::Str(sub) => Ok(s.contains(sub.as_str())),
            _ => python_error(format!(
                "'in <string>' requires string as left operand, not {}",
                item.type_name()
            )),
        },
        _ => python_error(format!(
            "argument of type '{}' is not iterable",
            container.type_name()
        )),
    }
}

fn overflow<T>() -> Result<T, Fail> {
    unsupported("an integer result beyond 64 bits")
}

/// Python's float `%` (`float_rem`).
fn float_mod(x: f64, y: f64) -> f64 {
    let m = x % y;
    if m != 0.0 {
        if (y < 0.0) != (m < 0.0) {
            m + y
        } else {
            m
        }
    } else {
        0.0_f64.copysign(y)
    }
}

/// Python's float `//` (`float_floor_div`).
fn float_floordiv(x: f64, y: f64) -> f64 {
    let m = x % y;
    let mut div = (x - m) / y;
    if m != 0.0 && (y < 0.0) != (m < 0.0) {
        div -= 1.0;
    }
    if div != 0.0 {
        let floor = div.floor();
        if div - floor > 0.5 {
            floor + 1.0
        } else {
            floor
        }
    } else {
        0.0_f64.copysign(x / y)
    }
}

fn py_pow(x: Num, y: Num) -> Result<Value, Fail> {
    if let (Num::Int(a), Num::Int(b)) = (x, y) {
        if b >= 0 {
            let Ok(b) = u32::try_from(b) else {
                return match a {
                    0 | 1 => Ok(Value::Int(a)),
                    -1 => Ok(Value::Int(if b % 2 == 0 { 1 } else { -1 })),
                    _ => overflow(),
                };
            };
            return match a.checked_pow(b) {
                Some(v) => Ok(Value::Int(v)),
                None => overflow(),
            };
        }
    }
    let (a, b) = (x.as_f64(), y.as_f64());
    if a == 0.0 && b < 0.0 {
        return python_error("0.0 cannot be raised to a negative power".into());
    }
    if a < 0.0 && b.is_finite() && b.fract() != 0.0 {
        return unsupported("a complex number result");
    }
    let r = a.powf(b);
    if r.is_infinite() && a.is_finite() && b.is_finite() {
        return python_error("(34, 'Numerical result out of range')".into());
    }
    Ok(Value::Float(r))
}

fn repeat<T: Clone>(items: &[T], n: i64) -> Result<Vec<T>, Fail> {
    const LIMIT: usize = 1 << 20;
    let n = usize::try_from(n).unwrap_or(0);
    if items.len().saturating_mul(n) > LIMIT {
        return unsupported("a sequence repeated this many times");
    }
    let mut out = Vec::with_capacity(items.len() * n);
    for _ in 0..n {
        out.extend_from_slice(items);
    }
    Ok(out)
}

fn sequence_repeat(seq: &Value, count: &Value) -> Result<Value, Fail> {
    let n = match count {
        Value::Bool(b) => i64::from(*b),
        Value::Int(i) => *i,
        other => {
            return python_error(format!(
                "can't multiply sequence by non-int of type '{}'",
                other.type_name()
            ))
        }
    };
    Ok(match seq {
        Value::Str(s) => {
            let chars: Vec<char> = s.chars().collect();
            Value::Str(repeat(&chars, n)?.into_iter().collect())
        }
        Value::List(items) => Value::List(repeat(items, n)?),
        Value::Tuple(items) => Value::Tuple(repeat(items, n)?),
        _ => unreachable!("sequence"),
    })
}

fn is_sequence(v: &Value) -> bool {
    matches!(v, Value::Str(_) | Value::List(_) | Value::Tuple(_))
}

/// Python `a OP b` for an arithmetic operator.
fn py_binary(op: BinOp, a: &Value, b: &Value) -> Result<Value, Fail> {
    if op == BinOp::Mod && matches!(a, Value::Str(_)) {
        // `str.__mod__` formats whatever the right operand is.
        return unsupported("'%' string formatting");
    }
    check_defined(a, b)?;
    let unsupported_operands = || {
        let symbol = match op {
            BinOp::Pow => "** or pow()",
            _ => op.as_str(),
        };
        python_error(format!(
            "unsupported operand type(s) for {symbol}: '{}' and '{}'",
            a.type_name(),
            b.type_name()
        ))
    };
    if let (Some(x), Some(y)) = (a.num(), b.num()) {
        let ints = match (x, y) {
            (Num::Int(i), Num::Int(j)) => Some((i, j)),
            _ => None,
        };
        let (fx, fy) = (x.as_f64(), y.as_f64());
        return match op {
            BinOp::Add | BinOp::Sub | BinOp::Mul => match ints {
                Some((i, j)) => {
                    let r = match op {
                        BinOp::Add => i.checked_add(j),
                        BinOp::Sub => i.checked_sub(j),
                        _ => i.checked_mul(j),
                    };
                    r.map_or_else(overflow, |v| Ok(Value::Int(v)))
                }
                None => Ok(Value::Float(match op {
                    BinOp::Add => fx + fy,
                    BinOp::Sub => fx - fy,
                    _ => fx * fy,
                })),
            },
            BinOp::Div => {
                if fy == 0.0 {
                    let msg = if ints.is_some() {
                        "division by zero"
                    } else {
                        "float division by zero"
                    };
                    return python_error(msg.into());
                }
                Ok(Value::Float(fx / fy))
            }
            BinOp::FloorDiv | BinOp::Mod => match ints {
                Some((_, 0)) => python_error(
                    if op == BinOp::Mod {
                        "integer modulo by zero"
                    } else {
                        "integer division or modulo by zero"
                    }
                    .into(),
                ),
                Some((i, j)) if op == BinOp::Mod => {
                    let r = i.checked_rem(j).unwrap_or(0);
                    Ok(Value::Int(if r != 0 && (r < 0) != (j < 0) {
                        r + j
                    } else {
                        r
                    }))
                }
                Some((i, j)) => {
                    let Some(q) = i.checked_div(j) else {
                        return overflow();
                    };
                    let adjust = i % j != 0 && (i < 0) != (j < 0);
                    Ok(Value::Int(if adjust { q - 1 } else { q }))
                }
                None if fy == 0.0 => python_error(
                    if op == BinOp::Mod {
                        "float modulo"
                    } else {
                        "float floor division by zero"
                    }
                    .into(),
                ),
                None if op == BinOp::Mod => Ok(Value::Float(float_mod(fx, fy))),
                None => Ok(Value::Float(float_floordiv(fx, fy))),
            },
            BinOp::Pow => py_pow(x, y),
        };
    }
    match op {
        BinOp::Add => match (a, b) {
            (Value::Str(x), Value::Str(y)) => Ok(Value::Str(format!("{x}{y}"))),
            (Value::List(x), Value::List(y)) => Ok(Value::List([x.as_slice(), y].concat())),
            (Value::Tuple(x), Value::Tuple(y)) => Ok(Value::Tuple([x.as_slice(), y].concat())),
            (Value::Str(_) | Value::List(_) | Value::Tuple(_), _) => python_error(format!(
                "can only concatenate {} (not \"{}\") to {}",
                a.type_name(),
                b.type_name(),
                a.type_name()
            )),
            _ => unsupported_operands(),
        },
        BinOp::Mul if is_sequence(a) => sequence_repeat(a, b),
        BinOp::Mul if is_sequence(b) => sequence_repeat(b, a),
        _ => unsupported_operands(),
    }
}

/// Python `-v` (`neg`) or `+v`.
fn py_unary(neg: bool, v: &Value) -> Result<Value, Fail> {
    if let Some(fail) = v.undefined_error() {
        return Err(fail);
    }
    match v.num() {
        Some(Num::Int(i)) if neg => i.checked_neg().map_or_else(overflow, |i| Ok(Value::Int(i))),
        Some(Num::Int(i)) => Ok(Value::Int(i)),
        Some(Num::Float(f)) => Ok(Value::Float(if neg { -f } else { f })),
        None => {
            let sign = if neg { '-' } else { '+' };
            python_error(format!(
                "bad operand type for unary {sign}: '{}'",
                v.type_name()
            ))
        }
    }
}

/// Python `str(v)`, as used by `~`.
fn py_str(v: &Value, out: &mut String) -> Result<(), Fail> {
    match v {
        Value::Strict(_) => return Err(v.undefined_error().expect("undefined")),
        Value::Lenient(_) => {}
        Value::Str(s) => out.push_str(s),
        _ => py_repr(v, out),
    }
    Ok(())
}

/// Python `repr(v)`.
fn py_repr(v: &Value, out: &mut String) {
    match v {
        Value::None => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&py_float_repr(*f)),
        Value::Str(s) => out.push_str(&crate::util::py_repr(s)),
        Value::List(items) | Value::Tuple(items) => {
            let tuple = matches!(v, Value::Tuple(_));
            out.push(if tuple { '(' } else { '[' });
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_repr(item, out);
            }
            if tuple && items.len() == 1 {
                out.push(',');
            }
            out.push(if tuple { ')' } else { ']' });
        }
        Value::Strict(_) | Value::Lenient(_) => out.push_str("Undefined"),
    }
}

/// Python `repr(f)` for a `float`.
fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // As many digits as the shortest round-trip form, e.g. "1.2345e-7", but
    // the closest such digits (ties to even), as Python picks them.
    let shortest = format!("{:e}", f.abs());
    let precision = shortest.split('e').next().map_or(1, |m| m.len().max(2) - 2);
    let sci = format!("{:.*e}", precision, f.abs());
    let (mantissa, exp) = sci.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("exponent value");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let body = if exp < 0 {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        } else {
            let int_len = exp as usize + 1;
            if digits.len() > int_len {
                format!("{}.{}", &digits[..int_len], &digits[int_len..])
            } else {
                format!("{digits}{}.0", "0".repeat(int_len - digits.len()))
            }
        };
        return format!("{sign}{body}");
    }
    let (first, rest) = digits.split_at(1);
    let frac = if rest.is_empty() {
        String::new()
    } else {
        format!(".{rest}")
    };
    let exp_sign = if exp < 0 { '-' } else { '+' };
    format!("{sign}{first}{frac}e{exp_sign}{:02}", exp.abs())
}

fn eval(node: &Node, lookup: &dyn Fn(&str) -> Option<OptValue>) -> Result<Value, Fail> {
    Ok(match node {
        Node::Const(v) => v.clone(),
        Node::Name(name) => match lookup(name) {
            Some(value) => Value::from_opt(value),
            None => Value::Strict(name.clone()),
        },
        Node::List(items) => Value::List(
            items
                .iter()
                .map(|n| eval(n, lookup))
                .collect::<Result<_, _>>()?,
        ),
        Node::Tuple(items) => Value::Tuple(
            items
                .iter()
                .map(|n| eval(n, lookup))
                .collect::<Result<_, _>>()?,
        ),
        Node::Not(x) => Value::Bool(!truthy(&eval(x, lookup)?)?),
        Node::And(a, b) => {
            let left = eval(a, lookup)?;
            if truthy(&left)? {
                eval(b, lookup)?
            } else {
                left
            }
        }
        Node::Or(a, b) => {
            let left = eval(a, lookup)?;
            if truthy(&left)? {
                left
            } else {
                eval(b, lookup)?
            }
        }
        Node::Compare(first, ops) => {
            let mut left = eval(first, lookup)?;
            for (op, rhs) in ops {
                let right = eval(rhs, lookup)?;
                if !py_compare(*op, &left, &right)? {
                    return Ok(Value::Bool(false));
                }
                left = right;
            }
            Value::Bool(true)
        }
        Node::Binary(op, a, b) => {
            let left = eval(a, lookup)?;
            let right = eval(b, lookup)?;
            py_binary(*op, &left, &right)?
        }
        Node::Concat(items) => {
            let values = items
                .iter()
                .map(|n| eval(n, lookup))
                .collect::<Result<Vec<_>, _>>()?;
            let mut out = String::new();
            for value in &values {
                py_str(value, &mut out)?;
            }
            Value::Str(out)
        }
        Node::Neg(x) => py_unary(true, &eval(x, lookup)?)?,
        Node::Pos(x) => py_unary(false, &eval(x, lookup)?)?,
        Node::NonFinite(name) => {
            return python_error(format!("name '{name}' is not defined"));
        }
        Node::CondExpr {
            test,
            then,
            otherwise,
            line,
        } => {
            if truthy(&eval(test, lookup)?)? {
                eval(then, lookup)?
            } else if let Some(otherwise) = otherwise {
                eval(otherwise, lookup)?
            } else {
                Value::Lenient(*line)
            }
        }
        Node::Special(construct, operands) => {
            let values = operands
                .iter()
                .map(|n| eval(n, lookup))
                .collect::<Result<Vec<_>, _>>()?;
            eval_special(construct, &values)?
        }
    })
}

/// Finishes a [`Node::Special`] once its operands are evaluated.
fn eval_special(construct: &Construct, values: &[Value]) -> Result<Value, Fail> {
    let undefined = match construct {
        // Getting an attribute or item of, or calling, an undefined value
        // raises.
        Construct::Attribute | Construct::Subscript | Construct::Call => {
            values.first().and_then(Value::undefined_error)
        }
        // Hashing a `StrictUndefined` key raises.
        Construct::Dict => values
            .iter()
            .step_by(2)
            .find(|v| matches!(v, Value::Strict(_)))
            .and_then(Value::undefined_error),
        Construct::Filter { name, .. } if !JINJA_FILTERS.contains(&name.as_str()) => {
            Some(Fail::Template(format!(
                "No filter named {} found.",
                crate::util::py_repr(name)
            )))
        }
        Construct::Test { name, .. } if !JINJA_TESTS.contains(&name.as_str()) => {
            Some(Fail::Template(format!(
                "No test named {} found.",
                crate::util::py_repr(name)
            )))
        }
        _ => None,
    };
    if let Some(fail) = undefined {
        return Err(fail);
    }
    let result = match construct {
        Construct::Filter { name, simple: true } => match (name.as_str(), values) {
            ("length" | "count", [v]) => Some(py_len(v).map(Value::Int)),
            _ => None,
        },
        Construct::Test {
            name,
            negated,
            simple: true,
        } => apply_test(name, values).map(|r| r.map(|b| Value::Bool(b != *negated))),
        _ => None,
    };
    result.unwrap_or_else(|| unsupported(&construct.what()))
}

/// Python `len(v)`.
fn py_len(v: &Value) -> Result<i64, Fail> {
    let len = match v {
        Value::Str(s) => s.chars().count(),
        Value::List(items) | Value::Tuple(items) => items.len(),
        Value::Lenient(_) => 0,
        Value::Strict(_) => return Err(v.undefined_error().expect("undefined")),
        _ => {
            return python_error(format!("object of type '{}' has no len()", v.type_name()));
        }
    };
    Ok(len as i64)
}

/// Jinja's simple builtin tests; `None` for the ones bst-rs does not implement.
fn apply_test(name: &str, values: &[Value]) -> Option<Result<bool, Fail>> {
    let is_undefined = |v: &Value| matches!(v, Value::Strict(_) | Value::Lenient(_));
    let compare = |op: CmpOp, a: &Value, b: &Value| Some(py_compare(op, a, b));
    match (name, values) {
        ("defined", [v]) => Some(Ok(!is_undefined(v))),
        ("undefined", [v]) => Some(Ok(is_undefined(v))),
        ("none", [v]) => Some(Ok(matches!(v, Value::None))),
        ("true", [v]) => Some(Ok(matches!(v, Value::Bool(true)))),
        ("false", [v]) => Some(Ok(matches!(v, Value::Bool(false)))),
        ("boolean", [v]) => Some(Ok(matches!(v, Value::Bool(_)))),
        ("string", [v]) => Some(Ok(matches!(v, Value::Str(_)))),
        ("number", [v]) => Some(Ok(v.num().is_some())),
        ("integer", [v]) => Some(Ok(matches!(v, Value::Int(_)))),
        ("float", [v]) => Some(Ok(matches!(v, Value::Float(_)))),
        ("in", [v, seq]) => compare(CmpOp::In, v, seq),
        ("eq" | "equalto" | "==", [a, b]) => compare(CmpOp::Eq, a, b),
        ("ne" | "!=", [a, b]) => compare(CmpOp::Ne, a, b),
        ("lt" | "lessthan" | "<", [a, b]) => compare(CmpOp::Lt, a, b),
        ("le" | "<=", [a, b]) => compare(CmpOp::LtEq, a, b),
        ("gt" | "greaterthan" | ">", [a, b]) => compare(CmpOp::Gt, a, b),
        ("ge" | ">=", [a, b]) => compare(CmpOp::GtEq, a, b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Option environments matching `ENVS` in scripts/gen-expr-cases.py.
    fn env(index: usize) -> impl Fn(&str) -> Option<OptValue> {
        move |name: &str| {
            let s = |v: &str| Some(OptValue::Str(v.to_string()));
            let l = |v: &[&str]| Some(OptValue::List(v.iter().map(|s| s.to_string()).collect()));
            match (index, name) {
                (0, "debug") => Some(OptValue::Bool(false)),
                (0, "bootstrap") => Some(OptValue::Bool(true)),
                (0, "arch") => s("x86_64"),
                (0, "target_os") => s("linux"),
                (0, "flags") => l(&["a", "b"]),
                (1, "debug") => Some(OptValue::Bool(true)),
                (1, "bootstrap") => Some(OptValue::Bool(false)),
                (1, "arch") => s("aarch64"),
                (1, "target_os") => s("freebsd"),
                (1, "flags") => l(&["c"]),
                (2, "debug") => Some(OptValue::Bool(false)),
                (2, "bootstrap") => Some(OptValue::Bool(false)),
                (2, "arch") => s(""),
                (2, "target_os") => s("linux"),
                (2, "flags") => l(&[]),
                (_, "noflags") => l(&[]),
                _ => None,
            }
        }
    }

    // BEGIN GENERATED CASES
    // Generated by scripts/gen-expr-cases.py with jinja2 3.1.6; do not edit.
    // (expression, [outcome under ENVS[0], ENVS[1], ENVS[2]])
    #[rustfmt::skip]
    const CASES: &[(&str, [&str; 3])] = &[
        ("debug", ["F", "T", "F"]),
        ("not debug", ["T", "F", "T"]),
        ("bootstrap", ["T", "F", "F"]),
        ("not not debug", ["F", "T", "F"]),
        ("debug == True", ["F", "T", "F"]),
        ("debug == False", ["T", "F", "T"]),
        ("debug == true", ["F", "T", "F"]),
        ("debug != false", ["F", "T", "F"]),
        ("debug == 'True'", ["F", "F", "F"]),
        ("debug == 1", ["F", "T", "F"]),
        ("debug == 0", ["T", "F", "T"]),
        ("debug in [True]", ["F", "T", "F"]),
        ("debug in [0]", ["T", "F", "T"]),
        ("arch", ["T", "T", "F"]),
        ("not arch", ["F", "F", "T"]),
        ("arch == \"x86_64\"", ["T", "F", "F"]),
        ("arch == 'aarch64'", ["F", "T", "F"]),
        ("arch != 'x86_64'", ["F", "T", "T"]),
        ("arch in ['x86_64', 'i686']", ["T", "F", "F"]),
        ("arch in (\"x86_64\", \"i686\")", ["T", "F", "F"]),
        ("arch not in ['aarch64']", ["T", "F", "T"]),
        ("arch in 'x86_64 i686'", ["T", "F", "T"]),
        ("'86' in arch", ["T", "F", "F"]),
        ("'' in arch", ["T", "T", "T"]),
        ("arch == ''", ["F", "F", "T"]),
        ("target_os == 'linux' and arch in ['x86_64', 'aarch64']", ["T", "F", "F"]),
        ("arch == 'x86_64' or arch == 'i686'", ["T", "F", "F"]),
        ("arch < 'b'", ["F", "T", "T"]),
        ("arch >= 'aarch64'", ["T", "T", "F"]),
        ("flags", ["T", "T", "F"]),
        ("not flags", ["F", "F", "T"]),
        ("noflags", ["F", "F", "F"]),
        ("'a' in flags", ["T", "F", "F"]),
        ("'c' in flags", ["F", "T", "F"]),
        ("'a' not in flags", ["F", "T", "T"]),
        ("'a' in flags and 'b' in flags", ["T", "F", "F"]),
        ("flags == ['a', 'b']", ["T", "F", "F"]),
        ("flags == ('a', 'b')", ["F", "F", "F"]),
        ("flags == []", ["F", "F", "T"]),
        ("flags != []", ["T", "T", "F"]),
        ("flags in [['a', 'b'], ['c']]", ["T", "T", "F"]),
        ("flags < ['b']", ["T", "F", "T"]),
        ("debug and arch == 'x86_64'", ["F", "F", "F"]),
        ("debug or arch == 'x86_64'", ["T", "T", "F"]),
        ("not debug and not bootstrap", ["F", "F", "T"]),
        ("(debug or bootstrap) and target_os == 'linux'", ["T", "F", "F"]),
        ("debug or bootstrap and target_os == 'freebsd'", ["F", "T", "F"]),
        ("not debug == True", ["T", "F", "T"]),
        ("not (debug == True)", ["T", "F", "T"]),
        ("(arch or 'none') == 'none'", ["F", "F", "T"]),
        ("(debug and arch) == False", ["T", "F", "T"]),
        ("(flags or noflags) == []", ["F", "F", "T"]),
        ("'a' < arch < 'z'", ["T", "T", "F"]),
        ("debug == False == bootstrap", ["F", "F", "T"]),
        ("1 < 2 < 3", ["T", "T", "T"]),
        ("1 < 3 < 2", ["F", "F", "F"]),
        ("arch == arch == 'x86_64'", ["T", "F", "F"]),
        ("1 < 2 > 0 != 5", ["T", "T", "T"]),
        ("True", ["T", "T", "T"]),
        ("False", ["F", "F", "F"]),
        ("true", ["T", "T", "T"]),
        ("false", ["F", "F", "F"]),
        ("None", ["F", "F", "F"]),
        ("none", ["F", "F", "F"]),
        ("''", ["F", "F", "F"]),
        ("'x'", ["T", "T", "T"]),
        ("[]", ["F", "F", "F"]),
        ("[False]", ["T", "T", "T"]),
        ("()", ["F", "F", "F"]),
        ("(False)", ["F", "F", "F"]),
        ("(False,)", ["T", "T", "T"]),
        ("[1, 2,]", ["T", "T", "T"]),
        ("0", ["F", "F", "F"]),
        ("1", ["T", "T", "T"]),
        ("0.0", ["F", "F", "F"]),
        ("1.5", ["T", "T", "T"]),
        ("'a' 'b' == 'ab'", ["T", "T", "T"]),
        ("\"it's\" == 'it\\'s'", ["T", "T", "T"]),
        ("'\\x41\\u00e9' == 'Aé'", ["T", "T", "T"]),
        ("'a\\nb' == \"a\\nb\"", ["T", "T", "T"]),
        ("'\\q' == '\\\\q'", ["T", "T", "T"]),
        ("1_000 == 1000", ["T", "T", "T"]),
        ("0x1f == 31", ["T", "T", "T"]),
        ("0o17 == 15 and 0b101 == 5", ["T", "T", "T"]),
        ("1e3 == 1000", ["T", "T", "T"]),
        ("True == 1", ["T", "T", "T"]),
        ("1 == 1.0", ["T", "T", "T"]),
        ("'1' == 1", ["F", "F", "F"]),
        ("None == none", ["T", "T", "T"]),
        ("None != False", ["T", "T", "T"]),
        ("[1, 2] == [1, 2]", ["T", "T", "T"]),
        ("[1] == (1,)", ["F", "F", "F"]),
        ("(1, 'a') == (1, 'a')", ["T", "T", "T"]),
        ("[[]] == [[]]", ["T", "T", "T"]),
        ("[1, 2] < [1, 3]", ["T", "T", "T"]),
        ("(1, 2) <= (1,)", ["F", "F", "F"]),
        ("True > False", ["T", "T", "T"]),
        ("1 in [True]", ["T", "T", "T"]),
        ("1 + 1 == 2", ["T", "T", "T"]),
        ("'a' + 'b' == 'ab'", ["T", "T", "T"]),
        ("arch ~ '-' ~ target_os == 'x86_64-linux'", ["T", "F", "F"]),
        ("-1 < 0", ["T", "T", "T"]),
        ("- -1 == +1", ["T", "T", "T"]),
        ("2 ** 3 == 8", ["T", "T", "T"]),
        ("-2 ** 2 == 4", ["T", "T", "T"]),
        ("2 ** 3 ** 2 == 64", ["T", "T", "T"]),
        ("7 // 2 == 3", ["T", "T", "T"]),
        ("-7 // 2 == -4", ["T", "T", "T"]),
        ("7 % 3 == 1", ["T", "T", "T"]),
        ("-7 % 3 == 2", ["T", "T", "T"]),
        ("7 / 2 == 3.5", ["T", "T", "T"]),
        ("1 + 2 * 3 == 7", ["T", "T", "T"]),
        ("flags + ['c'] == ['a', 'b', 'c']", ["T", "F", "F"]),
        ("'ab' * 2 == 'abab'", ["T", "T", "T"]),
        ("2 * [0] == [0, 0]", ["T", "T", "T"]),
        ("debug + 1 == 1", ["T", "F", "T"]),
        ("True ~ 1 ~ None == 'True1None'", ["T", "T", "T"]),
        ("[1, 'a', \"b'\"] ~ '' == '[1, \\'a\\', \"b\\'\"]'", ["T", "T", "T"]),
        ("(1,) ~ () == '(1,)()'", ["T", "T", "T"]),
        ("1.5 ~ 1e20 ~ 2.0 == '1.51e+202.0'", ["T", "T", "T"]),
        ("1 ~ 2 == '12'", ["T", "T", "T"]),
        ("1e500", ["X:name 'inf' is not defined", "X:name 'inf' is not defined", "X:name 'inf' is not defined"]),
        ("-1e500", ["X:name 'inf' is not defined", "X:name 'inf' is not defined", "X:name 'inf' is not defined"]),
        ("1e500 > 1", ["T", "T", "T"]),
        ("1e308 * 10", ["X:name 'inf' is not defined", "X:name 'inf' is not defined", "X:name 'inf' is not defined"]),
        ("1e500 - 1e500", ["X:name 'nan' is not defined", "X:name 'nan' is not defined", "X:name 'nan' is not defined"]),
        ("(1e500 - 1e500) ~ '' == 'nan'", ["T", "T", "T"]),
        ("[1, 1e500]", ["X:name 'inf' is not defined", "X:name 'inf' is not defined", "X:name 'inf' is not defined"]),
        ("debug and 1e500", ["F", "X:name 'inf' is not defined", "F"]),
        ("bootstrap and 1e500", ["X:name 'inf' is not defined", "F", "F"]),
        ("1e500 and debug", ["X:name 'inf' is not defined", "X:name 'inf' is not defined", "X:name 'inf' is not defined"]),
        ("-(1e500 if debug else 1) < 0", ["T", "X:name 'inf' is not defined", "T"]),
        ("debug, bootstrap", ["T", "T", "T"]),
        ("debug,", ["T", "T", "T"]),
        ("debug:", ["F", "T", "F"]),
        ("('x' if debug else 'y') == 'y'", ["T", "F", "T"]),
        ("('x' if debug else 'y' if bootstrap else 'z') == 'z'", ["F", "F", "T"]),
        ("(arch if debug)", ["F", "T", "F"]),
        ("[1 if debug]", ["T", "T", "T"]),
        ("(1 if debug) == 1", ["F", "T", "F"]),
        ("foo", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("foo == 'x'", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("not foo", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("debug and foo", ["F", "E:'foo' is undefined", "F"]),
        ("debug or foo", ["E:'foo' is undefined", "T", "E:'foo' is undefined"]),
        ("bootstrap or foo", ["T", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("bootstrap and foo", ["E:'foo' is undefined", "F", "F"]),
        ("'a' in foo", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("foo in ['a']", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("foo in []", ["F", "F", "F"]),
        ("[foo]", ["T", "T", "T"]),
        ("[foo] == [foo]", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("[foo] == [bar]", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("[foo] == []", ["F", "F", "F"]),
        ("foo == foo", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("foo in [foo]", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("foo in [bar]", ["E:'bar' is undefined", "E:'bar' is undefined", "E:'bar' is undefined"]),
        ("'x' == foo", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("foo + 1", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("arch == 'x86_64' and foo == 'y'", ["E:'foo' is undefined", "F", "F"]),
        ("arch == x86_64", ["E:'x86_64' is undefined", "E:'x86_64' is undefined", "E:'x86_64' is undefined"]),
        ("x86_64 == arch", ["E:'x86_64' is undefined", "E:'x86_64' is undefined", "E:'x86_64' is undefined"]),
        ("and", ["E:'and' is undefined", "E:'and' is undefined", "E:'and' is undefined"]),
        ("in == 'x'", ["E:'in' is undefined", "E:'in' is undefined", "E:'in' is undefined"]),
        ("(foo, 1)", ["T", "T", "T"]),
        ("1 < foo", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("foo ~ 'a'", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("(1 if debug) + 1", ["E:the inline if-expression on line 1 evaluated to false and no else section was defined.", "T", "E:the inline if-expression on line 1 evaluated to false and no else section was defined."]),
        ("(1 if debug) ~ 'a' == 'a'", ["T", "F", "T"]),
        ("(1 if debug) != 1", ["T", "F", "T"]),
        ("(1 if debug) == (2 if debug)", ["T", "F", "T"]),
        ("'a' in (1 if debug)", ["F", "X:argument of type 'int' is not iterable", "F"]),
        ("(1 if debug) in ['a']", ["F", "F", "F"]),
        ("(1 if debug) < 1", ["E:the inline if-expression on line 1 evaluated to false and no else section was defined.", "F", "E:the inline if-expression on line 1 evaluated to false and no else section was defined."]),
        ("[(1 if debug)] ~ '' == '[Undefined]'", ["T", "F", "T"]),
        ("-(1 if debug)", ["E:the inline if-expression on line 1 evaluated to false and no else section was defined.", "T", "E:the inline if-expression on line 1 evaluated to false and no else section was defined."]),
        ("not (1 if debug)", ["T", "F", "T"]),
        ("(foo if debug)", ["F", "E:'foo' is undefined", "F"]),
        ("(1 if debug) == foo", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("[foo] ~ '' == '[Undefined]'", ["T", "T", "T"]),
        ("foo == (1 if debug)", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("[(1 if debug)] == [(2 if bootstrap)]", ["F", "F", "T"]),
        ("'a' in debug", ["X:argument of type 'bool' is not iterable", "X:argument of type 'bool' is not iterable", "X:argument of type 'bool' is not iterable"]),
        ("'a' in 1", ["X:argument of type 'int' is not iterable", "X:argument of type 'int' is not iterable", "X:argument of type 'int' is not iterable"]),
        ("'a' in None", ["X:argument of type 'NoneType' is not iterable", "X:argument of type 'NoneType' is not iterable", "X:argument of type 'NoneType' is not iterable"]),
        ("1 in 'abc'", ["X:'in <string>' requires string as left operand, not int", "X:'in <string>' requires string as left operand, not int", "X:'in <string>' requires string as left operand, not int"]),
        ("foo in 'abc'", ["X:'in <string>' requires string as left operand, not StrictUndefined", "X:'in <string>' requires string as left operand, not StrictUndefined", "X:'in <string>' requires string as left operand, not StrictUndefined"]),
        ("(1 if debug) in 'abc'", ["X:'in <string>' requires string as left operand, not Undefined", "X:'in <string>' requires string as left operand, not int", "X:'in <string>' requires string as left operand, not Undefined"]),
        ("arch > 1", ["X:'>' not supported between instances of 'str' and 'int'", "X:'>' not supported between instances of 'str' and 'int'", "X:'>' not supported between instances of 'str' and 'int'"]),
        ("None < None", ["X:'<' not supported between instances of 'NoneType' and 'NoneType'", "X:'<' not supported between instances of 'NoneType' and 'NoneType'", "X:'<' not supported between instances of 'NoneType' and 'NoneType'"]),
        ("[1] < ['a']", ["X:'<' not supported between instances of 'int' and 'str'", "X:'<' not supported between instances of 'int' and 'str'", "X:'<' not supported between instances of 'int' and 'str'"]),
        ("flags > arch", ["X:'>' not supported between instances of 'list' and 'str'", "X:'>' not supported between instances of 'list' and 'str'", "X:'>' not supported between instances of 'list' and 'str'"]),
        ("debug < foo", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("'a' - 'b'", ["X:unsupported operand type(s) for -: 'str' and 'str'", "X:unsupported operand type(s) for -: 'str' and 'str'", "X:unsupported operand type(s) for -: 'str' and 'str'"]),
        ("-arch", ["X:bad operand type for unary -: 'str'", "X:bad operand type for unary -: 'str'", "X:bad operand type for unary -: 'str'"]),
        ("+arch", ["X:bad operand type for unary +: 'str'", "X:bad operand type for unary +: 'str'", "X:bad operand type for unary +: 'str'"]),
        ("'a' + 1", ["X:can only concatenate str (not \"int\") to str", "X:can only concatenate str (not \"int\") to str", "X:can only concatenate str (not \"int\") to str"]),
        ("1 + 'a'", ["X:unsupported operand type(s) for +: 'int' and 'str'", "X:unsupported operand type(s) for +: 'int' and 'str'", "X:unsupported operand type(s) for +: 'int' and 'str'"]),
        ("[1] + (1,)", ["X:can only concatenate list (not \"tuple\") to list", "X:can only concatenate list (not \"tuple\") to list", "X:can only concatenate list (not \"tuple\") to list"]),
        ("(1,) + [1]", ["X:can only concatenate tuple (not \"list\") to tuple", "X:can only concatenate tuple (not \"list\") to tuple", "X:can only concatenate tuple (not \"list\") to tuple"]),
        ("'a' * 'b'", ["X:can't multiply sequence by non-int of type 'str'", "X:can't multiply sequence by non-int of type 'str'", "X:can't multiply sequence by non-int of type 'str'"]),
        ("1 // 0", ["X:integer division or modulo by zero", "X:integer division or modulo by zero", "X:integer division or modulo by zero"]),
        ("1 % 0", ["X:integer modulo by zero", "X:integer modulo by zero", "X:integer modulo by zero"]),
        ("1 / 0", ["X:division by zero", "X:division by zero", "X:division by zero"]),
        ("1.5 // 0", ["X:float floor division by zero", "X:float floor division by zero", "X:float floor division by zero"]),
        ("1.5 % 0", ["X:float modulo", "X:float modulo", "X:float modulo"]),
        ("1.5 / 0", ["X:float division by zero", "X:float division by zero", "X:float division by zero"]),
        ("0 ** -1", ["X:0.0 cannot be raised to a negative power", "X:0.0 cannot be raised to a negative power", "X:0.0 cannot be raised to a negative power"]),
        ("2 ** -1 == 0.5", ["T", "T", "T"]),
        ("[1] - [1]", ["X:unsupported operand type(s) for -: 'list' and 'list'", "X:unsupported operand type(s) for -: 'list' and 'list'", "X:unsupported operand type(s) for -: 'list' and 'list'"]),
        ("None + None", ["X:unsupported operand type(s) for +: 'NoneType' and 'NoneType'", "X:unsupported operand type(s) for +: 'NoneType' and 'NoneType'", "X:unsupported operand type(s) for +: 'NoneType' and 'NoneType'"]),
        ("foo is defined", ["F", "F", "F"]),
        ("debug is defined", ["T", "T", "T"]),
        ("foo is not defined", ["T", "T", "T"]),
        ("debug is undefined", ["F", "F", "F"]),
        ("(1 if debug) is defined", ["F", "T", "F"]),
        ("arch is string", ["T", "T", "T"]),
        ("debug is boolean", ["T", "T", "T"]),
        ("debug is true", ["F", "T", "F"]),
        ("debug is not false", ["F", "T", "F"]),
        ("1 is number and True is number", ["T", "T", "T"]),
        ("True is integer", ["F", "F", "F"]),
        ("1 is integer", ["T", "T", "T"]),
        ("1.5 is float", ["T", "T", "T"]),
        ("none is none", ["T", "T", "T"]),
        ("'a' is in flags", ["T", "F", "F"]),
        ("arch is eq 'x86_64'", ["T", "F", "F"]),
        ("arch is equalto('x86_64')", ["T", "F", "F"]),
        ("arch is ne 'x86_64'", ["F", "T", "T"]),
        ("1 is lt 2", ["T", "T", "T"]),
        ("2 is greaterthan(1)", ["T", "T", "T"]),
        ("arch is ge 'b'", ["T", "F", "F"]),
        ("flags|length == 2", ["T", "F", "F"]),
        ("flags|count > 0", ["T", "T", "F"]),
        ("arch|length", ["T", "T", "F"]),
        ("(1 if debug)|length == 0", ["T", "X:object of type 'int' has no len()", "T"]),
        ("debug|length", ["X:object of type 'bool' has no len()", "X:object of type 'bool' has no len()", "X:object of type 'bool' has no len()"]),
        ("foo|length", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("debug|nosuch", ["E:No filter named 'nosuch' found.", "E:No filter named 'nosuch' found.", "E:No filter named 'nosuch' found."]),
        ("debug is nosuch", ["E:No test named 'nosuch' found.", "E:No test named 'nosuch' found.", "E:No test named 'nosuch' found."]),
        ("debug is not nosuch", ["E:No test named 'nosuch' found.", "E:No test named 'nosuch' found.", "E:No test named 'nosuch' found."]),
        ("false and debug|nosuch", ["F", "F", "F"]),
        ("(1 + foo)|nosuch", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("foo.bar", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("foo[0]", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("foo()", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("debug == not (bootstrap)", ["E:'not' is undefined", "E:'not' is undefined", "E:'not' is undefined"]),
        ("{foo: 1}", ["E:'foo' is undefined", "E:'foo' is undefined", "E:'foo' is undefined"]),
        ("\n(1\n if debug) + 1", ["E:the inline if-expression on line 2 evaluated to false and no else section was defined.", "T", "E:the inline if-expression on line 2 evaluated to false and no else section was defined."]),
        ("debug ==\r\n== 1", ["E:unexpected '=='", "E:unexpected '=='", "E:unexpected '=='"]),
        ("é == 1", ["E:'é' is undefined", "E:'é' is undefined", "E:'é' is undefined"]),
        ("a¹ == 1", ["E:Invalid character in identifier", "E:Invalid character in identifier", "E:Invalid character in identifier"]),
        ("'\\U00110000'", ["E:illegal Unicode character", "E:illegal Unicode character", "E:illegal Unicode character"]),
        ("debug is defined is defined", ["E:You cannot chain multiple tests with is", "E:You cannot chain multiple tests with is", "E:You cannot chain multiple tests with is"]),
        ("arch is == 'x86_64'", ["E:expected token 'name', got '=='", "E:expected token 'name', got '=='", "E:expected token 'name', got '=='"]),
        ("debug|", ["E:expected token 'name', got 'end of statement block'", "E:expected token 'name', got 'end of statement block'", "E:expected token 'name', got 'end of statement block'"]),
        ("debug | length(", ["E:unexpected '%'", "E:unexpected '%'", "E:unexpected '%'"]),
        ("foo(1, x=2, 3)", ["E:invalid syntax for function call expression", "E:invalid syntax for function call expression", "E:invalid syntax for function call expression"]),
        ("foo(*a, *b)", ["E:invalid syntax for function call expression", "E:invalid syntax for function call expression", "E:invalid syntax for function call expression"]),
        ("foo(**a, x=1)", ["E:invalid syntax for function call expression", "E:invalid syntax for function call expression", "E:invalid syntax for function call expression"]),
        ("", ["E:Expected an expression, got 'end of statement block'", "E:Expected an expression, got 'end of statement block'", "E:Expected an expression, got 'end of statement block'"]),
        (" ", ["E:Expected an expression, got 'end of statement block'", "E:Expected an expression, got 'end of statement block'", "E:Expected an expression, got 'end of statement block'"]),
        ("debug ==", ["E:unexpected 'end of statement block'", "E:unexpected 'end of statement block'", "E:unexpected 'end of statement block'"]),
        ("== debug", ["E:unexpected '=='", "E:unexpected '=='", "E:unexpected '=='"]),
        ("(debug", ["E:unexpected '}', expected ')'", "E:unexpected '}', expected ')'", "E:unexpected '}', expected ')'"]),
        ("debug)", ["E:unexpected ')'", "E:unexpected ')'", "E:unexpected ')'"]),
        ("[debug", ["E:unexpected '}', expected ']'", "E:unexpected '}', expected ']'", "E:unexpected '}', expected ']'"]),
        ("debug]", ["E:unexpected ']'", "E:unexpected ']'", "E:unexpected ']'"]),
        ("(debug]", ["E:unexpected ']', expected ')'", "E:unexpected ']', expected ')'", "E:unexpected ']', expected ')'"]),
        ("[debug)", ["E:unexpected ')', expected ']'", "E:unexpected ')', expected ']'", "E:unexpected ')', expected ']'"]),
        ("'abc", ["E:unexpected char \"'\" at 6", "E:unexpected char \"'\" at 6", "E:unexpected char \"'\" at 6"]),
        ("\"abc", ["E:unexpected char '\"' at 6", "E:unexpected char '\"' at 6", "E:unexpected char '\"' at 6"]),
        ("debug not arch", ["E:expected token 'end of statement block', got 'not'", "E:expected token 'end of statement block', got 'not'", "E:expected token 'end of statement block', got 'not'"]),
        ("debug arch", ["E:expected token 'end of statement block', got 'arch'", "E:expected token 'end of statement block', got 'arch'", "E:expected token 'end of statement block', got 'arch'"]),
        ("debug and", ["E:unexpected 'end of statement block'", "E:unexpected 'end of statement block'", "E:unexpected 'end of statement block'"]),
        ("not", ["E:unexpected 'end of statement block'", "E:unexpected 'end of statement block'", "E:unexpected 'end of statement block'"]),
        ("debug == = 'x'", ["E:unexpected '='", "E:unexpected '='", "E:unexpected '='"]),
        ("debug = True", ["E:expected token 'end of statement block', got '='", "E:expected token 'end of statement block', got '='", "E:expected token 'end of statement block', got '='"]),
        ("debug && bootstrap", ["E:unexpected char '&' at 12", "E:unexpected char '&' at 12", "E:unexpected char '&' at 12"]),
        ("debug || bootstrap", ["E:expected token 'name', got '|'", "E:expected token 'name', got '|'", "E:expected token 'name', got '|'"]),
        ("!debug", ["E:unexpected char '!' at 6", "E:unexpected char '!' at 6", "E:unexpected char '!' at 6"]),
        ("debug === True", ["E:unexpected '='", "E:unexpected '='", "E:unexpected '='"]),
        ("[debug,,]", ["E:unexpected ','", "E:unexpected ','", "E:unexpected ','"]),
        ("(,)", ["E:unexpected ','", "E:unexpected ','", "E:unexpected ','"]),
        ("(debug,,)", ["E:unexpected ','", "E:unexpected ','", "E:unexpected ','"]),
        ("debug }", ["E:unexpected '}'", "E:unexpected '}'", "E:unexpected '}'"]),
        ("$foo", ["E:unexpected char '$' at 6", "E:unexpected char '$' at 6", "E:unexpected char '$' at 6"]),
        ("debug if bootstrap else arch", ["E:expected token 'end of statement block', got 'if'", "E:expected token 'end of statement block', got 'if'", "E:expected token 'end of statement block', got 'if'"]),
        ("debug;", ["E:expected token 'end of statement block', got ';'", "E:expected token 'end of statement block', got ';'", "E:expected token 'end of statement block', got ';'"]),
        ("01", ["E:expected token 'end of statement block', got 'integer'", "E:expected token 'end of statement block', got 'integer'", "E:expected token 'end of statement block', got 'integer'"]),
        ("'\\xZZ'", ["E:truncated \\xXX escape", "E:truncated \\xXX escape", "E:truncated \\xXX escape"]),
        ("debug not", ["E:expected token 'end of statement block', got 'not'", "E:expected token 'end of statement block', got 'not'", "E:expected token 'end of statement block', got 'not'"]),
        ("not in", ["E:'in' is undefined", "E:'in' is undefined", "E:'in' is undefined"]),
        ("debug in", ["E:unexpected 'end of statement block'", "E:unexpected 'end of statement block'", "E:unexpected 'end of statement block'"]),
        ("arch == 'x86_64' )", ["E:unexpected ')'", "E:unexpected ')'", "E:unexpected ')'"]),
        ("((debug)", ["E:unexpected '}', expected ')'", "E:unexpected '}', expected ')'", "E:unexpected '}', expected ')'"]),
        ("debug . ", ["E:expected name or number", "E:expected name or number", "E:expected name or number"]),
        ("1.", ["E:expected name or number", "E:expected name or number", "E:expected name or number"]),
        ("@", ["E:unexpected char '@' at 6", "E:unexpected char '@' at 6", "E:unexpected char '@' at 6"]),
        ("debug ==\n== 1", ["E:unexpected '=='", "E:unexpected '=='", "E:unexpected '=='"]),
        ("debug == (", ["E:unexpected '%'", "E:unexpected '%'", "E:unexpected '%'"]),
        ("{", ["E:unexpected '%'", "E:unexpected '%'", "E:unexpected '%'"]),
        ("debug is", ["E:expected token 'name', got 'end of statement block'", "E:expected token 'name', got 'end of statement block'", "E:expected token 'name', got 'end of statement block'"]),
        ("debug |", ["E:expected token 'name', got 'end of statement block'", "E:expected token 'name', got 'end of statement block'", "E:expected token 'name', got 'end of statement block'"]),
        ("foo(", ["E:unexpected '%'", "E:unexpected '%'", "E:unexpected '%'"]),
        ("foo[", ["E:unexpected '%'", "E:unexpected '%'", "E:unexpected '%'"]),
        ("debug . 1.5", ["E:expected name or number", "E:expected name or number", "E:expected name or number"]),
        ("debug 'a'", ["E:expected token 'end of statement block', got 'string'", "E:expected token 'end of statement block', got 'string'", "E:expected token 'end of statement block', got 'string'"]),
        ("'a' 1", ["E:expected token 'end of statement block', got 'integer'", "E:expected token 'end of statement block', got 'integer'", "E:expected token 'end of statement block', got 'integer'"]),
        ("'x' if", ["E:expected token 'end of statement block', got 'if'", "E:expected token 'end of statement block', got 'if'", "E:expected token 'end of statement block', got 'if'"]),
        ("(1 if)", ["E:unexpected ')'", "E:unexpected ')'", "E:unexpected ')'"]),
        ("(1 if 2 else)", ["E:unexpected ')'", "E:unexpected ')'", "E:unexpected ')'"]),
        ("[1 2]", ["E:expected token ',', got 'integer'", "E:expected token ',', got 'integer'", "E:expected token ',', got 'integer'"]),
        ("(1 2)", ["E:expected token ')', got 'integer'", "E:expected token ')', got 'integer'", "E:expected token ')', got 'integer'"]),
    ];
    // END GENERATED CASES

    /// Error texts printed by real `bst show` (BuildStream 2, jinja2 3.1.6)
    /// after the `e.bst [line 4 column 4]: ` provenance.
    #[test]
    fn error_texts_match_real_bst() {
        let lookup = |name: &str| match name {
            "debug" => Some(OptValue::Bool(false)),
            "arch2" => Some(OptValue::Str("x86_64".into())),
            "fl" => Some(OptValue::List(vec!["a".into(), "b".into()])),
            _ => None,
        };
        let cases = [
            (
                "foo == 'x'",
                "Failed to evaluate expression (foo == 'x'): 'foo' is undefined",
            ),
            (
                "debug ==",
                "Failed to evaluate expression (debug ==): unexpected 'end of statement block'",
            ),
            (
                "debug not arch2",
                "Failed to evaluate expression (debug not arch2): expected token 'end of statement block', got 'not'",
            ),
            (
                "(debug",
                "Failed to evaluate expression ((debug): unexpected '}', expected ')'",
            ),
            (
                "'abc",
                "Failed to evaluate expression ('abc): unexpected char \"'\" at 6",
            ),
            (
                "a.b",
                "Failed to evaluate expression (a.b): 'a' is undefined",
            ),
            (
                "(1 if debug) + 1",
                "Failed to evaluate expression ((1 if debug) + 1): the inline if-expression on line 1 evaluated to false and no else section was defined.",
            ),
            (
                "debug|nosuch",
                "Failed to evaluate expression (debug|nosuch): No filter named 'nosuch' found.",
            ),
            (
                "",
                "Failed to evaluate expression (): Expected an expression, got 'end of statement block'",
            ),
            (
                "arch2 == 'x86_64' and (fl",
                "Failed to evaluate expression (arch2 == 'x86_64' and (fl): unexpected '}', expected ')'",
            ),
        ];
        for (expr, want) in cases {
            let err = evaluate(expr, &lookup).expect_err(expr);
            assert_eq!(err.message, want);
            assert_eq!(err.to_string(), want);
        }
        assert_eq!(evaluate("'a' in fl and 'c' not in fl", &lookup), Ok(true));
    }

    #[test]
    fn unsupported_constructs_are_errors() {
        let lookup = env(0);
        let cases = [
            ("arch.startswith('x')", "attribute access"),
            ("flags[0] == 'a'", "subscription"),
            ("arch[1:]", "subscription"),
            ("{'a': 1}", "a dict literal"),
            ("'%s' % arch", "'%' string formatting"),
            ("self", "'self' (Jinja's template reference)"),
            ("99999999999999999999 > 1", "an integer beyond 64 bits"),
            ("2 ** 64 > 1", "an integer result beyond 64 bits"),
            ("(-8) ** 0.5", "a complex number result"),
            ("'\\N{BULLET}'", "a '\\N{...}' escape"),
            ("arch|upper == 'X86_64'", "the 'upper' filter"),
            ("arch is lower", "the 'lower' test"),
            ("debug %} x {% if bootstrap", "'%}' outside a string"),
        ];
        for (expr, what) in cases {
            let err = evaluate(expr, &lookup).expect_err(expr);
            let want = format!(
                "Failed to evaluate expression ({expr}): {what} is not supported in bst-rs conditional expressions"
            );
            assert_eq!(err.message, want);
        }
        // Short-circuiting still skips them, and `%}` inside a string is data.
        assert_eq!(evaluate("debug and arch.upper()", &lookup), Ok(false));
        assert_eq!(evaluate("'%}' == '%' ~ '}'", &lookup), Ok(true));
    }

    #[test]
    fn parse_once_evaluate_many() {
        let expr = parse("arch in ['x86_64', 'i686'] and not debug").unwrap();
        assert_eq!(expr.source(), "arch in ['x86_64', 'i686'] and not debug");
        assert_eq!(expr.eval(&env(0)), Ok(true));
        assert_eq!(expr.eval(&env(1)), Ok(false));
        let err = expr.eval(&|_: &str| None).unwrap_err();
        assert_eq!(
            err.message,
            "Failed to evaluate expression (arch in ['x86_64', 'i686'] and not debug): 'arch' is undefined"
        );
        // Syntax errors are found without any lookup.
        assert!(parse("debug ==").is_err());
    }

    #[test]
    fn python_repr_of_floats_and_strings() {
        let floats = [
            (1.5, "1.5"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (0.1, "0.1"),
            (-2.0, "-2.0"),
            (-0.0, "-0.0"),
            (1201151154146267.2, "1201151154146267.2"),
            (f64::INFINITY, "inf"),
        ];
        for (f, want) in floats {
            assert_eq!(py_float_repr(f), want);
        }
        assert_eq!(crate::util::py_repr("it's"), "\"it's\"");
        assert_eq!(crate::util::py_repr("a'b\""), "'a\\'b\"'");
        assert_eq!(
            crate::util::py_repr("\u{7f}\t\u{a0}\u{200b}é"),
            "'\\x7f\\t\\xa0\\u200bé'"
        );
    }

    #[test]
    fn generated_cases_match_jinja2() {
        let mut failures = Vec::new();
        for (expr, outcomes) in CASES {
            for (index, want) in outcomes.iter().enumerate() {
                let got = match evaluate(expr, &env(index)) {
                    Ok(true) => "T".to_string(),
                    Ok(false) => "F".to_string(),
                    Err(e) => {
                        let prefix = format!("Failed to evaluate expression ({expr}): ");
                        match e.message.strip_prefix(&prefix) {
                            Some(msg) if want.starts_with("X:") => format!("X:{msg}"),
                            Some(msg) => format!("E:{msg}"),
                            None => format!("bad message {:?}", e.message),
                        }
                    }
                };
                if got != *want {
                    failures.push(format!("{expr:?} env {index}: want {want:?}, got {got:?}"));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} mismatches:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
