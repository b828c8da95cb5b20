//! `bst-rs init`: BuildStream's `bst init`, writing a new project's `project.conf`.
//!
//! With `--project-name` it asks nothing; without, an interactive terminal is asked for the
//! three values (name, minimum version, element path), and anything else is refused, as
//! `bst` refuses it.

use crate::project::BST_API_VERSION;
use crate::yaml::{LoadError, LoadErrorReason};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// `init` arguments.
#[derive(clap::Args, Debug)]
pub(super) struct InitArgs {
    /// The project name to use
    #[arg(long = "project-name")]
    project_name: Option<String>,
    /// The required format version
    #[arg(long = "min-version", default_value_t = default_min_version())]
    min_version: String,
    /// The subdirectory to store elements in
    #[arg(long = "element-path", default_value = "elements")]
    element_path: String,
    /// Allow overwriting an existing project.conf
    #[arg(short = 'f', long)]
    force: bool,
    /// Where to create the project (default: the current directory)
    target_directory: Option<PathBuf>,
}

fn default_min_version() -> String {
    format!("{}.{}", BST_API_VERSION.0, BST_API_VERSION.1)
}

fn app_error(message: impl Into<String>) -> LoadError {
    LoadError::new(LoadErrorReason::InvalidData, message)
}

/// `AppError` of an unusable minimum version.
fn check_min_version(v: &str) -> Result<(), LoadError> {
    let Some((major, minor)) = crate::project::parse_version(v) else {
        return Err(app_error(format!("Malformed version string: {v}")));
    };
    if major != i64::from(BST_API_VERSION.0) || minor > i64::from(BST_API_VERSION.1) {
        return Err(app_error(format!(
            "The minimum version must be a known version of BuildStream {}",
            BST_API_VERSION.0
        )));
    }
    Ok(())
}

/// An element path must be relative and free of `..` components.
fn check_element_path(p: &str) -> Result<(), LoadError> {
    let path = Path::new(p);
    if path.is_absolute() || path.components().any(|c| c.as_os_str() == "..") {
        return Err(app_error(
            "The element path cannot be an absolute path or contain any '..' components\n",
        ));
    }
    Ok(())
}

/// Asks `question` on stderr, with a default; the answer (or the default) from stdin.
fn ask(question: &str, default: Option<&str>) -> Result<String, LoadError> {
    let mut err = std::io::stderr();
    match default {
        Some(d) => {
            let _ = write!(err, "{question} [{d}]: ");
        }
        None => {
            let _ = write!(err, "{question}: ");
        }
    }
    let _ = err.flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| app_error(format!("Error reading the answer: {e}")))?;
    let answer = line.trim();
    Ok(match (answer.is_empty(), default) {
        (true, Some(d)) => d.to_owned(),
        _ => answer.to_owned(),
    })
}

/// Runs `init`; `directory_given` is whether the global `-C` was used (refused, as by `bst`).
pub(super) fn run(
    args: &InitArgs,
    directory: &Path,
    directory_given: bool,
    interactive: bool,
) -> Result<(), LoadError> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let directory = cwd.join(args.target_directory.as_deref().unwrap_or(directory));
    // `os.path.abspath`: absolute and normalised.
    use std::os::unix::ffi::OsStrExt;
    let normal = crate::source::fetch::util::normpath_bytes(directory.as_os_str().as_bytes());
    let directory = crate::source::fetch::util::path_from_bytes(&normal).to_path_buf();
    let project_path = directory.join("project.conf");
    if directory_given && args.target_directory.is_none() {
        return Err(
            app_error("Attempted to use -C or --directory with init.").with_detail(format!(
                "Please use 'bst init {}' instead.",
                directory.display()
            )),
        );
    }
    if !args.force && project_path.exists() {
        return Err(app_error(format!(
            "A project.conf already exists at: {}",
            project_path.display()
        )));
    }
    let (name, min_version, element_path) = match &args.project_name {
        Some(name) => (
            name.clone(),
            args.min_version.clone(),
            args.element_path.clone(),
        ),
        None if !interactive => {
            return Err(app_error(
                "Cannot initialize a new project without specifying the project name",
            ))
        }
        None => {
            let name = loop {
                let n = ask("Project name", None)?;
                match crate::yaml::assert_symbol_name(&n, "project name", None, true) {
                    Ok(()) => break n,
                    Err(e) => eprintln!("{}", e.message),
                }
            };
            let min_version = loop {
                let v = ask("Minimum BuildStream version", Some(&args.min_version))?;
                match check_min_version(&v) {
                    Ok(()) => break v,
                    Err(e) => eprintln!("{}", e.message),
                }
            };
            let element_path = loop {
                let p = ask("Element path", Some(&args.element_path))?;
                match check_element_path(&p) {
                    Ok(()) => break p,
                    Err(e) => eprint!("{}", e.message),
                }
            };
            (name, min_version, element_path)
        }
    };
    crate::yaml::assert_symbol_name(&name, "project name", None, true)?;
    check_min_version(&min_version)?;
    check_element_path(&element_path)?;
    std::fs::create_dir_all(&directory).map_err(|e| {
        app_error(format!(
            "Error creating project directory {}: {e}",
            directory.display()
        ))
    })?;
    let elements = directory.join(&element_path);
    std::fs::create_dir_all(&elements).map_err(|e| {
        app_error(format!(
            "Error creating elements sub-directory {}: {e}",
            elements.display()
        ))
    })?;
    let text = format!(
        "# Unique project name\nname: {name}\n\n# Required BuildStream version\nmin-version: {min_version}\n\n# Subdirectory where elements are stored\nelement-path: {element_path}\n"
    );
    std::fs::write(&project_path, text)
        .map_err(|e| app_error(format!("Error writing {}: {e}", project_path.display())))?;
    eprintln!();
    eprintln!("Created project.conf at: {}", project_path.display());
    Ok(())
}
