//! Fetching and staging sources, sharing BuildStream's source directory.
//!
//! Every configured source gets a [`SourceFetcher`] (a [`Fetchable`] behind an `Arc`) built
//! by [`make_fetcher`] from its composed configuration. Fetchers are synchronous and do
//! blocking I/O (the scheduler runs them on blocking threads); they keep what they need:
//! original and translated URLs (through the project's [`urls::ProjectUrls`]), refs, paths.
//!
//! Downloads live where BuildStream keeps them, so both tools share one cache
//! (`<sourcedir>` is `~/.cache/buildstream/sources` by default):
//!
//! | kind                  | mirror                                                          |
//! |-----------------------|-----------------------------------------------------------------|
//! | `remote`, `tar`, `zip`| `<sourcedir>/<kind>/<url_directory_name(url)>/<sha256>`         |
//! | `git`                 | `<sourcedir>/git/<url_directory_name(url)>` (bare repository)   |
//! | `git_repo`            | `<sourcedir>/git_repo/<url_directory_name(url - ".git")>.git`   |
//!
//! `url` is the URL as written, alias included, so a mirror or alias change does not move
//! the cache. Fetching tries each URI of the URL's alias in BuildStream's order (mirrors, then
//! the alias); a failure says whether it is temporary (network trouble), and the scheduler
//! then runs the whole fetch job again, `network-retries` times, as BuildStream does. While
//! fetching, a fetcher reports what BuildStream's source plugins report to the job's log and
//! the terminal through a [`FetchReport`]: the timed activities of each download or
//! repository (`Fetching <url>`, `Fetching from <url>`), status messages, and what they report while staging
//! (`Staging remote file to <path>`, `Staging <url>`, `Applying local patch: <path>`, ...),
//! which a fetch job shows as it stores each source in the source cache. Staging an
//! element's sources in order, each in its `directory:`, with BuildStream's merge rules, is
//! [`stage::stage_sources`].

pub mod archive;
mod download;
mod git;
mod kinds;
pub mod stage;
pub mod urls;
pub mod util;

use crate::yaml::{LoadError, Node};
use std::path::{Path, PathBuf};
use std::sync::Arc;
pub use urls::{ProjectUrls, SourceUriPolicy};

/// A failure to fetch or stage a source.
#[derive(Clone, Debug)]
pub struct SourceError {
    /// The message, as BuildStream words it (usually starting with the source's description,
    /// `<kind> source at <file> [line L column C]`).
    pub message: String,
    /// More lines (command output, lists).
    pub detail: Option<String>,
    /// Retrying may help (network failures).
    pub temporary: bool,
    /// Full name of the element the source belongs to, once known.
    pub element: Option<String>,
    /// Index of the source in the element's `sources:`, once known.
    pub index: Option<usize>,
}

impl SourceError {
    /// A permanent error.
    pub fn new(message: impl Into<String>) -> Self {
        SourceError {
            message: message.into(),
            detail: None,
            temporary: false,
            element: None,
            index: None,
        }
    }

    /// Marks the error as temporary.
    pub fn temporary(mut self) -> Self {
        self.temporary = true;
        self
    }

    /// Adds detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Records which source of which element failed (kept if already set).
    pub fn in_source(mut self, element: &str, index: usize) -> Self {
        if self.element.is_none() {
            self.element = Some(element.to_owned());
            self.index = Some(index);
        }
        self
    }
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SourceError {}

/// What fetching and staging need from the invocation: where mirrors live and how to fetch.
#[derive(Clone, Debug)]
pub struct FetchContext {
    /// BuildStream's source directory (`sourcedir`).
    pub sourcedir: PathBuf,
    /// How many times a temporarily failing fetch job is run again (by the scheduler).
    pub network_retries: u32,
    /// Which URIs of an alias are used.
    pub policy: SourceUriPolicy,
}

impl FetchContext {
    /// A context with BuildStream's defaults around a source directory.
    pub fn new(sourcedir: impl Into<PathBuf>) -> Self {
        FetchContext {
            sourcedir: sourcedir.into(),
            network_retries: 2,
            policy: SourceUriPolicy::All,
        }
    }

    /// The context the user configuration describes (see
    /// [`crate::project::userconfig::UserConfig`]).
    pub fn from_user_config() -> Result<Self, SourceError> {
        let c = crate::project::user_config();
        let policy = match c.fetch_source.as_deref() {
            None => SourceUriPolicy::All,
            Some(s) => SourceUriPolicy::parse(s).ok_or_else(|| {
                SourceError::new(format!(
                    "Value of 'source' should be one of 'all, aliases, mirrors, user', not '{s}'"
                ))
            })?,
        };
        Ok(FetchContext {
            sourcedir: c.sourcedir(),
            network_retries: c.network_retries,
            policy,
        })
    }

    /// `Source.get_mirror_directory()`: `<sourcedir>/<kind>`.
    pub fn mirror_directory(&self, kind: &str) -> PathBuf {
        self.sourcedir.join(kind)
    }
}

/// A configured source that can be fetched into the source directory and staged.
pub trait Fetchable: Send + Sync {
    /// Is everything needed to stage present locally? (`Source.is_cached()`)
    fn is_cached(&self, ctx: &FetchContext) -> bool;
    /// Fetches into the source directory (one attempt over all mirrors; temporary failures
    /// are retried by running the fetch job again), reporting its activities to `report`.
    fn fetch(&self, ctx: &FetchContext, report: &mut dyn FetchReport) -> Result<(), SourceError>;
    /// Stages into `dir`: an empty directory, or for sources that work on the previous ones
    /// ([`Fetchable::requires_previous_sources`]) the directory holding them, reporting the
    /// activities BuildStream's plugin reports while staging (`Staging remote file to ...`,
    /// `Staging <url>`, `Applying local patch: ...`) to `report`.
    fn stage(
        &self,
        ctx: &FetchContext,
        dir: &Path,
        report: &mut dyn FetchReport,
    ) -> Result<(), SourceError>;
    /// BuildStream's `BST_REQUIRES_PREVIOUS_SOURCES_STAGE` (e.g. `patch`).
    fn requires_previous_sources(&self) -> bool {
        false
    }
}

/// A shared [`Fetchable`].
#[derive(Clone)]
pub struct SourceFetcher(pub Arc<dyn Fetchable>);

impl std::fmt::Debug for SourceFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceFetcher")
    }
}

impl std::ops::Deref for SourceFetcher {
    type Target = dyn Fetchable;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

/// Where a fetch reports what BuildStream's source plugins report while fetching (to the
/// job's log and the terminal).
pub trait FetchReport {
    /// A timed activity starts (`timed_activity`).
    fn start(&mut self, text: &str);
    /// The activity started last ends: `SUCCESS` if `ok`, else `FAILURE`.
    fn end(&mut self, ok: bool);
    /// A `STATUS` message.
    fn status(&mut self, text: &str);
}

/// A [`FetchReport`] that drops everything: for staging outside a fetch job, where
/// BuildStream stages from its source cache and no plugin reports anything.
pub struct Quiet;

impl FetchReport for Quiet {
    fn start(&mut self, _: &str) {}
    fn end(&mut self, _: bool) {}
    fn status(&mut self, _: &str) {}
}

/// Runs `f` as the timed activity `text` of `report`: it ends in `FAILURE` if `f` fails.
pub(crate) fn activity<T>(
    report: &mut dyn FetchReport,
    text: &str,
    f: impl FnOnce(&mut dyn FetchReport) -> Result<T, SourceError>,
) -> Result<T, SourceError> {
    report.start(text);
    let r = f(report);
    report.end(r.is_ok());
    r
}

impl SourceFetcher {
    /// Fetches unless cached (one try: see [`FetchContext::network_retries`]).
    pub fn fetch_unless_cached(
        &self,
        ctx: &FetchContext,
        report: &mut dyn FetchReport,
    ) -> Result<(), SourceError> {
        if self.is_cached(ctx) {
            return Ok(());
        }
        self.fetch(ctx, report)
    }
}

/// What [`make_fetcher`] needs to know about a source.
pub struct FetcherInput<'a> {
    /// Source kind.
    pub kind: &'a str,
    /// Composed, expanded configuration (as given to the kind's `configure`).
    pub config: &'a Node,
    /// The owning project's directory.
    pub project_dir: &'a Path,
    /// The owning project's URL translation table.
    pub urls: Arc<ProjectUrls>,
    /// `<kind> source at <provenance>`, for messages.
    pub display: &'a str,
}

/// Builds the fetcher of a source whose configuration its kind already validated. Kinds that
/// bst-rs cannot fetch yet get a fetcher that says so when used.
pub fn make_fetcher(input: &FetcherInput) -> Result<SourceFetcher, LoadError> {
    kinds::make(input)
}

/// Runs `attempt` on each URL to try for `url` (mirrors, then the alias), stopping at the
/// first success; the last error is returned when all fail (`Source.__do_fetch`).
pub(crate) fn try_each_uri<T>(
    ctx: &FetchContext,
    urls: &ProjectUrls,
    url: &str,
    mut attempt: impl FnMut(&str) -> Result<T, SourceError>,
) -> Result<T, SourceError> {
    let candidates = urls.candidates(url, ctx.policy);
    let mut last = None;
    for c in &candidates {
        match attempt(c) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        SourceError::new(format!(
            "No URI to fetch {url} from with the '{:?}' fetch source policy",
            ctx.policy
        ))
    }))
}
