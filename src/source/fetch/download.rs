//! `DownloadableFileSource`: one file downloaded into
//! `<sourcedir>/<kind>/<url_directory_name(url)>/<sha256>` and checked against the ref.
//!
//! HTTP(S) goes through `ureq` (blocking, rustls); `file://` URLs are copied, as Python's
//! `urllib` opens them. Error messages follow BuildStream's (`Error mirroring <url>: ...`,
//! `File downloaded from <url> has sha256sum '<x>', not '<ref>'!`).

use super::util::{url_directory_name, TempDir};
use super::{try_each_uri, FetchContext, FetchReport, ProjectUrls, SourceError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file to download, as configured.
pub struct Downloadable {
    /// Source kind (names the mirror directory).
    pub kind: &'static str,
    /// `url:` as written (alias included).
    pub original_url: String,
    /// `ref:` (the sha256).
    pub r#ref: Option<String>,
    /// `<kind> source at <provenance>`.
    pub display: String,
    /// The project's URL table.
    pub urls: Arc<ProjectUrls>,
}

impl Downloadable {
    /// The URL with its alias translated (no mirror).
    pub fn url(&self) -> String {
        self.urls.translate(&self.original_url)
    }

    fn mirror_dir(&self, ctx: &FetchContext) -> PathBuf {
        ctx.mirror_directory(self.kind)
            .join(url_directory_name(&self.original_url))
    }

    /// Where the file with the configured ref is kept.
    pub fn mirror_file(&self, ctx: &FetchContext) -> Option<PathBuf> {
        Some(self.mirror_dir(ctx).join(self.r#ref.as_ref()?))
    }

    /// Cached when the file named after the ref exists.
    pub fn is_cached(&self, ctx: &FetchContext) -> bool {
        self.mirror_file(ctx).is_some_and(|p| p.is_file())
    }

    /// Downloads the file (trying mirrors), checks its sha256 against the ref. Each download
    /// is the activity `Fetching <url>`, which succeeds even when the download fails (the
    /// error is raised after it, as BuildStream's `_ensure_mirror` does).
    pub fn fetch(
        &self,
        ctx: &FetchContext,
        report: &mut dyn FetchReport,
    ) -> Result<(), SourceError> {
        if self.is_cached(ctx) {
            return Ok(());
        }
        let Some(r#ref) = &self.r#ref else {
            return Err(SourceError::new(format!(
                "{}: Cannot fetch without a ref",
                self.display
            )));
        };
        try_each_uri(ctx, &self.urls, &self.original_url, |url| {
            let sha = self.ensure_mirror(ctx, url, report)?;
            if &sha != r#ref {
                return Err(SourceError::new(format!(
                    "File downloaded from {url} has sha256sum '{sha}', not '{ref}'!"
                )));
            }
            Ok(())
        })
    }

    /// `_ensure_mirror`: downloads into a temporary directory next to the mirrors, then moves
    /// the file to its sha256 name; returns the sha256.
    fn ensure_mirror(
        &self,
        ctx: &FetchContext,
        url: &str,
        report: &mut dyn FetchReport,
    ) -> Result<String, SourceError> {
        let err = |e: String| {
            SourceError::new(format!("{}: Error mirroring {url}: {e}", self.display)).temporary()
        };
        let tmp =
            TempDir::new_in(&ctx.mirror_directory(self.kind)).map_err(|e| err(e.to_string()))?;
        report.start(&format!("Fetching {url}"));
        let downloaded = download_file(url, tmp.path());
        report.end(true);
        let (file, etag) = downloaded.map_err(err)?;
        let dir = self.mirror_dir(ctx);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            return Err(SourceError::new(format!(
                "{}: Mirror directory exists but is not a directory: {}: {e}",
                self.display,
                dir.display()
            )));
        }
        let sha = crate::source::sha256_file(&file).map_err(|e| err(e.to_string()))?;
        std::fs::rename(&file, dir.join(&sha)).map_err(|e| err(e.to_string()))?;
        if let Some(etag) = etag {
            let _ = std::fs::write(dir.join(format!("{sha}.etag")), etag);
        }
        Ok(sha)
    }
}

/// Downloads `url` into `dir`; returns the file and the ETag. Errors are worded like
/// Python's `urllib` ones, which BuildStream prints.
pub fn download_file(url: &str, dir: &Path) -> Result<(PathBuf, Option<String>), String> {
    let default_name = url.rsplit('/').next().filter(|s| !s.is_empty());
    let local = dir.join(default_name.unwrap_or("download"));
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("file") => {
            let path = url["file://".len()..].to_owned();
            let path = percent_decode(path.strip_prefix("localhost").unwrap_or(&path));
            std::fs::copy(&path, &local).map_err(|e| urlopen_error(&e, Some(&path)))?;
            Ok((local, None))
        }
        Some("http") | Some("https") => http_get(url, &local),
        _ => Err(format!(
            "<urlopen error unknown url type: {}>",
            url_type(url)
        )),
    }
}

fn url_type(url: &str) -> &str {
    url.split_once(':').map(|(s, _)| s).unwrap_or(url)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `<urlopen error [Errno N] message>` (with `: 'path'` for file errors).
fn urlopen_error(e: &std::io::Error, path: Option<&str>) -> String {
    let text = e.to_string();
    let text = match text.rfind(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    };
    match (e.raw_os_error(), path) {
        (Some(n), Some(p)) => format!(
            "<urlopen error [Errno {n}] {text}: {}>",
            super::util::py_repr(p)
        ),
        (Some(n), None) => format!("<urlopen error [Errno {n}] {text}>"),
        (None, _) => match resolver_errno(&text) {
            // Python's `socket.gaierror`: the resolver's own (negative) error number.
            Some((n, reason)) => format!("<urlopen error [Errno {n}] {reason}>"),
            None => format!("<urlopen error {text}>"),
        },
    }
}

/// glibc's `getaddrinfo` error number for a failed host lookup as the Rust standard
/// library words it (`failed to lookup address information: <gai_strerror>`).
fn resolver_errno(text: &str) -> Option<(i32, &str)> {
    const EAI: [(i32, &str); 5] = [
        (-2, "Name or service not known"),
        (-3, "Temporary failure in name resolution"),
        (-4, "Non-recoverable failure in name resolution"),
        (-5, "No address associated with hostname"),
        (-8, "Servname not supported for ai_socktype"),
    ];
    let reason = text.strip_prefix("failed to lookup address information: ")?;
    EAI.iter().find(|(_, r)| *r == reason).copied()
}

fn agent() -> &'static ureq::Agent {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(std::time::Duration::from_secs(60)))
            .timeout_recv_body(Some(std::time::Duration::from_secs(600)))
            .timeout_recv_response(Some(std::time::Duration::from_secs(600)))
            .user_agent("BuildStream/2")
            .build()
            .into()
    })
}

fn http_get(url: &str, local: &Path) -> Result<(PathBuf, Option<String>), String> {
    let mut resp = match agent().get(url).header("Accept", "*/*").call() {
        Ok(r) => r,
        Err(ureq::Error::Io(e)) => return Err(urlopen_error(&e, None)),
        Err(e) => return Err(format!("<urlopen error {e}>")),
    };
    let status = resp.status();
    if !status.is_success() {
        return Err(format!(
            "HTTP Error {}: {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ));
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let etag = header("etag");
    let length: Option<u64> = header("content-length").and_then(|l| l.parse().ok());
    let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
    let mut out = std::fs::File::create(local).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 1 << 16];
    let mut total: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return Err(e.to_string()),
        };
        out.write_all(&buf[..n]).map_err(|e| e.to_string())?;
        total += n as u64;
    }
    if let Some(l) = length {
        if total < l {
            return Err(format!("Partial file {total}/{l}"));
        }
    }
    Ok((local.to_path_buf(), etag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_host_lookups_read_as_python_words_them() {
        let e = std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        );
        assert_eq!(
            urlopen_error(&e, None),
            "<urlopen error [Errno -2] Name or service not known>"
        );
        let e = std::io::Error::other("failed to lookup address information: something new");
        assert_eq!(
            urlopen_error(&e, None),
            "<urlopen error failed to lookup address information: something new>"
        );
    }

    #[test]
    fn decode() {
        assert_eq!(percent_decode("/a%20b/c"), "/a b/c");
        assert_eq!(percent_decode("/100%"), "/100%");
    }
}
