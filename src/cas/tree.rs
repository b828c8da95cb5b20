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
use super::{Cas, CasError, Result};
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

fn expand(cas: &Cas, d: &Digest) -> Result<BTreeMap<String, Entry>> {
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
    pub fn entries(&mut self, cas: &Cas) -> Result<&mut BTreeMap<String, Entry>> {
        if let Dir::Sealed(d) = self {
            let map = expand(cas, d)?;
            *self = Dir::Open(map);
        }
        match self {
            Dir::Open(m) => Ok(m),
            Dir::Sealed(_) => unreachable!("just expanded"),
        }
    }

    fn is_empty(&mut self, cas: &Cas) -> Result<bool> {
        Ok(match self {
            Dir::Sealed(d) => d.size_bytes == 0 || cas.directory(d)?.encoded_len() == 0,
            Dir::Open(m) => m.is_empty(),
        })
    }

    /// Opens (creating when missing) the directory at `path` (`/`-separated, relative).
    pub fn open_dir(&mut self, cas: &Cas, path: &str) -> Result<&mut Dir> {
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
    pub fn find_dir(&mut self, cas: &Cas, path: &str) -> Result<Option<&mut Dir>> {
        let mut cur = self;
        for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
            match cur.entries(cas)?.get_mut(part) {
                Some(Entry::Dir(d)) => cur = d,
                _ => return Ok(None),
            }
        }
        Ok(Some(cur))
    }

    /// Imports `src` into this directory (see the module rules).
    pub fn import(&mut self, cas: &Cas, src: Dir, result: &mut ImportResult) -> Result<()> {
        self.import_at(cas, src, "", result)
    }

    fn import_at(
        &mut self,
        cas: &Cas,
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
                    Some(other) => {
                        let what = if matches!(other, Entry::Symlink(_)) {
                            "symlink"
                        } else {
                            "regular file"
                        };
                        return Err(CasError::Corrupt(
                            rel.clone(),
                            format!("Destination is a {what}, not a directory: /{rel}"),
                        ));
                    }
                },
                file_or_link => {
                    match dest.get_mut(&name) {
                        None => {}
                        Some(Entry::Dir(existing)) => {
                            if !existing.is_empty(cas)? {
                                result.ignored.push(rel);
                                continue;
                            }
                            result.overwritten.push(rel);
                        }
                        Some(_) => result.overwritten.push(rel),
                    }
                    dest.insert(name, file_or_link);
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
        cas: &Cas,
        src: Dir,
        filter: &dyn Fn(&str) -> bool,
        result: &mut ImportResult,
    ) -> Result<()> {
        self.import_filtered_at(cas, src, "", filter, result)
    }

    fn import_filtered_at(
        &mut self,
        cas: &Cas,
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
                        other => {
                            let what = if matches!(other, Entry::Symlink(_)) {
                                "symlink"
                            } else {
                                "regular file"
                            };
                            return Err(CasError::Corrupt(
                                rel.clone(),
                                format!("Destination is a {what}, not a directory: /{rel}"),
                            ));
                        }
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
                    match dest.get_mut(&name) {
                        None => {}
                        Some(Entry::Dir(existing)) => {
                            if !existing.is_empty(cas)? {
                                result.ignored.push(rel);
                                continue;
                            }
                            result.overwritten.push(rel);
                        }
                        Some(_) => result.overwritten.push(rel),
                    }
                    dest.insert(name, file_or_link);
                }
            }
        }
        Ok(())
    }

    /// Every path below (files, symlinks and directories, not the root itself), relative.
    pub fn relative_paths(&mut self, cas: &Cas) -> Result<Vec<String>> {
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
        cas: &Cas,
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
