//! Cache keys: canonical (ujson-compatible) JSON and sha256, byte-identical to BuildStream 2.8.
//!
//! | entry                    | value                                                          |
//! |--------------------------|----------------------------------------------------------------|
//! | `core-artifact-version`  | 11                                                             |
//! | `element-base-key`       | `{"build-root": %{build-root}}`                                |
//! | `element-plugin-key`     | the kind's unique key                                          |
//! | `element-plugin-name`    | the kind                                                       |
//! | `element-plugin-version` | the kind's artifact version (filter: 1)                        |
//! | `public`                 | expanded public data (always with `bst.split-rules`)           |
//! | `sources`                | `[{"key", "name", "directory"?}]`                              |
//! | `fatal-warnings`         | sorted project fatal warnings                                  |
//! | `sandbox`, `environment` | only for kinds that run commands; env minus nocache names      |
//! | `dependencies`           | build-scope closure: `[project, name(, key)]`                  |
//! | `weak-cache-key`         | strict keys only                                               |
//!
//! Never in a key: absolute paths of the host, mtimes, translated URLs, `max-jobs` when
//! projects keep it in `environment-nocache`.

pub mod json;

use crate::element::{Element, ElementSource, SandboxConfig};
use crate::loader::ElementId;
use crate::yaml::FxIndexMap as IndexMap;
use crate::yaml::{Node, Value};
use json::KeyValue;
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;

/// BuildStream's `BST_CORE_ARTIFACT_VERSION`.
pub const CORE_ARTIFACT_VERSION: i64 = 11;

/// The keys of one element; `None` when a source has no ref.
#[derive(Clone, Debug, Default)]
pub struct Keys {
    /// Weak key.
    pub weak: Option<String>,
    /// Strict key (= strong key in strict mode).
    pub strict: Option<String>,
}

/// A node's plain value for a key (`strip_node_info`).
pub fn node_to_key(node: &Node) -> KeyValue {
    match &node.value {
        Value::Scalar(s) => KeyValue::Str(s.to_string()),
        Value::Seq(items) => KeyValue::List(items.iter().map(node_to_key).collect()),
        Value::Map(map) => KeyValue::Dict(
            map.iter()
                .map(|(k, v)| (k.to_string(), node_to_key(v)))
                .collect(),
        ),
    }
}

/// A mapping whose values must all be scalars, as a key dictionary (errors like
/// BuildStream's `get_str` on a non-scalar value).
pub fn scalar_mapping_to_key(node: &Node) -> crate::yaml::Result<BTreeMap<String, KeyValue>> {
    let mut out = BTreeMap::new();
    for (k, v) in node.as_map().into_iter().flatten() {
        let Some(s) = v.as_str() else {
            return Err(crate::yaml::LoadError::new(
                crate::yaml::LoadErrorReason::InvalidData,
                format!(
                    "{}: Value of '{k}' is not of the expected type 'scalar'",
                    v.prov
                ),
            ));
        };
        out.insert(k.to_string(), KeyValue::Str(s.to_owned()));
    }
    Ok(out)
}

/// Everything of an element that enters its key besides its dependencies.
pub struct KeyInputs<'a> {
    /// Kind name.
    pub kind: &'a str,
    /// `%{build-root}`.
    pub build_root: Option<&'a str>,
    /// The kind's unique key.
    pub unique_key: &'a KeyValue,
    /// The kind's artifact version.
    pub artifact_version: i64,
    /// Expanded public data.
    pub public: &'a Node,
    /// Configured sources.
    pub sources: &'a [ElementSource],
    /// Project fatal warnings.
    pub fatal_warnings: &'a [String],
    /// Whether sandbox and environment enter the key.
    pub run_commands: bool,
    /// Sandbox configuration.
    pub sandbox: &'a SandboxConfig,
    /// Expanded environment.
    pub environment: &'a IndexMap<String, String>,
    /// Names kept out of the key.
    pub env_nocache: &'a [String],
}

/// The key dictionary without `dependencies` (which sorts second) and `weak-cache-key`
/// (which sorts last), serialised as `,"element-base-key":...,"sources":[...]`, so that a key
/// is `sha256(HEAD + deps + tail + ["weak-cache-key"] + "}")`.
pub fn key_tail(k: &KeyInputs) -> String {
    let mut m = BTreeMap::new();
    let mut base = BTreeMap::new();
    base.insert(
        "build-root".to_owned(),
        k.build_root
            .map(|s| KeyValue::Str(s.to_owned()))
            .unwrap_or(KeyValue::Null),
    );
    m.insert("element-base-key".to_owned(), KeyValue::Dict(base));
    m.insert("element-plugin-key".into(), k.unique_key.clone());
    m.insert(
        "element-plugin-name".into(),
        KeyValue::Str(k.kind.to_owned()),
    );
    m.insert(
        "element-plugin-version".into(),
        KeyValue::Int(k.artifact_version),
    );
    m.insert("public".into(), node_to_key(k.public));
    let sources = k
        .sources
        .iter()
        .map(|s| {
            let mut d = BTreeMap::new();
            d.insert(
                "key".to_owned(),
                s.unique_key.clone().unwrap_or(KeyValue::Null),
            );
            d.insert("name".to_owned(), KeyValue::Str(s.kind.clone()));
            if let Some(dir) = &s.directory {
                d.insert("directory".to_owned(), KeyValue::Str(dir.clone()));
            }
            KeyValue::Dict(d)
        })
        .collect();
    m.insert("sources".into(), KeyValue::List(sources));
    let mut fw = k.fatal_warnings.to_vec();
    fw.sort();
    m.insert(
        "fatal-warnings".into(),
        KeyValue::List(fw.into_iter().map(KeyValue::Str).collect()),
    );
    if k.run_commands {
        m.insert("sandbox".into(), k.sandbox.to_key());
        let env: BTreeMap<String, KeyValue> = k
            .environment
            .iter()
            .filter(|(name, _)| !k.env_nocache.contains(name))
            .map(|(name, v)| (name.clone(), KeyValue::Str(v.clone())))
            .collect();
        m.insert("environment".into(), KeyValue::Dict(env));
    }
    let mut out = String::new();
    json::to_json(&KeyValue::Dict(m), &mut out);
    // `{...}` -> `,...` (the dictionary is never empty)
    out.pop();
    out.replace_range(0..1, ",");
    out
}

const HEAD: &[u8] = b"{\"core-artifact-version\":11,\"dependencies\":[";

/// Feeds a key's JSON to sha256 piece by piece (sha2 buffers blocks itself).
struct KeyHasher {
    hasher: sha2::Sha256,
}

impl KeyHasher {
    fn new() -> Self {
        KeyHasher {
            hasher: sha2::Sha256::default(),
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        use sha2::Digest;
        self.hasher.update(bytes);
    }

    fn finish(self) -> String {
        use sha2::Digest;
        let digest = self.hasher.finalize();
        let mut out = String::with_capacity(64);
        for b in digest {
            use std::fmt::Write;
            let _ = write!(out, "{b:02x}");
        }
        out
    }
}

/// `["project","name"` for each element, escaped once.
fn name_prefix(e: &Element) -> String {
    let mut out = String::from("[");
    json::to_json(&KeyValue::Str(e.project_name.clone()), &mut out);
    out.push(',');
    json::to_json(&KeyValue::Str(e.name.clone()), &mut out);
    out
}

/// The serialised dependency entries of one element, once its keys are known.
#[derive(Default, Clone)]
struct Entries {
    plain: Vec<u8>,
    with_weak: Vec<u8>,
    with_strict: Vec<u8>,
}

/// The element's dependencies in BUILD scope, as `Element._dependencies(BUILD)`: each direct
/// build dependency preceded by its runtime closure (post-order, one visited set: `mark`,
/// cleared here).
fn closure_of(
    els: &[Option<&Element>],
    e: &Element,
    mark: &mut fixedbitset::FixedBitSet,
    closure: &mut Vec<ElementId>,
) {
    mark.clear();
    closure.clear();
    let mut stack: Vec<(ElementId, usize)> = Vec::new();
    for &root in &e.build_deps {
        if mark.put(root) {
            continue;
        }
        stack.push((root, 0));
        while let Some((cur, next)) = stack.last_mut() {
            let rdeps = &els[*cur].expect("dependency exists").runtime_deps;
            if *next < rdeps.len() {
                let d = rdeps[*next];
                *next += 1;
                if !mark.put(d) {
                    stack.push((d, 0));
                }
            } else {
                closure.push(*cur);
                stack.pop();
            }
        }
    }
}

/// A strong key: the element's key dictionary with its build-scope dependencies listed with
/// the given keys (`[project, name, key]`, in `_dependencies(BUILD)` order) and its weak key.
/// With the dependencies' strict keys this is the strict key; in non-strict mode BuildStream
/// computes an element's strong key this way from its dependencies' strong keys.
pub fn strong_key<'a>(
    e: &Element,
    deps: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    weak: &str,
) -> String {
    let mut h = KeyHasher::new();
    h.push(HEAD);
    let mut entry = String::new();
    for (i, (project, name, key)) in deps.into_iter().enumerate() {
        entry.clear();
        if i > 0 {
            entry.push(',');
        }
        entry.push('[');
        for (j, s) in [project, name, key].into_iter().enumerate() {
            if j > 0 {
                entry.push(',');
            }
            json::to_json(&KeyValue::Str(s.to_owned()), &mut entry);
        }
        entry.push(']');
        h.push(entry.as_bytes());
    }
    h.push(b"]");
    h.push(e.key_tail.as_bytes());
    h.push(b",\"weak-cache-key\":");
    let mut w = String::new();
    json::to_json(&KeyValue::Str(weak.to_owned()), &mut w);
    h.push(w.as_bytes());
    h.push(b"}");
    h.finish()
}

/// Computes weak and strict keys for every element, dependencies first.
///
/// A key lists the element's whole build-scope closure, so the work is the sum of closure
/// sizes (millions of entries on large projects). Each dependency entry is therefore
/// serialised once (`["project","name"]`, with its weak key, with its strict key) and
/// copied into the hasher. Elements are processed level by level (a level's dependencies
/// are all in earlier levels), each level in parallel.
pub fn compute_keys(
    elements: &HashMap<ElementId, Element>,
    order: &[ElementId],
) -> HashMap<ElementId, Keys> {
    use rayon::prelude::*;
    let n = elements.keys().copied().max().map_or(0, |m| m + 1);
    let mut els: Vec<Option<&Element>> = vec![None; n];
    for (&id, e) in elements {
        els[id] = Some(e);
    }
    // Levels: 0 for no dependencies, else 1 + the highest level of a direct dependency.
    let mut level: Vec<usize> = vec![0; n];
    let mut levels: Vec<Vec<ElementId>> = Vec::new();
    for &id in order {
        let e = els[id].expect("ordered element exists");
        let l = e
            .build_deps
            .iter()
            .chain(e.runtime_deps.iter())
            .map(|&d| level[d] + 1)
            .max()
            .unwrap_or(0);
        level[id] = l;
        if levels.len() <= l {
            levels.resize_with(l + 1, Vec::new);
        }
        levels[l].push(id);
    }
    let mut keys: Vec<Option<Keys>> = vec![None; n];
    let mut entries: Vec<Entries> = vec![Entries::default(); n];
    for ids in &levels {
        let results: Vec<(ElementId, Keys, Entries)> = ids
            .par_iter()
            .map_init(
                || (fixedbitset::FixedBitSet::with_capacity(n), Vec::new()),
                |(mark, closure), &id| {
                    let e = els[id].expect("ordered element exists");
                    let (k, en) = element_keys(&els, &keys, &entries, e, mark, closure);
                    (id, k, en)
                },
            )
            .collect();
        for (id, k, en) in results {
            keys[id] = Some(k);
            entries[id] = en;
        }
    }
    keys.into_iter()
        .enumerate()
        .filter_map(|(id, k)| k.map(|k| (id, k)))
        .collect()
}

fn element_keys(
    els: &[Option<&Element>],
    keys: &[Option<Keys>],
    entries: &[Entries],
    e: &Element,
    mark: &mut fixedbitset::FixedBitSet,
    closure: &mut Vec<ElementId>,
) -> (Keys, Entries) {
    if !e.sources_resolved() {
        return (Keys::default(), Entries::default());
    }
    closure_of(els, e, mark, closure);
    if closure
        .iter()
        .any(|&d| keys[d].as_ref().is_none_or(|k| k.strict.is_none()))
    {
        return (Keys::default(), Entries::default());
    }
    let mut weak_h = KeyHasher::new();
    weak_h.push(HEAD);
    for (i, &d) in closure.iter().enumerate() {
        if i > 0 {
            weak_h.push(b",");
        }
        let keyed =
            e.traits.strict_rebuild || (!e.strict_deps.is_empty() && e.strict_deps.contains(&d));
        weak_h.push(if keyed {
            &entries[d].with_weak
        } else {
            &entries[d].plain
        });
    }
    weak_h.push(b"]");
    weak_h.push(e.key_tail.as_bytes());
    weak_h.push(b"}");
    let weak = weak_h.finish();

    let mut strict_h = KeyHasher::new();
    strict_h.push(HEAD);
    for (i, &d) in closure.iter().enumerate() {
        if i > 0 {
            strict_h.push(b",");
        }
        strict_h.push(&entries[d].with_strict);
    }
    strict_h.push(b"]");
    strict_h.push(e.key_tail.as_bytes());
    strict_h.push(b",\"weak-cache-key\":\"");
    strict_h.push(weak.as_bytes());
    strict_h.push(b"\"}");
    let strict = strict_h.finish();

    let prefix = name_prefix(e);
    let prefix = prefix.as_bytes();
    let en = Entries {
        plain: [prefix, b"]"].concat(),
        with_weak: [prefix, b",\"", weak.as_bytes(), b"\"]"].concat(),
        with_strict: [prefix, b",\"", strict.as_bytes(), b"\"]"].concat(),
    };
    (
        Keys {
            weak: Some(weak),
            strict: Some(strict),
        },
        en,
    )
}
