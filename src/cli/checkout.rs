//! `bst-rs artifact checkout`: BuildStream's `bst artifact checkout`.
//!
//! The artifacts of the selection are merged in staging order, in memory, straight from the
//! local cache; with `--integrate` (the default) the integration commands of the selection
//! run over them in a sandbox (the target's sandbox configuration, one batch, each command in
//! its own element's environment); the result is exported to a directory (copied, or
//! hard-linked with `--hardlinks`) or written as a tar archive (`--tar`, `-` for stdout, with
//! `--compression` or the compression the file name implies). casd is started only when
//! there are integration commands to run.

use super::build::{
    build_deps_of, deps_not_supported, expand_artifact_names, load, load_named, load_session,
    lookup_artifact, runtime, start_casd, NamedArtifact, Session,
};
use super::{print_error, scope_of, Deps};
use crate::artifact::ArtifactCache;
use crate::cas::proto::bst::Artifact;
use crate::cas::tree::{Dir, ImportResult};
use crate::element::SandboxConfig;
use crate::graph::Pipeline;
use crate::sandbox::Batch;
use crate::scheduler::Activity;
use clap::ValueEnum;
use std::io::Write;
use std::path::PathBuf;

/// Compression of a `--tar` archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum Compression {
    Gz,
    Xz,
    Bz2,
}

/// `artifact checkout` arguments.
#[derive(clap::Args, Debug)]
pub(super) struct CheckoutArgs {
    /// Allow files to be overwritten
    #[arg(short = 'f', long)]
    force: bool,
    /// The dependencies to checkout
    #[arg(short = 'd', long = "deps", value_enum, default_value = "run")]
    deps: Deps,
    /// Whether to run integration commands
    #[arg(long, overrides_with = "no_integrate")]
    integrate: bool,
    /// Do not run integration commands
    #[arg(long = "no-integrate", overrides_with = "integrate")]
    no_integrate: bool,
    /// Checkout hardlinks instead of copying if possible
    #[arg(long)]
    hardlinks: bool,
    /// Create a tarball from the artifact contents instead of a file tree. If LOCATION is
    /// '-', the tarball will be dumped to the standard output.
    #[arg(long, value_name = "LOCATION")]
    tar: Option<String>,
    /// The compression option of the tarball created.
    #[arg(long, value_enum)]
    compression: Option<Compression>,
    /// The directory to checkout the artifact to
    #[arg(long)]
    directory: Option<PathBuf>,
    /// A remote for downloading artifacts (not supported by bst-rs yet)
    #[arg(long = "artifact-remote", value_name = "REMOTE")]
    artifact_remotes: Vec<String>,
    /// Ignore remote artifact cache servers recommended by projects
    #[arg(long = "ignore-project-artifact-remotes")]
    ignore_project_artifact_remotes: bool,
    /// The element
    target: Option<String>,
}

/// Where the checkout goes.
enum Location {
    Directory(PathBuf),
    Tar(PathBuf, Option<Compression>),
    Stdout(Option<Compression>),
}

/// Python's `os.path.splitext` extension of the last path component.
fn extension(path: &str) -> (&str, &str) {
    let base_start = path.rfind('/').map_or(0, |i| i + 1);
    match path.rfind('.') {
        Some(dot) if dot > base_start && path[base_start..dot].bytes().any(|b| b != b'.') => {
            (&path[..dot], &path[dot..])
        }
        _ => (path, ""),
    }
}

/// `utils._get_compression`: the compression a tar file name implies.
fn compression_of(tar: &str) -> Result<Option<Compression>, String> {
    let (stem, ext) = extension(tar);
    match ext {
        ".tar" => Ok(None),
        ".gz" => Ok(Some(Compression::Gz)),
        ".xz" => Ok(Some(Compression::Xz)),
        ".bz2" => Ok(Some(Compression::Bz2)),
        _ if extension(stem).1 == ".tar" => Err(format!(
            "Expected compression with unknown file extension ('{ext}'), supported extensions \
             are ('.tar'), ('.gz'), ('.xz'), ('.bz2')"
        )),
        _ => Ok(None),
    }
}

/// The option checks `bst` makes before loading anything: conflicts and the compression.
fn check_options(args: &CheckoutArgs) -> Result<Option<Compression>, String> {
    if args.hardlinks && args.tar.is_some() {
        return Err("ERROR: options --hardlinks and --tar conflict".into());
    }
    if args.tar.is_some() && args.directory.is_some() {
        return Err("ERROR: options --directory and --tar conflict".into());
    }
    let Some(tar) = &args.tar else {
        if args.compression.is_some() {
            return Err("ERROR: --compression can only be provided if --tar is provided".into());
        }
        return Ok(None);
    };
    let inferred = compression_of(tar)
        .map_err(|e| format!("ERROR: Invalid file extension given with '--tar': {e}"))?;
    match args.compression {
        Some(c) => {
            if inferred.is_some_and(|i| i != c) {
                eprintln!(
                    "WARNING: File extension and compression differ.File extension has been \
                     overridden by --compression"
                );
            }
            Ok(Some(c))
        }
        None => Ok(inferred),
    }
}

/// `bst-rs artifact checkout`.
pub(super) fn checkout(s: &Session, args: &CheckoutArgs) -> i32 {
    let compression = match check_options(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 255;
        }
    };
    if !args.artifact_remotes.is_empty() {
        eprintln!("\n--artifact-remote: remote artifact caches are not supported by bst-rs yet");
        return 255;
    }
    let Some(target) = &args.target else {
        // Without workspaces there is no default target.
        if let Err(e) = load(s, &[], None) {
            print_error(&e);
            return 255;
        }
        eprintln!("\nMissing argument \"ELEMENT\".");
        return 255;
    };
    let location = match &args.tar {
        Some(t) if t == "-" => Location::Stdout(compression),
        Some(t) => Location::Tar(PathBuf::from(t), compression),
        None => Location::Directory(match &args.directory {
            Some(d) => d.clone(),
            None => {
                let cwd = std::env::current_dir().unwrap_or_default();
                let name = target.strip_suffix(".bst").unwrap_or(target);
                cwd.join(name)
            }
        }),
    };
    // Targets that do not end in `.bst` name artifacts (`_expand_and_classify_targets`).
    if !target.ends_with(".bst") {
        return exit_code(checkout_named(s, args, target, &location));
    }
    let (pipeline, strict, _) = match load_session(s, std::slice::from_ref(target), None) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let integrate = !args.no_integrate;
    exit_code(run(s, &pipeline, strict, args, &location, integrate))
}

/// The exit code of a checkout; its error printed as bst prints it.
fn exit_code(result: Result<(), CheckoutError>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("\n{e}");
            if let Some(detail) = &e.detail {
                super::print_detail(detail);
            }
            255
        }
    }
}

/// A checkout error: BuildStream's message and detail.
#[derive(Debug)]
struct CheckoutError {
    message: String,
    detail: Option<String>,
}

impl std::fmt::Display for CheckoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn error(message: impl Into<String>) -> CheckoutError {
    CheckoutError {
        message: message.into(),
        detail: None,
    }
}

/// An error while staging or integrating, as `Stream.checkout` wraps it.
fn staging_error(message: &str, detail: Option<String>) -> CheckoutError {
    CheckoutError {
        message: format!("Error while staging dependencies into a sandbox: '{message}'"),
        detail,
    }
}

/// `Stream._check_location_writable` for a checkout location.
fn check_location_writable(location: &Location, force: bool) -> Result<(), CheckoutError> {
    let (path, tar) = match location {
        Location::Directory(dir) => (dir, false),
        Location::Tar(file, _) => (file, true),
        Location::Stdout(_) => return Ok(()),
    };
    super::check_location_writable(path, force, tar).map_err(error)
}

fn run(
    s: &Session,
    p: &Pipeline,
    strict: bool,
    args: &CheckoutArgs,
    location: &Location,
    integrate: bool,
) -> Result<(), CheckoutError> {
    let target = p.targets[0];
    // BuildStream's order: remotes are connected while loading, the location is checked,
    // then the cache is queried; each step is an activity, as in `bst`.
    Activity::remote_caches();
    check_location_writable(location, args.force)?;
    let uc = crate::project::user_config();
    let cache = ArtifactCache::new(&uc.cachedir());

    // The selection staged at `/` in staging order, as `Element._prepare_sandbox` stages it.
    let elements = p.dependencies(&[target], scope_of(args.deps));
    let artifacts = Activity::core("Query cache").run(|| {
        elements
            .iter()
            .map(|&id| lookup_artifact(strict, &cache, p, id))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| staging_error(&e.to_string(), None))
    })?;
    let el = &p.elements[&target];
    let key = p.keys[&target].strict.as_deref().unwrap_or_default();
    let integration = || {
        let batch = crate::assemble::integration_batch(p, &elements)
            .map_err(|e| staging_error(&e.to_string(), None))?;
        let sandbox = el
            .details
            .as_deref()
            .map(|d| d.sandbox.clone())
            .ok_or_else(|| {
                staging_error(&format!("{}: element details not loaded", el.name), None)
            })?;
        Ok((batch, sandbox))
    };
    let target = Target {
        key,
        name: &el.full_name,
    };
    stage_and_export(
        s,
        &cache,
        artifacts,
        &target,
        integrate.then_some(integration),
        location,
        args.hardlinks,
    )
}

/// The target as its activities show it: its key and name.
struct Target<'a> {
    key: &'a str,
    name: &'a str,
}

/// Stages the artifacts (None: not cached, an error), integrates them with the batch and in
/// the sandbox `integration` gives (None: `--no-integrate`), and exports the result.
fn stage_and_export(
    s: &Session,
    cache: &ArtifactCache,
    artifacts: Vec<Option<Artifact>>,
    target: &Target,
    integration: Option<impl FnOnce() -> Result<(Batch, SandboxConfig), CheckoutError>>,
    location: &Location,
    hardlinks: bool,
) -> Result<(), CheckoutError> {
    let store = cache.store();
    let activity = |text: &str| Activity::element(target.key, target.name, text);
    let mut root = Dir::default();
    activity("Staging dependencies").run(|| {
        for artifact in artifacts {
            let artifact = artifact.ok_or_else(|| {
                staging_error(
                    "No artifacts to stage",
                    Some(
                        "No artifacts have been cached yet for that element\n\
                         Try building the element first with `bst build`\n"
                            .into(),
                    ),
                )
            })?;
            let files = artifact
                .files
                .unwrap_or_else(crate::cas::empty_directory_digest);
            root.import(store, Dir::from_digest(files), &mut ImportResult::default())
                .map_err(|e| staging_error(&e.to_string(), None))?;
        }
        Ok(())
    })?;

    if let Some(integration) = integration {
        let (batch, sandbox) = integration()?;
        root = activity("Integrating sandbox").run(|| {
            if batch.is_empty() {
                return Ok(root);
            }
            let mut log = crate::assemble::Log::terminal(
                target.name,
                crate::scheduler::main_echo(target.name),
            );
            // The sandbox's first check, before starting one.
            let missing = crate::assemble::missing_command(store, &mut root, &batch)
                .map_err(|e| staging_error(&e.to_string(), None))?;
            if let Some(command) = missing {
                let commands = log.start_commands(&batch.combined_label());
                log.end(commands, false);
                let e = crate::assemble::AssembleError::MissingCommand(command);
                return Err(staging_error(&e.to_string(), None));
            }
            integrate_root(s, &sandbox, root, batch, &mut log)
        })?;
    }
    let text = match location {
        Location::Directory(dir) => format!("Checking out files in '{}'", dir.display()),
        Location::Tar(..) | Location::Stdout(_) => "Creating tarball".to_owned(),
    };
    activity(&text).run(|| export(store, &mut root, location, hardlinks))
}

/// `artifact checkout` of an artifact name (`project/element/key`), as BuildStream checks out
/// an `ArtifactElement`: the artifact alone (`--deps none`) or the artifacts it was built with
/// (`--deps build`), integrated with the commands, environments and sandbox configuration
/// the artifacts recorded. No project is needed.
fn checkout_named(
    s: &Session,
    args: &CheckoutArgs,
    name: &str,
    location: &Location,
) -> Result<(), CheckoutError> {
    let uc = crate::project::user_config();
    let cache = ArtifactCache::new(&uc.cachedir());
    let load = || {
        let names =
            expand_artifact_names(&cache, &[name.to_owned()]).map_err(|e| CheckoutError {
                message: e.message,
                detail: e.detail,
            })?;
        load_named(&cache, &names[..names.len().min(1)]).map_err(|e| error(format!("{e:#}")))
    };
    // `Stream._load` with the artifact's metadata: load, connect remotes, query the cache and
    // pull what is missing, then load again with what was pulled.
    let named = Activity::core("Loading artifacts").run(load)?;
    if matches!(args.deps, Deps::Run | Deps::All) {
        return Err(error(deps_not_supported(args.deps)));
    }
    let Some(target) = named.into_iter().next() else {
        return Err(error(format!("No artifact names matched: {name}")));
    };
    Activity::remote_caches();
    Activity::core("Query cache").run(|| Ok::<(), CheckoutError>(()))?;
    if target.artifact.is_none() {
        skipped_pull(&uc.logdir(), &target);
    }
    let named = Activity::core("Loading artifacts").run(load)?;
    let target = named.into_iter().next().unwrap_or(target);
    Activity::remote_caches();
    check_location_writable(location, args.force)?;

    let selection = match args.deps {
        Deps::Build => build_deps_of(&cache, std::slice::from_ref(&target))
            .map_err(|e| error(format!("{e:#}")))?,
        _ => vec![target.clone()],
    };
    Activity::core("Query cache").run(|| Ok::<(), CheckoutError>(()))?;
    let missing: Vec<&NamedArtifact> = selection.iter().filter(|n| n.artifact.is_none()).collect();
    if !missing.is_empty() {
        crate::scheduler::info("Attempting to fetch missing or incomplete artifact(s)");
        for n in missing {
            skipped_pull(&uc.logdir(), n);
        }
    }
    let Some(artifact) = &target.artifact else {
        return Err(staging_error(
            &format!("Error preparing sandbox for element: {}", target.element()),
            Some(
                "This is most likely an artifact that is not yet cached, try building or pulling \
                 the artifact first"
                    .into(),
            ),
        ));
    };
    let integration = || {
        let recorded = |a: &Artifact| {
            cache
                .recorded(a)
                .map_err(|e| staging_error(&e.to_string(), None))
        };
        let sandbox = recorded(artifact)?.sandbox;
        let mut integrations = Vec::new();
        for a in selection.iter().filter_map(|n| n.artifact.as_ref()) {
            let r = recorded(a)?;
            integrations.push(crate::assemble::Integration {
                commands: r.integration_commands,
                env: r.environment,
            });
        }
        Ok((crate::assemble::batch_of(integrations), sandbox))
    };
    let artifacts = selection.iter().map(|n| n.artifact.clone()).collect();
    // An artifact element has no cache key of its own to show.
    let display = Target {
        key: "",
        name: &target.element(),
    };
    let integrate = !args.no_integrate;
    stage_and_export(
        s,
        &cache,
        artifacts,
        &display,
        integrate.then_some(integration),
        location,
        args.hardlinks,
    )
}

/// The pull job BuildStream runs for an artifact it does not have: bst-rs has no remote
/// caches, so it finds nothing and is skipped.
fn skipped_pull(logdir: &std::path::Path, n: &NamedArtifact) {
    let (project, key) = n.project_and_key();
    crate::scheduler::skipped_job(logdir, project, &n.element(), key, "pull", "Pull");
}

/// Runs the integration batch over `root` in a sandbox (casd started for it).
fn integrate_root(
    s: &Session,
    sandbox: &SandboxConfig,
    root: Dir,
    batch: Batch,
    log: &mut crate::assemble::Log,
) -> Result<Dir, CheckoutError> {
    let uc = crate::project::user_config();
    let tmpdir = uc.cachedir().join("tmp");
    let rt = runtime().map_err(|e| error(format!("{e:#}")))?;
    rt.block_on(async {
        let (mut casd, cas) = start_casd(s, 1)
            .await
            .map_err(|e| error(format!("{e:#}")))?;
        let result = async {
            let runner = crate::sandbox::Runner::new(casd.socket(), &tmpdir)
                .map_err(|e| error(e.to_string()))?;
            let exec = crate::assemble::Exec {
                cas: &cas,
                runner: &runner,
                nice: 0,
            };
            match crate::assemble::integrate_staged(exec, sandbox, root, batch, log).await {
                Ok(Ok(root)) => Ok(root),
                Ok(Err(_code)) => Err(staging_error("Command failed", None)),
                Err(e) => Err(staging_error(&e.to_string(), None)),
            }
        }
        .await;
        casd.stop();
        result
    })
}

/// Writes `root` to its location.
fn export(
    store: &crate::cas::LocalStore,
    root: &mut Dir,
    location: &Location,
    hardlinks: bool,
) -> Result<(), CheckoutError> {
    match location {
        Location::Directory(dir) => {
            if hardlinks {
                // `utils.safe_remove`: an empty directory goes, a non-empty one stays.
                let _ = std::fs::remove_dir(dir);
            }
            crate::cas::export::to_directory(store, root, dir, hardlinks)
                .map_err(|e| error(format!("Failed to checkout files: '{e}'")))
        }
        Location::Tar(file, compression) => {
            let f = std::fs::File::create(file)
                .map_err(|e| error(format!("{}: {e}", file.display())))?;
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            write_tar(store, root, f, *compression, &name)
        }
        Location::Stdout(compression) => {
            let out = std::io::stdout().lock();
            write_tar(store, root, out, *compression, "")
        }
    }
}

/// The tar archive of `root`, compressed as Python's `tarfile` compresses (gzip and bzip2 at
/// level 9, xz at preset 6; gzip's header names the file without `.gz`).
fn write_tar(
    store: &crate::cas::LocalStore,
    root: &mut Dir,
    out: impl Write,
    compression: Option<Compression>,
    name: &str,
) -> Result<(), CheckoutError> {
    let fail = |e: &dyn std::fmt::Display| error(format!("Failed to create tarball: {e}"));
    let mut out = std::io::BufWriter::new(out);
    match compression {
        None => {
            crate::cas::export::to_tar(store, root, &mut out).map_err(|e| fail(&e))?;
        }
        Some(Compression::Gz) => {
            let mtime = crate::util::now_secs();
            let mut gz = flate2::GzBuilder::new()
                .filename(name.strip_suffix(".gz").unwrap_or(name))
                .mtime(u32::try_from(mtime).unwrap_or(0))
                .write(&mut out, flate2::Compression::best());
            crate::cas::export::to_tar(store, root, &mut gz).map_err(|e| fail(&e))?;
            gz.try_finish().map_err(|e| fail(&e))?;
        }
        Some(Compression::Bz2) => {
            let mut bz = bzip2::write::BzEncoder::new(&mut out, bzip2::Compression::best());
            crate::cas::export::to_tar(store, root, &mut bz).map_err(|e| fail(&e))?;
            bz.try_finish().map_err(|e| fail(&e))?;
        }
        Some(Compression::Xz) => {
            let mut xz = liblzma::write::XzEncoder::new(&mut out, 6);
            crate::cas::export::to_tar(store, root, &mut xz).map_err(|e| fail(&e))?;
            xz.try_finish().map_err(|e| fail(&e))?;
        }
    }
    out.flush().map_err(|e| fail(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_follows_the_file_name_as_buildstream_infers_it() {
        assert_eq!(compression_of("out.tar"), Ok(None));
        assert_eq!(compression_of("out.tar.gz"), Ok(Some(Compression::Gz)));
        assert_eq!(compression_of("dir.x/out.xz"), Ok(Some(Compression::Xz)));
        assert_eq!(compression_of("out.bz2"), Ok(Some(Compression::Bz2)));
        assert_eq!(compression_of("-"), Ok(None));
        assert_eq!(compression_of("out"), Ok(None));
        assert_eq!(compression_of("out.zip"), Ok(None));
        assert_eq!(compression_of(".gz"), Ok(None));
        assert!(compression_of("out.tar.zst")
            .unwrap_err()
            .contains("unknown file extension ('.zst')"));
    }
}
