//! The user configuration (`-c FILE`, else `$XDG_CONFIG_HOME/buildstream.conf`): the parts
//! that change what `show` computes. `build: max-jobs` feeds the `max-jobs` variable, and
//! `projects: <name>: options:` sets option values (after junction options, before the
//! command line), for every project of that name. For fetching: `cachedir`, `sourcedir`,
//! `scheduler: network-retries` and `fetch: source:` (`projects: <name>: mirrors:` and
//! `default-mirror:` are read by the project and source layers). For building: `logdir`,
//! `scheduler:` (builders, fetchers, on-error) and `cache:` quota settings.

use crate::yaml::{load_file, Node, Provenance, Result};
use std::path::{Path, PathBuf};

/// What bst-rs reads from the user configuration.
#[derive(Clone, Debug)]
pub struct UserConfig {
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
    /// `cache: quota` / `low-watermark` / `reserved-disk-space` as casd flags.
    pub casd_quota: Vec<String>,
}

impl Default for UserConfig {
    fn default() -> Self {
        UserConfig {
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
            casd_quota: Vec::new(),
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
        if let Some(cache) = node.get_mapping("cache")? {
            for (key, flag) in [
                ("quota", "--quota-high"),
                ("low-watermark", "--quota-low"),
                ("reserved-disk-space", "--reserved"),
            ] {
                if let Some(v) = cache.get_str(key)? {
                    if v != "infinity" {
                        c.casd_quota.push(format!("{flag}={v}"));
                    }
                }
            }
        }
        Ok(c)
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

    /// The log directory: `logdir:` or `<cachedir>/logs`.
    pub fn logdir(&self) -> PathBuf {
        match &self.logdir {
            Some(p) => expand_path(p),
            None => self.cachedir().join("logs"),
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
    PathBuf::from(crate::loader::normpath(&out))
}
