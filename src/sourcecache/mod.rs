//! BuildStream's source caches, in its layout, so that bst and bst-rs share them.
//!
//! | ref                                            | names                              |
//! |------------------------------------------------|------------------------------------|
//! | `<cachedir>/source_protos/<kind>/<source key>` | one source staged alone            |
//! | `<cachedir>/elementsources/<sources key>`      | an element's sources staged together |
//!
//! Both refs hold a `buildstream.v2.Source` message whose only field set is `files`, the
//! Directory digest of the tree (`version` stays 0). A source key is `Source._key`, the sha256
//! of the source's unique key as JSON; an element's sources key is
//! `ElementSources.get_cache_key()`, the sha256 of the key dictionary's `sources` entry
//! (both from [`crate::cachekey::sources_json`]). An element without sources has the key of
//! `[]` and an empty tree.
//!
//! When (BuildStream's `Element._fetch()`): each source that does not work on the previous
//! ones and is not in `source_protos` is fetched (unless its original is already in the
//! source directory), staged alone and stored; then the sources are staged together in CAS
//! (a source such as `patch` on a checkout of what precedes it) and the element's ref
//! written. An element's sources are cached (`ElementSources.query_cache()`) when its ref
//! exists and every blob of its tree is in the local CAS: the fetch queue skips it, `show`
//! says `fetch needed` only when neither this nor the original sources are there, and the
//! build stages this tree.
//!
//! **Invariant:** a ref is written atomically, and only once every blob it names is in casd,
//! so an interrupted run never leaves a ref to missing blobs.

use crate::cas::proto::bst::Source;
use crate::cas::proto::reapi::{Digest, FileNode};
use crate::cas::tree::{Dir, Entry, ImportResult};
use crate::cas::{Cas, CasError, KnownTrees, LocalStore};
use crate::element::{Element, ElementSource};
use crate::source::fetch::util::TempDir;
use crate::source::fetch::{stage, FetchContext, FetchReport, SourceError};
use prost::Message;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Errors of the source caches.
#[derive(Debug, thiserror::Error)]
pub enum SourceCacheError {
    /// CAS trouble.
    #[error(transparent)]
    Cas(#[from] CasError),
    /// Ref or scratch file I/O.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// A ref that does not decode as a `Source` message.
    #[error("corrupt source ref {0}: {1}")]
    Corrupt(PathBuf, String),
    /// A source failed to fetch or stage (BuildStream's message, with element and index).
    #[error("{0}")]
    Source(SourceError),
}

impl SourceCacheError {
    /// A source's temporary failure (network trouble): BuildStream runs the fetch job again.
    pub fn is_temporary(&self) -> bool {
        matches!(self, SourceCacheError::Source(e) if e.temporary)
    }
}

/// Result of this layer.
pub type Result<T> = std::result::Result<T, SourceCacheError>;

/// A ref's content: the `Source` message naming `files`.
pub fn encode_ref(files: &Digest) -> Vec<u8> {
    Source {
        version: 0,
        files: Some(files.clone()),
    }
    .encode_to_vec()
}

/// The tree a ref's content names (an empty tree when `files` is absent, as protobuf reads
/// it).
pub fn decode_ref(bytes: &[u8]) -> std::result::Result<Digest, String> {
    Source::decode(bytes)
        .map(|s| s.files.unwrap_or_default())
        .map_err(|e| e.to_string())
}

/// The two source caches of one cache directory, read without casd.
#[derive(Clone)]
pub struct SourceCache {
    dir: PathBuf,
    store: LocalStore,
    known: Arc<KnownTrees>,
}

impl SourceCache {
    /// The caches of the cache directory `cachedir`.
    pub fn new(cachedir: &Path) -> SourceCache {
        SourceCache {
            dir: cachedir.to_path_buf(),
            store: LocalStore::new(&cachedir.join("cas")),
            known: Arc::default(),
        }
    }

    /// `<cachedir>/elementsources/<key>`.
    pub fn element_sources_ref(&self, key: &str) -> PathBuf {
        self.dir.join("elementsources").join(key)
    }

    /// `<cachedir>/source_protos/<kind>/<key>`.
    pub fn source_ref(&self, kind: &str, key: &str) -> PathBuf {
        self.dir.join("source_protos").join(kind).join(key)
    }

    /// The tree a ref names, if the ref exists.
    pub fn read_ref(path: &Path) -> Result<Option<Digest>> {
        match std::fs::read(path) {
            Ok(bytes) => decode_ref(&bytes)
                .map(Some)
                .map_err(|e| SourceCacheError::Corrupt(path.to_path_buf(), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SourceCacheError::Io(path.to_path_buf(), e)),
        }
    }

    /// Writes a ref atomically (the blobs of `files` must be in CAS already).
    pub fn write_ref(path: &Path, files: &Digest) -> Result<()> {
        crate::util::write_atomic(path, &encode_ref(files))
            .map_err(|e| SourceCacheError::Io(path.to_path_buf(), e))
    }

    /// The tree of `path`'s ref when the ref exists and the whole tree is in the local CAS.
    fn cached_tree(&self, path: &Path) -> Result<Option<Digest>> {
        let Some(d) = Self::read_ref(path)? else {
            return Ok(None);
        };
        Ok(self.store.contains_tree(&d, &self.known)?.then_some(d))
    }

    /// The element's staged sources, if cached (`ElementSources.query_cache()`; blocking).
    pub fn element_sources(&self, el: &Element) -> Result<Option<Digest>> {
        match &el.sources_key {
            Some(key) => self.cached_tree(&self.element_sources_ref(key)),
            None => Ok(None),
        }
    }

    /// One source's tree, if cached (`SourceCache.contains()`; blocking).
    pub fn source(&self, s: &ElementSource) -> Result<Option<Digest>> {
        match &s.key {
            Some(key) => self.cached_tree(&self.source_ref(&s.kind, key)),
            None => Ok(None),
        }
    }

    /// BuildStream's fetch job (`Element._fetch()`): fetches what is missing, stores each
    /// source and then the element's staged sources in CAS, and writes their refs; returns
    /// the element's tree. The sources' activities are reported to `report`; a failure is
    /// not retried here (see [`SourceCacheError::is_temporary`]). Blocking work runs in
    /// `block_in_place`, so this needs tokio's multi-threaded runtime.
    pub async fn fetch_and_cache(
        &self,
        cas: &Cas,
        el: &Element,
        ctx: &FetchContext,
        tmpdir: &Path,
        report: &mut (dyn FetchReport + Send),
    ) -> Result<Digest> {
        let in_source = |index: usize| {
            move |e: SourceError| SourceCacheError::Source(e.in_source(&el.full_name, index))
        };
        let mut trees: Vec<Option<Digest>> = Vec::with_capacity(el.sources.len());
        for (index, s) in el.sources.iter().enumerate() {
            // A source that works on the previous ones is never cached on its own.
            let alone = !s.fetcher.requires_previous_sources();
            if alone {
                if let Some(d) = tokio::task::block_in_place(|| self.source(s))? {
                    trees.push(Some(d));
                    continue;
                }
            }
            tokio::task::block_in_place(|| s.fetcher.fetch_unless_cached(ctx, report))
                .map_err(in_source(index))?;
            if !alone {
                trees.push(None);
                continue;
            }
            let d = self
                .commit_source(cas, s, ctx, tmpdir, report)
                .await
                .map_err(|e| match e {
                    SourceCacheError::Source(e) => in_source(index)(e),
                    e => e,
                })?;
            trees.push(Some(d));
        }

        // `ElementSources._stage()`: everything in CAS, in order, each at its directory.
        let mut root = Dir::default();
        for (index, (s, tree)) in el.sources.iter().zip(trees).enumerate() {
            let at = s.directory.as_deref().unwrap_or("").trim_start_matches('/');
            let sub = root.open_dir(cas, at)?;
            match tree {
                Some(d) => sub.import(cas, Dir::from_digest(d), &mut ImportResult::default())?,
                None => {
                    let scratch = scratch(tmpdir)?;
                    let staged = tokio::task::block_in_place(|| {
                        crate::cas::export::to_directory(cas.store(), sub, scratch.path(), false)?;
                        s.fetcher
                            .stage(ctx, scratch.path(), report)
                            .and_then(|()| stage::normalize(scratch.path()))
                            .map_err(in_source(index))
                    });
                    staged?;
                    *sub = Dir::from_digest(cas.capture_tree(scratch.path()).await?);
                }
            }
        }
        let mut blobs = Vec::new();
        let digest = root.seal(&mut blobs);
        cas.put_blobs(blobs).await?;
        if let Some(key) = &el.sources_key {
            Self::write_ref(&self.element_sources_ref(key), &digest)?;
        }
        Ok(digest)
    }

    /// `SourceCache.commit()`: stages one source alone (in `<tmpdir>/staging-temp<random>`,
    /// as BuildStream names it, since plugins' staging activities name it), stores the tree,
    /// writes its ref.
    async fn commit_source(
        &self,
        cas: &Cas,
        s: &ElementSource,
        ctx: &FetchContext,
        tmpdir: &Path,
        report: &mut (dyn FetchReport + Send),
    ) -> Result<Digest> {
        let digest = match &s.local_path {
            Some(path) if path.is_dir() => cas.capture_tree(path).await?,
            Some(path) => local_file_tree(cas, path).await?,
            None => {
                let scratch = TempDir::with_prefix(tmpdir, "staging-temp")
                    .map_err(|e| SourceCacheError::Io(tmpdir.to_path_buf(), e))?;
                tokio::task::block_in_place(|| {
                    s.fetcher
                        .stage(ctx, scratch.path(), report)
                        .and_then(|()| stage::normalize(scratch.path()))
                })
                .map_err(SourceCacheError::Source)?;
                cas.capture_tree(scratch.path()).await?
            }
        };
        if let Some(key) = &s.key {
            Self::write_ref(&self.source_ref(&s.kind, key), &digest)?;
        }
        Ok(digest)
    }
}

fn scratch(tmpdir: &Path) -> Result<TempDir> {
    TempDir::new_in(tmpdir).map_err(|e| SourceCacheError::Io(tmpdir.to_path_buf(), e))
}

/// A `local` source naming a single file: a tree holding just that file.
async fn local_file_tree(cas: &Cas, path: &Path) -> Result<Digest> {
    let digest = cas
        .capture_files(std::slice::from_ref(&path.to_path_buf()))
        .await?
        .remove(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let exec = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o100 != 0)
            .map_err(|e| SourceCacheError::Io(path.to_path_buf(), e))?
    };
    let mut entries = BTreeMap::new();
    entries.insert(
        name.clone(),
        Entry::File(FileNode {
            name,
            digest: Some(digest),
            is_executable: exec,
            node_properties: None,
        }),
    );
    let mut blobs = Vec::new();
    let root = Dir::Open(entries).seal(&mut blobs);
    cas.put_blobs(blobs).await?;
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_paths_follow_buildstream_layout() {
        let c = SourceCache::new(Path::new("/c"));
        assert_eq!(
            c.element_sources_ref("ab"),
            PathBuf::from("/c/elementsources/ab")
        );
        assert_eq!(
            c.source_ref("tar", "cd"),
            PathBuf::from("/c/source_protos/tar/cd")
        );
    }
}
