//! `show --format '%{source-info}'`: what each source reports through BuildStream's
//! `Source.collect_source_info()` (BuildStream 2.5+), serialised as `SourceInfo.serialize()`.
//!
//! Each kind implements [`SourceKind::source_info`](super::SourceKind::source_info); the
//! defaults here mirror the parts BuildStream and the plugins share:
//!
//! * the entry is `kind`, `url`, [`homepage`, `issue-tracker`, `provenance`], `medium`,
//!   `version-type`, `version`, [`version-guess`], [`extra-data`], in that order; a missing
//!   `version` (a source without ref) is Python's `None`, which the dumper writes as `None`;
//! * `provenance` is the source's `provenance:` mapping as written (never variable-expanded);
//!   `homepage` and `issue-tracker` are copied from it to the top level;
//! * URLs are translated through the project's aliases (and a junction's alias mapping to
//!   its parent project) unless a plugin reports the URL as written (the `git` source of
//!   buildstream-plugins does);
//! * [`guess_version`] is `utils.guess_version()`: the most qualified match of a Python regex.
//!
//! Where BuildStream itself crashes (a `git` source without ref, say), bst-rs fails too,
//! with [`crash`] naming the Python exception BuildStream dies of.

use crate::yaml::{LoadError, LoadErrorReason, Node, Provenance, Result};

/// `SourceInfoMedium` values.
pub mod medium {
    pub const LOCAL: &str = "local";
    pub const REMOTE_FILE: &str = "remote-file";
    pub const GIT: &str = "git";
    pub const OCI_IMAGE: &str = "oci-image";
}

/// `SourceVersionType` values.
pub mod version_type {
    pub const COMMIT: &str = "commit";
    pub const SHA256: &str = "sha256";
    pub const CAS_DIGEST: &str = "cas-digest";
    pub const OCI_DIGEST: &str = "oci-digest";
}

/// One `SourceInfo`.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceInfo {
    /// The source kind.
    pub kind: String,
    /// The (translated) URL, or a project-relative path for local media.
    pub url: String,
    /// The provenance mapping, if any.
    pub provenance: Option<Node>,
    /// `SourceInfoMedium`.
    pub medium: &'static str,
    /// `SourceVersionType`.
    pub version_type: &'static str,
    /// The version; `None` prints as `None`.
    pub version: Option<String>,
    /// The guessed human readable version.
    pub version_guess: Option<String>,
    /// Plugin defined key/values (left out when empty).
    pub extra_data: Vec<(&'static str, String)>,
}

/// How Python's `None` comes out of BuildStream's round-trip YAML dumper.
const PY_NONE: &str = "None";

impl SourceInfo {
    /// `SourceInfo.serialize()` as a YAML mapping, in BuildStream's key order.
    pub fn to_node(&self) -> Node {
        let syn = Provenance::synthetic();
        let s = |v: &str| Node::scalar(v, syn);
        let mut m = Node::empty_map(syn);
        m.insert("kind", s(&self.kind));
        m.insert("url", s(&self.url));
        if let Some(p) = &self.provenance {
            for key in ["homepage", "issue-tracker"] {
                if let Some(v) = p.get(key).and_then(Node::as_str) {
                    m.insert(key, s(v));
                }
            }
            m.insert("provenance", p.clone());
        }
        m.insert("medium", s(self.medium));
        m.insert("version-type", s(self.version_type));
        m.insert("version", s(self.version.as_deref().unwrap_or(PY_NONE)));
        if let Some(g) = &self.version_guess {
            m.insert("version-guess", s(g));
        }
        if !self.extra_data.is_empty() {
            let mut e = Node::empty_map(syn);
            for (k, v) in &self.extra_data {
                e.insert(k, s(v));
            }
            m.insert("extra-data", e);
        }
        m
    }
}

/// What `collect_source_info()` gives for one source.
#[derive(Clone, Debug, PartialEq)]
pub enum Collected {
    /// The reported entries.
    Infos(Vec<SourceInfo>),
    /// Nothing: the plugin does not implement source info (or has no fetchers), and
    /// BuildStream warns `unavailable-source-info`.
    Unavailable,
}

/// The error for a source whose information BuildStream cannot collect because it crashes
/// (an unhandled Python exception, reported by bst as `BUG`).
pub fn crash(display: &str, exception: &str) -> LoadError {
    LoadError::new(
        LoadErrorReason::PluginBug,
        format!("BUG: {display}: BuildStream 2.8.1 crashes collecting this source's information"),
    )
    .with_detail(exception.to_owned())
}

/// The warning BuildStream prints for [`Collected::Unavailable`].
pub const UNAVAILABLE_WARNING: &str = "unavailable-source-info";

/// The message of that warning.
pub fn unavailable_message(display: &str) -> String {
    format!("{display}: Source.collect_source_info() is not implemented in this plugin")
}

/// What a kind needs besides its configuration to report source information.
pub struct InfoInput<'a> {
    /// The source kind.
    pub kind: &'a str,
    /// `Source.translate_url()` with the owning project's aliases.
    pub translate: &'a dyn Fn(&str) -> Result<String>,
    /// `Source.mark_download_url()`, for a URL the plugin translates again while collecting
    /// (BuildStream warns about an unaliased URL at each call).
    pub mark: &'a dyn Fn(&str) -> Result<()>,
    /// The source's `provenance:` mapping.
    pub provenance: Option<&'a Node>,
    /// The project's `source-provenance-attributes` keys.
    pub provenance_attributes: &'a [String],
    /// Whether BuildStream computed this source's unique key while resolving the element:
    /// it does so for each source in order up to the first one without a ref. (The `patch`
    /// source only knows its checksum once its key has been computed.)
    pub key_computed: bool,
}

impl InfoInput<'_> {
    /// `Source.create_source_info()`: the source's own provenance unless `provenance_node`
    /// is given, which is then checked against the project's attributes.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        &self,
        url: String,
        medium: &'static str,
        version_type: &'static str,
        version: Option<String>,
        version_guess: Option<String>,
        extra_data: Vec<(&'static str, String)>,
        provenance_node: Option<&Node>,
    ) -> Result<SourceInfo> {
        let provenance = match provenance_node {
            Some(p) => {
                check_provenance(p, Some(self.provenance_attributes))?;
                Some(p.clone())
            }
            None => self.provenance.cloned(),
        };
        Ok(SourceInfo {
            kind: self.kind.to_owned(),
            url,
            provenance,
            medium,
            version_type,
            version,
            version_guess,
            extra_data,
        })
    }
}

/// The checks BuildStream makes on a `provenance:` mapping: its keys must be declared in
/// `source-provenance-attributes` (`None`: not checked), and its values must be scalars.
pub fn check_provenance(p: &Node, attributes: Option<&[String]>) -> Result<()> {
    let entries = || p.as_map().into_iter().flatten();
    if let Some(attributes) = attributes {
        for (key, value) in entries() {
            if !attributes.iter().any(|a| **a == **key) {
                return Err(LoadError::new(
                    LoadErrorReason::UndefinedSourceProvenanceAttribute,
                    format!(
                        "Specified source provenance attribute not defined in project config\n {}: Unexpected key: {key}",
                        value.prov
                    ),
                ));
            }
        }
    }
    for (key, value) in entries() {
        if !value.is_scalar() {
            return Err(LoadError::new(
                LoadErrorReason::InvalidData,
                format!(
                    "{}: Expected string for the value of provenance attribute '{key}'",
                    value.prov
                ),
            ));
        }
    }
    Ok(())
}

/// BuildStream's default version pattern.
const DEFAULT_GUESS_PATTERN: &str = r"(\d+)\.(\d+)(?:\.(\d+))?";

/// `utils.guess_version(string, pattern=...)`: among the non-overlapping matches, the first
/// one with the most participating groups, its groups joined by `.` (the whole match when
/// the pattern has no groups). `Err` holds the regex compilation error.
pub fn guess_version(
    string: &str,
    pattern: Option<&str>,
) -> std::result::Result<Option<String>, String> {
    use std::sync::{Mutex, OnceLock};
    type Cache = Mutex<rustc_hash::FxHashMap<String, fancy_regex::Regex>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let pattern = pattern.unwrap_or(DEFAULT_GUESS_PATTERN);
    let cache = CACHE.get_or_init(Default::default);
    let re = {
        let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
        match c.get(pattern) {
            Some(re) => re.clone(),
            None => {
                let re = fancy_regex::Regex::new(pattern).map_err(|e| e.to_string())?;
                c.insert(pattern.to_owned(), re.clone());
                re
            }
        }
    };
    let groups = re.captures_len() - 1;
    let mut best: Option<(String, usize)> = None;
    for caps in re.captures_iter(string) {
        let caps = caps.map_err(|e| e.to_string())?;
        let (guess, n) = if groups == 0 {
            (caps.get(0).map_or("", |m| m.as_str()).to_owned(), 1)
        } else {
            let parts: Vec<&str> = (1..=groups)
                .filter_map(|i| caps.get(i).map(|m| m.as_str()))
                .collect();
            (parts.join("."), parts.len())
        };
        if best.as_ref().is_none_or(|(_, bn)| n > *bn) {
            best = Some((guess, n));
        }
    }
    Ok(best.map(|(g, _)| g))
}

/// The parts of a ref matched by the community git plugins' `REF_REGEX`,
/// `(?:(.*)(?:-(\d+)-g))?([0-9a-f]{40})` with `re.match` (anchored at the start only):
/// (tag, commits beyond the tag, sha). `None` when it does not match.
pub fn parse_describe_ref(r: &str) -> Option<(Option<&str>, Option<&str>, &str)> {
    let b = r.as_bytes();
    let sha_at = |i: usize| {
        b.len() >= i + 40
            && b[i..i + 40]
                .iter()
                .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
    };
    // `.` does not match a newline, and `.*` is greedy: the longest tag wins.
    let tag_max = b.iter().position(|&c| c == b'\n').unwrap_or(b.len());
    for p in (0..=tag_max).rev() {
        if b.get(p) != Some(&b'-') {
            continue;
        }
        let digits = b[p + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        let g = p + 1 + digits;
        if digits > 0 && b[g..].starts_with(b"-g") && sha_at(g + 2) {
            return Some((Some(&r[..p]), Some(&r[p + 1..g]), &r[g + 2..g + 42]));
        }
    }
    sha_at(0).then(|| (None, None, &r[..40]))
}

/// `_extract_alias(url)`: the alias part of an aliased URL ("" when it has none).
pub fn extract_alias(url: &str) -> &str {
    const URI_SCHEMES: [&str; 7] = ["http", "https", "ftp", "file", "git", "sftp", "ssh"];
    match url.split_once(':') {
        Some((alias, _)) if !URI_SCHEMES.contains(&alias.to_lowercase().as_str()) => alias,
        _ => "",
    }
}

/// `urllib.parse.urlsplit(url)`'s scheme, netloc and path.
pub fn urlsplit(url: &str) -> (String, String, String) {
    // urlsplit removes ASCII tabs and newlines anywhere and strips leading C0 and spaces.
    let cleaned: String = url
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let mut rest = cleaned.as_str();
    let mut scheme = String::new();
    if let Some(i) = rest.find(':') {
        let candidate = &rest[..i];
        let valid = candidate
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && candidate
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if valid {
            scheme = candidate.to_ascii_lowercase();
            rest = &rest[i + 1..];
        }
    }
    let mut netloc = "";
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        netloc = &after[..end];
        rest = &after[end..];
    }
    let path_end = rest.find(['?', '#']).unwrap_or(rest.len());
    (scheme, netloc.to_owned(), rest[..path_end].to_owned())
}

/// `urllib.parse.urlunsplit((scheme, netloc, "", "", ""))` of `urlsplit(url)`: what the
/// `docker` source keeps of a URL as its registry.
pub fn url_scheme_and_netloc(url: &str) -> String {
    const USES_NETLOC: [&str; 26] = [
        "", "ftp", "http", "gopher", "nntp", "telnet", "imap", "wais", "file", "mms", "https",
        "shttp", "snews", "prospero", "rtsp", "rtsps", "rtspu", "rsync", "svn", "svn+ssh", "sftp",
        "nfs", "git", "git+ssh", "ws", "wss",
    ];
    let (scheme, netloc, _) = urlsplit(url);
    let mut out = String::new();
    if !netloc.is_empty() || (!scheme.is_empty() && USES_NETLOC.contains(&scheme.as_str())) {
        out.push_str("//");
        out.push_str(&netloc);
    }
    if !scheme.is_empty() {
        out = format!("{scheme}:{out}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_like_buildstream() {
        // Expected values from buildstream.utils.guess_version (BuildStream 2.8.1).
        let g = |s: &str, p: Option<&str>| guess_version(s, p).unwrap();
        assert_eq!(
            g("https://example.com/releases/1.2/release-1.2.3.tgz", None).as_deref(),
            Some("1.2.3")
        );
        assert_eq!(g("pkg-1.0.tar.gz", None).as_deref(), Some("1.0"));
        assert_eq!(g("nothing here", None), None);
        assert_eq!(
            g(
                "release-1_2_3-r2",
                Some(r"(\d+)_(\d+)(?:_(\d+))?(?:\-(r\d+))?")
            )
            .as_deref(),
            Some("1.2.3.r2")
        );
        assert_eq!(
            g("foo-1_2_3-r2.bin", Some(r"foo-\d")).as_deref(),
            Some("foo-1")
        );
        assert_eq!(g("v1.2.3", Some(r"(\d+)")).as_deref(), Some("1"));
        assert!(guess_version("x", Some("(")).is_err());
    }

    #[test]
    fn describe_refs() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(parse_describe_ref(sha), Some((None, None, sha)));
        let r = format!("v1.2.3-0-g{sha}");
        assert_eq!(
            parse_describe_ref(&r),
            Some((Some("v1.2.3"), Some("0"), sha))
        );
        let r = format!("a-1-gb-22-g{sha}");
        assert_eq!(
            parse_describe_ref(&r),
            Some((Some("a-1-gb"), Some("22"), sha))
        );
        let r = format!("{sha}trailing");
        assert_eq!(parse_describe_ref(&r), Some((None, None, sha)));
        assert_eq!(parse_describe_ref("main"), None);
        let r = format!("-5-g{sha}");
        assert_eq!(parse_describe_ref(&r), Some((Some(""), Some("5"), sha)));
    }

    #[test]
    fn docker_registry_urls() {
        assert_eq!(
            url_scheme_and_netloc("https://registry.example.com/library/alpine"),
            "https://registry.example.com"
        );
        assert_eq!(
            url_scheme_and_netloc("HTTPS://Reg:5000"),
            "https://Reg:5000"
        );
        assert_eq!(url_scheme_and_netloc("library/alpine"), "");
        assert_eq!(url_scheme_and_netloc("https:library"), "https://");
        assert_eq!(
            urlsplit("https://r.io/library/alpine?x#y").2,
            "/library/alpine"
        );
        assert_eq!(urlsplit("library/alpine").2, "library/alpine");
    }

    #[test]
    fn aliases() {
        assert_eq!(extract_alias("gh:a/b"), "gh");
        assert_eq!(extract_alias("HTTPS://x"), "");
        assert_eq!(extract_alias("plain"), "");
    }
}
