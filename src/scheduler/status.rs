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
}

fn hms(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

impl Status {
    /// A status writer; `interactive` draws the status area on stderr.
    pub fn new(interactive: bool) -> Status {
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
        }
    }

    fn print(&self, line: &str) {
        match &self.mp {
            Some(mp) => {
                let _ = mp.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// A free-standing message.
    pub fn message(&self, text: &str) {
        self.print(&format!("[{}] {text}", hms(self.start.elapsed())));
    }

    fn line(&self, elapsed: Option<Duration>, job: &Job, kind: &str, text: &str) {
        let time = elapsed.map(hms).unwrap_or_else(|| "--:--:--".into());
        let key = &job.key[..job.key.len().min(8)];
        self.print(&format!(
            "[{time}][{key}][{:>5}:{}] {kind:<7} {text}",
            job.action, job.name
        ));
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
        self.line(None, &job, "START", &job.log.display().to_string());
        self.jobs.insert(id, job);
    }

    /// A job ended.
    pub fn finish(&mut self, id: ElementId, ok: bool, error: &str) {
        if let Some(job) = self.jobs.remove(&id) {
            if let (Some(mp), Some(b)) = (&self.mp, &job.bar) {
                b.finish_and_clear();
                mp.remove(b);
            }
            let elapsed = Some(job.start.elapsed());
            if ok {
                self.line(elapsed, &job, "SUCCESS", &job.log.display().to_string());
            } else {
                self.line(elapsed, &job, "FAILURE", error);
            }
        }
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
