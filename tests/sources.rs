//! Fetching and staging sources: `bst-rs source fetch` / `source checkout` on a copy of
//! testprojects/fetch, whose aliases point to an HTTP server started here (127.0.0.1 only)
//! and to git repositories made by scripts/make-fetch-git-repos.sh. Staged trees are
//! compared with what real BuildStream staged (tests/expected/sources, recorded by
//! scripts/record-source-checkouts.sh).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

mod common;

use common::{path_with_buildbox, repo};

// ---------------------------------------------------------------------------------------
// A small HTTP/1.0 server over a directory.

/// Serves `root` on 127.0.0.1. Paths under `/missing/` answer 404, paths under `/flaky/`
/// answer 503 to their first request, then the file without the prefix. Stops when dropped.
struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(root: &Path) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let root = root.to_path_buf();
        let (s, r) = (stop.clone(), requests.clone());
        let handle = std::thread::spawn(move || {
            let flaky_seen = AtomicUsize::new(0);
            // Bounded: at most 1000 connections, then the server ends by itself.
            for conn in listener.incoming().take(1000) {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = conn {
                    let _ = serve(stream, &root, &r, &flaky_seen);
                }
            }
        });
        Server {
            port,
            stop,
            requests,
            handle: Some(handle),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn serve(
    stream: TcpStream,
    root: &Path,
    log: &Mutex<Vec<String>>,
    flaky_seen: &AtomicUsize,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    log.lock().unwrap().push(path.clone());
    let mut out = stream;
    let respond = |out: &mut TcpStream, status: &str, body: &[u8]| -> std::io::Result<()> {
        write!(
            out,
            "HTTP/1.0 {status}\r\nContent-Length: {}\r\nETag: \"test-etag\"\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        out.write_all(body)
    };
    if path.starts_with("/missing/") {
        return respond(&mut out, "404 Not Found", b"not here");
    }
    let file = match path.strip_prefix("/flaky") {
        Some(rest) => {
            if flaky_seen.fetch_add(1, Ordering::SeqCst) == 0 {
                return respond(&mut out, "503 Service Unavailable", b"try later");
            }
            rest.to_owned()
        }
        None => path.clone(),
    };
    match std::fs::read(root.join(file.trim_start_matches('/'))) {
        Ok(data) => respond(&mut out, "200 OK", &data),
        Err(_) => respond(&mut out, "404 Not Found", b"not found"),
    }
}

// ---------------------------------------------------------------------------------------
// Projects and runs.

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let (s, d) = (e.path(), dst.join(e.file_name()));
        let ft = e.file_type().unwrap();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&s).unwrap(), &d).unwrap();
        } else if ft.is_dir() {
            copy_dir(&s, &d);
        } else {
            std::fs::copy(&s, &d).unwrap();
        }
    }
}

/// A copy of testprojects/fetch with its server, git repositories and private directories.
struct Fixture {
    tmp: tempfile::TempDir,
    server: Server,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let server = Server::start(&repo().join("testprojects/fetch/files"));
        let project = tmp.path().join("project");
        copy_dir(&repo().join("testprojects/fetch"), &project);
        let git = tmp.path().join("git");
        let st = Command::new("bash")
            .arg(repo().join("scripts/make-fetch-git-repos.sh"))
            .arg(&git)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "make-fetch-git-repos.sh failed");
        let conf = project.join("project.conf");
        let text = std::fs::read_to_string(&conf)
            .unwrap()
            .replace("@HTTP@", &server.url())
            .replace("@GIT@", &git.to_string_lossy());
        std::fs::write(&conf, text).unwrap();
        let f = Fixture { tmp, server };
        f.write_user_config("");
        f
    }

    fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    fn sourcedir(&self) -> PathBuf {
        self.path("sources")
    }

    /// The private user configuration, with `extra` appended.
    fn write_user_config(&self, extra: &str) {
        let text = format!(
            "cachedir: {}\nsourcedir: {}\n{extra}",
            self.path("cache").display(),
            self.sourcedir().display()
        );
        std::fs::write(self.path("bst.conf"), text).unwrap();
    }

    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_bst-rs"))
            .arg("-c")
            .arg(self.path("bst.conf"))
            .arg("-C")
            .arg(self.path("project"))
            .args(args)
            .env("XDG_CONFIG_HOME", self.path("xdg-config"))
            .env("XDG_CACHE_HOME", self.path("xdg-cache"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.path("home"))
            .env("PATH", path_with_buildbox())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `source checkout` of one element into a fresh directory; the element's directory.
    fn checkout(&self, element: &str) -> Result<PathBuf, String> {
        let dest = self.path(&format!("out/{element}"));
        let (ok, _, err) = self.run(&[
            "source",
            "checkout",
            element,
            "--directory",
            &dest.to_string_lossy(),
        ]);
        if ok {
            Ok(dest.join(element.trim_end_matches(".bst")))
        } else {
            Err(err)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Listings (the format of scripts/list-tree.py).

fn git_out(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    if out.status.success() {
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    } else {
        "-".to_owned()
    }
}

/// `scripts/list-tree.py`'s listing, with a `git` line for each repository.
fn listing(root: &Path) -> Vec<String> {
    common::listing_with(root, &|rel, dir| {
        let mut tags: Vec<String> = git_out(dir, &["tag", "-l"])
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        tags.sort();
        let tags = if tags.is_empty() {
            "-".to_owned()
        } else {
            tags.join(",")
        };
        format!(
            "git {rel} head={} branch={} tags={tags} describe={}",
            git_out(dir, &["rev-parse", "HEAD"]),
            git_out(dir, &["symbolic-ref", "-q", "HEAD"]),
            git_out(dir, &["describe", "--tags", "--long", "--abbrev=40"]),
        )
    })
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// A failure message without what differs between runs and tools: the server's port, and the
/// staging paths of escape errors.
fn normalize_message(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("http://127.0.0.1:") {
        out.push_str(&rest[..i]);
        out.push_str("<http>");
        rest =
            rest[i + "http://127.0.0.1:".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    for marker in [" would be extracted to ", " would link to "] {
        if let Some(i) = out.find(marker) {
            out.truncate(i + marker.len());
        }
    }
    out
}

/// The last source failure message of bst-rs's output (not the session's end, `FAILURE
/// Fetch`, nor the summary after it).
fn failure_message(stderr: &str) -> String {
    // As scripts/record-source-checkouts.sh takes it from bst's output: the last FAILURE
    // line that is not a retry (a job log's end, shown below a failure, counts), without
    // the log's `[key] element: ` prefix.
    let strip_log_prefix = |m: &str| -> String {
        let unprefixed = m
            .strip_prefix('[')
            .and_then(|r| r.split_once("] "))
            .filter(|(key, _)| key.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|(_, rest)| rest.split_once(": "))
            .filter(|(name, _)| !name.contains(' '))
            .map(|(_, msg)| msg);
        unprefixed.unwrap_or(m).to_owned()
    };
    stderr
        .lines()
        .rev()
        .filter(|l| !l.contains(":core activity ") && !l.contains("Try #"))
        .find_map(|l| l.split_once("] FAILURE ").map(|(_, m)| strip_log_prefix(m)))
        .or_else(|| {
            stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Tests.

/// Every element of testprojects/fetch stages what real bst stages, or fails as it does.
#[test]
fn checkouts_match_buildstream() {
    let f = Fixture::new();
    let expected_dir = repo().join("tests/expected/sources");
    let mut names: Vec<String> = std::fs::read_dir(&expected_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    assert!(names.len() > 15, "expected facts are missing");
    let mut failures = Vec::new();
    for name in names {
        let element = format!("{}.bst", name.trim_end_matches(".txt"));
        if element == "tar-lz.bst" && !on_path("lzip") {
            eprintln!("skipping {element}: no lzip on PATH (scripts/setup.sh installs it)");
            continue;
        }
        let expected = std::fs::read_to_string(expected_dir.join(&name)).unwrap();
        let mut lines = expected.lines();
        let status = lines.next().unwrap();
        let expected_rest: Vec<String> = lines.map(str::to_owned).collect();
        match (status, f.checkout(&element)) {
            ("ok", Ok(dir)) => {
                let got = listing(&dir);
                if got != expected_rest {
                    failures.push(format!(
                        "{element}: staged tree differs\n--- expected\n{}\n--- got\n{}",
                        expected_rest.join("\n"),
                        got.join("\n")
                    ));
                }
            }
            ("error", Err(stderr)) => {
                let got = normalize_message(&failure_message(&stderr));
                let want = normalize_message(expected_rest.first().map_or("", |s| s.as_str()));
                if got != want {
                    failures.push(format!(
                        "{element}: error differs\n  expected: {want}\n  got:      {got}"
                    ));
                }
            }
            (status, Ok(dir)) => failures.push(format!(
                "{element}: expected {status}, bst-rs staged:\n{}",
                listing(&dir).join("\n")
            )),
            (status, Err(stderr)) => failures.push(format!(
                "{element}: expected {status}, bst-rs failed:\n{stderr}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Downloads land where BuildStream keeps them: `<sourcedir>/<kind>/<url dir name>/<sha256>`.
#[test]
fn fetch_fills_buildstreams_source_directory_and_works_offline() {
    let f = Fixture::new();
    let (ok, _, err) = f.run(&[
        "source",
        "fetch",
        "--deps",
        "all",
        "tar-gz.bst",
        "remote.bst",
        "zip.bst",
    ]);
    assert!(ok, "{err}");
    // A fetch session as BuildStream runs one: the heading (no artifact is looked at, so
    // every element is `waiting`), a fetch job per element, the pipeline summary.
    let listed = err
        .lines()
        .filter(|l| l.starts_with("     waiting ") && l.ends_with(".bst "))
        .count();
    assert_eq!(listed, 3, "{err}");
    let jobs = err
        .lines()
        .filter(|l| l.contains("][   fetch:") && l.ends_with(".log"))
        .count();
    assert_eq!(jobs, 6, "a START and a SUCCESS line per element:\n{err}");
    let summary = "Pipeline Summary\n    Total:       3\n    Session:     3\n    Fetch Queue: processed 3, skipped 0, failed 0 \n";
    assert!(err.ends_with(summary), "{err}");
    let url_dir = |url: &str| -> String {
        url.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '%' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let sha = "6beffb8eaa8befee875c2ad6cdf184bd64b98cbe97b997c9916991c66eab5581";
    let cached = f
        .sourcedir()
        .join("tar")
        .join(url_dir("files:hello.tar.gz"))
        .join(sha);
    assert!(cached.is_file(), "{} missing", cached.display());
    assert!(f
        .sourcedir()
        .join("tar")
        .join(url_dir("files:hello.tar.gz"))
        .join(format!("{sha}.etag"))
        .is_file());
    assert!(f
        .sourcedir()
        .join("remote")
        .join(url_dir("files:flat.tar.gz"))
        .is_dir());
    assert!(f
        .sourcedir()
        .join("zip")
        .join(url_dir("files:hello.zip"))
        .is_dir());
    let fetched = f.server.requests().len();
    // Fetching again downloads nothing.
    let (ok, _, err) = f.run(&["source", "fetch", "tar-gz.bst", "remote.bst", "zip.bst"]);
    assert!(ok, "{err}");
    assert_eq!(f.server.requests().len(), fetched);
    assert!(
        err.contains("Fetch Queue: processed 0, skipped 3, failed 0"),
        "{err}"
    );
    // Staging needs no network.
    drop(f.server);
    let tmp = f.tmp;
    let f2 = Fixture {
        tmp,
        server: Server::start(Path::new("/nonexistent")),
    };
    let dir = f2.checkout("tar-gz.bst").expect("checkout from the cache");
    assert!(dir.join("README").is_file());
    // BuildStream's activities after the fetch (as bst 2.8.1 prints them): the sources
    // are checked, each element's staged, and the location given as an INFO message.
    let dest = f2.path("out/again");
    let (ok, _, err) = f2.run(&[
        "source",
        "checkout",
        "tar-gz.bst",
        "--directory",
        &dest.to_string_lossy(),
    ]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = err.lines().filter_map(|l| l.get(10..)).collect();
    let core = "[        ][    main:core activity                 ]";
    let tail: Vec<String> = lines[lines.len() - 5..]
        .iter()
        .map(|l| match l.contains("main:tar-gz.bst") {
            // The element's key, whatever it is.
            true => format!("[KEY     ]{}", &l[10..]),
            false => l.to_string(),
        })
        .collect();
    let el = "[KEY     ][    main:tar-gz.bst                    ]";
    assert_eq!(
        tail,
        [
            format!("{core} START   Checking sources"),
            format!("{core} SUCCESS Checking sources"),
            format!("{el} START   Staging sources"),
            format!("{el} SUCCESS Staging sources"),
            format!("{core} INFO    Checked out sources to '{}'", dest.display()),
        ],
        "{err}"
    );
}

#[test]
fn sha_mismatch_is_an_error_and_keeps_nothing_under_the_ref() {
    let f = Fixture::new();
    let (ok, _, err) = f.run(&["source", "fetch", "sha-mismatch.bst"]);
    assert!(!ok);
    assert!(
        err.contains("has sha256sum '1d8004f9145ad8d94d0c13e5ec2d3a4f62a549019026479c986a9554ab6112fb', not '0000000000000000000000000000000000000000000000000000000000000000'!"),
        "{err}"
    );
    // Not a network problem: no retry.
    assert!(!err.contains("retrying"), "{err}");
}

#[test]
fn tar_escapes_are_refused() {
    let f = Fixture::new();
    let err = f.checkout("tar-escape.bst").unwrap_err();
    assert!(
        err.contains("Error staging source: '../../evil.txt' would be extracted to ")
            && err.contains("which is outside the destination"),
        "{err}"
    );
    let err = f.checkout("tar-symlink-escape.bst").unwrap_err();
    assert!(
        err.contains("Error staging source: 'link/evil.txt' would be extracted to '/tmp/evil.txt', which is outside the destination"),
        "{err}"
    );
    assert!(
        !Path::new("/tmp/evil.txt").exists()
            || std::fs::read("/tmp/evil.txt").unwrap() != b"evil\n"
    );
    let err = f.checkout("tar-hardlink-escape.bst").unwrap_err();
    assert!(
        err.contains("Error staging source: 'passwd' would link to '"),
        "{err}"
    );
}

/// `mirrors:` are tried first (the default mirror first), then the alias; a failing mirror
/// falls through to the next URI.
#[test]
fn mirrors_fall_back_to_upstream() {
    let f = Fixture::new();
    let conf = f.path("project/project.conf");
    let url = f.server.url();
    let mut text = std::fs::read_to_string(&conf).unwrap();
    let alias = format!("files: \"{url}/\"");
    assert!(text.contains(&alias));
    text = text.replace(&alias, "files: http://127.0.0.1:9/nothing-here/");
    text.push_str(&format!(
        "\nmirrors:\n- name: broken\n  aliases:\n    files:\n    - {url}/missing/\n- name: good\n  aliases:\n    files:\n    - {url}/\n"
    ));
    std::fs::write(&conf, text).unwrap();
    let (ok, _, err) = f.run(&["source", "fetch", "tar-gz.bst"]);
    assert!(ok, "{err}");
    assert_eq!(
        f.server.requests(),
        ["/missing/hello.tar.gz", "/hello.tar.gz"],
        "mirrors in order"
    );
    // With the user configuration's `fetch: source: aliases`, only the alias is used (and it
    // points nowhere).
    f.write_user_config("fetch:\n  source: aliases\nscheduler:\n  network-retries: 0\n");
    let (ok, _, err) = f.run(&["source", "fetch", "tar-xz.bst"]);
    assert!(!ok);
    assert!(
        err.contains("Error mirroring http://127.0.0.1:9/nothing-here/hello.tar.xz"),
        "{err}"
    );
}

#[test]
fn temporary_failures_are_retried() {
    let f = Fixture::new();
    let conf = f.path("project/project.conf");
    let url = f.server.url();
    let text = std::fs::read_to_string(&conf).unwrap().replace(
        &format!("files: \"{url}/\""),
        &format!("files: {url}/flaky/"),
    );
    assert!(text.contains("/flaky/"));
    std::fs::write(&conf, text).unwrap();
    let (ok, _, err) = f.run(&["source", "fetch", "tar-bz2.bst"]);
    assert!(ok, "{err}");
    // As BuildStream's `Job` retries: the job ends with `Try #1 failed, retrying` (no
    // reason) and the end of its log, then runs again from its start.
    let lines: Vec<&str> = err.lines().collect();
    let retry = lines
        .iter()
        .position(|l| l.contains("] FAILURE Try #1 failed, retrying"))
        .unwrap_or_else(|| panic!("a retry line: {err}"));
    assert!(
        lines[retry].ends_with("FAILURE Try #1 failed, retrying"),
        "{err}"
    );
    assert!(
        lines[retry + 2].contains("Printing the last 20 lines from log file"),
        "{err}"
    );
    let starts = lines
        .iter()
        .filter(|l| {
            l.contains("fetch:tar-bz2.bst") && l.contains("] START   ") && l.ends_with(".log")
        })
        .count();
    assert_eq!(starts, 2, "the job started twice: {err}");
    assert!(
        err.contains("Fetch Queue: processed 1, skipped 0, failed 0"),
        "{err}"
    );
}

#[test]
fn git_repo_stages_a_repository_at_the_ref() {
    let f = Fixture::new();
    let dir = f.checkout("git-repo.bst").expect("git_repo checkout");
    let head = "8f1915d5cfc1bcf5395695b1ded54d3b3a53d542";
    let l = listing(&dir);
    assert_eq!(
        l[0],
        format!("git . head={head} branch=refs/heads/master tags=v1.0 describe=v1.0-1-g{head}")
    );
    assert!(l.contains(&"l link.txt -> file.txt".to_owned()), "{l:?}");
    assert!(l.iter().any(|x| x.starts_with("x run.sh ")), "{l:?}");
    assert!(l.contains(&"d lib/sub".to_owned()), "{l:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join("file.txt")).unwrap(),
        "version two\n"
    );
    // The history from the tag (here the root commit: nothing is shallow), without blobs.
    assert_eq!(git_out(&dir, &["rev-list", "HEAD"]).lines().count(), 2);
    assert!(!dir.join(".git/shallow").exists());
    assert_eq!(git_out(&dir, &["status", "--porcelain"]), "");
    let blob = git_out(&dir, &["rev-parse", "HEAD:file.txt"]);
    assert_eq!(git_out(&dir, &["cat-file", "-t", &blob]), "-");
    // A plain commit ref: that commit alone.
    let dir = f.checkout("git-repo-sha.bst").expect("git_repo checkout");
    assert_eq!(
        std::fs::read_to_string(dir.join("file.txt")).unwrap(),
        "version one\n"
    );
    assert_eq!(
        git_out(&dir, &["rev-parse", "HEAD"]),
        "4f962b8dbac34f3b1c1158499a1d5360acf6d913"
    );
    let mirror = f.sourcedir().join("git_repo");
    assert!(std::fs::read_dir(&mirror).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with("main.git")));
}

#[test]
fn checkout_options() {
    let f = Fixture::new();
    let dest = f.path("co");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("existing"), "x").unwrap();
    let d = dest.to_string_lossy().into_owned();
    let (ok, _, err) = f.run(&["source", "checkout", "local.bst", "--directory", &d]);
    assert!(!ok);
    assert!(
        err.contains(&format!("Destination directory '{d}' not empty")),
        "{err}"
    );
    let (ok, _, err) = f.run(&[
        "source",
        "checkout",
        "--force",
        "local.bst",
        "--directory",
        &d,
    ]);
    assert!(ok, "{err}");
    assert!(dest.join("local/top.txt").is_file() && dest.join("existing").is_file());

    // --deps all: every element with sources, in its own directory.
    let all = f.path("all").to_string_lossy().into_owned();
    let (ok, _, err) = f.run(&[
        "source",
        "checkout",
        "--deps",
        "all",
        "no-sources.bst",
        "--directory",
        &all,
    ]);
    assert!(ok, "{err}");
    let mut names: Vec<String> = std::fs::read_dir(&all)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["local", "remote"]);

    // --tar with compression.
    let tarball = f.path("sources.tar.gz");
    let t = tarball.to_string_lossy().into_owned();
    let (ok, _, err) = f.run(&[
        "source",
        "checkout",
        "tar-gz.bst",
        "--tar",
        &t,
        "--compression",
        "gz",
    ]);
    assert!(ok, "{err}");
    let listing = Command::new("tar")
        .arg("tzf")
        .arg(&tarball)
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&listing.stdout);
    assert!(
        names
            .lines()
            .any(|l| l.trim_end_matches('/') == "tar-gz/src/main.c"),
        "{names}"
    );
    let (ok, _, err) = f.run(&["source", "checkout", "tar-gz.bst", "--tar", &t]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = f.run(&[
        "source",
        "checkout",
        "tar-gz.bst",
        "--tar",
        &t,
        "--directory",
        "x",
    ]);
    assert!(
        !ok && err.contains("ERROR: options --directory and --tar conflict"),
        "{err}"
    );
    let (ok, _, err) = f.run(&["source", "checkout", "tar-gz.bst", "--compression", "xz"]);
    assert!(
        !ok && err.contains("ERROR: --compression specified without --tar"),
        "{err}"
    );
}

#[test]
fn unresolved_sources_make_an_inconsistent_pipeline() {
    let f = Fixture::new();
    std::fs::write(
        f.path("project/elements/noref.bst"),
        "kind: import\nsources:\n- kind: tar\n  url: files:hello.tar.gz\n",
    )
    .unwrap();
    let (ok, _, err) = f.run(&["source", "fetch", "noref.bst"]);
    assert!(!ok);
    assert!(err.contains("Inconsistent pipeline"), "{err}");
    assert!(err.contains("Element: noref.bst is inconsistent"), "{err}");
    assert!(
        err.contains("tar source at noref.bst [line 3 column 2] is missing ref"),
        "{err}"
    );
}

#[test]
fn unsupported_kinds_say_so() {
    let f = Fixture::new();
    let conf = f.path("project/project.conf");
    let text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("  - git_repo\n", "  - git_repo\n  - ostree\n");
    std::fs::write(&conf, text).unwrap();
    std::fs::write(
        f.path("project/elements/ostree.bst"),
        "kind: import\nsources:\n- kind: ostree\n  url: files:repo\n  ref: abc\n",
    )
    .unwrap();
    let (ok, _, err) = f.run(&["source", "fetch", "ostree.bst"]);
    assert!(!ok);
    assert!(
        err.contains("ostree source at ostree.bst [line 3 column 2]: fetching 'ostree' sources is not supported by bst-rs yet"),
        "{err}"
    );
}

/// A fetch job's message line with what differs between runs and tools replaced as
/// scripts/record-fetch-messages.sh replaces it: the time, the job's log file name, the HTTP
/// server, the git directory, the random part of a staging directory's name and the
/// fixture's directory (`tmp`).
fn normalize_fetch_line(line: &str, git: &str, tmp: &str) -> String {
    let mut line = line.to_owned();
    if line.len() >= 10 && line.as_bytes()[0] == b'[' && line.as_bytes()[9] == b']' {
        line.replace_range(..10, "[time]");
    }
    if line.ends_with(".log") && line.contains("-fetch.") {
        let start = line.rfind(' ').map_or(0, |i| i + 1);
        line.replace_range(start.., "<log>");
    }
    const STAGING: &str = "/staging-temp";
    let mut from = 0;
    while let Some(i) = line[from..].find(STAGING) {
        let start = from + i + STAGING.len();
        let len = line[start..]
            .bytes()
            .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
            .count();
        if len == 8 {
            line.replace_range(start..start + 8, "<random>");
        }
        from = start;
    }
    normalize_message(&line)
        .replace(git, "<git>")
        .replace(tmp, "<tmp>")
}

/// What BuildStream prints in a fetch job that bst-rs does not: bst reports every host
/// command its plugins run (`Running host command`, e.g. each git command while fetching or
/// staging a repository, or `patch`), and bst-rs runs different commands, or none (it reads
/// archives natively), so their number and places differ.
fn bst_only(line: &str) -> bool {
    line.ends_with(" Running host command")
}

/// The per-source activities of fetch jobs, on the terminal and in the job's log, are the
/// ones real bst printed (tests/expected/fetch-messages, recorded by
/// scripts/record-fetch-messages.sh), in the same order, including what the plugins report
/// while the job stages each source into the source cache, except bst's host commands.
#[test]
fn fetch_jobs_report_each_sources_activities_as_buildstream_does() {
    let f = Fixture::new();
    let git = f.path("git").to_string_lossy().into_owned();
    let tmp = f
        .path("")
        .to_string_lossy()
        .trim_end_matches('/')
        .to_owned();
    let expected_dir = repo().join("tests/expected/fetch-messages");
    let mut names: Vec<String> = std::fs::read_dir(&expected_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "expected facts are missing");
    let mut failures = Vec::new();
    for name in names {
        let element = format!("{}.bst", name.trim_end_matches(".txt"));
        // Each element fetched from scratch, its job's log alone in the log directory.
        let _ = std::fs::remove_dir_all(f.sourcedir());
        let logs = f.path("logs");
        let _ = std::fs::remove_dir_all(&logs);
        f.write_user_config(&format!("logdir: {}\n", logs.display()));
        let (_, _, err) = f.run(&["source", "fetch", &element]);
        let job = format!("][   fetch:{element} ");
        let mut got = vec!["# terminal".to_owned()];
        got.extend(
            err.lines()
                .filter(|l| l.starts_with('[') && l.contains(&job))
                .map(|l| normalize_fetch_line(l, &git, &tmp)),
        );
        got.push("# log".to_owned());
        let log = find_log(&logs).unwrap_or_default();
        got.extend(
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.starts_with('['))
                .map(|l| normalize_fetch_line(l, &git, &tmp)),
        );
        let expected = std::fs::read_to_string(expected_dir.join(&name)).unwrap();
        let want: Vec<&str> = expected.lines().filter(|l| !bst_only(l)).collect();
        if got != want {
            failures.push(format!(
                "{element}:\n--- expected\n{}\n--- got\n{}\n--- stderr\n{err}",
                want.join("\n"),
                got.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The fetch job's log file under `dir`.
fn find_log(dir: &Path) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()? {
        let p = e.ok()?.path();
        if p.is_dir() {
            if let Some(found) = find_log(&p) {
                return Some(found);
            }
        } else if p.to_string_lossy().contains("-fetch.") {
            return Some(p);
        }
    }
    None
}

/// `--default-mirror` puts that mirror first, as `bst --default-mirror` does (the order
/// real bst fetched in, checked by hand: `first`, else the named one).
#[test]
fn default_mirror_on_the_command_line_is_tried_first() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let project = root.join("project");
    std::fs::create_dir_all(project.join("elements")).unwrap();
    for dir in ["up", "m1", "m2"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        std::fs::write(root.join(dir).join("f.txt"), "hi\n").unwrap();
    }
    let url = |dir: &str| format!("file://{}/", root.join(dir).display());
    std::fs::write(
        project.join("project.conf"),
        format!(
            "name: dm\nmin-version: 2.0\nelement-path: elements\naliases:\n  up: {}\n\
             mirrors:\n- name: first\n  aliases:\n    up:\n    - {}\n\
             - name: second\n  aliases:\n    up:\n    - {}\n",
            url("up"),
            url("m1"),
            url("m2")
        ),
    )
    .unwrap();
    let sha = common::sha256(b"hi\n");
    std::fs::write(
        project.join("elements/f.bst"),
        format!("kind: import\nsources:\n- kind: remote\n  url: up:f.txt\n  ref: {sha}\n"),
    )
    .unwrap();
    let first_fetch = |global: &[&str]| {
        let cache = common::Cache::new();
        let mut args = global.to_vec();
        args.extend(["source", "fetch", "f.bst"]);
        let out = cache.bst_rs(&project, &args);
        assert!(out.status.success(), "{}", common::text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        stderr
            .lines()
            .find_map(|l| l.split_once("START   Fetching ").map(|(_, u)| u.to_owned()))
            .unwrap_or_else(|| panic!("no fetch in {stderr}"))
    };
    assert_eq!(first_fetch(&[]), format!("{}f.txt", url("m1")));
    assert_eq!(
        first_fetch(&["--default-mirror", "second"]),
        format!("{}f.txt", url("m2"))
    );
}
