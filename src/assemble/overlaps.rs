//! BuildStream's overlap collection: which staged files overwrote files that earlier
//! dependencies staged (`overlaps`, unless the overwriting element's `overlap-whitelist`
//! allows it) and which files were not staged because a non-empty directory was in the way
//! (`unstaged-files`). Each staging of dependencies at one location is a session; files that
//! overwrite what an earlier session staged are reported as `Overlaps detected`.

use crate::cas::proto::reapi::{Digest, Directory};
use crate::cas::tree::{has_file_at, ImportResult};
use crate::cas::ReadDirectory;
use crate::graph::Pipeline;
use crate::loader::ElementId;
use indexmap::IndexMap;

/// Directories read once per staging: an overwritten file is looked up in every earlier
/// dependency's tree, and overlapping trees share most of their directories.
pub struct Memo<'c, C: ReadDirectory> {
    cas: &'c C,
    seen: std::cell::RefCell<std::collections::HashMap<String, Directory>>,
}

impl<'c, C: ReadDirectory> Memo<'c, C> {
    /// Reads through `cas`.
    pub fn new(cas: &'c C) -> Self {
        Memo {
            cas,
            seen: Default::default(),
        }
    }
}

impl<C: ReadDirectory> ReadDirectory for Memo<'_, C> {
    fn directory(&self, d: &Digest) -> crate::cas::Result<Directory> {
        if let Some(dir) = self.seen.borrow().get(&d.hash) {
            return Ok(dir.clone());
        }
        let dir = self.cas.directory(d)?;
        self.seen.borrow_mut().insert(d.hash.clone(), dir.clone());
        Ok(dir)
    }
}

/// A warning an element raises while staging: its token and BuildStream's words.
pub struct Warning {
    /// The warning token (`overlaps`, `unstaged-files`).
    pub token: &'static str,
    /// The brief message.
    pub brief: &'static str,
    /// The detail lines.
    pub detail: String,
}

/// The sessions of one element's staging (one per location staged at).
#[derive(Default)]
pub struct Collector {
    sessions: Vec<Session>,
}

/// One staging of dependencies at one location.
pub struct Session {
    location: String,
    /// Each dependency staged, in order, with its files tree. (BuildStream lists the files
    /// each one wrote; looking the few overwritten ones up in the trees finds the same.)
    staged: Vec<(ElementId, Digest)>,
    /// Files a dependency did not stage (a non-empty directory was there).
    ignored: Vec<(ElementId, Vec<String>)>,
    /// Each overwritten file: the elements that staged it, first to last.
    overlaps: IndexMap<String, Vec<ElementId>>,
}

impl Collector {
    /// Starts a session at `location` (a path in the sandbox).
    pub fn session(location: &str) -> Session {
        Session {
            location: location.to_owned(),
            staged: Vec::new(),
            ignored: Vec::new(),
            overlaps: IndexMap::new(),
        }
    }

    /// Ends a session: its warnings, in BuildStream's order.
    pub fn finish(
        &mut self,
        session: Session,
        p: &Pipeline,
        cas: &impl ReadDirectory,
    ) -> crate::cas::Result<Vec<Warning>> {
        let warnings = session.warnings(&self.sessions, p, cas)?;
        self.sessions.push(session);
        Ok(warnings)
    }
}

impl Session {
    /// What staging `dep` (its files tree `files`) did.
    pub fn collect(
        &mut self,
        cas: &impl ReadDirectory,
        dep: ElementId,
        files: &Digest,
        result: ImportResult,
    ) -> crate::cas::Result<()> {
        for file in result.overwritten {
            if !self.overlaps.contains_key(&file) {
                // The first dependency of this session that staged it, if one did.
                let mut first = Vec::new();
                for (id, tree) in &self.staged {
                    if has_file_at(cas, tree, &file)? {
                        first.push(*id);
                        break;
                    }
                }
                self.overlaps.insert(file.clone(), first);
            }
            self.overlaps[&file].push(dep);
        }
        self.staged.push((dep, files.clone()));
        if !result.ignored.is_empty() {
            self.ignored.push((dep, result.ignored));
        }
        Ok(())
    }

    fn path(&self, file: &str) -> String {
        format!("{}/{file}", self.location.trim_end_matches('/'))
    }

    fn warnings(
        &self,
        earlier: &[Session],
        p: &Pipeline,
        cas: &impl ReadDirectory,
    ) -> crate::cas::Result<Vec<Warning>> {
        let name = |id: &ElementId| p.elements[id].full_name.clone();
        let mut out = Vec::new();
        let mut external: Vec<(&String, ElementId)> = Vec::new();
        if !self.overlaps.is_empty() {
            let mut warn = false;
            let mut detail = format!(
                "Staged files overwrite existing files in staging area: {}\n",
                self.location
            );
            for (file, stagers) in &self.overlaps {
                if let [only] = stagers.as_slice() {
                    external.push((file, *only));
                    continue;
                }
                let offending: Vec<String> = stagers[1..]
                    .iter()
                    .filter(|id| !whitelisted(p, **id, file))
                    .map(name)
                    .collect();
                if offending.is_empty() {
                    continue;
                }
                warn = true;
                let order: Vec<String> = stagers.iter().rev().map(name).collect();
                detail += &format!(
                    "{}: {} {} not permitted to overlap other elements, order {} \n",
                    self.path(file),
                    offending.join(" and "),
                    if offending.len() == 1 { "is" } else { "are" },
                    order.join(" above ")
                );
            }
            if warn {
                out.push(Warning {
                    token: "overlaps",
                    brief: "Non-whitelisted overlaps detected",
                    detail,
                });
            }
        }
        if !self.ignored.is_empty() {
            let mut detail = format!(
                "Not staging files which would replace non-empty directories in staging area: {}\n",
                self.location
            );
            for (id, files) in &self.ignored {
                detail += &format!("\nFrom {}:\n", name(id));
                let lines: Vec<String> = files
                    .iter()
                    .map(|f| format!("{}\n", self.path(f)))
                    .collect();
                detail += &format!("  {}", lines.join("  "));
            }
            out.push(Warning {
                token: "unstaged-files",
                brief: "Not staging files which would have replaced non-empty directories",
                detail,
            });
        }
        if !external.is_empty() {
            let mut detail = format!(
                "Detected file overlaps while staging elements into: {}\n",
                self.location
            );
            let mut found = false;
            for (file, id) in external {
                let path = self.path(file);
                // The latest earlier session that staged it (BuildStream asserts there is one).
                let mut by = None;
                'sessions: for s in earlier.iter().rev() {
                    let Some(rel) = relative_to(&path, &s.location) else {
                        continue;
                    };
                    for (stager, tree) in &s.staged {
                        if has_file_at(cas, tree, rel)? {
                            by = Some((*stager, s.location.clone()));
                            break 'sessions;
                        }
                    }
                }
                let Some((by, at)) = by else {
                    continue;
                };
                found = true;
                detail += &format!(
                    "{path}: {} overlaps files previously staged by {} in: {at}\n",
                    name(&id),
                    name(&by)
                );
            }
            if found {
                out.push(Warning {
                    token: "overlaps",
                    brief: "Overlaps detected",
                    detail,
                });
            }
        }
        Ok(out)
    }
}

/// `path` relative to the directory `location` (both absolute), if it is inside it.
fn relative_to<'a>(path: &'a str, location: &str) -> Option<&'a str> {
    let location = location.trim_end_matches('/');
    path.strip_prefix(location)?.strip_prefix('/')
}

/// Whether the element's `overlap-whitelist` (public `bst` data, globs with its variables)
/// allows it to overwrite `file` (relative to the staging location; matched as `/file`).
fn whitelisted(p: &Pipeline, id: ElementId, file: &str) -> bool {
    let Some(d) = p.elements[&id].details.as_deref() else {
        return false;
    };
    let Some(list) = d
        .public
        .get("bst")
        .and_then(|bst| bst.get("overlap-whitelist"))
        .and_then(|w| w.as_seq())
    else {
        return false;
    };
    let path = format!("/{file}");
    list.iter()
        .filter_map(|n| n.as_str())
        .any(|glob| crate::util::Glob::new(glob).matches(&path))
}
