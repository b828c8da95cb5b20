//! The YAML layer: BuildStream's restricted YAML as a [`Node`] tree with provenance.
//!
//! BuildStream does not use YAML's typing: every scalar is a (stripped) string, anchors,
//! aliases, non-core tags, duplicate keys and multiple documents are rejected, and an empty
//! (comment-only) file is an empty mapping. Every node remembers where it came from
//! ([`Provenance`]) so that every later error can name the file, line and column.
//!
//! **Architecture invariant:** this module knows nothing of projects, elements or options.
//! Composition (`compose`) implements BuildStream's merge rules including the list
//! directives `(>)`, `(<)` and `(=)`.

mod compose;
mod error;
mod fast;
mod map;
mod node;
mod parse;

pub use error::{LoadError, LoadErrorReason};
pub use node::{
    assert_symbol_name, parse_python_int, register_file, FileId, FileInfo, FxIndexMap, Map, Node,
    Provenance, Value, SYNTHETIC,
};
pub use parse::{load_file, parse_str, parse_str_reference};

/// The fast path of [`parse_str`] alone: `None` where it defers to saphyr (for differential
/// tests of the fast path).
pub fn parse_str_fast(text: &str, file: FileId) -> Option<Node> {
    fast::parse(text, file)
}

/// The result type of the loading layers.
pub type Result<T> = std::result::Result<T, LoadError>;
