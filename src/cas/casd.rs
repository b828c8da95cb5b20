//! Starting, watching and stopping `buildbox-casd`.
//!
//! Invariants: one casd per cache directory (an exclusive `flock` on `<cachedir>/cas/bst-rs.lock`
//! is held for casd's whole life); casd runs in its own process group so a terminal's Ctrl-C
//! reaches bst-rs first, which then stops casd cleanly; dropping [`Casd`] always stops it.

use super::{CasError, Result};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How casd is started.
#[derive(Clone, Debug)]
pub struct CasdConfig {
    /// The cache directory (casd's store is `<cachedir>/cas`).
    pub cachedir: PathBuf,
    /// casd's own log goes to `<logdir>/_casd/<time>.log`.
    pub logdir: PathBuf,
    /// `warning`, `info` or `trace`.
    pub log_level: &'static str,
    /// `--quota-high`, `--quota-low`, `--reserved` values from user configuration.
    pub quota: Vec<String>,
    /// The runner for local execution (`--buildbox-run`), and its `--jobs`.
    pub runner: Option<(PathBuf, usize)>,
}

/// A running casd.
pub struct Casd {
    child: Option<Child>,
    socket: PathBuf,
    sockdir: PathBuf,
    _lock: std::fs::File,
}

/// Where set-up installs buildbox when the system has none (`scripts/install-buildbox.sh`).
pub fn private_bin_dir() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    cache.join("bst-rs").join("buildbox").join("bin")
}

/// Finds a buildbox tool: on PATH first, then in [`private_bin_dir`].
pub fn find_tool(names: &[&str]) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push(private_bin_dir());
    for name in names {
        for dir in &dirs {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return Some(candidate);
            }
        }
    }
    None
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    crate::util::format_local(secs as i64, "%Y-%m-%dT%H:%M:%S")
}

impl Casd {
    /// Starts casd and waits until its socket answers.
    pub async fn start(cfg: &CasdConfig) -> Result<Casd> {
        let casd = find_tool(&["buildbox-casd"]).ok_or_else(|| {
            CasError::Daemon(
                "buildbox-casd not found on PATH; run scripts/install-buildbox.sh".into(),
            )
        })?;
        let casdir = cfg.cachedir.join("cas");
        std::fs::create_dir_all(&casdir).map_err(|e| CasError::Io(casdir.clone(), e))?;
        let lock = lock_exclusive(&casdir.join("bst-rs.lock"))?;

        let sockdir = make_socket_dir()?;
        let socket = sockdir.join("casd.sock");
        let logdir = cfg.logdir.join("_casd");
        std::fs::create_dir_all(&logdir).map_err(|e| CasError::Io(logdir.clone(), e))?;
        let logpath = logdir.join(format!("{}.log", timestamp()));
        let log = std::fs::File::create(&logpath).map_err(|e| CasError::Io(logpath.clone(), e))?;
        prune_logs(&logdir, 10);

        let mut cmd = Command::new(&casd);
        cmd.arg(format!("--bind=unix:{}", socket.display()))
            .arg(format!("--log-level={}", cfg.log_level))
            .arg("--cache-failures=false")
            .args(&cfg.quota)
            .arg("--protect-session-blobs");
        if let Some((runner, jobs)) = &cfg.runner {
            cmd.arg(format!("--buildbox-run={}", runner.display()))
                .arg(format!("--jobs={jobs}"));
        }
        cmd.arg(&cfg.cachedir)
            .current_dir(&cfg.cachedir)
            .stdin(Stdio::null())
            .stdout(
                log.try_clone()
                    .map_err(|e| CasError::Io(logpath.clone(), e))?,
            )
            .stderr(log)
            .process_group(0);
        // casd finds buildbox-fuse and friends next to itself.
        if let Some(dir) = casd.parent() {
            let mut path = vec![dir.to_path_buf()];
            if let Some(p) = std::env::var_os("PATH") {
                path.extend(std::env::split_paths(&p));
            }
            if let Ok(joined) = std::env::join_paths(path) {
                cmd.env("PATH", joined);
            }
        }
        let child = cmd
            .spawn()
            .map_err(|e| CasError::Daemon(format!("cannot start {}: {e}", casd.display())))?;
        let mut me = Casd {
            child: Some(child),
            socket,
            sockdir,
            _lock: lock,
        };
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if me.socket.exists() && tokio::net::UnixStream::connect(&me.socket).await.is_ok() {
                return Ok(me);
            }
            if let Some(status) = me.exit_status() {
                return Err(CasError::Daemon(format!(
                    "exited while starting ({status}); see {}",
                    logpath.display()
                )));
            }
            if Instant::now() > deadline {
                return Err(CasError::Daemon("did not start within 300 s".into()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// casd's unix socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `Some(status)` once casd has exited.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Stops casd (SIGTERM, then SIGKILL after 15 s) and removes the socket directory.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if child.try_wait().ok().flatten().is_none() {
                // SAFETY: plain kill(2) on our own child's pid.
                unsafe {
                    libc::kill(child.id() as i32, libc::SIGTERM);
                }
                let deadline = Instant::now() + Duration::from_secs(15);
                while child.try_wait().ok().flatten().is_none() {
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.sockdir);
    }
}

impl Drop for Casd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock_exclusive(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::io::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| CasError::Io(path.to_path_buf(), e))?;
    // SAFETY: flock(2) on a file descriptor we own.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(CasError::Daemon(format!(
            "the cache directory {} is in use by another bst-rs",
            path.parent()
                .and_then(Path::parent)
                .unwrap_or(path)
                .display()
        )));
    }
    Ok(f)
}

/// A fresh private directory with a short path (unix socket paths are limited to 108 bytes).
fn make_socket_dir() -> Result<PathBuf> {
    let base = std::env::temp_dir();
    for i in 0..1000u32 {
        let name = format!("bst-rs-{}-{}", std::process::id(), i);
        let dir = base.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(CasError::Io(dir, e)),
        }
    }
    Err(CasError::Daemon("cannot create a socket directory".into()))
}

fn prune_logs(dir: &Path, keep: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut logs: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    logs.sort();
    if logs.len() > keep {
        for old in &logs[..logs.len() - keep] {
            let _ = std::fs::remove_file(old);
        }
    }
}
