//! Small helpers of the fetch layer: temporary directories, host tools, BuildStream's
//! `url_directory_name`, Python's `repr()` of strings and `os.path.realpath`.

use super::SourceError;
pub use crate::util::py_repr;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// `utils.url_directory_name`: every character but ASCII letters, digits and `%` becomes `_`.
pub fn url_directory_name(url: &str) -> String {
    url.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '%' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A directory removed (recursively) when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh directory inside `parent` (created if missing).
    pub fn new_in(parent: &Path) -> std::io::Result<TempDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        std::fs::create_dir_all(parent)?;
        loop {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let p = parent.join(format!("tmp-bst-rs-{}-{n}-{nanos:x}", std::process::id()));
            match std::fs::create_dir(&p) {
                Ok(()) => return Ok(TempDir(p)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Creates a fresh directory `<prefix><8 characters>` inside `parent` (created if
    /// missing), named as Python's `tempfile.mkdtemp(prefix=...)` names them (8 characters of
    /// `[a-z0-9_]`), for directories whose names BuildStream's messages show.
    pub fn with_prefix(parent: &Path, prefix: &str) -> std::io::Result<TempDir> {
        const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        std::fs::create_dir_all(parent)?;
        loop {
            use std::hash::{BuildHasher, Hasher};
            // A randomly keyed hash of the time, the process and a counter.
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
            h.write_u32(std::process::id());
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            );
            let mut bits = h.finish();
            let mut name = String::from(prefix);
            for _ in 0..8 {
                name.push(CHARS[(bits % CHARS.len() as u64) as usize] as char);
                bits /= CHARS.len() as u64;
            }
            let p = parent.join(name);
            match std::fs::create_dir(&p) {
                Ok(()) => return Ok(TempDir(p)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = remove_all(&self.0);
    }
}

/// Removes a file, symlink or directory tree, making read-only directories writable first.
pub fn remove_all(path: &Path) -> std::io::Result<()> {
    let meta = match path.symlink_metadata() {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return std::fs::remove_file(path);
    }
    if std::fs::remove_dir_all(path).is_ok() {
        return Ok(());
    }
    use std::os::unix::fs::PermissionsExt;
    fn make_writable(p: &Path) {
        if let Ok(m) = p.symlink_metadata() {
            if m.is_dir() {
                let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755));
                if let Ok(rd) = std::fs::read_dir(p) {
                    for e in rd.flatten() {
                        make_writable(&e.path());
                    }
                }
            }
        }
    }
    make_writable(path);
    std::fs::remove_dir_all(path)
}

/// `utils.get_host_tool`: the program's path in `$PATH`.
pub fn host_tool(name: &str) -> Result<PathBuf, SourceError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if let Ok(m) = candidate.metadata() {
            use std::os::unix::fs::PermissionsExt;
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                return Ok(candidate);
            }
        }
    }
    let dirs: Vec<String> = std::env::split_paths(&path)
        .map(|p| format!("'{}'", p.display()))
        .collect();
    Err(SourceError::new(format!(
        "Did not find '{name}' in PATH: [{}]",
        dirs.join(", ")
    )))
}

/// The output of a finished host command.
pub struct Output {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `cmd` (stdin closed) and collects its output; `Err` only when it cannot start.
pub fn run(cmd: &mut Command) -> Result<Output, SourceError> {
    cmd.stdin(Stdio::null());
    let out = cmd.output().map_err(|e| {
        SourceError::new(format!(
            "Failed to run {}: {e}",
            cmd.get_program().to_string_lossy()
        ))
    })?;
    Ok(Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Python's `os.path.realpath(path, strict=False)`: symbolic links that exist on disk are
/// followed, missing components are kept as they are. `path` must be absolute.
pub fn realpath(path: &Path) -> PathBuf {
    let mut resolved = PathBuf::from("/");
    let mut pending: Vec<std::ffi::OsString> = components_rev(path);
    let mut hops = 0;
    while let Some(name) = pending.pop() {
        if name == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&name);
        match std::fs::read_link(&candidate) {
            Ok(target) if hops < 40 => {
                hops += 1;
                if target.is_absolute() {
                    resolved = PathBuf::from("/");
                }
                pending.extend(components_rev(&target));
            }
            _ => resolved = candidate,
        }
    }
    resolved
}

/// Normal and `..` components of `p`, last first (so that popping yields them in order).
fn components_rev(p: &Path) -> Vec<std::ffi::OsString> {
    let mut v: Vec<std::ffi::OsString> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    v.reverse();
    v
}

/// `os.path.commonpath([a, b]) == b` for absolute, normalised paths.
pub fn is_within(path: &Path, root: &Path) -> bool {
    path.starts_with(root)
}

/// A path from raw bytes.
pub fn path_from_bytes(b: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(b))
}

/// Python's `posixpath.normpath` on bytes.
pub fn normpath_bytes(p: &[u8]) -> Vec<u8> {
    let s = String::from_utf8_lossy(p);
    if std::str::from_utf8(p).is_ok() {
        crate::loader::normpath(&s).into_owned().into_bytes()
    } else {
        // Normalise component-wise without decoding.
        let absolute = p.first() == Some(&b'/');
        let mut parts: Vec<&[u8]> = Vec::new();
        for comp in p.split(|&c| c == b'/') {
            match comp {
                b"" | b"." => {}
                b".." => {
                    if matches!(parts.last(), Some(l) if *l != b"..") {
                        parts.pop();
                    } else if !absolute {
                        parts.push(b"..");
                    }
                }
                c => parts.push(c),
            }
        }
        let mut out = Vec::new();
        if absolute {
            out.push(b'/');
        }
        out.extend(parts.join(&b'/'));
        if out.is_empty() {
            out.push(b'.');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_names() {
        assert_eq!(
            url_directory_name("https://ex.org/a%20b-1.tar.gz"),
            "https___ex_org_a%20b_1_tar_gz"
        );
        assert_eq!(url_directory_name("upstream:foo"), "upstream_foo");
    }

    #[test]
    fn repr() {
        assert_eq!(py_repr("a/b"), "'a/b'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a'\""), "'a\\'\"'");
    }

    #[test]
    fn realpath_follows_links() {
        let t = TempDir::new_in(&std::env::temp_dir()).unwrap();
        let root = realpath(t.path());
        std::fs::create_dir(root.join("d")).unwrap();
        std::os::unix::fs::symlink("d", root.join("l")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
        assert_eq!(realpath(&root.join("l/x")), root.join("d/x"));
        assert_eq!(
            realpath(&root.join("out/passwd")),
            PathBuf::from("/etc/passwd")
        );
        assert_eq!(realpath(&root.join("missing/../d")), root.join("d"));
        assert_eq!(normpath_bytes(b"a/./b/../c"), b"a/c");
    }
}
