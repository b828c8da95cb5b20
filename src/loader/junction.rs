//! Subprojects behind junctions whose sources must be fetched and staged first.
//!
//! A junction with a single `local` source names its subproject's directory directly. Any
//! other sources (a `tar` of the subproject, a `git` repository, a `local` tree and a
//! `patch`, ...) are fetched if missing and staged, as BuildStream does in
//! `Loader._load_junction`, into `<project>/.bst/staged-junctions/<junction>/<weak key>`,
//! which every later load reuses; bst and bst-rs share these directories.
//!
//! Invariants:
//! - A stage directory is complete or absent: sources are staged into a temporary directory
//!   beside it, renamed into place at the end, so an interrupted load never leaves a partial
//!   stage that a later load would take for complete.
//! - A junction's sources must all have refs: the key that names the stage depends on them.
//!
//! Fetching runs as BuildStream's fetch job does (its log, its terminal lines, `Try #N
//! failed, retrying` for temporary failures, `network-retries` times) through the
//! [`FetchJobs`] the command installed with [`set_fetch_jobs`]; without one, quietly.

use super::{ElementId, LoadContext};
use crate::element::ElementSource;
use crate::source::fetch::{self, FetchContext, FetchReport, SourceError};
use crate::yaml::{LoadError, LoadErrorReason, Result};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A fetch job as the command shows it (log file and terminal); see [`FetchJobs`].
pub trait FetchJob: FetchReport {
    /// The job ends: successfully, or with this error (`Try #N failed, retrying` when the
    /// job is to run again).
    fn end(self: Box<Self>, result: std::result::Result<(), &str>);
}

/// Starts fetch jobs for the loader.
pub trait FetchJobs: Send + Sync {
    /// Starts the fetch job of the junction `full_name` (element `name` of `project`), shown
    /// with its key `key`. An error (say, an unwritable log directory) fails the load.
    fn start(
        &self,
        project: &str,
        name: &str,
        full_name: &str,
        key: &str,
    ) -> std::result::Result<Box<dyn FetchJob>, String>;
}

static FETCH_JOBS: OnceLock<Box<dyn FetchJobs>> = OnceLock::new();

/// Installs how the loader's fetch jobs are shown (once per process; later calls are
/// ignored).
pub fn set_fetch_jobs(jobs: Box<dyn FetchJobs>) {
    let _ = FETCH_JOBS.set(jobs);
}

/// A job that shows nothing, for loads without a command's terminal (library use, tests).
struct QuietJob;

impl FetchReport for QuietJob {
    fn start(&mut self, _: &str) {}
    fn end(&mut self, _: bool) {}
    fn status(&mut self, _: &str) {}
}

impl FetchJob for QuietJob {
    fn end(self: Box<Self>, _: std::result::Result<(), &str>) {}
}

/// The directory of the subproject behind junction `eid` (loaded as `filename`; `prov_str`
/// is where it was referred to, for messages): its stage, fetched and staged unless done
/// by an earlier load.
pub(super) fn staged_sources(
    ctx: &mut LoadContext,
    eid: ElementId,
    filename: &str,
    prov_str: &str,
) -> Result<PathBuf> {
    let (element, key_tail) = crate::element::build_junction(ctx, eid)?;
    ctx.junction_redundant_refs
        .extend(element.warnings.redundant_refs.iter().cloned());
    if !element.sources_resolved() {
        return Err(LoadError::new(
            LoadErrorReason::SubprojectInconsistent,
            format!("{prov_str}Subproject has no ref for junction: {filename}"),
        )
        .with_detail(format!(
            "Try tracking the junction element with `bst source track {filename}`"
        )));
    }
    // Junctions have no dependencies, so the weak key is as good as the strong one here
    // (and the only one BuildStream can name the stage with in a non-strict build).
    let (weak, strict) = crate::cachekey::keys_without_dependencies(&key_tail);
    let project_dir = &ctx.projects[ctx.elements[eid].project].directory;
    let stage = project_dir
        .join(".bst/staged-junctions")
        .join(filename)
        .join(&weak);
    if stage.is_dir() {
        return Ok(stage);
    }
    let sources = &element.sources;
    let fail = |e: SourceError| {
        let mut err = LoadError::new(
            LoadErrorReason::InvalidJunction,
            format!(
                "{prov_str}Could not stage the sources of junction '{filename}': {}",
                e.message
            ),
        );
        if let Some(d) = e.detail {
            err = err.with_detail(d);
        }
        err
    };
    let fctx = FetchContext::from_user_config().map_err(fail)?;
    if sources.iter().any(|s| !s.fetcher.is_cached(&fctx)) {
        let el = &ctx.elements[eid];
        let project = &ctx.projects[el.project].name;
        fetch_job(&fctx, sources, project, &el.name, &el.full_name, &strict).map_err(fail)?;
    }
    stage_into(&fctx, sources, &stage).map_err(fail)?;
    Ok(stage)
}

/// BuildStream's fetch job for the junction: every source fetched unless cached; a
/// temporary failure runs the whole job again, `network-retries` times.
fn fetch_job(
    fctx: &FetchContext,
    sources: &[ElementSource],
    project: &str,
    name: &str,
    full_name: &str,
    key: &str,
) -> std::result::Result<(), SourceError> {
    let mut try_no = 1;
    loop {
        let mut job: Box<dyn FetchJob> = match FETCH_JOBS.get() {
            Some(jobs) => jobs
                .start(project, name, full_name, key)
                .map_err(SourceError::new)?,
            None => Box::new(QuietJob),
        };
        let result = sources
            .iter()
            .try_for_each(|s| s.fetcher.fetch_unless_cached(fctx, &mut *job));
        match result {
            Ok(()) => {
                job.end(Ok(()));
                return Ok(());
            }
            Err(e) if e.temporary && try_no <= fctx.network_retries => {
                job.end(Err(&format!("Try #{try_no} failed, retrying")));
                try_no += 1;
            }
            Err(e) => {
                job.end(Err(&e.message));
                return Err(e);
            }
        }
    }
}

/// Stages the sources into a temporary directory beside `stage`, then renames it into
/// place. Another load that staged the same junction meanwhile wins: its stage is the same.
fn stage_into(
    fctx: &FetchContext,
    sources: &[ElementSource],
    stage: &Path,
) -> std::result::Result<(), SourceError> {
    let parent = stage.parent().unwrap_or(stage);
    let io = |what: &str, path: &Path, e: std::io::Error| {
        SourceError::new(format!("{what} '{}': {e}", path.display()))
    };
    let tmp = fetch::util::TempDir::new_in(parent)
        .map_err(|e| io("Cannot create a directory in", parent, e))?;
    fetch::stage::stage_sources(
        fctx,
        sources.iter().map(|s| (&s.fetcher, s.directory.as_deref())),
        tmp.path(),
    )?;
    match std::fs::rename(tmp.path(), stage) {
        Ok(()) => Ok(()),
        Err(_) if stage.is_dir() => Ok(()),
        Err(e) => Err(io("Cannot move the staged sources to", stage, e)),
    }
}
