//! Work done ahead of the sequential loader, in parallel (rayon): once a project's options
//! are known, parsing the `.bst` files a load will need, processing their `(@)` includes and
//! `(?)` conditionals and extracting their dependency declarations, then doing the same for
//! the files those declarations name, and so on ("discovery").
//!
//! Discovery starts from the load's targets, from the elements that override a subproject's,
//! and from the names found in other projects' files; a file it did not reach is found when
//! the loader first needs it, and discovery goes on from there.
//!
//! Invariant: the sequential loader sees exactly what it would have computed itself. A file
//! processed ahead was processed with its own project's options and local includes only;
//! anything else (an include across a junction, any error, a junction or link element, a
//! file another project also names) is left raw, and the loader processes it in its own
//! order, so errors and their order are BuildStream's.

use super::{extract_depends, DepDecl, DepName};
use crate::project::options::OptionPool;
use crate::project::{includes, ProjectHost, ProjectId};
use crate::yaml::{load_file, LoadError, LoadErrorReason, Map, Node, Result, Value};
use rustc_hash::FxHashMap as HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A parsed `.bst` file.
pub(super) struct Parsed {
    pub node: Node,
    /// Whether it has conditionals, assertions or includes (`(?)`, `(!)`, `(@)` keys), which
    /// only then need processing.
    pub directives: bool,
    /// Whether those were processed already (ahead, for the project that listed the file).
    pub processed: bool,
    /// The dependency declarations, once extracted (ahead) from the processed node.
    pub declared: Option<Vec<DepDecl>>,
}

impl Parsed {
    pub fn load(path: &Path, display: &str) -> Result<Parsed> {
        let node = load_file(path, display)?;
        let directives = node.any_key(&|k| matches!(k, "(?)" | "(!)" | "(@)"));
        Ok(Parsed {
            node,
            directives,
            processed: false,
            declared: None,
        })
    }
}

/// One prefetched file: which project listed it and its parse.
struct Entry {
    project: ProjectId,
    parsed: Parsed,
    /// Processing ahead failed half-way: the loader parses the file again.
    spoiled: bool,
}

/// A dependency name seen in a file parsed ahead that leads into another project: the
/// junction path (`a.bst` or `a.bst:b.bst`, from project `from`) and the element's name.
/// An empty junction path names an element of `from` itself (a load target).
pub(super) struct Reference {
    pub from: ProjectId,
    pub junction: String,
    pub element: String,
}

impl Reference {
    /// The element named `path` (`element.bst` or `junction.bst:element.bst`) from `from`.
    pub fn new(from: ProjectId, path: &str) -> Reference {
        let (junction, element) = path.rsplit_once(':').unwrap_or(("", path));
        Reference {
            from,
            junction: junction.to_owned(),
            element: element.to_owned(),
        }
    }
}

/// `.bst` files parsed (and maybe processed) ahead of time, by full path (as bytes: hashing
/// a `Path` walks its components).
#[derive(Default)]
pub(super) struct Prefetched {
    files: HashMap<OsString, Entry>,
    /// Every path discovery has parsed (or failed to parse), with the project that named it.
    seen: HashMap<OsString, ProjectId>,
    /// Names leading into projects not loaded yet, or not discovered yet.
    pub pending: Vec<Reference>,
}

impl Prefetched {
    /// Whether discovery has already tried `path`.
    pub fn seen(&self, path: &Path) -> bool {
        self.seen.contains_key(path.as_os_str())
    }

    /// Parses and processes, in parallel, the files of `project` named by `roots`, then the
    /// files their dependencies name within the project, and so on; names leading into other
    /// projects are added to [`Self::pending`]. A file that fails to parse is left to the
    /// loader, which reports it.
    pub fn discover(&mut self, host: &AheadHost<'_>, element_path: &Path, roots: Vec<String>) {
        let discovery = Discovery {
            host,
            base: element_path,
            seen: Mutex::new(std::mem::take(&mut self.seen)),
            found: Mutex::default(),
            conflicts: Mutex::default(),
            references: Mutex::default(),
            names: Mutex::default(),
        };
        rayon::scope(|scope| {
            for name in &roots {
                discovery.schedule(scope, name);
            }
        });
        let Discovery {
            seen,
            found,
            conflicts,
            references,
            ..
        } = discovery;
        self.seen = seen.into_inner().unwrap_or_else(|e| e.into_inner());
        self.pending
            .extend(references.into_inner().unwrap_or_else(|e| e.into_inner()));
        for (path, entry) in found.into_inner().unwrap_or_else(|e| e.into_inner()) {
            self.files.insert(path.into_os_string(), entry);
        }
        // A file two projects name is left to the sequential loader (see `take`).
        for path in conflicts.into_inner().unwrap_or_else(|e| e.into_inner()) {
            if let Some(e) = self.files.get_mut(path.as_os_str()) {
                e.project = ProjectId::MAX;
            }
        }
    }

    /// The parse of `path` for `project`, if prefetched for it and usable.
    pub fn take(&mut self, path: &Path, project: ProjectId) -> Option<Parsed> {
        self.files
            .remove(path.as_os_str())
            .filter(|e| e.project == project && !e.spoiled)
            .map(|e| e.parsed)
    }

    /// Frees the files never loaded, on a worker thread.
    pub fn discard(&mut self) {
        let unused = std::mem::take(&mut self.files);
        rayon::spawn(move || drop(unused));
    }
}

/// The project host of processing ahead: one project, its options, its own files.
pub(super) struct AheadHost<'a> {
    pub project: ProjectId,
    pub directory: &'a Path,
    pub display_prefix: &'a str,
    pub options: &'a Arc<OptionPool>,
    /// Include files parsed so far (`None`: not loadable here).
    pub cache: Mutex<HashMap<PathBuf, Option<Arc<Node>>>>,
}

impl AheadHost<'_> {
    fn handle(&self) -> AheadRef<'_, '_> {
        AheadRef(self)
    }

    /// An include file of the project (not across a junction), parsed once.
    fn include(&self, name: &str) -> Option<Arc<Node>> {
        if name.contains(':') {
            return None;
        }
        let path = self.directory.join(name);
        if let Some(node) = lock(&self.cache).get(&path) {
            return node.clone();
        }
        let display = format!("{}{name}", self.display_prefix);
        let node = load_file(&path, &display).ok().map(Arc::new);
        lock(&self.cache).insert(path, node.clone());
        node
    }
}

/// A worker's handle on the shared [`AheadHost`].
struct AheadRef<'h, 'a>(&'h AheadHost<'a>);

/// Why processing ahead stopped: the sequential loader will do it.
fn not_ahead() -> LoadError {
    LoadError::new(LoadErrorReason::InvalidData, "left to the loader")
}

impl ProjectHost for AheadRef<'_, '_> {
    fn options(&mut self, project: ProjectId) -> Result<Arc<OptionPool>> {
        match project == self.0.project {
            true => Ok(self.0.options.clone()),
            false => Err(not_ahead()),
        }
    }

    fn load_include(
        &mut self,
        from: ProjectId,
        include: &Node,
    ) -> Result<(Node, PathBuf, ProjectId)> {
        let name = include.as_str().unwrap_or_default();
        // `junction.bst:file.yml` needs the junction: only the loader may load it.
        if from != self.0.project {
            return Err(not_ahead());
        }
        let node = self.0.include(name).ok_or_else(not_ahead)?;
        Ok((Node::clone(&node), self.0.directory.join(name), from))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One parallel discovery for [`Prefetched::discover`].
struct Discovery<'h, 'a> {
    host: &'h AheadHost<'a>,
    /// The project's element directory.
    base: &'h Path,
    seen: Mutex<HashMap<OsString, ProjectId>>,
    found: Mutex<Vec<(PathBuf, Entry)>>,
    /// Paths another project named first.
    conflicts: Mutex<Vec<PathBuf>>,
    references: Mutex<Vec<Reference>>,
    /// The names this discovery has scheduled.
    names: Mutex<rustc_hash::FxHashSet<Arc<str>>>,
}

impl Discovery<'_, '_> {
    /// Parses element `name` as a task of `scope`, unless it was tried before.
    fn schedule<'s>(&'s self, scope: &rayon::Scope<'s>, name: &str) {
        // The loader refuses other names before reading any file.
        if !name.ends_with(".bst") || name.starts_with('/') {
            return;
        }
        // Most names are named again and again: those this discovery has seen cost nothing.
        let name: Arc<str> = {
            let mut names = lock(&self.names);
            if names.contains(name) {
                return;
            }
            let name: Arc<str> = Arc::from(name);
            names.insert(name.clone());
            name
        };
        let path = self.base.join(&*name);
        {
            let mut seen = lock(&self.seen);
            if let Some(&project) = seen.get(path.as_os_str()) {
                drop(seen);
                if project != self.host.project {
                    lock(&self.conflicts).push(path);
                }
                return;
            }
            seen.insert(path.as_os_str().to_owned(), self.host.project);
        }
        scope.spawn(move |scope| self.parse(scope, path, &name));
    }

    fn parse<'s>(&'s self, scope: &rayon::Scope<'s>, path: PathBuf, name: &str) {
        let display = format!("{}{name}", self.host.display_prefix);
        let Ok(mut parsed) = Parsed::load(&path, &display) else {
            return;
        };
        let mut names = Vec::new();
        let spoiled = match self.process(&mut parsed) {
            Some(true) => {
                let declared = parsed.declared.iter().flatten();
                names.extend(declared.map(|d| (d.dep.junction.clone(), d.dep.name.clone())));
                false
            }
            // Junctions and links: left to the loader.
            None => {
                self.dependency_names(&parsed.node, &mut names);
                false
            }
            // Half-processed: the names written in the file are still a good guess.
            Some(false) => {
                self.dependency_names(&parsed.node, &mut names);
                true
            }
        };
        for (junction, element) in names {
            match junction {
                None => self.schedule(scope, &super::normpath(&element)),
                Some(junction) => {
                    // The junction's own file, when it is in this project.
                    if !junction.contains(':') {
                        self.schedule(scope, &super::normpath(&junction));
                    }
                    lock(&self.references).push(Reference {
                        from: self.host.project,
                        junction: junction.to_string(),
                        element: element.to_string(),
                    });
                }
            }
        }
        let entry = Entry {
            project: self.host.project,
            parsed,
            spoiled,
        };
        lock(&self.found).push((path, entry));
    }

    /// Processes the directives of a parsed element and extracts its dependencies, as the
    /// loader would; `None` for junctions and links (processed with the first pass's
    /// options), `Some(false)` when processing failed (the loader will parse the file
    /// again and report the error).
    fn process(&self, parsed: &mut Parsed) -> Option<bool> {
        // The loader reports a missing `kind` from the file as written.
        if matches!(
            parsed.node.get_str("kind"),
            Ok(Some("junction" | "link") | None) | Err(_)
        ) {
            return None;
        }
        if parsed.directives {
            let project = self.host.project;
            let r = includes::process(
                &mut self.host.handle(),
                &mut parsed.node,
                project,
                false,
                true,
            );
            parsed.processed = r.is_ok();
            if r.is_err() {
                return Some(false);
            }
        }
        match extract_depends(&mut parsed.node) {
            Ok(declared) => {
                parsed.declared = Some(declared);
                Some(true)
            }
            Err(_) => Some(false),
        }
    }

    /// The include files a mapping's `(@)` names.
    fn includes_of(&self, map: &Map) -> Vec<Arc<Node>> {
        match map.get("(@)").map(|n| &n.value) {
            Some(Value::Scalar(name)) => self.host.include(name).into_iter().collect(),
            Some(Value::Seq(names)) => names
                .iter()
                .filter_map(|n| self.host.include(n.as_str()?))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The dependency names an element file may declare, whatever its options: the entries
    /// of its dependency lists (in every `(?)` branch, list directive and local include
    /// too) and a link's target, each as (junction path, element name).
    fn dependency_names(&self, node: &Node, out: &mut Vec<DepName>) {
        self.dependency_names_within(node, out, &mut Vec::new());
    }

    /// [`Discovery::dependency_names`] of a node inside the include files of `including`
    /// (outermost first): a file that includes itself, directly or not, is not read again
    /// (the loader reports the recursion).
    fn dependency_names_within(
        &self,
        node: &Node,
        out: &mut Vec<DepName>,
        including: &mut Vec<*const Node>,
    ) {
        let Value::Map(map) = &node.value else {
            return;
        };
        for key in ["depends", "build-depends", "runtime-depends"] {
            if let Some(list) = map.get(key) {
                self.dependency_list_names(list, out);
            }
        }
        if map.get("kind").and_then(Node::as_str) == Some("link") {
            if let Some(target) = map
                .get("config")
                .and_then(|c| c.get("target"))
                .and_then(Node::as_str)
            {
                push_name(target, None, out);
            }
        }
        if let Some(Value::Seq(branches)) = map.get("(?)").map(|n| &n.value) {
            for branch in branches.iter() {
                if let Value::Map(conditions) = &branch.value {
                    for body in conditions.values() {
                        self.dependency_names_within(body, out, including);
                    }
                }
            }
        }
        for included in self.includes_of(map) {
            let file = Arc::as_ptr(&included);
            if including.contains(&file) {
                continue;
            }
            including.push(file);
            self.dependency_names_within(&included, out, including);
            including.pop();
        }
    }

    fn dependency_list_names(&self, list: &Node, out: &mut Vec<DepName>) {
        match &list.value {
            Value::Seq(items) => {
                for item in items.iter() {
                    match &item.value {
                        Value::Scalar(name) => push_name(name, None, out),
                        Value::Map(dep) => {
                            let included = self.includes_of(dep);
                            let get = |key: &str| {
                                dep.get(key)
                                    .or_else(|| included.iter().find_map(|i| i.get(key)))
                            };
                            let junction = get("junction").and_then(Node::as_str);
                            match get("filename").map(|f| &f.value) {
                                Some(Value::Scalar(name)) => push_name(name, junction, out),
                                Some(Value::Seq(names)) => {
                                    for name in names.iter().filter_map(Node::as_str) {
                                        push_name(name, junction, out);
                                    }
                                }
                                _ => {}
                            }
                        }
                        Value::Seq(_) => {}
                    }
                }
            }
            // List directives: `(>)`, `(<)` and `(=)` hold lists.
            Value::Map(directives) => {
                for list in directives.values() {
                    self.dependency_list_names(list, out);
                }
            }
            Value::Scalar(_) => {}
        }
    }
}

fn push_name(name: &str, junction: Option<&str>, out: &mut Vec<DepName>) {
    let (junction, element) = match (junction, name.rsplit_once(':')) {
        (Some(j), _) => (Some(j), name),
        (None, Some((j, element))) => (Some(j), element),
        (None, None) => (None, name),
    };
    out.push((junction.map(Arc::from), Arc::from(element)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Discovery follows what the files declare (through local includes, list items and
    /// link targets), leaves other projects' names pending, and parses nothing else.
    #[test]
    fn discovery_parses_what_the_roots_lead_to() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path();
        write(
            dir,
            "elements/a.bst",
            "kind: stack\ndepends:\n- b.bst\n- filename: [c.bst]\n- sub.bst:x.bst\n(@): inc.yml\n",
        );
        write(dir, "inc.yml", "build-depends:\n- d.bst\n");
        write(
            dir,
            "elements/b.bst",
            "kind: link\nconfig:\n  target: e.bst\n",
        );
        write(dir, "elements/c.bst", "kind: stack\n");
        write(dir, "elements/d.bst", "kind: stack\n");
        write(dir, "elements/e.bst", "kind: stack\n");
        write(dir, "elements/sub.bst", "kind: junction\n");
        write(
            dir,
            "elements/unused.bst",
            "kind: stack\ndepends: [d.bst]\n",
        );
        let options = Arc::new(OptionPool::default());
        let host = AheadHost {
            project: 0,
            directory: dir,
            display_prefix: "",
            options: &options,
            cache: Mutex::default(),
        };
        let elements = dir.join("elements");
        let mut p = Prefetched::default();
        p.discover(&host, &elements, vec!["a.bst".to_owned()]);
        let mut seen: Vec<String> = p
            .seen
            .keys()
            .map(|k| {
                Path::new(k)
                    .strip_prefix(&elements)
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            ["a.bst", "b.bst", "c.bst", "d.bst", "e.bst", "sub.bst"]
        );
        let pending: Vec<(&str, &str)> = p
            .pending
            .iter()
            .map(|r| (r.junction.as_str(), r.element.as_str()))
            .collect();
        assert_eq!(pending, [("sub.bst", "x.bst")]);
        // Processed ahead: its dependencies are declared, the include is merged.
        let a = p.take(&elements.join("a.bst"), 0).unwrap();
        assert!(a.processed);
        assert_eq!(a.declared.map(|d| d.len()), Some(4));
        // Junctions and links are left to the loader.
        assert!(p
            .take(&elements.join("b.bst"), 0)
            .unwrap()
            .declared
            .is_none());
        // Another project's loader does not get this project's files.
        assert!(p.take(&elements.join("c.bst"), 1).is_none());
    }
}
