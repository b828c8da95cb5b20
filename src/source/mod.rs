//! Source kinds and their unique keys, registered in [`SOURCE_KINDS`].
//!
//! A source's configuration is the project's `sources: <kind>: config` composed with the
//! element's source entry, variable-expanded. Keys use the URL as written (with its alias),
//! never the translated URL, so changing a mirror or alias target does not change keys.

pub mod community;
pub mod dirdigest;
pub mod fetch;
pub mod filedigests;
pub mod info;

use crate::cachekey::json::KeyValue;
use crate::yaml::{LoadError, LoadErrorReason, Node, Result};
use info::{medium, version_type, Collected, InfoInput};
use std::path::Path;

/// What a source kind needs to configure itself.
pub struct SourceInput<'a> {
    /// Composed, expanded configuration (without `kind`, `directory`, `provenance`).
    pub config: &'a Node,
    /// The owning project's directory (local paths are relative to it).
    pub project_dir: &'a Path,
    /// The project's `aliases:` (expanded), for default file names.
    pub aliases: &'a Node,
    /// Display name of the source for messages (`element.bst-0`-like).
    pub display: &'a str,
    /// Whether to compute the unique key: not when the element is only instantiated to
    /// validate it (a junction or link the loader meets), where a `local` source's digest
    /// of its whole directory would be wasted (BuildStream computes keys lazily).
    pub compute_key: bool,
}

/// A configured source.
pub struct ConfiguredSource {
    /// `get_unique_key()`, or `None` when the source has no ref yet.
    pub unique_key: Option<KeyValue>,
    /// For `local` sources: the absolute path (used for junctions).
    pub local_path: Option<std::path::PathBuf>,
}

/// A source kind.
pub trait SourceKind: Send + Sync {
    /// Validates configuration and computes the unique key.
    fn configure(&self, input: &SourceInput) -> Result<ConfiguredSource>;

    /// The URLs the plugin marks (`Source.mark_download_url()`, `translate_url()`) while
    /// configuring, in that order; their aliases must exist in the project.
    fn marked_urls(&self, _config: &Node) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// `get_ref()` of the configured source, as Python's `str()` prints it (BuildStream
    /// names a ref written in the element that `project.refs` storage ignores). The
    /// default is the `ref` value.
    fn inline_ref(&self, config: &Node) -> Result<Option<String>> {
        Ok(config.get("ref").map(Node::py_str))
    }

    /// `collect_source_info()`, for a source that [`configure`](Self::configure) accepted.
    /// The default is a plugin that does not implement it.
    fn source_info(&self, _input: &SourceInput, _info: &InfoInput) -> Result<Collected> {
        Ok(Collected::Unavailable)
    }
}

/// Keys every source accepts besides its own.
pub const COMMON_KEYS: [&str; 3] = ["kind", "directory", "provenance"];

fn keys_with(own: &[&'static str]) -> Vec<&'static str> {
    let mut v = own.to_vec();
    v.extend_from_slice(&COMMON_KEYS);
    v
}

fn source_error(msg: String) -> LoadError {
    LoadError::new(LoadErrorReason::PluginConfig, msg)
}

/// Checks a project-relative path like `Plugin.node_get_project_path`; returns it as written.
fn project_path(
    node: &Node,
    key: &str,
    project_dir: &Path,
    must_be_file: bool,
    must_be_dir: bool,
) -> Result<String> {
    let scalar = node.get(key).ok_or_else(|| node.missing_key(key))?;
    node.req_str(key)?;
    crate::project::path_from_node(project_dir, scalar, must_be_file, must_be_dir)
}

/// [`dirdigest::local_source_digest`], computed once per path per process (many elements
/// share files such as common patches or configuration directories).
pub fn cached_local_digest(path: &Path) -> std::io::Result<dirdigest::Digest> {
    type Cache = std::sync::Mutex<rustc_hash::FxHashMap<std::path::PathBuf, dirdigest::Digest>>;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(d) = cache.lock().ok().and_then(|c| c.get(path).cloned()) {
        return Ok(d);
    }
    let d = dirdigest::local_source_digest(path)?;
    if let Ok(mut c) = cache.lock() {
        c.insert(path.to_path_buf(), d.clone());
    }
    Ok(d)
}

/// `local`: a file or directory of the project.
pub struct LocalSource;

impl SourceKind for LocalSource {
    fn configure(&self, input: &SourceInput) -> Result<ConfiguredSource> {
        input.config.validate_keys(&keys_with(&["path"]))?;
        let path = project_path(input.config, "path", input.project_dir, false, false)?;
        let full = input.project_dir.join(&path);
        if !input.compute_key {
            return Ok(ConfiguredSource {
                unique_key: None,
                local_path: Some(full),
            });
        }
        let digest = cached_local_digest(&full)
            .map_err(|e| source_error(format!("{}: {e}", input.display)))?;
        Ok(ConfiguredSource {
            unique_key: Some(KeyValue::Str(digest.hash)),
            local_path: Some(full),
        })
    }

    fn source_info(&self, input: &SourceInput, info: &InfoInput) -> Result<Collected> {
        let path = project_path(input.config, "path", input.project_dir, false, false)?;
        let digest = cached_local_digest(&input.project_dir.join(&path))
            .map_err(|e| source_error(format!("{}: {e}", input.display)))?;
        Ok(Collected::Infos(vec![info.create(
            path,
            medium::LOCAL,
            version_type::CAS_DIGEST,
            Some(format!("{}/{}", digest.hash, digest.size_bytes)),
            None,
            Vec::new(),
            None,
        )?]))
    }
}

/// Translates `alias:rest` with the project's aliases (for default file names only).
fn translate_url(url: &str, aliases: &Node) -> String {
    if let Some((alias, rest)) = url.split_once(':') {
        let schemes = ["http", "https", "git", "ssh", "file", "ftp"];
        if !schemes.contains(&alias.to_lowercase().as_str()) {
            if let Some(Some(base)) = aliases.get(alias).map(Node::as_str) {
                return format!("{base}{rest}");
            }
        }
    }
    url.to_owned()
}

fn downloadable_key(c: &Node) -> Result<(Vec<KeyValue>, bool)> {
    let url = c.req_str("url")?;
    let r#ref = c.get_str("ref")?;
    let mut key = vec![
        KeyValue::Str(url.to_owned()),
        r#ref
            .map(|r| KeyValue::Str(r.to_owned()))
            .unwrap_or(KeyValue::Null),
    ];
    if let Some(v) = c.get_str("version")? {
        key.push(KeyValue::Str(v.to_owned()));
    } else if let Some(p) = c.get_str("version-guess-pattern")? {
        key.push(KeyValue::Str(p.to_owned()));
    }
    Ok((key, r#ref.is_some()))
}

const DOWNLOADABLE_KEYS: [&str; 4] = ["url", "ref", "version", "version-guess-pattern"];

/// `utils.guess_version()` with a configured pattern; a pattern Python cannot compile
/// crashes BuildStream (`re.error`).
pub(crate) fn guess_or_crash(
    string: &str,
    pattern: Option<&str>,
    display: &str,
) -> Result<Option<String>> {
    info::guess_version(string, pattern)
        .map_err(|e| info::crash(display, &format!("re.error: {e}")))
}

/// `DownloadableFileSource.collect_source_info()` (`remote`, `tar`, `zip`): the translated
/// URL, the ref as sha256, and `version` or a guess from the URL as written.
pub(crate) fn downloadable_info(input: &SourceInput, info: &InfoInput) -> Result<Collected> {
    let c = input.config;
    let original = c.req_str("url")?;
    let version_guess = match c.get_str("version")? {
        Some(v) => Some(v.to_owned()),
        None => guess_or_crash(original, c.get_str("version-guess-pattern")?, input.display)?,
    };
    Ok(Collected::Infos(vec![info.create(
        (info.translate)(original)?,
        medium::REMOTE_FILE,
        version_type::SHA256,
        c.get_str("ref")?.map(str::to_owned),
        version_guess,
        Vec::new(),
        None,
    )?]))
}

/// `remote`: a single downloaded file.
pub struct RemoteSource;

impl SourceKind for RemoteSource {
    fn configure(&self, input: &SourceInput) -> Result<ConfiguredSource> {
        let c = input.config;
        let (mut key, resolved) = downloadable_key(c)?;
        let url = translate_url(c.req_str("url")?, input.aliases);
        let default_name = url.rsplit('/').next().unwrap_or("").to_owned();
        let filename = c
            .get_str("filename")?
            .map(str::to_owned)
            .unwrap_or(default_name);
        let executable = c.get_bool("executable", false)?;
        if filename.contains('/') {
            return Err(source_error(format!(
                "{}: filename parameter cannot contain directories",
                input.display
            )));
        }
        let mut valid = keys_with(&DOWNLOADABLE_KEYS);
        valid.extend(["filename", "executable"]);
        c.validate_keys(&valid)?;
        key.push(KeyValue::Str(filename));
        key.push(KeyValue::Bool(executable));
        Ok(ConfiguredSource {
            unique_key: resolved.then_some(KeyValue::List(key)),
            local_path: None,
        })
    }

    fn marked_urls(&self, config: &Node) -> Result<Vec<String>> {
        Ok(vec![config.req_str("url")?.to_owned()])
    }

    fn source_info(&self, input: &SourceInput, info: &InfoInput) -> Result<Collected> {
        downloadable_info(input, info)
    }
}

/// `tar`: a downloaded tarball.
pub struct TarSource;

impl SourceKind for TarSource {
    fn configure(&self, input: &SourceInput) -> Result<ConfiguredSource> {
        let c = input.config;
        let (mut key, resolved) = downloadable_key(c)?;
        let base_dir = c.get_str("base-dir")?.unwrap_or("*").to_owned();
        let mut valid = keys_with(&DOWNLOADABLE_KEYS);
        valid.push("base-dir");
        c.validate_keys(&valid)?;
        key.push(KeyValue::Str(base_dir));
        Ok(ConfiguredSource {
            unique_key: resolved.then_some(KeyValue::List(key)),
            local_path: None,
        })
    }

    fn marked_urls(&self, config: &Node) -> Result<Vec<String>> {
        Ok(vec![config.req_str("url")?.to_owned()])
    }

    fn source_info(&self, input: &SourceInput, info: &InfoInput) -> Result<Collected> {
        downloadable_info(input, info)
    }
}

/// `patch` (buildstream-plugins): a patch file of the project.
pub struct PatchSource;

impl SourceKind for PatchSource {
    fn configure(&self, input: &SourceInput) -> Result<ConfiguredSource> {
        let c = input.config;
        c.validate_keys(&keys_with(&["path", "strip-level"]))?;
        let path = project_path(c, "path", input.project_dir, true, false)?;
        let strip = c.get_int("strip-level")?.unwrap_or(1);
        let sha = sha256_file(&input.project_dir.join(&path))
            .map_err(|e| source_error(format!("{}: {e}", input.display)))?;
        Ok(ConfiguredSource {
            unique_key: Some(KeyValue::List(vec![
                KeyValue::Str(path),
                KeyValue::Str(sha),
                KeyValue::Int(strip),
            ])),
            local_path: None,
        })
    }

    /// The checksum is only known once BuildStream computed the source's key.
    fn source_info(&self, input: &SourceInput, info: &InfoInput) -> Result<Collected> {
        let path = project_path(input.config, "path", input.project_dir, true, false)?;
        let sha = if info.key_computed {
            Some(
                sha256_file(&input.project_dir.join(&path))
                    .map_err(|e| source_error(format!("{}: {e}", input.display)))?,
            )
        } else {
            None
        };
        Ok(Collected::Infos(vec![info.create(
            path,
            medium::LOCAL,
            version_type::SHA256,
            sha,
            None,
            Vec::new(),
            None,
        )?]))
    }
}

/// sha256 hex digest of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let (hash, _) = sha256_and_size(&mut f)?;
    Ok(hash)
}

/// The sha256 (hex) and the size of what `reader` has left.
pub fn sha256_and_size(reader: &mut impl std::io::Read) -> std::io::Result<(String, u64)> {
    let (sha256, size) = sha256_bytes_and_size(reader)?;
    Ok((crate::util::hex(&sha256), size))
}

/// [`sha256_and_size`] with the digest as bytes, read through one buffer per thread
/// (projects hash thousands of small local files: no buffer is allocated and zeroed per
/// file).
pub fn sha256_bytes_and_size(reader: &mut impl std::io::Read) -> std::io::Result<([u8; 32], u64)> {
    use sha2::{Digest, Sha256};
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 1 << 16]);
    }
    BUFFER.with(|buffer| {
        let mut buf = buffer.borrow_mut();
        let mut h = Sha256::new();
        let mut size = 0u64;
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    h.update(&buf[..n]);
                    size += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok((h.finalize().into(), size))
    })
}

/// `git` (buildstream-plugins).
pub struct GitSource;

impl SourceKind for GitSource {
    /// The ref and its tags, `(ref, [(tag, commit, annotated), ...])`.
    fn inline_ref(&self, config: &Node) -> Result<Option<String>> {
        let Some(r) = config.get_str("ref")? else {
            return Ok(None);
        };
        let mut tags = Vec::new();
        for t in config
            .get_sequence("tags")?
            .and_then(Node::as_seq)
            .unwrap_or(&[])
        {
            tags.push(format!(
                "({}, {}, {})",
                crate::util::py_repr(t.req_str("tag")?),
                crate::util::py_repr(t.req_str("commit")?),
                if t.get_bool("annotated", false)? {
                    "True"
                } else {
                    "False"
                }
            ));
        }
        Ok(Some(format!(
            "({}, [{}])",
            crate::util::py_repr(r),
            tags.join(", ")
        )))
    }

    fn configure(&self, input: &SourceInput) -> Result<ConfiguredSource> {
        let c = input.config;
        c.validate_keys(&keys_with(&[
            "url",
            "track",
            "ref",
            "submodules",
            "checkout-submodules",
            "ref-format",
            "track-tags",
            "tags",
            "version",
            "version-guess-pattern",
        ]))?;
        let mut tags: Vec<(String, String, bool)> = Vec::new();
        if let Some(seq) = c.get_sequence("tags")? {
            for t in seq.as_seq().unwrap_or(&[]) {
                t.validate_keys(&["tag", "commit", "annotated"])?;
                tags.push((
                    t.req_str("tag")?.to_owned(),
                    t.req_str("commit")?.to_owned(),
                    {
                        if t.get("annotated").is_none() {
                            return Err(t.missing_key("annotated"));
                        }
                        t.get_bool("annotated", false)?
                    },
                ));
            }
        }
        c.get_bool("track-tags", false)?;
        let url = c.req_str("url")?.to_owned();
        let r#ref = c.get_str("ref")?.map(str::to_owned);
        let track = c.get_str("track")?;
        match c.get_str("ref-format")? {
            None | Some("sha1") | Some("git-describe") => {}
            Some(_) => {
                let p = c.get("ref-format").map(|n| n.prov).unwrap_or(c.prov);
                return Err(LoadError::new(
                    LoadErrorReason::InvalidData,
                    format!("{p}: Value of 'ref-format' should be one of 'sha1, git-describe'"),
                ));
            }
        }
        if r#ref.is_none() && track.is_none() {
            return Err(source_error(format!(
                "{}: Git sources require a ref and/or track",
                input.display
            )));
        }
        let checkout_submodules = c.get_bool("checkout-submodules", true)?;
        let mut overrides: Vec<(String, KeyValue)> = Vec::new();
        let mut checkout_overrides: Vec<(String, KeyValue)> = Vec::new();
        if let Some(modules) = c.get_mapping("submodules")? {
            for (path, sub) in modules.as_map().into_iter().flatten() {
                let sub = modules.get_mapping(path)?.unwrap_or(sub);
                let url = sub.get_str("url")?;
                overrides.push((
                    path.to_string(),
                    url.map(|u| KeyValue::Str(u.to_owned()))
                        .unwrap_or(KeyValue::Null),
                ));
                if sub.get("checkout").is_some() {
                    checkout_overrides.push((
                        path.to_string(),
                        KeyValue::Bool(sub.get_bool("checkout", false)?),
                    ));
                }
            }
        }
        let Some(r) = r#ref else {
            return Ok(ConfiguredSource {
                unique_key: None,
                local_path: None,
            });
        };
        let stripped = r.rsplit("-g").next().unwrap_or(&r).to_owned();
        let mut key = vec![KeyValue::Str(url), KeyValue::Str(stripped)];
        if !tags.is_empty() {
            let mut m = std::collections::BTreeMap::new();
            for (tag, commit, annotated) in tags {
                m.insert(
                    tag,
                    KeyValue::List(vec![KeyValue::Str(commit), KeyValue::Bool(annotated)]),
                );
            }
            let mut outer = std::collections::BTreeMap::new();
            outer.insert("tags".to_owned(), KeyValue::Dict(m));
            key.push(KeyValue::Dict(outer));
        }
        if !checkout_submodules {
            let mut m = std::collections::BTreeMap::new();
            m.insert("checkout_submodules".to_owned(), KeyValue::Bool(false));
            key.push(KeyValue::Dict(m));
        }
        if !overrides.is_empty() {
            key.push(KeyValue::Dict(overrides.into_iter().collect()));
        }
        if !checkout_overrides.is_empty() {
            let mut m = std::collections::BTreeMap::new();
            m.insert(
                "submodule_checkout_overrides".to_owned(),
                KeyValue::Dict(checkout_overrides.into_iter().collect()),
            );
            key.push(KeyValue::Dict(m));
        }
        if let Some(v) = c.get_str("version")? {
            key.push(KeyValue::Str(v.to_owned()));
        } else if let Some(p) = c.get_str("version-guess-pattern")? {
            key.push(KeyValue::Str(p.to_owned()));
        }
        Ok(ConfiguredSource {
            unique_key: Some(KeyValue::List(key)),
            local_path: None,
        })
    }

    /// Submodule URLs, then the repository's.
    fn marked_urls(&self, config: &Node) -> Result<Vec<String>> {
        let mut urls = Vec::new();
        if let Some(modules) = config.get_mapping("submodules")? {
            for (path, _) in modules.as_map().into_iter().flatten() {
                if let Some(url) = modules.get_mapping(path)?.and_then(|m| m.get("url")) {
                    urls.extend(url.as_str().filter(|u| !u.is_empty()).map(str::to_owned));
                }
            }
        }
        urls.push(config.req_str("url")?.to_owned());
        Ok(urls)
    }

    /// The URL as written (not translated); the commit and a guess from the tag part of a
    /// git-describe ref (`GitSource._guess_version`), with the commits beyond the tag.
    fn source_info(&self, input: &SourceInput, info: &InfoInput) -> Result<Collected> {
        let c = input.config;
        let Some(r) = c.get_str("ref")? else {
            return Err(info::crash(
                input.display,
                "AttributeError: 'NoneType' object has no attribute 'rsplit' (the source has no ref)",
            ));
        };
        let mut version_guess = c.get_str("version")?.map(str::to_owned);
        let mut commits = None;
        let sha = match r.rsplit_once("-g") {
            None => r,
            Some((describe, sha)) => {
                let Some((tag, n)) = describe.rsplit_once('-') else {
                    return Err(info::crash(
                        input.display,
                        "IndexError: list index out of range (a ref with '-g' but no '-' before it)",
                    ));
                };
                commits = Some(n).filter(|n| !n.is_empty() && *n != "0");
                if version_guess.is_none() {
                    version_guess =
                        guess_or_crash(tag, c.get_str("version-guess-pattern")?, input.display)?;
                }
                sha
            }
        };
        let extra = commits
            .map(|n| vec![("commit-offset", n.to_owned())])
            .unwrap_or_default();
        Ok(Collected::Infos(vec![info.create(
            c.req_str("url")?.to_owned(),
            medium::GIT,
            version_type::COMMIT,
            Some(sha.to_owned()),
            version_guess,
            extra,
            None,
        )?]))
    }
}

/// Every source kind bst-rs implements.
pub static SOURCE_KINDS: &[(&str, &dyn SourceKind)] = &[
    ("local", &LocalSource),
    ("remote", &RemoteSource),
    ("tar", &TarSource),
    ("patch", &PatchSource),
    ("git", &GitSource),
    // buildstream-plugins-community
    ("git_repo", &community::GitRepoSource),
    ("git_module", &community::GitModuleSource),
    ("patch_queue", &community::PatchQueueSource),
    ("zip", &community::ZipSource),
    ("cargo2", &community::Cargo2Source),
    ("go_module", &community::GoModuleSource),
    ("cpan", &community::CpanSource),
    ("pypi", &community::PypiSource),
    ("gen_cargo_lock", &community::GenCargoLockSource),
    ("ostree", &community::OstreeSource),
    // buildstream-plugins
    ("docker", &community::DockerSource),
    // freedesktop-sdk's local plugin
    ("ostree_mirror", &community::OstreeMirrorSource),
];

/// Core source kinds (no plugin declaration needed).
pub const CORE_SOURCE_KINDS: [&str; 3] = ["local", "remote", "tar"];

/// Looks up a source kind implementation.
pub fn lookup(kind: &str) -> Option<&'static dyn SourceKind> {
    SOURCE_KINDS
        .iter()
        .find(|(n, _)| *n == kind)
        .map(|(_, k)| *k)
}
