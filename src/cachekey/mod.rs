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

use crate::element::Element;
use crate::loader::ElementId;
use crate::yaml::{Node, Value};
use json::KeyValue;
use std::collections::{BTreeMap, HashMap, HashSet};

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

/// The element's dependencies in BUILD scope: each direct build dependency preceded by its
/// runtime closure (post-order, shared visited set), as `Element._dependencies(BUILD)`.
pub fn build_scope(elements: &HashMap<ElementId, Element>, id: ElementId) -> Vec<ElementId> {
    fn visit_run(
        elements: &HashMap<ElementId, Element>,
        e: ElementId,
        visited: &mut HashSet<ElementId>,
        out: &mut Vec<ElementId>,
    ) {
        visited.insert(e);
        for &d in &elements[&e].runtime_deps {
            if !visited.contains(&d) {
                visit_run(elements, d, visited, out);
            }
        }
        out.push(e);
    }
    let mut visited = HashSet::new();
    let mut out = Vec::new();
    for &d in &elements[&id].build_deps {
        if !visited.contains(&d) {
            visit_run(elements, d, &mut visited, &mut out);
        }
    }
    out
}

fn base_dict(e: &Element) -> BTreeMap<String, KeyValue> {
    let mut m = BTreeMap::new();
    m.insert(
        "core-artifact-version".into(),
        KeyValue::Int(CORE_ARTIFACT_VERSION),
    );
    let build_root = e
        .variables
        .get("build-root")
        .ok()
        .flatten()
        .map(|s| KeyValue::Str(s.to_string()))
        .unwrap_or(KeyValue::Null);
    let mut base = BTreeMap::new();
    base.insert("build-root".to_owned(), build_root);
    m.insert("element-base-key".into(), KeyValue::Dict(base));
    m.insert("element-plugin-key".into(), e.unique_key.clone());
    m.insert("element-plugin-name".into(), KeyValue::Str(e.kind.clone()));
    m.insert(
        "element-plugin-version".into(),
        KeyValue::Int(e.traits.artifact_version),
    );
    m.insert("public".into(), node_to_key(&e.public));
    let sources = e
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
    let mut fw = e.fatal_warnings.clone();
    fw.sort();
    m.insert(
        "fatal-warnings".into(),
        KeyValue::List(fw.into_iter().map(KeyValue::Str).collect()),
    );
    if e.run_commands {
        m.insert("sandbox".into(), e.sandbox.to_key());
        let env: BTreeMap<String, KeyValue> = e
            .environment
            .iter()
            .filter(|(k, _)| !e.env_nocache.contains(k))
            .map(|(k, v)| (k.clone(), KeyValue::Str(v.clone())))
            .collect();
        m.insert("environment".into(), KeyValue::Dict(env));
    }
    m
}

/// Computes weak and strict keys for every element, dependencies first.
pub fn compute_keys(
    elements: &HashMap<ElementId, Element>,
    order: &[ElementId],
) -> HashMap<ElementId, Keys> {
    let mut keys: HashMap<ElementId, Keys> = HashMap::new();
    for &id in order {
        let e = &elements[&id];
        if !e.sources_resolved() {
            keys.insert(id, Keys::default());
            continue;
        }
        let deps = build_scope(elements, id);
        let base = base_dict(e);
        let mut weak_deps = Vec::new();
        let mut strict_deps = Vec::new();
        let mut missing = false;
        for d in &deps {
            let de = &elements[d];
            let dk = keys.get(d).cloned().unwrap_or_default();
            let name = [
                KeyValue::Str(de.project_name.clone()),
                KeyValue::Str(de.name.clone()),
            ];
            if e.traits.strict_rebuild || e.strict_deps.contains(d) {
                match &dk.weak {
                    Some(w) => {
                        let mut v = name.to_vec();
                        v.push(KeyValue::Str(w.clone()));
                        weak_deps.push(KeyValue::List(v));
                    }
                    None => missing = true,
                }
            } else {
                weak_deps.push(KeyValue::List(name.to_vec()));
            }
            match &dk.strict {
                Some(s) => {
                    let mut v = name.to_vec();
                    v.push(KeyValue::Str(s.clone()));
                    strict_deps.push(KeyValue::List(v));
                }
                None => missing = true,
            }
        }
        if missing {
            keys.insert(id, Keys::default());
            continue;
        }
        let mut weak_dict = base.clone();
        weak_dict.insert("dependencies".into(), KeyValue::List(weak_deps));
        let weak = json::generate_key(&KeyValue::Dict(weak_dict));
        let mut strict_dict = base;
        strict_dict.insert("dependencies".into(), KeyValue::List(strict_deps));
        strict_dict.insert("weak-cache-key".into(), KeyValue::Str(weak.clone()));
        let strict = json::generate_key(&KeyValue::Dict(strict_dict));
        keys.insert(
            id,
            Keys {
                weak: Some(weak),
                strict: Some(strict),
            },
        );
    }
    keys
}
