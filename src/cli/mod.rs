//! The command line (clap): parses arguments, calls the library, renders results.
//!
//! Global options and `show` mirror BuildStream's `bst` interface. Errors are printed the
//! way `bst` prints them (message, then detail) and exit with code 255.

mod build;
mod checkout;
pub mod format;
mod heading;
mod init;
mod source;

use crate::graph::{LoadStage, Pipeline, Scope};
use crate::scheduler::Activity;
use crate::yaml::LoadError;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// bst-rs: build BuildStream projects, faster.
#[derive(Parser, Debug)]
#[command(name = "bst-rs", version, about)]
struct Cli {
    /// Project directory (default: current directory); before the command, as in `bst`
    /// (commands such as `source checkout` have a `--directory` of their own)
    #[arg(short = 'C', long = "directory")]
    directory: Option<PathBuf>,
    /// Configuration file
    #[arg(short = 'c', long = "config", global = true)]
    config: Option<PathBuf>,
    /// Specify a project option
    #[arg(short = 'o', long = "option", num_args = 2, value_names = ["OPTION", "VALUE"], action = clap::ArgAction::Append, global = true)]
    option: Vec<String>,
    /// Force non interactive mode
    #[arg(long = "no-interactive", global = true)]
    no_interactive: bool,
    /// Be extra verbose
    #[arg(long, global = true, overrides_with = "no_verbose")]
    verbose: bool,
    /// Not extra verbose (the default)
    #[arg(long = "no-verbose", global = true)]
    no_verbose: bool,
    /// Print debugging output
    #[arg(long, global = true, overrides_with = "no_debug")]
    debug: bool,
    /// No debugging output (the default)
    #[arg(long = "no-debug", global = true)]
    no_debug: bool,
    /// Elements must be rebuilt when their dependencies have changed
    #[arg(long = "strict", global = true, overrides_with = "no_strict")]
    strict: bool,
    /// Elements need not be rebuilt when their dependencies have changed
    #[arg(long = "no-strict", global = true)]
    no_strict: bool,
    /// Maximum simultaneous build tasks
    #[arg(long, global = true)]
    builders: Option<usize>,
    /// Maximum simultaneous download tasks
    #[arg(long, global = true)]
    fetchers: Option<usize>,
    /// What to do when an error is encountered
    #[arg(long = "on-error", global = true, value_parser = ["continue", "quit", "terminate"])]
    on_error: Option<String>,
    /// Maximum simultaneous upload tasks (bst-rs has no remote caches to upload to)
    #[arg(long, global = true)]
    pushers: Option<usize>,
    /// Number of parallel jobs allowed for a given build task (0: as many as CPUs, at most 8)
    #[arg(long = "max-jobs", global = true)]
    max_jobs: Option<i64>,
    /// Maximum retries for network tasks
    #[arg(long = "network-retries", global = true)]
    network_retries: Option<u32>,
    /// Maximum number of lines to show from a task log
    #[arg(long = "error-lines", global = true)]
    error_lines: Option<usize>,
    /// Maximum number of lines to show in a detailed message
    #[arg(long = "message-lines", global = true)]
    message_lines: Option<usize>,
    /// The mirror to fetch from first, before attempting other mirrors
    #[arg(long = "default-mirror", global = true)]
    default_mirror: Option<String>,
    /// No ANSI color codes in output (bst-rs never writes them)
    #[arg(long = "no-colors", global = true)]
    no_colors: bool,
    /// A file to store the main log (allows storing the main log while in interactive mode)
    #[arg(long = "log-file", global = true)]
    log_file: Option<PathBuf>,
    /// Include an element's build tree when pulling remote element artifacts (bst-rs has no
    /// remote caches to pull from)
    #[arg(long = "pull-buildtrees", global = true)]
    pull_buildtrees: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show elements in the pipeline
    Show(ShowArgs),
    /// Build elements in a pipeline
    Build(build::BuildArgs),
    /// Manipulate cached artifacts
    #[command(subcommand)]
    Artifact(build::ArtifactCommand),
    /// Manipulate sources for an element
    #[command(subcommand)]
    Source(source::SourceCommand),
    /// Initialize a new BuildStream project
    Init(init::InitArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Deps {
    None,
    Run,
    Build,
    All,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Order {
    Stage,
    Alpha,
}

#[derive(clap::Args, Debug)]
struct ShowArgs {
    /// Except certain dependencies
    #[arg(long = "except")]
    except: Vec<String>,
    /// The dependencies to show
    #[arg(short = 'd', long = "deps", value_enum, default_value = "all")]
    deps: Deps,
    /// Staging or alphabetic ordering of dependencies
    #[arg(long = "order", value_enum, default_value = "stage")]
    order: Order,
    /// Format string for each element
    #[arg(short = 'f', long = "format")]
    format: Option<String>,
    /// Elements to show
    elements: Vec<String>,
}

/// The default `logging.element-format` of BuildStream's user configuration.
const DEFAULT_ELEMENT_FORMAT: &str = "%{state: >12} %{full-key} %{name} %{workspace-dirs}";

/// `Stream._check_location_writable`, shared by `artifact checkout` and `source checkout`:
/// a directory is created and must be writable and (unless `force`) empty; an existing tar
/// file (not `-`) must be writable and is overwritten only with `force`.
fn check_location_writable(
    location: &std::path::Path,
    force: bool,
    tar: bool,
) -> Result<(), String> {
    if !tar {
        std::fs::create_dir_all(location)
            .map_err(|e| format!("Failed to create destination directory: '{e}'"))?;
        if !access_writable(location) {
            return Err(format!(
                "Destination directory '{}' not writable",
                location.display()
            ));
        }
        if !force && std::fs::read_dir(location).is_ok_and(|mut rd| rd.next().is_some()) {
            return Err(format!(
                "Destination directory '{}' not empty",
                location.display()
            ));
        }
    } else if location.exists() && location != std::path::Path::new("-") {
        if !access_writable(location) {
            return Err(format!("Output file '{}' not writable", location.display()));
        }
        if !force {
            return Err(format!(
                "Output file '{}' already exists",
                location.display()
            ));
        }
    }
    Ok(())
}

/// `os.access(path, os.W_OK)`.
fn access_writable(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

fn print_error(e: &LoadError) {
    eprintln!();
    eprintln!("{}", e.message);
    if let Some(detail) = &e.detail {
        print_detail(detail);
    }
}

/// An error's detail as `bst` prints it: a blank line, then every line indented by four
/// spaces (a detail ending in a newline ends with a blank line).
fn print_detail(detail: &str) {
    eprintln!();
    for line in detail.lines() {
        eprintln!("    {line}");
    }
    if detail.ends_with('\n') {
        eprintln!();
    }
}

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    if let Some(path) = &cli.log_file {
        if let Err(e) = crate::scheduler::set_main_log(path) {
            eprintln!(
                "Error: Invalid value for '--log-file': '{}': {e}",
                path.display()
            );
            return 2;
        }
    }
    let directory = cli.directory.clone().unwrap_or_else(|| PathBuf::from("."));
    let options: Vec<(String, String)> = cli
        .option
        .chunks(2)
        .map(|c| (c[0].clone(), c.get(1).cloned().unwrap_or_default()))
        .collect();
    match crate::project::userconfig::UserConfig::load(cli.config.as_deref()) {
        Ok(mut c) => {
            // The command line overrides the configuration, as in `bst`.
            if let Some(n) = cli.max_jobs {
                c.max_jobs = (n != 0).then_some(n);
            }
            if let Some(n) = cli.network_retries {
                c.network_retries = n;
            }
            if let Some(n) = cli.error_lines {
                c.error_lines = n;
            }
            if let Some(n) = cli.message_lines {
                c.message_lines = n;
            }
            if let Some(m) = &cli.default_mirror {
                c.default_mirror = Some(m.clone());
            }
            crate::source::filedigests::persist_in(&c.cachedir().join("bst-rs"));
            crate::loader::junction::set_fetch_jobs(Box::new(crate::scheduler::LoaderFetchJobs {
                logdir: c.logdir(),
            }));
            crate::project::set_user_config(c);
        }
        Err(e) => {
            print_error(&e.prefixed("Error loading user configuration: "));
            return 255;
        }
    }
    let session = build::Session {
        directory: &directory,
        options: options.clone(),
        interactive: !cli.no_interactive
            && std::io::IsTerminal::is_terminal(&std::io::stderr())
            && std::io::IsTerminal::is_terminal(&std::io::stdout()),
        log_level: if cli.debug {
            "trace"
        } else if cli.verbose {
            "info"
        } else {
            "warning"
        },
        builders: cli.builders,
        fetchers: cli.fetchers,
        on_error: cli.on_error.clone(),
        strict: strict_flag(&cli),
    };
    let code = match &cli.command {
        Command::Build(args) => build::build(&session, args),
        Command::Artifact(cmd) => build::artifact(&session, cmd),
        Command::Show(args) => match show(&directory, options, args, strict_flag(&cli)) {
            Ok(out) => {
                use std::io::Write;
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(out.as_bytes());
                let _ = stdout.flush();
                0
            }
            Err(e) => {
                print_error(&e);
                255
            }
        },
        Command::Source(cmd) => source::run(&session, cmd),
        Command::Init(args) => {
            match init::run(
                args,
                &directory,
                cli.directory.is_some(),
                session.interactive,
            ) {
                Ok(()) => 0,
                Err(e) => {
                    print_error(&e);
                    255
                }
            }
        }
    };
    // Digests of local files read by this run, for the next (losing them costs only time).
    let _ = crate::source::filedigests::save();
    code
}

/// `--strict` / `--no-strict`, if given (the last one wins).
fn strict_flag(cli: &Cli) -> Option<bool> {
    if cli.no_strict {
        Some(false)
    } else if cli.strict {
        Some(true)
    } else {
        None
    }
}

/// Strict mode: the command line, else `projects: <toplevel>: strict:` of the user
/// configuration, else strict (BuildStream's `Context.get_strict()`).
fn strict_mode(flag: Option<bool>, p: &Pipeline) -> Result<bool, LoadError> {
    match flag {
        Some(b) => Ok(b),
        None => match p.ctx.projects.first() {
            Some(top) => crate::project::user_config().project_strict(&top.name),
            None => Ok(true),
        },
    }
}

fn find_project_dir(start: &std::path::Path) -> Result<PathBuf, LoadError> {
    let start = std::fs::canonicalize(start).unwrap_or_else(|_| start.to_path_buf());
    let mut dir = start.as_path();
    loop {
        if dir.join("project.conf").is_file() {
            return Ok(dir.to_path_buf());
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => {
                return Err(LoadError::new(
                    crate::yaml::LoadErrorReason::MissingProjectConf,
                    format!(
                        "None of ['project.conf', '.bstproject.yaml'] found in '{}' or any of its parent directories",
                        start.display()
                    ),
                ))
            }
        }
    }
}

/// BuildStream's `_expand_and_classify_targets` for commands that take only elements:
/// dedupes, expands element globs (`*`, `**`, `?`, `[...]`) against the project's elements,
/// and rejects names that do not end in `.bst`.
fn classify_targets(
    targets: &[String],
    element_path: &std::path::Path,
) -> Result<Vec<String>, LoadError> {
    let mut names: Vec<String> = Vec::new();
    let mut invalid: Vec<String> = Vec::new();
    let mut globs: Vec<String> = Vec::new();
    for t in targets {
        let list = if t.contains(['*', '?', '[']) && t.ends_with(".bst") {
            &mut globs
        } else if t.ends_with(".bst") {
            &mut names
        } else {
            &mut invalid
        };
        if !list.contains(t) {
            list.push(t.clone());
        }
    }
    if !invalid.is_empty() {
        return Err(LoadError::new(
            crate::yaml::LoadErrorReason::InvalidData,
            format!(
                "Invalid element names or element glob patterns were specified: {}",
                invalid.join(", ")
            ),
        )
        .with_detail("Element names and element glob expressions must end in '.bst'"));
    }
    if !globs.is_empty() {
        let all = crate::project::list_element_files(element_path);
        for g in &globs {
            let glob = crate::util::Glob::new(g);
            let mut matched = false;
            for name in &all {
                if glob.matches(name) {
                    matched = true;
                    if !names.contains(name) {
                        names.push(name.clone());
                    }
                }
            }
            if !matched {
                crate::scheduler::warning(
                    None,
                    &format!("No elements matched the glob expression: {g}"),
                    None,
                );
            }
        }
    }
    Ok(names)
}

/// [`Pipeline::load_staged`], reported as BuildStream reports it: once the project is
/// loaded, the `session` activity if any (`Build`, `Fetch`), then `Loading elements` and
/// `Resolving elements`. On error the open activities end with FAILURE; else the session
/// activity is returned for the caller to end.
fn load_reported(
    directory: &std::path::Path,
    options: Vec<(String, String)>,
    targets: &[String],
    except: &[String],
    keep: crate::element::Keep,
    session: Option<&str>,
) -> Result<(Pipeline, Vec<crate::loader::ElementId>, Option<Activity>), LoadError> {
    let mut session_activity = None;
    let mut open: Option<Activity> = None;
    let loaded = Pipeline::load_staged(directory, options, targets, except, keep, &mut |stage| {
        if let Some(a) = open.take() {
            a.end(true);
        }
        let text = match stage {
            LoadStage::Elements => {
                session_activity = session.map(Activity::core);
                "Loading elements"
            }
            LoadStage::Resolve => "Resolving elements",
        };
        open = Some(Activity::core(text));
    });
    let warnings = loaded.as_ref().ok().map(|(p, except)| p.warnings(except));
    if let Some(a) = open {
        // BuildStream prints the warnings raised while resolving within that activity.
        for (name, w) in warnings.iter().flatten() {
            for message in &w.plugin {
                crate::scheduler::warning(Some(name), message, None);
            }
        }
        a.end(loaded.is_ok());
    }
    // Projects loaded in several places are checked once everything is resolved (plugins
    // can load junctions too), after the activity and before the refs warning.
    if let Some(e) = loaded
        .as_ref()
        .ok()
        .and_then(|(p, _)| p.ctx.assert_loaders().err())
    {
        if let Some(a) = session_activity {
            a.end(false);
        }
        return Err(e);
    }
    // Then one about the refs that project.refs storage ignores.
    let junction_refs = loaded
        .as_ref()
        .map(|(p, _)| p.ctx.junction_redundant_refs.as_slice())
        .unwrap_or_default();
    let redundant: Vec<&str> = junction_refs
        .iter()
        .map(String::as_str)
        .chain(
            warnings
                .iter()
                .flatten()
                .flat_map(|(_, w)| w.redundant_refs.iter().map(String::as_str)),
        )
        .collect();
    if !redundant.is_empty() {
        let detail = format!(
            "The following inline specified source references will be ignored:\n\n{}",
            redundant.join("\n")
        );
        crate::scheduler::warning(None, "Ignoring redundant source references", Some(&detail));
    }
    // Then every project loaded is fully loaded (BuildStream's `Stream._load()`), even one
    // only junctions and links were read from, such as the top-level project when the only
    // target is a link into a subproject: its command-line options are checked there.
    let loaded = loaded.and_then(|(mut pipeline, except)| {
        pipeline.ctx.ensure_all_fully_loaded()?;
        Ok((pipeline, except))
    });
    match loaded {
        Ok((pipeline, except)) => Ok((pipeline, except, session_activity)),
        Err(e) => {
            if let Some(a) = session_activity {
                a.end(false);
            }
            Err(e)
        }
    }
}

/// Runs `query` as BuildStream's cache query activities ([`Activity::remote_caches`], then
/// `Query cache`).
fn query_cache<T, E>(query: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    Activity::remote_caches();
    Activity::core("Query cache").run(query)
}

fn scope_of(deps: Deps) -> Scope {
    match deps {
        Deps::None => Scope::None,
        Deps::Run => Scope::Run,
        Deps::Build => Scope::Build,
        Deps::All => Scope::All,
    }
}

fn show(
    directory: &std::path::Path,
    options: Vec<(String, String)>,
    args: &ShowArgs,
    strict: Option<bool>,
) -> Result<String, LoadError> {
    let project_dir = match find_project_dir(directory) {
        Ok(d) => d,
        Err(_) if !args.elements.is_empty() => {
            classify_targets(&args.elements, directory)?;
            return Err(LoadError::new(
                crate::yaml::LoadErrorReason::MissingProjectConf,
                format!("Unable to load elements: {}", args.elements.join(", ")),
            )
            .with_detail("No project.conf or active workspace was located"));
        }
        Err(e) => return Err(e.prefixed("Error loading project: ")),
    };
    let element_path = crate::loader::LoadContext::peek_element_path(&project_dir);
    let targets = classify_targets(&args.elements, &element_path)?;
    let except = classify_targets(&args.except, &element_path)?;
    let fmt = args.format.as_deref().unwrap_or(DEFAULT_ELEMENT_FORMAT);
    let keep = crate::element::Keep {
        details: ["%{config", "%{vars", "%{env", "%{public"]
            .iter()
            .any(|t| fmt.contains(t)),
        source_info: fmt.contains("%{source-info"),
        // Strong keys in non-strict mode are computed from the key tails.
        key_tails: strict != Some(true)
            && (strict == Some(false) || crate::project::user_config().any_project_non_strict()),
        // `fetch needed` looks in the source cache.
        source_cache_keys: fmt.contains("%{state"),
    };
    let (pipeline, except, _) =
        load_reported(&project_dir, options, &targets, &except, keep, None)?;
    let targets = pipeline.targets.clone();
    let scope = scope_of(args.deps);
    let selection = pipeline.dependencies(&targets, scope);
    let mut selection = pipeline.except_elements(&targets, selection, &except);
    // The artifact cache is queried only when the format shows states or digests, or keys
    // in non-strict mode (strict keys do not depend on the cache).
    let strict = strict_mode(strict, &pipeline)?;
    let need_state = ["%{state", "%{artifact-cas-digest"]
        .iter()
        .any(|t| fmt.contains(t))
        || (!strict && ["%{key", "%{full-key"].iter().any(|t| fmt.contains(t)));
    let cache = if need_state {
        Some(query_cache(|| {
            format::ShowCache::query(
                &pipeline,
                &selection,
                matches!(args.deps, Deps::None),
                strict,
            )
        })?)
    } else {
        // BuildStream queries the cache for keys too; strict keys need nothing from it.
        if ["%{key", "%{full-key"].iter().any(|t| fmt.contains(t)) {
            query_cache(|| Ok::<(), LoadError>(()))?;
        }
        None
    };
    if let Order::Alpha = args.order {
        selection.sort_by(|a, b| pipeline.elements[a].name.cmp(&pipeline.elements[b].name));
    }
    // Lines are independent, so they are rendered side by side; the first error in
    // selection order is reported, and the warnings rendering raises are printed in that
    // order, before the output (as bst prints them while it prepares the output).
    let rendered: Vec<Result<(String, Vec<String>), LoadError>> = {
        use rayon::prelude::*;
        selection
            .par_iter()
            .map(|&id| {
                let mut warnings = Vec::new();
                format::render(&pipeline, id, fmt, cache.as_ref(), &mut warnings)
                    .map(|line| (line, warnings))
            })
            .collect()
    };
    let mut lines = Vec::with_capacity(rendered.len());
    for r in rendered {
        let (line, warnings) = r?;
        for w in warnings {
            crate::scheduler::emit(&w);
        }
        lines.push(line);
    }
    // The process ends right after printing: skip freeing the whole graph.
    std::mem::forget(pipeline);
    // Each line ends with a newline, also after a multi-line YAML value that already ends
    // with one (observed behaviour of bst 2.8.1); no selection prints an empty line.
    let mut out: String = lines.iter().map(|l| format!("{l}\n")).collect();
    if out.is_empty() {
        out.push('\n');
    }
    Ok(out)
}
