//! How each element kind becomes an artifact.
//!
//! Everything is staged as CAS trees ([`crate::cas::tree::Dir`]), never on disk: dependency
//! artifacts are merged at their layout locations, sources at `%{build-root}`, then one batched
//! action per phase runs in the sandbox and the output tree is the artifact's `files`.
//! BuildStream's order is kept: stage dependencies (sorted locations, staging order), run the
//! integration commands of everything staged at `/`, stage sources, run the commands.

use crate::artifact::ArtifactCache;
use crate::cas::proto::reapi::{Digest, Directory};
use crate::cas::tree::{Dir, ImportResult};
use crate::cas::{Cas, CasError, ReadDirectory};
use crate::element::kinds::Assembly;
use crate::element::{Element, ElementDetails, SandboxConfig};
use crate::graph::{Pipeline, Scope};
use crate::loader::ElementId;
use crate::sandbox::{Batch, BatchCommand, Run, Runner, SandboxError};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod log;
mod overlaps;
pub mod split;

pub use log::{indented_detail, Echo, JobMessage, Log, Started};

/// Errors while assembling (not command failures, which are [`Assembled::result`]).
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// CAS trouble.
    #[error(transparent)]
    Cas(#[from] CasError),
    /// The sandbox could not run.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The kind cannot be built (yet).
    #[error("{0}")]
    Unsupported(String),
    /// Bad configuration found while building.
    #[error("{0}")]
    Config(String),
    /// A source could not be staged.
    #[error("{0}")]
    Source(String),
    /// Log file I/O.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// The staged artifacts lack the command a batch starts with (BuildStream's
    /// `missing-command`, checked before every sandbox run).
    #[error("Staged artifacts do not provide command '{0}'")]
    MissingCommand(String),
    /// A batch failed while staging (the integration of a BuildElement's or a script
    /// element's dependencies), where BuildStream does not cache the failure.
    #[error("Command failed")]
    CommandFailed,
    /// A warning the project makes fatal (`fatal-warnings:`): `[token]: brief` and its detail,
    /// as BuildStream's `Plugin.warn` raises it.
    #[error("{0}")]
    FatalWarning(String),
}

/// Result of this layer.
pub type Result<T> = std::result::Result<T, AssembleError>;

/// What an assembly produced.
pub struct Assembled {
    /// The collected files.
    pub files: Option<Digest>,
    /// Success, or BuildStream's (description, detail) of the failure.
    pub result: std::result::Result<(), (String, String)>,
    /// Public data to store when the assembly changed it (a filter's `pass-integration`).
    pub public: Option<crate::yaml::Node>,
    /// The error BuildStream raises after caching the artifact, when the directory to collect
    /// was never made (a BuildElement that ran no command): the job fails, the artifact stays.
    pub uncollected: Option<String>,
}

impl Assembled {
    fn ok(files: Digest) -> Assembled {
        Assembled {
            files: Some(files),
            result: Ok(()),
            public: None,
            uncollected: None,
        }
    }

    fn failed(files: Option<Digest>, description: &str, detail: String) -> Assembled {
        Assembled {
            files,
            result: Err((description.to_owned(), detail)),
            public: None,
            uncollected: None,
        }
    }
}

/// What assembling needs from the build session.
pub struct BuildEnv<'a> {
    /// The loaded pipeline (elements must have details).
    pub pipeline: &'a Pipeline,
    /// casd.
    pub cas: &'a Cas,
    /// The sandbox runner.
    pub runner: &'a Runner,
    /// The artifact cache.
    pub artifacts: &'a ArtifactCache,
    /// Files trees of dependency artifacts (cached or built in this session).
    pub files: &'a HashMap<ElementId, Digest>,
    /// Scratch space for staging sources.
    pub tmpdir: &'a Path,
    /// The element's staged sources, from the source cache (None: it has none).
    pub sources: Option<&'a Digest>,
    /// CPU priority of its sandboxed commands (see [`Run::nice`]).
    pub nice: i32,
}

impl BuildEnv<'_> {
    /// What running commands needs of it.
    fn exec(&self) -> Exec<'_> {
        Exec {
            cas: self.cas,
            runner: self.runner,
            nice: self.nice,
        }
    }
}

/// What running a batch of commands in a sandbox needs: casd, the runner, a CPU priority.
#[derive(Clone, Copy)]
pub struct Exec<'a> {
    /// casd.
    pub cas: &'a Cas,
    /// The sandbox runner.
    pub runner: &'a Runner,
    /// CPU priority of the commands (see [`Run::nice`]).
    pub nice: i32,
}

fn details(el: &Element) -> Result<&ElementDetails> {
    el.details
        .as_deref()
        .ok_or_else(|| AssembleError::Config(format!("{}: element details not loaded", el.name)))
}

fn variable<'a>(d: &'a ElementDetails, name: &str) -> Option<&'a str> {
    d.variables
        .iter()
        .find(|(k, _)| &**k == name)
        .map(|(_, v)| &**v)
}

/// Builds one element.
pub async fn assemble(env: &BuildEnv<'_>, id: ElementId, log: &mut Log) -> Result<Assembled> {
    let el = &env.pipeline.elements[&id];
    let kind = crate::element::kinds::lookup(&el.kind).map(|k| k.assembly());
    match kind {
        Some(Assembly::Build) => build_element(env, el, log).await,
        Some(Assembly::Import) => import_element(env, el, log).await,
        Some(Assembly::Stack) => Ok(Assembled::ok(
            env.cas.put_message(&Directory::default()).await?,
        )),
        Some(Assembly::Compose) => compose_element(env, el, log).await,
        Some(Assembly::Filter) => filter_element(env, el, log).await,
        Some(Assembly::Script) => script_element(env, el, log).await,
        Some(Assembly::Nothing) => Err(AssembleError::Unsupported(format!(
            "{}: '{}' elements are not built",
            el.full_name, el.kind
        ))),
        _ => Err(AssembleError::Unsupported(format!(
            "{}: building '{}' elements is not supported by bst-rs yet",
            el.full_name, el.kind
        ))),
    }
}

/// Stages the artifacts of `selection` and their runtime dependencies (staging order) at
/// `location` in `root` for `owner`, as one session of its overlap collection: its warnings
/// are raised (see [`warn`]) at the end.
fn stage_artifacts(
    env: &BuildEnv<'_>,
    owner: &Element,
    overlaps: &mut overlaps::Collector,
    root: &mut Dir,
    selection: &[ElementId],
    location: &str,
    log: &mut Log,
) -> Result<()> {
    let cas = env.cas;
    let at = root.open_dir(cas, location)?;
    let mut session = overlaps::Collector::session(location);
    let dirs = overlaps::Memo::new(cas);
    for dep in env.pipeline.dependencies(selection, Scope::Run) {
        let files = env.files.get(&dep).ok_or_else(|| {
            AssembleError::Config(format!(
                "artifact of {} is not available",
                env.pipeline.elements[&dep].full_name
            ))
        })?;
        let mut result = ImportResult::default();
        at.import(cas, Dir::from_digest(files.clone()), &mut result)?;
        session.collect(&dirs, dep, files, result)?;
    }
    for w in overlaps.finish(session, env.pipeline, &dirs)? {
        warn(env.pipeline, owner, w, log)?;
    }
    Ok(())
}

/// An element's warning (`Plugin.warn`): an error if its project makes the token fatal, else
/// a `WARNING [token]: brief` message with its detail.
fn warn(p: &Pipeline, el: &Element, w: overlaps::Warning, log: &mut Log) -> Result<()> {
    let brief = format!("[{}]: {}", w.token, w.brief);
    let project = p.ctx.elements[el.id].project;
    if p.ctx.projects[project]
        .fatal_warnings
        .iter()
        .any(|t| t == w.token)
    {
        return Err(AssembleError::FatalWarning(format!(
            "{brief}\n{}",
            w.detail
        )));
    }
    log.warning(&brief, &w.detail);
    Ok(())
}

/// [`sources_tree`], as BuildStream's `Staging sources` activity.
async fn stage_sources(env: &BuildEnv<'_>, el: &Element, log: &mut Log) -> Result<Dir> {
    let activity = log.start("Staging sources");
    let tree = sources_tree(env, el).await;
    log.end(activity, tree.is_ok());
    tree
}

/// The element's sources as one tree (each at its `directory:`): the tree its fetch job
/// stored in the source cache (see [`crate::sourcecache`]).
async fn sources_tree(env: &BuildEnv<'_>, el: &Element) -> Result<Dir> {
    match env.sources {
        Some(d) => Ok(Dir::from_digest(d.clone())),
        None if el.sources.is_empty() => Ok(Dir::default()),
        None => Err(AssembleError::Source(format!(
            "{}: the element's sources are not in the source cache",
            el.full_name
        ))),
    }
}

/// Uploads the changed directories of `root` and returns its digest.
async fn seal(cas: &Cas, root: Dir) -> Result<Digest> {
    let mut blobs = Vec::new();
    let digest = root.seal(&mut blobs);
    cas.put_blobs(blobs).await?;
    Ok(digest)
}

fn platform(sandbox: &SandboxConfig) -> Vec<(String, String)> {
    let mut p = vec![
        ("OSFamily".to_owned(), sandbox.build_os.clone()),
        ("ISA".to_owned(), sandbox.build_arch.clone()),
    ];
    if let Some(uid) = sandbox.build_uid {
        p.push(("unixUID".into(), uid.to_string()));
    }
    if let Some(gid) = sandbox.build_gid {
        p.push(("unixGID".into(), gid.to_string()));
    }
    p
}

/// Ensures the directories every sandbox run needs exist in `root`.
fn make_dirs(cas: &Cas, root: &mut Dir, dirs: &[&str]) -> Result<()> {
    for d in dirs {
        root.open_dir(cas, d)?;
    }
    Ok(())
}

/// Where each build dependency is staged and which digest-environment variables name it.
type Layout = (
    BTreeMap<String, Vec<ElementId>>,
    BTreeMap<String, Vec<ElementId>>,
);

fn layout(el: &Element, d: &ElementDetails) -> Result<Layout> {
    let mut layout: BTreeMap<String, Vec<ElementId>> = BTreeMap::new();
    let mut digest_env: BTreeMap<String, Vec<ElementId>> = BTreeMap::new();
    for &dep in &el.build_deps {
        let configs: Vec<_> = d.dep_configs.iter().filter(|(id, _)| *id == dep).collect();
        if configs.is_empty() {
            layout.entry("/".into()).or_default().push(dep);
        }
        for (_, c) in configs {
            let bad = |e: crate::yaml::LoadError| AssembleError::Config(e.to_string());
            let location = c.get_str("location").map_err(bad)?.unwrap_or("/");
            layout.entry(location.to_owned()).or_default().push(dep);
            if let Some(var) = c.get_str("digest-environment").map_err(bad)? {
                digest_env.entry(var.to_owned()).or_default().push(dep);
            }
        }
    }
    Ok((layout, digest_env))
}

/// One dependency's integration commands, with the environment they run in (its own).
pub struct Integration {
    /// `bst: integration-commands`.
    pub commands: Vec<String>,
    /// The element's environment.
    pub env: Vec<(String, String)>,
}

/// `bst: integration-commands` of an element as its artifact's public data has them: a filter
/// with `pass-integration` puts its dependency's commands before its own.
pub fn integration_commands_of(pipeline: &Pipeline, id: ElementId) -> Vec<String> {
    let el = &pipeline.elements[&id];
    let Some(d) = el.details.as_deref() else {
        return Vec::new();
    };
    let own = d
        .public
        .get("bst")
        .and_then(|b| b.get_str_list("integration-commands").ok())
        .unwrap_or_default();
    let passes = crate::element::kinds::lookup(&el.kind).map(|k| k.assembly())
        == Some(Assembly::Filter)
        && d.config
            .get_bool("pass-integration", false)
            .unwrap_or(false);
    match (passes, el.build_deps.first()) {
        (true, Some(&dep)) => {
            let mut cmds = integration_commands_of(pipeline, dep);
            cmds.extend(own);
            cmds
        }
        _ => own,
    }
}

/// The public data an element's artifact stores (see [`integration_commands_of`]).
fn dynamic_public(
    env: &BuildEnv<'_>,
    el: &Element,
    d: &ElementDetails,
) -> Option<crate::yaml::Node> {
    let cmds = integration_commands_of(env.pipeline, el.id);
    let own = d
        .public
        .get("bst")
        .and_then(|b| b.get_str_list("integration-commands").ok())
        .unwrap_or_default();
    if cmds == own {
        return None;
    }
    let prov = d.public.prov;
    let mut public = d.public.clone();
    let mut bst = public
        .get("bst")
        .cloned()
        .unwrap_or_else(|| crate::yaml::Node::empty_map(prov));
    let list = cmds
        .into_iter()
        .map(|c| crate::yaml::Node::scalar(c, prov))
        .collect();
    bst.insert("integration-commands", crate::yaml::Node::seq(list, prov));
    public.insert("bst", bst);
    Some(public)
}

/// The integration commands of `elements` (in this order) that have any, each with the
/// environment it runs in.
fn integration_commands(pipeline: &Pipeline, elements: &[ElementId]) -> Result<Vec<Integration>> {
    let mut out = Vec::new();
    for &id in elements {
        let el = &pipeline.elements[&id];
        let Some(d) = el.details.as_deref() else {
            continue;
        };
        let commands = integration_commands_of(pipeline, id);
        if commands.is_empty() {
            continue;
        }
        out.push(Integration {
            commands,
            env: sandbox_env(el, d)?,
        });
    }
    Ok(out)
}

/// An element's environment as its sandbox takes it: a variable whose value is a mapping
/// or a list (which BuildStream accepts when it only computes keys) cannot be set.
fn sandbox_env(el: &Element, d: &ElementDetails) -> Result<Vec<(String, String)>> {
    crate::element::sandbox_environment(&d.environment).map_err(|name| {
        AssembleError::Config(format!(
            "{}: environment variable '{name}' is not a string",
            el.name
        ))
    })
}

/// The integration batch of `elements` (`sh -e -c COMMAND` at `/`, each in its element's
/// environment, in this order); empty when none of them has integration commands.
pub fn integration_batch(pipeline: &Pipeline, elements: &[ElementId]) -> Result<Batch> {
    Ok(batch_of(integration_commands(pipeline, elements)?))
}

/// The batch that runs these integration commands (`sh -e -c COMMAND` at `/`), in order.
pub fn batch_of(integrations: Vec<Integration>) -> Batch {
    let mut batch = Batch::default();
    for i in integrations {
        for cmd in i.commands {
            batch.command(BatchCommand {
                argv: vec!["sh".into(), "-e".into(), "-c".into(), cmd.clone()],
                cwd: "/".into(),
                env: i.env.clone(),
                label: cmd,
            });
        }
    }
    batch
}

/// Runs the integration commands of `deps` and their runtime dependencies (staging order)
/// over `root` (whole root in, whole root out). Returns the integrated root, or the exit code
/// of a failed batch.
async fn integrate(
    env: &BuildEnv<'_>,
    d: &ElementDetails,
    root: Dir,
    deps: &[ElementId],
    socket: Option<&ReapiSocket>,
    log: &mut Log,
) -> Result<std::result::Result<Dir, i32>> {
    let elements = env.pipeline.dependencies(deps, Scope::Run);
    run_integration(
        env.exec(),
        &d.sandbox,
        root,
        integration_batch(env.pipeline, &elements)?,
        socket,
        log,
    )
    .await
}

/// Runs an integration batch over `root` in a sandbox configured by `sandbox`, as
/// `artifact checkout` integrates the artifacts it stages. Returns the integrated root (with
/// the `dev`, `proc` and `tmp` directories every run has), or the exit code of a failed batch.
pub async fn integrate_staged(
    exec: Exec<'_>,
    sandbox: &SandboxConfig,
    root: Dir,
    batch: Batch,
    log: &mut Log,
) -> Result<std::result::Result<Dir, i32>> {
    run_integration(exec, sandbox, root, batch, None, log).await
}

async fn run_integration(
    exec: Exec<'_>,
    sandbox: &SandboxConfig,
    root: Dir,
    batch: Batch,
    socket: Option<&ReapiSocket>,
    log: &mut Log,
) -> Result<std::result::Result<Dir, i32>> {
    if batch.is_empty() {
        return Ok(Ok(root));
    }
    let mut root = root;
    make_dirs(exec.cas, &mut root, &["dev", "proc", "tmp"])?;
    let digest = seal(exec.cas, root).await?;
    match run_batch(exec, sandbox, digest, batch, vec!["/".into()], socket, log).await? {
        Some((0, outs)) => Ok(Ok(Dir::from_digest(outs[0].clone()))),
        Some((code, _)) => Ok(Err(code)),
        None => Err(AssembleError::Config("empty integration batch".into())),
    }
}

/// The element's `remote-apis-socket`: bst-rs's REAPI proxy in front of casd, on a socket in a
/// fresh host directory that is bind-mounted onto the socket's parent directory (which must
/// exist in the staged root), so FUSE staging keeps working.
struct ReapiSocket {
    proxy: crate::sandbox::proxy::ProxyHandle,
    mount: (PathBuf, String),
    hostdir: PathBuf,
}

impl ReapiSocket {
    async fn start(env: &BuildEnv<'_>, d: &ElementDetails, root: &mut Dir) -> Result<Option<Self>> {
        let Some(path) = &d.sandbox.remote_apis_socket else {
            return Ok(None);
        };
        let path = path.trim_end_matches('/');
        let (parent, name) = match path.rsplit_once('/') {
            Some((p, n)) if !n.is_empty() => (if p.is_empty() { "/" } else { p }, n),
            _ => {
                return Err(AssembleError::Config(format!(
                    "remote-apis-socket: path '{path}' must be an absolute file path"
                )))
            }
        };
        root.open_dir(env.cas, parent)?;
        let hostdir = unique_dir(env.tmpdir, "reapi")?;
        let proxy = crate::sandbox::proxy::serve(
            env.runner.casd_socket(),
            &hostdir,
            name,
            d.sandbox.action_cache_enable_update,
        )
        .await
        .map_err(|e| AssembleError::Config(format!("remote-apis-socket: {e}")))?;
        Ok(Some(ReapiSocket {
            proxy,
            mount: (hostdir.clone(), parent.to_owned()),
            hostdir,
        }))
    }

    /// Stops the proxy and logs what went through it.
    async fn finish(self, log: &mut Log) {
        use crate::sandbox::proxy::CallKind;
        let records = self.proxy.shutdown().await;
        let count = |k: CallKind| records.iter().filter(|r| r.kind == k).count();
        let hits = records.iter().filter(|r| r.hit() == Some(true)).count();
        log.line(&format!(
            "remote-apis-socket: {} action cache lookups ({hits} hits), {} updates, {} executions",
            count(CallKind::GetActionResult),
            count(CallKind::UpdateActionResult),
            count(CallKind::Execute)
        ));
        for r in &records {
            log.line(&format!(
                "  {:?} {} {:?}",
                r.kind,
                crate::cas::digest_str(&r.action),
                r.status
            ));
        }
        let _ = std::fs::remove_dir_all(&self.hostdir);
    }
}

/// A new empty directory under `base`.
fn unique_dir(base: &Path, prefix: &str) -> Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    std::fs::create_dir_all(base).map_err(|e| AssembleError::Io(base.into(), e))?;
    loop {
        let dir = base.join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(AssembleError::Io(dir, e)),
        }
    }
}

/// `Sandbox._has_command`: whether `command` resolves in the staged `root`: an absolute path
/// that exists there (symlinks followed), or a bare name in one of the directories of the
/// environment's `PATH`.
fn has_command(
    cas: &impl ReadDirectory,
    dir: &mut Dir,
    command: &str,
    env: &[(String, String)],
) -> Result<bool> {
    if command.starts_with('/') {
        return Ok(dir.exists_following(cas, command.trim_start_matches('/'))?);
    }
    if command.contains('/') {
        return Ok(false);
    }
    let Some((_, path)) = env.iter().find(|(k, _)| k == "PATH") else {
        return Ok(false);
    };
    for p in path.split(':') {
        // os.path.join(p, command)
        let joined = if p.is_empty() || p.ends_with('/') {
            format!("{p}{command}")
        } else {
            format!("{p}/{command}")
        };
        if dir.exists_following(cas, joined.trim_start_matches('/'))? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Seals `root` read-only except at the absolute sandbox paths `writable`, as BuildStream's
/// `root_read_only` runs are: the root carries the `SubtreeReadOnly` node property
/// buildbox-run honours, and each writable directory (created when missing) carries it
/// set to false.
async fn seal_read_only(cas: &Cas, mut root: Dir, writable: &[&str]) -> Result<Digest> {
    let mut props = BTreeMap::new();
    props.insert(String::new(), true);
    for dir in writable {
        let rel = dir.trim_matches('/').to_owned();
        root.open_dir(cas, &rel)?.entries(cas)?;
        props.insert(rel, false);
    }
    root.entries(cas)?;
    let mut blobs = Vec::new();
    let digest = root.seal_with(&props, "", &mut blobs);
    cas.put_blobs(blobs).await?;
    Ok(digest)
}

/// Runs an element's command batch over `root` (in `assemble()`, where BuildStream caches a
/// sandbox error as a failed build) and collects `install_root` as the element's files: how
/// BuildElements and script elements end. A command that exits non-zero, or one the staged
/// root does not provide, is a failed build.
async fn run_commands(
    env: &BuildEnv<'_>,
    d: &ElementDetails,
    root: Digest,
    batch: Batch,
    install_root: &str,
    socket: Option<&ReapiSocket>,
    log: &mut Log,
) -> Result<Assembled> {
    let ran = run_batch(
        env.exec(),
        &d.sandbox,
        root,
        batch,
        vec![install_root.to_owned()],
        socket,
        log,
    )
    .await;
    let (code, outs) = match ran {
        Ok(Some(ran)) => ran,
        Ok(None) => return Err(AssembleError::Config("empty command batch".into())),
        Err(e @ AssembleError::MissingCommand(_)) => {
            return Ok(Assembled::failed(None, &e.to_string(), String::new()))
        }
        Err(e) => return Err(e),
    };
    let files = outs.into_iter().next();
    if code != 0 {
        return Ok(Assembled::failed(files, "Command failed", String::new()));
    }
    Ok(Assembled {
        files,
        result: Ok(()),
        public: None,
        uncollected: None,
    })
}

/// The command a batch would run that `root` does not provide (see [`has_command`]), if any:
/// the check the sandbox makes before every run, made before a sandbox is even started.
pub fn missing_command(
    store: &impl ReadDirectory,
    root: &mut Dir,
    batch: &Batch,
) -> Result<Option<String>> {
    let Some(env) = batch.environment() else {
        return Ok(None);
    };
    let command = "sh";
    Ok((!has_command(store, root, command, env)?).then(|| command.to_owned()))
}

/// Runs a batch in the sandbox, once the staged root is checked to provide its command;
/// returns the exit code and the output trees.
async fn run_batch(
    exec: Exec<'_>,
    sandbox: &SandboxConfig,
    root: Digest,
    batch: Batch,
    outputs: Vec<String>,
    socket: Option<&ReapiSocket>,
    log: &mut Log,
) -> Result<Option<(i32, Vec<Digest>)>> {
    let labels = batch.combined_label();
    let Some(cmd) = batch.finish() else {
        return Ok(None);
    };
    let activity = log.start_commands(&labels);
    let ran: Result<(i32, Vec<Digest>)> = async {
        if !has_command(
            exec.cas,
            &mut Dir::from_digest(root.clone()),
            &cmd.argv[0],
            &cmd.env,
        )? {
            return Err(AssembleError::MissingCommand(cmd.argv[0].clone()));
        }
        let run = Run {
            input_root: root,
            argv: cmd.argv,
            cwd: cmd.cwd,
            env: cmd.env,
            outputs,
            platform: platform(sandbox),
            bind_mounts: socket.map(|s| s.mount.clone()).into_iter().collect(),
            nice: exec.nice,
        };
        let outcome = exec.runner.run(exec.cas, &run, log.path()).await?;
        log.line(&format!(
            "[action {}] exit code {}",
            crate::cas::digest_str(&outcome.action),
            outcome.exit_code
        ));
        Ok((
            outcome.exit_code,
            outcome.outputs.into_iter().map(|(_, d)| d).collect(),
        ))
    }
    .await;
    log.end(activity, matches!(ran, Ok((0, _))));
    ran.map(Some)
}

async fn build_element(env: &BuildEnv<'_>, el: &Element, log: &mut Log) -> Result<Assembled> {
    let cas = env.cas;
    let d = details(el)?;
    let mut vars = sandbox_env(el, d)?;

    let (layout, digest_env) = layout(el, d)?;
    // digest-environment: each variable names the digest of its dependencies staged alone.
    for (var, deps) in &digest_env {
        let mut sub = Dir::default();
        let mut overlaps = overlaps::Collector::default();
        stage_artifacts(env, el, &mut overlaps, &mut sub, deps, "/", log)?;
        let digest = seal(cas, sub).await?;
        let value = crate::cas::digest_str(&digest);
        match vars.iter_mut().find(|(k, _)| k == var) {
            Some(slot) => slot.1 = value,
            None => vars.push((var.clone(), value)),
        }
    }

    let mut root = Dir::default();
    let mut overlaps = overlaps::Collector::default();
    for (location, deps) in &layout {
        let activity = log.start(&format!("Staging dependencies at: {location}"));
        let staged = stage_artifacts(env, el, &mut overlaps, &mut root, deps, location, log);
        log.end(activity, staged.is_ok());
        staged?;
    }
    make_dirs(cas, &mut root, &["dev", "proc", "tmp"])?;
    let socket = ReapiSocket::start(env, d, &mut root).await?;
    let result = build_in(env, el, d, root, &vars, &layout, socket.as_ref(), log).await;
    if let Some(s) = socket {
        s.finish(log).await;
    }
    result
}

/// The part of a BuildElement build that runs in the sandbox (integration, commands).
#[allow(clippy::too_many_arguments)]
async fn build_in(
    env: &BuildEnv<'_>,
    el: &Element,
    d: &ElementDetails,
    mut root: Dir,
    vars: &[(String, String)],
    layout: &BTreeMap<String, Vec<ElementId>>,
    socket: Option<&ReapiSocket>,
    log: &mut Log,
) -> Result<Assembled> {
    let cas = env.cas;
    let build_root = variable(d, "build-root")
        .unwrap_or("/buildstream/build")
        .to_owned();
    let install_root = variable(d, "install-root")
        .unwrap_or("/buildstream-install")
        .to_owned();
    let command_dir = match variable(d, "command-subdir").filter(|s| !s.is_empty()) {
        Some(sub) => format!("{}/{}", build_root.trim_end_matches('/'), sub),
        None => build_root.clone(),
    };
    let vars = vars.to_vec();

    // Integration of everything staged at `/`, in one batch; the whole root is its output.
    // BuildStream integrates while staging, outside the part of a build whose failure is
    // cached: a failure here caches nothing.
    if let Some(at_root) = layout.get("/") {
        let activity = log.start("Integrating sandbox");
        let integrated = integrate(env, d, root, at_root, socket, log).await;
        log.end(activity, matches!(integrated, Ok(Ok(_))));
        match integrated? {
            Ok(integrated) => root = integrated,
            Err(code) => {
                log.line(&format!("integration commands exited with code {code}"));
                return Err(AssembleError::CommandFailed);
            }
        }
    }

    let sources = stage_sources(env, el, log).await?;
    root.open_dir(cas, &build_root)?
        .import(cas, sources, &mut ImportResult::default())?;
    make_dirs(
        cas,
        &mut root,
        &[&command_dir, &install_root, "dev", "proc", "tmp"],
    )?;

    let mut batch = Batch::default();
    for step in [
        "configure-commands",
        "build-commands",
        "install-commands",
        "strip-commands",
    ] {
        let cmds = d
            .config
            .get_str_list(step)
            .map_err(|e| AssembleError::Config(e.to_string()))?;
        for cmd in cmds {
            batch.command(BatchCommand {
                argv: vec!["sh".into(), "-c".into(), "-e".into(), format!("{cmd}\n")],
                cwd: command_dir.clone(),
                env: vars.clone(),
                label: cmd,
            });
        }
    }
    // BuildStream runs BuildElement commands with a read-only root: only the build root,
    // the install root, /dev, /proc and /tmp are writable.
    let root = seal_read_only(
        cas,
        root,
        &[&build_root, &install_root, "/dev", "/proc", "/tmp"],
    )
    .await?;
    if batch.is_empty() {
        // Nothing ran, so the sandbox never made the install root: BuildStream caches an
        // artifact without files, then fails the job for want of the directory.
        return Ok(Assembled {
            files: None,
            result: Ok(()),
            public: None,
            uncollected: Some(format!(
                "Directory '{install_root}' was not found inside the sandbox, unable to collect \
                 artifact contents"
            )),
        });
    }
    batch.clean_directory(&build_root);
    let mut assembled = run_commands(env, d, root, batch, &install_root, socket, log).await?;
    if assembled.result.is_err() {
        // BuildElement's batch names no directory to collect on failure (a script element's
        // does): its failed artifact holds no files.
        assembled.files = None;
    }
    Ok(assembled)
}

async fn import_element(env: &BuildEnv<'_>, el: &Element, log: &mut Log) -> Result<Assembled> {
    let cas = env.cas;
    let d = details(el)?;
    let bad = |e: crate::yaml::LoadError| AssembleError::Config(e.to_string());
    let source = d
        .config
        .get_str("source")
        .map_err(bad)?
        .unwrap_or("/")
        .to_owned();
    let target = d
        .config
        .get_str("target")
        .map_err(bad)?
        .unwrap_or("/")
        .to_owned();
    // As `ImportElement.assemble()`: the sources staged at `input`, the source directory
    // opened in them (an error that is not cached as a failure), then an empty one refused.
    let mut staged = stage_sources(env, el, log).await?;
    let mut picked = match staged.open_existing(cas, &source, "/input")? {
        Ok(dir) => std::mem::take(dir),
        Err(message) => return Err(AssembleError::Config(message)),
    };
    if picked.is_empty(cas)? {
        let prov = &env.pipeline.ctx.elements[el.id].node.prov;
        return Ok(Assembled::failed(
            None,
            &format!(
                "{} element at {prov}: No files were found inside directory '{source}'",
                el.kind
            ),
            String::new(),
        ));
    }
    let mut out = Dir::default();
    out.open_dir(cas, &target)?
        .import(cas, picked, &mut ImportResult::default())?;
    Ok(Assembled::ok(seal(cas, out).await?))
}

fn str_list(d: &ElementDetails, key: &str) -> Result<Vec<String>> {
    d.config
        .get_str_list(key)
        .map_err(|e| AssembleError::Config(e.to_string()))
}

fn split_rules(el: &Element) -> Result<split::SplitRules> {
    let d = details(el)?;
    split::SplitRules::from_public(&d.public)
        .map_err(|e| AssembleError::Config(format!("{}: {e}", el.full_name)))
}

/// `compose`: stages the build dependencies, integrates them when asked, and keeps the files
/// of the selected split domains (plus what integration added, minus what it removed).
async fn compose_element(env: &BuildEnv<'_>, el: &Element, log: &mut Log) -> Result<Assembled> {
    let cas = env.cas;
    let d = details(el)?;
    let bad = |e: crate::yaml::LoadError| AssembleError::Config(e.to_string());
    let integration = d.config.get_bool("integrate", true).map_err(bad)?;
    let include = str_list(d, "include")?;
    let exclude = str_list(d, "exclude")?;
    let orphans = d.config.get_bool("include-orphans", true).map_err(bad)?;
    let deps = env.pipeline.dependencies(&el.build_deps, Scope::Run);

    let activity = log.start("Staging dependencies");
    let mut root = Dir::default();
    let mut overlaps = overlaps::Collector::default();
    let staged = stage_artifacts(env, el, &mut overlaps, &mut root, &el.build_deps, "/", log);
    log.end(activity, staged.is_ok());
    staged?;

    let require_split = !include.is_empty() || !exclude.is_empty() || !orphans;
    let mut manifest: std::collections::HashSet<String> = Default::default();
    if require_split {
        for &dep in &deps {
            let dep_el = &env.pipeline.elements[&dep];
            let rules = split_rules(dep_el)?;
            let filter = rules.filter(&include, &exclude, orphans);
            let files = env.files.get(&dep).cloned().ok_or_else(|| {
                AssembleError::Config(format!("artifact of {} is not available", dep_el.full_name))
            })?;
            let mut files = Dir::from_digest(files);
            for path in files.relative_paths(cas)? {
                if filter.as_ref().is_none_or(|f| f.accepts(&path)) {
                    manifest.insert(path);
                }
            }
        }
    }

    if integration {
        let snapshot: std::collections::HashSet<String> = if require_split {
            root.relative_paths(cas)?.into_iter().collect()
        } else {
            Default::default()
        };
        // Compose integrates in its assemble(): a failure is cached, as BuildStream caches it.
        match integrate(env, d, root, &el.build_deps, None, log).await {
            Ok(Ok(integrated)) => root = integrated,
            Ok(Err(code)) => {
                log.line(&format!("integration commands exited with code {code}"));
                return Ok(Assembled::failed(None, "Command failed", String::new()));
            }
            Err(e @ AssembleError::MissingCommand(_)) => {
                return Ok(Assembled::failed(None, &e.to_string(), String::new()))
            }
            Err(e) => return Err(e),
        }
        if require_split {
            let after: std::collections::HashSet<String> =
                root.relative_paths(cas)?.into_iter().collect();
            let removed: Vec<String> = manifest
                .iter()
                .filter(|p| snapshot.contains(*p) && !after.contains(*p))
                .cloned()
                .collect();
            let added: Vec<String> = after
                .iter()
                .filter(|p| !snapshot.contains(*p))
                .cloned()
                .collect();
            log.line(&format!(
                "Integration added {} and removed {} files",
                added.len(),
                removed.len()
            ));
            manifest.extend(added);
            for p in removed {
                manifest.remove(&p);
            }
        }
    }
    if !require_split {
        return Ok(Assembled::ok(seal(cas, root).await?));
    }
    log.line(&format!("Composing {} files", manifest.len()));
    let mut out = Dir::default();
    out.import_filtered(
        cas,
        root,
        &|p: &str| manifest.contains(p),
        &mut ImportResult::default(),
    )?;
    Ok(Assembled::ok(seal(cas, out).await?))
}

/// `filter`: the selected split domains of the single build dependency's artifact.
async fn filter_element(env: &BuildEnv<'_>, el: &Element, log: &mut Log) -> Result<Assembled> {
    let d = details(el)?;
    let bad = |e: crate::yaml::LoadError| AssembleError::Config(e.to_string());
    let include = str_list(d, "include")?;
    let exclude = str_list(d, "exclude")?;
    let orphans = d.config.get_bool("include-orphans", false).map_err(bad)?;
    let &[dep] = el.build_deps.as_slice() else {
        return Err(AssembleError::Config(format!(
            "{}: FilterElement element must have exactly 1 build-dependency, actually have {}",
            el.full_name,
            el.build_deps.len()
        )));
    };
    // BuildStream checks the domains as it stages the dependency: in `Staging artifact`.
    let activity = log.start("Staging artifact");
    let staged = filter_staged(env, dep, &include, &exclude, orphans, d).await;
    log.end(activity, staged.is_ok());
    let files = staged?;
    Ok(Assembled {
        files: Some(files),
        result: Ok(()),
        public: dynamic_public(env, el, d),
        uncollected: None,
    })
}

/// The filter's dependency's files that pass its domains (an error naming unknown domains).
async fn filter_staged(
    env: &BuildEnv<'_>,
    dep: ElementId,
    include: &[String],
    exclude: &[String],
    orphans: bool,
    d: &ElementDetails,
) -> Result<Digest> {
    let cas = env.cas;
    let dep_el = &env.pipeline.elements[&dep];
    let rules = split_rules(dep_el)?;
    let mut detail = Vec::new();
    for (key, list) in [("include", include), ("exclude", exclude)] {
        let unknown: Vec<&String> = list.iter().filter(|x| !rules.has_domain(x)).collect();
        if !unknown.is_empty() {
            let prov = d
                .config
                .get(key)
                .map(|n| n.prov.to_string())
                .unwrap_or_default();
            detail.push(format!("Unknown domains were used in {prov}"));
            detail.extend(unknown.iter().map(|x| format!(" - {x}")));
        }
    }
    if !detail.is_empty() {
        // An ElementError with a detail, shown indented below the message.
        return Err(AssembleError::Config(format!(
            "Unknown domains declared.{}",
            indented_detail(&detail.join("\n"))
        )));
    }
    let files = env.files.get(&dep).cloned().ok_or_else(|| {
        AssembleError::Config(format!("artifact of {} is not available", dep_el.full_name))
    })?;
    Ok(match rules.filter(include, exclude, orphans) {
        None => files,
        Some(filter) => {
            let mut out = Dir::default();
            out.import_filtered(
                cas,
                Dir::from_digest(files),
                &|p: &str| filter.accepts(p),
                &mut ImportResult::default(),
            )?;
            seal(cas, out).await?
        }
    })
}

/// `script`: stages the dependencies at their layout locations, integrates those at `/`, runs
/// the commands (the root read-only when asked) and collects `%{install-root}`.
async fn script_element(env: &BuildEnv<'_>, el: &Element, log: &mut Log) -> Result<Assembled> {
    let d = details(el)?;
    let bad = |e: crate::yaml::LoadError| AssembleError::Config(e.to_string());
    let root_read_only = d.config.get_bool("root-read-only", false).map_err(bad)?;
    let commands = str_list(d, "commands")?;
    let nonempty = |name: &str, default: &str| {
        variable(d, name)
            .filter(|v| !v.is_empty())
            .unwrap_or(default)
            .to_owned()
    };
    let cwd = nonempty("cwd", "/");
    let install_root = nonempty("install-root", "/");
    let vars = sandbox_env(el, d)?;

    let (layout, _) = layout(el, d)?;
    let mut root = Dir::default();
    let mut overlaps = overlaps::Collector::default();
    for (location, deps) in &layout {
        let activity = log.start(&format!("Staging dependencies at: {location}"));
        let staged = stage_artifacts(env, el, &mut overlaps, &mut root, deps, location, log);
        log.end(activity, staged.is_ok());
        staged?;
    }
    let socket = ReapiSocket::start(env, d, &mut root).await?;
    let result = script_in(
        env,
        d,
        root,
        &layout,
        ScriptRun {
            commands,
            cwd,
            install_root,
            root_read_only,
            vars,
        },
        socket.as_ref(),
        log,
    )
    .await;
    if let Some(s) = socket {
        s.finish(log).await;
    }
    result
}

struct ScriptRun {
    commands: Vec<String>,
    cwd: String,
    install_root: String,
    root_read_only: bool,
    vars: Vec<(String, String)>,
}

async fn script_in(
    env: &BuildEnv<'_>,
    d: &ElementDetails,
    mut root: Dir,
    layout: &BTreeMap<String, Vec<ElementId>>,
    run: ScriptRun,
    socket: Option<&ReapiSocket>,
    log: &mut Log,
) -> Result<Assembled> {
    let cas = env.cas;
    if let Some(at_root) = layout.get("/") {
        let activity = log.start("Integrating sandbox");
        let integrated = integrate(env, d, root, at_root, socket, log).await;
        log.end(activity, matches!(integrated, Ok(Ok(_))));
        match integrated? {
            Ok(integrated) => root = integrated,
            // BuildStream integrates while staging: a failure caches nothing.
            Err(code) => {
                log.line(&format!("integration commands exited with code {code}"));
                return Err(AssembleError::CommandFailed);
            }
        }
    }
    make_dirs(
        cas,
        &mut root,
        &[&run.install_root, &run.cwd, "dev", "proc", "tmp"],
    )?;

    let mut batch = Batch::default();
    for cmd in &run.commands {
        batch.command(BatchCommand {
            argv: vec!["sh".into(), "-c".into(), "-e".into(), format!("{cmd}\n")],
            cwd: run.cwd.clone(),
            env: run.vars.clone(),
            label: cmd.clone(),
        });
    }
    // Element.run_cleanup_commands: the build root goes unless it holds the install root.
    if let Some(build_root) = variable(d, "build-root") {
        let ir = &run.install_root;
        if !(build_root.starts_with(ir.as_str()) || ir.starts_with(build_root)) {
            batch.clean_directory(build_root);
        }
    }
    if batch.is_empty() {
        let mut out = root;
        let collected = match out.find_dir(cas, &run.install_root)? {
            Some(dir) => std::mem::take(dir),
            None => Dir::default(),
        };
        return Ok(Assembled::ok(seal(cas, collected).await?));
    }
    let root = if run.root_read_only {
        // BuildStream marks the root read-only and the directories commands may write to
        // writable (the `SubtreeReadOnly` node property buildbox-run honours).
        seal_read_only(cas, root, &["/dev", "/proc", "/tmp", &run.install_root]).await?
    } else {
        seal(cas, root).await?
    };
    run_commands(env, d, root, batch, &run.install_root, socket, log).await
}
