//! The loader: `.bst` files to a graph of [`LoadElement`]s across projects and junctions.
//!
//! [`LoadContext`] owns every loaded project and element (an arena indexed by
//! [`ProjectId`] and [`ElementId`]). It follows BuildStream's loader step by step, because
//! the order of loading decides dependency merging, link and override resolution, and error
//! messages:
//!
//! 1. each target is parsed (`junction.bst:element.bst` walks junctions) and loaded with a
//!    depth-first walk over its dependency declarations;
//! 2. junctions load subprojects (from their single `local` source's directory, else from
//!    their sources fetched and staged: [`junction`]), links are followed (both are
//!    instantiated as elements first, which validates them), overrides are searched from
//!    the highest ancestor down;
//! 3. circular dependencies are rejected with the chain of full names;
//! 4. every reachable element's direct dependencies are sorted with CPython's list sort
//!    ([`listsort`]) and BuildStream's non-transitive comparator.
//!
//! What does not depend on that order (parsing, includes and conditionals within a
//! project, extracting dependency declarations) is done ahead, in parallel (`prefetch`).

pub mod junction;
pub mod listsort;
mod prefetch;

use crate::project::options::OptionPool;
use crate::project::variables::Variables;
use crate::project::{includes, JunctionConfig, Project, ProjectHost, ProjectId};
use crate::yaml::FxIndexMap as IndexMap;
use crate::yaml::{load_file, LoadError, LoadErrorReason, Node, Provenance, Result};
use fixedbitset::FixedBitSet;
use prefetch::{Parsed, Prefetched};
use rayon::prelude::*;
use rustc_hash::FxHashMap as HashMap;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Index of a load element in the context.
pub type ElementId = usize;

/// Dependency type bit: needed at build time.
pub const DEP_BUILD: u8 = 1;
/// Dependency type bit: needed at run time.
pub const DEP_RUNTIME: u8 = 2;
/// Both.
pub const DEP_ALL: u8 = 3;

/// A resolved dependency of a load element.
#[derive(Clone, Debug)]
pub struct Dependency {
    /// The element depended on.
    pub element: ElementId,
    /// [`DEP_BUILD`] / [`DEP_RUNTIME`] bits.
    pub dep_type: u8,
    /// The name as written (project-local to the junction, if any).
    pub name: Arc<str>,
    /// The junction path as written, if any.
    pub junction: Option<Arc<str>>,
    /// `strict: true`.
    pub strict: bool,
    /// `config:` nodes (merged duplicates concatenate).
    pub config_nodes: Vec<Node>,
    /// Where the dependency was declared.
    pub prov: Provenance,
}

impl Dependency {
    /// The dependency path as written: `junction:name` or `name`.
    pub fn path(&self) -> std::borrow::Cow<'_, str> {
        match &self.junction {
            Some(j) => format!("{j}:{}", self.name).into(),
            None => (*self.name).into(),
        }
    }

    fn merge(&mut self, other: &Dependency) {
        self.dep_type |= other.dep_type;
        self.strict = self.strict || other.strict;
        self.config_nodes.extend(other.config_nodes.iter().cloned());
    }
}

/// A declared (unresolved) dependency.
#[derive(Clone, Debug)]
struct DepDecl {
    dep: Dependency,
}

/// An element as loaded from its `.bst` file.
#[derive(Clone, Debug)]
pub struct LoadElement {
    /// Project-local name (the `.bst` path relative to the element path).
    pub name: String,
    /// Name with junction prefixes, for display.
    pub full_name: String,
    /// Owning project.
    pub project: ProjectId,
    /// The processed YAML (dependency keys removed).
    pub node: Node,
    /// `kind:`.
    pub kind: Option<String>,
    /// `description:`.
    pub description: Option<String>,
    /// Junction and link elements are loaded with first-pass configuration.
    pub first_pass: bool,
    /// For links: the `target` node.
    pub link_target: Option<Node>,
    /// Dependencies, sorted after loading.
    pub deps: Vec<Dependency>,
    fully_loaded: bool,
    /// Whether `declared` holds the dependency declarations already (extracted ahead).
    extracted: bool,
    declared: Vec<DepDecl>,
}

/// The project that junction path `path` (`a.bst` or `a.bst:b.bst`) leads to from project
/// `from`, if every junction on the way is loaded already.
fn loaded_junction(loaders: &[ProjectLoader], from: ProjectId, path: &str) -> Option<ProjectId> {
    path.split(':').try_fold(from, |l, junction| {
        loaders[l].loaders.get(junction).copied()
    })
}

/// How deep junctions may nest projects (see `get_one_loader`).
const MAX_JUNCTION_NESTING: usize = 1000;

#[derive(Default)]
struct ProjectLoader {
    parent: Option<ProjectId>,
    /// What made the loader load this project (a dependency or an override naming its
    /// junction); None for the top-level project and for command-line targets.
    provenance: Option<Provenance>,
    alternative_parents: Vec<ProjectId>,
    elements: HashMap<String, ElementId>,
    links: IndexMap<String, String>,
    loaders: HashMap<String, ProjectId>,
    searching: HashMap<String, Provenance>,
}

struct ProjectMeta {
    directory: PathBuf,
    element_path: PathBuf,
    display_prefix: String,
}

/// Everything loaded for one invocation: projects, loaders and elements.
pub struct LoadContext {
    /// Loaded projects; index 0 is the top-level project.
    pub projects: Vec<Project>,
    /// Loaded elements.
    pub elements: Vec<LoadElement>,
    loaders: Vec<ProjectLoader>,
    metas: Vec<ProjectMeta>,
    cli_options: Vec<(String, String)>,
    /// Included files by project, path and whether they were included across a junction
    /// (then their variables are expanded with their own project's: a file the subproject
    /// includes itself stays as written).
    include_cache: HashMap<(ProjectId, PathBuf, bool), Node>,
    /// `.bst` files parsed (and processed) ahead of time, in parallel.
    prefetched: Prefetched,
    /// Link elements whose targets are being loaded (to refuse a link cycle), and
    /// [`LOADING_DEPENDENCIES`] for each element whose dependencies are being loaded.
    following_links: Vec<ElementId>,
    /// Inline refs of staged junctions' sources that `ref-storage: project.refs` ignores,
    /// in the order the junctions were loaded (BuildStream reports them before any other
    /// element's: junctions are instantiated first).
    pub junction_redundant_refs: Vec<String>,
}

/// In [`LoadContext::following_links`]: the links followed before it led to an element,
/// now marked fully loaded, so following them again ends there.
const LOADING_DEPENDENCIES: ElementId = ElementId::MAX;

fn invalid(msg: String) -> LoadError {
    LoadError::new(LoadErrorReason::InvalidData, msg)
}

/// No empty, `.` or `..` component: [`normpath`] would return the path as it is. (One pass
/// over the bytes: names are short, and this runs for every dependency.)
fn is_normal(path: &[u8]) -> bool {
    let mut start = 0;
    for i in 0..=path.len() {
        if i == path.len() || path[i] == b'/' {
            if matches!(&path[start..i], b"" | b"." | b"..") {
                return false;
            }
            start = i + 1;
        }
    }
    true
}

/// Python's `os.path.normpath` for relative element names; borrowed when `path` is normal
/// already, as most names are.
pub fn normpath(path: &str) -> Cow<'_, str> {
    if path.is_empty() {
        return Cow::Borrowed(".");
    }
    if is_normal(path.as_bytes()) {
        return Cow::Borrowed(path);
    }
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if matches!(parts.last(), Some(p) if *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    Cow::Owned(if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".into()
    } else {
        joined
    })
}

const VALID_ELEMENT_KEYS: &[&str] = &[
    "kind",
    "depends",
    "sources",
    "sandbox",
    "variables",
    "environment",
    "environment-nocache",
    "config",
    "public",
    "description",
    "build-depends",
    "runtime-depends",
];

/// A dependency's junction and name: shared with the node where it is written whole.
pub(super) type DepName = (Option<Arc<str>>, Arc<str>);

fn parse_dependency_filename(node: &Node, junction: Option<&Arc<str>>) -> Result<DepName> {
    let Some(whole) = node.as_arc_str() else {
        return Ok((junction.cloned(), Arc::from("")));
    };
    match junction {
        Some(j) => {
            if whole.contains(':') {
                return Err(invalid(format!(
                    "{}: Dependency {whole} contains `:` in its name. `:` characters are not allowed in filename when junction attribute is specified.",
                    node.prov
                )));
            }
            Ok((Some(j.clone()), whole.clone()))
        }
        None => match whole.rsplit_once(':') {
            Some((j, n)) => Ok((Some(Arc::from(j)), Arc::from(n))),
            None => Ok((None, whole.clone())),
        },
    }
}

fn load_dependency(
    dep: &Node,
    junction: Option<Arc<str>>,
    name: Arc<str>,
    default_type: u8,
) -> Result<Dependency> {
    let mut d = Dependency {
        element: usize::MAX,
        dep_type: DEP_ALL,
        name,
        junction,
        strict: false,
        config_nodes: Vec::new(),
        prov: dep.prov,
    };
    if dep.is_scalar() {
        d.dep_type = if default_type != 0 {
            default_type
        } else {
            DEP_ALL
        };
    } else if dep.is_map() {
        if default_type != 0 {
            dep.validate_keys(&["filename", "junction", "strict", "config"])?;
            d.dep_type = default_type;
        } else {
            dep.validate_keys(&["filename", "type", "junction", "strict", "config"])?;
            d.dep_type = match dep.get_str("type")? {
                None | Some("all") => DEP_ALL,
                Some("build") => DEP_BUILD,
                Some("runtime") => DEP_RUNTIME,
                Some(other) => {
                    let p = dep.get("type").map(|n| n.prov).unwrap_or(dep.prov);
                    return Err(invalid(format!(
                        "{p}: Dependency type '{other}' is not 'build', 'runtime' or 'all'"
                    )));
                }
            };
        }
        d.strict = dep.get_bool("strict", false)?;
        if let Some(config) = dep.get_mapping("config")? {
            if d.dep_type == DEP_RUNTIME {
                return Err(invalid(format!(
                    "{}: Specifying 'config' for a runtime dependency is not allowed",
                    config.prov
                )));
            }
            if config.as_map().is_some_and(|m| !m.is_empty()) {
                d.config_nodes.push(config.clone());
            }
        }
        if !d.strict && dep.get("strict").is_some() {
            let p = dep.get("strict").map(|n| n.prov).unwrap_or(dep.prov);
            return Err(invalid(format!(
                "{p}: Setting 'strict' to False is unsupported"
            )));
        }
    } else {
        return Err(invalid(format!(
            "{}: Dependency is not specified as a string or a dictionary",
            dep.prov
        )));
    }
    if d.strict && d.dep_type == DEP_RUNTIME {
        return Err(invalid(format!(
            "{}: Runtime dependency {} specified as `strict`.",
            dep.prov, d.name
        ))
        .with_detail("Only dependencies required at build time may be declared `strict`."));
    }
    Ok(d)
}

/// Extracts and merges `build-depends`, `runtime-depends` and `depends`, removing them from
/// the node.
fn extract_depends(node: &mut Node) -> Result<Vec<DepDecl>> {
    let mut acc: IndexMap<DepName, Dependency> = IndexMap::default();
    for (key, default_type) in [
        ("build-depends", DEP_BUILD),
        ("runtime-depends", DEP_RUNTIME),
        ("depends", 0u8),
    ] {
        if node.get_sequence(key)?.is_none() {
            continue;
        }
        let seq = node.remove(key).expect("just found");
        for dep_node in seq.as_seq().unwrap_or(&[]) {
            // All of a dependency's names are read before any is loaded (errors come in
            // BuildStream's order); most dependencies have one.
            let single: [DepName; 1];
            let list: Vec<DepName>;
            let files: &[DepName] = if dep_node.is_scalar() {
                single = [parse_dependency_filename(dep_node, None)?];
                &single
            } else if dep_node.is_map() {
                let junction = dep_node.get_arc_str("junction")?;
                let fnode = dep_node
                    .get("filename")
                    .ok_or_else(|| dep_node.missing_key("filename"))?;
                if fnode.is_scalar() {
                    single = [parse_dependency_filename(fnode, junction)?];
                    &single
                } else if let Some(items) = fnode.as_seq() {
                    let mut v = Vec::new();
                    for item in items {
                        if !item.is_scalar() {
                            return Err(invalid(format!(
                                "{}: Expected string while parsing the filename list",
                                item.prov
                            )));
                        }
                        v.push(parse_dependency_filename(item, junction)?);
                    }
                    list = v;
                    &list
                } else {
                    return Err(invalid(format!(
                        "{}: Value of 'filename' is not one of the following: list, scalar.",
                        fnode.prov
                    )));
                }
            } else {
                return Err(invalid(format!(
                    "{}: Dependency is not specified as a string or a dictionary",
                    dep_node.prov
                )));
            };
            for (junction, filename) in files {
                let dep =
                    load_dependency(dep_node, junction.clone(), filename.clone(), default_type)?;
                match acc.entry((junction.clone(), filename.clone())) {
                    indexmap::map::Entry::Occupied(mut e) => e.get_mut().merge(&dep),
                    indexmap::map::Entry::Vacant(e) => {
                        e.insert(dep);
                    }
                }
            }
        }
    }
    Ok(acc.into_values().map(|dep| DepDecl { dep }).collect())
}

impl ProjectHost for LoadContext {
    fn options(&mut self, project: ProjectId) -> Result<Arc<OptionPool>> {
        self.ensure_fully_loaded(project)?;
        Ok(self.projects[project]
            .second_pass
            .as_ref()
            .expect("fully loaded")
            .pass
            .options
            .clone())
    }

    fn load_include(
        &mut self,
        from: ProjectId,
        include: &Node,
    ) -> Result<(Node, PathBuf, ProjectId)> {
        let include_str = include.as_str().unwrap_or_default().to_owned();
        let (target, rel) = match include_str.rsplit_once(':') {
            Some((junction, rel)) => {
                let sub = self.get_loader(from, junction, Some(include.prov))?;
                self.ensure_fully_loaded(sub)?;
                (sub, rel.to_owned())
            }
            None => (from, include_str.clone()),
        };
        let file_path = self.metas[target].directory.join(&rel);
        let key = (target, file_path.clone(), target != from);
        if !self.include_cache.contains_key(&key) {
            let display = format!("{}{}", self.metas[target].display_prefix, include_str);
            let mut node = load_file(&file_path, &display).map_err(|e| {
                let detail = e.detail.clone();
                let mut n = LoadError::new(e.reason, format!("{}: {}", include.prov, e.message));
                n.detail = detail;
                n
            })?;
            if target != from {
                let mut vars_node = self.projects[target]
                    .second_pass
                    .as_ref()
                    .expect("fully loaded")
                    .pass
                    .base_variables
                    .clone();
                let vars = Variables::new(&mut vars_node)?;
                vars.expand(&mut node)?;
                // BuildStream copies the expanded nodes into new ones, which strip their values.
                node.strip_scalars();
            }
            self.include_cache.insert(key.clone(), node);
        }
        Ok((self.include_cache[&key].clone(), file_path, target))
    }
}

impl LoadContext {
    /// Loads the top-level project in `directory` (first pass only).
    pub fn new(directory: &Path, cli_options: Vec<(String, String)>) -> Result<LoadContext> {
        let directory =
            std::fs::canonicalize(directory).unwrap_or_else(|_| directory.to_path_buf());
        let mut ctx = LoadContext {
            projects: Vec::new(),
            elements: Vec::new(),
            loaders: Vec::new(),
            metas: Vec::new(),
            cli_options,
            include_cache: HashMap::default(),
            prefetched: Prefetched::default(),
            following_links: Vec::new(),
            junction_redundant_refs: Vec::new(),
        };
        ctx.add_project(directory, None, None, None)?;
        Ok(ctx)
    }

    fn add_project(
        &mut self,
        directory: PathBuf,
        junction: Option<JunctionConfig>,
        parent: Option<ProjectId>,
        provenance: Option<Provenance>,
    ) -> Result<ProjectId> {
        let id = self.projects.len();
        assert_eq!(id, self.metas.len());
        self.metas.push(ProjectMeta {
            directory: directory.clone(),
            element_path: directory.clone(),
            display_prefix: junction
                .as_ref()
                .map(|j| format!("{}:", j.name))
                .unwrap_or_default(),
        });
        self.loaders.push(ProjectLoader {
            parent,
            provenance,
            ..Default::default()
        });
        let cli = if junction.is_none() {
            self.cli_options.clone()
        } else {
            Vec::new()
        };
        let project = match Project::load_first_pass(self, id, directory, junction, &cli) {
            Ok(p) => p,
            Err(e) => {
                self.metas.pop();
                self.loaders.pop();
                return Err(e);
            }
        };
        self.metas[id].element_path = project.element_path.clone();
        self.projects.push(project);
        Ok(id)
    }

    /// The element directory a project declares (for expanding target globs before
    /// loading); the project directory itself if project.conf cannot tell.
    pub fn peek_element_path(project_dir: &Path) -> PathBuf {
        let conf = project_dir.join("project.conf");
        let rel = std::fs::read_to_string(conf)
            .ok()
            .and_then(|t| crate::yaml::parse_str(&t, crate::yaml::SYNTHETIC).ok())
            .and_then(|n| n.get_str("element-path").ok().flatten().map(str::to_owned))
            .unwrap_or_else(|| ".".to_owned());
        project_dir.join(rel)
    }

    /// Parses and processes ahead (in parallel) the files of `project` that `root` and the
    /// names pending for the project lead to. The project's second pass must be loaded.
    fn discover(&mut self, project: ProjectId, root: Option<&str>) {
        let Some(full) = self.projects[project].second_pass.as_ref() else {
            return;
        };
        let mut roots: Vec<String> = root.map(str::to_owned).into_iter().collect();
        let loaders = &self.loaders;
        self.prefetched.pending.retain(|r| {
            let to = match r.junction.is_empty() {
                true => Some(r.from),
                false => loaded_junction(loaders, r.from, &r.junction),
            };
            let here = to == Some(project);
            if here {
                roots.push(normpath(&r.element).into_owned());
            }
            !here
        });
        if roots.is_empty() {
            return;
        }
        let meta = &self.metas[project];
        let host = prefetch::AheadHost {
            project,
            directory: &meta.directory,
            display_prefix: &meta.display_prefix,
            options: &full.pass.options,
            cache: Default::default(),
        };
        self.prefetched.discover(&host, &meta.element_path, roots);
    }

    /// Runs a project's second pass if not done yet.
    pub fn ensure_fully_loaded(&mut self, project: ProjectId) -> Result<()> {
        self.load_second_pass(project, true)
    }

    /// [`Self::ensure_fully_loaded`]; `prefetch`: whether to parse the project's elements
    /// ahead (not once loading is over).
    fn load_second_pass(&mut self, project: ProjectId, prefetch: bool) -> Result<()> {
        if self.projects[project].second_pass.is_some() {
            return Ok(());
        }
        let snapshot = self.projects[project].clone_for_second_pass();
        let cli = if snapshot.junction.is_none() {
            self.cli_options.clone()
        } else {
            Vec::new()
        };
        let full = snapshot.load_second_pass(self, &cli)?;
        self.projects[project].second_pass = Some(full);
        if prefetch {
            self.discover(project, None);
        }
        Ok(())
    }

    /// Once loading is over: runs the second pass of every project loaded so far, in
    /// loading order, including those the second passes load (BuildStream's
    /// `Context.ensure_fully_loaded()`).
    pub fn ensure_all_fully_loaded(&mut self) -> Result<()> {
        let mut pid = 0;
        while pid < self.projects.len() {
            self.load_second_pass(pid, false)?;
            pid += 1;
        }
        Ok(())
    }

    /// Default targets of the top-level project: `defaults: targets:` or every element.
    pub fn default_targets(&self) -> Vec<String> {
        let p = &self.projects[0];
        if !p.default_targets.is_empty() {
            return p.default_targets.clone();
        }
        let mut out = crate::project::list_element_files(&p.element_path);
        out.sort();
        out
    }

    /// Loads `targets` (names relative to the top-level element path) and returns their ids.
    pub fn load(&mut self, targets: &[String]) -> Result<Vec<ElementId>> {
        for t in targets {
            if t.starts_with('/') {
                return Err(invalid(format!(
                    "Target '{t}' was not specified as a relative path to the base project directory: {}",
                    self.projects[0].element_path.display()
                )));
            }
        }
        // The targets are where discovery starts (see `prefetch`).
        for t in targets {
            self.prefetched.pending.push(prefetch::Reference::new(0, t));
        }
        let mut ids = Vec::new();
        for t in targets {
            let (_, name, loader) = self.parse_name(0, t, None)?;
            let id = self.load_file(loader, &name, None)?;
            ids.push(id);
        }
        // Files parsed ahead of time but never loaded are no longer needed: freed on a worker
        // thread while this one goes on.
        self.prefetched.discard();
        self.check_circular(&ids)?;
        self.sort_dependencies(&ids);
        Ok(ids)
    }

    fn parse_name(
        &mut self,
        pid: ProjectId,
        name: &str,
        prov: Option<Provenance>,
    ) -> Result<(Option<String>, String, ProjectId)> {
        match name.rsplit_once(':') {
            None => Ok((None, normpath(name).into_owned(), pid)),
            Some((junction, element)) => {
                let loader = self.get_loader(pid, junction, prov)?;
                Ok((
                    Some(junction.to_owned()),
                    normpath(element).into_owned(),
                    loader,
                ))
            }
        }
    }

    /// Resolves a (possibly nested, `a.bst:b.bst`) junction path from project `pid`.
    pub fn get_loader(
        &mut self,
        pid: ProjectId,
        name: &str,
        prov: Option<Provenance>,
    ) -> Result<ProjectId> {
        // Junctions already resolved (they cannot be being searched for then).
        if let Some(loader) = loaded_junction(&self.loaders, pid, name) {
            return Ok(loader);
        }
        if let Some(p) = prov {
            if let Some(circ) = self.loaders[pid].searching.get(name).copied() {
                let mut e = LoadError::new(
                    LoadErrorReason::CircularReference,
                    format!("{p}: Circular reference while searching for '{name}'"),
                );
                if circ != p {
                    e = e.with_detail(format!("Already searching for '{name}' at: {circ}"));
                }
                return Err(e);
            }
            self.loaders[pid].searching.insert(name.to_owned(), p);
        }
        let mut loader = pid;
        let mut result = Ok(());
        for junction_name in name.split(':') {
            match self.get_one_loader(loader, junction_name, prov) {
                Ok(l) => loader = l,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if prov.is_some() {
            self.loaders[pid].searching.remove(name);
        }
        result.map(|_| loader)
    }

    fn get_one_loader(
        &mut self,
        pid: ProjectId,
        filename: &str,
        prov: Option<Provenance>,
    ) -> Result<ProjectId> {
        if let Some(&l) = self.loaders[pid].loaders.get(filename) {
            return Ok(l);
        }
        let prov_str = prov.map(|p| format!("{p}: ")).unwrap_or_default();
        if let Some(l) = self.search_for_override_loader(pid, filename)? {
            self.loaders[pid].loaders.insert(filename.to_owned(), l);
            return Ok(l);
        }
        self.load_file(pid, filename, prov)?;
        let filename_n = normpath(filename);
        let eid = self.loaders[pid].elements[filename_n.as_ref()];
        if let Some(target) = self.elements[eid].link_target.clone() {
            let (_, tname, tloader) =
                self.parse_name(pid, target.as_str().unwrap_or_default(), Some(target.prov))?;
            return self.get_loader(tloader, &tname, Some(target.prov));
        }
        let el = &self.elements[eid];
        if el.kind.as_deref() != Some("junction") {
            return Err(invalid(format!(
                "{prov_str}{filename}: Expected junction but element kind is {}",
                el.kind.as_deref().unwrap_or("None")
            )));
        }
        if let Some(d) = el
            .declared
            .first()
            .map(|d| d.dep.prov)
            .or(el.deps.first().map(|d| d.prov))
        {
            return Err(LoadError::new(
                LoadErrorReason::InvalidJunction,
                format!("{d}: Dependencies are forbidden for 'junction' elements"),
            ));
        }
        // A junction whose project (or a project it leads to) is an ancestor's directory
        // nests projects without end: BuildStream recurses until Python's limit. It loads a
        // finite chain of 700 nested junctions (measured); bst-rs allows 1,000.
        let depth = std::iter::successors(Some(pid), |&p| self.loaders[p].parent).count();
        if depth >= MAX_JUNCTION_NESTING {
            return Err(LoadError::new(
                LoadErrorReason::CircularReference,
                "RecursionError: Dependency depth is too large. Maximum recursion depth exceeded.",
            )
            .with_detail(format!(
                "{prov_str}junction '{filename}' of project '{}' nests projects {depth} deep",
                self.projects[pid].name
            )));
        }
        crate::element::validate_first_pass(self, eid)?;
        let junction = self.configure_junction(eid)?;
        let subdir = self.junction_source_dir(eid, &prov_str, filename)?;
        let project_dir = if junction.path.is_empty() {
            subdir
        } else {
            subdir.join(&junction.path)
        };
        let jname = junction.name.clone();
        let jpath = junction.path.clone();
        let sub = match self.add_project(project_dir, Some(junction), Some(pid), prov) {
            Ok(s) => s,
            Err(e) if e.reason == LoadErrorReason::MissingProjectConf => {
                let mut message = format!(
                    "{prov_str}Could not find the project.conf file in the project referred to by junction element '{jname}'."
                );
                if !jpath.is_empty() {
                    message.push_str(&format!(
                        " Was expecting it at path '{jpath}' in the junction's source."
                    ));
                }
                return Err(LoadError::new(LoadErrorReason::InvalidJunction, message));
            }
            Err(e) => return Err(e),
        };
        self.loaders[pid].loaders.insert(filename.to_owned(), sub);
        // The elements that override the subproject's are loaded from this project when the
        // subproject's dependencies are: discovery starts from them too.
        if let Some(j) = &self.projects[sub].junction {
            for target in j.overrides.values().filter_map(Node::as_str) {
                self.prefetched
                    .pending
                    .push(prefetch::Reference::new(pid, target));
            }
        }
        // BuildStream then shallow-loads the paths that the junctions of the new project and
        // of its ancestors override, so that links among them are known before any override
        // is looked up (`Loader._shallow_load_overrides`).
        let mut iter = sub;
        while let Some(parent) = self.loaders[iter].parent {
            self.shallow_load_overrides(iter)?;
            iter = parent;
        }
        Ok(sub)
    }

    /// Shallow-loads each path that the junction of project `pid` overrides, following links.
    fn shallow_load_overrides(&mut self, pid: ProjectId) -> Result<()> {
        let Some(junction) = &self.projects[pid].junction else {
            return Ok(());
        };
        let overrides: Vec<(String, Provenance)> = junction
            .overrides
            .iter()
            .map(|(path, target)| (path.clone(), target.prov))
            .collect();
        for (path, prov) in overrides {
            let mut next = Some((path, prov));
            while let Some((path, prov)) = next {
                next = self.shallow_load_path(pid, &path, prov)?;
            }
        }
        Ok(())
    }

    /// BuildStream's `Loader._shallow_load_path`: reads the element at `path` (within project
    /// `pid`, or an already loaded subproject) as far as its `kind`, loading it only if it is
    /// a link or a junction; a link's target is returned (with its provenance) to be read in
    /// turn. A missing file is an error at `prov`.
    fn shallow_load_path(
        &mut self,
        pid: ProjectId,
        path: &str,
        prov: Provenance,
    ) -> Result<Option<(String, Provenance)>> {
        let (junction, name) = match path.rsplit_once(':') {
            Some((j, n)) => (Some(j), n),
            None => (None, path),
        };
        // Only a subproject loaded already (`load_subprojects=False`).
        let target = match junction {
            None => Some(pid),
            Some(j) => loaded_junction(&self.loaders, pid, j),
        };
        let Some(target) = target else {
            return Ok(None);
        };
        let name = normpath(name).into_owned();
        let id = match self.loaders[target].elements.get(&name) {
            Some(&id) => id,
            None => {
                let element_path = self.metas[target].element_path.clone();
                let display = format!("{}{}", self.metas[target].display_prefix, name);
                let kind = match Parsed::load(&element_path.join(&name), &display) {
                    // The loader's own error names the missing element.
                    Err(e) if e.reason == LoadErrorReason::MissingFile => None,
                    Err(e) => return Err(e),
                    Ok(parsed) => {
                        if parsed.node.get("kind").is_none() {
                            return Err(parsed.node.missing_key("kind"));
                        }
                        Some(parsed.node.get_str("kind")?.map(str::to_owned))
                    }
                };
                let first_pass = match &kind {
                    None => true,
                    Some(k) => matches!(k.as_deref(), Some("link" | "junction")),
                };
                if !first_pass {
                    return Ok(None);
                }
                self.load_file_no_deps(target, &name, Some(prov))?
            }
        };
        Ok(self.elements[id].link_target.as_ref().map(|t| {
            let t_str = t.as_str().unwrap_or_default();
            match junction {
                Some(j) => (format!("{j}:{t_str}"), t.prov),
                None => (t_str.to_owned(), t.prov),
            }
        }))
    }

    /// How project `pid` was loaded, as BuildStream's session heading describes each loaded
    /// project (`_ProjectInformation`).
    pub fn project_origin(&self, pid: ProjectId) -> ProjectOrigin {
        let name = &self.projects[pid].name;
        let mut duplicates = Vec::new();
        let mut internal = Vec::new();
        for ancestor in self.ancestors(pid) {
            let (dups, ints) = junction_declarations(&self.projects[ancestor], name);
            let names = |paths: &[String]| {
                paths
                    .iter()
                    .any(|path| self.lookup_loader(ancestor, path, 0) == Some(pid))
            };
            if names(&dups) {
                duplicates.push(self.loader_display(ancestor));
            }
            if names(&ints) {
                internal.push(self.loader_display(ancestor));
            }
        }
        ProjectOrigin {
            loaded_by: self.loaders[pid].provenance,
            duplicates,
            internal,
        }
    }

    /// BuildStream's `LoadContext.assert_loaders`, run once everything is loaded and
    /// resolved: a project name loaded in several places is an error unless each instance
    /// but one is internal to a project that loads it, or every instance not internal is
    /// declared a duplicate (`junctions:` in project.conf).
    pub fn assert_loaders(&self) -> Result<()> {
        // By project name, in the order the names were first loaded.
        let mut groups: indexmap::IndexMap<&str, Vec<ProjectId>> = indexmap::IndexMap::new();
        for (pid, project) in self.projects.iter().enumerate() {
            groups.entry(project.name.as_str()).or_default().push(pid);
        }
        for (name, pids) in groups.into_iter().filter(|(_, pids)| pids.len() > 1) {
            let origins: Vec<ProjectOrigin> =
                pids.iter().map(|&p| self.project_origin(p)).collect();
            let primary = origins
                .iter()
                .filter(|o| o.duplicates.is_empty() && o.internal.is_empty())
                .count();
            let duplicated = origins.iter().any(|o| !o.duplicates.is_empty());
            if primary > 1 || (primary > 0 && duplicated) {
                let lines: Vec<String> = pids
                    .iter()
                    .zip(&origins)
                    .map(|(&pid, origin)| {
                        let mut line = format!("{}\n", self.loader_display(pid));
                        for d in &origin.duplicates {
                            line += &format!("  Duplicated by: {d}\n");
                        }
                        for i in &origin.internal {
                            line += &format!("  Internal to: {i}\n");
                        }
                        line
                    })
                    .collect();
                let detail = format!(
                    "{}\nInternal projects do not cause any conflicts. Conflicts can also be avoided\nby marking every instance of the project as a duplicate.",
                    lines.join("\n")
                );
                return Err(LoadError::new(
                    LoadErrorReason::ConflictingJunction,
                    format!("Project '{name}' was loaded in multiple contexts"),
                )
                .with_detail(detail));
            }
        }
        Ok(())
    }

    /// BuildStream's `Loader.ancestors()`: the parent chain, then the chains of the parents
    /// an override replaced, each loader once.
    fn ancestors(&self, pid: ProjectId) -> Vec<ProjectId> {
        let mut out: Vec<ProjectId> = Vec::new();
        let starts = std::iter::once(self.loaders[pid].parent).chain(
            self.loaders[pid]
                .alternative_parents
                .iter()
                .map(|&p| Some(p)),
        );
        for start in starts {
            let mut next = start;
            while let Some(p) = next {
                if out.contains(&p) {
                    break;
                }
                out.push(p);
                next = self.loaders[p].parent;
            }
        }
        out
    }

    /// `str()` of BuildStream's loader of project `pid`: `name (toplevel)`, or `name
    /// (junction)` followed by what loaded it.
    pub fn loader_display(&self, pid: ProjectId) -> String {
        let p = &self.projects[pid];
        match (&p.junction, self.loaders[pid].provenance) {
            (None, _) => format!("{} (toplevel)", p.name),
            (Some(j), Some(prov)) => format!("{} ({}): {prov}", p.name, j.full_name),
            (Some(j), None) => format!("{} ({})", p.name, j.full_name),
        }
    }

    /// The loader a junction path (`a.bst:b.bst`) names from project `pid`, among those
    /// already loaded (BuildStream's `get_loader(..., load_subprojects=False)` once loading
    /// is done): junctions, overrides and links to junctions are followed.
    fn lookup_loader(&self, pid: ProjectId, path: &str, depth: usize) -> Option<ProjectId> {
        // Links form no cycles once loaded; the bound only guards against the impossible.
        if depth > 64 {
            return None;
        }
        let mut loader = pid;
        for name in path.split(':') {
            loader = match self.loaders[loader].loaders.get(name) {
                Some(&l) => l,
                None => {
                    let eid = *self.loaders[loader].elements.get(normpath(name).as_ref())?;
                    let target = self.elements[eid].link_target.as_ref()?.as_str()?;
                    self.lookup_loader(loader, target, depth + 1)?
                }
            };
        }
        Some(loader)
    }

    /// Directory of a junction's subproject: its single `local` source, else its sources
    /// staged (see [`junction`]).
    fn junction_source_dir(
        &mut self,
        eid: ElementId,
        prov_str: &str,
        filename: &str,
    ) -> Result<PathBuf> {
        let el = &self.elements[eid];
        let sources = el.node.get_sequence("sources")?.cloned();
        let items = sources.as_ref().and_then(|s| s.as_seq()).unwrap_or(&[]);
        if items.len() == 1 && items[0].get_str("kind")? == Some("local") {
            let path = items[0].req_str("path")?;
            return Ok(self.projects[el.project].directory.join(path));
        }
        if items.is_empty() {
            // BuildStream stages nothing and then finds no project.conf there.
            let _ = (prov_str, filename);
            return Ok(self.projects[el.project]
                .directory
                .join(".bst/staged-junctions/empty-junction-without-sources"));
        }
        junction::staged_sources(self, eid, filename, prov_str)
    }

    /// Composes and validates a junction element's configuration.
    fn configure_junction(&mut self, eid: ElementId) -> Result<JunctionConfig> {
        let el = self.elements[eid].clone();
        let project = &self.projects[el.project];
        let mut vars_node = project.first_pass.base_variables.clone();
        vars_node.insert(
            "element-name",
            Node::scalar(el.name.as_str(), Provenance::synthetic()),
        );
        let vars = Variables::new(&mut vars_node)?;
        let mut config = el
            .node
            .get_mapping("config")?
            .cloned()
            .unwrap_or_else(|| Node::empty_map(Provenance::synthetic()));
        vars.expand(&mut config)?;
        config.validate_keys(&["path", "options", "overrides", "aliases", "map-aliases"])?;
        let path = config.get_str("path")?.unwrap_or("").to_owned();
        let options = config
            .get_mapping("options")?
            .cloned()
            .unwrap_or_else(|| Node::empty_map(Provenance::synthetic()));
        let mut overrides = IndexMap::default();
        if let Some(o) = config.get_mapping("overrides")? {
            for (k, v) in o.as_map().into_iter().flatten() {
                let target = o.req_str(k)?;
                if target == el.name {
                    return Err(LoadError::new(
                        LoadErrorReason::PluginConfig,
                        format!(
                            "{}: Attempt to override subproject junction '{k}' with the overriding junction '{target}' itself",
                            v.prov
                        ),
                    ));
                }
                overrides.insert(k.to_string(), v.clone());
            }
        }
        let aliases = config
            .get_mapping("aliases")?
            .cloned()
            .unwrap_or_else(|| Node::empty_map(Provenance::synthetic()));
        let map_aliases_identity = match config.get_str("map-aliases")? {
            None | Some("none") => false,
            Some("identity") => true,
            Some(_) => {
                let p = config
                    .get("map-aliases")
                    .map(|n| n.prov)
                    .unwrap_or(config.prov);
                return Err(invalid(format!(
                    "{p}: Value of 'map-aliases' should be one of 'none, identity'"
                )));
            }
        };
        Ok(JunctionConfig {
            name: el.name.clone(),
            full_name: el.full_name.clone(),
            parent: el.project,
            path,
            options,
            overrides,
            aliases,
            map_aliases_identity,
            display: format!("junction element at {}", el.node.prov),
            parent_disallows_uris: self.projects[el.project].disallow_subproject_uris,
        })
    }

    fn expand_link(&self, pid: ProjectId, path: &str) -> String {
        for (link, target) in &self.loaders[pid].links {
            if let Some(rest) = path.strip_prefix(link.as_str()) {
                return format!("{target}{rest}");
            }
        }
        path.to_owned()
    }

    fn resolve_link(&mut self, pid: ProjectId, link_path: &str, target_path: &str) {
        let links = &mut self.loaders[pid].links;
        links.insert(link_path.to_owned(), target_path.to_owned());
        let snapshot: Vec<(String, String)> =
            links.iter().map(|(a, b)| (a.clone(), b.clone())).collect();
        for (cached_link, cached_target) in snapshot {
            if self.expand_link(pid, &cached_target) == link_path {
                self.loaders[pid]
                    .links
                    .insert(cached_link, target_path.to_owned());
            }
        }
    }

    fn search_for_local_override(&self, pid: ProjectId, override_path: &str) -> Option<Node> {
        let junction = self.projects.get(pid)?.junction.as_ref()?;
        if let Some(n) = junction.overrides.get(override_path) {
            return Some(n.clone());
        }
        if self.loaders[pid].links.is_empty() {
            // Without links every key expands to itself: only the exact match counts.
            return None;
        }
        for (key, node) in &junction.overrides {
            if self.link_expands_to(pid, key, override_path) {
                return Some(node.clone());
            }
        }
        None
    }

    /// Whether `expand_link(pid, path) == expanded`, without building the expansion.
    fn link_expands_to(&self, pid: ProjectId, path: &str, expanded: &str) -> bool {
        for (link, target) in &self.loaders[pid].links {
            if let Some(rest) = path.strip_prefix(link.as_str()) {
                return expanded.strip_prefix(target.as_str()) == Some(rest);
            }
        }
        path == expanded
    }

    fn search_for_overrides(&self, pid: ProjectId, filename: &str) -> Vec<(ProjectId, Node)> {
        let mut out = Vec::new();
        let mut loader = pid;
        let mut path = Cow::Borrowed(filename);
        while let Some(parent) = self.loaders[loader].parent {
            if let Some(node) = self.search_for_local_override(loader, &path) {
                out.push((parent, node));
            }
            if self.loaders[parent].parent.is_none() {
                break;
            }
            let junction_name = self.projects[loader]
                .junction
                .as_ref()
                .map_or("", |j| j.name.as_str());
            path = Cow::Owned(format!("{junction_name}:{path}"));
            loader = parent;
        }
        out
    }

    fn search_for_override_loader(
        &mut self,
        pid: ProjectId,
        filename: &str,
    ) -> Result<Option<ProjectId>> {
        let mut overriding = self.search_for_overrides(pid, filename);
        let Some((oloader, onode)) = overriding.pop() else {
            return Ok(None);
        };
        let l = self.get_loader(
            oloader,
            onode.as_str().unwrap_or_default(),
            Some(onode.prov),
        )?;
        if l != pid {
            self.loaders[l].alternative_parents.push(pid);
        }
        for (x, _) in overriding {
            self.loaders[l].alternative_parents.push(x);
        }
        Ok(Some(l))
    }

    fn search_for_override_element(
        &mut self,
        pid: ProjectId,
        filename: &str,
    ) -> Result<Option<ElementId>> {
        let mut overriding = self.search_for_overrides(pid, filename);
        let Some((oloader, onode)) = overriding.pop() else {
            return Ok(None);
        };
        let (_, name, loader) = self.parse_name(
            oloader,
            onode.as_str().unwrap_or_default(),
            Some(onode.prov),
        )?;
        self.load_file(loader, &name, Some(onode.prov)).map(Some)
    }

    fn assert_element_name(filename: &str, prov: Option<Provenance>) -> Result<()> {
        let (msg, reason) = if !filename.ends_with(".bst") {
            (
                format!("Element '{filename}' does not have expected file extension `.bst`"),
                LoadErrorReason::BadElementSuffix,
            )
        } else if filename
            .chars()
            .any(|c| (c as u32) <= 31 || (c as u32) >= 127 || "<>\"|?*".contains(c))
        {
            (
                format!("Element '{filename}' has invalid characters."),
                LoadErrorReason::BadCharactersInName,
            )
        } else {
            return Ok(());
        };
        let msg = match prov {
            Some(p) => format!("{p}: {msg}"),
            None => msg,
        };
        Err(LoadError::new(reason, msg))
    }

    fn load_file_no_deps(
        &mut self,
        pid: ProjectId,
        filename: &str,
        prov: Option<Provenance>,
    ) -> Result<ElementId> {
        Self::assert_element_name(filename, prov)?;
        let element_path = self.metas[pid].element_path.clone();
        let fullpath = element_path.join(filename);
        if !self.prefetched.seen(&fullpath) {
            if self.projects[pid].second_pass.is_some() {
                self.discover(pid, Some(filename));
            } else {
                // Discovery starts from it once the project's options are known.
                self.prefetched
                    .pending
                    .push(prefetch::Reference::new(pid, filename));
            }
        }
        let display = format!("{}{}", self.metas[pid].display_prefix, filename);
        let loaded = match self.prefetched.take(&fullpath, pid) {
            Some(parsed) => Ok(parsed),
            None => Parsed::load(&fullpath, &display),
        };
        let Parsed {
            mut node,
            directives,
            processed,
            declared,
        } = loaded.map_err(|e| {
            if e.reason != LoadErrorReason::MissingFile {
                return e;
            }
            let mut message = match &self.projects[pid].junction {
                Some(j) => format!(
                    "Could not find element '{filename}' in project referred to by junction element '{}'",
                    j.name
                ),
                None => format!(
                    "Could not find element '{filename}' in elements directory '{}'",
                    element_path.display()
                ),
            };
            if let Some(p) = prov {
                message = format!("{p}: {message}");
            }
            let mut err = LoadError::new(LoadErrorReason::MissingFile, message);
            let project_dir = &self.projects[pid].directory;
            if let Ok(elements_dir) = element_path.strip_prefix(project_dir) {
                let ed = elements_dir.to_string_lossy();
                if !ed.is_empty() {
                    if let Some(rel) = filename.strip_prefix(&format!("{ed}/")) {
                        if element_path.join(rel).exists() {
                            err = err.with_detail(format!("Did you mean '{rel}'?"));
                        }
                    }
                }
            }
            err
        })?;
        // BuildStream reads `kind` as soon as the file is parsed (before its conditionals
        // and includes are processed, and before its dependencies are loaded): every
        // element must declare it, and it decides how the file is processed.
        if node.get("kind").is_none() {
            return Err(node.missing_key("kind"));
        }
        if matches!(node.get_str("kind")?, Some("junction" | "link")) {
            let pool = self.projects[pid].first_pass.options.clone();
            pool.process_node(&mut node, &[])?;
        } else {
            self.ensure_fully_loaded(pid)?;
            if directives && !processed {
                includes::process(self, &mut node, pid, false, true)?;
            }
        }
        // The element's kind is the processed file's: a conditional or an include may set
        // it (`LoadElement` reads it after the loader's processing).
        let kind = node.get_str("kind")?.map(str::to_owned);
        let first_pass = matches!(kind.as_deref(), Some("junction" | "link"));
        node.validate_keys(VALID_ELEMENT_KEYS)?;
        let description = node.get_str("description")?.map(str::to_owned);
        let full_name = match &self.projects[pid].junction {
            Some(j) => format!("{}:{filename}", j.full_name),
            None => filename.to_owned(),
        };
        let mut link_target = None;
        if kind.as_deref() == Some("link") {
            let project = &self.projects[pid];
            let mut vars_node = project.first_pass.base_variables.clone();
            vars_node.insert(
                "element-name",
                Node::scalar(filename, Provenance::synthetic()),
            );
            let vars = Variables::new(&mut vars_node)?;
            let mut config = node
                .get_mapping("config")?
                .cloned()
                .unwrap_or_else(|| Node::empty_map(Provenance::synthetic()));
            vars.expand(&mut config)?;
            config.validate_keys(&["target"])?;
            let target = config
                .get("target")
                .ok_or_else(|| config.missing_key("target"))?;
            if !target.is_scalar() {
                return Err(invalid(format!(
                    "{}: Value of 'target' is not of the expected type 'scalar'",
                    target.prov
                )));
            }
            link_target = Some(target.clone());
        }
        let link_node = link_target.is_some().then(|| node.clone());
        let id = self.elements.len();
        self.elements.push(LoadElement {
            name: filename.to_owned(),
            full_name,
            project: pid,
            node,
            kind,
            description,
            first_pass,
            link_target: link_target.clone(),
            deps: Vec::new(),
            fully_loaded: false,
            extracted: declared.is_some(),
            declared: declared.unwrap_or_default(),
        });
        if let Some(mut node) = link_node {
            // BuildStream instantiates every link element as it loads it, then refuses its
            // dependencies (which the element did not read).
            let checked = crate::element::validate_first_pass(self, id).and_then(|()| {
                if extract_depends(&mut node)?.is_empty() {
                    return Ok(());
                }
                Err(LoadError::new(
                    LoadErrorReason::LinkForbiddenDependencies,
                    format!(
                        "link element at {}: Dependencies are forbidden for 'link' elements",
                        node.prov
                    ),
                ))
            });
            if let Err(e) = checked {
                self.elements.pop();
                return Err(e);
            }
        }
        self.loaders[pid].elements.insert(filename.to_owned(), id);
        if let Some(target) = link_target {
            let mut link_path = filename.to_owned();
            let mut target_path = target.as_str().unwrap_or_default().to_owned();
            self.resolve_link(pid, &link_path, &target_path);
            let mut loader = pid;
            while let Some(parent) = self.loaders[loader].parent {
                let jname = self.projects[loader]
                    .junction
                    .as_ref()
                    .map(|j| j.name.clone())
                    .unwrap_or_default();
                link_path = format!("{jname}:{link_path}");
                target_path = format!("{jname}:{target_path}");
                loader = parent;
                self.resolve_link(loader, &link_path, &target_path);
            }
        }
        Ok(id)
    }

    fn load_one_file(
        &mut self,
        pid: ProjectId,
        filename: &str,
        prov: Option<Provenance>,
    ) -> Result<ElementId> {
        let filename = normpath(filename);
        let id = match self.loaders[pid].elements.get(filename.as_ref()) {
            Some(&id) => {
                if self.elements[id].fully_loaded {
                    return Ok(id);
                }
                id
            }
            None => self.load_file_no_deps(pid, &filename, prov)?,
        };
        if let Some(o) = self.search_for_override_element(pid, &filename)? {
            return Ok(o);
        }
        if let Some(target) = self.elements[id].link_target.clone() {
            let (_, name, loader) =
                self.parse_name(pid, target.as_str().unwrap_or_default(), Some(target.prov))?;
            // A link that leads back to itself before reaching an element: BuildStream
            // recurses until Python's limit. (A link met again while the dependencies of the
            // element it leads to are loaded leads to that element, already fully loaded.)
            let chain = self.following_links.rsplit(|&l| l == LOADING_DEPENDENCIES);
            if chain.into_iter().next().is_some_and(|c| c.contains(&id)) {
                return Err(LoadError::new(
                    LoadErrorReason::CircularReference,
                    "RecursionError: Dependency depth is too large. Maximum recursion depth exceeded.",
                )
                .with_detail(format!(
                    "{}: link '{}' leads back to itself",
                    target.prov, self.elements[id].full_name
                )));
            }
            self.following_links.push(id);
            let r = self.load_file(loader, &name, Some(target.prov));
            self.following_links.pop();
            return r;
        }
        Ok(id)
    }

    fn load_file(
        &mut self,
        pid: ProjectId,
        filename: &str,
        prov: Option<Provenance>,
    ) -> Result<ElementId> {
        let top = self.load_one_file(pid, filename, prov)?;
        if self.elements[top].fully_loaded {
            return Ok(top);
        }
        self.mark_fully_loaded(top)?;
        self.following_links.push(LOADING_DEPENDENCIES);
        let loaded = self.load_dependencies(top);
        self.following_links.pop();
        loaded.map(|()| top)
    }

    /// The loop of [`Self::load_file`] over the dependencies of `top` (just marked fully
    /// loaded), and theirs within the same project.
    fn load_dependencies(&mut self, top: ElementId) -> Result<()> {
        // Stack of (element, remaining declarations reversed, element -> index in deps).
        let mut queue: Vec<(ElementId, Vec<DepDecl>, HashMap<ElementId, usize>)> = Vec::new();
        let mut decls = std::mem::take(&mut self.elements[top].declared);
        decls.reverse();
        queue.push((top, decls, HashMap::default()));
        while let Some(last) = queue.last_mut() {
            let Some(decl) = last.1.pop() else {
                queue.pop();
                continue;
            };
            let current = last.0;
            let cur_pid = self.elements[current].project;
            let mut dep = decl.dep;
            let dep_element = if let Some(j) = dep.junction.clone() {
                let loader = self.get_loader(cur_pid, &j, Some(dep.prov))?;
                self.load_file(loader, &dep.name, Some(dep.prov))?
            } else {
                let de = self.load_one_file(cur_pid, &dep.name, Some(dep.prov))?;
                if !self.elements[de].fully_loaded {
                    self.mark_fully_loaded(de)?;
                    let mut dd = std::mem::take(&mut self.elements[de].declared);
                    dd.reverse();
                    queue.push((de, dd, HashMap::default()));
                    if self.elements[de].kind.as_deref() == Some("junction") {
                        return Err(invalid(format!("{}: Cannot depend on junction", dep.prov)));
                    }
                }
                de
            };
            dep.element = dep_element;
            // `queue` may have grown; find the entry of `current` again.
            let entry = queue
                .iter_mut()
                .rev()
                .find(|(e, _, _)| *e == current)
                .expect("current element is on the stack");
            match entry.2.get(&dep_element) {
                Some(&idx) => self.elements[current].deps[idx].merge(&dep),
                None => {
                    let idx = self.elements[current].deps.len();
                    self.elements[current].deps.push(dep);
                    entry.2.insert(dep_element, idx);
                }
            }
        }
        Ok(())
    }

    fn mark_fully_loaded(&mut self, id: ElementId) -> Result<()> {
        let el = &mut self.elements[id];
        el.fully_loaded = true;
        if el.extracted {
            return Ok(());
        }
        let mut node = std::mem::replace(&mut el.node, Node::empty_map(Provenance::synthetic()));
        let decls = extract_depends(&mut node);
        let el = &mut self.elements[id];
        el.node = node;
        el.declared = decls?;
        Ok(())
    }

    fn check_circular(&self, targets: &[ElementId]) -> Result<()> {
        // Iterative DFS from a virtual root depending on all targets.
        let mut validated = vec![false; self.elements.len()];
        let mut on_stack = vec![false; self.elements.len()];
        let children = |id: Option<ElementId>| -> Vec<ElementId> {
            match id {
                None => targets.to_vec(),
                Some(i) => self.elements[i].deps.iter().map(|d| d.element).collect(),
            }
        };
        let mut sequence: Vec<Option<ElementId>> = vec![None];
        let mut indices: Vec<usize> = vec![0];
        while let Some(&this) = sequence.last() {
            let idx = *indices.last().expect("parallel stacks");
            let kids = children(this);
            if idx < kids.len() {
                let e = kids[idx];
                *indices.last_mut().expect("parallel stacks") += 1;
                if on_stack[e] {
                    let start = sequence.iter().position(|s| *s == Some(e)).unwrap_or(0);
                    let mut chain: Vec<&str> = sequence[start..]
                        .iter()
                        .flatten()
                        .map(|&i| self.elements[i].full_name.as_str())
                        .collect();
                    chain.push(&self.elements[e].full_name);
                    return Err(LoadError::new(
                        LoadErrorReason::CircularDependency,
                        format!(
                            "Circular dependency detected at element: {}\nDependency chain: {}",
                            self.elements[e].full_name,
                            chain.join(" -> ")
                        ),
                    ));
                }
                if !validated[e] {
                    sequence.push(Some(e));
                    indices.push(0);
                    on_stack[e] = true;
                }
            } else {
                sequence.pop();
                indices.pop();
                if let Some(i) = this {
                    on_stack[i] = false;
                    validated[i] = true;
                }
            }
        }
        Ok(())
    }

    /// Transitive dependency sets (any type) of everything reachable from `roots`, as
    /// bitsets indexed by element id, computed bottom-up and memoised in `sets`.
    fn depends_sets(&self, roots: &[ElementId], sets: &mut Vec<Option<FixedBitSet>>) {
        let n = self.elements.len();
        sets.resize(n, None);
        let mut stack: Vec<(ElementId, bool)> = roots.iter().map(|&r| (r, false)).collect();
        while let Some((id, expanded)) = stack.pop() {
            if sets[id].is_some() {
                continue;
            }
            if expanded {
                let mut s = FixedBitSet::with_capacity(n);
                for d in &self.elements[id].deps {
                    s.insert(d.element);
                    if let Some(ds) = &sets[d.element] {
                        s.union_with(ds);
                    }
                }
                sets[id] = Some(s);
            } else {
                stack.push((id, true));
                for d in &self.elements[id].deps {
                    if sets[d.element].is_none() {
                        stack.push((d.element, false));
                    }
                }
            }
        }
    }

    /// Sorts the dependencies of every element reachable from `roots` with BuildStream's
    /// comparator. Each list's order depends only on the transitive dependency sets, so the
    /// lists are sorted in parallel.
    fn sort_dependencies(&mut self, roots: &[ElementId]) {
        let mut sets = Vec::new();
        self.depends_sets(roots, &mut sets);
        let mut lists: Vec<(ElementId, Vec<Dependency>)> = sets
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(id, _)| (id, std::mem::take(&mut self.elements[id].deps)))
            .collect();
        let elements = &self.elements;
        let projects = &self.projects;
        lists.par_iter_mut().for_each(|(_, deps)| {
            listsort::list_sort(deps, |a, b| {
                dependency_cmp(elements, projects, &sets, a, b) == std::cmp::Ordering::Less
            });
        });
        for (id, deps) in lists {
            self.elements[id].deps = deps;
        }
    }
}

/// BuildStream's (non-transitive) dependency comparator.
fn dependency_cmp(
    elements: &[LoadElement],
    projects: &[Project],
    sets: &[Option<FixedBitSet>],
    a: &Dependency,
    b: &Dependency,
) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    let depends = |x: ElementId, y: ElementId| sets[x].as_ref().is_some_and(|s| s.contains(y));
    if depends(a.element, b.element) {
        return Greater;
    }
    if depends(b.element, a.element) {
        return Less;
    }
    if a.dep_type != b.dep_type {
        if a.dep_type == DEP_RUNTIME {
            return Greater;
        } else if b.dep_type == DEP_RUNTIME {
            return Less;
        }
    }
    let ea = &elements[a.element];
    let eb = &elements[b.element];
    match ea.name.cmp(&eb.name) {
        Equal => {}
        o => return o,
    }
    let ja = projects[ea.project]
        .junction
        .as_ref()
        .map(|j| j.name.as_str());
    let jb = projects[eb.project]
        .junction
        .as_ref()
        .map(|j| j.name.as_str());
    match (ja, jb) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => Less,
        (None, Some(_)) => Greater,
        (None, None) => Equal,
    }
}

/// How a project came to be loaded (see [`LoadContext::project_origin`]).
#[derive(Debug, Default)]
pub struct ProjectOrigin {
    /// The dependency or override that made its junction load it.
    pub loaded_by: Option<Provenance>,
    /// The loaders whose projects declare it a duplicate (`junctions: duplicates:`).
    pub duplicates: Vec<String>,
    /// The loaders whose projects declare it internal (`junctions: internal:`).
    pub internal: Vec<String>,
}

/// `project`'s `junctions:` declarations about projects named `name`: the junction paths
/// it declares duplicates of that name, and those it declares internal. They are read from
/// project.conf as written (options and includes do not apply, as in BuildStream);
/// entries that are not strings name nothing.
fn junction_declarations(project: &Project, name: &str) -> (Vec<String>, Vec<String>) {
    let strings = |n: Option<&Node>| -> Vec<String> {
        n.and_then(Node::as_seq)
            .unwrap_or(&[])
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect()
    };
    let junctions = project.raw_conf.get("junctions");
    let duplicates = junctions
        .and_then(|j| j.get("duplicates"))
        .and_then(|d| d.get(name));
    let internal = junctions.and_then(|j| j.get("internal"));
    (strings(duplicates), strings(internal))
}

impl Project {
    /// A copy used to run the second pass while the context is borrowed mutably.
    fn clone_for_second_pass(&self) -> Project {
        Project {
            id: self.id,
            name: self.name.clone(),
            directory: self.directory.clone(),
            element_path: self.element_path.clone(),
            junction: self.junction.clone(),
            raw_conf: self.raw_conf.clone(),
            default_targets: self.default_targets.clone(),
            fatal_warnings: self.fatal_warnings.clone(),
            refs_in_file: self.refs_in_file,
            junction_refs: self.junction_refs.clone(),
            disallow_subproject_uris: self.disallow_subproject_uris,
            element_origins: self.element_origins.clone(),
            source_origins: self.source_origins.clone(),
            first_pass: self.first_pass.clone(),
            second_pass: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normpath;

    #[test]
    fn normpath_like_python() {
        assert_eq!(normpath("a/./b//c.bst"), "a/b/c.bst");
        assert_eq!(normpath("a/../b.bst"), "b.bst");
        assert_eq!(normpath("../x.bst"), "../x.bst");
        assert_eq!(normpath("a/b.bst"), "a/b.bst");
        assert_eq!(normpath("a/b/"), "a/b");
        assert_eq!(normpath("/a//b"), "/a/b");
        assert_eq!(normpath("./"), ".");
    }
}
