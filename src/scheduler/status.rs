//! The terminal: BuildStream-style message lines, and (interactive only) an indicatif status
//! area with the session line and one spinner per running job.

use crate::loader::ElementId;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rustc_hash::FxHashMap as HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Job {
    bar: Option<ProgressBar>,
    action: &'static str,
    name: String,
    key: String,
    log: PathBuf,
    start: Instant,
}

/// Output of a build session.
pub struct Status {
    mp: Option<MultiProgress>,
    header: Option<ProgressBar>,
    jobs: HashMap<ElementId, Job>,
    start: Instant,
    /// Log paths are shown relative to it, as BuildStream shows them.
    logdir: PathBuf,
}

use crate::util::hms;

/// `--log-file`: where BuildStream's main log goes besides the terminal.
static MAIN_LOG: std::sync::OnceLock<std::sync::Mutex<std::fs::File>> = std::sync::OnceLock::new();

/// Opens (truncating) the `--log-file` that every message, the session heading and the
/// summary are also written to, as `bst --log-file` writes them (errors are not).
pub fn set_main_log(path: &Path) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    let _ = MAIN_LOG.set(std::sync::Mutex::new(file));
    Ok(())
}

/// Writes `text` to the `--log-file`, if there is one.
fn to_main_log(text: &str) {
    if let Some(log) = MAIN_LOG.get() {
        use std::io::Write;
        let mut f = log.lock().unwrap_or_else(|e| e.into_inner());
        let _ = f.write_all(text.as_bytes());
    }
}

/// Prints a message (a line, or several) on stderr and into the `--log-file`, followed by
/// a newline.
pub fn emit(text: &str) {
    eprintln!("{text}");
    to_main_log(text);
    to_main_log("\n");
}

/// [`emit`] without the newline (the session heading and summary end with their own).
pub fn emit_raw(text: &str) {
    eprint!("{text}");
    to_main_log(text);
}

/// BuildStream's message line: `[elapsed][key][action:element] TYPE text`, the key in 8
/// columns, the action right-aligned in 8 and the element name padded to 30.
fn message_line(
    elapsed: Option<Duration>,
    key: &str,
    action: &str,
    name: &str,
    kind: &str,
    text: &str,
) -> String {
    let time = elapsed.map(hms).unwrap_or_else(|| "--:--:--".into());
    let key = &key[..key.len().min(8)];
    format!("[{time}][{key:<8}][{action:>8}:{name:<30}] {kind:<7} {text}")
}

/// One of BuildStream's timed activities outside jobs, printed on stderr: a START line when
/// it begins, SUCCESS or FAILURE with its duration when it ends. Core activities (loading,
/// querying the cache, a whole session) show `main:core activity` and no key.
pub struct Activity {
    key: String,
    name: String,
    text: String,
    start: Instant,
}

impl Activity {
    /// Starts a core activity.
    pub fn core(text: &str) -> Activity {
        Self::begin("", "core activity", text)
    }

    /// BuildStream's `Initializing remote caches`, reported where bst connects its remotes;
    /// bst-rs has no remote caches, so there is nothing to do in it.
    pub fn remote_caches() {
        Self::core("Initializing remote caches").end(true);
    }

    /// Starts an activity of the element `name` (its cache key `key`).
    pub fn element(key: &str, name: &str, text: &str) -> Activity {
        Self::begin(key, name, text)
    }

    fn begin(key: &str, name: &str, text: &str) -> Activity {
        emit(&message_line(None, key, "main", name, "START", text));
        Activity {
            key: key.to_owned(),
            name: name.to_owned(),
            text: text.to_owned(),
            start: Instant::now(),
        }
    }

    /// Ends the activity: SUCCESS if `ok`, else FAILURE.
    pub fn end(self, ok: bool) {
        let kind = if ok { "SUCCESS" } else { "FAILURE" };
        let elapsed = Some(self.start.elapsed());
        emit(&message_line(
            elapsed, &self.key, "main", &self.name, kind, &self.text,
        ));
    }

    /// Runs `f` as this activity.
    pub fn run<T, E>(self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let r = f();
        self.end(r.is_ok());
        r
    }
}

/// A warning about the element `name` (None: a core warning) with its cache key `key`
/// (empty: none shown), as BuildStream prints one, its detail lines indented below.
pub fn warning_line(key: &str, name: Option<&str>, message: &str, detail: Option<&str>) -> String {
    let element = name.is_some();
    let name = name.unwrap_or("core activity");
    let mut out = message_line(None, key, "main", name, "WARNING", message);
    if let Some(detail) = detail {
        if element {
            out.push_str(&element_detail("WARNING", detail));
        } else {
            out.push_str(&crate::assemble::indented_detail(detail));
        }
        out.push('\n');
    }
    out
}

/// The detail of an element's message on the terminal ([`crate::assemble::indented_detail`]):
/// unless the message is an error, BuildStream shows only its first `logging: message-lines`
/// lines (`--message-lines`), then how many it left out. (Messages of no element, and logs,
/// are never shortened.)
fn element_detail(kind: &str, detail: &str) -> String {
    let limit = crate::project::user_config().message_lines;
    let lines: Vec<&str> = detail.lines().collect();
    if matches!(kind, "FAILURE" | "ERROR" | "BUG") || lines.len() <= limit {
        return crate::assemble::indented_detail(detail);
    }
    if limit == 0 {
        return "\n\n    ".to_owned();
    }
    let mut out = crate::assemble::indented_detail(&lines[..limit].join("\n"));
    out.push_str(&format!(
        "\n    Message contains {} additional lines",
        lines.len() - limit
    ));
    out
}

/// `key: value` lines, the values aligned, `indent` levels of four spaces in (BuildStream's
/// `_format_values`, for the session heading and summary).
pub fn format_values<K: AsRef<str>>(pairs: &[(K, String)], indent: usize) -> String {
    let width = pairs
        .iter()
        .map(|(k, _)| k.as_ref().len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        let k = k.as_ref();
        let pad = " ".repeat(width - k.len());
        out += &format!("{}{k}:{pad} {v}\n", "    ".repeat(indent));
    }
    out
}

/// The end of a failed job's log as BuildStream shows it below the failure: its path, then
/// its last lines (`logging: error-lines`, `--error-lines`) between rules, indented; a blank
/// line after.
fn log_tail(log: &Path) -> String {
    let count = crate::project::user_config().error_lines;
    let content = std::fs::read(log).unwrap_or_default();
    let content = String::from_utf8_lossy(&content);
    let lines: Vec<&str> = content.lines().collect();
    let tail = &lines[lines.len().saturating_sub(count)..];
    let rule = "=".repeat(70);
    let mut out = format!(
        "\n\n    Printing the last {count} lines from log file:\n    {}\n    {rule}\n",
        log.display()
    );
    out += &crate::util::indent_nonblank(tail.join("\n").trim_end(), "    ");
    out += &format!("    {rule}\n");
    out
}

/// Where the terminal messages of a sandbox run outside jobs go (see
/// [`crate::assemble::Log::terminal`]): stderr, as `main:<name>` messages without a key.
pub fn main_echo(name: &str) -> crate::assemble::Echo {
    let name = name.to_owned();
    Box::new(move |m| {
        let mut line = message_line(m.elapsed, "", "main", &name, m.kind, &m.text);
        if let Some(d) = &m.detail {
            line.push_str(&element_detail(m.kind, d));
            line.push('\n');
        }
        emit(&line);
    })
}

/// A core `INFO` message, printed on stderr (`Checked out sources to ...`).
pub fn info(text: &str) {
    emit(&message_line(
        None,
        "",
        "main",
        "core activity",
        "INFO",
        text,
    ));
}

/// A warning raised while loading, printed on stderr (see [`warning_line`]).
pub fn warning(name: Option<&str>, message: &str, detail: Option<&str>) {
    emit(&warning_line("", name, message, detail));
}

impl Status {
    /// A status writer; `interactive` draws the status area on stderr. Job log paths are
    /// shown relative to `logdir`.
    pub fn new(interactive: bool, logdir: &Path) -> Status {
        let (mp, header) = if interactive {
            let mp = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let header = mp.add(ProgressBar::new_spinner());
            header.set_style(
                ProgressStyle::with_template("=== [{elapsed_precise}] {msg}")
                    .expect("valid template"),
            );
            (Some(mp), Some(header))
        } else {
            (None, None)
        };
        Status {
            mp,
            header,
            jobs: HashMap::default(),
            start: Instant::now(),
            logdir: logdir.to_path_buf(),
        }
    }

    fn print(&self, line: &str) {
        match &self.mp {
            Some(mp) => {
                let _ = mp.println(line);
                to_main_log(line);
                to_main_log("\n");
            }
            None => emit(line),
        }
    }

    /// A free-standing message.
    pub fn message(&self, text: &str) {
        self.print(&format!("[{}] {text}", hms(self.start.elapsed())));
    }

    fn line(&self, elapsed: Option<Duration>, job: &Job, kind: &str, text: &str) {
        self.print(&message_line(
            elapsed, &job.key, job.action, &job.name, kind, text,
        ));
    }

    /// A job's log file as BuildStream shows it: relative to the log directory.
    fn log_text(&self, job: &Job) -> String {
        job.log
            .strip_prefix(&self.logdir)
            .unwrap_or(&job.log)
            .display()
            .to_string()
    }

    /// A job started.
    pub fn start(
        &mut self,
        id: ElementId,
        action: &'static str,
        name: &str,
        key: &str,
        log: &Path,
    ) {
        let bar = self.mp.as_ref().map(|mp| {
            let b = mp.add(ProgressBar::new_spinner());
            b.set_style(
                ProgressStyle::with_template("  [{elapsed_precise}][{msg}]")
                    .expect("valid template"),
            );
            b.set_message(format!("{action}:{name}"));
            b.enable_steady_tick(Duration::from_millis(250));
            b
        });
        let job = Job {
            bar,
            action,
            name: name.to_owned(),
            key: key.to_owned(),
            log: log.to_path_buf(),
            start: Instant::now(),
        };
        self.line(None, &job, "START", &self.log_text(&job));
        self.jobs.insert(id, job);
    }

    /// A job ended with nothing to do (`SKIPPED text`).
    pub fn skipped(&mut self, id: ElementId, text: &str) {
        if let Some(job) = self.jobs.remove(&id) {
            if let (Some(mp), Some(b)) = (&self.mp, &job.bar) {
                b.finish_and_clear();
                mp.remove(b);
            }
            self.line(Some(job.start.elapsed()), &job, "SKIPPED", text);
        }
    }

    /// A job ended. A failure is printed as BuildStream prints it, the error and then the
    /// end of the job's log; that text is returned, for the failure summary.
    pub fn finish(&mut self, id: ElementId, ok: bool, error: &str) -> Option<String> {
        let job = self.jobs.remove(&id)?;
        if let (Some(mp), Some(b)) = (&self.mp, &job.bar) {
            b.finish_and_clear();
            mp.remove(b);
        }
        let elapsed = Some(job.start.elapsed());
        if ok {
            self.line(elapsed, &job, "SUCCESS", &self.log_text(&job));
            return None;
        }
        let mut text = message_line(elapsed, &job.key, job.action, &job.name, "FAILURE", error);
        text += &log_tail(&job.log);
        self.print(&text);
        Some(text)
    }

    /// An activity of a running job, with the job's key, action and element.
    pub fn job_message(&self, id: ElementId, m: &crate::assemble::JobMessage) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        let mut line = message_line(m.elapsed, &job.key, job.action, &job.name, m.kind, &m.text);
        if let Some(d) = &m.detail {
            // BuildStream leaves a blank line after a detail on the terminal.
            line.push_str(&element_detail(m.kind, d));
            line.push('\n');
        }
        self.print(&line);
    }

    /// Updates the session line.
    pub fn tick(&self, text: &str) {
        if let Some(h) = &self.header {
            h.set_message(text.to_owned());
            h.tick();
        }
    }

    /// Removes the status area.
    pub fn clear(&mut self) {
        if let Some(h) = self.header.take() {
            h.finish_and_clear();
        }
        if let Some(mp) = &self.mp {
            let _ = mp.clear();
        }
    }
}
