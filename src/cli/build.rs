//! `bst-rs build` and `bst-rs artifact ...`: the commands that need casd.

use super::{classify_targets, find_project_dir, print_error};
use crate::artifact::ArtifactCache;
use crate::cas::casd::{Casd, CasdConfig};
use crate::cas::Cas;
use crate::graph::Pipeline;
use crate::scheduler::{OnError, Options};
use crate::yaml::LoadError;
use anyhow::{anyhow, Context, Result};
use std::path::{Path, PathBuf};
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
    Checkout {
        /// Allow files to be overwritten
        #[arg(short = 'f', long)]
        force: bool,
        /// The dependencies to checkout
        #[arg(short = 'd', long = "deps", value_enum, default_value = "run")]
        deps: super::Deps,
        /// The directory to checkout the artifact to
        #[arg(long)]
        directory: Option<PathBuf>,
        /// The element
        target: String,
    },
    /// Show build logs of artifacts
    Log {
        /// Elements
        artifacts: Vec<String>,
    },
    /// List the contents of an artifact
    ListContents {
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
}

fn load(s: &Session, targets: &[String]) -> std::result::Result<Pipeline, LoadError> {
    let project_dir =
        find_project_dir(s.directory).map_err(|e| e.prefixed("Error loading project: "))?;
    let element_path = crate::loader::LoadContext::peek_element_path(&project_dir);
    let targets = classify_targets(targets, &element_path)?;
    let keep = crate::element::Keep {
        details: true,
        source_info: false,
    };
    let (pipeline, _) = Pipeline::load(&project_dir, s.options.clone(), &targets, &[], keep)?;
    Ok(pipeline)
}

async fn start_casd(s: &Session<'_>, runner_jobs: usize) -> Result<(Casd, Cas)> {
    let uc = crate::project::user_config();
    let runner = crate::cas::casd::find_tool(&["buildbox-run", "buildbox-run-bubblewrap"]);
    let cfg = CasdConfig {
        cachedir: uc.cachedir(),
        logdir: uc.logdir(),
        log_level: s.log_level,
        quota: uc.casd_quota.clone(),
        runner: runner.map(|r| (r, runner_jobs)),
    };
    let casd = Casd::start(&cfg).await?;
    let cas = Cas::connect(casd.socket(), &uc.cachedir().join("cas")).await?;
    Ok((casd, cas))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `bst-rs build`.
pub(super) fn build(s: &Session, args: &BuildArgs) -> i32 {
    let pipeline = match load(s, &args.elements) {
        Ok(p) => p,
        Err(e) => {
            print_error(&e);
            return 255;
        }
    };
    match runtime().and_then(|rt| rt.block_on(build_async(s, args, pipeline))) {
        Ok(true) => 0,
        Ok(false) => 255,
        Err(e) => {
            eprintln!("\n{e:#}");
            255
        }
    }
}

async fn build_async(s: &Session<'_>, args: &BuildArgs, pipeline: Pipeline) -> Result<bool> {
    let uc = crate::project::user_config();
    let builders = s.builders.unwrap_or(uc.builders).max(1);
    let on_error = match s.on_error.as_deref().unwrap_or(&uc.on_error) {
        "continue" => OnError::Continue,
        "terminate" => OnError::Terminate,
        _ => OnError::Quit,
    };
    let (mut casd, cas) = start_casd(s, builders * crate::project::max_jobs()).await?;
    let tmpdir = uc.cachedir().join("tmp");
    let runner = crate::sandbox::Runner::new(casd.socket(), &tmpdir)?;
    let opts = Options {
        builders,
        fetchers: s.fetchers.unwrap_or(uc.fetchers).max(1),
        on_error,
        logdir: uc.logdir(),
        tmpdir,
        interactive: s.interactive,
        retry_failed: args.retry_failed,
        fetch: crate::source::fetch::FetchContext::from_user_config()
            .map_err(|e| anyhow!("{e}"))?,
    };
    let targets = pipeline.targets.clone();
    let artifacts = ArtifactCache::new(&uc.cachedir(), cas);
    let summary = crate::scheduler::build(
        Arc::new(pipeline),
        artifacts,
        runner,
        opts,
        &targets,
        &mut || {
            casd.exit_status()
                .map(|st| format!("buildbox-casd died during the build ({st})"))
        },
    )
    .await?;
    eprint!("\n{}", summary.render());
    casd.stop();
    Ok(summary.success())
}

/// `bst-rs artifact ...`.
pub(super) fn artifact(s: &Session, cmd: &ArtifactCommand) -> i32 {
    let targets = match cmd {
        ArtifactCommand::Checkout { target, .. } => vec![target.clone()],
        ArtifactCommand::Log { artifacts } | ArtifactCommand::ListContents { artifacts } => {
            artifacts.clone()
        }
    };
    let pipeline = match load(s, &targets) {
        Ok(p) => p,
        Err(e) => {
            print_error(&e);
            return 255;
        }
    };
    match runtime().and_then(|rt| rt.block_on(artifact_async(s, cmd, &pipeline))) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("\n{e:#}");
            255
        }
    }
}

async fn artifact_async(s: &Session<'_>, cmd: &ArtifactCommand, p: &Pipeline) -> Result<()> {
    let uc = crate::project::user_config();
    let (mut casd, cas) = start_casd(s, 1).await?;
    let cache = ArtifactCache::new(&uc.cachedir(), cas);
    let mut found = Vec::new();
    for &id in &p.targets {
        let el = &p.elements[&id];
        let key = p.keys[&id]
            .strict
            .clone()
            .ok_or_else(|| anyhow!("{}: no cache key (a source has no ref)", el.name))?;
        let a = cache
            .lookup(&el.project_name, &el.name, &key)
            .await?
            .ok_or_else(|| {
                anyhow!(
                    "Artifact not cached: {}",
                    crate::artifact::artifact_name(&el.project_name, &el.name, &key)
                )
            })?;
        found.push((el, a));
    }
    match cmd {
        ArtifactCommand::Checkout {
            force,
            directory,
            deps,
            ..
        } => {
            let (el, _) = &found[0];
            let dest = directory
                .clone()
                .unwrap_or_else(|| PathBuf::from(crate::artifact::normal_name(&el.name)));
            if dest.exists()
                && std::fs::read_dir(&dest)
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(false)
                && !force
            {
                return Err(anyhow!(
                    "Checkout directory '{}' is not empty (use --force)",
                    dest.display()
                ));
            }
            // The selected artifacts merged in staging order, as bst stages them.
            let scope = super::scope_of(*deps);
            let mut root = crate::cas::tree::Dir::default();
            for id in p.dependencies(&p.targets, scope) {
                let e = &p.elements[&id];
                let key = p.keys[&id].strict.clone().unwrap_or_default();
                let a = cache
                    .lookup(&e.project_name, &e.name, &key)
                    .await?
                    .ok_or_else(|| anyhow!("Artifact not cached: {}", e.name))?;
                root.import(
                    cache.cas(),
                    crate::cas::tree::Dir::from_digest(a.files.unwrap_or_default()),
                    &mut Default::default(),
                )?;
            }
            let mut blobs = Vec::new();
            let digest = root.seal(&mut blobs);
            cache.cas().put_blobs(blobs).await?;
            cache.export(&digest, &dest)?;
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
        ArtifactCommand::ListContents { .. } => {
            for (el, a) in &found {
                // BuildStream's pretty_print_element_contents: an indented name, tab-indented
                // paths, a blank line.
                println!("  {}:", el.name);
                let paths = cache.list_contents(&a.files.clone().unwrap_or_default())?;
                if paths.is_empty() {
                    println!("\tThis element has no associated artifacts");
                }
                for path in paths {
                    println!("\t{path}");
                }
                println!();
            }
        }
    }
    casd.stop();
    Ok(())
}
