//! Directory trees built in memory from CAS trees, the way BuildStream's `CasBasedDirectory`
//! imports one tree into another.
//!
//! A directory stays *sealed* (just its digest) until something has to be merged inside it, so
//! staging a 500 MB sysroot plus a few libraries expands only the handful of directories they
//! share (`usr`, `usr/lib`, ...). [`Dir::seal`] serializes the directories that changed; the
//! caller uploads them in one batch.
//!
//! Import rules (BuildStream's): a directory that does not exist yet is attached by digest; a
//! file or symlink replaces an existing file, symlink or *empty* directory (recorded as
//! overwritten) and is ignored over a non-empty directory; a directory over a file or symlink is
//! an error.

use super::proto::reapi::{Digest, Directory, DirectoryNode, FileNode, SymlinkNode};
use super::{CasError, ReadDirectory, Result};
use prost::Message;
use std::collections::BTreeMap;

/// One entry of a directory.
#[derive(Clone, Debug)]
pub enum Entry {
    /// A regular file.
    File(FileNode),
    /// A symbolic link and its target.
    Symlink(String),
    /// A subdirectory.
    Dir(Dir),
}

/// A directory: sealed (a digest) or open (its entries, possibly changed).
#[derive(Clone, Debug)]
pub enum Dir {
    /// Unchanged since it was read from CAS.
    Sealed(Digest),
    /// Expanded; entries sorted by name.
    Open(BTreeMap<String, Entry>),
}

impl Default for Dir {
    fn default() -> Self {
        Dir::Open(BTreeMap::new())
    }
}

/// Paths the import replaced (BuildStream's `overwritten`) and ignored.
#[derive(Default, Debug)]
pub struct ImportResult {
    /// Files that replaced existing files.
    pub overwritten: Vec<String>,
    /// Files not imported because a non-empty directory was in the way.
    pub ignored: Vec<String>,
}

fn expand(cas: &impl ReadDirectory, d: &Digest) -> Result<BTreeMap<String, Entry>> {
    let dir = cas.directory(d)?;
    let mut map = BTreeMap::new();
    for f in dir.files {
        map.insert(f.name.clone(), Entry::File(f));
    }
    for s in dir.symlinks {
        map.insert(s.name, Entry::Symlink(s.target));
    }
    for d in dir.directories {
        map.insert(
            d.name,
            Entry::Dir(Dir::Sealed(d.digest.unwrap_or_default())),
        );
    }
    Ok(map)
}

/// How many symlinks a path lookup follows before giving up (Linux's limit).
const SYMLINK_DEPTH: usize = 40;

/// The error for importing a directory where the destination has a file or symlink.
fn not_a_directory(existing: &Entry, rel: &str) -> CasError {
    let what = if matches!(existing, Entry::Symlink(_)) {
        "symlink"
    } else {
        "regular file"
    };
    CasError::NotADirectory(format!("Destination is a {what}, not a directory: /{rel}"))
}

/// Puts a file or symlink at `name` in `dest` by the module's replacement rules: it replaces
/// a file, a symlink or an empty directory (overwritten), and is ignored where a non-empty
/// directory is.
fn place_file_or_link(
    cas: &impl ReadDirectory,
    dest: &mut BTreeMap<String, Entry>,
    name: String,
    file_or_link: Entry,
    rel: String,
    result: &mut ImportResult,
) -> Result<()> {
    match dest.get_mut(&name) {
        None => {}
        Some(Entry::Dir(existing)) => {
            if !existing.is_empty(cas)? {
                result.ignored.push(rel);
                return Ok(());
            }
            result.overwritten.push(rel);
        }
        Some(_) => result.overwritten.push(rel),
    }
    dest.insert(name, file_or_link);
    Ok(())
}
/// Whether the tree `root` has a file or a symlink at `path` (relative, `/`-separated; no
/// symlink is followed on the way).
pub fn has_file_at(cas: &impl ReadDirectory, root: &Digest, path: &str) -> Result<bool> {
    let mut dir = cas.directory(root)?;
    let mut parts = path.split('/').filter(|p| !p.is_empty()).peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            return Ok(dir.files.iter().any(|f| f.name == part)
                || dir.symlinks.iter().any(|s| s.name == part));
        }
        match dir.directories.iter().find(|d| d.name == part) {
            Some(sub) => dir = cas.directory(&sub.digest.clone().unwrap_or_default())?,
            None => return Ok(false),
        }
    }
    Ok(false)
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    }
}

impl Dir {
    /// A sealed directory.
    pub fn from_digest(d: Digest) -> Dir {
        Dir::Sealed(d)
    }

    /// The entries, expanding from CAS when sealed.
    pub fn entries(&mut self, cas: &impl ReadDirectory) -> Result<&mut BTreeMap<String, Entry>> {
        if let Dir::Sealed(d) = self {
            let map = expand(cas, d)?;
            *self = Dir::Open(map);
        }
        match self {
            Dir::Open(m) => Ok(m),
            Dir::Sealed(_) => unreachable!("just expanded"),
        }
    }

    /// Whether it has no entries.
    pub fn is_empty(&mut self, cas: &impl ReadDirectory) -> Result<bool> {
        Ok(match self {
            Dir::Sealed(d) => d.size_bytes == 0 || cas.directory(d)?.encoded_len() == 0,
            Dir::Open(m) => m.is_empty(),
        })
    }

    /// Opens (creating when missing) the directory at `path` (`/`-separated, relative).
    pub fn open_dir(&mut self, cas: &impl ReadDirectory, path: &str) -> Result<&mut Dir> {
        let mut cur = self;
        for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
            let entries = cur.entries(cas)?;
            let entry = entries
                .entry(part.to_owned())
                .or_insert_with(|| Entry::Dir(Dir::default()));
            cur = match entry {
                Entry::Dir(d) => d,
                _ => {
                    return Err(CasError::Corrupt(
                        path.to_owned(),
                        format!("'{part}' is not a directory"),
                    ))
                }
            };
        }
        Ok(cur)
    }

    /// The directory at `path`, if there is one.
    pub fn find_dir(&mut self, cas: &impl ReadDirectory, path: &str) -> Result<Option<&mut Dir>> {
        let mut cur = self;
        for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
            match cur.entries(cas)?.get_mut(part) {
                Some(Entry::Dir(d)) => cur = d,
                _ => return Ok(None),
            }
        }
        Ok(Some(cur))
    }

    /// BuildStream's `CasBasedDirectory.open_directory(path)` (no symlink followed, nothing
    /// created; `.` and `..` stay where they are): the directory, or the message of the
    /// `DirectoryError` bst raises. `name` is this directory's path in messages (`/input`).
    pub fn open_existing(
        &mut self,
        cas: &impl ReadDirectory,
        path: &str,
        name: &str,
    ) -> Result<std::result::Result<&mut Dir, String>> {
        let mut cur = self;
        let mut at = name.to_owned();
        for part in path.split('/').filter(|p| !matches!(*p, "" | "." | "..")) {
            let what = match cur.entries(cas)?.get_mut(part) {
                Some(Entry::Dir(d)) => {
                    cur = d;
                    at.push('/');
                    at.push_str(part);
                    continue;
                }
                Some(Entry::File(_)) => "regular file",
                Some(Entry::Symlink(_)) => "symlink",
                None => return Ok(Err(format!("'{part}' not found in [CAS:/{at}]"))),
            };
            return Ok(Err(format!(
                "Cannot open {part}, which is a '{what}' in the directory [CAS:/{at}]"
            )));
        }
        Ok(Ok(cur))
    }

    /// True when `path` (relative; this directory is the root) names an entry, symlinks
    /// followed the way BuildStream's `CasBasedDirectory.exists(path, follow_symlinks=True)`
    /// follows them: absolute targets from this root, `..` never above it, a symlink to a
    /// missing entry (or a loop) does not exist.
    pub fn exists_following(&mut self, cas: &impl ReadDirectory, path: &str) -> Result<bool> {
        let parts: Vec<&str> = path.split('/').collect();
        self.entry_exists(cas, Vec::new(), &parts, 0)
    }

    fn entry_exists(
        &mut self,
        cas: &impl ReadDirectory,
        cwd: Vec<String>,
        parts: &[&str],
        depth: usize,
    ) -> Result<bool> {
        let Some((last, init)) = parts.split_last() else {
            return Ok(false);
        };
        let Some(cwd) = self.resolve_dir(cas, cwd, init, depth)? else {
            return Ok(false);
        };
        let target = match self.find_dir(cas, &cwd.join("/"))? {
            Some(dir) => match dir.entries(cas)?.get(*last) {
                None => return Ok(false),
                Some(Entry::Symlink(target)) => target.clone(),
                Some(_) => return Ok(true),
            },
            None => return Ok(false),
        };
        if depth >= SYMLINK_DEPTH {
            return Ok(false);
        }
        let (start, parts) = link_start(cwd, &target);
        self.entry_exists(cas, start, &parts, depth + 1)
    }

    /// The directory `parts` leads to from `cwd` (names from the root, all directories), as
    /// names from the root; None when something on the way is missing or not a directory.
    fn resolve_dir(
        &mut self,
        cas: &impl ReadDirectory,
        mut cwd: Vec<String>,
        parts: &[&str],
        depth: usize,
    ) -> Result<Option<Vec<String>>> {
        enum Step {
            Into,
            Link(String),
            Missing,
            NotDir,
        }
        for part in parts.iter().filter(|p| !p.is_empty()) {
            let step = match self.find_dir(cas, &cwd.join("/"))? {
                Some(dir) => match dir.entries(cas)?.get(*part) {
                    Some(Entry::Dir(_)) => Step::Into,
                    Some(Entry::Symlink(target)) => Step::Link(target.clone()),
                    Some(Entry::File(_)) => Step::NotDir,
                    None => Step::Missing,
                },
                None => return Ok(None),
            };
            match step {
                Step::Into => cwd.push((*part).to_owned()),
                Step::Link(target) => {
                    if depth >= SYMLINK_DEPTH {
                        return Ok(None);
                    }
                    let (start, parts) = link_start(cwd, &target);
                    match self.resolve_dir(cas, start, &parts, depth + 1)? {
                        Some(resolved) => cwd = resolved,
                        None => return Ok(None),
                    }
                }
                Step::Missing if *part == "." => {}
                Step::Missing if *part == ".." => {
                    cwd.pop();
                }
                Step::Missing | Step::NotDir => return Ok(None),
            }
        }
        Ok(Some(cwd))
    }

    /// Imports `src` into this directory (see the module rules).
    pub fn import(
        &mut self,
        cas: &impl ReadDirectory,
        src: Dir,
        result: &mut ImportResult,
    ) -> Result<()> {
        self.import_at(cas, src, "", result)
    }

    fn import_at(
        &mut self,
        cas: &impl ReadDirectory,
        mut src: Dir,
        prefix: &str,
        result: &mut ImportResult,
    ) -> Result<()> {
        // Importing into an empty directory: take the source as it is.
        if let Dir::Open(m) = self {
            if m.is_empty() {
                *self = src;
                return Ok(());
            }
        }
        let src_entries = std::mem::take(src.entries(cas)?);
        let dest = self.entries(cas)?;
        for (name, entry) in src_entries {
            let rel = join(prefix, &name);
            match entry {
                Entry::Dir(sub) => match dest.get_mut(&name) {
                    None => {
                        dest.insert(name, Entry::Dir(sub));
                    }
                    Some(Entry::Dir(existing)) => existing.import_at(cas, sub, &rel, result)?,
                    Some(other) => return Err(not_a_directory(other, &rel)),
                },
                file_or_link => {
                    place_file_or_link(cas, dest, name, file_or_link, rel, result)?;
                }
            }
        }
        Ok(())
    }

    /// Imports the entries of `src` that `filter` accepts (called with each relative path,
    /// directories included), as BuildStream's filtered CAS-to-CAS import does: every source
    /// directory is descended into; a directory the import created stays only when the filter
    /// accepts it or something was imported inside it; files and symlinks follow the module's
    /// replacement rules.
    pub fn import_filtered(
        &mut self,
        cas: &impl ReadDirectory,
        src: Dir,
        filter: &dyn Fn(&str) -> bool,
        result: &mut ImportResult,
    ) -> Result<()> {
        self.import_filtered_at(cas, src, "", filter, result)
    }

    fn import_filtered_at(
        &mut self,
        cas: &impl ReadDirectory,
        mut src: Dir,
        prefix: &str,
        filter: &dyn Fn(&str) -> bool,
        result: &mut ImportResult,
    ) -> Result<()> {
        let src_entries = std::mem::take(src.entries(cas)?);
        for (name, entry) in src_entries {
            let rel = join(prefix, &name);
            let dest = self.entries(cas)?;
            match entry {
                Entry::Dir(sub) => {
                    let created = !dest.contains_key(&name);
                    match dest
                        .entry(name.clone())
                        .or_insert_with(|| Entry::Dir(Dir::default()))
                    {
                        Entry::Dir(d) => d.import_filtered_at(cas, sub, &rel, filter, result)?,
                        other => return Err(not_a_directory(other, &rel)),
                    }
                    if created && !filter(&rel) {
                        let dest = self.entries(cas)?;
                        if let Some(Entry::Dir(d)) = dest.get_mut(&name) {
                            if d.is_empty(cas)? {
                                dest.remove(&name);
                            }
                        }
                    }
                }
                file_or_link => {
                    if !filter(&rel) {
                        continue;
                    }
                    place_file_or_link(cas, dest, name, file_or_link, rel, result)?;
                }
            }
        }
        Ok(())
    }

    /// Every path below (files, symlinks and directories, not the root itself), relative.
    pub fn relative_paths(&mut self, cas: &impl ReadDirectory) -> Result<Vec<String>> {
        let mut out = Vec::new();
        self.walk(cas, "", &mut |p, _| {
            out.push(p.to_owned());
            Ok(())
        })?;
        Ok(out)
    }

    /// Serializes changed directories into `out` (blobs to upload) and returns the digest.
    pub fn seal(self, out: &mut Vec<Vec<u8>>) -> Digest {
        self.seal_with(&BTreeMap::new(), "", out)
    }

    /// [`Dir::seal`], setting BuildStream's `SubtreeReadOnly` node property on the open
    /// directories named in `read_only` (relative paths, `""` for this directory).
    pub fn seal_with(
        self,
        read_only: &BTreeMap<String, bool>,
        prefix: &str,
        out: &mut Vec<Vec<u8>>,
    ) -> Digest {
        match self {
            Dir::Sealed(d) => d,
            Dir::Open(entries) => {
                let mut dir = Directory::default();
                if let Some(ro) = read_only.get(prefix) {
                    dir.node_properties = Some(super::proto::reapi::NodeProperties {
                        properties: vec![super::proto::reapi::NodeProperty {
                            name: "SubtreeReadOnly".into(),
                            value: if *ro { "true" } else { "false" }.into(),
                        }],
                        ..Default::default()
                    });
                }
                for (name, entry) in entries {
                    match entry {
                        Entry::File(mut f) => {
                            f.name = name;
                            dir.files.push(f);
                        }
                        Entry::Symlink(target) => dir.symlinks.push(SymlinkNode {
                            name,
                            target,
                            node_properties: None,
                        }),
                        Entry::Dir(sub) => {
                            let digest = sub.seal_with(read_only, &join(prefix, &name), out);
                            dir.directories.push(DirectoryNode {
                                name,
                                digest: Some(digest),
                            });
                        }
                    }
                }
                let bytes = dir.encode_to_vec();
                let digest = super::digest_of(&bytes);
                out.push(bytes);
                digest
            }
        }
    }

    /// Walks every file, symlink and directory below, calling `f(path, entry)` in sorted order.
    pub fn walk(
        &mut self,
        cas: &impl ReadDirectory,
        prefix: &str,
        f: &mut dyn FnMut(&str, &Entry) -> Result<()>,
    ) -> Result<()> {
        let entries = self.entries(cas)?;
        for (name, entry) in entries.iter_mut() {
            let rel = join(prefix, name);
            f(&rel, entry)?;
            if let Entry::Dir(d) = entry {
                d.walk(cas, &rel, f)?;
            }
        }
        Ok(())
    }
}

/// Where a symbolic link's `target` is followed from (the root for an absolute target, else
/// `cwd`, the link's directory), and the target's components.
fn link_start(cwd: Vec<String>, target: &str) -> (Vec<String>, Vec<&str>) {
    let start = if target.starts_with('/') {
        Vec::new()
    } else {
        cwd
    };
    (start, target.split('/').collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cas::LocalStore;

    /// A store in a temporary directory, with blobs written the way casd lays them out.
    struct Store {
        _dir: tempfile::TempDir,
        store: LocalStore,
    }

    impl Store {
        fn new() -> Store {
            let dir = tempfile::tempdir().unwrap();
            let store = LocalStore::new(dir.path());
            Store { _dir: dir, store }
        }

        fn put(&self, d: &Directory) -> Digest {
            let bytes = d.encode_to_vec();
            let digest = crate::cas::digest_of(&bytes);
            let path = self.store.object_path(&digest);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
            digest
        }
    }

    fn file(name: &str) -> FileNode {
        FileNode {
            name: name.into(),
            digest: Some(crate::cas::digest_of(b"")),
            ..Default::default()
        }
    }

    fn link(name: &str, target: &str) -> SymlinkNode {
        SymlinkNode {
            name: name.into(),
            target: target.into(),
            node_properties: None,
        }
    }

    fn dir(name: &str, digest: Digest) -> DirectoryNode {
        DirectoryNode {
            name: name.into(),
            digest: Some(digest),
        }
    }

    /// `/bin/busybox`, `/bin/sh -> busybox`, `/usr/bin -> ../bin`, `/sbin -> /bin`,
    /// `/loop -> loop`, `/dangling -> nothing`, `/bin/up -> ../../../usr`.
    fn sysroot(s: &Store) -> Dir {
        let bin = s.put(&Directory {
            files: vec![file("busybox")],
            symlinks: vec![link("sh", "busybox"), link("up", "../../../usr")],
            ..Default::default()
        });
        let usr = s.put(&Directory {
            symlinks: vec![link("bin", "../bin")],
            ..Default::default()
        });
        Dir::from_digest(s.put(&Directory {
            directories: vec![dir("bin", bin), dir("usr", usr)],
            symlinks: vec![
                link("dangling", "nothing"),
                link("loop", "loop"),
                link("sbin", "/bin"),
            ],
            ..Default::default()
        }))
    }

    #[test]
    fn exists_following_resolves_symlinks_inside_the_root() {
        let s = Store::new();
        let mut root = sysroot(&s);
        for (path, exists) in [
            ("bin/busybox", true),
            ("bin/sh", true),
            ("usr/bin/sh", true),
            ("sbin/sh", true),
            ("usr/bin/../bin/sh", true),
            ("bin/up/bin/sh", true),
            ("./bin/./sh", true),
            ("bin/bash", false),
            ("bin/sh/x", false),
            ("dangling", false),
            ("loop", false),
            ("loop/x", false),
            ("usr/sbin/sh", false),
        ] {
            assert_eq!(
                root.exists_following(&s.store, path).unwrap(),
                exists,
                "{path}"
            );
        }
    }
}
