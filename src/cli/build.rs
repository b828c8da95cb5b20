//! `bst-rs build` and `bst-rs artifact ...`: the commands that need casd.

use super::{classify_targets, find_project_dir, print_error, strict_mode};
use crate::artifact::ArtifactCache;
use crate::cas::casd::{Casd, CasdConfig};
use crate::cas::Cas;
use crate::graph::Pipeline;
use crate::loader::ElementId;
use crate::scheduler::{Activity, OnError, Options};
use crate::yaml::LoadError;
use anyhow::{anyhow, Context, Result};
use std::path::Path;
use std::sync::Arc;

/// `build` arguments.
#[derive(clap::Args, Debug)]
pub(super) struct BuildArgs {
    /// Try to build elements for which a failed build artifact is found
    #[arg(short = 'r', long = "retry-failed")]
    retry_failed: bool,
    /// Elements to build
    elements: Vec<String>,
}

/// `artifact` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(super) enum ArtifactCommand {
    /// Checkout contents of an artifact
    Checkout(super::checkout::CheckoutArgs),
    /// Show build logs of artifacts
    Log {
        /// Elements
        artifacts: Vec<String>,
    },
    /// List the contents of an artifact
    ListContents {
        /// Provide more information about the contents of the artifact.
        #[arg(short = 'l', long)]
        long: bool,
        /// Elements
        artifacts: Vec<String>,
    },
    /// Remove artifacts from the local cache
    Delete {
        /// The dependencies to delete
        #[arg(short = 'd', long = "deps", value_enum, default_value = "none")]
        deps: super::Deps,
        /// Elements
        artifacts: Vec<String>,
    },
    /// Show the cached state of artifacts
    Show {
        /// The dependencies we also want to show
        #[arg(short = 'd', long = "deps", value_enum, default_value = "none")]
        deps: super::Deps,
        /// Elements
        artifacts: Vec<String>,
    },
}

/// Session-wide options shared by build commands.
pub(super) struct Session<'a> {
    pub directory: &'a Path,
    pub options: Vec<(String, String)>,
    pub interactive: bool,
    pub log_level: &'static str,
    pub builders: Option<usize>,
    pub fetchers: Option<usize>,
    pub on_error: Option<String>,
    /// `--strict` / `--no-strict`, if given.
    pub strict: Option<bool>,
}

/// Loads the targets, reporting BuildStream's activities (see [`super::load_reported`]).
pub(super) fn load(
    s: &Session,
    targets: &[String],
    session: Option<&str>,
) -> std::result::Result<(Pipeline, Option<Activity>), LoadError> {
    let project_dir =
        find_project_dir(s.directory).map_err(|e| e.prefixed("Error loading project: "))?;
    let element_path = crate::loader::LoadContext::peek_element_path(&project_dir);
    let targets = classify_targets(targets, &element_path)?;
    let keep = crate::element::Keep {
        details: true,
        source_info: false,
        key_tails: true,
        source_cache_keys: true,
    };
    let (pipeline, _, activity) = super::load_reported(
        &project_dir,
        s.options.clone(),
        &targets,
        &[],
        keep,
        session,
    )?;
    Ok((pipeline, activity))
}

/// [`load`], then the strict mode (`--strict`/`--no-strict`, else the user configuration);
/// an error is reported as bst reports it and becomes the exit code. The `session`
/// activity, if any, is returned started, for the caller to end.
pub(super) fn load_session(
    s: &Session,
    targets: &[String],
    session: Option<&str>,
) -> std::result::Result<(Pipeline, bool, Option<Activity>), i32> {
    let loaded = load(s, targets, session).and_then(|(p, activity)| {
        match super::strict_mode(s.strict, &p) {
            Ok(strict) => Ok((p, strict, activity)),
            Err(e) => {
                if let Some(a) = activity {
                    a.end(false);
                }
                Err(e)
            }
        }
    });
    loaded.map_err(|e| {
        print_error(&e);
        255
    })
}

/// casd for a build session, started when the first job needs it.
struct LazyCasd<'a> {
    session: &'a Session<'a>,
    runner_jobs: usize,
    casd: Option<Casd>,
}

impl crate::scheduler::Services for LazyCasd<'_> {
    async fn start(&mut self) -> std::result::Result<(Cas, crate::sandbox::Runner), String> {
        let (casd, cas) = start_casd(self.session, self.runner_jobs)
            .await
            .map_err(|e| format!("{e:#}"))?;
        let tmpdir = crate::project::user_config().cachedir().join("tmp");
        let runner =
            crate::sandbox::Runner::new(casd.socket(), &tmpdir).map_err(|e| e.to_string())?;
        self.casd = Some(casd);
        Ok((cas, runner))
    }

    fn died(&mut self) -> Option<String> {
        let st = self.casd.as_mut()?.exit_status()?;
        Some(format!("buildbox-casd died during the build ({st})"))
    }
}

pub(super) async fn start_casd(s: &Session<'_>, runner_jobs: usize) -> Result<(Casd, Cas)> {
    let uc = crate::project::user_config();
    let runner = crate::cas::casd::find_tool(&["buildbox-run", "buildbox-run-bubblewrap"]);
    let cfg = CasdConfig {
        cachedir: uc.cachedir(),
        logdir: uc.logdir(),
        log_level: s.log_level,
        quota: uc
            .casd_quota()
            .map_err(|e| anyhow::anyhow!("cache quota: {e}"))?,
        runner: runner.map(|r| (r, runner_jobs)),
    };
    let casd = Casd::start(&cfg).await?;
    let cas = Cas::connect(casd.socket(), &uc.cachedir().join("cas")).await?;
    Ok((casd, cas))
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `bst-rs build`.
pub(super) fn build(s: &Session, args: &BuildArgs) -> i32 {
    let (pipeline, strict, session) = match load_session(s, &args.elements, Some("Build")) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let built = runtime().and_then(|rt| rt.block_on(build_async(s, args, pipeline, strict)));
    // The session ends, then BuildStream prints the pipeline summary.
    if let Some(a) = session {
        a.end(built.as_ref().is_ok_and(|summary| summary.success()));
    }
    match built {
        Ok(summary) => {
            // The blank line before the summary is the terminal's only.
            eprintln!();
            crate::scheduler::emit_raw(&summary.render());
            if summary.success() {
                0
            } else {
                // BuildStream then reports the session's error, which has no message.
                eprint!("\n\n");
                255
            }
        }
        Err(e) => {
            eprintln!("\n{e:#}");
            255
        }
    }
}

/// The scheduler's options for this session (no heading yet).
fn session_options(s: &Session<'_>, strict: bool, retry_failed: bool) -> Result<Options> {
    let uc = crate::project::user_config();
    let on_error = match s.on_error.as_deref().unwrap_or(&uc.on_error) {
        "continue" => OnError::Continue,
        "terminate" => OnError::Terminate,
        _ => OnError::Quit,
    };
    Ok(Options {
        builders: s.builders.unwrap_or(uc.builders).max(1),
        fetchers: s.fetchers.unwrap_or(uc.fetchers).max(1),
        on_error,
        logdir: uc.logdir(),
        tmpdir: uc.cachedir().join("tmp"),
        interactive: s.interactive,
        retry_failed,
        fetch: crate::source::fetch::FetchContext::from_user_config()
            .map_err(|e| anyhow!("{e}"))?,
        strict,
        heading: None,
        fetch_only: false,
    })
}

/// BuildStream's session heading for `pipeline` run with `opts`.
fn heading(pipeline: &Pipeline, opts: &Options) -> String {
    super::heading::heading(
        pipeline,
        &super::heading::SessionValues {
            strict: opts.strict,
            fetchers: opts.fetchers,
            builders: opts.builders,
        },
    )
}

async fn build_async(
    s: &Session<'_>,
    args: &BuildArgs,
    pipeline: Pipeline,
    strict: bool,
) -> Result<crate::scheduler::Summary> {
    let mut opts = session_options(s, strict, args.retry_failed)?;
    opts.heading = Some(heading(&pipeline, &opts));
    let builders = opts.builders;
    let targets = pipeline.targets.clone();
    let caches = crate::scheduler::Caches::new(&crate::project::user_config().cachedir());
    let mut services = LazyCasd {
        session: s,
        runner_jobs: builders * crate::project::max_jobs(),
        casd: None,
    };
    let summary =
        crate::scheduler::build(Arc::new(pipeline), caches, opts, &targets, &mut services).await;
    if let Some(mut casd) = services.casd.take() {
        casd.stop();
    }
    Ok(summary?)
}

/// A fetch session over `selection` (BuildStream's fetch queue alone), with the session
/// heading when `with_heading`; casd is started only when something is to be fetched (the
/// sources are stored in its CAS).
pub(super) fn fetch_session(
    s: &Session<'_>,
    pipeline: &Arc<Pipeline>,
    selection: &[ElementId],
    with_heading: bool,
) -> Result<crate::scheduler::Summary> {
    let strict = strict_mode(s.strict, pipeline).map_err(|e| anyhow!("{e}"))?;
    let mut opts = session_options(s, strict, false)?;
    opts.fetch_only = true;
    if with_heading {
        opts.heading = Some(heading(pipeline, &opts));
    }
    let caches = crate::scheduler::Caches::new(&crate::project::user_config().cachedir());
    let mut services = LazyCasd {
        session: s,
        runner_jobs: 1,
        casd: None,
    };
    let summary = runtime()?.block_on(crate::scheduler::build(
        pipeline.clone(),
        caches,
        opts,
        selection,
        &mut services,
    ));
    if let Some(mut casd) = services.casd.take() {
        casd.stop();
    }
    Ok(summary?)
}

/// `bst-rs artifact ...`.
pub(super) fn artifact(s: &Session, cmd: &ArtifactCommand) -> i32 {
    let (targets, deps) = match cmd {
        ArtifactCommand::Checkout(args) => return super::checkout::checkout(s, args),
        ArtifactCommand::Log { artifacts } | ArtifactCommand::ListContents { artifacts, .. } => {
            (artifacts.clone(), super::Deps::None)
        }
        ArtifactCommand::Show { artifacts, deps } | ArtifactCommand::Delete { artifacts, deps } => {
            (artifacts.clone(), *deps)
        }
    };
    let cache = ArtifactCache::new(&crate::project::user_config().cachedir());
    // Targets that do not end in `.bst` name artifacts (BuildStream's
    // `_expand_and_classify_targets`).
    let (elements, names): (Vec<String>, Vec<String>) =
        targets.into_iter().partition(|t| t.ends_with(".bst"));
    let names = match expand_artifact_names(&cache, &names) {
        Ok(n) => n,
        Err(e) => {
            print_error(&e);
            return 255;
        }
    };
    // Only artifact names: no project is loaded.
    let loaded = if names.is_empty() || !elements.is_empty() {
        match load_session(s, &elements, None) {
            Ok((pipeline, strict, _)) => Some((pipeline, strict)),
            Err(code) => return code,
        }
    } else {
        None
    };
    let named = if names.is_empty() {
        Ok(Vec::new())
    } else {
        Activity::core("Loading artifacts").run(|| load_named(&cache, &names))
    };
    let run = named.and_then(|named| {
        let named = match deps {
            _ if named.is_empty() => named,
            super::Deps::None => named,
            // A named artifact's dependencies are those it was built with (it records no
            // runtime dependencies).
            super::Deps::Build => build_deps_of(&cache, &named)?,
            super::Deps::Run | super::Deps::All => {
                return Err(anyhow!("{}", deps_not_supported(deps)));
            }
        };
        let loaded = loaded.as_ref().map(|(p, strict)| (p, *strict));
        artifact_run(cmd, loaded, &cache, &named)
    });
    match run {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("\n{e:#}");
            255
        }
    }
}

/// BuildStream's refusal of `--deps run` and `--deps all` for artifact names (which record
/// no runtime dependencies).
pub(super) fn deps_not_supported(deps: super::Deps) -> String {
    let d = clap::ValueEnum::to_possible_value(&deps)
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default();
    format!("Error: '--deps {d}' is not supported for artifact names")
}

/// An artifact given by name (`project/element/key`) rather than by its element.
#[derive(Clone)]
pub(super) struct NamedArtifact {
    /// The name bst shows: the ref's project and element with the artifact's strong key.
    name: String,
    /// The artifact, if cached.
    pub(super) artifact: Option<crate::cas::proto::bst::Artifact>,
}

impl NamedArtifact {
    /// `project/element`: the name without its key.
    fn prefix(&self) -> &str {
        self.name.rsplit_once('/').map_or(&self.name, |(p, _)| p)
    }

    /// The element's (normal) name, as BuildStream shows an artifact element.
    pub(super) fn element(&self) -> String {
        let mut parts = self.name.splitn(3, '/');
        parts.next();
        parts.next().unwrap_or_default().to_owned()
    }

    /// The project's name and the key.
    pub(super) fn project_and_key(&self) -> (&str, &str) {
        let project = self.name.split_once('/').map_or("", |(p, _)| p);
        let key = self.name.rsplit_once('/').map_or("", |(_, k)| k);
        (project, key)
    }
}

/// Checks artifact names (`project/element/key`, the key 64 hex digits) and expands globs
/// over the cached refs (`*` stays within a path component), warning about a glob that
/// matches nothing, as bst does.
pub(super) fn expand_artifact_names(
    cache: &ArtifactCache,
    targets: &[String],
) -> std::result::Result<Vec<String>, LoadError> {
    let mut names: Vec<String> = Vec::new();
    let mut refs: Option<Vec<String>> = None;
    for t in targets {
        if t.contains(['*', '?', '[']) {
            if refs.is_none() {
                refs = Some(cache.list_refs().unwrap_or_default());
            }
            let glob = crate::util::Glob::new(t);
            let matched: Vec<&String> = refs.iter().flatten().filter(|r| glob.matches(r)).collect();
            if matched.is_empty() {
                crate::scheduler::warning(
                    None,
                    &format!("No artifact names matched the glob expression: {t}"),
                    None,
                );
            }
            for m in matched {
                if !names.contains(m) {
                    names.push(m.clone());
                }
            }
            continue;
        }
        let valid = t
            .splitn(3, '/')
            .nth(2)
            .is_some_and(|key| key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()));
        if !valid {
            return Err(LoadError::new(
                crate::yaml::LoadErrorReason::InvalidData,
                format!("Specified target does not appear to be an artifact or element name: {t}"),
            )
            .with_detail("Element names and element glob expressions must end in '.bst'"));
        }
        if !names.contains(t) {
            names.push(t.clone());
        }
    }
    Ok(names)
}

/// The artifacts the named ones were built with (each artifact's `build_deps`, its whole
/// build closure), in their order, each once.
pub(super) fn build_deps_of(
    cache: &ArtifactCache,
    named: &[NamedArtifact],
) -> Result<Vec<NamedArtifact>> {
    let mut names: Vec<String> = Vec::new();
    for a in named.iter().filter_map(|n| n.artifact.as_ref()) {
        for d in &a.build_deps {
            let name =
                crate::artifact::artifact_name(&d.project_name, &d.element_name, &d.cache_key);
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    load_named(cache, &names)
}

/// Reads the named artifacts; names of one artifact (its strong and weak key) give one.
pub(super) fn load_named(cache: &ArtifactCache, names: &[String]) -> Result<Vec<NamedArtifact>> {
    let mut out: Vec<NamedArtifact> = Vec::new();
    for name in names {
        let artifact = cache.lookup_ref(name)?;
        let mut named = NamedArtifact {
            name: name.clone(),
            artifact,
        };
        if let Some(a) = &named.artifact {
            named.name = format!("{}/{}", named.prefix(), a.strong_key);
        }
        if !out.iter().any(|n| n.name == named.name) {
            out.push(named);
        }
    }
    Ok(out)
}

/// The artifact an element uses (strict key, or in non-strict mode the weak key too), if
/// it is cached (failed builds included).
pub(super) fn lookup_artifact(
    strict: bool,
    cache: &ArtifactCache,
    p: &Pipeline,
    id: crate::loader::ElementId,
) -> std::result::Result<Option<crate::cas::proto::bst::Artifact>, crate::artifact::ArtifactError> {
    let mode = crate::scheduler::state::Mode {
        strict,
        build: false,
        retry_failed: false,
    };
    crate::scheduler::state::lookup(p, cache, id, mode)
}

/// The artifact an element uses (strict key, or in non-strict mode the weak key too).
fn lookup(
    strict: bool,
    cache: &ArtifactCache,
    p: &Pipeline,
    id: crate::loader::ElementId,
) -> Result<crate::cas::proto::bst::Artifact> {
    let el = &p.elements[&id];
    let key = p.keys[&id]
        .strict
        .clone()
        .ok_or_else(|| anyhow!("{}: no cache key (a source has no ref)", el.name))?;
    lookup_artifact(strict, cache, p, id)?.ok_or_else(|| {
        anyhow!(
            "Artifact not cached: {}",
            crate::artifact::artifact_name(&el.project_name, &el.name, &key)
        )
    })
}

/// `artifact log`, `list-contents`, `show` and `delete`, for the elements of `p` (with the
/// strict mode) and the named artifacts: read the cache directly.
fn artifact_run(
    cmd: &ArtifactCommand,
    p: Option<(&Pipeline, bool)>,
    cache: &ArtifactCache,
    named: &[NamedArtifact],
) -> Result<()> {
    match cmd {
        ArtifactCommand::Show { deps, .. } => return artifact_show(p, cache, *deps, named),
        ArtifactCommand::Delete { deps, .. } => return artifact_delete(p, cache, *deps, named),
        _ => {}
    }
    let found = super::query_cache(|| {
        let mut found = Vec::new();
        if let Some((p, strict)) = p {
            for &id in &p.targets {
                found.push((p.elements[&id].name.clone(), lookup(strict, cache, p, id)?));
            }
        }
        for n in named {
            let a = n
                .artifact
                .clone()
                .ok_or_else(|| anyhow!("Artifact not cached: {}", n.name))?;
            found.push((n.name.clone(), a));
        }
        Ok::<_, anyhow::Error>(found)
    })?;
    match cmd {
        // Handed off before.
        ArtifactCommand::Checkout(_)
        | ArtifactCommand::Show { .. }
        | ArtifactCommand::Delete { .. } => {
            unreachable!("run elsewhere")
        }
        ArtifactCommand::Log { .. } => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            for (_, a) in &found {
                for log in &a.logs {
                    let bytes = cache.read_blob(&log.digest.clone().unwrap_or_default())?;
                    out.write_all(&bytes)?;
                }
            }
        }
        ArtifactCommand::ListContents { long, .. } => {
            // BuildStream's pretty_print_element_contents: each element's indented name and
            // tab-indented paths, then one blank line after them all.
            for (name, a) in &found {
                println!("  {name}:");
                let contents = cache.list_contents(&a.files.clone().unwrap_or_default())?;
                if contents.is_empty() {
                    println!("\tThis element has no associated artifacts");
                }
                for c in contents {
                    match long {
                        true => println!("\t{}", c.long()),
                        false => println!("\t{}", c.path),
                    }
                }
            }
            println!();
        }
    }
    Ok(())
}

/// The elements `deps` selects from the targets (`none`: the targets).
fn artifact_selection(p: &Pipeline, deps: super::Deps) -> Vec<ElementId> {
    match deps {
        super::Deps::None => p.targets.clone(),
        deps => p.dependencies(&p.targets, super::scope_of(deps)),
    }
}

/// `artifact delete`: the refs of each selected element's strong and weak keys are removed,
/// each reported (`Removed: <ref>`), or warned about when there is none; BuildStream goes
/// through them in no particular order, bst-rs in the selection's, strong key first.
fn artifact_delete(
    p: Option<(&Pipeline, bool)>,
    cache: &ArtifactCache,
    deps: super::Deps,
    named: &[NamedArtifact],
) -> Result<()> {
    super::query_cache(|| Ok::<(), anyhow::Error>(()))?;
    let mut refs: Vec<String> = Vec::new();
    let mut add = |name: String| {
        if !refs.contains(&name) {
            refs.push(name);
        }
    };
    if let Some((p, _)) = p {
        for id in artifact_selection(p, deps) {
            let el = &p.elements[&id];
            let keys = &p.keys[&id];
            for key in [&keys.strict, &keys.weak].into_iter().flatten() {
                add(crate::artifact::artifact_name(
                    &el.project_name,
                    &el.name,
                    key,
                ));
            }
        }
    }
    // A named artifact's refs: its strong and weak key's.
    for n in named {
        match &n.artifact {
            Some(a) => {
                for key in [&a.strong_key, &a.weak_key] {
                    add(format!("{}/{key}", n.prefix()));
                }
            }
            None => add(n.name.clone()),
        }
    }
    let mut removed = false;
    for name in &refs {
        match cache.remove_ref(name) {
            Ok(true) => {
                crate::scheduler::info(&format!("Removed: {name}"));
                removed = true;
            }
            Ok(false) => {
                crate::scheduler::warning(None, &format!("Could not find ref '{name}'"), None)
            }
            Err(e) => crate::scheduler::warning(
                None,
                &format!("System error while removing ref '{name}': {e}"),
                None,
            ),
        }
    }
    if !removed {
        crate::scheduler::info("No artifacts were removed");
    }
    Ok(())
}

/// `artifact show`: each selected element's artifact state, as BuildStream's
/// `show_state_of_artifacts` words it (`cached`, `failed`, or `not cached`: there are no
/// remote caches here to make one `available`), then a blank line.
fn artifact_show(
    p: Option<(&Pipeline, bool)>,
    cache: &ArtifactCache,
    deps: super::Deps,
    named: &[NamedArtifact],
) -> Result<()> {
    let state = |a: Option<&crate::cas::proto::bst::Artifact>| match a {
        Some(a) if a.build_success => "cached",
        Some(_) => "failed",
        None => "not cached",
    };
    let lines = super::query_cache(|| {
        let mut lines: Vec<(&str, String)> = Vec::new();
        if let Some((p, strict)) = p {
            for id in artifact_selection(p, deps) {
                let found = match p.keys[&id].strict {
                    Some(_) => lookup_artifact(strict, cache, p, id)?,
                    None => None,
                };
                lines.push((state(found.as_ref()), p.elements[&id].full_name.clone()));
            }
        }
        for n in named {
            lines.push((state(n.artifact.as_ref()), n.name.clone()));
        }
        Ok::<_, anyhow::Error>(lines)
    })?;
    let mut report = String::new();
    for (state, name) in lines {
        report += &format!("{state:>12} {name}\n");
    }
    println!("{report}");
    Ok(())
}
