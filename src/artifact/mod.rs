//! Artifacts in BuildStream 2's layout, so bst and bst-rs share one cache directory.
//!
//! An artifact is a serialized `buildstream.v2.Artifact` proto written to
//! `<cachedir>/artifacts/refs/<project>/<normal name>/<key>` for the strong and the weak key;
//! everything it points to (files tree, public data, metadata, logs) is in casd's CAS.
//! Queries need no casd: refs are read from disk and blobs are looked up in casd's object
//! store directly ([`LocalStore`]), with BuildStream's meaning of "cached" (the whole files
//! tree, metadata, public data and log blobs are present). Storing goes through casd.
//!
//! Invariant: a ref file is written (atomically) only after every blob and tree it names is in
//! CAS, so an interrupted build never leaves an artifact that looks cached but is not.

use crate::cas::proto::bst::{artifact, Artifact};
use crate::cas::proto::reapi::Digest;
use crate::cas::{Cas, CasError, KnownTrees, LocalStore};
use prost::Message;
use std::path::{Path, PathBuf};

/// `Artifact.version` for BuildStream 2.
pub const ARTIFACT_VERSION: i32 = 2;

/// Errors of this layer.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// CAS trouble.
    #[error(transparent)]
    Cas(#[from] CasError),
    /// Ref file I/O.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// A ref that does not decode.
    #[error("corrupt artifact ref {0}")]
    Corrupt(PathBuf),
    /// Metadata (`low-diversity-meta.yaml`, `public.yaml`) that does not read as BuildStream
    /// writes it.
    #[error("{0}: {1}")]
    Meta(&'static str, String),
}

/// What an artifact records of its element for running its integration commands without the
/// element: BuildStream's `Artifact.load_environment`, `load_sandbox_config` and the `bst`
/// domain of `load_public_data`, as `bst artifact checkout` of an artifact name uses them.
pub struct Recorded {
    /// The element's environment, in its order.
    pub environment: Vec<(String, String)>,
    /// Its sandbox configuration.
    pub sandbox: crate::element::SandboxConfig,
    /// `bst: integration-commands`.
    pub integration_commands: Vec<String>,
}

/// Result of this layer.
pub type Result<T> = std::result::Result<T, ArtifactError>;

/// BuildStream's `normal_name`: `/` becomes `-` and the extension goes (Python's
/// `os.path.splitext`: the last dot, unless only dots precede it).
pub fn normal_name(name: &str) -> String {
    let n = name.replace('/', "-");
    match n.rfind('.') {
        Some(i) if n[..i].bytes().any(|b| b != b'.') => n[..i].to_owned(),
        _ => n,
    }
}

/// `<project>/<normal name>/<key>`, with characters outside `[0-9A-Za-z._-]` replaced by `_`.
pub fn artifact_name(project: &str, element: &str, key: &str) -> String {
    let normal: String = normal_name(element)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{project}/{normal}/{key}")
}

/// What a finished build hands over to be cached.
pub struct NewArtifact<'a> {
    /// Project of the element.
    pub project: &'a str,
    /// Element name (project-local).
    pub element: &'a str,
    /// Strong (= strict in strict mode), strict and weak keys.
    pub strong_key: &'a str,
    /// Strict key.
    pub strict_key: &'a str,
    /// Weak key.
    pub weak_key: &'a str,
    /// Success, or the error and its detail.
    pub result: std::result::Result<(), (String, String)>,
    /// The collected files, when there are any.
    pub files: Option<Digest>,
    /// YAML of the public data.
    pub public_data: String,
    /// YAML `{environment, sandbox-config}`.
    pub low_diversity_meta: String,
    /// YAML `{variables}`.
    pub high_diversity_meta: String,
    /// The build log.
    pub log: Option<&'a Path>,
    /// Build dependencies: project, element name, strong key.
    pub build_deps: Vec<(String, String, String)>,
}

/// The artifact cache of one cache directory.
#[derive(Clone)]
pub struct ArtifactCache {
    refs: PathBuf,
    store: LocalStore,
    known: std::sync::Arc<KnownTrees>,
}

impl ArtifactCache {
    /// The cache under `cachedir` (refs in `artifacts/refs`, blobs in `cas/objects`).
    pub fn new(cachedir: &Path) -> ArtifactCache {
        ArtifactCache {
            refs: cachedir.join("artifacts").join("refs"),
            store: LocalStore::new(&cachedir.join("cas")),
            known: Default::default(),
        }
    }

    /// casd's object store, read directly.
    pub fn store(&self) -> &LocalStore {
        &self.store
    }

    /// Where the ref of `project/element/key` lives.
    pub fn ref_path(&self, project: &str, element: &str, key: &str) -> PathBuf {
        self.refs.join(artifact_name(project, element, key))
    }

    /// Removes the ref `name` (`project/element/key`) and the directories it leaves empty
    /// (BuildStream's `remove_ref`). False when there was no such ref. The blobs stay in
    /// CAS, for casd's expiry to collect.
    pub fn remove_ref(&self, name: &str) -> Result<bool> {
        let path = self.refs.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(ArtifactError::Io(path, e)),
        }
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| *d != self.refs && d.starts_with(&self.refs)) {
            if std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(true)
    }

    /// Reads the ref `name` (`project/normal name/key`), if it exists.
    pub fn load_ref(&self, name: &str) -> Result<Option<Artifact>> {
        let path = self.refs.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => Artifact::decode(bytes.as_slice())
                .map(Some)
                .map_err(|_| ArtifactError::Corrupt(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ArtifactError::Io(path, e)),
        }
    }

    /// Every ref's name (`project/normal name/key`), sorted.
    pub fn list_refs(&self) -> Result<Vec<String>> {
        fn walk(dir: &Path, rel: &str, depth: usize, out: &mut Vec<String>) -> Result<()> {
            let entries = match std::fs::read_dir(dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(ArtifactError::Io(dir.to_path_buf(), e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| ArtifactError::Io(dir.to_path_buf(), e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let rel = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                if depth < 2 {
                    walk(&entry.path(), &rel, depth + 1, out)?;
                } else {
                    out.push(rel);
                }
            }
            Ok(())
        }
        let mut out = Vec::new();
        walk(&self.refs, "", 0, &mut out)?;
        out.sort();
        Ok(out)
    }

    /// Reads a ref, if it exists.
    pub fn load(&self, project: &str, element: &str, key: &str) -> Result<Option<Artifact>> {
        self.load_ref(&artifact_name(project, element, key))
    }

    /// BuildStream's "cached": the files tree and the metadata, public data and log blobs
    /// are all in the local CAS.
    /// Reads the object store directly (blocking file I/O; no casd).
    pub fn is_complete(&self, a: &Artifact) -> Result<bool> {
        if let Some(files) = &a.files {
            if !self.store.contains_tree(files, &self.known)? {
                return Ok(false);
            }
        }
        let meta = [
            &a.public_data,
            &a.low_diversity_meta,
            &a.high_diversity_meta,
        ];
        Ok(meta
            .into_iter()
            .flatten()
            .chain(a.logs.iter().filter_map(|l| l.digest.as_ref()))
            .all(|d| self.store.has_blob(d)))
    }

    /// A complete artifact for the key, if cached (blocking file I/O; no casd).
    pub fn lookup(&self, project: &str, element: &str, key: &str) -> Result<Option<Artifact>> {
        self.lookup_ref(&artifact_name(project, element, key))
    }

    /// [`ArtifactCache::lookup`] by ref name (`project/normal name/key`).
    pub fn lookup_ref(&self, name: &str) -> Result<Option<Artifact>> {
        match self.load_ref(name)? {
            Some(a) if self.is_complete(&a)? => Ok(Some(a)),
            _ => Ok(None),
        }
    }

    /// Stores blobs through casd, then writes the refs (strong and weak key).
    pub async fn store_new(&self, cas: &Cas, n: NewArtifact<'_>) -> Result<Artifact> {
        let mut blobs = vec![
            n.public_data.into_bytes(),
            n.low_diversity_meta.into_bytes(),
            n.high_diversity_meta.into_bytes(),
        ];
        let mut log_name = None;
        if let Some(log) = n.log {
            let bytes = std::fs::read(log).map_err(|e| ArtifactError::Io(log.into(), e))?;
            blobs.push(bytes);
            log_name = log.file_name().map(|f| f.to_string_lossy().into_owned());
        }
        let digests = cas.put_blobs(blobs).await?;
        let (error, details) = match &n.result {
            Ok(()) => (String::new(), String::new()),
            Err((e, d)) => (e.clone(), d.clone()),
        };
        let artifact = Artifact {
            version: ARTIFACT_VERSION,
            build_success: n.result.is_ok(),
            build_error: error,
            build_error_details: details,
            strong_key: n.strong_key.to_owned(),
            weak_key: n.weak_key.to_owned(),
            strict_key: n.strict_key.to_owned(),
            was_workspaced: false,
            files: n.files,
            build_deps: n
                .build_deps
                .into_iter()
                .map(
                    |(project_name, element_name, cache_key)| artifact::Dependency {
                        project_name,
                        element_name,
                        cache_key,
                        was_workspaced: false,
                    },
                )
                .collect(),
            public_data: Some(digests[0].clone()),
            low_diversity_meta: Some(digests[1].clone()),
            high_diversity_meta: Some(digests[2].clone()),
            logs: log_name
                .map(|name| artifact::LogFile {
                    name,
                    digest: Some(digests[3].clone()),
                })
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let bytes = artifact.encode_to_vec();
        let mut keys = vec![n.strong_key];
        if n.weak_key != n.strong_key {
            keys.push(n.weak_key);
        }
        for key in keys {
            let path = self.ref_path(n.project, n.element, key);
            crate::util::write_atomic(&path, &bytes).map_err(|e| ArtifactError::Io(path, e))?;
        }
        Ok(artifact)
    }

    /// Reads a blob of an artifact (log, public data) from the local CAS.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        Ok(self.store.read_local(d)?)
    }

    /// The element as the artifact records it (see [`Recorded`]).
    pub fn recorded(&self, a: &Artifact) -> Result<Recorded> {
        let yaml = |digest: &Option<Digest>, name: &'static str| -> Result<crate::yaml::Node> {
            let bytes = self.read_blob(&digest.clone().unwrap_or_default())?;
            let text = String::from_utf8(bytes)
                .map_err(|_| ArtifactError::Meta(name, "not UTF-8".into()))?;
            crate::yaml::parse_str(&text, crate::yaml::SYNTHETIC)
                .map_err(|e| ArtifactError::Meta(name, e.to_string()))
        };
        let meta = |name: &'static str| {
            move |e: crate::yaml::LoadError| ArtifactError::Meta(name, e.to_string())
        };
        let low = yaml(&a.low_diversity_meta, "low-diversity-meta.yaml")?;
        let low_err = meta("low-diversity-meta.yaml");
        let mut environment = Vec::new();
        if let Some(env) = low.get_mapping("environment").map_err(low_err)? {
            for (name, value) in env.as_map().into_iter().flatten() {
                let value = value.as_str().ok_or_else(|| {
                    ArtifactError::Meta(
                        "low-diversity-meta.yaml",
                        format!("environment variable '{name}' is not a string"),
                    )
                })?;
                environment.push((name.to_string(), value.to_owned()));
            }
        }
        let sandbox = match low.get_mapping("sandbox-config").map_err(low_err)? {
            Some(node) => crate::element::parse_sandbox(node).map_err(low_err)?,
            None => {
                return Err(ArtifactError::Meta(
                    "low-diversity-meta.yaml",
                    "no sandbox-config".into(),
                ))
            }
        };
        let public = yaml(&a.public_data, "public.yaml")?;
        let public_err = meta("public.yaml");
        let integration_commands = match public.get_mapping("bst").map_err(public_err)? {
            Some(bst) => bst
                .get_str_list("integration-commands")
                .map_err(public_err)?,
            None => Vec::new(),
        };
        Ok(Recorded {
            environment,
            sandbox,
            integration_commands,
        })
    }

    /// Writes the files tree `root` under `dest` (a new or empty directory), as checkout does:
    /// regular files copied out of casd's store with their executable bit, symlinks recreated.
    pub fn export(&self, root: &Digest, dest: &Path) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |e| ArtifactError::Io(p, e)
        };
        std::fs::create_dir_all(dest).map_err(io(dest))?;
        let dir = self.store.directory(root)?;
        for f in &dir.files {
            let target = dest.join(&f.name);
            let digest = f.digest.clone().unwrap_or_default();
            let src = self.store.object_path(&digest);
            if digest.size_bytes == 0 && !src.exists() {
                std::fs::write(&target, b"").map_err(io(&target))?;
            } else {
                std::fs::copy(&src, &target).map_err(io(&src))?;
            }
            let mode = if f.is_executable { 0o755 } else { 0o644 };
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
                .map_err(io(&target))?;
        }
        for s in &dir.symlinks {
            let target = dest.join(&s.name);
            std::os::unix::fs::symlink(&s.target, &target).map_err(io(&target))?;
        }
        for d in &dir.directories {
            self.export(&d.digest.clone().unwrap_or_default(), &dest.join(&d.name))?;
        }
        Ok(())
    }

    /// Every path in the files tree as `artifact list-contents` prints them: BuildStream's
    /// `list_relative_paths` order (per directory: the directory itself, its files and
    /// symlinks sorted by name, then its subdirectories sorted by name, recursively).
    pub fn list_contents(&self, root: &Digest) -> Result<Vec<Content>> {
        let mut out = Vec::new();
        self.list_into(root, "", &mut out)?;
        Ok(out)
    }

    fn list_into(&self, root: &Digest, prefix: &str, out: &mut Vec<Content>) -> Result<()> {
        let dir = self.store.directory(root)?;
        let join = |n: &str| {
            if prefix.is_empty() {
                n.to_owned()
            } else {
                format!("{prefix}/{n}")
            }
        };
        let mut leaves: Vec<Content> = dir
            .files
            .iter()
            .map(|f| Content {
                path: join(&f.name),
                kind: ContentKind::File {
                    executable: f.is_executable,
                    size: f.digest.as_ref().map_or(0, |d| d.size_bytes),
                },
            })
            .chain(dir.symlinks.iter().map(|s| Content {
                path: join(&s.name),
                kind: ContentKind::Symlink(s.target.clone()),
            }))
            .collect();
        leaves.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        out.extend(leaves);
        let mut dirs: Vec<_> = dir.directories.iter().collect();
        dirs.sort_by(|a, b| a.name.cmp(&b.name));
        for d in dirs {
            let path = join(&d.name);
            out.push(Content {
                path: path.clone(),
                kind: ContentKind::Directory,
            });
            self.list_into(&d.digest.clone().unwrap_or_default(), &path, out)?;
        }
        Ok(())
    }
}

/// One entry of an artifact's files, as `artifact list-contents` lists it.
pub struct Content {
    /// Its path, relative to the artifact's root.
    pub path: String,
    /// What it is.
    pub kind: ContentKind,
}

/// The kind of a [`Content`] entry, with what `--long` shows of it.
pub enum ContentKind {
    /// A regular file.
    File {
        /// Its executable bit.
        executable: bool,
        /// Its size in bytes.
        size: i64,
    },
    /// A symbolic link and its target.
    Symlink(String),
    /// A directory.
    Directory,
}

impl Content {
    /// BuildStream's `--long` line (`_get_filestats`): mode, type, size padded to 11, path.
    pub fn long(&self) -> String {
        let (mode, kind, size, target) = match &self.kind {
            ContentKind::Directory => ("drwxr-xr-x", "dir ", 0, String::new()),
            ContentKind::Symlink(t) => (
                "lrwxrwxrwx",
                "link",
                t.chars().count() as i64,
                format!(" -> {t}"),
            ),
            ContentKind::File {
                executable: true,
                size,
            } => ("-rwxr-xr-x", "exe ", *size, String::new()),
            ContentKind::File { size, .. } => ("-rw-r--r--", "reg ", *size, String::new()),
        };
        format!("{mode}  {kind}   {size:<11} {}{target}", self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_buildstream() {
        assert_eq!(normal_name("base/gcc.bst"), "base-gcc");
        assert_eq!(normal_name("a.b-c"), "a");
        assert_eq!(normal_name(".hidden"), ".hidden");
        assert_eq!(normal_name("..a.bst"), "..a");
        assert_eq!(artifact_name("p", "x/y+z.bst", "k"), "p/x-y_z/k");
    }
}
