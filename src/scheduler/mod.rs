//! The build session: a single coordinator that owns the plan, the queues and the terminal.
//!
//! Like BuildStream's scheduler, elements flow through queues, Fetch -> Prime -> Build (a
//! fetch session has the Fetch queue only); Fetch and Build have a resource limit
//! (`--fetchers`, `--builders`) and hand out work by priority: the deepest build
//! dependencies first (BuildStream's planner depth), ties in plan order; running build jobs
//! share the CPUs by critical path ([`critical`]). Jobs are tokio tasks
//! (no thread or process per queued element) that report back over a channel; only the
//! coordinator changes state or prints.
//!
//! Prime is where speculative actions will prime the action cache between fetching and
//! building. It has no work yet: every element on its way to Build passes through it and is
//! skipped there by the coordinator itself (no job, task or process), so it shows in the
//! status area and in the pipeline summary as BuildStream shows a queue whose elements
//! need nothing (`Prime Queue: processed 0, skipped N, failed 0`).
//!
//! Invariants: an element is built only once all its build-scope dependencies are cached;
//! artifacts are cached by the job before it reports success, refs last (see
//! [`crate::artifact`]); after an interrupt nothing new starts and running jobs are killed, so
//! nothing half-built is ever cached.

mod critical;
pub mod state;
mod status;

pub use status::{
    emit, emit_raw, format_values, info, main_echo, set_main_log, warning, warning_line, Activity,
};

use crate::artifact::{ArtifactCache, NewArtifact};
use crate::assemble::{assemble, BuildEnv, Echo, Log};
use crate::cas::proto::reapi::Digest;
use crate::cas::Cas;
use crate::element::kinds::Assembly;
use crate::graph::{Pipeline, Scope};
use crate::loader::ElementId;
use crate::sandbox::Runner;
use crate::source::fetch::FetchReport;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
pub use status::Status;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What to do when a job fails (`--on-error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// Keep building what does not depend on the failure.
    Continue,
    /// Start nothing new; let running jobs finish.
    Quit,
    /// Kill running jobs and stop.
    Terminate,
}

/// Session settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Concurrent build jobs.
    pub builders: usize,
    /// Concurrent fetch jobs.
    pub fetchers: usize,
    /// Failure policy.
    pub on_error: OnError,
    /// Per-element logs go under this directory.
    pub logdir: PathBuf,
    /// Scratch directory.
    pub tmpdir: PathBuf,
    /// Draw the status area (a terminal, not `--no-interactive`).
    pub interactive: bool,
    /// Rebuild elements whose cached artifact is a failure.
    pub retry_failed: bool,
    /// Where sources are fetched to and how.
    pub fetch: crate::source::fetch::FetchContext,
    /// Strict mode (`--no-strict` turns it off).
    pub strict: bool,
    /// BuildStream's session heading, printed with the pipeline's states once the cache
    /// is queried (None: no heading).
    pub heading: Option<String>,
    /// A fetch session (`source fetch`): the targets' sources are fetched and stored in the
    /// source cache, nothing is built.
    pub fetch_only: bool,
}

/// What build jobs need from outside: casd (a CAS connection and the sandbox runner),
/// started only when the first job needs it, and whether it is still alive.
#[allow(async_fn_in_trait)]
pub trait Services {
    /// Starts casd (called at most once per session).
    async fn start(&mut self) -> Result<(Cas, Runner), String>;
    /// `Some(why)` once casd has died.
    fn died(&mut self) -> Option<String>;
}

/// Counts for one queue, as the pipeline summary prints them.
#[derive(Default, Debug, Clone)]
pub struct QueueCounts {
    /// Jobs run.
    pub processed: usize,
    /// Elements the queue skipped.
    pub skipped: usize,
    /// Failed elements.
    pub failed: Vec<String>,
}

/// What a session did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Elements in the plan.
    pub total: usize,
    /// Elements the session had to process.
    pub session: usize,
    /// Fetch, Prime, Build (Fetch only in a fetch session).
    pub queues: Vec<(&'static str, QueueCounts)>,
    /// What was shown for each failed element (the failure line and its log's end).
    pub failures: Vec<(String, String)>,
    /// Interrupted by a signal.
    pub interrupted: bool,
}

impl Summary {
    /// True when nothing failed and the session was not interrupted.
    pub fn success(&self) -> bool {
        !self.interrupted && self.queues.iter().all(|(_, q)| q.failed.is_empty())
    }

    /// BuildStream's "Pipeline Summary" (and "Failure Summary") text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if !self.failures.is_empty() {
            // By element name, each failure as it was shown, indented (blank lines stay
            // blank), as BuildStream's summary lists them.
            text += "Failure Summary\n";
            let mut failures: Vec<&(String, String)> = self.failures.iter().collect();
            failures.sort_by(|a, b| a.0.cmp(&b.0));
            for (el, shown) in failures {
                text += &format!("    {el}:\n");
                text += &crate::util::indent_nonblank(shown, "    ");
                if shown.contains('\n') {
                    text += "\n";
                }
            }
        }
        text += "Pipeline Summary\n";
        let mut values: Vec<(String, String)> = vec![
            ("Total".into(), self.total.to_string()),
            ("Session".into(), self.session.to_string()),
        ];
        let w = |f: &dyn Fn(&QueueCounts) -> usize| {
            self.queues
                .iter()
                .map(|(_, q)| f(q).to_string().len())
                .max()
                .unwrap_or(1)
        };
        let (pw, sw, fw) = (
            w(&|q| q.processed),
            w(&|q| q.skipped),
            w(&|q| q.failed.len()),
        );
        for (name, q) in &self.queues {
            let (p, s, f) = (
                q.processed.to_string(),
                q.skipped.to_string(),
                q.failed.len().to_string(),
            );
            values.push((
                format!("{name} Queue"),
                format!(
                    "processed {p}, {}skipped {s}, {}failed {f} {}",
                    " ".repeat(pw - p.len()),
                    " ".repeat(sw - s.len()),
                    " ".repeat(fw - f.len())
                ),
            ));
        }
        text += &status::format_values(&values, 1);
        text
    }
}

/// The caches a session reads and fills.
#[derive(Clone)]
pub struct Caches {
    /// Artifacts.
    pub artifacts: ArtifactCache,
    /// Staged sources.
    pub sources: crate::sourcecache::SourceCache,
}

impl Caches {
    /// Both caches of the cache directory `cachedir`.
    pub fn new(cachedir: &std::path::Path) -> Caches {
        Caches {
            artifacts: ArtifactCache::new(cachedir),
            sources: crate::sourcecache::SourceCache::new(cachedir),
        }
    }
}

/// Errors that stop a session before it runs.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Artifact cache trouble.
    #[error(transparent)]
    Artifact(#[from] crate::artifact::ArtifactError),
    /// Source cache trouble.
    #[error(transparent)]
    SourceCache(#[from] crate::sourcecache::SourceCacheError),
    /// An element cannot be built at all.
    #[error("{0}")]
    Plan(String),
    /// casd could not be started.
    #[error("{0}")]
    Casd(String),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Queue {
    Fetch,
    Build,
}

impl Queue {
    fn action(self) -> &'static str {
        match self {
            Queue::Fetch => "fetch",
            Queue::Build => "build",
        }
    }
}

/// A ready element in a queue: higher depth first, then plan order.
#[derive(PartialEq, Eq)]
struct Ready {
    depth: usize,
    seq: std::cmp::Reverse<usize>,
    id: ElementId,
}

impl Ord for Ready {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.depth, &self.seq).cmp(&(o.depth, &o.seq))
    }
}
impl PartialOrd for Ready {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

enum JobResult {
    /// An activity of a running job, for the terminal.
    Message(ElementId, crate::assemble::JobMessage),
    /// A fetch job's end: the element's staged sources in the source cache.
    Fetched(ElementId, Result<Digest, FetchFailed>),
    Built(ElementId, Result<Digest, String>, PathBuf),
}

/// Where a job's log echoes its activities: to the coordinator, which owns the terminal.
fn echo_to(tx: &tokio::sync::mpsc::UnboundedSender<JobResult>, id: ElementId) -> Echo {
    let tx = tx.clone();
    Box::new(move |m| {
        let _ = tx.send(JobResult::Message(id, m));
    })
}

/// Everything a job needs, shared.
struct Shared {
    pipeline: Arc<Pipeline>,
    /// casd and the sandbox, when the session builds.
    services: Option<(Cas, Runner)>,
    artifacts: ArtifactCache,
    sources: crate::sourcecache::SourceCache,
    opts: Options,
    /// Strong keys (see [`state::States::strong`]).
    keys: HashMap<ElementId, String>,
}

/// BuildStream's planner depth: runtime dependencies at the same depth, build dependencies one
/// deeper, the deepest occurrence kept.
fn depths(p: &Pipeline, targets: &[ElementId]) -> HashMap<ElementId, usize> {
    let mut depth: HashMap<ElementId, usize> = HashMap::default();
    let mut stack: Vec<(ElementId, usize)> = targets.iter().map(|&t| (t, 0)).collect();
    while let Some((e, d)) = stack.pop() {
        if depth.get(&e).is_some_and(|&old| old >= d) {
            continue;
        }
        depth.insert(e, d);
        let el = &p.elements[&e];
        for &r in &el.runtime_deps {
            stack.push((r, d));
        }
        for &b in &el.build_deps {
            stack.push((b, d + 1));
        }
    }
    depth
}

/// Runs a build session for `targets`; casd is started through `services` only when
/// something must be fetched or built.
pub async fn build<S: Services>(
    pipeline: Arc<Pipeline>,
    caches: Caches,
    opts: Options,
    targets: &[ElementId],
    services: &mut S,
) -> Result<Summary, SessionError> {
    let p = &*pipeline;
    let Caches { artifacts, sources } = caches;

    // The plan, dependencies first; elements that are never built are left out. A fetch
    // session's plan is its targets (the CLI selected them).
    let plan: Vec<ElementId> = if opts.fetch_only {
        targets.to_vec()
    } else {
        p.dependencies(targets, Scope::All)
            .into_iter()
            .filter(|id| {
                let k = crate::element::kinds::lookup(&p.elements[id].kind).map(|k| k.assembly());
                k != Some(Assembly::Nothing)
            })
            .collect()
    };
    // BuildStream's `total_elements`: everything the loaded targets depend on, whatever the
    // selection; the heading lists them. A build session's are its plan.
    let total: Vec<ElementId> = match opts.fetch_only {
        true => p.dependencies(&p.targets, Scope::All),
        false => plan.clone(),
    };
    // The keys a fetch session shows: without an artifact query, a non-strict session
    // cannot know strong keys, and BuildStream shows `?` for them.
    let unknown_key = "?".repeat(64);
    for &id in plan.iter().filter(|_| !opts.fetch_only) {
        if p.keys.get(&id).and_then(|k| k.strict.as_ref()).is_none() {
            return Err(SessionError::Plan(format!(
                "{}: has no cache key: a source has no ref (run `bst source track`)",
                p.elements[&id].full_name
            )));
        }
    }

    // Query the cache (blocking file I/O, in parallel, off the async threads); find the
    // required elements (targets' runtime closures, build closures of what must be built)
    // and the strong keys; and which elements not cached have their staged sources in the
    // source cache (BuildStream queries the source cache of every element of the plan that is
    // not cached).
    let mode = state::Mode {
        strict: opts.strict,
        build: true,
        retry_failed: opts.retry_failed,
    };
    Activity::remote_caches();
    let query = Activity::core("Query cache");
    let queried = {
        let (p, cache, plan) = (pipeline.clone(), artifacts.clone(), plan.clone());
        let source_cache = sources.clone();
        let roots: Vec<(ElementId, Scope)> = targets.iter().map(|&t| (t, Scope::Run)).collect();
        let fetch_only = opts.fetch_only;
        tokio::task::spawn_blocking(move || {
            let states = match fetch_only {
                false => state::query(&p, &cache, &plan, &roots, mode)?,
                true => state::States::default(),
            };
            use rayon::prelude::*;
            let staged: Vec<Result<Option<(ElementId, Digest)>, SessionError>> = plan
                .par_iter()
                .copied()
                .filter(|id| !states.cached_success(*id))
                .map(|id| {
                    let tree = source_cache.element_sources(&p.elements[&id])?;
                    Ok(tree.map(|d| (id, d)))
                })
                .collect();
            let mut sources_cached: HashMap<ElementId, Digest> = HashMap::default();
            for r in staged {
                sources_cached.extend(r?);
            }
            Ok::<_, SessionError>((states, sources_cached))
        })
        .await
        .map_err(|e| SessionError::Plan(format!("cache query failed: {e}")))
        .and_then(|r| r)
    };
    query.end(queried.is_ok());
    let (states, mut sources_cached) = queried?;
    if let Some(heading) = &opts.heading {
        let shown = match opts.fetch_only {
            true => HashMap::default(),
            false => state::show_states(p, &states, &plan, |id| {
                sources_cached.contains_key(&id) || p.elements[&id].sources_cached(&opts.fetch)
            }),
        };
        let mut text = format!("{heading}Pipeline\n");
        for &id in &total {
            let key = match opts.fetch_only {
                true if !opts.strict => Some(unknown_key.as_str()),
                true => p.keys.get(&id).and_then(|k| k.strict.as_deref()),
                false => states
                    .key(id)
                    .or_else(|| p.keys.get(&id).and_then(|k| k.strict.as_deref())),
            }
            .unwrap_or_default();
            // A fetch session does not look for artifacts: BuildStream can tell no more than
            // `waiting` then.
            let e = &p.elements[&id];
            let st = match opts.fetch_only {
                true if !e.sources_resolved() => "no reference",
                true if e.kind == "junction" => "junction",
                true => "waiting",
                false => shown.get(&id).copied().unwrap_or("waiting"),
            };
            // BuildStream's default element format, `%{state: >12} %{full-key} %{name}
            // %{workspace-dirs}` (bst-rs has no workspaces).
            text += &format!("{st:>12} {key} {} \n", p.elements[&id].full_name);
        }
        text += &"=".repeat(79);
        status::emit(&text);
    }
    let mut status = Status::new(opts.interactive, &opts.logdir);
    let mut files: HashMap<ElementId, Digest> = HashMap::default();
    let mut cached_failure: HashMap<ElementId, crate::cas::proto::bst::Artifact> =
        HashMap::default();
    for (&id, a) in &states.cached {
        if a.build_success {
            files.insert(id, a.files.clone().unwrap_or_default());
        } else {
            cached_failure.insert(id, a.clone());
        }
    }
    let required = &states.required;
    let session: Vec<ElementId> = if opts.fetch_only {
        plan.clone()
    } else {
        plan.iter()
            .copied()
            .filter(|e| required.contains(e) && !files.contains_key(e))
            .collect()
    };
    for &id in session.iter().filter(|_| !opts.fetch_only) {
        if states.key(id).is_none() {
            return Err(SessionError::Plan(format!(
                "{}: no strong cache key could be computed",
                p.elements[&id].full_name
            )));
        }
    }
    let depth = depths(p, targets);
    let seq: HashMap<ElementId, usize> = plan.iter().enumerate().map(|(i, &e)| (e, i)).collect();

    // Build-scope dependencies each session element waits for, and the reverse (none in a
    // fetch session: an element is to be built once it has an entry here, at zero).
    let mut waiting: HashMap<ElementId, usize> = HashMap::default();
    let mut dependents: HashMap<ElementId, Vec<ElementId>> = HashMap::default();
    for &e in session.iter().filter(|_| !opts.fetch_only) {
        let deps: Vec<ElementId> = p
            .dependencies(&[e], Scope::Build)
            .into_iter()
            .filter(|d| !files.contains_key(d))
            .collect();
        waiting.insert(e, deps.len());
        for d in deps {
            dependents.entry(d).or_default().push(e);
        }
    }

    // Elements that run commands weigh one; those that only arrange files next to nothing.
    let mut critical = critical::Critical::new(&session, &dependents, |id| {
        use crate::element::kinds::{lookup, Assembly};
        match lookup(&p.elements[&id].kind).map(|k| k.assembly()) {
            Some(Assembly::Build | Assembly::Script | Assembly::Unsupported) | None => 1.0,
            Some(_) => 0.01,
        }
    });

    // Required elements already cached pass through every queue as skipped; BuildStream's
    // session counts every required element (its first queue enqueues them all).
    let required_cached = plan
        .iter()
        .filter(|e| !opts.fetch_only && required.contains(e) && files.contains_key(e))
        .count();
    let mut summary = Summary {
        total: total.len(),
        session: session.len() + required_cached,
        ..Default::default()
    };
    let mut fetch_q = QueueCounts {
        skipped: required_cached,
        ..Default::default()
    };
    let mut prime_q = QueueCounts {
        skipped: required_cached,
        ..Default::default()
    };
    let mut build_q = QueueCounts {
        skipped: required_cached,
        ..Default::default()
    };
    let mut fetch_heap: BinaryHeap<Ready> = BinaryHeap::new();
    // Elements done with Fetch, in the order they left it, for the Prime queue.
    let mut prime_queue: std::collections::VecDeque<ElementId> = Default::default();
    let mut build_heap: BinaryHeap<Ready> = BinaryHeap::new();
    // Elements through Prime: they go to Build once their dependencies are built.
    let mut primed: HashSet<ElementId> = HashSet::default();
    let ready = |id: ElementId| Ready {
        depth: depth.get(&id).copied().unwrap_or(0),
        seq: std::cmp::Reverse(seq[&id]),
        id,
    };
    // Cached failures go through every queue as BuildStream's do: their sources are fetched
    // if missing, and they fail in the build queue once buildable (`CachedFailure`).
    for &e in &session {
        if sources_cached.contains_key(&e) {
            fetch_q.skipped += 1;
            if !opts.fetch_only {
                prime_queue.push_back(e);
            }
        } else {
            fetch_heap.push(ready(e));
        }
    }
    let queues = |fetch_q, prime_q, build_q| match opts.fetch_only {
        true => vec![("Fetch", fetch_q)],
        false => vec![("Fetch", fetch_q), ("Prime", prime_q), ("Build", build_q)],
    };
    // casd only when something is to be fetched or built.
    if session.is_empty() || (opts.fetch_only && fetch_heap.is_empty()) {
        status.clear();
        summary.queues = queues(fetch_q, prime_q, build_q);
        return Ok(summary);
    }
    let casd = Some(services.start().await.map_err(SessionError::Casd)?);
    let shared = Arc::new(Shared {
        pipeline: pipeline.clone(),
        services: casd,
        artifacts,
        sources,
        opts: opts.clone(),
        // A fetch session does not query artifacts: its jobs show the strict keys, as its
        // heading does (in strict mode; else no key).
        keys: match opts.fetch_only {
            false => states.strong.clone(),
            true if !opts.strict => HashMap::default(),
            true => plan
                .iter()
                .filter_map(|&id| Some((id, p.keys.get(&id)?.strict.clone()?)))
                .collect(),
        },
    });
    let key_of = |id: ElementId| shared.keys.get(&id).cloned();
    // What jobs show (and name their logs by) when the key is unknown.
    let shown_key = |id: ElementId| key_of(id).unwrap_or_else(|| unknown_key.clone());

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<JobResult>();
    let mut running: HashMap<ElementId, tokio::task::JoinHandle<()>> = HashMap::default();
    let (mut fetching, mut building) = (0usize, 0usize);
    let mut stopping = false;
    let mut ticker = tokio::time::interval(std::time::Duration::from_millis(200));
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);

    loop {
        // Prime first: it has no work, so its elements are skipped at once and can be built
        // in this same round. Then the other queues, later ones first, as BuildStream does.
        if !stopping {
            while let Some(id) = prime_queue.pop_front() {
                prime_q.skipped += 1;
                primed.insert(id);
                if waiting.get(&id) == Some(&0) {
                    build_heap.push(ready(id));
                }
            }
        }
        while !stopping && building < opts.builders {
            let Some(r) = build_heap.pop() else { break };
            building += 1;
            let key = shown_key(r.id);
            let log = log_path(&shared, r.id, &key, Queue::Build);
            status.start(
                r.id,
                Queue::Build.action(),
                &p.elements[&r.id].full_name,
                &key,
                &log,
            );
            let job = match cached_failure.get(&r.id) {
                Some(a) => {
                    let artifacts = shared.artifacts.clone();
                    spawn_cached_failure(artifacts, a.clone(), r.id, log, tx.clone())
                }
                None => spawn_build(
                    shared.clone(),
                    r.id,
                    files.clone(),
                    sources_cached.get(&r.id).cloned(),
                    log,
                    critical.nice(r.id),
                    tx.clone(),
                ),
            };
            running.insert(r.id, job);
        }
        while !stopping && fetching < opts.fetchers {
            let Some(r) = fetch_heap.pop() else { break };
            fetching += 1;
            let job = start_fetch(&mut status, &shared, r.id, 1, &shown_key(r.id), &tx);
            running.insert(r.id, job);
        }
        if running.is_empty() {
            break;
        }
        let shown = [
            ("Fetch", &fetch_q),
            ("Prime", &prime_q),
            ("Build", &build_q),
        ];
        let shown = match opts.fetch_only {
            true => &shown[..1],
            false => &shown[..],
        };
        status.tick(&summary_line(shown, total.len(), summary.session));
        let msg = tokio::select! {
            m = rx.recv() => m,
            _ = ticker.tick() => {
                if let Some(why) = services.died() {
                    status.message(&why);
                    summary.failures.push(("buildbox-casd".into(), why));
                    summary.interrupted = true;
                    for (_, h) in running.drain() {
                        h.abort();
                    }
                    break;
                }
                continue
            }
            _ = &mut ctrl_c => {
                status.message("Interrupted: terminating running jobs");
                summary.interrupted = true;
                for (_, h) in running.drain() {
                    h.abort();
                }
                break;
            }
        };
        let Some(msg) = msg else { break };
        match msg {
            JobResult::Message(id, m) => status.job_message(id, &m),
            JobResult::Fetched(id, Err(FetchFailed::Retry(try_no, text))) => {
                // `Job`: the same job runs again at once (also when quitting after an error:
                // only terminating stops it), in a log named for its new start.
                status.finish(id, false, &text);
                let job = start_fetch(&mut status, &shared, id, try_no + 1, &shown_key(id), &tx);
                running.insert(id, job);
            }
            JobResult::Fetched(id, res) => {
                running.remove(&id);
                fetching -= 1;
                let name = p.elements[&id].full_name.clone();
                let res = res.map_err(|e| match e {
                    FetchFailed::Failed(text) | FetchFailed::Retry(_, text) => text,
                });
                match res {
                    Ok(tree) => {
                        fetch_q.processed += 1;
                        status.finish(id, true, "");
                        sources_cached.insert(id, tree);
                        if !opts.fetch_only {
                            prime_queue.push_back(id);
                        }
                    }
                    Err(e) => {
                        let shown = status.finish(id, false, &e).unwrap_or(e);
                        fetch_q.failed.push(name.clone());
                        summary.failures.push((name, shown));
                        stopping |= opts.on_error != OnError::Continue;
                    }
                }
            }
            JobResult::Built(id, res, _log) => {
                running.remove(&id);
                building -= 1;
                let name = p.elements[&id].full_name.clone();
                match res {
                    Ok(digest) => {
                        critical.done(id);
                        build_q.processed += 1;
                        status.finish(id, true, "");
                        files.insert(id, digest);
                        for &dep in dependents.get(&id).map(Vec::as_slice).unwrap_or(&[]) {
                            let w = waiting.get_mut(&dep).expect("dependent is in session");
                            *w -= 1;
                            if *w == 0 && primed.contains(&dep) {
                                build_heap.push(ready(dep));
                            }
                        }
                    }
                    Err(e) => {
                        critical.failed(id, &dependents);
                        // A failed job counts as failed, not processed, as in BuildStream.
                        let shown = status.finish(id, false, &e).unwrap_or(e);
                        build_q.failed.push(name.clone());
                        summary.failures.push((name, shown));
                        stopping |= opts.on_error != OnError::Continue;
                    }
                }
            }
        }
        if stopping && opts.on_error == OnError::Terminate {
            for (_, h) in running.drain() {
                h.abort();
            }
            break;
        }
    }
    status.clear();
    summary.queues = queues(fetch_q, prime_q, build_q);
    Ok(summary)
}

/// How a fetch job failed.
enum FetchFailed {
    /// Try number `.0` failed temporarily and is to run again; `.1` is its message.
    Retry(u32, String),
    /// For good, with this message.
    Failed(String),
}

/// Starts try number `try_no` of element `id`'s fetch job, shown with `key`: names its log,
/// announces it on `status`, and runs it; the job reports its end to `tx`.
fn start_fetch(
    status: &mut Status,
    shared: &Arc<Shared>,
    id: ElementId,
    try_no: u32,
    key: &str,
    tx: &tokio::sync::mpsc::UnboundedSender<JobResult>,
) -> tokio::task::JoinHandle<()> {
    let log = log_path(shared, id, key, Queue::Fetch);
    let name = &shared.pipeline.elements[&id].full_name;
    status.start(id, Queue::Fetch.action(), name, key, &log);
    let (shared, tx) = (shared.clone(), tx.clone());
    let echo = echo_to(&tx, id);
    tokio::spawn(async move {
        let res = fetch_job(&shared, id, try_no, &log, echo).await;
        let _ = tx.send(JobResult::Fetched(id, res));
    })
}

/// BuildStream's fetch job: fetches what the element's sources miss and stores them, staged,
/// in the source cache (see [`crate::sourcecache`]); returns the tree. A temporary failure
/// of try number `try_no` with tries left (`network-retries`) ends the job's log as
/// BuildStream's does (`Try #N failed, retrying`), for the scheduler to run the job again.
async fn fetch_job(
    s: &Shared,
    id: ElementId,
    try_no: u32,
    logpath: &std::path::Path,
    echo: Echo,
) -> Result<Digest, FetchFailed> {
    let el = &s.pipeline.elements[&id];
    let mut log = job_log(s, id, logpath, echo).map_err(FetchFailed::Failed)?;
    let (cas, _) = s
        .services
        .as_ref()
        .ok_or_else(|| FetchFailed::Failed("casd is not running".into()))?;
    let fetch = log.start_quiet("Fetch");
    let mut report = FetchLog {
        log: &mut log,
        open: Vec::new(),
    };
    let res = s
        .sources
        .fetch_and_cache(cas, el, &s.opts.fetch, &s.opts.tmpdir, &mut report)
        .await;
    // Activities a failure left open end with it.
    report.close_open();
    match res {
        Ok(tree) => {
            log.end(fetch, true);
            Ok(tree)
        }
        Err(e) if e.is_temporary() && try_no <= s.opts.fetch.network_retries => {
            let text = format!("Try #{try_no} failed, retrying");
            log.fail(fetch, &text);
            Err(FetchFailed::Retry(try_no, text))
        }
        Err(e) => {
            let text = e.to_string();
            log.fail(fetch, &text);
            Err(FetchFailed::Failed(text))
        }
    }
}

/// A fetch job's log as the sources' [`FetchReport`]: their activities and status messages
/// go to the log and the terminal, as BuildStream's source plugins' do.
struct FetchLog<L: std::borrow::BorrowMut<Log>> {
    log: L,
    /// Activities started and not yet ended, innermost last.
    open: Vec<crate::assemble::Started>,
}

impl<L: std::borrow::BorrowMut<Log>> FetchLog<L> {
    /// Ends, as failed, the activities a failure left open.
    fn close_open(&mut self) {
        while let Some(started) = self.open.pop() {
            self.log.borrow_mut().end(started, false);
        }
    }
}

impl<L: std::borrow::BorrowMut<Log>> FetchReport for FetchLog<L> {
    fn start(&mut self, text: &str) {
        let started = self.log.borrow_mut().start_source(text);
        self.open.push(started);
    }

    fn end(&mut self, ok: bool) {
        if let Some(started) = self.open.pop() {
            self.log.borrow_mut().end(started, ok);
        }
    }

    fn status(&mut self, text: &str) {
        self.log.borrow_mut().status(text);
    }
}

/// Opens the log of a job for element `id`, headed by the program and the time the job
/// started.
fn job_log(
    s: &Shared,
    id: ElementId,
    logpath: &std::path::Path,
    echo: Echo,
) -> Result<Log, String> {
    let name = &s.pipeline.elements[&id].full_name;
    let key = s.keys.get(&id).map_or("????????", String::as_str);
    let mut log = Log::for_job(logpath, key, name, echo).map_err(|e| e.to_string())?;
    log_heading(&mut log);
    Ok(log)
}

/// A job log's first line: the program and the time the job started.
fn log_heading(log: &mut Log) {
    let now = crate::util::now_secs();
    log.line(&format!(
        "bst-rs {} - {}",
        env!("CARGO_PKG_VERSION"),
        crate::util::format_local(now, "%A, %d-%m-%Y at %H:%M:%S")
    ));
}

/// The status area's session line: the session's progress, then each queue's counts.
fn summary_line(queues: &[(&str, &QueueCounts)], total: usize, session: usize) -> String {
    let queues: Vec<String> = queues
        .iter()
        .map(|(name, q)| format!("({name}:{} {} {})", q.processed, q.skipped, q.failed.len()))
        .collect();
    format!("({session}/{total}) {}", queues.join(" -> "))
}

/// The log of a job of element `id` (see [`job_log_path`]).
fn log_path(s: &Shared, id: ElementId, key: &str, q: Queue) -> PathBuf {
    let el = &s.pipeline.elements[&id];
    job_log_path(&s.opts.logdir, &el.project_name, &el.name, key, q.action())
}

/// `<logdir>/<project>/<normal name>/<key8>-<action>.<YYYYmmdd-HHMMSS>.log`.
fn job_log_path(logdir: &Path, project: &str, name: &str, key: &str, action: &str) -> PathBuf {
    let ts = crate::util::format_local(crate::util::now_secs(), "%Y%m%d-%H%M%S");
    logdir
        .join(project)
        .join(crate::artifact::normal_name(name))
        .join(format!("{}-{action}.{ts}.log", &key[..key.len().min(8)]))
}

/// A job that finds nothing to do (BuildStream's `SKIPPED`), with its log and terminal lines,
/// as `bst artifact checkout` pulls an artifact that is not cached and no remote has.
pub fn skipped_job(
    logdir: &Path,
    project: &str,
    name: &str,
    key: &str,
    action: &'static str,
    text: &str,
) {
    let path = job_log_path(logdir, project, name, key, action);
    let mut status = Status::new(false, logdir);
    status.start(0, action, name, key, &path);
    if let Ok(mut log) = Log::for_job(&path, key, name, Box::new(|_| {})) {
        log_heading(&mut log);
        let started = log.start_quiet(text);
        log.skipped(started);
    }
    status.skipped(0, text);
}

/// The fetch jobs the loader runs for junctions whose sources it stages (see
/// [`crate::loader::junction`]), with the logs and terminal lines of the scheduler's.
pub struct LoaderFetchJobs {
    /// Where job logs go.
    pub logdir: PathBuf,
}

/// A running [`LoaderFetchJobs`] job.
struct LoaderFetchJob {
    status: Arc<std::sync::Mutex<Status>>,
    report: FetchLog<Log>,
    fetch: Option<crate::assemble::Started>,
}

fn lock_status(s: &std::sync::Mutex<Status>) -> std::sync::MutexGuard<'_, Status> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

impl crate::loader::junction::FetchJobs for LoaderFetchJobs {
    fn start(
        &self,
        project: &str,
        name: &str,
        full_name: &str,
        key: &str,
    ) -> std::result::Result<Box<dyn crate::loader::junction::FetchJob>, String> {
        let path = job_log_path(&self.logdir, project, name, key, Queue::Fetch.action());
        let status = Arc::new(std::sync::Mutex::new(Status::new(false, &self.logdir)));
        lock_status(&status).start(0, Queue::Fetch.action(), full_name, key, &path);
        let echo = {
            let status = status.clone();
            Box::new(move |m: crate::assemble::JobMessage| lock_status(&status).job_message(0, &m))
        };
        let mut log = Log::for_job(&path, key, full_name, echo).map_err(|e| e.to_string())?;
        log_heading(&mut log);
        let fetch = Some(log.start_quiet("Fetch"));
        Ok(Box::new(LoaderFetchJob {
            status,
            report: FetchLog {
                log,
                open: Vec::new(),
            },
            fetch,
        }))
    }
}

impl FetchReport for LoaderFetchJob {
    fn start(&mut self, text: &str) {
        self.report.start(text);
    }

    fn end(&mut self, ok: bool) {
        FetchReport::end(&mut self.report, ok);
    }

    fn status(&mut self, text: &str) {
        self.report.status(text);
    }
}

impl crate::loader::junction::FetchJob for LoaderFetchJob {
    fn end(mut self: Box<Self>, result: std::result::Result<(), &str>) {
        self.report.close_open();
        if let Some(fetch) = self.fetch.take() {
            match result {
                Ok(()) => self.report.log.end(fetch, true),
                Err(text) => self.report.log.fail(fetch, text),
            }
        }
        drop(self.report);
        lock_status(&self.status).finish(0, result.is_ok(), result.err().unwrap_or_default());
    }
}

fn spawn_build(
    s: Arc<Shared>,
    id: ElementId,
    files: HashMap<ElementId, Digest>,
    sources: Option<Digest>,
    logpath: PathBuf,
    nice: i32,
    tx: tokio::sync::mpsc::UnboundedSender<JobResult>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let res = build_job(
            &s,
            id,
            &files,
            sources.as_ref(),
            &logpath,
            nice,
            echo_to(&tx, id),
        )
        .await;
        let _ = tx.send(JobResult::Built(id, res, logpath));
    })
}

/// The build job of an element whose cached artifact is a failure, as BuildStream's
/// `CachedFailure`: its log replays the failed build's logs, and it fails with the stored
/// error.
fn spawn_cached_failure(
    artifacts: ArtifactCache,
    failure: crate::cas::proto::bst::Artifact,
    id: ElementId,
    logpath: PathBuf,
    tx: tokio::sync::mpsc::UnboundedSender<JobResult>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let log = logpath.clone();
        let replay = tokio::task::spawn_blocking(move || {
            let mut text = Vec::new();
            for l in &failure.logs {
                let digest = l.digest.clone().unwrap_or_default();
                text.extend(artifacts.read_blob(&digest).map_err(|e| e.to_string())?);
            }
            if let Some(dir) = log.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            std::fs::write(&log, text).map_err(|e| format!("{}: {e}", log.display()))?;
            Ok::<_, String>(failure.build_error)
        })
        .await;
        let res = match replay {
            Ok(Ok(error)) => Err(error),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(format!("build job failed: {e}")),
        };
        let _ = tx.send(JobResult::Built(id, res, logpath));
    })
}

async fn build_job(
    s: &Shared,
    id: ElementId,
    files: &HashMap<ElementId, Digest>,
    sources: Option<&Digest>,
    logpath: &std::path::Path,
    nice: i32,
    echo: Echo,
) -> Result<Digest, String> {
    let mut log = job_log(s, id, logpath, echo)?;
    let build = log.start_quiet("Build");
    let res = build_in_log(s, id, files, sources, logpath, nice, &mut log).await;
    match &res {
        Ok(_) => log.end(build, true),
        Err(e) => log.fail(build, e),
    }
    res
}

/// [`build_job`] once its log is open: assemble, then cache the artifact (a failed build's
/// too).
async fn build_in_log(
    s: &Shared,
    id: ElementId,
    files: &HashMap<ElementId, Digest>,
    sources: Option<&Digest>,
    logpath: &std::path::Path,
    nice: i32,
    log: &mut Log,
) -> Result<Digest, String> {
    let p = &*s.pipeline;
    let el = &p.elements[&id];
    if let Some(d) = el.details.as_deref() {
        use crate::cli::format::{env_yaml, yaml_scalar};
        let env: Vec<String> = d
            .environment
            .iter()
            .map(|(k, v)| format!("{}: {}", yaml_scalar(k), env_yaml(v)))
            .collect();
        let text = format!("Build environment for element {}", el.full_name);
        log.note(&text, &env.join("\n"));
    }
    let tmpdir = s.opts.tmpdir.clone();
    let (cas, runner) = s.services.as_ref().ok_or("casd is not running")?;
    let env = BuildEnv {
        pipeline: p,
        cas,
        runner,
        artifacts: &s.artifacts,
        files,
        tmpdir: &tmpdir,
        sources,
        nice,
    };
    let assembled = assemble(&env, id, log).await.map_err(|e| e.to_string())?;
    let keys = &p.keys[&id];
    let strict = keys.strict.clone().unwrap_or_default();
    let weak = keys.weak.clone().unwrap_or_default();
    let strong = s.keys.get(&id).cloned().unwrap_or_else(|| strict.clone());
    let d = el.details.as_deref();
    let public = match (&assembled.public, d) {
        (Some(p), _) => crate::cli::format::dump_yaml(p),
        (None, Some(d)) => crate::cli::format::dump_yaml(&d.public),
        (None, None) => String::new(),
    };
    let (low, high) = d.map(meta_yaml).unwrap_or_default();
    let build_deps = p
        .dependencies(&[id], Scope::Build)
        .into_iter()
        .map(|dep| {
            let de = &p.elements[&dep];
            (
                de.project_name.clone(),
                de.name.clone(),
                s.keys.get(&dep).cloned().unwrap_or_default(),
            )
        })
        .collect();
    if let Err((desc, detail)) = &assembled.result {
        if !detail.is_empty() {
            log.line(&format!("ERROR {desc}: {detail}"));
        }
    }
    let caching = log.start("Caching artifact");
    // The log is stored with the artifact as it is now: it ends with this activity's start.
    let stored = s
        .artifacts
        .store_new(
            cas,
            NewArtifact {
                project: &el.project_name,
                element: &el.name,
                strong_key: &strong,
                strict_key: &strict,
                weak_key: &weak,
                result: assembled.result.clone(),
                files: assembled.files.clone(),
                public_data: public,
                low_diversity_meta: low,
                high_diversity_meta: high,
                log: Some(logpath),
                build_deps,
            },
        )
        .await;
    log.end(caching, stored.is_ok());
    stored.map_err(|e| e.to_string())?;
    if let Some(error) = assembled.uncollected {
        return Err(error);
    }
    match assembled.result {
        Ok(()) => Ok(assembled.files.unwrap_or_default()),
        Err((desc, detail)) if detail.is_empty() => Err(desc),
        Err((desc, detail)) => Err(format!("{desc}: {detail}")),
    }
}

/// The low- and high-diversity metadata YAML BuildStream stores with an artifact.
fn meta_yaml(d: &crate::element::ElementDetails) -> (String, String) {
    use crate::cli::format::yaml_scalar;
    let low = low_diversity_meta(&d.environment, &d.sandbox);
    let mut high = String::from("variables:\n");
    for (k, v) in &d.variables {
        high += &format!("  {}: {}\n", yaml_scalar(k), yaml_scalar(v));
    }
    (low, high)
}

/// `low-diversity-meta.yaml`: the environment and `SandboxConfig.to_dict()` (its optional
/// parts only when set), as BuildStream's round-trip dumper writes them (every scalar a
/// plain string).
fn low_diversity_meta(
    environment: &crate::element::Environment,
    sandbox: &crate::element::SandboxConfig,
) -> String {
    use crate::cli::format::{env_yaml, yaml_scalar};
    let mut low = String::from("environment:\n");
    for (k, v) in environment {
        low += &format!("  {}: {}\n", yaml_scalar(k), env_yaml(v));
    }
    low += "sandbox-config:\n";
    low += &format!("  build-os: {}\n", yaml_scalar(&sandbox.build_os));
    low += &format!("  build-arch: {}\n", yaml_scalar(&sandbox.build_arch));
    if let Some(uid) = sandbox.build_uid {
        low += &format!("  build-uid: {uid}\n");
    }
    if let Some(gid) = sandbox.build_gid {
        low += &format!("  build-gid: {gid}\n");
    }
    if let Some(path) = &sandbox.remote_apis_socket {
        low += &format!("  remote-apis-socket:\n    path: {}\n", yaml_scalar(path));
        if sandbox.action_cache_enable_update {
            low += "    action-cache-enable-update: True\n";
        }
    }
    low
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::element::{EnvValue, Environment, SandboxConfig};

    #[test]
    fn low_diversity_meta_records_the_whole_sandbox_config() {
        let mut env = Environment::default();
        env.insert("PATH".into(), EnvValue::Str("/usr/bin:/bin".into()));
        env.insert(
            "SOURCE_DATE_EPOCH".into(),
            EnvValue::Str("1321009871".into()),
        );
        let mut sandbox = SandboxConfig {
            build_os: "linux".into(),
            build_arch: "x86-64".into(),
            build_uid: None,
            build_gid: None,
            remote_apis_socket: None,
            action_cache_enable_update: false,
        };
        let head = "environment:\n  PATH: /usr/bin:/bin\n  SOURCE_DATE_EPOCH: 1321009871\n\
                    sandbox-config:\n  build-os: linux\n  build-arch: x86-64\n";
        assert_eq!(low_diversity_meta(&env, &sandbox), head);
        // What BuildStream 2.8.1 wrote for `build-uid: 0`, `build-gid: 0` and a
        // `remote-apis-socket` with `action-cache-enable-update: true`.
        sandbox.build_uid = Some(0);
        sandbox.build_gid = Some(0);
        sandbox.remote_apis_socket = Some("/run/reapi.sock".into());
        sandbox.action_cache_enable_update = true;
        assert_eq!(
            low_diversity_meta(&env, &sandbox),
            format!(
                "{head}  build-uid: 0\n  build-gid: 0\n  remote-apis-socket:\n    \
                 path: /run/reapi.sock\n    action-cache-enable-update: True\n"
            )
        );
    }
}
