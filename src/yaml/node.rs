//! [`Node`]: a YAML value (scalar string, sequence or mapping) with its [`Provenance`].

use super::{LoadError, LoadErrorReason, Result};
use indexmap::IndexMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, RwLock};

/// Index of a loaded file in the global file table ([`register_file`]).
pub type FileId = u32;

/// File id of nodes that come from no file (built-in defaults, synthesised values).
pub const SYNTHETIC: FileId = u32::MAX;

/// What we remember of a loaded file, for error messages.
#[derive(Debug)]
pub struct FileInfo {
    /// Full path on disk.
    pub filename: PathBuf,
    /// Name shown in messages: project-relative, prefixed with `junction:` in subprojects.
    pub displayname: String,
}

fn files() -> &'static RwLock<Vec<Arc<FileInfo>>> {
    static FILES: OnceLock<RwLock<Vec<Arc<FileInfo>>>> = OnceLock::new();
    FILES.get_or_init(|| RwLock::new(Vec::new()))
}

/// Registers a file and returns the id its nodes carry.
pub fn register_file(filename: PathBuf, displayname: String) -> FileId {
    let mut files = files().write().unwrap_or_else(|e| e.into_inner());
    files.push(Arc::new(FileInfo {
        filename,
        displayname,
    }));
    (files.len() - 1) as FileId
}

/// Looks up a registered file.
pub fn file_info(id: FileId) -> Option<Arc<FileInfo>> {
    if id == SYNTHETIC {
        return None;
    }
    let files = files().read().unwrap_or_else(|e| e.into_inner());
    files.get(id as usize).cloned()
}

/// Where a node came from: file, 0-based line, 0-based column (as BuildStream keeps them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Provenance {
    /// The file, or [`SYNTHETIC`].
    pub file: FileId,
    /// 0-based line.
    pub line: u32,
    /// 0-based column; negative-like synthetic nodes use [`u32::MAX`].
    pub col: u32,
}

impl Provenance {
    /// A provenance for nodes made by bst-rs itself.
    pub const fn synthetic() -> Self {
        Provenance {
            file: SYNTHETIC,
            line: 0,
            col: u32::MAX,
        }
    }

    /// A synthetic node attributed to the same file as `self`.
    pub fn synthetic_in_file(self) -> Self {
        Provenance {
            file: self.file,
            line: 0,
            col: u32::MAX,
        }
    }

    /// Made by BuildStream/bst-rs rather than read from a file (BuildStream's
    /// `ProvenanceInformation._is_synthetic`).
    pub fn is_synthetic(&self) -> bool {
        self.file == SYNTHETIC || self.col == u32::MAX
    }

    /// The file's display name ("" for synthetic nodes).
    pub fn displayname(&self) -> String {
        file_info(self.file)
            .map(|f| f.displayname.clone())
            .unwrap_or_default()
    }
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match file_info(self.file) {
            Some(info) if self.col != u32::MAX => write!(
                f,
                "{} [line {} column {}]",
                info.displayname,
                self.line + 1,
                self.col
            ),
            Some(info) => write!(f, "{} [synthetic node]", info.displayname),
            None => write!(f, " [synthetic node]"),
        }
    }
}

/// An insertion-ordered map with a fast (non-DoS-resistant) hasher.
pub type FxIndexMap<K, V> = IndexMap<K, V, rustc_hash::FxBuildHasher>;

pub use super::map::Map;

/// The value of a node.
///
/// Sequences and mappings are shared: copying a tree (elements copy their kinds' defaults and
/// their sources' configuration) copies one pointer, and changing a copy (composition,
/// variable substitution) copies just the containers on the way to the change
/// ([`Arc::make_mut`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Every YAML scalar, as a stripped string.
    Scalar(Arc<str>),
    /// A sequence.
    Seq(Arc<Vec<Node>>),
    /// A mapping.
    Map(Arc<Map>),
}

/// A YAML node with provenance.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where it came from.
    pub prov: Provenance,
}

// Projects hold hundreds of thousands of nodes: a mapping's table is boxed so that scalars,
// the most numerous, stay small.
const _: () = assert!(std::mem::size_of::<Node>() <= 40);

impl Node {
    /// A scalar node.
    pub fn scalar(s: impl Into<Arc<str>>, prov: Provenance) -> Node {
        Node {
            value: Value::Scalar(s.into()),
            prov,
        }
    }

    /// An empty mapping node.
    pub fn empty_map(prov: Provenance) -> Node {
        Node {
            value: Value::Map(Arc::default()),
            prov,
        }
    }

    /// A sequence node.
    pub fn seq(items: Vec<Node>, prov: Provenance) -> Node {
        Node {
            value: Value::Seq(Arc::new(items)),
            prov,
        }
    }

    /// The scalar string, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The scalar's shared string, if this is a scalar (a copy that allocates nothing).
    pub fn as_arc_str(&self) -> Option<&Arc<str>> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The mapping, if this is a mapping.
    pub fn as_map(&self) -> Option<&Map> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The mapping, mutably.
    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match &mut self.value {
            Value::Map(m) => Some(Arc::make_mut(m)),
            _ => None,
        }
    }

    /// The sequence, if this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// Python's `str()` of the plain value (as `strip_node_info()` gives it): a scalar as it
    /// is, sequences and mappings as Python prints lists and dicts.
    pub fn py_str(&self) -> String {
        match &self.value {
            Value::Scalar(s) => s.to_string(),
            _ => self.to_plain(),
        }
    }

    /// The sequence, mutably.
    pub fn as_seq_mut(&mut self) -> Option<&mut Vec<Node>> {
        match &mut self.value {
            Value::Seq(s) => Some(Arc::make_mut(s)),
            _ => None,
        }
    }

    /// The same tree, provenance and mapping key order included (`==` ignores the order
    /// of mapping keys, as `IndexMap`'s equality does). For differential tests of parsers.
    pub fn identical(&self, other: &Node) -> bool {
        self.prov == other.prov
            && match (&self.value, &other.value) {
                (Value::Scalar(a), Value::Scalar(b)) => a == b,
                (Value::Seq(a), Value::Seq(b)) => {
                    a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.identical(y))
                }
                (Value::Map(a), Value::Map(b)) => {
                    a.len() == b.len()
                        && a.iter()
                            .zip(b.iter())
                            .all(|((ka, va), (kb, vb))| ka == kb && va.identical(vb))
                }
                _ => false,
            }
    }

    /// Is this a mapping?
    pub fn is_map(&self) -> bool {
        matches!(self.value, Value::Map(_))
    }

    /// Is this a sequence?
    pub fn is_seq(&self) -> bool {
        matches!(self.value, Value::Seq(_))
    }

    /// Is this a scalar?
    pub fn is_scalar(&self) -> bool {
        matches!(self.value, Value::Scalar(_))
    }

    fn map_or_empty(&self) -> &Map {
        static EMPTY: OnceLock<Map> = OnceLock::new();
        self.as_map()
            .unwrap_or_else(|| EMPTY.get_or_init(Map::default))
    }

    /// Entry `key` of a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.map_or_empty().get(key)
    }

    /// Entry `key` of a mapping node, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.as_map_mut().and_then(|m| m.get_mut(key))
    }

    /// Inserts (or replaces) entry `key`; the node must be a mapping.
    pub fn insert(&mut self, key: &str, value: Node) {
        if let Some(m) = self.as_map_mut() {
            m.insert(Arc::from(key), value);
        }
    }

    /// Sets entry `key` to a scalar the way BuildStream's `MappingNode.__setitem__` does with
    /// a plain string: the new node keeps the provenance of the value it replaces, or is a
    /// synthetic node of this mapping's file.
    pub fn set_str(&mut self, key: &str, value: &str) {
        let prov = match self.get(key) {
            Some(old) => old.prov,
            None => self.prov.synthetic_in_file(),
        };
        self.insert(key, Node::scalar(value, prov));
    }

    /// Strips every scalar of the tree as BuildStream's `ScalarNode` constructor does (Python
    /// `str.strip()`), for values computed after parsing that BuildStream copies into new
    /// nodes.
    pub fn strip_scalars(&mut self) {
        match &mut self.value {
            Value::Scalar(s) => {
                let stripped =
                    s.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c));
                if stripped.len() != s.len() {
                    *s = Arc::from(stripped);
                }
            }
            Value::Seq(items) => Arc::make_mut(items)
                .iter_mut()
                .for_each(Node::strip_scalars),
            Value::Map(map) => Arc::make_mut(map)
                .values_mut()
                .for_each(Node::strip_scalars),
        }
    }

    /// Removes entry `key`, keeping the order of the others.
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        self.as_map_mut().and_then(|m| m.shift_remove(key))
    }

    /// Error: a required key is missing in this mapping.
    pub fn missing_key(&self, key: &str) -> LoadError {
        LoadError::new(
            LoadErrorReason::InvalidData,
            format!(
                "{}: Dictionary did not contain expected key '{key}'",
                self.prov
            ),
        )
    }

    /// BuildStream's error for entry `key` (this node) not being of type `ty`.
    pub fn wrong_type(&self, key: &str, ty: &str) -> LoadError {
        LoadError::new(
            LoadErrorReason::InvalidData,
            format!(
                "{}: Value of '{key}' is not of the expected type '{ty}'",
                self.prov
            ),
        )
    }

    /// Scalar entry `key` (None if absent); error if it is not a scalar.
    pub fn get_str(&self, key: &str) -> Result<Option<&str>> {
        Ok(self.get_arc_str(key)?.map(|s| &**s))
    }

    /// [`Node::get_str`], as the node's shared string.
    pub fn get_arc_str(&self, key: &str) -> Result<Option<&Arc<str>>> {
        match self.get(key) {
            None => Ok(None),
            Some(n) => n
                .as_arc_str()
                .map(Some)
                .ok_or_else(|| n.wrong_type(key, "scalar")),
        }
    }

    /// Scalar entry `key`, required.
    pub fn req_str(&self, key: &str) -> Result<&str> {
        self.get_str(key)?.ok_or_else(|| self.missing_key(key))
    }

    /// Boolean entry `key` with BuildStream's strict boolean rules.
    pub fn get_bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(n) => match n.as_str() {
                Some(_) => n.as_bool(key),
                None => Err(n.wrong_type(key, "scalar")),
            },
        }
    }

    /// Integer entry `key` (Python `int()` rules for plain decimal text).
    pub fn get_int(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(n) => match n.as_str() {
                Some(_) => n.as_int(key).map(Some),
                None => Err(n.wrong_type(key, "scalar")),
            },
        }
    }

    /// Mapping entry `key` (None if absent); error if it is not a mapping.
    pub fn get_mapping(&self, key: &str) -> Result<Option<&Node>> {
        match self.get(key) {
            None => Ok(None),
            Some(n) if n.is_map() => Ok(Some(n)),
            Some(n) => Err(n.wrong_type(key, "dict")),
        }
    }

    /// Sequence entry `key` (None if absent); error if it is not a sequence.
    pub fn get_sequence(&self, key: &str) -> Result<Option<&Node>> {
        match self.get(key) {
            None => Ok(None),
            Some(n) if n.is_seq() => Ok(Some(n)),
            Some(n) => Err(n.wrong_type(key, "list")),
        }
    }

    /// Entry `key` as a list of strings (empty if absent).
    pub fn get_str_list(&self, key: &str) -> Result<Vec<String>> {
        Ok(to_strings(self.get_scalar_items(key)?))
    }

    /// This sequence as a list of strings.
    pub fn as_str_list(&self) -> Result<Vec<String>> {
        Ok(to_strings(self.as_scalar_items()?))
    }

    /// The items of sequence entry `key` (none if absent), each required to be a scalar, as
    /// [`Node::get_str_list`] requires them (without copying them).
    pub fn get_scalar_items(&self, key: &str) -> Result<&[Node]> {
        match self.get_sequence(key)? {
            None => Ok(&[]),
            Some(seq) => seq.as_scalar_items(),
        }
    }

    /// This sequence's items, each required to be a scalar.
    pub fn as_scalar_items(&self) -> Result<&[Node]> {
        let items = self.as_seq().unwrap_or(&[]);
        match items.iter().find(|n| !n.is_scalar()) {
            Some(n) => Err(LoadError::new(
                LoadErrorReason::InvalidData,
                format!("{}: List item is not of the expected type 'scalar'", n.prov),
            )),
            None => Ok(items),
        }
    }

    /// This scalar as a boolean: only `True/true/1` and `False/false/0`.
    pub fn as_bool(&self, key: &str) -> Result<bool> {
        match self.as_str() {
            Some("True" | "true" | "1") => Ok(true),
            Some("False" | "false" | "0") => Ok(false),
            _ => Err(self.wrong_type(key, "boolean")),
        }
    }

    /// This scalar as an integer, like Python's `int()` on a string.
    pub fn as_int(&self, key: &str) -> Result<i64> {
        self.as_str()
            .and_then(parse_python_int)
            .ok_or_else(|| self.wrong_type(key, "int"))
    }

    /// Does any mapping in this tree (this node included) have a key satisfying `f`?
    pub fn any_key(&self, f: &dyn Fn(&str) -> bool) -> bool {
        match &self.value {
            Value::Scalar(_) => false,
            Value::Seq(items) => items.iter().any(|i| i.any_key(f)),
            Value::Map(map) => map.iter().any(|(k, v)| f(k) || v.any_key(f)),
        }
    }

    /// Errors on keys of this mapping that are not in `valid`.
    pub fn validate_keys(&self, valid: &[&str]) -> Result<()> {
        for (key, value) in self.map_or_empty() {
            if !valid.contains(&&**key) {
                return Err(LoadError::new(
                    LoadErrorReason::InvalidData,
                    format!("{}: Unexpected key: {key}", value.prov),
                ));
            }
        }
        Ok(())
    }

    /// Python's `repr()` of the plain value (as `strip_node_info()` gives it).
    pub fn to_plain(&self) -> String {
        let mut out = String::new();
        self.write_plain(&mut out);
        out
    }

    fn write_plain(&self, out: &mut String) {
        match &self.value {
            Value::Scalar(s) => out.push_str(&crate::util::py_repr(s)),
            Value::Seq(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_plain(out);
                }
                out.push(']');
            }
            Value::Map(map) => {
                out.push('{');
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&crate::util::py_repr(k));
                    out.push_str(": ");
                    v.write_plain(out);
                }
                out.push('}');
            }
        }
    }
}

/// The strings of scalar `items`.
fn to_strings(items: &[Node]) -> Vec<String> {
    items
        .iter()
        .map(|n| n.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Python's `int(str)` for the forms YAML authors write: optional sign, digits, underscores
/// between digits, surrounding whitespace.
pub fn parse_python_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let v: i64 = digits.replace('_', "").parse().ok()?;
    Some(if neg { -v } else { v })
}

/// Checks a symbol name (options, project names, variables) like BuildStream's
/// `_assert_symbol_name`.
pub fn assert_symbol_name(
    name: &str,
    purpose: &str,
    node: Option<&Node>,
    allow_dashes: bool,
) -> Result<()> {
    let valid = !name.is_empty()
        && !name.as_bytes()[0].is_ascii_digit()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || (allow_dashes && c == '-'));
    if valid {
        return Ok(());
    }
    let mut detail = String::from(
        "Symbol names must contain only alphanumeric characters, may not start with a digit, and may contain underscores",
    );
    if allow_dashes {
        detail.push_str(" or dashes");
    }
    let mut message = format!("Invalid symbol name for {purpose}: '{name}'");
    if let Some(n) = node {
        message = format!("{}: {message}", n.prov);
    }
    Err(LoadError::new(LoadErrorReason::InvalidSymbolName, message).with_detail(detail))
}

#[cfg(test)]
mod tests {
    #[test]
    fn py_str_prints_like_python() {
        let node = crate::yaml::parse_str(
            "s: plain\nm: {a: [x, \"it's\", 'q\"'], b: {}}\n",
            crate::yaml::SYNTHETIC,
        )
        .unwrap();
        assert_eq!(node.get("s").unwrap().py_str(), "plain");
        // str() of {'a': ['x', "it's", 'q"'], 'b': {}} in Python.
        assert_eq!(
            node.get("m").unwrap().py_str(),
            r#"{'a': ['x', "it's", 'q"'], 'b': {}}"#
        );
    }
}
