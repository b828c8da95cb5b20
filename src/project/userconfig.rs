//! The user configuration (`-c FILE`, else `$XDG_CONFIG_HOME/buildstream.conf`): the parts
//! that change what `show` computes. `build: max-jobs` feeds the `max-jobs` variable, and
//! `projects: <name>: options:` sets option values (after junction options, before the
//! command line), for every project of that name. The build reads `cachedir`, `logdir`,
//! `scheduler:` (builders, fetchers, on-error, network-retries) and `cache:` quota settings.

use crate::yaml::{load_file, Node, Provenance, Result};
use std::path::{Path, PathBuf};

/// What bst-rs reads from the user configuration.
#[derive(Clone, Debug)]
pub struct UserConfig {
    /// `build: max-jobs` when set and non-zero.
    pub max_jobs: Option<i64>,
    /// `projects:` mapping (project name -> overrides).
    pub projects: Node,
    /// `cachedir` (default `$XDG_CACHE_HOME/buildstream`).
    pub cachedir: PathBuf,
    /// `logdir` (default `<cachedir>/logs`).
    pub logdir: PathBuf,
    /// `scheduler: builders` (default 4).
    pub builders: usize,
    /// `scheduler: fetchers` (default 10).
    pub fetchers: usize,
    /// `scheduler: network-retries` (default 2).
    pub network_retries: usize,
    /// `scheduler: on-error` (default `quit`).
    pub on_error: String,
    /// `cache: quota` / `low-watermark` / `reserved-disk-space` as casd flags.
    pub casd_quota: Vec<String>,
}

fn xdg_cache() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"))
}

/// `~` and `${VAR}`/`$VAR` expansion, as BuildStream applies to configured paths.
fn expand_path(s: &str) -> PathBuf {
    let mut out = String::new();
    let s = match s.strip_prefix('~') {
        Some(rest) => {
            out.push_str(&std::env::var("HOME").unwrap_or_default());
            rest
        }
        None => s,
    };
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < b.len() {
        if b[i] == '$' {
            let (start, braced) = if b.get(i + 1) == Some(&'{') {
                (i + 2, true)
            } else {
                (i + 1, false)
            };
            let mut j = start;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == '_') {
                j += 1;
            }
            let name: String = b[start..j].iter().collect();
            if !name.is_empty() && (!braced || b.get(j) == Some(&'}')) {
                let value = match name.as_str() {
                    "XDG_CACHE_HOME" => xdg_cache().to_string_lossy().into_owned(),
                    _ => std::env::var(&name).unwrap_or_default(),
                };
                out.push_str(&value);
                i = if braced { j + 1 } else { j };
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    PathBuf::from(out)
}

impl Default for UserConfig {
    fn default() -> Self {
        let cachedir = xdg_cache().join("buildstream");
        UserConfig {
            max_jobs: None,
            projects: Node::empty_map(Provenance::synthetic()),
            logdir: cachedir.join("logs"),
            cachedir,
            builders: 4,
            fetchers: 10,
            network_retries: 2,
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
        let mut c = UserConfig {
            max_jobs,
            projects,
            ..UserConfig::default()
        };
        if let Some(dir) = node.get_str("cachedir")? {
            c.cachedir = expand_path(dir);
            c.logdir = c.cachedir.join("logs");
        }
        if let Some(dir) = node.get_str("logdir")? {
            c.logdir = expand_path(dir);
        }
        if let Some(s) = node.get_mapping("scheduler")? {
            let count = |key: &str, default: usize| -> Result<usize> {
                Ok(s.get_int(key)?.map_or(default, |n| n.max(0) as usize))
            };
            c.builders = count("builders", c.builders)?.max(1);
            c.fetchers = count("fetchers", c.fetchers)?.max(1);
            c.network_retries = count("network-retries", c.network_retries)?;
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

    /// `projects: <name>: options:` for a project, if any.
    pub fn project_options(&self, project: &str) -> Result<Option<&Node>> {
        match self.projects.get_mapping(project)? {
            Some(p) => p.get_mapping("options"),
            None => Ok(None),
        }
    }
}
