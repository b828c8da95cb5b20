//! Elements: a loaded element composed with its kind's defaults and its project's
//! configuration, variable-expanded, configured by its kind, with its sources configured.
//!
//! Composition follows BuildStream (`element.py: __init_defaults, __extract_*`):
//! kind defaults = `<kind>.yaml` (from the kind's plugin origin) with the project's
//! `elements: <kind>:` on top, and `public.bst.split-rules` = project split rules with the
//! kind's rules on top; then per element, in this order: variables (project <- kind <-
//! element), environment, public, config (then the kind's `configure`), sandbox.
//! Elements are instantiated depth first from the targets, like BuildStream, so that the
//! first error reported is the same.

pub mod community;
pub mod kinds;
mod shared;
mod sources;

use crate::cachekey::json::KeyValue;
use crate::loader::{ElementId, LoadContext, DEP_BUILD, DEP_RUNTIME};
use crate::project::options::canonicalize_arch;
use crate::project::variables::Variables;
use crate::project::{PluginOrigin, ProjectId};
use crate::source::{self, SourceInput};
use crate::yaml::FxIndexMap as IndexMap;
use crate::yaml::{
    parse_str, register_file, LoadError, LoadErrorReason, Node, Provenance, Result, Value,
};
use kinds::{ConfigureInput, DepConfiguration, ElementKind, KindTraits};
use rustc_hash::FxHashMap as HashMap;
use shared::SharedExpansion;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// The sandbox configuration that enters cache keys.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// `build-os`, lower-case.
    pub build_os: String,
    /// `build-arch`, canonical.
    pub build_arch: String,
    /// `build-uid`.
    pub build_uid: Option<i64>,
    /// `build-gid`.
    pub build_gid: Option<i64>,
    /// `remote-apis-socket: path`.
    pub remote_apis_socket: Option<String>,
    /// `remote-apis-socket: action-cache-enable-update`.
    pub action_cache_enable_update: bool,
}

impl SandboxConfig {
    /// The dictionary BuildStream puts in cache keys.
    pub fn to_key(&self) -> KeyValue {
        let mut m = std::collections::BTreeMap::new();
        m.insert("build-os".to_owned(), KeyValue::Str(self.build_os.clone()));
        m.insert(
            "build-arch".to_owned(),
            KeyValue::Str(self.build_arch.clone()),
        );
        if let Some(u) = self.build_uid {
            m.insert("build-uid".to_owned(), KeyValue::Int(u));
        }
        if let Some(g) = self.build_gid {
            m.insert("build-gid".to_owned(), KeyValue::Int(g));
        }
        if let Some(p) = &self.remote_apis_socket {
            let mut s = std::collections::BTreeMap::new();
            s.insert("path".to_owned(), KeyValue::Str(p.clone()));
            if self.action_cache_enable_update {
                s.insert(
                    "action-cache-enable-update".to_owned(),
                    KeyValue::Bool(true),
                );
            }
            m.insert("remote-apis-socket".to_owned(), KeyValue::Dict(s));
        }
        KeyValue::Dict(m)
    }
}

/// One configured source of an element.
#[derive(Clone, Debug)]
pub struct ElementSource {
    /// Source kind.
    pub kind: String,
    /// `directory:`.
    pub directory: Option<String>,
    /// Has a ref (a unique key).
    pub resolved: bool,
    /// For `local` sources: the absolute path to stage.
    pub local_path: Option<PathBuf>,
    /// `Source._key` (the sha256 of its unique key), which names its tree in the source
    /// cache (`source_protos/<kind>/<key>`); None without a ref or unless kept
    /// ([`Keep::source_cache_keys`]).
    pub key: Option<String>,
    /// `<kind> source at <provenance>`, as BuildStream names the source in messages.
    pub display: String,
    /// What fetches and stages it.
    pub fetcher: crate::source::fetch::SourceFetcher,
    /// `collect_source_info()`, when asked for ([`Keep::source_info`]). Its errors only
    /// surface when the information is shown, as in BuildStream.
    pub info: Option<SourceInfoResult>,
}

/// What collecting a source's information gave, with the source's name for messages.
#[derive(Clone, Debug)]
pub struct SourceInfoResult {
    /// `str(source)`: `<kind> source at <provenance>`.
    pub display: String,
    /// The information, or why BuildStream fails to give it.
    pub collected: Result<source::info::Collected>,
    /// The warnings BuildStream raises while collecting it, each `[token]: message`.
    pub warnings: Vec<String>,
}

/// What to keep of an element's composition besides its key, for `show --format` tokens.
#[derive(Clone, Copy, Debug, Default)]
pub struct Keep {
    /// Variables, environment, public data and configuration ([`ElementDetails`]).
    pub details: bool,
    /// Each source's `collect_source_info()` ([`ElementSource::info`]).
    pub source_info: bool,
    /// The key tail ([`Element::key_tail`]), which non-strict strong keys need.
    pub key_tails: bool,
    /// The source cache's keys ([`ElementSource::key`], [`Element::sources_key`]), which
    /// fetching, building and sources' states need.
    pub source_cache_keys: bool,
}

/// What an element was composed from; kept only when asked for (`show --format` tokens
/// such as `%{vars}`), since it dominates memory on large projects.
pub struct ElementDetails {
    /// Resolved variables, in definition order.
    pub variables: Vec<(std::sync::Arc<str>, std::sync::Arc<str>)>,
    /// Expanded environment, in composition order.
    pub environment: Environment,
    /// `environment-nocache` names.
    pub env_nocache: Vec<String>,
    /// Public data, expanded.
    pub public: Node,
    /// Configuration, expanded.
    pub config: Node,
    /// Sandbox configuration.
    pub sandbox: SandboxConfig,
    /// `config:` of each build dependency that has one (element, expanded node).
    pub dep_configs: Vec<(ElementId, Node)>,
}

/// A fully configured element.
pub struct Element {
    /// The load element it comes from.
    pub id: ElementId,
    /// Kind name.
    pub kind: String,
    /// Owning project's name.
    pub project_name: String,
    /// Project-local name.
    pub name: String,
    /// Full name (with junction prefixes).
    pub full_name: String,
    /// `description:`.
    pub description: String,
    /// Sources.
    pub sources: Vec<ElementSource>,
    /// `ElementSources.get_cache_key()`, which names the staged sources in the source cache
    /// (`elementsources/<key>`); None when a source has no ref or unless kept
    /// ([`Keep::source_cache_keys`]).
    pub sources_key: Option<String>,
    /// Kind class attributes.
    pub traits: KindTraits,
    /// Direct build dependencies, in sorted order.
    pub build_deps: Vec<ElementId>,
    /// Direct runtime dependencies, in sorted order.
    pub runtime_deps: Vec<ElementId>,
    /// Direct dependencies declared `strict: true`.
    pub strict_deps: Vec<ElementId>,
    /// Composition results, if kept.
    pub details: Option<Box<ElementDetails>>,
    /// The key dictionary without `dependencies` and `weak-cache-key`, serialised (see
    /// [`crate::cachekey::key_tail`]), if kept ([`Keep::key_tails`]).
    pub key_tail: Option<String>,
    /// What loading it reported besides errors.
    pub warnings: LoadWarnings,
}

/// What loading an element reported besides errors, for the CLI to print.
#[derive(Debug, Default)]
pub struct LoadWarnings {
    /// Non-fatal plugin warnings, each `[token]: message`, in order.
    pub plugin: Vec<String>,
    /// Refs written in the element that its project's `project.refs` replaces, each
    /// `<source provenance>:<ref>`.
    pub redundant_refs: Vec<String>,
}

impl LoadWarnings {
    /// Nothing reported?
    pub fn is_empty(&self) -> bool {
        self.plugin.is_empty() && self.redundant_refs.is_empty()
    }
}

impl Element {
    /// All sources resolved (have refs)?
    pub fn sources_resolved(&self) -> bool {
        self.sources.iter().all(|s| s.resolved)
    }
}

struct KindDefaults {
    node: Node,
    imp: &'static dyn ElementKind,
    /// The project's base variables, which the kind's compose over for `var_template`.
    var_base: Node,
    /// Project variables composed with the kind's, pre-resolved, for elements that define
    /// no variables of their own (None when composing them fails: the slow path reports it).
    /// Computed by the builders (in parallel), not while preparing.
    var_template: OnceLock<Option<(Node, crate::project::variables::FrozenVariables)>>,
    /// The environment of elements that declare none (None when composing it fails).
    environment: Option<SharedExpansion<Environment>>,
    /// The public data (with its JSON) of elements that declare none.
    public: Option<SharedExpansion<(Node, String)>>,
}

impl KindDefaults {
    /// The project's variables composed with the kind's and resolved (once).
    fn var_template(&self) -> Option<&(Node, crate::project::variables::FrozenVariables)> {
        self.var_template
            .get_or_init(|| {
                let mut node = self.var_base.clone();
                if let Some(v) = self.node.get_mapping("variables").ok()? {
                    v.composite(&mut node).ok()?;
                }
                node.assert_fully_composited().ok()?;
                crate::project::variables::check_protected(&node).ok()?;
                let mut template_node = node.clone();
                let vars = Variables::template(&mut template_node).ok()?;
                Some((node, vars))
            })
            .as_ref()
    }
}

/// The elements to build, in instantiation order, and the errors met preparing them.
pub struct Plan {
    targets: Vec<ElementId>,
    order: Vec<ElementId>,
    errors: HashMap<ElementId, LoadError>,
}

/// When BuildStream meets an element's error while it instantiates the element and its
/// dependencies, depth first (`Element._new_from_load_element`).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Stage {
    /// Creating it: its kind, variables, configuration and sources, before its dependencies.
    Created,
    /// Just after its dependency at this index (and everything under it): that
    /// dependency's `config`.
    AfterDependency(usize),
    /// After all its dependencies: its preflight checks.
    Preflight,
}

/// An element that could not be built, and when BuildStream would have noticed.
struct Failure {
    stage: Stage,
    error: LoadError,
}

impl From<LoadError> for Failure {
    fn from(error: LoadError) -> Failure {
        Failure {
            stage: Stage::Created,
            error,
        }
    }
}

/// The error BuildStream reports first: instantiation visits `targets` and, depth first,
/// their dependencies, meeting each element's [`Stage`]s in order.
fn first_failure(
    ctx: &LoadContext,
    targets: &[ElementId],
    mut failures: HashMap<ElementId, Failure>,
) -> Option<LoadError> {
    if failures.is_empty() {
        return None;
    }
    let mut take = |id: ElementId, stage: Stage| match failures.get(&id) {
        Some(f) if f.stage == stage => failures.remove(&id).map(|f| f.error),
        _ => None,
    };
    let mut visited = fixedbitset::FixedBitSet::with_capacity(ctx.elements.len());
    // (element, next dependency, dependency whose subtree is being visited)
    let mut stack: Vec<(ElementId, usize, Option<usize>)> = Vec::new();
    for &target in targets {
        if visited.put(target) {
            continue;
        }
        if let Some(e) = take(target, Stage::Created) {
            return Some(e);
        }
        stack.push((target, 0, None));
        while let Some((id, next, below)) = stack.last_mut() {
            let id = *id;
            if let Some(k) = below.take() {
                if let Some(e) = take(id, Stage::AfterDependency(k)) {
                    return Some(e);
                }
            }
            let deps = &ctx.elements[id].deps;
            if *next == deps.len() {
                if let Some(e) = take(id, Stage::Preflight) {
                    return Some(e);
                }
                stack.pop();
                continue;
            }
            let k = *next;
            *next += 1;
            let dep = deps[k].element;
            if visited.put(dep) {
                if let Some(e) = take(id, Stage::AfterDependency(k)) {
                    return Some(e);
                }
                continue;
            }
            *below = Some(k);
            if let Some(e) = take(dep, Stage::Created) {
                return Some(e);
            }
            stack.push((dep, 0, None));
        }
    }
    // Not reached from the targets (cannot happen): any of them.
    failures.into_values().next().map(|f| f.error)
}

impl Plan {
    /// The elements, in BuildStream's instantiation order.
    pub fn order(&self) -> &[ElementId] {
        &self.order
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Instantiates elements from loaded ones.
pub struct Instantiator<'a> {
    ctx: &'a mut LoadContext,
    keep: Keep,
    defaults: HashMap<(ProjectId, String), std::sync::Arc<KindDefaults>>,
    /// Kinds whose `<kind>.yaml` is read but whose defaults are not composed yet.
    pending: HashMap<(ProjectId, String), PendingKind>,
    /// Instantiated elements by load element id.
    pub elements: ElementMap,
}

/// A kind's `<kind>.yaml` (text, if any) and implementation, read sequentially (reading it
/// may load junctions) and composed with its project's configuration later, side by side
/// with other kinds' ([`Instantiator::compose_pending`]).
struct PendingKind {
    first_pass: bool,
    text: Option<String>,
    imp: &'static dyn ElementKind,
}

/// Instantiated elements by load element id: a dense table, since ids are indices into the
/// load context's arena (a hash map of these large values cost a measurable share of
/// loading a big project in rehashing moves).
#[derive(Default)]
pub struct ElementMap(Vec<Option<Element>>);

impl ElementMap {
    /// The element instantiated for `id`, if any.
    pub fn get(&self, id: &ElementId) -> Option<&Element> {
        self.0.get(*id).and_then(Option::as_ref)
    }

    /// Whether `id` has been instantiated.
    pub fn contains_key(&self, id: &ElementId) -> bool {
        self.get(id).is_some()
    }

    /// Every instantiated element, by id.
    pub fn values(&self) -> impl Iterator<Item = &Element> {
        self.0.iter().flatten()
    }
}

impl std::ops::Index<&ElementId> for ElementMap {
    type Output = Element;

    fn index(&self, id: &ElementId) -> &Element {
        self.get(id)
            .unwrap_or_else(|| panic!("element {id} was never instantiated"))
    }
}

fn plugin_error(msg: String) -> LoadError {
    LoadError::new(LoadErrorReason::UnsupportedPlugin, msg)
}

fn empty() -> Node {
    Node::empty_map(Provenance::synthetic())
}

fn host_os() -> String {
    std::env::consts::OS.to_lowercase()
}

impl<'a> Instantiator<'a> {
    /// A new instantiator over a load context.
    pub fn new(ctx: &'a mut LoadContext, keep: Keep) -> Self {
        Instantiator {
            ctx,
            keep,
            defaults: HashMap::default(),
            pending: HashMap::default(),
            elements: ElementMap::default(),
        }
    }

    /// Finds the YAML defaults text of `kind` as seen from project `pid`.
    fn kind_yaml(
        &mut self,
        pid: ProjectId,
        kind: &str,
        prov: Provenance,
    ) -> Result<(Option<String>, String)> {
        let origin = self.ctx.projects[pid].element_origins.get(kind).cloned();
        match origin {
            Some(PluginOrigin::Local(dir)) => {
                let path = dir.join(format!("{kind}.yaml"));
                let text = std::fs::read_to_string(&path).ok();
                Ok((text, format!("local plugin in {}", dir.display())))
            }
            Some(PluginOrigin::Pip(pkg)) => match kinds::pip_defaults(&pkg, kind) {
                Some(t) => Ok((Some(t.to_owned()), format!("pip package '{pkg}'"))),
                None => Err(plugin_error(format!(
                    "{prov}: No package {pkg} found for plugin {kind}"
                ))),
            },
            Some(PluginOrigin::Junction(jname, node)) => {
                let sub = self.ctx.get_loader(pid, &jname, Some(node.prov))?;
                if !self.ctx.projects[sub].element_origins.contains_key(kind) {
                    return Err(plugin_error(format!(
                        "{}: project '{}' referred to by junction '{jname}' does not declare a element plugin named: '{kind}'",
                        node.prov, self.ctx.projects[sub].name
                    )));
                }
                self.kind_yaml(sub, kind, node.prov)
            }
            None => match kinds::core_defaults(kind) {
                Some(t) => Ok((Some(t.to_owned()), "core plugin".to_owned())),
                None => Err(plugin_error(format!(
                    "{prov}: No element plugin registered for kind '{kind}'"
                ))),
            },
        }
    }

    /// Reads `kind`'s defaults for project `pid` (see [`PendingKind`]), unless done already.
    fn queue_kind(
        &mut self,
        pid: ProjectId,
        kind: &str,
        first_pass: bool,
        prov: Provenance,
    ) -> Result<()> {
        let key = (pid, kind.to_owned());
        if self.defaults.contains_key(&key) || self.pending.contains_key(&key) {
            return Ok(());
        }
        let (text, origin) = self.kind_yaml(pid, kind, prov)?;
        let Some(imp) = kinds::lookup(kind) else {
            return Err(plugin_error(format!(
                "{prov}: Element kind '{kind}' ({origin}) is not implemented by bst-rs"
            )));
        };
        self.pending.insert(
            key,
            PendingKind {
                first_pass,
                text,
                imp,
            },
        );
        Ok(())
    }

    /// Composes the defaults of every kind queued, in parallel; the kinds that fail are
    /// returned with their errors.
    fn compose_pending(&mut self) -> Vec<((ProjectId, String), LoadError)> {
        use rayon::prelude::*;
        let ctx: &LoadContext = self.ctx;
        let pending: Vec<((ProjectId, String), PendingKind)> = self.pending.drain().collect();
        let composed: Vec<_> = pending
            .into_par_iter()
            .map(|((pid, kind), p)| {
                let d = compose_defaults(ctx, pid, &kind, p);
                ((pid, kind), d)
            })
            .collect();
        let mut failed = Vec::new();
        for (key, d) in composed {
            match d {
                Ok(d) => {
                    self.defaults.insert(key, std::sync::Arc::new(d));
                }
                Err(e) => failed.push((key, e)),
            }
        }
        failed
    }

    /// The load context.
    pub fn context(&self) -> &LoadContext {
        self.ctx
    }

    /// First step of instantiating `targets` and everything they depend on: reads each
    /// kind's defaults sequentially, in BuildStream's instantiation order (depth first from
    /// the targets), since that may load junctions and decides which error comes first,
    /// then composes them with their projects' configuration in parallel.
    pub fn prepare_all(&mut self, targets: &[ElementId]) -> Plan {
        let mut order: Vec<ElementId> = Vec::new();
        let mut seen: rustc_hash::FxHashSet<ElementId> = Default::default();
        let mut errors: HashMap<ElementId, LoadError> = HashMap::default();
        let mut stack: Vec<ElementId> = targets.iter().rev().copied().collect();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) || self.elements.contains_key(&id) {
                continue;
            }
            order.push(id);
            if let Err(e) = self.prepare(id) {
                errors.insert(id, e);
            }
            for dep in self.ctx.elements[id].deps.iter().rev() {
                stack.push(dep.element);
            }
        }
        // A kind whose defaults fail to compose fails each element of that kind.
        let failed = self.compose_pending();
        if !failed.is_empty() {
            for &id in &order {
                let el = &self.ctx.elements[id];
                let failure = failed.iter().find(|((pid, kind), _)| {
                    *pid == el.project && el.kind.as_deref() == Some(kind)
                });
                if let Some((_, e)) = failure {
                    errors.entry(id).or_insert_with(|| e.clone());
                }
            }
        }
        Plan {
            targets: targets.to_vec(),
            order,
            errors,
        }
    }

    /// Second step: builds the elements of `plan` in parallel, dependencies first, calling
    /// `on_built` with each element as soon as it is built (with every element built so far,
    /// by id) and its key tail: cache keys are computed there, as soon as they can be, so
    /// that the tails, which dominate memory on large projects, are dropped early. If
    /// anything fails, the error reported is the first one in instantiation order, as
    /// BuildStream would report it.
    pub fn build_all(
        &mut self,
        plan: Plan,
        on_built: impl Fn(&[OnceLock<Element>], ElementId, String) + Sync,
    ) -> Result<()> {
        let Plan {
            targets,
            order,
            errors,
        } = plan;
        let errors: HashMap<ElementId, Failure> =
            errors.into_iter().map(|(id, e)| (id, e.into())).collect();
        let ctx: &LoadContext = self.ctx;
        let defaults = &self.defaults;
        let keep = self.keep;
        let work: Vec<ElementId> = dependency_levels(ctx, &order).concat();
        let built: Vec<OnceLock<Element>> =
            (0..ctx.elements.len()).map(|_| OnceLock::new()).collect();
        let errors = Mutex::new(errors);
        let next = AtomicUsize::new(0);
        // Kinds' variable templates first, side by side, rather than each builder waiting
        // for the first one that needs a template to compute it.
        {
            use rayon::prelude::*;
            let kinds: Vec<&std::sync::Arc<KindDefaults>> = defaults.values().collect();
            kinds.into_par_iter().for_each(|d| {
                d.var_template();
            });
        }
        // Each worker takes the next element in dependency order, so that keys follow closely.
        rayon::scope(|scope| {
            for _ in 0..rayon::current_num_threads() {
                scope.spawn(|_| {
                    while let Some(&id) = work.get(next.fetch_add(1, Ordering::Relaxed)) {
                        if lock(&errors).contains_key(&id) {
                            continue;
                        }
                        match build_element(ctx, defaults, id, keep, true) {
                            Ok(b) => {
                                let _ = built[id].set(b.element);
                                on_built(&built, id, b.key_tail);
                            }
                            Err(e) => {
                                lock(&errors).insert(id, e);
                            }
                        }
                    }
                });
            }
        });
        let errors = errors.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = first_failure(ctx, &targets, errors) {
            return Err(e);
        }
        let table = &mut self.elements.0;
        table.resize_with(table.len().max(built.len()), || None);
        for (slot, element) in table.iter_mut().zip(built) {
            if let Some(element) = element.into_inner() {
                *slot = Some(element);
            }
        }
        Ok(())
    }

    /// The built elements, and the kinds' defaults they were built from (for the caller to
    /// drop when it is done with the elements: freeing them is not free).
    pub fn finish(self) -> (ElementMap, KindTable) {
        (self.elements, KindTable(self.defaults))
    }

    /// Loads what building `id` needs from the mutable context: its project's second pass
    /// and its kind's defaults (which may load junctions for plugin origins).
    fn prepare(&mut self, id: ElementId) -> Result<()> {
        let el = &self.ctx.elements[id];
        let pid = el.project;
        let first_pass = el.first_pass;
        let prov = el.node.prov;
        let kind = el.kind.clone().ok_or_else(|| el.node.missing_key("kind"))?;
        if !first_pass {
            self.ctx.ensure_fully_loaded(pid)?;
        }
        self.queue_kind(pid, &kind, first_pass, prov)?;
        Ok(())
    }
}

/// Instantiates a junction or link element as the loader meets it, to validate it:
/// BuildStream creates the `Element` of every link (`LoadElement.__init__`) and of every
/// junction it loads a subproject from (`Loader._get_loader`), so that their variables,
/// environment, public data, configuration, sandbox and sources are checked like any
/// element's. What is built is dropped; the sources' keys are not computed.
pub fn validate_first_pass(ctx: &mut LoadContext, id: ElementId) -> Result<()> {
    build_first_pass(ctx, id, false).map(|_| ())
}

/// A junction's element as BuildStream instantiates it to stage its subproject
/// (`Loader._load_junction`): built like [`validate_first_pass`], with its sources' keys.
/// Returns the element and its key tail (see [`crate::cachekey::key_tail`]).
pub fn build_junction(ctx: &mut LoadContext, id: ElementId) -> Result<(Element, String)> {
    build_first_pass(ctx, id, true).map(|b| (b.element, b.key_tail))
}

/// Builds a junction or link element as the loader meets it (see [`validate_first_pass`]).
fn build_first_pass(ctx: &mut LoadContext, id: ElementId, compute_keys: bool) -> Result<Built> {
    let mut inst = Instantiator::new(ctx, Keep::default());
    inst.prepare(id)?;
    if let Some((_, e)) = inst.compose_pending().into_iter().next() {
        return Err(e);
    }
    build_element(inst.ctx, &inst.defaults, id, Keep::default(), compute_keys).map_err(|f| f.error)
}

/// A kind's defaults in project `pid`: its `<kind>.yaml` with the project's split rules
/// and element overrides, in BuildStream's order. The project must be fully loaded unless
/// the kind is a first-pass one (junction, link).
fn compose_defaults(
    ctx: &LoadContext,
    pid: ProjectId,
    kind: &str,
    pending: PendingKind,
) -> Result<KindDefaults> {
    let PendingKind {
        first_pass,
        text,
        imp,
    } = pending;
    let mut defaults = match text {
        Some(t) if !t.trim().is_empty() => {
            let file = register_file(
                PathBuf::from(format!("{kind}.yaml")),
                format!("{kind}.yaml"),
            );
            parse_str(&t, file).map_err(|e| e.prefixed(&format!("{kind}.yaml: ")))?
        }
        _ => empty(),
    };
    let project = &ctx.projects[pid];
    let full = if first_pass {
        None
    } else {
        Some(project.second_pass.as_ref().expect("fully loaded"))
    };
    // public.bst.split-rules = project split rules <- plugin split rules
    let mut public = defaults
        .get_mapping("public")?
        .cloned()
        .unwrap_or_else(empty);
    let mut bst = public.get_mapping("bst")?.cloned().unwrap_or_else(empty);
    let element_splits = bst
        .get_mapping("split-rules")?
        .cloned()
        .unwrap_or_else(empty);
    let splits = match full {
        None => element_splits,
        Some(full) => {
            let mut s = full.splits.clone();
            element_splits.composite(&mut s)?;
            s
        }
    };
    bst.insert("split-rules", splits);
    public.insert("bst", bst);
    defaults.insert("public", public);
    let (overrides_root, var_base) = match full {
        None => (
            &project.first_pass.element_overrides,
            project.first_pass.base_variables.clone(),
        ),
        Some(full) => (
            &full.pass.element_overrides,
            full.pass.base_variables.clone(),
        ),
    };
    if let Some(ov) = overrides_root.get_mapping(kind)? {
        ov.composite(&mut defaults)?;
    }
    let environment = compose_environment(full.map(|f| &f.environment), &defaults, None)
        .ok()
        .map(SharedExpansion::new);
    let public = compose_public(&defaults, None)
        .ok()
        .map(SharedExpansion::new);
    Ok(KindDefaults {
        node: defaults,
        imp,
        var_base,
        var_template: OnceLock::new(),
        environment,
        public,
    })
}

type DefaultsMap = HashMap<(ProjectId, String), std::sync::Arc<KindDefaults>>;

/// The kinds' defaults of a pipeline's projects (opaque: see [`Instantiator::finish`]).
pub struct KindTable(#[allow(dead_code)] DefaultsMap);

/// `order` grouped in levels: 0 for elements without dependencies, else one more than the
/// highest level of a dependency. Each level keeps the relative order of `order`, which
/// must hold every dependency of its elements.
fn dependency_levels(ctx: &LoadContext, order: &[ElementId]) -> Vec<Vec<ElementId>> {
    let mut level: Vec<Option<usize>> = vec![None; ctx.elements.len()];
    // Post-order walk: an element's level once all its dependencies have theirs.
    for &root in order {
        let mut stack = vec![(root, false)];
        while let Some((id, expanded)) = stack.pop() {
            if level[id].is_some() {
                continue;
            }
            let deps = &ctx.elements[id].deps;
            if expanded {
                level[id] = Some(
                    deps.iter()
                        .map(|d| level[d.element].map_or(0, |l| l + 1))
                        .max()
                        .unwrap_or(0),
                );
            } else {
                stack.push((id, true));
                stack.extend(deps.iter().map(|d| (d.element, false)));
            }
        }
    }
    let mut levels: Vec<Vec<ElementId>> = Vec::new();
    for &id in order {
        let l = level[id].expect("every element has a level");
        if levels.len() <= l {
            levels.resize_with(l + 1, Vec::new);
        }
        levels[l].push(id);
    }
    levels
}

/// An element just built, with what its cache key needs besides its dependencies.
struct Built {
    element: Element,
    /// The key dictionary without `dependencies` and `weak-cache-key`, serialised
    /// (see [`crate::cachekey::key_tail`]).
    key_tail: String,
}

/// Builds one element from its load element, its kind's defaults and its project
/// (`compute_keys`: whether to compute its sources' keys, see [`SourceInput::compute_key`]).
fn build_element(
    ctx: &LoadContext,
    defaults_map: &DefaultsMap,
    id: ElementId,
    keep: Keep,
    compute_keys: bool,
) -> std::result::Result<Built, Failure> {
    let keep_details = keep.details;
    let el = &ctx.elements[id];
    let pid = el.project;
    let kind = el.kind.clone().ok_or_else(|| el.node.missing_key("kind"))?;
    let defaults = defaults_map[&(pid, kind.clone())].clone();
    let d = &defaults.node;
    let project = &ctx.projects[pid];
    let full = project.second_pass.as_ref();

    // Variables
    // Fast path: the kind's pre-resolved template plus the element's own scalar variables.
    // Anything unusual (directives, protected names, notparallel, an error) takes the
    // composing path below, which reproduces BuildStream's behaviour and messages exactly.
    let overrides: Option<Vec<crate::project::variables::Override>> = match el.node.get("variables")
    {
        None => Some(Vec::new()),
        Some(v) => v.as_map().and_then(|m| {
            m.iter()
                .map(|(k, n)| {
                    let simple = !crate::project::variables::PROTECTED.contains(&&**k)
                        && &**k != "notparallel"
                        && !k.starts_with('(');
                    n.as_arc_str()
                        .filter(|_| simple)
                        .map(|s| (k.clone(), s, n.prov))
                })
                .collect()
        }),
    };
    let fast = match (defaults.var_template(), overrides) {
        (Some((_, template)), Some(ov)) => {
            let mut variables = if ov.is_empty() {
                template.thaw()
            } else {
                template.thaw_with(&ov)
            };
            variables.set_resolved("element-name", &el.name);
            let ok = el.first_pass || variables.check().is_ok();
            ok.then_some(variables)
        }
        _ => None,
    };
    let variables = if let Some(variables) = fast {
        variables
    } else {
        let mut variables_node = if el.first_pass {
            project.first_pass.base_variables.clone()
        } else {
            full.expect("fully loaded").pass.base_variables.clone()
        };
        if let Some(v) = d.get_mapping("variables")? {
            v.composite(&mut variables_node)?;
        }
        if let Some(v) = el.node.get_mapping("variables")? {
            v.composite(&mut variables_node)?;
        }
        variables_node.assert_fully_composited()?;
        crate::project::variables::check_protected(&variables_node)?;
        variables_node.set_str("element-name", &el.name);
        let variables = Variables::new(&mut variables_node)?;
        if !el.first_pass {
            variables.check()?;
        }
        variables
    };

    // Environment
    let project_env = if el.first_pass {
        None
    } else {
        Some(&full.expect("fully loaded").environment)
    };
    let shared_env = match (&defaults.environment, el.node.get("environment")) {
        (Some(shared), None) => shared.get(&variables, |env| Ok(environment_map(&env))),
        _ => None,
    };
    let environment = match shared_env {
        Some(env) => env,
        None => {
            let mut env = compose_environment(project_env, d, Some(&el.node))?;
            variables.expand(&mut env)?;
            std::sync::Arc::new(environment_map(&env))
        }
    };

    // environment-nocache
    let mut env_nocache: Vec<String> = if el.first_pass {
        Vec::new()
    } else {
        full.expect("fully loaded").env_nocache.clone()
    };
    env_nocache.extend(d.get_str_list("environment-nocache")?);
    env_nocache.extend(el.node.get_str_list("environment-nocache")?);
    env_nocache.sort();
    env_nocache.dedup();

    // Public
    let shared_public = match (&defaults.public, el.node.get("public")) {
        (Some(shared), None) => shared.get(&variables, |public| {
            let mut json = String::new();
            crate::cachekey::node_to_json(&public, &mut json);
            Ok((public, json))
        }),
        _ => None,
    };
    let public = match shared_public {
        Some(p) => p,
        None => {
            let mut public = compose_public(d, Some(&el.node))?;
            variables.expand(&mut public)?;
            let mut json = String::new();
            crate::cachekey::node_to_json(&public, &mut json);
            std::sync::Arc::new((public, json))
        }
    };

    // Config
    let mut config = d.get_mapping("config")?.cloned().unwrap_or_else(empty);
    if let Some(c) = el.node.get_mapping("config")? {
        c.composite(&mut config)?;
    }
    config.assert_fully_composited()?;
    variables.expand(&mut config)?;

    // Sandbox
    let mut sandbox_node = if el.first_pass {
        empty()
    } else {
        full.expect("fully loaded").sandbox.clone()
    };
    if let Some(s) = d.get_mapping("sandbox")? {
        s.composite(&mut sandbox_node)?;
    }
    if let Some(s) = el.node.get_mapping("sandbox")? {
        s.composite(&mut sandbox_node)?;
    }
    sandbox_node.assert_fully_composited()?;
    variables.expand(&mut sandbox_node)?;
    let sandbox = parse_sandbox(&sandbox_node)?;

    // Sources
    let mut warnings = LoadWarnings::default();
    let (mut sources, source_keys) = load_sources(
        ctx,
        id,
        &variables,
        keep.source_info,
        compute_keys,
        &mut warnings,
    )?;
    let (sources_json, key_ranges) = crate::cachekey::sources_json(&sources, &source_keys);
    let mut sources_key = None;
    if keep.source_cache_keys {
        for ((s, k), range) in sources.iter_mut().zip(&source_keys).zip(key_ranges) {
            s.key = k
                .as_ref()
                .map(|_| crate::cachekey::sha256_hex(&sources_json.as_bytes()[range]));
        }
        sources_key = source_keys
            .iter()
            .all(Option::is_some)
            .then(|| crate::cachekey::sha256_hex(sources_json.as_bytes()));
    }

    let deps = &el.deps;
    let traits = defaults.imp.traits();
    let mut dep_configs: Vec<(std::borrow::Cow<'_, str>, Option<Node>)> = Vec::new();
    let mut dep_config_ids: Vec<ElementId> = Vec::new();
    let mut build_deps = Vec::new();
    let mut runtime_deps = Vec::new();
    let mut strict_deps = Vec::new();
    for (k, dep) in deps.iter().enumerate() {
        let after = |error| Failure {
            stage: Stage::AfterDependency(k),
            error,
        };
        if dep.dep_type & DEP_BUILD != 0 {
            build_deps.push(dep.element);
            if traits.configures_dependencies {
                if dep.config_nodes.is_empty() {
                    dep_configs.push((dep.path(), None));
                    dep_config_ids.push(dep.element);
                } else {
                    for c in &dep.config_nodes {
                        let mut c = c.clone();
                        variables.expand(&mut c).map_err(after)?;
                        dep_configs.push((dep.path(), Some(c)));
                        dep_config_ids.push(dep.element);
                    }
                }
            } else if let Some(c) = dep.config_nodes.first() {
                return Err(after(LoadError::new(
                        LoadErrorReason::InvalidDependencyConfig,
                        format!(
                            "{}: Custom dependency configuration is not supported by element plugin '{kind}'",
                            c.prov
                        ),
                    )));
            }
        }
        if dep.dep_type & DEP_RUNTIME != 0 {
            runtime_deps.push(dep.element);
        }
        if dep.strict {
            strict_deps.push(dep.element);
        }
    }
    let dep_conf: Vec<DepConfiguration> = dep_configs
        .iter()
        .map(|(p, c)| DepConfiguration {
            path: p,
            config: c.as_ref(),
        })
        .collect();
    let configure = |deps| {
        defaults.imp.configure(&ConfigureInput {
            config: &config,
            variables: &variables,
            deps,
            name: &el.name,
        })
    };
    let configured = configure(&dep_conf).map_err(|error| {
        // BuildStream configures an element's dependencies (`configure_dependencies`) once
        // they are instantiated, just before its preflight checks.
        let stage = match dep_conf.is_empty() || configure(&[]).is_err() {
            true => Stage::Created,
            false => Stage::Preflight,
        };
        Failure { stage, error }
    })?;

    // Preflight (messages name the element as BuildStream's `str(plugin)` does), after
    // the dependencies in BuildStream's order of instantiation.
    let preflight = || -> Result<()> {
        let display = format!("{kind} element at {}", el.node.prov);
        let pf = |what: &str| {
            LoadError::new(
                LoadErrorReason::PluginConfig,
                format!("{display}: {what} are forbidden for '{kind}' elements"),
            )
        };
        if traits.forbid_rdepends && traits.forbid_bdepends {
            if !deps.is_empty() {
                return Err(pf("Dependencies"));
            }
        } else {
            if traits.forbid_rdepends && !runtime_deps.is_empty() {
                return Err(pf("Runtime dependencies"));
            }
            if traits.forbid_bdepends && !build_deps.is_empty() {
                return Err(pf("Build dependencies"));
            }
        }
        if traits.forbid_sources && !sources.is_empty() {
            return Err(pf("Sources"));
        }
        if kind == "stack"
            && (build_deps.iter().any(|d| !runtime_deps.contains(d))
                || runtime_deps.iter().any(|d| !build_deps.contains(d)))
        {
            return Err(LoadError::new(
                LoadErrorReason::PluginConfig,
                format!("{display}: All dependencies of 'stack' elements must be both build and runtime dependencies"),
            )
            .with_detail("Make sure you declare all dependencies in the `depends` list, without specifying any `type`."));
        }
        // The kinds' own `preflight()` checks: BuildStream prefixes their messages, which already
        // name the element, with the element once more.
        let own_check = |msg: &str| {
            Err(LoadError::new(
                LoadErrorReason::PluginConfig,
                format!("{display}: {display}: {msg}"),
            ))
        };
        if kind == "import" && sources.is_empty() {
            return own_check("An import element must have at least one source.");
        }
        if kind == "collect_integration" && !sources.is_empty() {
            return own_check("collect-integration elements may not have sources");
        }
        if kind == "filter" {
            // FilterElement's own messages start with the element, and BuildStream's preflight
            // wrapper prefixes it once more.
            let err = |msg: String, detail: Option<String>| {
                let e = LoadError::new(
                    LoadErrorReason::PluginConfig,
                    format!("{display}: {display}: FilterElement {msg}"),
                );
                match detail {
                    Some(d) => e.with_detail(d),
                    None => e,
                }
            };
            let names = |ids: &[ElementId]| -> String {
                ids.iter()
                    .map(|&d| ctx.elements[d].name.clone())
                    .collect::<Vec<_>>()
                    .join("  \n")
            };
            let n = build_deps.len();
            if n != 1 {
                return Err(err(
                    format!("element must have exactly 1 build-dependency, actually have {n}"),
                    Some(format!(
                        "Full list of build-depends:\n{}",
                        names(&build_deps)
                    )),
                ));
            }
            if runtime_deps.contains(&build_deps[0]) {
                return Err(err(
                    "element's build dependency must not also be a runtime dependency".into(),
                    Some(format!(
                        "Full list of runtime depends:\n{}",
                        names(&runtime_deps)
                    )),
                ));
            }
            let dep_el = &ctx.elements[build_deps[0]];
            let dep_no_artifact = dep_el
                .kind
                .as_ref()
                .and_then(|k| defaults_map.get(&(dep_el.project, k.clone())))
                .is_some_and(|d| d.imp.traits().no_artifact);
            if dep_no_artifact {
                return Err(err(
                    "element's build dependency must produce an artifact".into(),
                    Some(format!(
                        "{} does not produce an artifact, so there is nothing to filter",
                        dep_el.name
                    )),
                ));
            }
        }
        Ok(())
    };
    preflight().map_err(|error| Failure {
        stage: Stage::Preflight,
        error,
    })?;

    let project = &ctx.projects[pid];
    let key_tail = crate::cachekey::key_tail(&crate::cachekey::KeyInputs {
        kind: &kind,
        build_root: variables.get("build-root")?.as_deref(),
        unique_key: &configured.unique_key,
        artifact_version: traits.artifact_version,
        public_json: &public.1,
        sources_json: &sources_json,
        fatal_warnings: &project.fatal_warnings,
        run_commands: configured.run_commands,
        sandbox: &sandbox,
        environment: &environment,
        env_nocache: &env_nocache,
    });
    let resolved_vars = if keep_details {
        variables.resolved_pairs()?
    } else {
        Vec::new()
    };
    let details = keep_details.then(|| {
        Box::new(ElementDetails {
            variables: resolved_vars,
            environment: (*environment).clone(),
            env_nocache,
            public: public.0.clone(),
            config,
            sandbox,
            dep_configs: dep_config_ids
                .into_iter()
                .zip(dep_configs)
                .filter_map(|(id, (_, c))| c.map(|c| (id, c)))
                .collect(),
        })
    });
    let element = Element {
        id,
        kind: kind.clone(),
        project_name: project.name.clone(),
        name: el.name.clone(),
        full_name: el.full_name.clone(),
        description: el.description.clone().unwrap_or_default(),
        sources,
        sources_key,
        traits,
        build_deps,
        runtime_deps,
        strict_deps,
        details,
        key_tail: keep.key_tails.then(|| key_tail.clone()),
        warnings,
    };
    Ok(Built { element, key_tail })
}

/// An element's environment before expansion: the project's (None for first-pass
/// elements), the kind's defaults, then the element's own (`element`; None for a template).
fn compose_environment(
    project: Option<&Node>,
    defaults: &Node,
    element: Option<&Node>,
) -> Result<Node> {
    let mut env = project.cloned().unwrap_or_else(empty);
    if let Some(e) = defaults.get_mapping("environment")? {
        e.composite(&mut env)?;
    }
    if let Some(e) = element
        .map(|el| el.get_mapping("environment"))
        .transpose()?
        .flatten()
    {
        e.composite(&mut env)?;
    }
    env.assert_fully_composited()?;
    Ok(env)
}

/// An element's expanded environment: names and values, in composition order.
pub type Environment = IndexMap<String, EnvValue>;

/// The value of an environment variable. BuildStream also takes a mapping or a list: it
/// enters the cache key as it is, and no sandbox can be given it.
#[derive(Clone, Debug, PartialEq)]
pub enum EnvValue {
    /// A string, as variables normally are.
    Str(String),
    /// A mapping or a list.
    Structured(Node),
}

impl EnvValue {
    /// The value, if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            EnvValue::Str(s) => Some(s),
            EnvValue::Structured(_) => None,
        }
    }
}

/// The environment as a sandbox takes it: every value a string, else the name of the first
/// variable that is not one.
pub fn sandbox_environment(env: &Environment) -> std::result::Result<Vec<(String, String)>, &str> {
    env.iter()
        .map(|(k, v)| match v.as_str() {
            Some(s) => Ok((k.clone(), s.to_owned())),
            None => Err(k.as_str()),
        })
        .collect()
}

/// An expanded environment node as name/value pairs.
fn environment_map(env: &Node) -> Environment {
    let mut environment = IndexMap::default();
    for (k, v) in env.as_map().into_iter().flatten() {
        let value = match &v.value {
            Value::Scalar(s) => EnvValue::Str(s.to_string()),
            _ => EnvValue::Structured(v.clone()),
        };
        environment.insert(k.to_string(), value);
    }
    environment
}

/// An element's public data before expansion: its own (`element`; None for a template), with
/// `bst: split-rules` composed onto the kind's defaults.
fn compose_public(defaults: &Node, element: Option<&Node>) -> Result<Node> {
    let mut splits = defaults
        .get("public")
        .and_then(|p| p.get("bst"))
        .and_then(|b| b.get("split-rules"))
        .cloned()
        .unwrap_or_else(empty);
    let mut public = element
        .map(|el| el.get_mapping("public"))
        .transpose()?
        .flatten()
        .cloned()
        .unwrap_or_else(empty);
    if public.get_mapping("bst")?.is_none() {
        public.insert("bst", empty());
    }
    let bst = public.get_mut("bst").expect("just ensured");
    if let Some(element_splits) = bst.get_mapping("split-rules")? {
        element_splits.composite(&mut splits)?;
    }
    bst.insert("split-rules", splits);
    public.assert_fully_composited()?;
    Ok(public)
}

/// The element's sources, with their unique keys (None: no ref).
fn load_sources(
    ctx: &LoadContext,
    id: ElementId,
    variables: &Variables,
    keep_info: bool,
    compute_key: bool,
    warnings: &mut LoadWarnings,
) -> Result<(Vec<ElementSource>, Vec<Option<KeyValue>>)> {
    let el = &ctx.elements[id];
    let pid = el.project;
    let Some(seq) = el.node.get_sequence("sources")? else {
        return Ok((Vec::new(), Vec::new()));
    };
    let project = &ctx.projects[pid];
    let first_pass = el.first_pass;
    let pass = if first_pass {
        &project.first_pass
    } else {
        &project.second_pass.as_ref().expect("fully loaded").pass
    };
    let mut out = Vec::new();
    let mut keys = Vec::new();
    for (index, src) in seq.as_seq().unwrap_or(&[]).iter().enumerate() {
        if !src.is_map() {
            return Err(LoadError::new(
                LoadErrorReason::InvalidData,
                format!(
                    "{}: Value of 'sources' is not of the expected type 'dict'",
                    src.prov
                ),
            ));
        }
        let kind_node = src.get("kind").ok_or_else(|| src.missing_key("kind"))?;
        let kind = src.req_str("kind")?.to_owned();
        if kind == "workspace" {
            return Err(LoadError::new(
                LoadErrorReason::InvalidData,
                format!("{}: Invalid usage of workspace source kind", kind_node.prov),
            ));
        }
        let directory = src.get_str("directory")?.map(str::to_owned);
        let provenance = src.get_mapping("provenance")?;
        if let Some(p) = provenance {
            // Keys are checked once the project is fully loaded (BuildStream defers the
            // check for elements loaded earlier; bst-rs skips it for them).
            let attributes = project
                .second_pass
                .as_ref()
                .map(|f| f.source_provenance_attributes.as_slice());
            source::info::check_provenance(p, attributes)?;
        }
        let declared = project.source_origins.get(&kind);
        if declared.is_none() && !source::CORE_SOURCE_KINDS.contains(&kind.as_str()) {
            return Err(plugin_error(format!(
                "{}: No source plugin registered for kind '{kind}'",
                src.prov
            )));
        }
        let Some(imp) = source::lookup(&kind) else {
            return Err(plugin_error(format!(
                "{}: Source kind '{kind}' is not implemented by bst-rs",
                src.prov
            )));
        };
        let mut config = pass
            .source_overrides
            .get_mapping(&kind)?
            .and_then(|k| k.get("config").cloned())
            .unwrap_or_else(empty);
        // `kind` and a scalar `directory` are not configuration; nor is a valid `provenance`.
        let mut skip = vec!["kind", "provenance"];
        if directory.is_some() {
            skip.push("directory");
        }
        src.composite_except(&mut config, &skip)?;
        config.assert_fully_composited()?;
        variables.expand(&mut config)?;
        let inline_ref = if project.refs_in_file {
            imp.inline_ref(&config)?
        } else {
            None
        };
        if apply_project_refs(ctx, id, index, &kind, &mut config) {
            if let Some(r) = inline_ref {
                warnings.redundant_refs.push(format!("{}:{r}", src.prov));
            }
        }
        let display = format!("{kind} source at {}", src.prov);
        let input = SourceInput {
            config: &config,
            project_dir: &project.directory,
            aliases: &pass.aliases,
            display: &display,
            compute_key,
        };
        let configured = imp.configure(&input)?;
        for url in imp.marked_urls(&config)? {
            let alias = source::info::extract_alias(&url);
            if alias.is_empty() {
                warnings
                    .plugin
                    .extend(unaliased_warning(&project.fatal_warnings, &display, &url)?);
            } else if !alias_exists(ctx, pid, first_pass, alias, &display)? {
                return Err(LoadError::new(
                    LoadErrorReason::PluginConfig,
                    format!("{display}: Invalid alias '{alias}' specified in URL: {url}"),
                ));
            }
        }
        let info = keep_info.then(|| {
            let attributes = project
                .second_pass
                .as_ref()
                .map_or(DEFAULT_PROVENANCE_ATTRIBUTES.as_slice(), |f| {
                    f.source_provenance_attributes.as_slice()
                });
            let translate = |url: &str| translate_url(ctx, pid, first_pass, url, &display);
            let info_warnings = std::cell::RefCell::new(Vec::new());
            let mark = |url: &str| {
                let w = unaliased_warning(&project.fatal_warnings, &display, url)?;
                info_warnings.borrow_mut().extend(w);
                Ok(())
            };
            // BuildStream computes each source's key, in order, up to the first unresolved one.
            let key_computed =
                configured.unique_key.is_some() && out.iter().all(|s: &ElementSource| s.resolved);
            SourceInfoResult {
                collected: imp.source_info(
                    &input,
                    &source::info::InfoInput {
                        kind: &kind,
                        translate: &translate,
                        mark: &mark,
                        provenance,
                        provenance_attributes: attributes,
                        key_computed,
                    },
                ),
                display: display.clone(),
                warnings: info_warnings.into_inner(),
            }
        });
        let fetcher = source::fetch::make_fetcher(&source::fetch::FetcherInput {
            kind: &kind,
            config: &config,
            project_dir: &project.directory,
            urls: source::fetch::urls::project_urls(ctx, pid, first_pass),
            display: &display,
        })?;
        out.push(ElementSource {
            kind,
            directory,
            resolved: configured.unique_key.is_some(),
            local_path: configured.local_path,
            key: None,
            info,
            display,
            fetcher,
        });
        keys.push(configured.unique_key);
    }
    Ok((out, keys))
}

/// BuildStream's warning token for a source URL without an alias.
pub const UNALIASED_URL: &str = "unaliased-url";

/// BuildStream's `Plugin.warn()` with a core warning token: the warning's message,
/// `[token]: brief`, or an error carrying it when the project lists the token among its
/// `fatal-warnings`.
pub fn plugin_warning(fatal_warnings: &[String], token: &str, brief: &str) -> Result<String> {
    let message = format!("[{token}]: {brief}");
    if fatal_warnings.iter().any(|w| w == token) {
        // BuildStream's error is the message and an empty detail line.
        return Err(LoadError::new(
            LoadErrorReason::PluginConfig,
            format!("{message}\n"),
        ));
    }
    Ok(message)
}

/// BuildStream's `unaliased-url` warning (see [`plugin_warning`]) when the URL that the
/// source `display` marks has no alias.
fn unaliased_warning(
    fatal_warnings: &[String],
    display: &str,
    url: &str,
) -> Result<Option<String>> {
    if !source::info::extract_alias(url).is_empty() {
        return Ok(None);
    }
    let brief = format!("{display}: Use of unaliased source download URL: {url}");
    plugin_warning(fatal_warnings, UNALIASED_URL, &brief).map(Some)
}

/// BuildStream's default `source-provenance-attributes`.
static DEFAULT_PROVENANCE_ATTRIBUTES: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| vec!["homepage".to_owned(), "issue-tracker".to_owned()]);

/// `Project.alias_exists()`: whether a source of project `pid` may use `alias`. A
/// subproject's alias that its junction maps must exist in the parent project.
fn alias_exists(
    ctx: &LoadContext,
    pid: ProjectId,
    first_pass: bool,
    alias: &str,
    display: &str,
) -> Result<bool> {
    let project = &ctx.projects[pid];
    if let Some(j) = &project.junction {
        let parent_alias = match j.aliases.get(alias).and_then(Node::as_str) {
            Some(a) => Some(a),
            None if j.map_aliases_identity => Some(alias),
            None => None,
        };
        match parent_alias {
            Some(a) if !a.is_empty() => {
                if alias_exists(ctx, j.parent, first_pass, a, display)? {
                    return Ok(true);
                }
                return Err(LoadError::new(
                    LoadErrorReason::PluginConfig,
                    format!(
                        "{}: Mapped alias '{a}' for subproject alias '{alias}' is invalid in the parent project",
                        j.display
                    ),
                ));
            }
            _ if ctx.projects[j.parent].disallow_subproject_uris => {
                return Err(unmapped_alias(display, alias));
            }
            _ => {}
        }
    }
    let aliases = match (first_pass, project.second_pass.as_ref()) {
        (false, Some(full)) => &full.pass.aliases,
        _ => &project.first_pass.aliases,
    };
    Ok(aliases.get(alias).is_some())
}

/// A subproject alias its junction does not map, with `disallow-subproject-uris`.
fn unmapped_alias(display: &str, alias: &str) -> LoadError {
    LoadError::new(
        LoadErrorReason::PluginConfig,
        format!(
            "{display}: Parent project did not provide a mapping for alias '{alias}' and disallowed usage of unmapped aliases"
        ),
    )
}

/// `Project.translate_url()`: `alias:rest` becomes the alias's URL followed by `rest` when the
/// project defines the alias; in a subproject, an alias its junction maps (or, with
/// `map-aliases: identity`, any alias) is translated by the parent project instead.
fn translate_url(
    ctx: &LoadContext,
    pid: ProjectId,
    first_pass: bool,
    url: &str,
    display: &str,
) -> Result<String> {
    let Some((alias, body)) = url.split_once(':') else {
        return Ok(url.to_owned());
    };
    let project = &ctx.projects[pid];
    let aliases = match (first_pass, project.second_pass.as_ref()) {
        (false, Some(full)) => &full.pass.aliases,
        _ => &project.first_pass.aliases,
    };
    let Some(alias_url) = aliases
        .get(alias)
        .and_then(Node::as_str)
        .filter(|u| !u.is_empty())
    else {
        return Ok(url.to_owned());
    };
    if let Some(j) = &project.junction {
        let parent_alias = match j.aliases.get(alias).and_then(Node::as_str) {
            Some(a) => Some(a),
            None if j.map_aliases_identity => Some(alias),
            None => None,
        };
        match parent_alias {
            Some(a) if !a.is_empty() => {
                return translate_url(ctx, j.parent, first_pass, &format!("{a}:{body}"), display)
            }
            _ if ctx.projects[j.parent].disallow_subproject_uris => {
                return Err(unmapped_alias(display, alias))
            }
            _ => {}
        }
    }
    Ok(format!("{alias_url}{body}"))
}

/// With `ref-storage: project.refs`, a source's ref comes from the refs file (the
/// top-level project's file first for subproject sources), not from the element: a
/// junction's from `junction.refs`, any other element's from `project.refs`. True when the
/// source's own project stores refs in its file, so a ref written in the element is
/// ignored.
fn apply_project_refs(
    ctx: &LoadContext,
    id: ElementId,
    index: usize,
    kind: &str,
    config: &mut Node,
) -> bool {
    let el = &ctx.elements[id];
    let (pid, element) = (el.project, el.name.as_str());
    let junction = el.kind.as_deref() == Some("junction");
    fn refs_of(p: &crate::project::Project, junction: bool) -> Option<&Node> {
        if junction {
            p.junction_refs.as_ref()
        } else {
            p.second_pass.as_ref().and_then(|f| f.refs.as_ref())
        }
    }
    let ref_keys: &[&str] = if kind == "git" || kind == "git_repo" {
        &["ref", "tags"]
    } else {
        &["ref"]
    };
    let apply = |config: &mut Node, refnode: &Node| {
        for (k, v) in refnode.as_map().into_iter().flatten() {
            config.insert(k, v.clone());
        }
    };
    let top = &ctx.projects[0];
    let project = &ctx.projects[pid];
    if pid != 0 && top.refs_in_file {
        if let Some(refs) = refs_of(top, junction) {
            if let Some(r) =
                crate::project::Project::lookup_ref(refs, &project.name, element, index)
            {
                for k in ref_keys {
                    config.remove(k);
                }
                apply(config, r);
                return false;
            }
        }
    }
    if project.refs_in_file {
        for k in ref_keys {
            config.remove(k);
        }
        if let Some(refs) = refs_of(project, junction) {
            if let Some(r) =
                crate::project::Project::lookup_ref(refs, &project.name, element, index)
            {
                apply(config, r);
            }
        }
        return true;
    }
    false
}

/// A `sandbox:` mapping (host defaults for a missing `build-os` or `build-arch`).
pub fn parse_sandbox(node: &Node) -> Result<SandboxConfig> {
    node.validate_keys(&[
        "build-uid",
        "build-gid",
        "build-os",
        "build-arch",
        "remote-apis-socket",
    ])?;
    let build_os = match node.get_str("build-os")? {
        Some(s) if !s.is_empty() => s.to_lowercase(),
        _ => host_os(),
    };
    let build_arch = match node.get_str("build-arch")? {
        Some(s) if !s.is_empty() => match canonicalize_arch(s) {
            Some(a) => a.to_owned(),
            None => {
                return Err(LoadError::new(
                    LoadErrorReason::InvalidData,
                    format!("Unknown architecture: {s}"),
                ))
            }
        },
        _ => crate::project::options::host_arch().to_owned(),
    };
    let build_uid = node.get_int("build-uid")?;
    let build_gid = node.get_int("build-gid")?;
    let (remote_apis_socket, action_cache_enable_update) =
        match node.get_mapping("remote-apis-socket")? {
            Some(r) if r.as_map().is_some_and(|m| !m.is_empty()) => {
                r.validate_keys(&["path", "action-cache-enable-update"])?;
                (
                    Some(r.req_str("path")?.to_owned()),
                    r.get_bool("action-cache-enable-update", false)?,
                )
            }
            _ => (None, false),
        };
    Ok(SandboxConfig {
        build_os,
        build_arch,
        build_uid,
        build_gid,
        remote_apis_socket,
        action_cache_enable_update,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandboxes_take_only_string_environments() {
        let node = parse_str("A: x\nB: {k: v}\nC: y\n", crate::yaml::SYNTHETIC).unwrap();
        let env = environment_map(&node);
        assert_eq!(env["A"].as_str(), Some("x"));
        assert!(matches!(env["B"], EnvValue::Structured(_)));
        assert_eq!(sandbox_environment(&env), Err("B"));
        let mut env = env;
        env.shift_remove("B");
        let pairs = sandbox_environment(&env).unwrap();
        assert_eq!(pairs, [("A".into(), "x".into()), ("C".into(), "y".into())]);
    }
}
