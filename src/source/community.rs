//! Source kinds of buildstream-plugins-community 2.3.1 (and the `docker` source of
//! buildstream-plugins 2.5/2.7, and freedesktop-sdk's local `ostree_mirror`), with their
//! unique keys exactly as the Python plugins compute them.
//!
//! | kind             | unique key                                                           |
//! |------------------|----------------------------------------------------------------------|
//! | `git_repo`       | `{"ref", "bugfix": 1}` + version info as dict entries                 |
//! | `git_module`     | `[url, ref, {"path"}?, "use-lfs"?]` + version info appended           |
//! | `patch_queue`    | `[sha256 of each entry of the directory, sorted by name]`            |
//! | `zip`            | `[url, ref, version info?, base-dir]`                                 |
//! | `cargo2`         | `[url, cargo-lock, vendor-dir, [crate ref dicts], "a"]`               |
//! | `go_module`      | `{"ref": {...} or null, "module", "bugfix": 1}`                       |
//! | `cpan`, `pypi`   | `[suffix, sha256sum]` + version info appended                         |
//! | `gen_cargo_lock` | the `ref` string                                                     |
//! | `ostree`         | `[url, ref]`                                                          |
//! | `docker`         | `[url, digest]` or `[registry-url, image, digest]`, + `version`       |
//! | `ostree_mirror`  | `[url, refs sorted by "ref"]`                                         |
//!
//! "Version info" is the plugins' `VersionGuesser.augment_unique_key`: `version` if set, else
//! `version-guess-pattern` if set, else nothing. URLs enter keys as written (with aliases).
//! A source is unresolved (`unique_key: None`) exactly when the plugin's `is_resolved()` is
//! false.

use super::info::{self, crash, medium, version_type, Collected, InfoInput};
use super::{guess_or_crash, sha256_file, ConfiguredSource, SourceInput, SourceKind, COMMON_KEYS};
use crate::cachekey::json::KeyValue;
use crate::cachekey::node_to_key;
use crate::yaml::{LoadError, LoadErrorReason, Node, Result};
use std::collections::BTreeMap;
use std::path::Path;

fn source_error(msg: String) -> LoadError {
    LoadError::new(LoadErrorReason::PluginConfig, msg)
}

/// `own` plus the keys every source accepts.
fn valid_keys<'a>(own: &[&'a str]) -> Vec<&'a str> {
    let mut v = own.to_vec();
    v.extend_from_slice(&COMMON_KEYS);
    v
}

fn resolved(key: KeyValue) -> Result<ConfiguredSource> {
    Ok(ConfiguredSource {
        unique_key: Some(key),
        local_path: None,
    })
}

fn unresolved() -> Result<ConfiguredSource> {
    Ok(ConfiguredSource {
        unique_key: None,
        local_path: None,
    })
}

/// A required boolean (`node.get_bool(key)` without default).
fn req_bool(node: &Node, key: &str) -> Result<bool> {
    if node.get(key).is_none() {
        return Err(node.missing_key(key));
    }
    node.get_bool(key, false)
}

/// The plugins' `VersionGuesser`: `version` wins over `version-guess-pattern`.
enum VersionInfo {
    None,
    Version(String),
    Pattern(String),
}

impl VersionInfo {
    fn read(node: &Node) -> Result<Self> {
        let pattern = node.get_str("version-guess-pattern")?.map(str::to_owned);
        let version = node.get_str("version")?.map(str::to_owned);
        Ok(match (version, pattern) {
            (Some(v), _) => VersionInfo::Version(v),
            (None, Some(p)) => VersionInfo::Pattern(p),
            (None, None) => VersionInfo::None,
        })
    }

    /// `augment_unique_key` on a list key.
    fn append_to(self, key: &mut Vec<KeyValue>) {
        match self {
            VersionInfo::Version(s) | VersionInfo::Pattern(s) => key.push(KeyValue::Str(s)),
            VersionInfo::None => {}
        }
    }

    /// `augment_unique_key` on a dict key.
    fn insert_into(self, key: &mut BTreeMap<String, KeyValue>) {
        match self {
            VersionInfo::Version(v) => {
                key.insert("version".into(), KeyValue::Str(v));
            }
            VersionInfo::Pattern(p) => {
                key.insert("version-guess-pattern".into(), KeyValue::Str(p));
            }
            VersionInfo::None => {}
        }
    }
}

/// Does `s` start with 40 lowercase hex digits?
fn starts_with_sha1(s: &[u8]) -> bool {
    s.len() >= 40
        && s[..40]
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `REF_REGEX.match(ref)` of the community git plugins:
/// `(?:(.*)(?:-(\d+)-g))?([0-9a-f]{40})`, anchored at the start only.
fn git_ref_matches(r: &str) -> bool {
    let b = r.as_bytes();
    if starts_with_sha1(b) {
        return true;
    }
    // Otherwise some prefix must end in `-<digits>-g` and be followed by a sha1.
    (1..b.len()).any(|i| {
        if !starts_with_sha1(&b[i..]) || !b[..i].ends_with(b"-g") {
            return false;
        }
        let head = &b[..i - 2];
        let digits = head.iter().rev().take_while(|c| c.is_ascii_digit()).count();
        digits > 0 && head[..head.len() - digits].ends_with(b"-")
    })
}

fn check_git_ref(r: &str) -> Result<()> {
    if git_ref_matches(r) {
        Ok(())
    } else {
        Err(source_error(format!(
            "ref {r} is not in the expected format"
        )))
    }
}

/// `node.get_enum(key, RefFormat, ...)` of `git_repo`.
fn check_ref_format(c: &Node) -> Result<()> {
    match c.get_str("ref-format")? {
        None | Some("sha1") | Some("git-describe") => Ok(()),
        Some(_) => {
            let p = c.get("ref-format").map_or(c.prov, |n| n.prov);
            Err(LoadError::new(
                LoadErrorReason::InvalidData,
                format!("{p}: Value of 'ref-format' should be one of 'sha1, git-describe'"),
            ))
        }
    }
}

/// `os.path.relpath(p, "/")` for an absolute `p`.
fn relpath_from_root(p: &str) -> String {
    let norm = crate::loader::normpath(p);
    let parts: Vec<&str> = norm.split('/').filter(|s| !s.is_empty()).collect();
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

/// What BuildStream dies of when a git plugin's source info meets a missing ref.
const NO_REF_TYPE_ERROR: &str =
    "TypeError: expected string or bytes-like object, got 'NoneType' (the source has no ref)";

/// The plugins' `VersionGuesser` at source-info time: `version`, else a guess with
/// `version-guess-pattern` (or BuildStream's default pattern).
#[derive(Default)]
struct Guesser {
    version: Option<String>,
    pattern: Option<String>,
}

impl Guesser {
    fn read(node: &Node) -> Result<Self> {
        Ok(Guesser {
            version: node.get_str("version")?.map(str::to_owned),
            pattern: node.get_str("version-guess-pattern")?.map(str::to_owned),
        })
    }

    /// `VersionGuesser.guess_version(string)`.
    fn guess(&self, string: Option<&str>, display: &str) -> Result<Option<String>> {
        if let Some(v) = &self.version {
            return Ok(Some(v.clone()));
        }
        match string {
            None => Ok(None),
            Some(s) => guess_or_crash(s, self.pattern.as_deref(), display),
        }
    }
}

/// `GitMirror.get_source_info()` (`git_repo`, `go_module`; with `tag_name`) and
/// `GitTagMirror.get_source_info()` (`git_module`): `REF_REGEX` splits the ref into tag,
/// commits beyond it and sha; any commit count is reported, even `0`.
fn git_mirror_info(
    input: &SourceInput,
    info: &InfoInput,
    url: &str,
    r#ref: &str,
    guesser: &Guesser,
    tag_name: bool,
) -> Result<Collected> {
    let Some((tag, commits, sha)) = info::parse_describe_ref(r#ref) else {
        return Err(crash(
            input.display,
            &format!("AttributeError: 'NoneType' object has no attribute 'groups' (ref '{ref}' is not a sha or git-describe string)"),
        ));
    };
    let version_guess = guesser.guess(tag, input.display)?;
    let mut extra = Vec::new();
    if let Some(tag) = tag.filter(|t| tag_name && !t.is_empty()) {
        extra.push(("tag-name", tag.to_owned()));
    }
    if let Some(n) = commits {
        extra.push(("commit-offset", n.to_owned()));
    }
    Ok(Collected::Infos(vec![info.create(
        (info.translate)(url)?,
        medium::GIT,
        version_type::COMMIT,
        Some(sha.to_owned()),
        version_guess,
        extra,
        None,
    )?]))
}

/// `HTTPFetcher.get_source_info()` (`cpan`, `pypi`): the guess is made on the translated URL.
fn http_fetcher_info(
    input: &SourceInput,
    info: &InfoInput,
    base: &str,
    suffix: &str,
    sha: Option<String>,
) -> Result<Collected> {
    (info.mark)(base)?;
    let url = (info.translate)(&format!("{base}{suffix}"))?;
    let version_guess = Guesser::read(input.config)?.guess(Some(&url), input.display)?;
    Ok(Collected::Infos(vec![info.create(
        url,
        medium::REMOTE_FILE,
        version_type::SHA256,
        sha,
        version_guess,
        Vec::new(),
        None,
    )?]))
}

/// `cargo2`'s `mirrored_git_url`: the longest matching `git-mirrors` prefix (the first of
/// equally long ones), replaced everywhere in the URL as Python's `str.replace` does.
fn mirrored_git_url(mirrors: Option<&Node>, git_url: &str, display: &str) -> Result<String> {
    let mut best: Option<(&str, &str)> = None;
    for (prefix, mirror) in mirrors.and_then(Node::as_map).into_iter().flatten() {
        let Some(mirror) = mirror.as_str() else {
            return Err(crash(
                display,
                &format!("AttributeError: git-mirrors entry '{prefix}' is not a string"),
            ));
        };
        if git_url.starts_with(&**prefix) && best.is_none_or(|(p, _)| p.len() < prefix.len()) {
            best = Some((prefix, mirror));
        }
    }
    Ok(match best {
        Some((prefix, mirror)) => git_url.replace(prefix, mirror),
        None => git_url.to_owned(),
    })
}

/// The names in a directory, sorted by code point as Python sorts `os.listdir()`.
fn sorted_entries(dir: &Path, display: &str) -> Result<Vec<String>> {
    let io_err = |e: std::io::Error| source_error(format!("{display}: {e}"));
    let mut names: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let name = entry.map_err(io_err)?.file_name();
        let Some(name) = name.to_str() else {
            return Err(source_error(format!(
                "{display}: patch file name is not valid UTF-8: {}",
                name.to_string_lossy()
            )));
        };
        names.push(name.to_owned());
    }
    // Python sorts by code point, which is the UTF-8 byte order of Rust strings.
    names.sort();
    Ok(names)
}

/// `os.path.join(a, b)` for a relative `b`.
fn python_path_join(a: &str, b: &str) -> String {
    if a.is_empty() || a.ends_with('/') {
        format!("{a}{b}")
    } else {
        format!("{a}/{b}")
    }
}

/// `git_repo`: a git repository checked out at a commit (community `GitSource`).
pub struct GitRepoSource;

impl SourceKind for GitRepoSource {
    fn configure(&self, input: &SourceInput) -> Result<ConfiguredSource> {
        let c = input.config;
        c.validate_keys(&valid_keys(&[
            "ref",
            "url",
            "track",
            "exclude",
            "ref-format",
            "version",
            "version-guess-pattern",
        ]))?;
        let r#ref = c.get_str("ref")?;
        if let Some(r) = r#ref {
            check_git_ref(r)?;
        }
        c.req_str("url")?;
        c.get_str("track")?;
        c.get_str_list("exclude")?;
        check_ref_format(c)?;
        let version = VersionInfo::read(c)?;
        let Some(r) = r#ref else {
            return unresolved();
        };
        let mut key = BTreeMap::new();
        key.insert("ref".to_owned(), KeyValue::Str(r.to_owned()));
        key.insert("bugfix".to_owned(), KeyValue::Int(1));
        version.insert_into(&mut key);
        resolved(KeyValue::Dict(key))
    }

    /// `GitMirror.get_source_info()`: the translated URL, the commit, the tag as
    /// `tag-name` and the commits beyond it as `commit-offset`.
    fn source_info(&self, input: &SourceInput, info: &InfoInput) -> Result<Collected> {
        let c = input.config;
        let Some(r) = c.get_str("ref")? else {
            return Err(crash(input.display, NO_REF_TYPE_ERROR));
        };
        let guesser = Guesser::read(c)?;
        git_mirror_info(input, info, c.req_str("url")?, r, &guesser, true)
    }

    fn marked_urls(&self, config: &Node) -> Result<Vec<String>> {
        Ok(vec![config.req_str("url")?.to_owned()])
    }
}

/// `git_module`: one submodule of a repository staged by a previous source.
pub struct GitModuleSource;

impl SourceKind for GitModuleSource {
    fn configure(&self, input: &SourceInput) -> Result<ConfiguredSource> {
        let c = input.config;
        c.validate_keys(&valid_keys(&[
            "url",
            "ref",
            "full-clone",
            "use-lfs",
            "version",
            "version-guess-pattern",
            "path",
        ]))?;
        let url = c.req_str("url")?.to_owned();
        c.get_bool("full-clone", false)?;
        let use_lfs = c.get_bool("use-lfs", false)?;
        let version = VersionInfo::read(c)?;
        let r#ref = c.get_str("ref")?;
        // The plugin calls os.path.isabs() on the path, so it must be set.
        let Some(path) = c.get_str("path")? else {
            return Err(source_error(format!(
                "{}: git_module sources require a 'path'",
                input.display
            )));
        };
        let path = if path.starts_with('/') {
            relpath_from_root(path)
        } else {
            path.to_owned()
        };
        let Some(r) = r#ref else {
            return unresolved();
        };
        let mut key = vec![KeyValue::Str(url), KeyValue::Str(r.to_owned())];
        if !path.is_empty() {
            key.push(KeyValue::dict([("path", path)]));
        }
        if use_lfs {
            key.push(KeyValue::str("use-lfs"));
        }
        version.append_to(&mut key);
        resolved(KeyValue::List(key))
    }

    /// `GitTagMirror.get_source_info()`: like `git_repo` without `tag-name`.
    fn source_info(&self, input: &SourceInput, info: &InfoInput) -> Result<Collected> {
        let c = input.config;
        let Some(r) = c.get_str("ref")? else {
            return Err(crash(input.display, NO_REF_TYPE_ERROR));
        };
        let guesser = Guesser::read(c)?;
        git_mirror_info(input, info, c.req_str("url")?, r, &guesser, false)
    }

    fn marked_urls(&self, config: &Node) -> Result<Vec<String>> {
        Ok(vec![config.req_str("url")?.to_owned()])
    }
}

/// `patch_queue`: a project directory of patches applied in name order.
pub struct PatchQueueSource;

impl SourceKind for PatchQueueSource {
    fn configure(&self, input: &SourceInput) -> Result<ConfiguredSource> {
        let c = input.config;
        c.validate_keys(&valid_keys(&["path"]))?;
        let path = super::project_path(c, "path", input.project_dir, false, true)?;
        let dir = input.project_dir.join(&path);
        let io_err = |e: std::io::Error| source_error(format!("{}: {e}", input.display));
        let names = sorted_entries(&dir, input.display)?;
        let mut key = Vec::with_capacity(names.len());
        for name in names {
            key.push(KeyValue::Str(sha256_file(&dir.join(name)).map_err(io_err)?));
        }
        resolved(KeyValue::List(key))
    }

    /// One local entry per patch, in name order.
    fn source_info(&self, input: &SourceInput, info: &InfoInput) -> Result<Collected> {
        let path = super::project_path(input.config, "path", input.project_dir, false, true)?;
        let dir = input.project_dir.join(&path);
        let io_err = |e: std::io::Error| source_error(format!("{}: {e}", input.display));
        let mut infos = Vec::new();
        for name in sorted_entries(&dir, input.display)? {
            let sha = sha256_file(&dir.join(&name)).map_err(io_err)?;
            infos.push(info.create(
                python_path_join(&path, &name),
                medium::LOCAL,
                version_type::SHA256,
                Some(sha),
                None,
                Vec::new(),
                None,
            )?);
        }
        Ok(Collected::Infos(infos))
    }
}

/// `zip`: a downloaded zip archive (a `DownloadableFileSource`).
pub struct ZipSource;

impl SourceKind for ZipSource {
    fn configure(&self, input: &SourceInput) -> Result<ConfiguredSource> {
        let c = input.config;
        let url = c.req_str("url")?.to_owned();
        let r#ref = c.get_str("ref")?.map(str::to_owned);
        let version = VersionInfo::read(c)?;
        let base_dir = c.get_str("base-dir")?.unwrap_or("*").to_owned();
        c.validate_keys(&valid_keys(&[
            "url",
            "ref",
            "version-guess-pattern",
            "version",
            "base-dir",
        ]))?;
        let Some(r) = r#ref else {
            return unresolved();
        };
        let mut key = vec![KeyValue::Str(url), KeyValue::Str(r)];
        version.append_to(&mut key);
        key.push(KeyValue::Str(base_dir));
        resolved(KeyValue::List(key))
    }

    fn source_info(&self, input: &SourceInput, info: &InfoInput) -> Result<Collected> {
        super::downloadable_info(input, info)
    }

    fn marked_urls(&self, config: &Node) -> Result<Vec<String>> {
        Ok(vec![config.req_str("url")?.to_owned()])
    }
}

/// `cargo2`: vendored crates listed in the ref (registry crates and git crates).
pub struct Cargo2Source;

impl Cargo2Source {
    /// One crate of the ref as the key's JSON object (sorted keys), appended to `out`;
    /// false when a registry crate has no `sha`.
    fn crate_ref(krate: &Node, out: &mut String) -> Result<bool> {
        use crate::cachekey::json::{to_json, write_str};
        if !krate.is_map() {
            return Err(LoadError::new(
                LoadErrorReason::InvalidData,
                format!(
                    "{}: Value of 'ref' is not a list of dictionaries",
                    krate.prov
                ),
            ));
        }
        let kind = krate.get_str("kind")?.unwrap_or("registry");
        krate.get_mapping("provenance")?;
        let name = krate.req_str("name")?;
        let version = krate.req_str("version")?;
        if kind == "git" {
            let repo = krate.req_str("repo")?;
            let commit = krate.req_str("commit")?;
            let query = match krate.get_mapping("query")? {
                Some(q) => crate::cachekey::scalar_mapping_to_key(q)?,
                None => BTreeMap::new(),
            };
            out.push_str("{\"commit\":");
            write_str(commit, out);
            out.push_str(",\"kind\":\"git\",\"name\":");
            write_str(name, out);
            if !query.is_empty() {
                out.push_str(",\"query\":");
                to_json(&KeyValue::Dict(query), out);
            }
            out.push_str(",\"repo\":");
            write_str(repo, out);
            out.push_str(",\"version\":");
            write_str(version, out);
            out.push('}');
            Ok(true)
        } else {
            let sha = krate.get_str("sha")?;
            out.push_str("{\"kind\":\"registry\",\"name\":");
            write_str(name, out);
            out.push_str(",\"sha\":");
            match sha {
                Some(sha) => write_str(sha, out),
                None => out.push_str("null"),
            }
            out.push_str(",\"version\":");
            write_str(version, out);
            out.push('}');
            Ok(sha.is_some())
        }
    }
}

impl SourceKind for Cargo2Source {
    fn configure(&self, input: &SourceInput) -> Result<ConfiguredSource> {
        let c = input.config;
        let url = c
            .get_str("url")?
            .unwrap_or("https://static.crates.io/crates")
            .to_owned();
        let cargo_lock = c.get_str("cargo-lock")?.unwrap_or("Cargo.lock").to_owned();
        let vendor_dir = c
            .get_str("vendor-dir")?
            .unwrap_or(".vendored-crates")
            .to_owned();
        c.get_mapping("git-mirrors")?;
        let refs = c.get_sequence("ref")?;
        c.validate_keys(&valid_keys(&[
            "url",
            "ref",
            "cargo-lock",
            "vendor-dir",
            "git-mirrors",
        ]))?;
        // With no ref the plugin's ref is an empty list, which counts as resolved.
        // The crates' list is large (hundreds of dictionaries): serialised as it is read.
        let krates = refs.and_then(Node::as_seq).unwrap_or(&[]);
        let mut crates = String::with_capacity(2 + 160 * krates.len());
        crates.push('[');
        let mut all_resolved = true;
        for (i, krate) in krates.iter().enumerate() {
            if i > 0 {
                crates.push(',');
            }
            all_resolved &= Self::crate_ref(krate, &mut crates)?;
        }
        crates.push(']');
        if !all_resolved {
            return unresolved();
        }
        resolved(KeyValue::List(vec![
            KeyValue::Str(url),
            KeyValue::Str(cargo_lock),
            KeyValue::Str(vendor_dir),
            KeyValue::Json(crates),
            KeyValue::str("a"),
        ]))
    }

    /// One entry per crate of the ref: registry crates as remote files, git crates as
    /// commits of their (mirrored) repository.
    fn source_info(&self, input: &SourceInput, info: &InfoInput) -> Result<Collected> {
        let c = input.config;
        let original = c
            .get_str("url")?
            .unwrap_or("https://static.crates.io/crates");
        let url = if original.ends_with(':') || original.ends_with('/') {
            original.to_owned()
        } else {
            format!("{original}/")
        };
        let crates = c.get_sequence("ref")?.and_then(Node::as_seq).unwrap_or(&[]);
        // URLs marked at configure time: the registry and each git crate's repository.
        let mut marked = vec![url.clone()];
        for krate in crates {
            if krate.get_str("kind")? == Some("git") {
                marked.push(krate.req_str("repo")?.to_owned());
            }
        }
        let mirrors = c.get_mapping("git-mirrors")?;
        let mut infos = Vec::new();
        for krate in crates {
            let name = krate.req_str("name")?;
            let version = krate.req_str("version")?;
            let provenance = krate.get_mapping("provenance")?;
            if krate.get_str("kind")?.unwrap_or("registry") == "git" {
                let repo = mirrored_git_url(mirrors, krate.req_str("repo")?, input.display)?;
                if !marked.contains(&repo) && !info::extract_alias(&repo).is_empty() {
                    return Err(crash(
                        input.display,
                        &format!("AssertionError: URL was not seen at configure time: {repo}"),
                    ));
                }
                (info.mark)(&repo)?;
                infos.push(info.create(
                    (info.translate)(&repo)?,
                    medium::GIT,
                    version_type::COMMIT,
                    Some(krate.req_str("commit")?.to_owned()),
                    Some(version.to_owned()),
                    vec![("crate-name", name.to_owned())],
                    provenance,
                )?);
            } else {
                (info.mark)(&url)?;
                infos.push(info.create(
                    (info.translate)(&format!("{url}{name}/{name}-{version}.crate"))?,
                    medium::REMOTE_FILE,
                    version_type::SHA256,
                    krate.get_str("sha")?.map(str::to_owned),
                    Some(version.to_owned()),
                    Vec::new(),
                    provenance,
                )?);
            }
        }
        if infos.is_empty() {
            return Ok(Collected::Unavailable);
        }
        Ok(Collected::Infos(infos))
    }

    /// The registry URL (with a final `/`), then each git crate's repository.
    fn marked_urls(&self, config: &Node) -> Result<Vec<String>> {
        let url = config
            .get_str("url")?
            .unwrap_or("https://static.crates.io/crates");
        let mut urls = vec![if url.ends_with(':') || url.ends_with('/') {
            url.to_owned()
        } else {
            format!("{url}/")
        }];
        for krate in config
            .get_sequence("ref")?
            .and_then(Node::as_seq)
            .unwrap_or(&[])
        {
            if krate.get_str("kind")? == Some("git") {
                urls.push(krate.req_str("repo")?.to_owned());
            }
        }
        Ok(urls)
    }
}

/// `go_module`: a Go module checked out from git at the ref's commit.
pub struct GoModuleSource;

impl SourceKind for GoModuleSource {
    fn configure(&self, input: &SourceInput) -> Result<ConfiguredSource> {
        let c = input.config;
        c.validate_keys(&valid_keys(&["ref", "url", "module"]))?;
        let mut r#ref = None;
        if c.get("ref").is_some() {
            let Some(r) = c.get_mapping("ref")? else {
                unreachable!("present and checked");
            };
            r.validate_keys(&["go-version", "git-ref", "explicit", "subdirectory"])?;
            let mut m = BTreeMap::new();
            m.insert(
                "go-version".to_owned(),
                KeyValue::str(r.req_str("go-version")?),
            );
            let git_ref = r.req_str("git-ref")?;
            m.insert("git-ref".to_owned(), KeyValue::str(git_ref));
            m.insert(
                "explicit".to_owned(),
                KeyValue::Bool(req_bool(r, "explicit")?),
            );
            if r.get("subdirectory").is_some() {
                m.insert(
                    "subdirectory".to_owned(),
                    KeyValue::str(r.req_str("subdirectory")?),
                );
            }
            if !git_ref_matches(git_ref) {
                return Err(source_error(format!(
                    "ref {} is not in the expected format",
                    r.py_str()
                )));
            }
            r#ref = Some(KeyValue::Dict(m));
        }
        c.req_str("url")?;
        let module = c.req_str("module")?;
        let Some(r) = r#ref else {
            return unresolved();
        };
        resolved(KeyValue::dict([
            ("ref", r),
            ("module", KeyValue::str(module)),
            ("bugfix", KeyValue::Int(1)),
        ]))
    }

    /// `GitMirror.get_source_info()` on the ref's `git-ref`, guessing from the tag only.
    fn source_info(&self, input: &SourceInput, info: &InfoInput) -> Result<Collected> {
        let c = input.config;
        let Some(r) = c.get_mapping("ref")? else {
            return Err(crash(
                input.display,
                "TypeError: 'NoneType' object is not subscriptable (the source has no ref)",
            ));
        };
        let guesser = Guesser::default();
        git_mirror_info(
            input,
            info,
            c.req_str("url")?,
            r.req_str("git-ref")?,
            &guesser,
            true,
        )
    }

    fn marked_urls(&self, config: &Node) -> Result<Vec<String>> {
        Ok(vec![config.req_str("url")?.to_owned()])
    }
}

/// `cpan`: a CPAN distribution (`suffix` and `sha256sum` form the ref).
pub struct CpanSource;

/// `{first: .., second: ..}` as Python prints a dict of two strings.
fn py_pair(first: (&str, &str), second: (&str, &str)) -> String {
    let r = crate::util::py_repr;
    format!(
        "{{{}: {}, {}: {}}}",
        r(first.0),
        r(first.1),
        r(second.0),
        r(second.1)
    )
}

impl SourceKind for CpanSource {
    /// `{'suffix': .., 'sha256sum': ..}`, from the top-level keys.
    fn inline_ref(&self, config: &Node) -> Result<Option<String>> {
        Ok(
            match (config.get_str("suffix")?, config.get_str("sha256sum")?) {
                (Some(suffix), Some(sha)) if !suffix.is_empty() && !sha.is_empty() => {
                    Some(py_pair(("suffix", suffix), ("sha256sum", sha)))
                }
                _ => None,
            },
        )
    }

    fn configure(&self, input: &SourceInput) -> Result<ConfiguredSource> {
        let c = input.config;
        c.validate_keys(&valid_keys(&[
            "name",
            "suffix",
            "sha256sum",
            "index",
            "version",
            "version-guess-pattern",
        ]))?;
        c.req_str("name")?;
        c.get_str("index")?;
        let version = VersionInfo::read(c)?;
        let sha = c.get_str("sha256sum")?;
        let suffix = c.get_str("suffix")?;
        let (Some(sha), Some(suffix)) = (sha, suffix) else {
            return unresolved();
        };
        let mut key = vec![KeyValue::str(suffix), KeyValue::str(sha)];
        version.append_to(&mut key);
        resolved(KeyValue::List(key))
    }

    /// `HTTPFetcher.get_source_info()`: the index URL with the suffix, translated; the
    /// guess is made on the translated URL.
    fn source_info(&self, input: &SourceInput, info: &InfoInput) -> Result<Collected> {
        let c = input.config;
        let index = c.get_str("index")?.unwrap_or("https://cpan.metacpan.org/");
        let suffix = c.get_str("suffix")?.unwrap_or("");
        let sha = c.get_str("sha256sum")?.map(str::to_owned);
        http_fetcher_info(input, info, index, suffix, sha)
    }

    fn marked_urls(&self, config: &Node) -> Result<Vec<String>> {
        Ok(vec![config
            .get_str("index")?
            .unwrap_or("https://cpan.metacpan.org/")
            .to_owned()])
    }
}

/// `pypi`: a Python sdist or wheel from a package index.
pub struct PypiSource;

impl SourceKind for PypiSource {
    /// `{'sha256sum': .., 'suffix': ..}`, from the `ref` mapping.
    fn inline_ref(&self, config: &Node) -> Result<Option<String>> {
        let Some(r) = config.get_mapping("ref")? else {
            return Ok(None);
        };
        Ok(match (r.get_str("sha256sum")?, r.get_str("suffix")?) {
            (Some(sha), Some(suffix)) if !suffix.is_empty() && !sha.is_empty() => {
                Some(py_pair(("sha256sum", sha), ("suffix", suffix)))
            }
            _ => None,
        })
    }

    fn configure(&self, input: &SourceInput) -> Result<ConfiguredSource> {
        let c = input.config;
        c.validate_keys(&valid_keys(&[
            "url",
            "name",
            "ref",
            "prereleases",
            "include",
            "exclude",
            "version",
            "version-guess-pattern",
        ]))?;
        c.req_str("name")?;
        c.get_bool("prereleases", false)?;
        c.get_str_list("include")?;
        c.get_str_list("exclude")?;
        c.get_str("url")?;
        let version = VersionInfo::read(c)?;
        // A present `ref` mapping is truthy even when empty, so both keys are required.
        let (suffix, sha) = match c.get_mapping("ref")? {
            Some(r) => (r.req_str("suffix")?, Some(r.req_str("sha256sum")?)),
            None => ("", None),
        };
        let Some(sha) = sha.filter(|s| !s.is_empty() && !suffix.is_empty()) else {
            return unresolved();
        };
        let mut key = vec![KeyValue::str(suffix), KeyValue::str(sha)];
        version.append_to(&mut key);
        resolved(KeyValue::List(key))
    }

    /// `HTTPFetcher.get_source_info()` on the index URL with the ref's suffix.
    fn source_info(&self, input: &SourceInput, info: &InfoInput) -> Result<Collected> {
        let c = input.config;
        let Some(r) = c.get_mapping("ref")? else {
            return Err(crash(
                input.display,
                "AttributeError: 'NoneType' object has no attribute 'get_source_info' (the source has no ref)",
            ));
        };
        let base = c
            .get_str("url")?
            .unwrap_or("https://files.pythonhosted.org/packages/");
        let sha = Some(r.req_str("sha256sum")?.to_owned());
        http_fetcher_info(input, info, base, r.req_str("suffix")?, sha)
    }

    fn marked_urls(&self, config: &Node) -> Result<Vec<String>> {
        Ok(vec![config
            .get_str("url")?
            .unwrap_or("https://files.pythonhosted.org/packages/")
            .to_owned()])
    }
}

/// `gen_cargo_lock`: a generated `Cargo.lock`, stored base64-encoded in the ref.
pub struct GenCargoLockSource;

impl SourceKind for GenCargoLockSource {
    fn configure(&self, input: &SourceInput) -> Result<ConfiguredSource> {
        let c = input.config;
        c.validate_keys(&valid_keys(&["ref"]))?;
        match c.get_str("ref")? {
            Some(r) => resolved(KeyValue::str(r)),
            None => unresolved(),
        }
    }
}

/// `ostree` (community): a commit of a remote OSTree repository.
pub struct OstreeSource;

impl SourceKind for OstreeSource {
    fn configure(&self, input: &SourceInput) -> Result<ConfiguredSource> {
        let c = input.config;
        c.validate_keys(&valid_keys(&["url", "ref", "track", "gpg-key"]))?;
        let url = c.req_str("url")?.to_owned();
        let r#ref = c.get_str("ref")?.map(str::to_owned);
        let track = c.get_str("track")?;
        if r#ref.is_none() && track.is_none() {
            return Err(source_error(format!(
                "{}: OSTree sources require a ref and/or track",
                input.display
            )));
        }
        if c.get("gpg-key").is_some() {
            super::project_path(c, "gpg-key", input.project_dir, true, false)?;
        }
        match r#ref {
            Some(r) => resolved(KeyValue::List(vec![KeyValue::Str(url), KeyValue::Str(r)])),
            None => unresolved(),
        }
    }

    fn marked_urls(&self, config: &Node) -> Result<Vec<String>> {
        Ok(vec![config.req_str("url")?.to_owned()])
    }
}

/// `docker` (buildstream-plugins): an image from a registry, pinned by manifest digest.
pub struct DockerSource;

const DOCKER_HUB_URL: &str = "https://registry.hub.docker.com";

impl SourceKind for DockerSource {
    fn configure(&self, input: &SourceInput) -> Result<ConfiguredSource> {
        let c = input.config;
        c.validate_keys(&valid_keys(&[
            "architecture",
            "registry-url",
            "image",
            "os",
            "ref",
            "track",
            "url",
            "version",
        ]))?;
        let has = |k: &str| c.get(k).is_some();
        if has("url") && (has("image") || has("registry-url")) {
            return Err(source_error(format!(
                "{}: May specify either 'url', or 'image' and 'registry-url'",
                input.display
            )));
        }
        if !has("url") && !has("image") {
            return Err(source_error(format!(
                "{}: Must define either 'url' or 'image'",
                input.display
            )));
        }
        let mut key = Vec::new();
        if has("url") {
            key.push(KeyValue::str(c.req_str("url")?));
        } else {
            let image = c.req_str("image")?;
            let registry = c.get_str("registry-url")?.unwrap_or(DOCKER_HUB_URL);
            key.push(KeyValue::str(registry));
            key.push(KeyValue::str(image));
        }
        c.get_str("track")?;
        c.get_str("architecture")?;
        c.get_str("os")?;
        let version = c.get_str("version")?;
        let Some(r) = c.get_str("ref")? else {
            return unresolved();
        };
        key.push(KeyValue::Str(format!("sha256:{r}")));
        if let Some(v) = version {
            key.push(KeyValue::str(v));
        }
        resolved(KeyValue::List(key))
    }

    /// The registry (translated), the manifest digest, `version` as the guess and the
    /// image name.
    fn source_info(&self, input: &SourceInput, info: &InfoInput) -> Result<Collected> {
        let c = input.config;
        let (registry, image) = match c.get_str("url")? {
            Some(url) => {
                let translated = (info.translate)(url)?;
                (
                    info::url_scheme_and_netloc(&translated),
                    info::urlsplit(&translated).2,
                )
            }
            None => (
                (info.translate)(c.get_str("registry-url")?.unwrap_or(DOCKER_HUB_URL))?,
                c.req_str("image")?.to_owned(),
            ),
        };
        Ok(Collected::Infos(vec![info.create(
            registry,
            medium::OCI_IMAGE,
            version_type::OCI_DIGEST,
            c.get_str("ref")?.map(|r| format!("sha256:{r}")),
            c.get_str("version")?.map(str::to_owned),
            vec![("image-name", image.trim_start_matches('/').to_owned())],
            None,
        )?]))
    }

    fn marked_urls(&self, config: &Node) -> Result<Vec<String>> {
        Ok(vec![match config.get_str("url")? {
            Some(url) => url.to_owned(),
            None => config
                .get_str("registry-url")?
                .unwrap_or(DOCKER_HUB_URL)
                .to_owned(),
        }])
    }
}

/// `ostree_mirror` (freedesktop-sdk's local plugin): refs mirrored from an OSTree remote.
///
/// With `path:` instead of `url:` the plugin keys on `file://<project directory>/<path>`, a
/// host path; bst-rs uses the project directory as given to it.
pub struct OstreeMirrorSource;

impl SourceKind for OstreeMirrorSource {
    fn configure(&self, input: &SourceInput) -> Result<ConfiguredSource> {
        let c = input.config;
        c.validate_keys(&valid_keys(&["match", "path", "url", "ref", "gpg"]))?;
        let url = match c.get_str("url")? {
            Some(u) if !u.is_empty() => u.to_owned(),
            _ => {
                let path = super::project_path(c, "path", input.project_dir, false, false)?;
                let full = input.project_dir.join(path);
                format!("file://{}", full.display())
            }
        };
        let mut refs: Vec<(String, KeyValue)> = Vec::new();
        if let Some(seq) = c.get_sequence("ref")? {
            for r in seq.as_seq().unwrap_or(&[]) {
                r.validate_keys(&["ref", "checksum"])?;
                let Some(name) = r.get_str("ref")? else {
                    return Err(source_error(format!(
                        "{}: ref entry without 'ref'",
                        input.display
                    )));
                };
                refs.push((name.to_owned(), node_to_key(r)));
            }
        }
        super::project_path(c, "gpg", input.project_dir, false, false)?;
        c.get_str("match")?;
        // Python's sort is stable, like `sort_by`.
        refs.sort_by(|a, b| a.0.cmp(&b.0));
        resolved(KeyValue::List(vec![
            KeyValue::Str(url),
            KeyValue::List(refs.into_iter().map(|(_, v)| v).collect()),
        ]))
    }

    fn marked_urls(&self, config: &Node) -> Result<Vec<String>> {
        Ok(config
            .get_str("url")?
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .into_iter()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    //! Expected keys were recorded from real BuildStream 2.8.1 (with buildstream-plugins 2.7.0
    //! and buildstream-plugins-community 2.3.1 installed in its venv) on a small project whose
    //! sources are the YAML snippets below: `bst show` was run through a wrapper that replaces
    //! `buildstream._cachekey.generate_key` and prints, for each element, its `sources` entry
    //! as `ujson.dumps(sort_keys=True, escape_forward_slashes=False)` writes it.
    use super::*;
    use crate::cachekey::json::to_json_string;
    use crate::yaml::{parse_str, SYNTHETIC};

    fn key_of(kind: &dyn SourceKind, yaml: &str, project_dir: &Path) -> Option<String> {
        let config = parse_str(yaml, SYNTHETIC).expect("test YAML parses");
        let aliases = Node::empty_map(config.prov);
        let configured = kind
            .configure(&SourceInput {
                config: &config,
                project_dir,
                aliases: &aliases,
                display: "test source",
                compute_key: true,
            })
            .expect("configures");
        configured.unique_key.map(|k| to_json_string(&k))
    }

    fn key(kind: &dyn SourceKind, yaml: &str) -> Option<String> {
        key_of(kind, yaml, Path::new("/nonexistent"))
    }

    #[test]
    fn git_repo() {
        assert_eq!(
            key(
                &GitRepoSource,
                "url: gh:foo/bar.git\nref: 0123456789abcdef0123456789abcdef01234567\n"
            )
            .unwrap(),
            r#"{"bugfix":1,"ref":"0123456789abcdef0123456789abcdef01234567"}"#
        );
        assert_eq!(
            key(
                &GitRepoSource,
                "url: gh:foo/baz.git\ntrack: main\nref: v1.2-3-g0123456789abcdef0123456789abcdef01234567\nversion-guess-pattern: '(\\d+)'\n"
            )
            .unwrap(),
            r#"{"bugfix":1,"ref":"v1.2-3-g0123456789abcdef0123456789abcdef01234567","version-guess-pattern":"(\\d+)"}"#
        );
        assert_eq!(
            key(
                &GitRepoSource,
                "url: gh:foo/qux.git\nref: 0123456789abcdef0123456789abcdef01234567\nversion: '1.0'\nversion-guess-pattern: x\n"
            )
            .unwrap(),
            r#"{"bugfix":1,"ref":"0123456789abcdef0123456789abcdef01234567","version":"1.0"}"#
        );
        assert_eq!(key(&GitRepoSource, "url: a\ntrack: main\n"), None);
    }

    #[test]
    fn git_ref_regex() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert!(git_ref_matches(sha));
        assert!(git_ref_matches(&format!("{sha}trailing")));
        assert!(git_ref_matches(&format!("v1-2-g{sha}")));
        assert!(git_ref_matches(&format!("a-b-c-10-g{sha}")));
        assert!(!git_ref_matches(&format!("v1-g{sha}")));
        assert!(!git_ref_matches(&format!("x{sha}")));
        assert!(!git_ref_matches("v1.0"));
        assert!(!git_ref_matches(&sha.to_uppercase()));
    }

    #[test]
    fn git_module() {
        assert_eq!(
            key(
                &GitModuleSource,
                "url: gh:foo/mod.git\npath: /third_party/mod\nref: 89abcdef0123456789abcdef0123456789abcdef\nuse-lfs: true\n"
            )
            .unwrap(),
            r#"["gh:foo/mod.git","89abcdef0123456789abcdef0123456789abcdef",{"path":"third_party/mod"},"use-lfs"]"#
        );
        assert_eq!(
            key(
                &GitModuleSource,
                "url: gh:foo/mod2.git\npath: third_party/mod2\nref: 89abcdef0123456789abcdef0123456789abcdef\nversion: '2'\n"
            )
            .unwrap(),
            r#"["gh:foo/mod2.git","89abcdef0123456789abcdef0123456789abcdef",{"path":"third_party/mod2"},"2"]"#
        );
    }

    #[test]
    fn patch_queue() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("patches/q")).unwrap();
        std::fs::write(dir.path().join("patches/q/0002-b.patch"), "diff b\n").unwrap();
        std::fs::write(dir.path().join("patches/q/0001-a.patch"), "diff a\n").unwrap();
        assert_eq!(
            key_of(&PatchQueueSource, "path: patches/q\n", dir.path()).unwrap(),
            r#"["e40185326bb21eaf5ebf1ecc90ef6ff51964dec6aa2d297cc8cec3a73a0159f1","650e75479dd979c64ecd5cc553440a9117ae71160d327ce7e624a6d5c6f69593"]"#
        );
    }

    #[test]
    fn zip() {
        let r = "528f4e1b25ff3badb0321b38d015d954c4c0de926c7830ef50e4a1948f6a3eed";
        assert_eq!(
            key(
                &ZipSource,
                &format!("url: gh:foo/a.zip\nref: {r}\nbase-dir: ''\n")
            )
            .unwrap(),
            format!(r#"["gh:foo/a.zip","{r}",""]"#)
        );
        assert_eq!(
            key(
                &ZipSource,
                &format!("url: gh:foo/b.zip\nref: {r}\nversion-guess-pattern: b\n")
            )
            .unwrap(),
            format!(r#"["gh:foo/b.zip","{r}","b","*"]"#)
        );
    }

    #[test]
    fn cpan_pypi_gen_cargo_lock() {
        assert_eq!(
            key(
                &CpanSource,
                "name: Module::Install\nsuffix: authors/id/E/ET/ETHER/Module-Install-1.21.tar.gz\nsha256sum: fbf91007f30565f3920e106055fd0d4287981d5e7dad8b35323ce4b733f15a7b\n"
            )
            .unwrap(),
            r#"["authors/id/E/ET/ETHER/Module-Install-1.21.tar.gz","fbf91007f30565f3920e106055fd0d4287981d5e7dad8b35323ce4b733f15a7b"]"#
        );
        assert_eq!(key(&CpanSource, "name: X\nsuffix: a\n"), None);
        assert_eq!(
            key(
                &PypiSource,
                "name: ruamel.yaml\nref:\n  sha256sum: 53eb66cd27849eff968ebf8f0bf61f46cdac2da1d1f3576dd4ccee9b25c31993\n  suffix: c7/3b/ruamel_yaml-0.19.1.tar.gz\nversion: '0.19.1'\n"
            )
            .unwrap(),
            r#"["c7/3b/ruamel_yaml-0.19.1.tar.gz","53eb66cd27849eff968ebf8f0bf61f46cdac2da1d1f3576dd4ccee9b25c31993","0.19.1"]"#
        );
        assert_eq!(key(&PypiSource, "name: x\n"), None);
        assert_eq!(
            key(&GenCargoLockSource, "ref: SGVsbG8=\n").unwrap(),
            r#""SGVsbG8=""#
        );
        assert_eq!(key(&GenCargoLockSource, "{}\n"), None);
    }

    #[test]
    fn cargo2() {
        let yaml = r#"url: crates:crates
git-mirrors:
  https://github.com/: "gh:"
ref:
- kind: registry
  name: ahash
  version: 0.7.8
  sha: 891477e0c6a8957309ee5c45a6368af3ae14bb510732d2684ffa19af310920f9
- name: anyhow
  version: '1.0'
  sha: 330a5ed07fa54e4702c9d6c4174f74427fc0ef6e214bbd677ae50a5099946470
  provenance:
    homepage: https://example.com
- kind: git
  name: composefs
  version: 0.7.0
  repo: https://github.com/containers/composefs-rs
  commit: 0a819c351951864071aa9ec23d6594710bf3173f
  query:
    rev: 0a819c351951864071aa9ec23d6594710bf3173f
- kind: git
  name: other
  version: 1
  repo: https://github.com/x/y
  commit: 0a819c351951864071aa9ec23d6594710bf3173f
"#;
        assert_eq!(
            key(&Cargo2Source, yaml).unwrap(),
            r#"["crates:crates","Cargo.lock",".vendored-crates",[{"kind":"registry","name":"ahash","sha":"891477e0c6a8957309ee5c45a6368af3ae14bb510732d2684ffa19af310920f9","version":"0.7.8"},{"kind":"registry","name":"anyhow","sha":"330a5ed07fa54e4702c9d6c4174f74427fc0ef6e214bbd677ae50a5099946470","version":"1.0"},{"commit":"0a819c351951864071aa9ec23d6594710bf3173f","kind":"git","name":"composefs","query":{"rev":"0a819c351951864071aa9ec23d6594710bf3173f"},"repo":"https://github.com/containers/composefs-rs","version":"0.7.0"},{"commit":"0a819c351951864071aa9ec23d6594710bf3173f","kind":"git","name":"other","repo":"https://github.com/x/y","version":"1"}],"a"]"#
        );
        assert_eq!(
            key(
                &Cargo2Source,
                "cargo-lock: sub/Cargo.lock\nvendor-dir: vendor\n"
            )
            .unwrap(),
            r#"["https://static.crates.io/crates","sub/Cargo.lock","vendor",[],"a"]"#
        );
        assert_eq!(
            key(&Cargo2Source, "ref:\n- name: a\n  version: '1'\n"),
            None
        );
    }

    #[test]
    fn go_module() {
        assert_eq!(
            key(
                &GoModuleSource,
                "url: gh:foo/go.git\nmodule: golang.org/x/sys\nref:\n  go-version: '1.21'\n  git-ref: v0.1.0-0-g0123456789abcdef0123456789abcdef01234567\n  explicit: true\n"
            )
            .unwrap(),
            r#"{"bugfix":1,"module":"golang.org/x/sys","ref":{"explicit":true,"git-ref":"v0.1.0-0-g0123456789abcdef0123456789abcdef01234567","go-version":"1.21"}}"#
        );
        assert_eq!(
            key(
                &GoModuleSource,
                "url: gh:foo/go2.git\nmodule: golang.org/x/net\nref:\n  go-version: '1.22'\n  git-ref: 0123456789abcdef0123456789abcdef01234567\n  explicit: false\n  subdirectory: net\n"
            )
            .unwrap(),
            r#"{"bugfix":1,"module":"golang.org/x/net","ref":{"explicit":false,"git-ref":"0123456789abcdef0123456789abcdef01234567","go-version":"1.22","subdirectory":"net"}}"#
        );
        assert_eq!(key(&GoModuleSource, "url: a\nmodule: b\n"), None);
    }

    #[test]
    fn docker() {
        assert_eq!(
            key(
                &DockerSource,
                "url: https://registry.example.com/library/alpine\nref: cc3395813209a6a6da63989a99c0463ec1eb67e5c90b68063a508b6d6b2640cc\n"
            )
            .unwrap(),
            r#"["https://registry.example.com/library/alpine","sha256:cc3395813209a6a6da63989a99c0463ec1eb67e5c90b68063a508b6d6b2640cc"]"#
        );
        assert_eq!(
            key(
                &DockerSource,
                "image: library/alpine\nref: cc3395813209a6a6da63989a99c0463ec1eb67e5c90b68063a508b6d6b2640cc\nversion: '3'\narchitecture: amd64\n"
            )
            .unwrap(),
            r#"["https://registry.hub.docker.com","library/alpine","sha256:cc3395813209a6a6da63989a99c0463ec1eb67e5c90b68063a508b6d6b2640cc","3"]"#
        );
        assert_eq!(
            key(
                &DockerSource,
                "image: library/busybox\nregistry-url: https://quay.io\nref: 00e18926764be4053047ba4c8174bf3a16cc0e326d82600916f9b4db32f2f8a3\n"
            )
            .unwrap(),
            r#"["https://quay.io","library/busybox","sha256:00e18926764be4053047ba4c8174bf3a16cc0e326d82600916f9b4db32f2f8a3"]"#
        );
    }

    #[test]
    fn ostree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        std::fs::write(dir.path().join("keys/ostree.gpg"), "key\n").unwrap();
        assert_eq!(
            key_of(
                &OstreeSource,
                "url: gh:foo/repo\nref: abcdef\ngpg-key: keys/ostree.gpg\n",
                dir.path()
            )
            .unwrap(),
            r#"["gh:foo/repo","abcdef"]"#
        );
    }

    #[test]
    fn ostree_mirror() {
        // Not recorded (the plugin needs PyGObject's OSTree bindings): derived from the
        // plugin's get_unique_key(), `[original_url, sorted(refs, key=ref)]`.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key.gpg"), "key\n").unwrap();
        assert_eq!(
            key_of(
                &OstreeMirrorSource,
                "url: fd:repo\ngpg: key.gpg\nref:\n- ref: b\n  checksum: '2'\n- ref: a\n  checksum: '1'\n",
                dir.path()
            )
            .unwrap(),
            r#"["fd:repo",[{"checksum":"1","ref":"a"},{"checksum":"2","ref":"b"}]]"#
        );
    }

    #[test]
    fn relpath() {
        assert_eq!(relpath_from_root("/a/./b/"), "a/b");
        assert_eq!(relpath_from_root("//a"), "a");
        assert_eq!(relpath_from_root("/"), ".");
    }
}
