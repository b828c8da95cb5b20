//! Source URL translation: aliases, junction alias mapping and `mirrors:`, as BuildStream's
//! `Project.translate_url` and `Project.get_alias_uris` do it.
//!
//! A URL `alias:rest` whose `alias` is not a URI scheme is translated with the project's
//! `aliases:`; in a subproject, an alias that the junction maps (`aliases:` of the junction, or
//! `map-aliases: identity`) is translated by the parent project instead. When fetching, every
//! URI the alias has is tried in turn: mirrors first (the default mirror before the others),
//! then the alias's own URL, according to the user configuration's `fetch: source:` policy.

use crate::loader::LoadContext;
use crate::project::ProjectId;
use crate::yaml::{Node, Result};
use std::sync::Arc;

/// The URI schemes that are never aliases (`utils._URI_SCHEMES`).
const URI_SCHEMES: [&str; 7] = ["http", "https", "ftp", "file", "git", "sftp", "ssh"];

/// Which URIs are used to fetch (`fetch: source:` of the user configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SourceUriPolicy {
    /// Mirrors, then the aliases' own URLs.
    #[default]
    All,
    /// Only the aliases' own URLs.
    Aliases,
    /// Only mirrors.
    Mirrors,
    /// Only mirrors defined in the user configuration.
    User,
}

impl SourceUriPolicy {
    /// Parses a policy name as written in the user configuration.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "all" => Self::All,
            "aliases" => Self::Aliases,
            "mirrors" => Self::Mirrors,
            "user" => Self::User,
            _ => return None,
        })
    }
}

/// The alias of a URL (`source._extract_alias`): the part before the first `:` unless it is a
/// URI scheme.
pub fn extract_alias(url: &str) -> Option<&str> {
    let (alias, _) = url.split_once(':')?;
    (!URI_SCHEMES.contains(&alias.to_lowercase().as_str())).then_some(alias)
}

/// A `mirrors:` entry of kind `default`.
#[derive(Debug)]
struct Mirror {
    name: String,
    aliases: Vec<(String, Vec<String>)>,
}

/// How a subproject's aliases map to its parent's.
#[derive(Debug)]
struct JunctionLink {
    aliases: Vec<(String, String)>,
    identity: bool,
    parent: Arc<ProjectUrls>,
}

impl JunctionLink {
    fn parent_alias<'a>(&'a self, alias: &'a str) -> Option<&'a str> {
        match self.aliases.iter().find(|(a, _)| a == alias) {
            Some((_, p)) => Some(p),
            None if self.identity => Some(alias),
            None => None,
        }
    }
}

/// One project's URL translation table.
#[derive(Debug, Default)]
pub struct ProjectUrls {
    aliases: Vec<(String, String)>,
    mirrors: Vec<Mirror>,
    default_mirror: Option<String>,
    /// Mirrors come from the user configuration (`_mirror_override`).
    user_mirrors: bool,
    junction: Option<JunctionLink>,
}

fn string_pairs(node: &Node) -> Vec<(String, String)> {
    node.as_map()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.to_string(), v.as_str()?.to_owned())))
        .collect()
}

impl ProjectUrls {
    /// A table with aliases only (no mirrors, no junction).
    pub fn with_aliases(aliases: &[(&str, &str)]) -> Self {
        ProjectUrls {
            aliases: aliases
                .iter()
                .map(|(a, u)| (a.to_string(), u.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    /// Adds a default-kind mirror (later mirrors are tried after earlier ones; the first one
    /// is the default mirror unless one was named).
    pub fn add_mirror(&mut self, name: &str, aliases: &[(&str, &[&str])]) {
        if self.default_mirror.is_none() {
            self.default_mirror = Some(name.to_owned());
        }
        self.mirrors.push(Mirror {
            name: name.to_owned(),
            aliases: aliases
                .iter()
                .map(|(a, uris)| (a.to_string(), uris.iter().map(|u| u.to_string()).collect()))
                .collect(),
        });
    }

    /// Builds the table from a project's expanded `aliases:` and `mirrors:` nodes.
    fn from_nodes(
        aliases: &Node,
        mirrors: &Node,
        user_mirrors: bool,
        default_mirror: Option<String>,
    ) -> Result<Self> {
        let mut urls = ProjectUrls {
            aliases: string_pairs(aliases),
            user_mirrors,
            default_mirror,
            ..Default::default()
        };
        for m in mirrors.as_seq().unwrap_or(&[]) {
            let name = m.req_str("name")?.to_owned();
            // Mirror plugins other than the default one are not implemented: they offer no URI.
            let kind = m.get_str("kind")?.unwrap_or("default");
            let mut aliases = Vec::new();
            if kind == "default" {
                if let Some(a) = m.get_mapping("aliases")? {
                    for (alias, uris) in a.as_map().into_iter().flatten() {
                        aliases.push((alias.to_string(), uris.as_str_list()?));
                    }
                }
            }
            if urls.default_mirror.is_none() {
                urls.default_mirror = Some(name.clone());
            }
            urls.mirrors.push(Mirror { name, aliases });
        }
        Ok(urls)
    }

    fn alias_url(&self, alias: &str) -> Option<&str> {
        self.aliases
            .iter()
            .find(|(a, _)| a == alias)
            .map(|(_, u)| u.as_str())
    }

    /// `Project.translate_url`: the URL with its alias replaced.
    pub fn translate(&self, url: &str) -> String {
        if let Some((alias, body)) = url.split_once(':') {
            if let Some(alias_url) = self.alias_url(alias) {
                if let Some(j) = &self.junction {
                    if let Some(parent_alias) = j.parent_alias(alias) {
                        return j.parent.translate(&format!("{parent_alias}:{body}"));
                    }
                }
                return format!("{alias_url}{body}");
            }
        }
        url.to_owned()
    }

    /// `Project.get_alias_uris`: the URIs to try for an alias, in order; `None` means "the
    /// URL translated normally".
    fn alias_uris(&self, alias: &str, policy: SourceUriPolicy) -> Vec<Option<String>> {
        let Some(alias_url) = self.alias_url(alias) else {
            return vec![None];
        };
        if let Some(j) = &self.junction {
            if let Some(parent_alias) = j.parent_alias(alias) {
                return j.parent.alias_uris(parent_alias, policy);
            }
        }
        let mut uris: Vec<String> = Vec::new();
        let use_mirrors = match policy {
            SourceUriPolicy::All | SourceUriPolicy::Mirrors => true,
            SourceUriPolicy::User => self.user_mirrors,
            SourceUriPolicy::Aliases => false,
        };
        if use_mirrors {
            for m in &self.mirrors {
                let list: Vec<String> = m
                    .aliases
                    .iter()
                    .filter(|(a, _)| a == alias)
                    .flat_map(|(_, u)| u.iter().cloned())
                    .collect();
                if self.default_mirror.as_deref() == Some(m.name.as_str()) {
                    uris.splice(0..0, list);
                } else {
                    uris.extend(list);
                }
            }
        }
        if matches!(policy, SourceUriPolicy::All | SourceUriPolicy::Aliases) {
            uris.push(alias_url.to_owned());
        }
        uris.into_iter().map(Some).collect()
    }

    /// The concrete URLs to try, in order, when fetching `url` (the loop of
    /// `Source.__do_fetch`). Empty when the policy leaves no URI for the alias.
    pub fn candidates(&self, url: &str, policy: SourceUriPolicy) -> Vec<String> {
        let Some(alias) = extract_alias(url).filter(|a| self.alias_url(a).is_some()) else {
            return vec![self.translate(url)];
        };
        let body = &url[alias.len() + 1..];
        self.alias_uris(alias, policy)
            .into_iter()
            .map(|u| match u {
                Some(prefix) => format!("{prefix}{body}"),
                None => self.translate(url),
            })
            .collect()
    }
}

/// The URL table of project `pid` as seen from its first or second pass, built once.
pub fn project_urls(ctx: &LoadContext, pid: ProjectId, first_pass: bool) -> Arc<ProjectUrls> {
    let project = &ctx.projects[pid];
    let pass = match (&project.second_pass, first_pass) {
        (Some(full), false) => &full.pass,
        _ => &project.first_pass,
    };
    pass.urls
        .get_or_init(|| {
            // `--default-mirror` is the top-level project's only.
            let uc = crate::project::user_config();
            let from_command_line = uc.default_mirror.clone().filter(|_| pid == 0);
            let default_mirror = from_command_line.or_else(|| {
                uc.projects
                    .get_mapping(&project.name)
                    .ok()
                    .flatten()
                    .and_then(|p| {
                        p.get_str("default-mirror")
                            .ok()
                            .flatten()
                            .map(str::to_owned)
                    })
            });
            let mut urls = ProjectUrls::from_nodes(
                &pass.aliases,
                &pass.mirrors,
                pass.user_mirrors,
                default_mirror,
            )
            .unwrap_or_default();
            if let Some(j) = &project.junction {
                urls.junction = Some(JunctionLink {
                    aliases: string_pairs(&j.aliases),
                    identity: j.map_aliases_identity,
                    parent: project_urls(ctx, j.parent, first_pass),
                });
            }
            Arc::new(urls)
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_schemes() {
        assert_eq!(extract_alias("upstream:foo.tar"), Some("upstream"));
        assert_eq!(extract_alias("https://x/y"), None);
        assert_eq!(extract_alias("HTTP://x/y"), None);
        assert_eq!(extract_alias("no-colon"), None);
        let u = ProjectUrls::with_aliases(&[("up", "http://h/")]);
        assert_eq!(u.translate("up:a/b"), "http://h/a/b");
        assert_eq!(u.translate("other:a"), "other:a");
        assert_eq!(u.candidates("up:a", SourceUriPolicy::All), ["http://h/a"]);
    }

    #[test]
    fn mirrors_in_order() {
        let mut u = ProjectUrls::with_aliases(&[("up", "http://h/")]);
        u.add_mirror("one", &[("up", &["http://m1/", "http://m1b/"])]);
        u.add_mirror("two", &[("up", &["http://m2/"]), ("x", &["http://no/"])]);
        assert_eq!(
            u.candidates("up:a", SourceUriPolicy::All),
            ["http://m1/a", "http://m1b/a", "http://m2/a", "http://h/a"]
        );
        u.default_mirror = Some("two".into());
        assert_eq!(
            u.candidates("up:a", SourceUriPolicy::All),
            ["http://m2/a", "http://m1/a", "http://m1b/a", "http://h/a"]
        );
        assert_eq!(
            u.candidates("up:a", SourceUriPolicy::Aliases),
            ["http://h/a"]
        );
        assert_eq!(
            u.candidates("up:a", SourceUriPolicy::User),
            Vec::<String>::new()
        );
    }
}
