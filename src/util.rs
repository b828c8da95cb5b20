//! Small helpers shared by the build pipeline: local-time formatting (as Python's
//! `time.strftime` does it, for log names and headers), atomic file writes, and
//! BuildStream's path globs ([`Glob`]).

use std::io::Write;
use std::path::Path;

/// Lowercase hexadecimal of `bytes` (digests print this way everywhere).
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

/// The sha256 of `data`, in hexadecimal.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(data))
}

/// Formats `secs` since the epoch in local time with a C `strftime` format.
pub fn format_local(secs: i64, fmt: &str) -> String {
    let Ok(cfmt) = std::ffi::CString::new(fmt) else {
        return String::new();
    };
    let t = secs as libc::time_t;
    // SAFETY: `tm` is plain data filled by localtime_r; strftime writes at most `buf.len()`
    // bytes into `buf` and returns how many it wrote.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return String::new();
        }
        let mut buf = [0u8; 128];
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), cfmt.as_ptr(), &tm);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// Now, in seconds since the epoch.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory, fsync, rename),
/// so an interrupted write never leaves a partial file under the final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Unique per write: two threads may write the same ref at once.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A BuildStream path glob (`utils._glob2re`): `*` and `?` stop at `/`, `**` does not,
/// `[...]` / `[!...]` are character classes.
#[derive(Debug)]
pub struct Glob(Vec<GlobTok>);

impl Glob {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Glob {
        Glob(glob_compile(pattern))
    }

    /// Whether all of `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        let chars: Vec<char> = path.chars().collect();
        glob_match(&self.0, &chars)
    }

    /// The same pattern as a regular expression (fancy-regex syntax) that matches what
    /// [`Glob::matches`] accepts, anchored at the end (`\z`) as `_glob2re`'s is; split rules
    /// join a domain's globs into one expression, as BuildStream does.
    pub fn to_regex(&self) -> String {
        fn class_char(c: char, out: &mut String) {
            if matches!(c, '\\' | ']' | '[' | '^' | '-' | '&' | '~') {
                out.push('\\');
            }
            out.push(c);
        }
        let mut res = String::new();
        for tok in &self.0 {
            match tok {
                GlobTok::Lit(c) => res += &fancy_regex::escape(&c.to_string()),
                GlobTok::Star => res += "[^/]*",
                GlobTok::StarStar => res += ".*",
                GlobTok::Any => res += "[^/]",
                GlobTok::Class(neg, ranges) => {
                    res.push('[');
                    if *neg {
                        res.push('^');
                    }
                    for &(a, b) in ranges {
                        class_char(a, &mut res);
                        if a != b {
                            res.push('-');
                            class_char(b, &mut res);
                        }
                    }
                    res.push(']');
                }
            }
        }
        res + "\\z"
    }
}

/// One piece of a BuildStream element glob (`utils._glob2re`).
#[derive(Debug)]
enum GlobTok {
    Lit(char),
    /// `*`: anything but `/`.
    Star,
    /// `**`: anything.
    StarStar,
    /// `?`: one character but `/`.
    Any,
    /// `[...]`: negated?, ranges.
    Class(bool, Vec<(char, char)>),
}

fn glob_compile(pat: &str) -> Vec<GlobTok> {
    let c: Vec<char> = pat.chars().collect();
    let (mut i, n) = (0, c.len());
    let mut out = Vec::new();
    while i < n {
        let ch = c[i];
        i += 1;
        match ch {
            '*' if i < n && c[i] == '*' => {
                i += 1;
                out.push(GlobTok::StarStar)
            }
            '*' => out.push(GlobTok::Star),
            '?' => out.push(GlobTok::Any),
            '[' => {
                let mut j = i;
                if j < n && c[j] == '!' {
                    j += 1;
                }
                if j < n && c[j] == ']' {
                    j += 1;
                }
                while j < n && c[j] != ']' {
                    j += 1;
                }
                if j >= n {
                    out.push(GlobTok::Lit('['));
                    continue;
                }
                let mut stuff: Vec<char> = c[i..j].to_vec();
                i = j + 1;
                let neg = stuff.first() == Some(&'!');
                if neg {
                    stuff.remove(0);
                }
                let mut ranges = Vec::new();
                let mut k = 0;
                while k < stuff.len() {
                    if k + 2 < stuff.len() && stuff[k + 1] == '-' {
                        ranges.push((stuff[k], stuff[k + 2]));
                        k += 3;
                    } else {
                        ranges.push((stuff[k], stuff[k]));
                        k += 1;
                    }
                }
                out.push(GlobTok::Class(neg, ranges));
            }
            other => out.push(GlobTok::Lit(other)),
        }
    }
    out
}

fn glob_match(toks: &[GlobTok], s: &[char]) -> bool {
    match toks.first() {
        None => s.is_empty(),
        Some(GlobTok::Lit(c)) => s.first() == Some(c) && glob_match(&toks[1..], &s[1..]),
        Some(GlobTok::Any) => {
            s.first().is_some_and(|&c| c != '/') && glob_match(&toks[1..], &s[1..])
        }
        Some(GlobTok::Class(neg, ranges)) => {
            s.first()
                .is_some_and(|&c| ranges.iter().any(|&(a, b)| a <= c && c <= b) != *neg)
                && glob_match(&toks[1..], &s[1..])
        }
        Some(GlobTok::Star) => (0..=s.len())
            .take_while(|&k| k == 0 || s[k - 1] != '/')
            .any(|k| glob_match(&toks[1..], &s[k..])),
        Some(GlobTok::StarStar) => (0..=s.len()).any(|k| glob_match(&toks[1..], &s[k..])),
    }
}

/// Format (Cf) and private-use (Co) characters, as of Unicode 14.0
/// (Python 3.11); `repr` escapes them.
const FORMAT_AND_PRIVATE: &[(u32, u32)] = &[
    (0xAD, 0xAD),
    (0x600, 0x605),
    (0x61C, 0x61C),
    (0x6DD, 0x6DD),
    (0x70F, 0x70F),
    (0x890, 0x891),
    (0x8E2, 0x8E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xE000, 0xF8FF),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
    (0xF0000, 0xFFFFD),
    (0x100000, 0x10FFFD),
];

/// Python's `str.isprintable` for one character (unassigned code points
/// are not detected).
fn is_py_printable(c: char) -> bool {
    let code = c as u32;
    c == ' '
        || !(c.is_control()
            || c.is_whitespace()
            || FORMAT_AND_PRIVATE
                .iter()
                .any(|&(lo, hi)| (lo..=hi).contains(&code)))
}

/// Python's `repr()` of a string.
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            ' ' => out.push(' '),
            c if !is_py_printable(c) => {
                let code = c as u32;
                if code < 0x100 {
                    out.push_str(&format!("\\x{code:02x}"));
                } else if code < 0x10000 {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// An elapsed time as BuildStream's messages show it: `HH:MM:SS`.
pub fn hms(d: std::time::Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// Python's `textwrap.indent(text, prefix)`, each line ending with a newline: `prefix`
/// before every line that is not blank.
pub fn indent_nonblank(text: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if !line.trim().is_empty() {
            out.push_str(prefix);
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}
