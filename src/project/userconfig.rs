//! The user configuration (`-c FILE`, else `$XDG_CONFIG_HOME/buildstream.conf`): the parts
//! that change what `show` computes. `build: max-jobs` feeds the `max-jobs` variable, and
//! `projects: <name>: options:` sets option values (after junction options, before the
//! command line), for every project of that name. For fetching: `cachedir`, `sourcedir`,
//! `scheduler: network-retries` and `fetch: source:` (`projects: <name>: mirrors:` and
//! `default-mirror:` are read by the project and source layers). For building: `logdir`,
//! `scheduler:` (builders, fetchers, on-error) and `cache:` quota settings. For the
//! terminal: `logging: error-lines` and `message-lines`. The command line's global options
//! (`--max-jobs`, `--network-retries`, `--error-lines`, `--message-lines`,
//! `--default-mirror`, ...) override these fields once loaded, as in `bst`.

use crate::yaml::{load_file, LoadError, LoadErrorReason, Node, Provenance, Result};
use std::path::{Path, PathBuf};

/// What bst-rs reads from the user configuration.
#[derive(Clone, Debug)]
pub struct UserConfig {
    /// The file it was read from (None: BuildStream's defaults).
    pub origin: Option<PathBuf>,
    /// `build: max-jobs` when set and non-zero.
    pub max_jobs: Option<i64>,
    /// `projects:` mapping (project name -> overrides).
    pub projects: Node,
    /// `cachedir:` as written (expanded by [`UserConfig::cachedir`]).
    pub cachedir: Option<String>,
    /// `sourcedir:` as written (expanded by [`UserConfig::sourcedir`]).
    pub sourcedir: Option<String>,
    /// `scheduler: network-retries` (BuildStream's default: 2).
    pub network_retries: u32,
    /// `fetch: source:` (`all`, `aliases`, `mirrors` or `user`; default `all`).
    pub fetch_source: Option<String>,
    /// `logdir:` as written (expanded by [`UserConfig::logdir`]).
    pub logdir: Option<String>,
    /// `scheduler: builders` (default 4).
    pub builders: usize,
    /// `scheduler: fetchers` (default 10).
    pub fetchers: usize,
    /// `scheduler: on-error` (default `quit`).
    pub on_error: String,
    /// `cache:` quota settings as written (validated by [`UserConfig::load`]).
    pub cache: CacheLimits,
    /// `logging: error-lines`: how many lines of a failed job's log are shown (default 20).
    pub error_lines: usize,
    /// `logging: message-lines`: how many lines of an element message's detail are shown
    /// (default 20).
    pub message_lines: usize,
    /// `--default-mirror`: the top-level project's preferred mirror, over `projects: <name>:
    /// default-mirror`.
    pub default_mirror: Option<String>,
}

/// `cache: quota`, `reserved-disk-space` and `low-watermark` as written (BuildStream's
/// defaults: `infinity`, `5%`, `80%`); turned into casd flags by [`UserConfig::casd_quota`].
#[derive(Clone, Debug)]
pub struct CacheLimits {
    /// `quota`: a size, a percentage of the cache volume, or `infinity`.
    pub quota: String,
    /// `reserved-disk-space`: a size or a percentage of the cache volume.
    pub reserved: String,
    /// `low-watermark`: a percentage of the quota.
    pub low_watermark: String,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            quota: "infinity".into(),
            reserved: "5%".into(),
            low_watermark: "80%".into(),
        }
    }
}

/// A data size as BuildStream (and systemd) write it: `[0-9]+(.[0-9]*)?` then one of
/// `K M G T %` or nothing. Sizes in bytes are `Ok(Size::Bytes)`; `infinity` is `None`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Size {
    Bytes(u64),
    Percent(f64),
}

fn parse_size(text: &str) -> std::result::Result<Option<Size>, String> {
    if text == "infinity" {
        return Ok(None);
    }
    let invalid = || format!("{text} is not a valid data size.");
    let (num, unit) = match text.char_indices().last() {
        Some((i, c)) if "KMGT%".contains(c) => (&text[..i], Some(c)),
        _ => (text, None),
    };
    let digits = num.split_once('.').map_or(num, |(int, _)| int);
    let well_formed = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && num[digits.len()..]
            .strip_prefix('.')
            .is_none_or(|frac| frac.bytes().all(|b| b.is_ascii_digit()));
    if !well_formed {
        return Err(invalid());
    }
    if unit == Some('%') {
        let value: f64 = num.parse().map_err(|_| invalid())?;
        if value > 100.0 {
            return Err(format!("{value}% is not a valid percentage value."));
        }
        return Ok(Some(Size::Percent(value)));
    }
    if digits.len() != num.len() {
        // BuildStream takes `int()` of the number here, which fails on a fraction.
        return Err(invalid());
    }
    let shift = match unit {
        None => 0,
        Some('K') => 10,
        Some('M') => 20,
        Some('G') => 30,
        _ => 40,
    };
    let n: u64 = digits.parse().map_err(|_| invalid())?;
    n.checked_mul(1 << shift)
        .map(|b| Some(Size::Bytes(b)))
        .ok_or_else(invalid)
}

fn parse_percentage(text: &str) -> std::result::Result<f64, String> {
    let value: f64 = text
        .strip_suffix('%')
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("{text} is not a valid percentage."))?;
    if !(0.0..=100.0).contains(&value) {
        return Err(format!("{text} is not between 0% and 100%."));
    }
    Ok(value / 100.0)
}

/// The total size in bytes of the volume holding `path` (or its first existing ancestor).
fn volume_size(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let mut p = path;
    while !p.exists() {
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    let c = std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.f_blocks as u64 * st.f_frsize as u64)
}

impl Default for UserConfig {
    fn default() -> Self {
        UserConfig {
            origin: None,
            max_jobs: None,
            projects: Node::empty_map(Provenance::synthetic()),
            cachedir: None,
            sourcedir: None,
            network_retries: 2,
            fetch_source: None,
            logdir: None,
            builders: 4,
            fetchers: 10,
            on_error: "quit".into(),
            cache: CacheLimits::default(),
            error_lines: 20,
            message_lines: 20,
            default_mirror: None,
        }
    }
}

fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    let p = base.join("buildstream.conf");
    p.is_file().then_some(p)
}

impl UserConfig {
    /// Loads `path`, or the default user configuration file if there is one.
    pub fn load(path: Option<&Path>) -> Result<UserConfig> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => match default_path() {
                Some(p) => p,
                None => return Ok(UserConfig::default()),
            },
        };
        let display = path.to_string_lossy().into_owned();
        let node = load_file(&path, &display)?;
        let max_jobs = match node.get_mapping("build")? {
            Some(b) => b.get_int("max-jobs")?.filter(|&n| n != 0),
            None => None,
        };
        let projects = node
            .get_mapping("projects")?
            .cloned()
            .unwrap_or_else(|| Node::empty_map(Provenance::synthetic()));
        let network_retries = match node.get_mapping("scheduler")? {
            Some(s) => s.get_int("network-retries")?.unwrap_or(2).max(0) as u32,
            None => 2,
        };
        let fetch_source = match node.get_mapping("fetch")? {
            Some(f) => f.get_str("source")?.map(str::to_owned),
            None => None,
        };
        let mut c = UserConfig {
            origin: Some(path.clone()),
            max_jobs,
            projects,
            cachedir: node.get_str("cachedir")?.map(str::to_owned),
            sourcedir: node.get_str("sourcedir")?.map(str::to_owned),
            network_retries,
            fetch_source,
            logdir: node.get_str("logdir")?.map(str::to_owned),
            ..UserConfig::default()
        };
        if let Some(s) = node.get_mapping("scheduler")? {
            let count = |key: &str, default: usize| -> Result<usize> {
                Ok(s.get_int(key)?.map_or(default, |n| n.max(1) as usize))
            };
            c.builders = count("builders", c.builders)?;
            c.fetchers = count("fetchers", c.fetchers)?;
            if let Some(e) = s.get_str("on-error")? {
                c.on_error = e.to_owned();
            }
        }
        if let Some(logging) = node.get_mapping("logging")? {
            let lines = |key: &str, default: usize| -> Result<usize> {
                Ok(logging.get_int(key)?.map_or(default, |n| n.max(0) as usize))
            };
            c.error_lines = lines("error-lines", c.error_lines)?;
            c.message_lines = lines("message-lines", c.message_lines)?;
        }
        if let Some(cache) = node.get_mapping("cache")? {
            let invalid = |key: &str, message: String, examples: &str| {
                let at = cache
                    .get(key)
                    .map(|n| format!("{}: ", n.prov))
                    .unwrap_or_default();
                LoadError::new(
                    LoadErrorReason::InvalidData,
                    format!("{at}{message}\nPlease specify the value {examples}\n"),
                )
            };
            let sizes = "in bytes or as a % of full disk space.\n\nValid values are, for example:";
            if let Some(v) = cache.get_str("quota")? {
                parse_size(v)
                    .map_err(|m| invalid("quota", m, &format!("{sizes} 800M 10G 1T 50%")))?;
                c.cache.quota = v.to_owned();
            }
            if let Some(v) = cache.get_str("reserved-disk-space")? {
                match parse_size(v) {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        return Err(invalid(
                            "reserved-disk-space",
                            format!("{v} is not a valid data size."),
                            &format!("{sizes} 2G 5%"),
                        ))
                    }
                    Err(m) => {
                        return Err(invalid("reserved-disk-space", m, &format!("{sizes} 2G 5%")))
                    }
                }
                c.cache.reserved = v.to_owned();
            }
            if let Some(v) = cache.get_str("low-watermark")? {
                parse_percentage(v)
                    .map_err(|m| invalid("low-watermark", m, "as a % of the cache quota."))?;
                c.cache.low_watermark = v.to_owned();
            }
        }
        Ok(c)
    }

    /// casd's `--quota-high`, `--quota-low` and `--reserved` flags for the `cache:` settings,
    /// as BuildStream passes them: sizes in bytes (percentages of the volume holding the
    /// cache), the low watermark as a whole percentage.
    pub fn casd_quota(&self) -> std::io::Result<Vec<String>> {
        let cas = self.cachedir().join("cas");
        let bytes = |size: Size| -> std::io::Result<u64> {
            Ok(match size {
                Size::Bytes(b) => b,
                Size::Percent(p) => (volume_size(&cas)? as f64 * (p / 100.0)) as u64,
            })
        };
        let mut flags = Vec::new();
        if let Ok(Some(q)) = parse_size(&self.cache.quota) {
            flags.push(format!("--quota-high={}", bytes(q)?));
        }
        if let Ok(low) = parse_percentage(&self.cache.low_watermark) {
            flags.push(format!("--quota-low={}%", (low * 100.0) as u64));
        }
        if let Ok(Some(r)) = parse_size(&self.cache.reserved) {
            flags.push(format!("--reserved={}", bytes(r)?));
        }
        Ok(flags)
    }

    /// `$XDG_CACHE_HOME` (default `~/.cache`).
    fn xdg_cache_home() -> PathBuf {
        match std::env::var_os("XDG_CACHE_HOME") {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => home_dir().join(".cache"),
        }
    }

    /// The cache directory: `cachedir:` or `$XDG_CACHE_HOME/buildstream`.
    pub fn cachedir(&self) -> PathBuf {
        match &self.cachedir {
            Some(p) => expand_path(p),
            None => Self::xdg_cache_home().join("buildstream"),
        }
    }

    /// The log directory: `logdir:` or `$XDG_CACHE_HOME/buildstream/logs` (not under
    /// `cachedir:`, as in BuildStream's defaults).
    pub fn logdir(&self) -> PathBuf {
        match &self.logdir {
            Some(p) => expand_path(p),
            None => Self::xdg_cache_home().join("buildstream").join("logs"),
        }
    }

    /// The source mirror directory: `sourcedir:` or `$XDG_CACHE_HOME/buildstream/sources`
    /// (independent of `cachedir:`, as in BuildStream's defaults).
    pub fn sourcedir(&self) -> PathBuf {
        match &self.sourcedir {
            Some(p) => expand_path(p),
            None => Self::xdg_cache_home().join("buildstream").join("sources"),
        }
    }

    /// `projects: <name>: strict:` for a project (default: strict).
    pub fn project_strict(&self, project: &str) -> Result<bool> {
        match self.projects.get_mapping(project)? {
            Some(p) => p.get_bool("strict", true),
            None => Ok(true),
        }
    }

    /// Whether some project is configured `strict: false`.
    pub fn any_project_non_strict(&self) -> bool {
        self.projects.as_map().is_some_and(|m| {
            m.iter().any(|(name, _)| {
                self.project_strict(name.as_ref())
                    .is_ok_and(|strict| !strict)
            })
        })
    }

    /// `projects: <name>: options:` for a project, if any.
    pub fn project_options(&self, project: &str) -> Result<Option<&Node>> {
        match self.projects.get_mapping(project)? {
            Some(p) => p.get_mapping("options"),
            None => Ok(None),
        }
    }
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// `os.path.normpath(os.path.expandvars(os.path.expanduser(p)))` for configured directories
/// (`$XDG_CACHE_HOME` defaults to `~/.cache` as BuildStream sets it before expanding).
fn expand_path(p: &str) -> PathBuf {
    let p = if p == "~" {
        home_dir().to_string_lossy().into_owned()
    } else if let Some(rest) = p.strip_prefix("~/") {
        format!("{}/{rest}", home_dir().display())
    } else {
        p.to_owned()
    };
    let mut out = String::new();
    let mut rest = p.as_str();
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, tail) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], &inner[end + 1..]),
                None => ("", after),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        let value = if name == "XDG_CACHE_HOME" {
            Some(UserConfig::xdg_cache_home().to_string_lossy().into_owned())
        } else {
            std::env::var(name).ok()
        };
        match value {
            Some(v) => out.push_str(&v),
            // Unknown variables are left as written.
            None => out.push_str(&rest[i..rest.len() - tail.len()]),
        }
        rest = tail;
    }
    out.push_str(rest);
    PathBuf::from(crate::loader::normpath(&out).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_buildstream_parses_them() {
        assert_eq!(parse_size("infinity"), Ok(None));
        assert_eq!(parse_size("800"), Ok(Some(Size::Bytes(800))));
        assert_eq!(parse_size("2K"), Ok(Some(Size::Bytes(2048))));
        assert_eq!(parse_size("10G"), Ok(Some(Size::Bytes(10 << 30))));
        assert_eq!(parse_size("1T"), Ok(Some(Size::Bytes(1 << 40))));
        assert_eq!(parse_size("50%"), Ok(Some(Size::Percent(50.0))));
        assert_eq!(parse_size("2.5%"), Ok(Some(Size::Percent(2.5))));
        for bad in [
            "", "G", "10X", "-1G", "1.5G", "7.", "10 G", "%", ".5%", "1e3",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse_size("150%"),
            Err("150% is not a valid percentage value.".into())
        );
    }

    #[test]
    fn percentages_parse_as_buildstream_parses_them() {
        assert_eq!(parse_percentage("80%"), Ok(0.8));
        assert_eq!(parse_percentage("0%"), Ok(0.0));
        assert!(parse_percentage("80").is_err());
        assert_eq!(
            parse_percentage("101%"),
            Err("101% is not between 0% and 100%.".into())
        );
    }

    #[test]
    fn default_limits_become_casd_flags_like_bst() {
        let c = UserConfig {
            cachedir: Some("/".into()),
            ..UserConfig::default()
        };
        let flags = c.casd_quota().unwrap();
        assert_eq!(flags.len(), 2, "{flags:?}");
        assert_eq!(flags[0], "--quota-low=80%");
        let reserved: u64 = flags[1]
            .strip_prefix("--reserved=")
            .unwrap()
            .parse()
            .unwrap();
        let total = volume_size(Path::new("/")).unwrap();
        assert_eq!(reserved, (total as f64 * 0.05) as u64);

        let c = UserConfig {
            cachedir: Some("/".into()),
            cache: CacheLimits {
                quota: "10G".into(),
                reserved: "1G".into(),
                low_watermark: "50%".into(),
            },
            ..UserConfig::default()
        };
        assert_eq!(
            c.casd_quota().unwrap(),
            [
                "--quota-high=10737418240",
                "--quota-low=50%",
                "--reserved=1073741824"
            ]
        );
    }
}
