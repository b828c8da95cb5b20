//! Element states from the local artifact cache, as BuildStream's `Stream.query_cache()`
//! and the element state machine (`Element._load_artifact()`, `_set_required()`,
//! `__update_cache_key_non_strict()`, `_update_ready_for_runtime_and_cached()`) derive them.
//!
//! The query needs no casd: refs are read from disk and blobs looked up in casd's object
//! store ([`ArtifactCache::lookup`]), in parallel (rayon). It is blocking I/O: async callers
//! run it on tokio's blocking pool.
//!
//! Strict mode: an element's artifact is the one under its strict key. Non-strict mode: when
//! that is not cached, the artifact under the weak key is used (a failed one only by `show`:
//! a build retries it unless its strong key is the strict key and `--retry-failed` is off),
//! and the element's strong key is the artifact's; elements that must be built get a strong
//! key computed from their build dependencies' strong keys.

use crate::artifact::{ArtifactCache, ArtifactError};
use crate::cas::proto::bst::Artifact;
use crate::graph::{Pipeline, Scope};
use crate::loader::ElementId;
use rayon::prelude::*;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// How the cache is queried.
#[derive(Clone, Copy, Debug)]
pub struct Mode {
    /// Strict mode (BuildStream's default).
    pub strict: bool,
    /// A build (failed artifacts may be discarded), not `show`.
    pub build: bool,
    /// `--retry-failed`: failed artifacts are discarded.
    pub retry_failed: bool,
}

/// What the cache says about the elements of a pipeline.
#[derive(Default)]
pub struct States {
    /// The cached artifact each element uses (successful or failed).
    pub cached: HashMap<ElementId, Artifact>,
    /// Elements the session needs (BuildStream's "required").
    pub required: HashSet<ElementId>,
    /// Strong keys: the strict key in strict mode; in non-strict mode the cached artifact's
    /// strong key, or for required uncached elements one computed from the dependencies'.
    pub strong: HashMap<ElementId, String>,
}

impl States {
    /// Cached, and the build succeeded.
    pub fn cached_success(&self, id: ElementId) -> bool {
        self.cached.get(&id).is_some_and(|a| a.build_success)
    }

    /// Cached, and the build failed.
    pub fn cached_failure(&self, id: ElementId) -> bool {
        self.cached.get(&id).is_some_and(|a| !a.build_success)
    }

    /// The element's strong key, if known.
    pub fn key(&self, id: ElementId) -> Option<&str> {
        self.strong.get(&id).map(String::as_str)
    }
}

/// The artifact an element uses, as `Element._load_artifact(pull=False)` picks it
/// (blocking file I/O).
pub fn lookup(
    p: &Pipeline,
    cache: &ArtifactCache,
    id: ElementId,
    mode: Mode,
) -> Result<Option<Artifact>, ArtifactError> {
    let el = &p.elements[&id];
    let Some(keys) = p.keys.get(&id) else {
        return Ok(None);
    };
    let (Some(strict), Some(weak)) = (&keys.strict, &keys.weak) else {
        return Ok(None);
    };
    let discard_failed = mode.build && mode.retry_failed;
    if let Some(a) = cache.lookup(&el.project_name, &el.name, strict)? {
        return Ok((!discard_failed || a.build_success).then_some(a));
    }
    if mode.strict {
        return Ok(None);
    }
    match cache.lookup(&el.project_name, &el.name, weak)? {
        Some(a)
            if mode.build && !a.build_success && (discard_failed || a.strong_key != *strict) =>
        {
            Ok(None)
        }
        other => Ok(other),
    }
}

/// Whether a required element is scheduled for assembly: its cache state is known (it has
/// keys) and it is not cached successfully.
fn scheduled(p: &Pipeline, states: &States, id: ElementId) -> bool {
    !states.cached_success(id) && p.keys.get(&id).is_some_and(|k| k.weak.is_some())
}

/// Queries the cache for `plan` (dependencies before dependents, e.g. `Scope::All` order)
/// and derives required elements and strong keys. `roots` are the elements the command
/// requires, each with the scope of its dependencies that are required with it
/// (`Scope::Run`, or `Scope::None` for `show --deps none`).
pub fn query(
    p: &Pipeline,
    cache: &ArtifactCache,
    plan: &[ElementId],
    roots: &[(ElementId, Scope)],
    mode: Mode,
) -> Result<States, ArtifactError> {
    let found: Vec<Result<Option<Artifact>, ArtifactError>> = plan
        .par_iter()
        .map(|&id| lookup(p, cache, id, mode))
        .collect();
    let mut states = States::default();
    for (&id, r) in plan.iter().zip(found) {
        if let Some(a) = r? {
            states.cached.insert(id, a);
        }
    }

    // `_set_required()`: roots with their runtime closures; elements that are scheduled for
    // assembly (not cached successfully, cache state known) require their build dependencies.
    // Only direct dependencies are followed: a required element's runtime dependencies are
    // required, and so are a scheduled element's build dependencies (with theirs).
    let mut work: Vec<ElementId> = Vec::new();
    for &(id, scope) in roots {
        if scope == Scope::None {
            // Only the element itself (and, if scheduled, its build dependencies).
            if states.required.insert(id) && scheduled(p, &states, id) {
                work.extend(p.elements[&id].build_deps.iter().copied());
            }
        } else {
            work.push(id);
        }
    }
    while let Some(e) = work.pop() {
        if !states.required.insert(e) {
            continue;
        }
        let el = &p.elements[&e];
        work.extend(el.runtime_deps.iter().copied());
        if scheduled(p, &states, e) {
            work.extend(el.build_deps.iter().copied());
        }
    }

    for &id in plan {
        let Some(strict) = p.keys.get(&id).and_then(|k| k.strict.clone()) else {
            continue;
        };
        if mode.strict {
            states.strong.insert(id, strict);
        } else if let Some(a) = states.cached.get(&id) {
            states.strong.insert(id, a.strong_key.clone());
        } else if states.required.contains(&id) {
            let weak = p.keys[&id].weak.clone().unwrap_or_default();
            let deps = p.dependencies(&[id], Scope::Build);
            let keys: Option<Vec<(&str, &str, &str)>> = deps
                .iter()
                .map(|d| {
                    let de = &p.elements[d];
                    states
                        .key(*d)
                        .map(|k| (de.project_name.as_str(), de.name.as_str(), k))
                })
                .collect();
            if let Some(key) =
                keys.and_then(|keys| crate::cachekey::strong_key(&p.elements[&id], keys, &weak))
            {
                states.strong.insert(id, key);
            }
        }
    }
    Ok(states)
}

/// BuildStream's `%{state}` for each element of `plan` (dependencies first) after
/// [`query`]: `no reference`, `junction`, `failed`, `cached`, `fetch needed`, `buildable`
/// or `waiting`. `sources_cached` says whether an element's sources are all present locally.
pub fn show_states(
    p: &Pipeline,
    states: &States,
    plan: &[ElementId],
    sources_cached: impl Fn(ElementId) -> bool + Sync,
) -> HashMap<ElementId, &'static str> {
    // `_update_ready_for_runtime_and_cached()`: cached, a strong key, and every runtime
    // dependency ready too.
    let mut ready: HashSet<ElementId> = HashSet::default();
    for &id in plan {
        if states.cached_success(id)
            && states.key(id).is_some()
            && p.direct_deps(id, Scope::Run)
                .iter()
                .all(|d| ready.contains(d))
        {
            ready.insert(id);
        }
    }
    // Only elements that are not cached need their sources checked (stat calls).
    let need_sources: Vec<ElementId> = plan
        .iter()
        .copied()
        .filter(|&id| {
            let e = &p.elements[&id];
            e.sources_resolved()
                && e.kind != "junction"
                && p.keys.get(&id).is_some_and(|k| k.weak.is_some())
                && !states.cached.contains_key(&id)
        })
        .collect();
    let fetch_needed: HashSet<ElementId> = need_sources
        .par_iter()
        .copied()
        .filter(|&id| !sources_cached(id))
        .collect();
    let mut out = HashMap::default();
    for &id in plan {
        let e = &p.elements[&id];
        let state = if !e.sources_resolved() {
            "no reference"
        } else if e.kind == "junction" {
            "junction"
        } else if p.keys.get(&id).is_none_or(|k| k.weak.is_none()) {
            "waiting"
        } else if states.cached_failure(id) {
            "failed"
        } else if states.cached_success(id) {
            "cached"
        } else if fetch_needed.contains(&id) {
            "fetch needed"
        } else if states.required.contains(&id)
            && p.direct_deps(id, Scope::Build)
                .iter()
                .all(|d| ready.contains(d))
        {
            "buildable"
        } else {
            "waiting"
        };
        out.insert(id, state);
    }
    out
}
