//! Git sources, with the host `git`.
//!
//! **`git`** (buildstream-plugins `git.py`): a bare mirror per URL in
//! `<sourcedir>/git/<url_directory_name(url)>`, filled with
//! `git fetch --prune <url> +refs/heads/*:refs/heads/* +refs/tags/*:refs/tags/*` (or only the
//! tag, shallowly, for `<tag>-0-g<sha>` refs the remote advertises). Staging clones the mirror
//! (`--shared --no-checkout`), checks out the ref, removes `.git`, then does the same for each
//! submodule (listed by the ref's `.gitmodules`, at the commit the ref's tree records, URLs
//! overridable with `submodules:`, skipped by `checkout-submodules`/`checkout: false`),
//! recursively. With `tags:`, a minimal `.git` is rebuilt holding the tagged history (commit
//! objects only, shallow) so that `git describe` works, exactly as the plugin does.
//!
//! **`git_repo`** (buildstream-plugins-community, which uses dulwich): a bare mirror in
//! `<sourcedir>/git_repo/<url_directory_name(url without .git)>.git` receiving exactly the
//! wanted commit (`git fetch <url> <sha>`, `--depth n+1` for `<tag>-<n>-g<sha>` refs, plus the
//! tag). Staging writes a real `.git`: HEAD on `master` at the commit, the tag, and the
//! commits from the tag to the ref with their trees (shallow, without file blobs, as the
//! plugin's `collect_objects(trees_only=True)`), then checks the tree out.

use super::util::{host_tool, remove_all, run, url_directory_name, Output, TempDir};
use super::{
    activity, try_each_uri, FetchContext, FetchReport, Fetchable, ProjectUrls, SourceError,
};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

/// A `git` command with the environment variables that would redirect it removed.
fn git_cmd(git: &Path) -> Command {
    let mut c = Command::new(git);
    for v in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_NAMESPACE",
    ] {
        c.env_remove(v);
    }
    c.env("GIT_TERMINAL_PROMPT", "0");
    c
}

/// Runs git in `cwd`; `Ok(output)` whatever the exit code.
fn git_in(git: &Path, cwd: &Path, args: &[&str]) -> Result<Output, SourceError> {
    run(git_cmd(git).current_dir(cwd).args(args))
}

/// Runs git in `cwd`, failing with `fail` (BuildStream's `call(..., fail=...)` message).
fn git_ok(git: &Path, cwd: &Path, args: &[&str], fail: &str) -> Result<Output, SourceError> {
    let out = git_in(git, cwd, args)?;
    if out.code != 0 {
        return Err(SourceError::new(fail.to_owned()).with_detail(out.stderr.trim_end().to_owned()));
    }
    Ok(out)
}

/// One lock per mirror directory, so that concurrent fetches of one repository take turns.
fn mirror_lock(dir: &Path) -> Arc<Mutex<()>> {
    static LOCKS: std::sync::OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> =
        std::sync::OnceLock::new();
    let locks = LOCKS.get_or_init(Default::default);
    let mut map = locks.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(dir.to_path_buf()).or_default().clone()
}

/// A git commit ref `<tag>-0-g<commit>` (`EXACT_TAG_PATTERN`, greedy).
fn exact_tag(r: &str) -> Option<(&str, &str)> {
    let i = r.rfind("-0-g")?;
    Some((&r[..i], &r[i + 4..]))
}

// ---------------------------------------------------------------------------------------
// buildstream-plugins `git`

/// `GitMirror`: one repository (the source's, or a submodule's) and the ref to stage.
#[derive(Clone, Debug)]
struct GitMirror {
    url: String,
    /// Staging path relative to the source's directory ("" for the main repository).
    path: String,
    r#ref: Option<String>,
    tags: Vec<(String, String, bool)>,
}

/// The `git` source.
pub struct GitFetcher {
    display: String,
    urls: Arc<ProjectUrls>,
    primary: GitMirror,
    checkout_submodules: bool,
    submodule_overrides: Vec<(String, Option<String>)>,
    submodule_checkout: Vec<(String, bool)>,
}

impl GitFetcher {
    /// A `git` source (configuration already validated by [`crate::source::GitSource`]).
    pub fn new(
        config: &crate::yaml::Node,
        urls: Arc<ProjectUrls>,
        display: &str,
    ) -> crate::yaml::Result<Self> {
        let mut tags = Vec::new();
        if let Some(seq) = config.get_sequence("tags")? {
            for t in seq.as_seq().unwrap_or(&[]) {
                tags.push((
                    t.req_str("tag")?.to_owned(),
                    t.req_str("commit")?.to_owned(),
                    t.get_bool("annotated", false)?,
                ));
            }
        }
        let mut submodule_overrides = Vec::new();
        let mut submodule_checkout = Vec::new();
        if let Some(modules) = config.get_mapping("submodules")? {
            for (path, sub) in modules.as_map().into_iter().flatten() {
                submodule_overrides
                    .push((path.to_string(), sub.get_str("url")?.map(str::to_owned)));
                if sub.get("checkout").is_some() {
                    submodule_checkout.push((path.to_string(), sub.get_bool("checkout", false)?));
                }
            }
        }
        Ok(GitFetcher {
            display: display.to_owned(),
            urls,
            primary: GitMirror {
                url: config.req_str("url")?.to_owned(),
                path: String::new(),
                r#ref: config.get_str("ref")?.map(str::to_owned),
                tags,
            },
            checkout_submodules: config.get_bool("checkout-submodules", true)?,
            submodule_overrides,
            submodule_checkout,
        })
    }

    fn ignoring(&self, path: &str) -> bool {
        let checkout = self
            .submodule_checkout
            .iter()
            .find(|(p, _)| p == path)
            .map_or(self.checkout_submodules, |(_, c)| *c);
        !checkout
    }

    /// `_configure_submodules` of one mirror's submodules.
    fn configured_submodules(
        &self,
        ctx: &FetchContext,
        git: &Path,
        m: &GitMirror,
    ) -> Result<Vec<GitMirror>, SourceError> {
        let mut out = Vec::new();
        for mut sub in m.submodule_mirrors(ctx, git, &self.display)? {
            if self.ignoring(&sub.path) {
                continue;
            }
            if let Some((_, Some(url))) = self
                .submodule_overrides
                .iter()
                .find(|(p, _)| *p == sub.path)
            {
                sub.url = url.clone();
            }
            out.push(sub);
        }
        Ok(out)
    }

    /// `_recurse_submodules(configure=True)`: submodules, depth first, descending only into
    /// those whose commit is in their mirror.
    fn all_submodules(
        &self,
        ctx: &FetchContext,
        git: &Path,
    ) -> Result<Vec<GitMirror>, SourceError> {
        let mut out = Vec::new();
        let mut stack = vec![self.primary.clone()];
        while let Some(m) = stack.pop() {
            let subs = self.configured_submodules(ctx, git, &m)?;
            for sub in subs.into_iter().rev() {
                if sub.has_ref(ctx, git) {
                    stack.push(sub.clone());
                }
                out.push(sub);
            }
        }
        Ok(out)
    }

    /// Fetches one repository (the source's or a submodule's) as the activity `Fetching
    /// from <url>`.
    fn fetch_one(
        &self,
        ctx: &FetchContext,
        git: &Path,
        m: &GitMirror,
        report: &mut dyn FetchReport,
    ) -> Result<(), SourceError> {
        let dir = m.mirror(ctx);
        let lock = mirror_lock(&dir);
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        try_each_uri(ctx, &self.urls, &m.url, |url| {
            activity(report, &format!("Fetching from {url}"), |_| {
                if !m.has_ref(ctx, git) {
                    m.fetch_from(ctx, git, url, &self.display)?;
                }
                if !m.has_ref(ctx, git) {
                    return Err(SourceError::new(format!(
                        "{}: expected ref '{}' was not found in git repository: '{}'",
                        self.display,
                        m.r#ref.as_deref().unwrap_or(""),
                        m.url
                    )));
                }
                Ok(())
            })
        })
    }

    fn fetch_recursive(
        &self,
        ctx: &FetchContext,
        git: &Path,
        m: &GitMirror,
        report: &mut dyn FetchReport,
    ) -> Result<(), SourceError> {
        for sub in self.configured_submodules(ctx, git, m)? {
            self.fetch_one(ctx, git, &sub, report)?;
            if sub.has_ref(ctx, git) {
                self.fetch_recursive(ctx, git, &sub, report)?;
            }
        }
        Ok(())
    }
}

impl GitMirror {
    fn mirror(&self, ctx: &FetchContext) -> PathBuf {
        ctx.mirror_directory("git")
            .join(url_directory_name(&self.url))
    }

    fn has_ref(&self, ctx: &FetchContext, git: &Path) -> bool {
        let Some(r) = &self.r#ref else { return false };
        let dir = self.mirror(ctx);
        dir.exists() && git_in(git, &dir, &["cat-file", "-t", r]).is_ok_and(|o| o.code == 0)
    }

    /// `_ensure_repo`: a bare repository, created aside and moved into place.
    fn ensure_repo(
        &self,
        ctx: &FetchContext,
        git: &Path,
        display: &str,
    ) -> Result<(), SourceError> {
        let dir = self.mirror(ctx);
        if dir.exists() {
            return Ok(());
        }
        let parent = ctx.mirror_directory("git");
        let tmp = TempDir::new_in(&parent).map_err(|e| SourceError::new(e.to_string()))?;
        let repo = tmp.path().join("repo");
        git_ok(
            git,
            tmp.path(),
            &["init", "--bare", "--quiet", &repo.to_string_lossy()],
            "Failed to initialise repository",
        )?;
        if let Err(e) = std::fs::rename(&repo, &dir) {
            if !dir.exists() {
                return Err(SourceError::new(format!(
                    "{display}: Failed to move created repository from '{}' to '{}': {e}",
                    repo.display(),
                    dir.display()
                )));
            }
        }
        Ok(())
    }

    /// `GitMirror._fetch`.
    fn fetch_from(
        &self,
        ctx: &FetchContext,
        git: &Path,
        url: &str,
        display: &str,
    ) -> Result<(), SourceError> {
        self.ensure_repo(ctx, git, display)?;
        let dir = self.mirror(ctx);
        let mut fetch_all = true;
        if let Some((tag, commit)) = self.r#ref.as_deref().and_then(exact_tag) {
            let out = git_ok(
                git,
                &dir,
                &["ls-remote", url],
                &format!("Failed to list advertised remote refs from git repository {url}"),
            )?;
            let line = format!("{commit}\trefs/tags/{tag}");
            let advertised = out
                .stdout
                .lines()
                .any(|l| l == line || l == format!("{line}^{{}}"));
            if advertised {
                let spec = format!("+refs/tags/{tag}:refs/tags/{tag}");
                let r = git_in(git, &dir, &["fetch", "--depth=1", url, &spec])?;
                fetch_all = r.code != 0;
            }
        }
        if fetch_all {
            git_ok(
                git,
                &dir,
                &[
                    "fetch",
                    "--prune",
                    url,
                    "+refs/heads/*:refs/heads/*",
                    "+refs/tags/*:refs/tags/*",
                ],
                &format!("{display}: Failed to fetch from remote git repository: {url}"),
            )
            .map_err(SourceError::temporary)?;
        }
        Ok(())
    }

    /// Submodules of the ref: `(path, url)` from `.gitmodules`, with the recorded commit.
    fn submodule_mirrors(
        &self,
        ctx: &FetchContext,
        git: &Path,
        display: &str,
    ) -> Result<Vec<GitMirror>, SourceError> {
        let Some(r) = &self.r#ref else {
            return Ok(Vec::new());
        };
        let dir = self.mirror(ctx);
        let out = git_in(git, &dir, &["show", &format!("{r}:.gitmodules")])?;
        if out.code == 128 {
            return Ok(Vec::new());
        }
        if out.code != 0 {
            return Err(SourceError::new(format!(
                "{display}: Failed to show gitmodules at ref {r}"
            )));
        }
        let mut mirrors = Vec::new();
        for (path, url) in parse_gitmodules(&out.stdout) {
            let ls = git_ok(
                git,
                &dir,
                &["ls-tree", r, &path],
                &format!("{display}: ls-tree failed for commit {r} and submodule: {path}"),
            )?;
            let fields: Vec<&str> = ls.stdout.split_whitespace().collect();
            if fields.len() >= 3 && fields[1] == "commit" {
                if fields[2].len() != 40 {
                    return Err(SourceError::new(format!(
                        "{display}: Error reading commit information for submodule '{path}'"
                    )));
                }
                let full = if self.path.is_empty() {
                    path.clone()
                } else {
                    format!("{}/{path}", self.path)
                };
                mirrors.push(GitMirror {
                    url,
                    path: full,
                    r#ref: Some(fields[2].to_owned()),
                    tags: Vec::new(),
                });
            } else {
                eprintln!(
                    "WARNING [inconsistent-submodule]: {display}: Ignoring inconsistent submodule '{path}'"
                );
            }
        }
        Ok(mirrors)
    }

    fn stage(&self, ctx: &FetchContext, git: &Path, dir: &Path) -> Result<(), SourceError> {
        let r = self.r#ref.as_deref().unwrap_or_default();
        let full = if self.path.is_empty() {
            dir.to_path_buf()
        } else {
            dir.join(&self.path)
        };
        let mirror = self.mirror(ctx);
        let (m, f) = (mirror.to_string_lossy(), full.to_string_lossy());
        git_ok(
            git,
            dir,
            &["clone", "--quiet", "--no-checkout", "--shared", &m, &f],
            &format!("Failed to create git mirror {m} in directory: {f}"),
        )
        .map_err(SourceError::temporary)?;
        git_ok(
            git,
            &full,
            &["checkout", "--quiet", "--force", r],
            &format!("Failed to checkout git ref {r}"),
        )?;
        remove_all(&full.join(".git")).map_err(|e| SourceError::new(e.to_string()))?;
        self.rebuild_git(git, &mirror, &full)
    }

    /// `_rebuild_git`: a minimal repository with the tagged history, for `git describe`.
    fn rebuild_git(&self, git: &Path, mirror: &Path, full: &Path) -> Result<(), SourceError> {
        if self.tags.is_empty() {
            return Ok(());
        }
        let r = self.r#ref.as_deref().unwrap_or_default();
        let mut included: BTreeSet<String> = BTreeSet::new();
        let mut shallow: BTreeSet<String> = BTreeSet::new();
        for (_, commit, _) in &self.tags {
            if commit == r {
                shallow.insert(r.to_owned());
                continue;
            }
            let out = git_ok(
                git,
                mirror,
                &[
                    "rev-list",
                    "--ancestry-path",
                    "--boundary",
                    &format!("{commit}..{r}"),
                ],
                &format!(
                    "Failed to get git history {commit}..{r} in directory: {}",
                    full.display()
                ),
            )
            .map_err(SourceError::temporary)?;
            for line in out.stdout.lines().filter(|l| !l.is_empty()) {
                let rev = line.trim_start_matches('-').to_owned();
                if line.starts_with('-') {
                    shallow.insert(rev);
                } else {
                    included.insert(rev);
                }
            }
        }
        shallow.retain(|s| !included.contains(s));
        included.extend(shallow.iter().cloned());
        git_ok(
            git,
            full,
            &["init", "--quiet"],
            &format!("Cannot initialize git repository: {}", full.display()),
        )?;
        for rev in &included {
            let data = git_cmd(git)
                .current_dir(mirror)
                .args(["cat-file", "commit", rev])
                .output()
                .map_err(|e| SourceError::new(e.to_string()))?;
            if !data.status.success() {
                return Err(SourceError::new(format!("Failed to get commit {rev}")));
            }
            hash_object(git, full, "commit", &data.stdout)
                .map_err(|_| SourceError::new(format!("Failed to add commit object {rev}")))?;
        }
        let shallow_text: String = shallow.iter().map(|s| format!("{s}\n")).collect();
        std::fs::write(full.join(".git/shallow"), shallow_text)
            .map_err(|e| SourceError::new(e.to_string()))?;
        for (tag, commit, annotated) in &self.tags {
            let target = if *annotated {
                let data = format!(
                    "object {commit}\ntype commit\ntag {tag}\ntagger Unspecified Tagger <unspecified-tagger> 0 +0000\n"
                );
                hash_object(git, full, "tag", data.as_bytes())
                    .map_err(|_| SourceError::new(format!("Failed to add tag object {tag}")))?
            } else {
                commit.clone()
            };
            git_ok(
                git,
                full,
                &["tag", tag, &target],
                &format!("Failed to tag: {tag}"),
            )?;
        }
        let head = git_ok(
            git,
            mirror,
            &["rev-parse", r],
            &format!("Failed to parse commit {r}"),
        )?;
        std::fs::write(full.join(".git/HEAD"), head.stdout)
            .map_err(|e| SourceError::new(e.to_string()))
    }
}

/// `git hash-object -w -t <kind> --stdin` in `repo`; returns the object name.
fn hash_object(git: &Path, repo: &Path, kind: &str, data: &[u8]) -> Result<String, SourceError> {
    use std::io::Write;
    let mut child = git_cmd(git)
        .current_dir(repo)
        .args(["hash-object", "-w", "-t", kind, "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| SourceError::new(e.to_string()))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(data)
        .map_err(|e| SourceError::new(e.to_string()))?;
    let out = child
        .wait_with_output()
        .map_err(|e| SourceError::new(e.to_string()))?;
    if !out.status.success() {
        return Err(SourceError::new(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `.gitmodules` read as `RawConfigParser` does (stripped lines): `(path, url)` of each
/// `[submodule "..."]` section.
fn parse_gitmodules(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut section: Option<(bool, Option<String>, Option<String>)> = None;
    let mut flush = |s: &mut Option<(bool, Option<String>, Option<String>)>| {
        if let Some((true, Some(p), Some(u))) = s.take() {
            out.push((p, u));
        }
    };
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            flush(&mut section);
            let name = &line[1..line.len() - 1];
            let is_submodule = name.starts_with("submodule \"") && name.ends_with('"');
            section = Some((is_submodule, None, None));
            continue;
        }
        let Some((k, v)) = line.split_once(['=', ':']) else {
            continue;
        };
        if let Some(s) = section.as_mut() {
            match k.trim().to_lowercase().as_str() {
                "path" => s.1 = Some(v.trim().to_owned()),
                "url" => s.2 = Some(v.trim().to_owned()),
                _ => {}
            }
        }
    }
    flush(&mut section);
    out
}

impl Fetchable for GitFetcher {
    fn is_cached(&self, ctx: &FetchContext) -> bool {
        let Ok(git) = host_tool("git") else {
            return false;
        };
        self.primary.has_ref(ctx, &git)
            && self
                .all_submodules(ctx, &git)
                .is_ok_and(|subs| subs.iter().all(|s| s.has_ref(ctx, &git)))
    }

    fn fetch(&self, ctx: &FetchContext, report: &mut dyn FetchReport) -> Result<(), SourceError> {
        let git = host_tool("git")?;
        self.fetch_one(ctx, &git, &self.primary, report)?;
        self.fetch_recursive(ctx, &git, &self.primary, report)
    }

    fn stage(
        &self,
        ctx: &FetchContext,
        dir: &Path,
        report: &mut dyn FetchReport,
    ) -> Result<(), SourceError> {
        let git = host_tool("git")?;
        let wrap = |e: SourceError| {
            if e.message.starts_with(&self.display) {
                e
            } else {
                SourceError {
                    message: format!("{}: {}", self.display, e.message),
                    ..e
                }
            }
        };
        // The plugin stages the repository and its submodules in one activity, named by the
        // URL as written.
        let text = format!("Staging {}", self.primary.url);
        activity(report, &text, |_| {
            self.primary.stage(ctx, &git, dir).map_err(wrap)?;
            for sub in self.all_submodules(ctx, &git)? {
                sub.stage(ctx, &git, dir).map_err(wrap)?;
            }
            Ok(())
        })
    }
}

// ---------------------------------------------------------------------------------------
// buildstream-plugins-community `git_repo`

/// `REF_REGEX` (`(?:(.*)(?:-(\d+)-g))?([0-9a-f]{40})`, anchored at the start):
/// `(tag, commits since tag, sha)`.
pub fn split_ref(r: &str) -> Option<(Option<&str>, Option<u64>, &str)> {
    let is_sha = |s: &str| {
        s.len() >= 40
            && s.as_bytes()[..40]
                .iter()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    // The optional group is tried first, with the greediest `(.*)`.
    let b = r.as_bytes();
    for i in (0..b.len()).rev() {
        if !r.is_char_boundary(i) || !is_sha(&r[i..]) || !r[..i].ends_with("-g") {
            continue;
        }
        let head = &r[..i - 2];
        let digits = head.bytes().rev().take_while(u8::is_ascii_digit).count();
        if digits == 0 || !head[..head.len() - digits].ends_with('-') {
            continue;
        }
        let tag = &head[..head.len() - digits - 1];
        let n = head[head.len() - digits..].parse().ok()?;
        return Some((Some(tag), Some(n), &r[i..i + 40]));
    }
    is_sha(r).then(|| (None, None, &r[..40]))
}

/// The `git_repo` source.
pub struct GitRepoFetcher {
    display: String,
    urls: Arc<ProjectUrls>,
    url: String,
    r#ref: Option<String>,
    tracking: bool,
}

impl GitRepoFetcher {
    /// A `git_repo` source (configuration already validated).
    pub fn new(
        config: &crate::yaml::Node,
        urls: Arc<ProjectUrls>,
        display: &str,
    ) -> crate::yaml::Result<Self> {
        Ok(GitRepoFetcher {
            display: display.to_owned(),
            urls,
            url: config.req_str("url")?.to_owned(),
            r#ref: config.get_str("ref")?.map(str::to_owned),
            tracking: config.get_str("track")?.is_some(),
        })
    }

    fn mirror(&self, ctx: &FetchContext) -> PathBuf {
        let norm = self.url.strip_suffix(".git").unwrap_or(&self.url);
        ctx.mirror_directory("git_repo")
            .join(format!("{}.git", url_directory_name(norm)))
    }

    fn parts(&self) -> Result<(Option<String>, Option<u64>, String), SourceError> {
        let r = self.r#ref.as_deref().unwrap_or_default();
        let (tag, depth, sha) = split_ref(r)
            .ok_or_else(|| SourceError::new(format!("ref {r} is not in the expected format")))?;
        Ok((tag.map(str::to_owned), depth, sha.to_owned()))
    }

    fn cached_in(git: &Path, dir: &Path, sha: &str, tag: Option<&str>) -> bool {
        if !dir.join("HEAD").exists() && !dir.join("objects").is_dir() {
            return false;
        }
        let has = |args: &[&str]| git_in(git, dir, args).is_ok_and(|o| o.code == 0);
        has(&["cat-file", "-e", sha])
            && tag.is_none_or(|t| {
                has(&[
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("refs/tags/{t}"),
                ])
            })
    }

    fn fetch_from(&self, git: &Path, dir: &Path, url: &str) -> Result<(), SourceError> {
        let (tag, depth, sha) = self.parts()?;
        let mut tag_target = None;
        if let Some(t) = &tag {
            let tagref = format!("refs/tags/{t}");
            let out = git_in(git, dir, &["ls-remote", url, &tagref])?;
            if out.code != 0 {
                return Err(SourceError::new(format!(
                    "failed to fetch: {}",
                    out.stderr.trim()
                )));
            }
            tag_target = out
                .stdout
                .lines()
                .filter_map(|l| l.split_once('\t'))
                .find(|(_, r)| *r == tagref)
                .map(|(oid, _)| oid.to_owned());
            if tag_target.is_none() {
                return Err(SourceError::new(format!(
                    "ref {tagref} not found in remote {url}"
                )));
            }
        }
        let depth_arg = depth.map(|n| format!("--depth={}", n + 1));
        let mut args: Vec<&str> = vec!["-c", "gc.auto=0", "fetch", "--quiet", "--no-tags"];
        if let Some(d) = &depth_arg {
            args.push(d);
        }
        args.push(url);
        args.push(&sha);
        let tagspec = tag.as_ref().map(|t| format!("refs/tags/{t}"));
        if let Some(t) = &tagspec {
            args.push(t);
        }
        let first = git_in(git, dir, &args)?;
        let has_sha =
            |git: &Path| git_in(git, dir, &["cat-file", "-e", &sha]).is_ok_and(|o| o.code == 0);
        if first.code != 0 || !has_sha(git) {
            // The server refused the commit: fetch what it advertises (tracked refs first, as
            // the plugin does, then everything).
            let mut attempts: Vec<Vec<&str>> = Vec::new();
            if self.tracking {
                attempts.push(vec![
                    "-c",
                    "gc.auto=0",
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    url,
                    "refs/heads/*",
                    "refs/tags/*",
                ]);
            }
            attempts.push(vec![
                "-c",
                "gc.auto=0",
                "fetch",
                "--quiet",
                "--no-tags",
                url,
                "refs/*",
            ]);
            let mut last = first;
            for a in attempts {
                if has_sha(git) {
                    break;
                }
                last = git_in(git, dir, &a)?;
            }
            if !has_sha(git) && last.code != 0 {
                return Err(SourceError::new(format!(
                    "failed to fetch: {}",
                    last.stderr.trim()
                )));
            }
        }
        if !has_sha(git) {
            return Err(SourceError::new(format!("{sha} not found in remote {url}")));
        }
        if let (Some(t), Some(oid)) = (&tag, &tag_target) {
            // add_if_new: an existing tag is left alone.
            let _ = git_in(
                git,
                dir,
                &["update-ref", &format!("refs/tags/{t}"), oid, ""],
            )?;
        }
        Ok(())
    }
}

impl Fetchable for GitRepoFetcher {
    fn is_cached(&self, ctx: &FetchContext) -> bool {
        let (Ok(git), Ok((tag, _, sha))) = (host_tool("git"), self.parts()) else {
            return false;
        };
        Self::cached_in(&git, &self.mirror(ctx), &sha, tag.as_deref())
    }

    fn fetch(&self, ctx: &FetchContext, report: &mut dyn FetchReport) -> Result<(), SourceError> {
        let git = host_tool("git")?;
        let (tag, _, sha) = self.parts()?;
        let dir = self.mirror(ctx);
        let lock = mirror_lock(&dir);
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| SourceError::new(e.to_string()))?;
            git_ok(
                git.as_path(),
                &dir,
                &["init", "--bare", "--quiet", "."],
                "Failed to initialise repository",
            )?;
        }
        if Self::cached_in(&git, &dir, &sha, tag.as_deref()) {
            return Ok(());
        }
        // The plugin's activity, with the commit it asks for as a status message.
        try_each_uri(ctx, &self.urls, &self.url, |url| {
            activity(report, &format!("Fetching from {url}"), |report| {
                report.status(&format!("Fetching {sha}"));
                self.fetch_from(&git, &dir, url)
            })
        })
    }

    fn stage(
        &self,
        ctx: &FetchContext,
        dir: &Path,
        report: &mut dyn FetchReport,
    ) -> Result<(), SourceError> {
        let git = host_tool("git")?;
        let (tag, _, sha) = self.parts()?;
        report.status(&format!("Checking out {sha}"));
        let mirror = self.mirror(ctx);
        let fail = |what: &str| SourceError::new(format!("{}: {what}", self.display));
        let rev = |args: &[&str]| -> Result<String, SourceError> {
            Ok(git_ok(
                &git,
                &mirror,
                args,
                &format!("{}: git {} failed", self.display, args.join(" ")),
            )?
            .stdout
            .trim()
            .to_owned())
        };
        // The tag's chain of tag objects and the commit it points to (the history base).
        let mut refs: Vec<(String, String)> = Vec::new();
        let mut tag_objects: Vec<String> = Vec::new();
        let mut base = sha.clone();
        if let Some(t) = &tag {
            let tagref = format!("refs/tags/{t}");
            let target = rev(&["rev-parse", "--verify", &tagref])?;
            refs.push((tagref, target.clone()));
            let mut obj = target;
            while rev(&["cat-file", "-t", &obj])? == "tag" {
                tag_objects.push(obj.clone());
                let body = rev(&["cat-file", "tag", &obj])?;
                obj = body
                    .lines()
                    .next()
                    .and_then(|l| l.strip_prefix("object "))
                    .unwrap_or_default()
                    .to_owned();
            }
            base = rev(&["rev-parse", &format!("{obj}^{{commit}}")])?;
        }
        // Commits from the base to the ref, and their trees (and symbolic link targets).
        let mut commits: Vec<String> = Vec::new();
        let mut parents_of: HashMap<String, Vec<String>> = HashMap::new();
        if base == sha {
            commits.push(sha.clone());
        } else {
            let base_parents: Vec<String> = rev(&["rev-list", "--parents", "-n", "1", &base])?
                .split_whitespace()
                .skip(1)
                .map(str::to_owned)
                .collect();
            let mut args = vec!["rev-list".to_owned(), "--parents".to_owned(), sha.clone()];
            if !base_parents.is_empty() {
                args.push("--not".to_owned());
                args.extend(base_parents);
            }
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            for line in rev(&argv)?.lines() {
                let mut it = line.split_whitespace().map(str::to_owned);
                if let Some(c) = it.next() {
                    parents_of.insert(c.clone(), it.collect());
                    commits.push(c);
                }
            }
        }
        if parents_of.is_empty() {
            for c in &commits {
                let line = rev(&["rev-list", "--parents", "-n", "1", c])?;
                parents_of.insert(
                    c.clone(),
                    line.split_whitespace().skip(1).map(str::to_owned).collect(),
                );
            }
        }
        let mut objects: Vec<String> = Vec::new();
        let mut argv = vec![
            "rev-list",
            "--objects",
            "--no-object-names",
            "--filter=blob:none",
            "--no-walk",
        ];
        argv.extend(commits.iter().map(String::as_str));
        objects.extend(rev(&argv)?.lines().map(str::to_owned));
        for line in rev(&["ls-tree", "-r", &sha])?.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 3 && f[0] == "120000" {
                objects.push(f[2].to_owned());
            }
        }
        objects.extend(tag_objects.iter().cloned());
        let commit_set: BTreeSet<&String> = commits.iter().collect();
        let shallow: Vec<&String> = commits
            .iter()
            .filter(|c| {
                parents_of
                    .get(*c)
                    .is_some_and(|ps| ps.iter().any(|p| !commit_set.contains(p)))
            })
            .collect();

        // The repository.
        let d = dir.to_string_lossy();
        git_ok(
            &git,
            dir,
            &["init", "--quiet", "--template=", &d],
            &format!("{}: git init failed", self.display),
        )?;
        let pack = {
            let mut child = git_cmd(&git)
                .current_dir(&mirror)
                .args(["pack-objects", "--stdout", "-q"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| SourceError::new(e.to_string()))?;
            let mut stdin = child.stdin.take().expect("piped");
            let list: String = objects.iter().map(|o| format!("{o}\n")).collect();
            let writer = std::thread::spawn(move || {
                use std::io::Write;
                stdin.write_all(list.as_bytes())
            });
            let out = child
                .wait_with_output()
                .map_err(|e| SourceError::new(e.to_string()))?;
            let _ = writer.join();
            if !out.status.success() {
                return Err(fail(&format!(
                    "git pack-objects failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            out.stdout
        };
        {
            use std::io::Write;
            let mut child = git_cmd(&git)
                .current_dir(dir)
                .args(["unpack-objects", "-q"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| SourceError::new(e.to_string()))?;
            child
                .stdin
                .take()
                .expect("piped")
                .write_all(&pack)
                .map_err(|e| SourceError::new(e.to_string()))?;
            let out = child
                .wait_with_output()
                .map_err(|e| SourceError::new(e.to_string()))?;
            if !out.status.success() {
                return Err(fail(&format!(
                    "git unpack-objects failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
        let mut shallow_text: Vec<&str> = shallow.iter().map(|s| s.as_str()).collect();
        shallow_text.sort();
        if !shallow_text.is_empty() {
            let text: String = shallow_text.iter().map(|s| format!("{s}\n")).collect();
            std::fs::write(dir.join(".git/shallow"), text)
                .map_err(|e| SourceError::new(e.to_string()))?;
        }
        git_ok(
            &git,
            dir,
            &["symbolic-ref", "HEAD", "refs/heads/master"],
            &format!("{}: git symbolic-ref failed", self.display),
        )?;
        let mut all_refs = vec![("refs/heads/master".to_owned(), sha.clone())];
        all_refs.extend(refs);
        for (name, target) in &all_refs {
            git_ok(
                &git,
                dir,
                &["update-ref", name, target],
                &format!("{}: git update-ref {name} failed", self.display),
            )?;
        }
        // The work tree, with blobs read from the mirror.
        let alternates = mirror.join("objects");
        let out = run(git_cmd(&git)
            .current_dir(dir)
            .env("GIT_ALTERNATE_OBJECT_DIRECTORIES", &alternates)
            .args(["read-tree", "--reset", "-u", "HEAD"]))?;
        if out.code != 0 {
            return Err(fail(&format!(
                "Failed to check out {sha}: {}",
                out.stderr.trim()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(split_ref(sha), Some((None, None, sha)));
        let d = format!("v1.0-rc-3-g{sha}");
        assert_eq!(split_ref(&d), Some((Some("v1.0-rc"), Some(3), sha)));
        assert_eq!(split_ref("v1.0"), None);
        assert_eq!(exact_tag(&format!("v1-0-g{sha}")), Some(("v1", sha)));
    }

    #[test]
    fn gitmodules() {
        let text = "[submodule \"a\"]\n\tpath = lib/a\n\turl = https://x/a.git\n[core]\n\tpath = no\n[submodule \"b\"]\n path=b\n url=../b\n";
        assert_eq!(
            parse_gitmodules(text),
            [
                ("lib/a".to_owned(), "https://x/a.git".to_owned()),
                ("b".to_owned(), "../b".to_owned())
            ]
        );
    }
}
