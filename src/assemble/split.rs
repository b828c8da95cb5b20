//! Split rules: an element's public `bst: split-rules` domains as BuildStream matches them.
//!
//! Each domain's globs become one regular expression (`utils._glob2re`: `*` stays inside a
//! path component, `**` crosses components, `?` is one non-`/` character, `[...]` classes),
//! matched against `/` + the artifact-relative path. A file belongs to every domain whose rules
//! match it; files of no domain are *orphans*. [`SplitRules::filter`] is
//! `Element.__split_filter_func`: no filter at all when orphans are wanted and no domain is
//! named; an empty `include` means every domain; domains the element does not declare are
//! ignored.

use crate::util::Glob;
use crate::yaml::Node;

/// One element's split domains, in declaration order.
pub struct SplitRules {
    domains: Vec<(String, fancy_regex::Regex)>,
}

impl SplitRules {
    /// The split rules of a public data mapping (`bst: split-rules:`); none when absent.
    pub fn from_public(public: &Node) -> Result<SplitRules, String> {
        let mut domains = Vec::new();
        let rules = public
            .get("bst")
            .and_then(|b| b.get("split-rules"))
            .and_then(|r| r.as_map());
        for (domain, globs) in rules.into_iter().flatten() {
            let globs = globs.as_str_list().map_err(|e| e.to_string())?;
            let alternatives: Vec<String> = globs.iter().map(|g| Glob::new(g).to_regex()).collect();
            let pattern = format!("(?ms)\\A(?:{})$", alternatives.join("|"));
            let re = fancy_regex::Regex::new(&pattern)
                .map_err(|e| format!("split rules of domain '{domain}': {e}"))?;
            domains.push((domain.to_string(), re));
        }
        Ok(SplitRules { domains })
    }

    /// Whether the element declares `domain`.
    pub fn has_domain(&self, domain: &str) -> bool {
        self.domains.iter().any(|(d, _)| d == domain)
    }

    /// The filter selecting `include`d and not `exclude`d domains (and orphans when asked);
    /// None when nothing is filtered out.
    pub fn filter(
        &self,
        include: &[String],
        exclude: &[String],
        orphans: bool,
    ) -> Option<Filter<'_>> {
        if orphans && include.is_empty() && exclude.is_empty() {
            return None;
        }
        let included = self
            .domains
            .iter()
            .map(|(d, _)| include.is_empty() || include.contains(d))
            .collect();
        let excluded = self
            .domains
            .iter()
            .map(|(d, _)| exclude.contains(d))
            .collect();
        Some(Filter {
            rules: self,
            included,
            excluded,
            orphans,
        })
    }
}

/// A split selection over one element's files.
pub struct Filter<'a> {
    rules: &'a SplitRules,
    included: Vec<bool>,
    excluded: Vec<bool>,
    orphans: bool,
}

impl Filter<'_> {
    /// Whether the artifact-relative `path` is selected.
    pub fn accepts(&self, path: &str) -> bool {
        let filename = format!("/{path}");
        let (mut include, mut exclude, mut claimed) = (false, false, false);
        for (i, (_, re)) in self.rules.domains.iter().enumerate() {
            if re.is_match(&filename).unwrap_or(false) {
                claimed = true;
                include |= self.included[i];
                exclude |= self.excluded[i];
            }
        }
        if self.orphans && !claimed {
            include = true;
        }
        include && !exclude
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(glob: &str, path: &str) -> bool {
        let re = fancy_regex::Regex::new(&format!("(?ms)\\A(?:{})$", Glob::new(glob).to_regex()))
            .unwrap();
        re.is_match(path).unwrap()
    }

    #[test]
    fn globs_match_as_buildstream_matches_them() {
        assert!(matches("/usr/lib/lib*.so*", "/usr/lib/libfoo.so.1"));
        assert!(!matches("/usr/lib/lib*.so*", "/usr/lib/x/libfoo.so"));
        assert!(matches("/usr/include/**", "/usr/include/a/b.h"));
        assert!(!matches("/usr/include/**", "/usr/include"));
        assert!(matches("/usr/?in", "/usr/bin"));
        assert!(matches("/a[!x]c", "/abc"));
        assert!(!matches("/a[!x]c", "/axc"));
        assert!(matches("/a[xb]c", "/abc"));
        assert!(matches("/a[b", "/a[b"));
        assert!(matches("/a.b+(c)", "/a.b+(c)"));
        assert!(!matches("/a.b", "/axb"));
    }

    /// The expression and the direct matcher of `util::Glob` accept the same paths.
    #[test]
    fn regex_and_matcher_agree() {
        let globs = [
            "/usr/lib/lib*.so*",
            "/usr/**",
            "**/*.h",
            "/a[!x]c",
            "/a[]b]c",
            "/a[b-d-]c",
            "/a[\\^&~]c",
            "/a[^b]c",
            "/a[b",
            "/x?y",
            "/a.b+(c)|d",
            "/[!/]*",
            "*",
        ];
        let paths = [
            "/usr/lib/libfoo.so.1",
            "/usr/lib/x/libfoo.so",
            "/usr",
            "/usr/",
            "/usr/a/b.h",
            "/abc",
            "/axc",
            "/a]c",
            "/a-c",
            "/adc",
            "/a^c",
            "/a&c",
            "/a~c",
            "/a\\c",
            "/a[b",
            "/x/y",
            "/xzy",
            "/a.b+(c)|d",
            "/a.b",
            "",
            "a",
            "/a\nb",
        ];
        for g in globs {
            let glob = Glob::new(g);
            for p in paths {
                assert_eq!(matches(g, p), glob.matches(p), "glob {g:?} path {p:?}");
            }
        }
    }
}
