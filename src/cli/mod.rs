//! The command line (clap): parses arguments, calls the library, renders results.
//!
//! Global options and `show` mirror BuildStream's `bst` interface. Errors are printed the
//! way `bst` prints them (message, then detail) and exit with code 255.

mod format;

use crate::graph::{Pipeline, Scope};
use crate::yaml::LoadError;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// bst-rs: build BuildStream projects, faster.
#[derive(Parser, Debug)]
#[command(name = "bst-rs", version, about)]
struct Cli {
    /// Project directory (default: current directory)
    #[arg(short = 'C', long = "directory", global = true)]
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
    #[arg(long, global = true)]
    verbose: bool,
    /// Print debugging output
    #[arg(long, global = true)]
    debug: bool,
    /// Elements must be rebuilt when their dependencies have changed
    #[arg(long = "strict", global = true, overrides_with = "no_strict")]
    strict: bool,
    /// Elements need not be rebuilt when their dependencies have changed (without an
    /// artifact cache, keys shown are the same as in strict mode)
    #[arg(long = "no-strict", global = true)]
    no_strict: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show elements in the pipeline
    Show(ShowArgs),
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

fn print_error(e: &LoadError) {
    eprintln!();
    eprintln!("{}", e.message);
    if let Some(detail) = &e.detail {
        eprintln!();
        for line in detail.lines() {
            eprintln!("    {line}");
        }
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
    let directory = cli.directory.clone().unwrap_or_else(|| PathBuf::from("."));
    let options: Vec<(String, String)> = cli
        .option
        .chunks(2)
        .map(|c| (c[0].clone(), c.get(1).cloned().unwrap_or_default()))
        .collect();
    match &cli.command {
        Command::Show(args) => match show(&directory, options, args) {
            Ok(out) => {
                if !out.is_empty() {
                    println!("{out}");
                } else {
                    println!();
                }
                0
            }
            Err(e) => {
                print_error(&e);
                255
            }
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
/// dedupes, and rejects names that do not end in `.bst`.
fn classify_targets(targets: &[String]) -> Result<Vec<String>, LoadError> {
    let mut names: Vec<String> = Vec::new();
    let mut invalid: Vec<String> = Vec::new();
    for t in targets {
        if t.ends_with(".bst") {
            if !names.contains(t) {
                names.push(t.clone());
            }
        } else if !invalid.contains(t) {
            invalid.push(t.clone());
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
    Ok(names)
}

fn show(
    directory: &std::path::Path,
    options: Vec<(String, String)>,
    args: &ShowArgs,
) -> Result<String, LoadError> {
    let targets = classify_targets(&args.elements)?;
    let project_dir = match find_project_dir(directory) {
        Ok(d) => d,
        Err(_) if !targets.is_empty() => {
            return Err(LoadError::new(
                crate::yaml::LoadErrorReason::MissingProjectConf,
                format!("Unable to load elements: {}", targets.join(", ")),
            )
            .with_detail("No project.conf or active workspace was located"))
        }
        Err(e) => return Err(e.prefixed("Error loading project: ")),
    };
    let except = classify_targets(&args.except)?;
    let fmt = args.format.as_deref().unwrap_or(DEFAULT_ELEMENT_FORMAT);
    let keep_details = ["%{config", "%{vars", "%{env", "%{public"]
        .iter()
        .any(|t| fmt.contains(t));
    let (pipeline, except) =
        Pipeline::load(&project_dir, options, &targets, &except, keep_details)?;
    let targets = pipeline.targets.clone();
    let scope = match args.deps {
        Deps::None => Scope::None,
        Deps::Run => Scope::Run,
        Deps::Build => Scope::Build,
        Deps::All => Scope::All,
    };
    let selection = pipeline.dependencies(&targets, scope);
    let mut selection = pipeline.except_elements(&targets, selection, &except);
    if let Order::Alpha = args.order {
        selection.sort_by(|a, b| pipeline.elements[a].name.cmp(&pipeline.elements[b].name));
    }
    let mut lines = Vec::new();
    for id in selection {
        lines.push(format::render(&pipeline, id, fmt)?);
    }
    // The process ends right after printing: skip freeing the whole graph.
    std::mem::forget(pipeline);
    Ok(lines.join("\n").trim_end_matches('\n').to_owned())
}
