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

use crate::element::{Element, ElementSource, EnvValue, SandboxConfig};
use crate::loader::ElementId;
use crate::yaml::{Node, Value};
use json::KeyValue;
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

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
    /// Expanded public data, serialised ([`node_to_json`]).
    pub public_json: &'a str,
    /// The `sources` entry, serialised ([`sources_json`]).
    pub sources_json: &'a str,
    /// Project fatal warnings.
    pub fatal_warnings: &'a [String],
    /// Whether sandbox and environment enter the key.
    pub run_commands: bool,
    /// Sandbox configuration.
    pub sandbox: &'a SandboxConfig,
    /// Expanded environment.
    pub environment: &'a crate::element::Environment,
    /// Names kept out of the key.
    pub env_nocache: &'a [String],
}

/// A node's plain value serialised as canonical JSON (as `to_json(&node_to_key(node))`, but
/// without building the intermediate value).
pub fn node_to_json(node: &Node, out: &mut String) {
    match &node.value {
        Value::Scalar(s) => json::write_str(s, out),
        Value::Seq(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                node_to_json(item, out);
            }
            out.push(']');
        }
        Value::Map(map) => {
            let mut entries: Vec<(&str, &Node)> = map.iter().map(|(k, v)| (&**k, v)).collect();
            entries.sort_unstable_by_key(|(k, _)| *k);
            out.push('{');
            for (n, (k, v)) in entries.into_iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                json::write_str(k, out);
                out.push(':');
                node_to_json(v, out);
            }
            out.push('}');
        }
    }
}

/// The `sources` entry of the key dictionary, `[{"directory"?, "key", "name"}]` (sorted keys),
/// serialised, with where each source's unique key is in it; `keys` are the sources' unique
/// keys (None: no ref). BuildStream's element sources key (`ElementSources.get_cache_key()`)
/// is the sha256 of the whole ([`sha256_hex`]), a source's key (`Source._key`) the sha256 of
/// its unique key's part.
pub fn sources_json(
    sources: &[ElementSource],
    keys: &[Option<KeyValue>],
) -> (String, Vec<std::ops::Range<usize>>) {
    let mut out = String::from("[");
    let mut ranges = Vec::with_capacity(keys.len());
    for (n, (s, key)) in sources.iter().zip(keys).enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push('{');
        if let Some(dir) = &s.directory {
            out.push_str("\"directory\":");
            json::write_str(dir, &mut out);
            out.push(',');
        }
        out.push_str("\"key\":");
        let start = out.len();
        json::to_json(key.as_ref().unwrap_or(&KeyValue::Null), &mut out);
        ranges.push(start..out.len());
        out.push_str(",\"name\":");
        json::write_str(&s.kind, &mut out);
        out.push('}');
    }
    out.push(']');
    (out, ranges)
}

/// sha256 hex of bytes: `generate_key()` of a value whose JSON they are.
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::util::sha256_hex(bytes)
}

/// The key dictionary without `dependencies` (which sorts second) and `weak-cache-key`
/// (which sorts last), serialised as `,"element-base-key":...,"sources":[...]`, so that a key
/// is `sha256(HEAD + deps + tail + ["weak-cache-key"] + "}")`.
pub fn key_tail(k: &KeyInputs) -> String {
    // Written in one buffer, its entries in sorted order: `element-base-key`,
    // `element-plugin-key`, `element-plugin-name`, `element-plugin-version`, `environment`,
    // `fatal-warnings`, `public`, `sandbox`, `sources` (the two run-commands entries only
    // for kinds that run commands).
    let unique_len = match k.unique_key {
        KeyValue::Json(json) => json.len(),
        _ => 64,
    };
    let env_len: usize = if k.run_commands {
        k.environment
            .iter()
            .map(|(name, v)| {
                name.len()
                    + 6
                    + match v {
                        EnvValue::Str(s) => s.len(),
                        EnvValue::Structured(_) => 64,
                    }
            })
            .sum()
    } else {
        0
    };
    let mut out = String::with_capacity(
        512 + unique_len + env_len + k.public_json.len() + k.sources_json.len(),
    );
    out.push_str(",\"element-base-key\":{\"build-root\":");
    match k.build_root {
        Some(s) => json::write_str(s, &mut out),
        None => out.push_str("null"),
    }
    out.push_str("},\"element-plugin-key\":");
    json::to_json(k.unique_key, &mut out);
    out.push_str(",\"element-plugin-name\":");
    json::write_str(k.kind, &mut out);
    out.push_str(",\"element-plugin-version\":");
    json::to_json(&KeyValue::Int(k.artifact_version), &mut out);
    if k.run_commands {
        // A JSON object with sorted keys, as `json(&KeyValue::Dict(..))` writes it.
        let mut env: Vec<(&str, &EnvValue)> = k
            .environment
            .iter()
            .filter(|(name, _)| !k.env_nocache.contains(name))
            .map(|(name, v)| (name.as_str(), v))
            .collect();
        env.sort_unstable_by_key(|(name, _)| *name);
        out.push_str(",\"environment\":{");
        for (i, (name, v)) in env.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json::write_str(name, &mut out);
            out.push(':');
            match v {
                EnvValue::Str(s) => json::write_str(s, &mut out),
                EnvValue::Structured(n) => json::to_json(&node_to_key(n), &mut out),
            }
        }
        out.push('}');
    }
    out.push_str(",\"fatal-warnings\":[");
    let mut fw: Vec<&str> = k.fatal_warnings.iter().map(String::as_str).collect();
    fw.sort_unstable();
    for (i, w) in fw.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::write_str(w, &mut out);
    }
    out.push_str("],\"public\":");
    out.push_str(k.public_json);
    if k.run_commands {
        out.push_str(",\"sandbox\":");
        json::to_json(&k.sandbox.to_key(), &mut out);
    }
    out.push_str(",\"sources\":");
    out.push_str(k.sources_json);
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

    fn resume(hasher: sha2::Sha256) -> Self {
        KeyHasher { hasher }
    }

    fn push(&mut self, bytes: &[u8]) {
        use sha2::Digest;
        self.hasher.update(bytes);
    }

    fn finish(self) -> String {
        use sha2::Digest;
        crate::util::hex(&self.hasher.finalize())
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
/// cleared here). `ends[i]` is how many of them come from the first `i + 1` build
/// dependencies: that part of the list is the same for every element whose build
/// dependencies begin with the same `i + 1` elements.
fn closure_of(
    els: &[OnceLock<Element>],
    e: &Element,
    mark: &mut fixedbitset::FixedBitSet,
    closure: &mut Vec<ElementId>,
    ends: &mut Vec<usize>,
) {
    mark.clear();
    mark.grow(els.len());
    closure.clear();
    ends.clear();
    let mut stack: Vec<(ElementId, usize)> = Vec::new();
    for &root in &e.build_deps {
        if !mark.put(root) {
            stack.push((root, 0));
            while let Some((cur, next)) = stack.last_mut() {
                let rdeps = &els[*cur].get().expect("dependency is built").runtime_deps;
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
        ends.push(closure.len());
    }
}

/// Build-dependency lists that several elements begin alike, as a tree: node `(parent,
/// dependency)` stands for a parent's list followed by one more build dependency (the root's
/// parent is [`Prefixes::ROOT`]). Only lists that begin two or more elements' build
/// dependencies are kept (a list's prefixes are shared at least as widely as the list).
///
/// Each node holds the hashers' states after `HEAD` and the entries of its list's closure
/// (see [`closure_of`]), set by the first element to hash that far: every other element whose
/// build dependencies begin with that list continues from there.
struct Prefixes {
    /// `(parent node, build dependency)` to node.
    nodes: HashMap<(u32, u32), u32>,
    /// With each entry as `["project","name"]`.
    weak: Vec<OnceLock<sha2::Sha256>>,
    /// With each entry as `["project","name","strict key"]`.
    strict: Vec<OnceLock<sha2::Sha256>>,
}

impl Prefixes {
    const ROOT: u32 = u32::MAX;

    fn new<I: IntoIterator<Item = ElementId>>(
        elements: &[ElementId],
        build_deps: impl Fn(ElementId) -> I,
    ) -> Self {
        let mut all: HashMap<(u32, u32), (u32, u32)> = HashMap::default();
        for &id in elements {
            let mut parent = Self::ROOT;
            for d in build_deps(id) {
                let next = all.len() as u32;
                let (node, count) = all.entry((parent, d as u32)).or_insert((next, 0));
                *count += 1;
                parent = *node;
            }
        }
        // Renumber the shared nodes densely.
        let mut shared: Vec<((u32, u32), u32)> = all
            .iter()
            .filter(|(_, (_, count))| *count > 1)
            .map(|(&k, &(node, _))| (k, node))
            .collect();
        shared.sort_unstable_by_key(|(_, node)| *node);
        let dense: HashMap<u32, u32> = shared
            .iter()
            .enumerate()
            .map(|(i, (_, node))| (*node, i as u32))
            .collect();
        let nodes: HashMap<(u32, u32), u32> = shared
            .iter()
            .map(|&((parent, d), node)| {
                let parent = if parent == Self::ROOT {
                    Self::ROOT
                } else {
                    dense[&parent]
                };
                ((parent, d), dense[&node])
            })
            .collect();
        let n = nodes.len();
        Prefixes {
            nodes,
            weak: (0..n).map(|_| OnceLock::new()).collect(),
            strict: (0..n).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The shared nodes along `build_deps`, from the first: `path[i]` stands for
    /// `build_deps[..=i]`.
    fn path(&self, build_deps: &[ElementId], path: &mut Vec<u32>) {
        path.clear();
        let mut parent = Self::ROOT;
        for &d in build_deps {
            match self.nodes.get(&(parent, d as u32)) {
                Some(&node) => {
                    path.push(node);
                    parent = node;
                }
                None => break,
            }
        }
    }
}

/// Hashes `HEAD` and the entries of `closure`, `,`-separated, continuing from the deepest
/// state in `states` along `path` whose list `shareable` allows (`ends` as from
/// [`closure_of`]), and leaves the states this passes for the elements that come after.
#[allow(clippy::too_many_arguments)]
fn hash_closure<'a>(
    closure: &[ElementId],
    ends: &[usize],
    path: &[u32],
    states: &[OnceLock<sha2::Sha256>],
    shareable: impl Fn(usize) -> bool,
    mut entry: impl FnMut(ElementId) -> &'a [u8],
    bytes: &mut Vec<u8>,
) -> KeyHasher {
    let usable = |i: usize| shareable(ends[i]);
    let resumed = (0..path.len())
        .rev()
        .filter(|&i| usable(i))
        .find_map(|i| states[path[i] as usize].get().map(|s| (i, s.clone())));
    let (mut h, mut next, mut from) = match resumed {
        Some((i, state)) => (KeyHasher::resume(state), i + 1, ends[i]),
        None => {
            let mut h = KeyHasher::new();
            h.push(HEAD);
            (h, 0, 0)
        }
    };
    // Hash up to each shared list's end that has no state yet, and leave it there.
    while next < path.len() && usable(next) {
        let end = ends[next];
        bytes.clear();
        join_entries(&closure[..end], from, &mut entry, bytes);
        h.push(bytes);
        let _ = states[path[next] as usize].set(h.hasher.clone());
        from = end;
        next += 1;
    }
    bytes.clear();
    join_entries(closure, from, entry, bytes);
    h.push(bytes);
    h
}

/// Appends the entries `list[from..]` of a dependency list, `,`-separated.
fn join_entries<'a>(
    list: &[ElementId],
    from: usize,
    mut entry: impl FnMut(ElementId) -> &'a [u8],
    buf: &mut Vec<u8>,
) {
    for (i, &d) in list.iter().enumerate().skip(from) {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(entry(d));
    }
}

/// A strong key: the element's key dictionary with its build-scope dependencies listed with
/// the given keys (`[project, name, key]`, in `_dependencies(BUILD)` order) and its weak key.
/// With the dependencies' strict keys this is the strict key; in non-strict mode BuildStream
/// computes an element's strong key this way from its dependencies' strong keys.
/// `None` unless the element was loaded with its key tail ([`crate::element::Keep::key_tails`]).
pub fn strong_key<'a>(
    e: &Element,
    deps: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    weak: &str,
) -> Option<String> {
    Some(strong_key_from_tail(e.key_tail.as_deref()?, deps, weak))
}

/// [`strong_key`] from the element's key tail (see [`key_tail`]).
fn strong_key_from_tail<'a>(
    key_tail: &str,
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
    h.push(key_tail.as_bytes());
    h.push(b",\"weak-cache-key\":");
    let mut w = String::new();
    json::to_json(&KeyValue::Str(weak.to_owned()), &mut w);
    h.push(w.as_bytes());
    h.push(b"}");
    h.finish()
}

/// The weak and strict keys of an element without dependencies (a junction), from its key
/// tail (see [`key_tail`]).
pub fn keys_without_dependencies(key_tail: &str) -> (String, String) {
    let mut h = KeyHasher::new();
    h.push(HEAD);
    h.push(b"]");
    h.push(key_tail.as_bytes());
    h.push(b"}");
    let weak = h.finish();
    let strict = strong_key_from_tail(key_tail, [], &weak);
    (weak, strict)
}

/// Weak and strict keys, each computed as soon as its element is built and all its
/// dependencies have theirs, from any thread.
///
/// A key lists the element's whole build-scope closure, so the work is the sum of closure
/// sizes (millions of entries on large projects). Each dependency entry is therefore
/// serialised once (`["project","name"]`, with its weak key, with its strict key) and
/// copied into the hasher. An element's key tail (see [`key_tail`]) is kept only until its
/// keys are computed.
pub struct KeyState {
    /// The key tail of each built element whose keys are not computed yet.
    tails: Vec<Mutex<Option<String>>>,
    /// The elements that depend directly on each element `e`:
    /// `dependents[dependents_at[e]..dependents_at[e + 1]]`.
    dependents: Vec<ElementId>,
    dependents_at: Vec<usize>,
    /// For each element: its direct dependencies without keys yet, plus one until it is built.
    pending: Vec<AtomicUsize>,
    keys: Vec<OnceLock<Keys>>,
    entries: Vec<OnceLock<Entries>>,
    prefixes: Prefixes,
}

impl KeyState {
    /// Keys for the `elements` (ids below `n`) whose direct dependencies are `deps(id)`, each
    /// once; they must all be among `elements`. `build_deps(id)` are the build dependencies
    /// among them, in the order of [`Element::build_deps`].
    pub fn new<I: IntoIterator<Item = ElementId>, B: IntoIterator<Item = ElementId>>(
        n: usize,
        elements: &[ElementId],
        deps: impl Fn(ElementId) -> I,
        build_deps: impl Fn(ElementId) -> B,
    ) -> Self {
        let pending: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
        // Dependents in one array: count them, then place them.
        let mut dependents_at = vec![0; n + 1];
        for &id in elements {
            let mut count = 1;
            for d in deps(id) {
                dependents_at[d + 1] += 1;
                count += 1;
            }
            pending[id].store(count, Ordering::Relaxed);
        }
        for i in 0..n {
            dependents_at[i + 1] += dependents_at[i];
        }
        let mut fill = dependents_at.clone();
        let mut dependents = vec![0; dependents_at[n]];
        for &id in elements {
            for d in deps(id) {
                dependents[fill[d]] = id;
                fill[d] += 1;
            }
        }
        KeyState {
            tails: (0..n).map(|_| Mutex::new(None)).collect(),
            dependents,
            dependents_at,
            pending,
            keys: (0..n).map(|_| OnceLock::new()).collect(),
            entries: (0..n).map(|_| OnceLock::new()).collect(),
            prefixes: Prefixes::new(elements, build_deps),
        }
    }

    /// Records that element `id` is built (in `els`, by id) and computes every key this
    /// makes computable.
    pub fn built(&self, els: &[OnceLock<Element>], id: ElementId, key_tail: String) {
        *lock(&self.tails[id]) = Some(key_tail);
        let mut ready = Vec::new();
        if self.pending[id].fetch_sub(1, Ordering::AcqRel) == 1 {
            ready.push(id);
        }
        thread_local! {
            static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
        }
        while let Some(x) = ready.pop() {
            let tail = lock(&self.tails[x]).take().expect("a built element's tail");
            let e = els[x].get().expect("a built element");
            let (k, en) = SCRATCH.with(|s| self.element_keys(els, e, &tail, &mut s.borrow_mut()));
            let _ = self.entries[x].set(en);
            let _ = self.keys[x].set(k);
            for &d in &self.dependents[self.dependents_at[x]..self.dependents_at[x + 1]] {
                if self.pending[d].fetch_sub(1, Ordering::AcqRel) == 1 {
                    ready.push(d);
                }
            }
        }
    }

    /// The keys computed, by element.
    pub fn into_keys(self) -> HashMap<ElementId, Keys> {
        let KeyState { keys, entries, .. } = self;
        // The key entries are many small buffers: freed on a worker while this thread goes on.
        rayon::spawn(move || drop(entries));
        keys.into_iter()
            .enumerate()
            .filter_map(|(id, k)| k.into_inner().map(|k| (id, k)))
            .collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Buffers reused from one key to the next.
#[derive(Default)]
struct Scratch {
    mark: fixedbitset::FixedBitSet,
    closure: Vec<ElementId>,
    ends: Vec<usize>,
    path: Vec<u32>,
    bytes: Vec<u8>,
}

impl KeyState {
    fn element_keys(
        &self,
        els: &[OnceLock<Element>],
        e: &Element,
        key_tail: &str,
        scratch: &mut Scratch,
    ) -> (Keys, Entries) {
        if !e.sources_resolved() {
            return (Keys::default(), Entries::default());
        }
        let Scratch {
            mark,
            closure,
            ends,
            path,
            bytes,
        } = scratch;
        closure_of(els, e, mark, closure, ends);
        if closure
            .iter()
            .any(|&d| self.keys[d].get().is_none_or(|k| k.strict.is_none()))
        {
            return (Keys::default(), Entries::default());
        }
        let entry = |d: ElementId| self.entries[d].get().expect("a keyed dependency");
        self.prefixes.path(&e.build_deps, path);
        // A dependency is listed with its weak key in the weak key when the element
        // rebuilds strictly or the dependency is one of its strict ones: the shared weak
        // states (plain entries) serve only up to the first such dependency.
        let keyed = |d: ElementId| {
            e.traits.strict_rebuild || (!e.strict_deps.is_empty() && e.strict_deps.contains(&d))
        };
        let plain_until = closure
            .iter()
            .position(|&d| keyed(d))
            .unwrap_or(closure.len());

        let mut weak_h = hash_closure(
            closure,
            ends,
            path,
            &self.prefixes.weak,
            |end| end <= plain_until,
            |d| {
                if keyed(d) {
                    &entry(d).with_weak
                } else {
                    &entry(d).plain
                }
            },
            bytes,
        );
        bytes.clear();
        bytes.push(b']');
        bytes.extend_from_slice(key_tail.as_bytes());
        bytes.push(b'}');
        weak_h.push(bytes);
        let weak = weak_h.finish();

        let mut strict_h = hash_closure(
            closure,
            ends,
            path,
            &self.prefixes.strict,
            |_| true,
            |d| &entry(d).with_strict,
            bytes,
        );
        bytes.clear();
        bytes.push(b']');
        bytes.extend_from_slice(key_tail.as_bytes());
        bytes.extend_from_slice(b",\"weak-cache-key\":\"");
        bytes.extend_from_slice(weak.as_bytes());
        bytes.extend_from_slice(b"\"}");
        strict_h.push(bytes);
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
}
