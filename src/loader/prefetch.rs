//! Work done ahead of the sequential loader, in parallel (rayon): parsing every `.bst` file
//! of a project as soon as one of its elements is needed, and processing the `(@)` includes and
//! `(?)` conditionals of those files, and extracting their dependency declarations, as soon
//! as the project's options are known.
//!
//! Invariant: the sequential loader sees exactly what it would have computed itself. A file
//! processed ahead was processed with its own project's options and local includes only;
//! anything else (an include across a junction, any error, a junction or link element, a
//! file another project also lists) is left raw, and the loader processes it in its own
//! order, so errors and their order are BuildStream's.

use super::{extract_depends, DepDecl, LoadContext};
use crate::project::options::OptionPool;
use crate::project::{includes, ProjectHost, ProjectId};
use crate::yaml::{load_file, LoadError, LoadErrorReason, Node, Result};
use rayon::prelude::*;
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
    parsed: Result<Parsed>,
    /// Processing ahead failed half-way: the loader parses the file again.
    spoiled: bool,
}

/// `.bst` files parsed (and maybe processed) ahead of time, by full path (as bytes: hashing
/// a `Path` walks its components).
#[derive(Default)]
pub(super) struct Prefetched {
    files: HashMap<OsString, Entry>,
}

impl Prefetched {
    /// Parses every `.bst` file under `element_path` (of `project`), walking its directories
    /// in parallel too. Files that are never loaded cost parsing time only; their errors are
    /// reported only if they are loaded.
    pub fn parse_tree(&mut self, project: ProjectId, element_path: &Path, display_prefix: &str) {
        let found = Mutex::new(Vec::new());
        let walk = Walk {
            base: element_path,
            display_prefix,
            found: &found,
        };
        rayon::scope(|scope| walk.dir(scope, element_path.to_path_buf()));
        let found = found.into_inner().unwrap_or_else(|e| e.into_inner());
        for (path, parsed) in found {
            // A file two projects list is left to the sequential loader (see `take`).
            let project = match self.files.contains_key(path.as_os_str()) {
                true => ProjectId::MAX,
                false => project,
            };
            let entry = Entry {
                project,
                parsed,
                spoiled: false,
            };
            self.files.insert(path.into_os_string(), entry);
        }
    }

    /// The parse of `path` for `project`, if prefetched for it and usable.
    pub fn take(&mut self, path: &Path, project: ProjectId) -> Option<Result<Parsed>> {
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

impl LoadContext {
    /// Processes, in parallel, the directives of `project`'s prefetched elements that need
    /// nothing but the project's own options and files (its second pass must be loaded),
    /// and extracts their dependency declarations.
    pub(super) fn process_ahead(&mut self, project: ProjectId) {
        let Some(full) = self.projects[project].second_pass.as_ref() else {
            return;
        };
        let host = AheadHost {
            project,
            directory: &self.metas[project].directory,
            display_prefix: &self.metas[project].display_prefix,
            options: &full.pass.options,
            cache: Mutex::default(),
        };
        let pending: Vec<&mut Entry> = self
            .prefetched
            .files
            .values_mut()
            .filter(|e| e.project == project)
            .filter(|e| e.parsed.as_ref().is_ok_and(|p| p.declared.is_none()))
            .collect();
        pending.into_par_iter().for_each(|entry| {
            let Ok(parsed) = &mut entry.parsed else {
                return;
            };
            // Junctions and links are processed with the first pass's options; the loader
            // reports a missing `kind` from the file as written.
            if matches!(
                parsed.node.get_str("kind"),
                Ok(Some("junction" | "link") | None) | Err(_)
            ) {
                return;
            }
            if parsed.directives && !parsed.processed {
                let r =
                    includes::process(&mut host.handle(), &mut parsed.node, project, false, true);
                parsed.processed = r.is_ok();
                entry.spoiled = r.is_err();
                if entry.spoiled {
                    return;
                }
            }
            match extract_depends(&mut parsed.node) {
                Ok(declared) => parsed.declared = Some(declared),
                Err(_) => entry.spoiled = true,
            }
        });
    }
}

/// The project host of processing ahead: one project, its options, its own files.
struct AheadHost<'a> {
    project: ProjectId,
    directory: &'a Path,
    display_prefix: &'a str,
    options: &'a Arc<OptionPool>,
    /// Include files parsed so far (`None`: not loadable here).
    cache: Mutex<HashMap<PathBuf, Option<Arc<Node>>>>,
}

impl AheadHost<'_> {
    fn handle(&self) -> AheadRef<'_, '_> {
        AheadRef(self)
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
        if from != self.0.project || name.contains(':') {
            return Err(not_ahead());
        }
        let path = self.0.directory.join(name);
        let cached = lock(&self.0.cache).get(&path).cloned();
        let node = match cached {
            Some(node) => node,
            None => {
                let display = format!("{}{name}", self.0.display_prefix);
                let node = load_file(&path, &display).ok().map(Arc::new);
                lock(&self.0.cache).insert(path.clone(), node.clone());
                node
            }
        };
        node.map(|n| (Node::clone(&n), path, from))
            .ok_or_else(not_ahead)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One parallel walk of an element directory for [`Prefetched::parse_tree`].
#[derive(Clone, Copy)]
struct Walk<'a> {
    base: &'a Path,
    display_prefix: &'a str,
    found: &'a Mutex<Vec<(PathBuf, Result<Parsed>)>>,
}

impl<'a> Walk<'a> {
    /// Files parsed per task: directories may hold hundreds of elements.
    const CHUNK: usize = 16;

    /// Lists `dir`, walks its subdirectories and parses its `.bst` files, as tasks of `scope`.
    fn dir(self, scope: &rayon::Scope<'a>, dir: PathBuf) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        let mut files = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if crate::project::entry_is_dir(&entry) {
                scope.spawn(move |s| self.dir(s, path));
            } else if path.extension().is_some_and(|x| x == "bst") {
                files.push(path);
                if files.len() == Self::CHUNK {
                    let chunk = std::mem::take(&mut files);
                    scope.spawn(move |_| self.parse(chunk));
                }
            }
        }
        self.parse(files);
    }

    fn parse(self, files: Vec<PathBuf>) {
        let parsed: Vec<(PathBuf, Result<Parsed>)> = files
            .into_iter()
            .map(|path| {
                let rel = path.strip_prefix(self.base).unwrap_or(&path);
                let display = format!("{}{}", self.display_prefix, rel.to_string_lossy());
                let parsed = Parsed::load(&path, &display);
                (path, parsed)
            })
            .collect();
        lock(self.found).extend(parsed);
    }
}
