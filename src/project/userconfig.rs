//! The user configuration (`-c FILE`, else `$XDG_CONFIG_HOME/buildstream.conf`): the parts
//! that change what `show` computes. `build: max-jobs` feeds the `max-jobs` variable, and
//! `projects: <name>: options:` sets option values (after junction options, before the
//! command line), for every project of that name.

use crate::yaml::{load_file, Node, Provenance, Result};
use std::path::{Path, PathBuf};

/// What bst-rs reads from the user configuration.
#[derive(Clone, Debug)]
pub struct UserConfig {
    /// `build: max-jobs` when set and non-zero.
    pub max_jobs: Option<i64>,
    /// `projects:` mapping (project name -> overrides).
    pub projects: Node,
}

impl Default for UserConfig {
    fn default() -> Self {
        UserConfig {
            max_jobs: None,
            projects: Node::empty_map(Provenance::synthetic()),
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
        Ok(UserConfig { max_jobs, projects })
    }

    /// `projects: <name>: options:` for a project, if any.
    pub fn project_options(&self, project: &str) -> Result<Option<&Node>> {
        match self.projects.get_mapping(project)? {
            Some(p) => p.get_mapping("options"),
            None => Ok(None),
        }
    }
}
