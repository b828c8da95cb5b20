//! Running commands in a hermetic sandbox: an REAPI Action executed by
//! `buildbox-run-bubblewrap` against casd's CAS.
//!
//! The input root is a CAS tree (never materialised by bst-rs); the runner stages it (FUSE
//! where available), runs the command under bubblewrap, captures the output directories into
//! CAS and writes the ActionResult. Commands are batched into one `sh -c -e` script per phase,
//! as BuildStream batches them ([`Batch`]).

pub mod proxy;

use crate::cas::proto::reapi::{
    command::EnvironmentVariable, platform::Property, Action, ActionResult, Command, Digest,
    Platform,
};
use crate::cas::{digest_str, Cas, CasError};
use prost::Message;
use std::path::{Path, PathBuf};

/// Errors of this layer.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// CAS trouble.
    #[error(transparent)]
    Cas(#[from] CasError),
    /// The runner itself failed (not the command).
    #[error("buildbox-run failed ({0}); see the log {1}")]
    Runner(String, PathBuf),
    /// No runner found.
    #[error("buildbox-run not found on PATH; run scripts/install-buildbox.sh")]
    NoRunner,
    /// I/O on a temporary or log file.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// Result of this layer.
pub type Result<T> = std::result::Result<T, SandboxError>;

/// One command of a batch.
#[derive(Clone, Debug)]
pub struct BatchCommand {
    /// argv.
    pub argv: Vec<String>,
    /// Working directory (absolute, in the sandbox).
    pub cwd: String,
    /// Environment, in order.
    pub env: Vec<(String, String)>,
    /// Label for the failure message (the command text when empty).
    pub label: String,
}

/// Commands run as one action, like BuildStream's `_SandboxREAPIBatch`.
#[derive(Default, Debug)]
pub struct Batch {
    script: String,
    first: Option<BatchCommand>,
    cwd: String,
    env: Vec<(String, String)>,
    /// The commands' labels, in order (those that have one).
    labels: Vec<String>,
}

/// POSIX shell quoting as Python's `shlex.quote` does it.
pub fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".into();
    }
    let safe = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./-_".contains(&b));
    if safe {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\"'\"'"))
    }
}

impl Batch {
    /// Appends a command.
    pub fn command(&mut self, c: BatchCommand) {
        if self.first.is_none() {
            self.first = Some(c.clone());
        } else {
            if c.cwd != self.cwd {
                self.script += &format!("mkdir -p {}\ncd {}\n", c.cwd, c.cwd);
            }
            for (k, _) in &self.env {
                if !c.env.iter().any(|(n, _)| n == k) {
                    self.script += &format!("unset {k}\n");
                }
            }
            for (k, v) in &c.env {
                if !self.env.iter().any(|(n, old)| n == k && old == v) {
                    self.script += &format!("export {k}={}\n", shell_quote(v));
                }
            }
        }
        self.cwd = c.cwd.clone();
        self.env = c.env.clone();
        let cmdline: Vec<String> = c.argv.iter().map(|a| shell_quote(a)).collect();
        let cmdline = cmdline.join(" ");
        self.script += &format!("(set -ex; {cmdline})");
        if !c.label.is_empty() {
            self.labels.push(c.label.clone());
        }
        let label = if c.label.is_empty() { cmdline } else { c.label };
        self.script += &format!(
            " || (echo Command {} failed with exitcode $? >&2 ; exit 1)\n",
            shell_quote(&format!("'{label}'"))
        );
    }

    /// Appends `rm -rf -- DIR || true` (and re-creates the first command's cwd).
    pub fn clean_directory(&mut self, dir: &str) {
        self.script += &format!("rm -rf -- {} || true\n", shell_quote(dir));
        if let Some(first) = &self.first {
            self.script += &format!("mkdir -p {} || true\n", shell_quote(&first.cwd));
        }
    }

    /// The environment the batch runs with (its first command's), None when empty.
    pub fn environment(&self) -> Option<&[(String, String)]> {
        self.first.as_ref().map(|c| c.env.as_slice())
    }

    /// The labels of its commands, one per line: the detail of BuildStream's
    /// `Running commands`.
    pub fn combined_label(&self) -> String {
        self.labels.join("\n")
    }

    /// True when no command was added.
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// The whole batch as one command (`sh -c -e <script>` with the first command's cwd and
    /// environment), or None when empty.
    pub fn finish(self) -> Option<BatchCommand> {
        let first = self.first?;
        Some(BatchCommand {
            argv: vec!["sh".into(), "-c".into(), "-e".into(), self.script],
            cwd: first.cwd,
            env: first.env,
            label: String::new(),
        })
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Run {
    /// The sandbox root in CAS.
    pub input_root: Digest,
    /// argv.
    pub argv: Vec<String>,
    /// Working directory, absolute in the sandbox.
    pub cwd: String,
    /// Environment variables, in order.
    pub env: Vec<(String, String)>,
    /// Directories whose contents are the result (absolute in the sandbox).
    pub outputs: Vec<String>,
    /// Platform properties (unsorted; sorted when the Action is made).
    pub platform: Vec<(String, String)>,
    /// Host directories bind-mounted into the sandbox (`host`, `sandbox path`).
    pub bind_mounts: Vec<(PathBuf, String)>,
    /// CPU priority of the runner and everything it starts: added to bst-rs's own niceness
    /// (`nice(3)`), so a `nice bst-rs` stays as nice.
    pub nice: i32,
}

/// `os.path.relpath(path, start)` for absolute, normalised sandbox paths.
pub fn relpath(path: &str, start: &str) -> String {
    let p: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let s: Vec<&str> = start.split('/').filter(|s| !s.is_empty()).collect();
    let common = p.iter().zip(&s).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; s.len() - common];
    parts.extend(&p[common..]);
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// The result of a run.
pub struct Outcome {
    /// The command's exit code.
    pub exit_code: i32,
    /// Output directory trees by path as requested (root Directory digests).
    pub outputs: Vec<(String, Digest)>,
    /// The action digest (for messages).
    pub action: Digest,
}

/// Runs actions with `buildbox-run`.
#[derive(Clone)]
pub struct Runner {
    runner: PathBuf,
    casd_socket: PathBuf,
    tmpdir: PathBuf,
}

impl Runner {
    /// Finds the runner (`buildbox-run`, else `buildbox-run-bubblewrap`).
    pub fn new(casd_socket: &Path, tmpdir: &Path) -> Result<Runner> {
        let runner = crate::cas::casd::find_tool(&["buildbox-run", "buildbox-run-bubblewrap"])
            .ok_or(SandboxError::NoRunner)?;
        std::fs::create_dir_all(tmpdir).map_err(|e| SandboxError::Io(tmpdir.into(), e))?;
        Ok(Runner {
            runner,
            casd_socket: casd_socket.to_path_buf(),
            tmpdir: tmpdir.to_path_buf(),
        })
    }

    /// The runner binary.
    pub fn path(&self) -> &Path {
        &self.runner
    }

    /// casd's socket, which the runner talks to.
    pub fn casd_socket(&self) -> &Path {
        &self.casd_socket
    }

    /// Uploads the Action and runs it; the command's output (stdout and stderr) is appended
    /// to `log`, or goes to stderr without one.
    pub async fn run(&self, cas: &Cas, run: &Run, log: Option<&Path>) -> Result<Outcome> {
        let mut platform: Vec<(String, String)> = run.platform.clone();
        platform.sort();
        let platform = Platform {
            properties: platform
                .into_iter()
                .map(|(name, value)| Property { name, value })
                .collect(),
        };
        let output_paths: Vec<String> = run.outputs.iter().map(|o| relpath(o, &run.cwd)).collect();
        // BuildStream sets the (deprecated) Command.platform as well as Action.platform;
        // buildbox-run reads either.
        #[allow(deprecated)]
        let command = Command {
            arguments: run.argv.clone(),
            environment_variables: run
                .env
                .iter()
                .map(|(name, value)| EnvironmentVariable {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            output_paths: output_paths.clone(),
            working_directory: run.cwd.trim_start_matches('/').to_owned(),
            platform: Some(platform.clone()),
            output_directory_format: 1, // DIRECTORY_ONLY
            ..Default::default()
        };
        let command_digest = cas.put_message(&command).await?;
        let action = Action {
            command_digest: Some(command_digest),
            input_root_digest: Some(run.input_root.clone()),
            platform: Some(platform),
            ..Default::default()
        };
        let action_bytes = action.encode_to_vec();
        let action_digest = cas.put_blobs(vec![action_bytes.clone()]).await?.remove(0);
        let stem = self
            .tmpdir
            .join(format!("action-{}", &action_digest.hash[..16]));
        let action_file = stem.with_extension("action");
        let result_file = stem.with_extension("result");
        tokio::fs::write(&action_file, &action_bytes)
            .await
            .map_err(|e| SandboxError::Io(action_file.clone(), e))?;
        let (logf, log_name): (std::fs::File, PathBuf) = match log {
            Some(log) => (
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .map_err(|e| SandboxError::Io(log.into(), e))?,
                log.into(),
            ),
            None => {
                use std::os::fd::AsFd;
                let fd = std::io::stderr()
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(|e| SandboxError::Io("<stderr>".into(), e))?;
                (fd.into(), "<stderr>".into())
            }
        };
        let mut cmd = tokio::process::Command::new(&self.runner);
        cmd.arg(format!("--remote=unix:{}", self.casd_socket.display()))
            .arg(format!("--action={}", action_file.display()))
            .arg(format!("--action-result={}", result_file.display()))
            .arg("--no-logs-capture");
        for (host, inside) in &run.bind_mounts {
            cmd.arg(format!("--bind-mount={}:{inside}", host.display()));
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(
                logf.try_clone()
                    .map_err(|e| SandboxError::Io(log_name.clone(), e))?,
            )
            .stderr(logf)
            .kill_on_drop(true)
            .process_group(0);
        if run.nice > 0 {
            let nice = run.nice;
            // SAFETY: nice(3) is two system calls (getpriority, setpriority) and touches no
            // memory the parent shares. Its failure (already at 19) is harmless.
            unsafe {
                cmd.pre_exec(move || {
                    libc::nice(nice);
                    Ok(())
                });
            }
        }
        let status = cmd
            .status()
            .await
            .map_err(|e| SandboxError::Io(self.runner.clone(), e))?;
        let _ = tokio::fs::remove_file(&action_file).await;
        let result = tokio::fs::read(&result_file).await;
        let _ = tokio::fs::remove_file(&result_file).await;
        let result = match result {
            Ok(bytes) if status.success() => {
                ActionResult::decode(bytes.as_slice()).map_err(|e| {
                    SandboxError::Runner(format!("unreadable ActionResult: {e}"), log_name.clone())
                })?
            }
            _ => {
                return Err(SandboxError::Runner(
                    format!("{status}, action {}", digest_str(&action_digest)),
                    log_name,
                ))
            }
        };
        let mut outputs = Vec::new();
        for (want, rel) in run.outputs.iter().zip(&output_paths) {
            let found = result
                .output_directories
                .iter()
                .find(|d| &d.path == rel || (rel == "." && d.path.is_empty()));
            let digest = match found {
                Some(d) => match (&d.root_directory_digest, &d.tree_digest) {
                    (Some(root), _) => root.clone(),
                    (None, Some(tree)) => tree_root(cas, tree)?,
                    (None, None) => crate::cas::empty_directory_digest(),
                },
                None => crate::cas::empty_directory_digest(),
            };
            outputs.push((want.clone(), digest));
        }
        Ok(Outcome {
            exit_code: result.exit_code,
            outputs,
            action: action_digest,
        })
    }
}

/// The root Directory digest of a REAPI `Tree` message.
fn tree_root(cas: &Cas, tree: &Digest) -> Result<Digest> {
    let t: crate::cas::proto::reapi::Tree = cas.message(tree)?;
    let root = t.root.unwrap_or_default();
    Ok(crate::cas::digest_of(&root.encode_to_vec()))
}
