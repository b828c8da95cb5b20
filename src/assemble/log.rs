//! A job's log file, in BuildStream's layout: timed activities as `START` and then
//! `SUCCESS`/`FAILURE` lines (`[time] KIND    [key] element: text`), details indented below,
//! sandbox output in between. Activities BuildStream also shows on the terminal are echoed
//! as [`JobMessage`]s to whoever owns the terminal (the scheduler's coordinator).

use super::{AssembleError, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// An activity of a job, for the terminal: the job's key, element and action are the
/// receiver's to add.
#[derive(Clone, Debug)]
pub struct JobMessage {
    /// `START`, `SUCCESS`, `FAILURE` or `STATUS`.
    pub kind: &'static str,
    /// How long the activity took (None when it starts).
    pub elapsed: Option<Duration>,
    /// The activity's name.
    pub text: String,
    /// Lines shown indented below the message (the commands of `Running commands`).
    pub detail: Option<String>,
}

/// Where a job's terminal messages go.
pub type Echo = Box<dyn Fn(JobMessage) + Send + Sync>;

struct Job {
    /// The element's cache key, as the log shows it (8 characters).
    key: String,
    /// The element's full name.
    name: String,
    echo: Echo,
}

/// An element's log, appended to as assembly goes; or, for sandbox runs outside a build
/// (`artifact checkout`), no log: lines are dropped and the sandbox's output goes to stderr.
pub struct Log {
    file: Option<(PathBuf, std::fs::File)>,
    job: Option<Job>,
}

/// A started activity, for [`Log::end`].
#[must_use = "an activity is ended with Log::end"]
pub struct Started {
    text: String,
    keyed: bool,
    echoed: bool,
    start: Instant,
}

/// `detail` as BuildStream writes it below a message: a blank line, then each line
/// indented by four spaces.
pub fn indented_detail(detail: &str) -> String {
    let mut out = String::from("\n");
    for line in detail.lines() {
        out.push_str("\n    ");
        out.push_str(line);
    }
    out
}

impl Log {
    /// Opens (creates) the log file.
    pub fn open(path: &Path) -> Result<Log> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| AssembleError::Io(dir.into(), e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| AssembleError::Io(path.into(), e))?;
        Ok(Log {
            file: Some((path.to_path_buf(), file)),
            job: None,
        })
    }

    /// The log of the job for the element `name` (cache key `key`): activities are written
    /// with them and echoed to `echo`.
    pub fn for_job(path: &Path, key: &str, name: &str, echo: Echo) -> Result<Log> {
        let mut log = Log::open(path)?;
        log.job = Some(Job {
            key: key[..key.len().min(8)].to_owned(),
            name: name.to_owned(),
            echo,
        });
        Ok(log)
    }

    /// No log file: the sandbox's output goes to stderr.
    pub fn stderr() -> Log {
        Log {
            file: None,
            job: None,
        }
    }

    /// No log file; the activities BuildStream shows on the terminal go to `echo` (the
    /// sandbox runs of `artifact checkout`, whose output goes to stderr).
    pub fn terminal(name: &str, echo: Echo) -> Log {
        Log {
            file: None,
            job: Some(Job {
                key: String::new(),
                name: name.to_owned(),
                echo,
            }),
        }
    }

    /// The log's path (None for [`Log::stderr`]).
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(p, _)| p.as_path())
    }

    /// Appends a line.
    pub fn line(&mut self, s: &str) {
        if let Some((_, file)) = &mut self.file {
            let _ = writeln!(file, "{s}");
        }
    }

    /// A message line: `[time] KIND    [key] element: text`, the key left out when not
    /// `keyed` (as BuildStream leaves it out of `Running commands`).
    fn message(&mut self, elapsed: Option<Duration>, kind: &str, keyed: bool, text: &str) {
        let time = elapsed
            .map(crate::util::hms)
            .unwrap_or_else(|| "--:--:--".into());
        let who = match &self.job {
            Some(j) if keyed => format!("[{}] {}: ", j.key, j.name),
            Some(j) => format!("{}: ", j.name),
            None => String::new(),
        };
        self.line(&format!("[{time}] {kind:<7} {who}{text}"));
    }

    fn begin(&mut self, text: &str, detail: Option<&str>, keyed: bool, echoed: bool) -> Started {
        let mut line = text.to_owned();
        if let Some(d) = detail {
            line.push_str(&indented_detail(d));
        }
        self.message(None, "START", keyed, &line);
        if echoed {
            self.echo("START", None, text, detail);
        }
        Started {
            text: text.to_owned(),
            keyed,
            echoed,
            start: Instant::now(),
        }
    }

    /// Sends a message to the terminal's owner, if this is a job's log.
    fn echo(
        &self,
        kind: &'static str,
        elapsed: Option<Duration>,
        text: &str,
        detail: Option<&str>,
    ) {
        if let Some(j) = &self.job {
            (j.echo)(JobMessage {
                kind,
                elapsed,
                text: text.to_owned(),
                detail: detail.map(str::to_owned),
            });
        }
    }

    /// A `LOG` message, in the log only, with its detail lines.
    pub fn note(&mut self, text: &str, detail: &str) {
        let text = format!("{text}{}", indented_detail(detail));
        self.message(None, "LOG", true, &text);
    }

    /// A `WARNING` with its detail lines, in the log and on the terminal.
    pub fn warning(&mut self, text: &str, detail: &str) {
        self.message(
            None,
            "WARNING",
            true,
            &format!("{text}{}", indented_detail(detail)),
        );
        self.echo("WARNING", None, text, Some(detail));
    }

    /// A failure that does not end the job (a try that is retried), in the log and on the
    /// terminal.
    pub fn failure(&mut self, text: &str) {
        self.message(None, "FAILURE", true, text);
        self.echo("FAILURE", None, text, None);
    }

    /// Starts an activity BuildStream shows in the log and on the terminal.
    pub fn start(&mut self, text: &str) -> Started {
        self.begin(text, None, true, true)
    }

    /// Starts an activity of one of the element's sources (`Fetching <url>`): BuildStream
    /// writes it to the log without the key, and shows it on the terminal.
    pub fn start_source(&mut self, text: &str) -> Started {
        self.begin(text, None, false, true)
    }

    /// A source's `STATUS` message, in the log (without the key) and on the terminal.
    pub fn status(&mut self, text: &str) {
        self.message(None, "STATUS", false, text);
        self.echo("STATUS", None, text, None);
    }

    /// Starts `Running commands`, whose detail is the commands' labels.
    pub fn start_commands(&mut self, labels: &str) -> Started {
        self.begin("Running commands", Some(labels), false, true)
    }

    /// Starts an activity shown only in the log (the job as a whole: the terminal shows
    /// the job's own lines instead).
    pub fn start_quiet(&mut self, text: &str) -> Started {
        self.begin(text, None, true, false)
    }

    /// Ends an activity with a failure that `message` explains: BuildStream's log then
    /// shows the message where the activity's name would be.
    pub fn fail(&mut self, started: Started, message: &str) {
        let renamed = Started {
            text: message.to_owned(),
            ..started
        };
        self.end(renamed, false);
    }

    /// Ends an activity that found nothing to do (BuildStream's `SKIPPED`, without a
    /// duration).
    pub fn skipped(&mut self, started: Started) {
        self.message(None, "SKIPPED", started.keyed, &started.text);
    }

    /// Ends an activity: SUCCESS if `ok`, else FAILURE.
    pub fn end(&mut self, started: Started, ok: bool) {
        let kind = if ok { "SUCCESS" } else { "FAILURE" };
        let elapsed = started.start.elapsed();
        self.message(Some(elapsed), kind, started.keyed, &started.text);
        if started.echoed {
            self.echo(kind, Some(elapsed), &started.text, None);
        }
    }
}
