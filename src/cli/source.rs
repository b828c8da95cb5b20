//! `bst-rs source fetch` and `bst-rs source checkout`, with `bst source`'s options, defaults
//! and messages.

use super::build::Session;
use super::{classify_targets, find_project_dir, print_error, Deps};
use crate::graph::{Pipeline, Scope};
use crate::loader::ElementId;
use crate::scheduler::Activity;
use crate::source::fetch::{util::TempDir, FetchContext, SourceError};
use crate::yaml::LoadError;
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Manipulate sources for an element
#[derive(Subcommand, Debug)]
pub(super) enum SourceCommand {
    /// Fetch sources required to build the pipeline
    ///
    /// Specifying no elements will result in fetching the default targets of the project. If
    /// no default targets are configured, all project elements will be fetched.
    ///
    /// By default this will only try to fetch sources for the specified elements.
    Fetch(FetchArgs),
    /// Checkout sources of an element to the specified location
    Checkout(CheckoutArgs),
}

#[derive(Args, Debug)]
pub(super) struct FetchArgs {
    /// Except certain dependencies from fetching
    #[arg(long = "except", value_name = "PATH")]
    except: Vec<String>,
    /// The dependencies to fetch
    #[arg(short = 'd', long = "deps", value_enum, default_value = "none")]
    deps: Deps,
    /// Elements to fetch
    elements: Vec<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Compression {
    Gz,
    Xz,
    Bz2,
}

#[derive(Args, Debug)]
pub(super) struct CheckoutArgs {
    /// Allow files to be overwritten
    #[arg(short = 'f', long)]
    force: bool,
    /// Except certain dependencies
    #[arg(long = "except", value_name = "PATH")]
    except: Vec<String>,
    /// The dependencies whose sources to checkout
    #[arg(short = 'd', long = "deps", value_enum, default_value = "none")]
    deps: Deps,
    /// Create a tarball containing the sources instead of a file tree.
    #[arg(long = "tar", value_name = "LOCATION")]
    tar: Option<String>,
    /// The compression option of the tarball created.
    #[arg(long, value_enum)]
    compression: Option<Compression>,
    /// Write build scripts (not supported by bst-rs yet)
    #[arg(long = "include-build-scripts")]
    include_build_scripts: bool,
    /// The directory to checkout the sources to
    #[arg(long, default_value = "source-checkout")]
    directory: String,
    /// The element whose sources to checkout
    element: Option<String>,
}

/// Errors of the source commands, printed as `bst` prints them.
enum CmdError {
    Load(LoadError),
    Source(SourceError),
    /// Message and optional detail.
    Message(String, Option<String>),
    /// Already reported.
    Reported,
}

impl From<LoadError> for CmdError {
    fn from(e: LoadError) -> Self {
        CmdError::Load(e)
    }
}

impl From<SourceError> for CmdError {
    fn from(e: SourceError) -> Self {
        CmdError::Source(e)
    }
}

fn print_detail(detail: &Option<String>) {
    if let Some(detail) = detail {
        super::print_detail(detail);
    }
}

/// Runs a source subcommand; returns the exit code.
pub(super) fn run(s: &Session<'_>, cmd: &SourceCommand) -> i32 {
    let result = match cmd {
        SourceCommand::Fetch(args) => fetch(s, args),
        SourceCommand::Checkout(args) => checkout(s, args),
    };
    match result {
        Ok(()) => 0,
        Err(CmdError::Load(e)) => {
            print_error(&e);
            255
        }
        Err(CmdError::Source(e)) => {
            eprintln!();
            eprintln!("{}", e.message);
            print_detail(&e.detail);
            255
        }
        Err(CmdError::Message(m, detail)) => {
            eprintln!();
            eprintln!("{m}");
            print_detail(&detail);
            255
        }
        Err(CmdError::Reported) => 255,
    }
}

fn scope(deps: Deps) -> Scope {
    match deps {
        Deps::None => Scope::None,
        Deps::Run => Scope::Run,
        Deps::Build => Scope::Build,
        Deps::All => Scope::All,
    }
}

/// Loads the project and returns the pipeline with the selected elements, in staging order,
/// and the `session` activity if asked for (see [`super::load_reported`]).
fn load(
    directory: &Path,
    options: Vec<(String, String)>,
    targets: &[String],
    except: &[String],
    deps: Deps,
    session: Option<&str>,
) -> Result<(Pipeline, Vec<ElementId>, Option<Activity>), CmdError> {
    let project_dir = match find_project_dir(directory) {
        Ok(d) => d,
        Err(_) if !targets.is_empty() => {
            classify_targets(targets, directory)?;
            return Err(CmdError::Load(
                LoadError::new(
                    crate::yaml::LoadErrorReason::MissingProjectConf,
                    format!("Unable to load elements: {}", targets.join(", ")),
                )
                .with_detail("No project.conf or active workspace was located"),
            ));
        }
        Err(e) => return Err(e.prefixed("Error loading project: ").into()),
    };
    let element_path = crate::loader::LoadContext::peek_element_path(&project_dir);
    let targets = classify_targets(targets, &element_path)?;
    let except = classify_targets(except, &element_path)?;
    let (pipeline, except, activity) = super::load_reported(
        &project_dir,
        options,
        &targets,
        &except,
        crate::element::Keep {
            source_cache_keys: true,
            ..Default::default()
        },
        session,
    )?;
    let targets = pipeline.targets.clone();
    let selection = pipeline.dependencies(&targets, scope(deps));
    let selection = pipeline.except_elements(&targets, selection, &except);
    Ok((pipeline, selection, activity))
}

/// `_pipeline.assert_consistent`: every source needs a ref.
fn assert_consistent(pipeline: &Pipeline, selection: &[ElementId]) -> Result<(), CmdError> {
    let mut detail = String::new();
    for id in selection {
        let el = &pipeline.elements[id];
        if el.sources_resolved() {
            continue;
        }
        detail.push_str(&format!("  Element: {} is inconsistent\n", el.full_name));
        for s in el.sources().iter().filter(|s| !s.resolved) {
            detail.push_str(&format!("    {} is missing ref\n", s.display));
        }
        detail.push('\n');
    }
    if detail.is_empty() {
        return Ok(());
    }
    Err(CmdError::Message(
        "Inconsistent pipeline".into(),
        Some(format!(
            "Exact versions are missing for the following elements:\n\n{detail}Try tracking these elements first with `bst source track`\n"
        )),
    ))
}

fn fetch_context() -> Result<FetchContext, CmdError> {
    Ok(FetchContext::from_user_config()?)
}

/// Fetches the sources of `selection` that are not cached, as BuildStream's fetch queue
/// (job lines, logs; the session heading when `with_heading`); the session's summary.
fn fetch_elements(
    s: &Session<'_>,
    pipeline: &Arc<Pipeline>,
    selection: &[ElementId],
    with_heading: bool,
) -> Result<crate::scheduler::Summary, CmdError> {
    fetch_context()?;
    super::build::fetch_session(s, pipeline, selection, with_heading)
        .map_err(|e| CmdError::Message(format!("{e:#}"), None))
}

/// The failed elements and their errors, as at the end of a bst session.
fn print_failure_summary(failures: &[(String, SourceError)]) {
    eprintln!();
    eprintln!("Failure Summary");
    for (name, e) in failures {
        eprintln!("    {name}:");
        eprintln!("    {}", e.message);
        if let Some(d) = &e.detail {
            for line in d.lines() {
                eprintln!("        {line}");
            }
        }
    }
}

fn fetch(s: &Session<'_>, args: &FetchArgs) -> Result<(), CmdError> {
    let (pipeline, selection, session) = load(
        s.directory,
        s.options.clone(),
        &args.elements,
        &args.except,
        args.deps,
        Some("Fetch"),
    )?;
    let pipeline = Arc::new(pipeline);
    let fetched = assert_consistent(&pipeline, &selection)
        .and_then(|()| fetch_elements(s, &pipeline, &selection, true));
    // The session ends, then BuildStream prints the pipeline summary.
    if let Some(a) = session {
        a.end(fetched.as_ref().is_ok_and(|summary| summary.success()));
    }
    std::mem::forget(pipeline);
    let summary = fetched?;
    // The blank line before the summary is the terminal's only.
    eprintln!();
    crate::scheduler::emit_raw(&summary.render());
    match summary.success() {
        true => Ok(()),
        false => {
            // BuildStream then reports the session's error, which has no message.
            eprint!("\n\n");
            Err(CmdError::Reported)
        }
    }
}

/// `Element.normal_name`: `/` replaced by `-`, extension dropped.
fn normal_name(name: &str) -> String {
    let n = name.replace('/', "-");
    match n.rfind('.') {
        Some(i) if i > 0 => n[..i].to_owned(),
        _ => n,
    }
}

fn checkout(s: &Session<'_>, args: &CheckoutArgs) -> Result<(), CmdError> {
    if args.tar.is_some() && args.directory != "source-checkout" {
        eprintln!("ERROR: options --directory and --tar conflict");
        return Err(CmdError::Reported);
    }
    if args.compression.is_some() && args.tar.is_none() {
        eprintln!("ERROR: --compression specified without --tar");
        return Err(CmdError::Reported);
    }
    if args.include_build_scripts {
        return Err(CmdError::Message(
            "--include-build-scripts is not supported by bst-rs yet".into(),
            None,
        ));
    }
    let tar = args.tar.is_some();
    let location = PathBuf::from(args.tar.as_deref().unwrap_or(&args.directory));
    let Some(target) = &args.element else {
        return Err(CmdError::Message(
            "Missing argument \"ELEMENT\".".into(),
            None,
        ));
    };
    super::check_location_writable(&location, args.force, tar)
        .map_err(|m| CmdError::Message(m, None))?;
    let (pipeline, selection, _) = load(
        s.directory,
        s.options.clone(),
        std::slice::from_ref(target),
        &args.except,
        args.deps,
        None,
    )?;
    assert_consistent(&pipeline, &selection)?;
    let ctx = fetch_context()?;
    let pipeline = Arc::new(pipeline);
    let fetched = fetch_elements(s, &pipeline, &selection, false)?;
    if !fetched.success() {
        // No session, so no summary: BuildStream reports the fetch's error, which has no
        // message.
        eprint!("\n\n");
        return Err(CmdError::Reported);
    }
    // `_pipeline.assert_sources_cached`: each element's staged sources are in the source
    // cache, or else its original sources are in the source directory.
    let cachedir = crate::project::user_config().cachedir();
    let source_cache = crate::sourcecache::SourceCache::new(&cachedir);
    let mut trees = std::collections::HashMap::new();
    let uncached: Vec<ElementId> = Activity::core("Checking sources").run(|| {
        let mut uncached = Vec::new();
        for &id in &selection {
            let el = &pipeline.elements[&id];
            match source_cache.element_sources(el) {
                Ok(Some(tree)) => {
                    trees.insert(id, tree);
                }
                Ok(None) if el.sources_cached(&ctx) => {}
                Ok(None) => uncached.push(id),
                Err(e) => return Err(CmdError::Message(e.to_string(), None)),
            }
        }
        Ok::<_, CmdError>(uncached)
    })?;
    if !uncached.is_empty() {
        let mut detail = String::from("Sources are not cached for the following elements:\n\n");
        for id in &uncached {
            let el = &pipeline.elements[id];
            detail.push_str(&format!(
                "  Following sources for element: {} are not cached:\n",
                el.full_name
            ));
            for (_, s) in el.uncached_sources(&ctx) {
                detail.push_str(&format!("    {}\n", s.display));
            }
            detail.push('\n');
        }
        detail.push_str("Try fetching these elements first with `bst source fetch`,\nor run this command with `--fetch` option\n");
        return Err(CmdError::Message("Uncached sources".into(), Some(detail)));
    }

    let location = std::path::absolute(&location).unwrap_or(location);
    let tmp_parent = cachedir.join("tmp");
    let store = crate::cas::LocalStore::new(&cachedir.join("cas"));
    let staging = TempDir::new_in(&tmp_parent).map_err(|e| {
        CmdError::Message(format!("Failed to create a temporary directory: {e}"), None)
    })?;
    for id in &selection {
        let el = &pipeline.elements[id];
        if el.sources().is_empty() {
            continue;
        }
        let mut dir = staging.path().to_path_buf();
        for part in el.full_name.split(':') {
            dir.push(normal_name(part));
        }
        // BuildStream stages sources while fetching (into its source cache), so a staging
        // failure is reported as the element's failure, not as a checkout error.
        let key = pipeline.keys.get(id).and_then(|k| k.strict.as_deref());
        let staging = Activity::element(key.unwrap_or_default(), &el.full_name, "Staging sources");
        // From the source cache, as BuildStream's `_stage_sources_at`, with its mtime.
        let staged = match trees.get(id) {
            Some(tree) => {
                let mut root = crate::cas::tree::Dir::from_digest(tree.clone());
                crate::cas::export::to_directory(&store, &mut root, &dir, false)
                    .map_err(|e| SourceError::new(e.to_string()))
                    .and_then(|()| crate::source::fetch::stage::set_deterministic_mtime(&dir))
            }
            None => el.stage_sources(&ctx, &dir),
        };
        staging.end(staged.is_ok());
        if let Err(e) = staged {
            eprintln!("[stage:{}] FAILURE {}", el.full_name, e.message);
            print_failure_summary(&[(el.full_name.clone(), e)]);
            return Err(CmdError::Reported);
        }
    }
    if tar {
        create_tarball(staging.path(), &location, args.compression)
            .map_err(|e| CmdError::Message(format!("Failed to create tar archive: {e}"), None))?;
    } else {
        move_directory(staging.path(), &location, args.force).map_err(|e| {
            CmdError::Message(
                format!("Failed to checkout sources to {}: {e}", location.display()),
                None,
            )
        })?;
    }
    crate::scheduler::info(&format!("Checked out sources to '{}'", location.display()));
    std::mem::forget(pipeline);
    Ok(())
}

/// `Stream._move_directory`: a rename, else the files linked (copied) over.
fn move_directory(src: &Path, dest: &Path, force: bool) -> Result<(), String> {
    if std::fs::rename(src, dest).is_ok() {
        return Ok(());
    }
    let empty = dest.is_dir() && std::fs::read_dir(dest).is_ok_and(|mut rd| rd.next().is_none());
    if force || empty {
        crate::source::fetch::stage::import_tree(src, dest).map_err(|e| e.message)?;
    }
    Ok(())
}

/// `Stream._create_tarball`: the top-level entries of `dir`, optionally compressed.
fn create_tarball(
    dir: &Path,
    location: &Path,
    compression: Option<Compression>,
) -> Result<(), String> {
    let parent = location
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = TempDir::new_in(parent).map_err(|e| e.to_string())?;
    let tmp_file = tmp.path().join("archive");
    {
        let file = std::fs::File::create(&tmp_file).map_err(|e| e.to_string())?;
        let writer: Box<dyn std::io::Write> = match compression {
            None => Box::new(file),
            Some(Compression::Gz) => Box::new(flate2::write::GzEncoder::new(
                file,
                flate2::Compression::default(),
            )),
            Some(Compression::Bz2) => Box::new(bzip2::write::BzEncoder::new(
                file,
                bzip2::Compression::default(),
            )),
            Some(Compression::Xz) => Box::new(liblzma::write::XzEncoder::new(file, 6)),
        };
        let mut builder = tar::Builder::new(writer);
        builder.follow_symlinks(false);
        let mut items: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok())
            .collect();
        items.sort_by_key(|e| e.file_name());
        for item in items {
            let path = item.path();
            if path.is_dir() {
                builder
                    .append_dir_all(item.file_name(), &path)
                    .map_err(|e| e.to_string())?;
            } else {
                builder
                    .append_path_with_name(&path, item.file_name())
                    .map_err(|e| e.to_string())?;
            }
        }
        let mut writer = builder.into_inner().map_err(|e| e.to_string())?;
        writer.flush().map_err(|e| e.to_string())?;
    }
    std::fs::rename(&tmp_file, location).map_err(|e| e.to_string())
}
