//! Helpers shared by the integration tests: where things are, whether this machine can
//! build, real BuildStream, and BuildStream-comparable listings of directory trees.

// Each test binary uses a different subset.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The bst-rs binary under test.
pub fn bst_rs_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bst-rs"))
}

/// A scratch cache directory with a user configuration pointing `cachedir`, `sourcedir`
/// and `logdir` into it (so that concurrent tests, and real bst's casd log rotation in
/// `<logdir>/_casd`, never share a directory).
pub struct Cache {
    /// The scratch directory.
    pub dir: tempfile::TempDir,
}

impl Cache {
    /// A fresh one: `<dir>/cache`, `<dir>/sources`, `<dir>/logs`.
    pub fn new() -> Cache {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = format!(
            "cachedir: {}\nsourcedir: {}\nlogdir: {}\n",
            dir.path().join("cache").display(),
            dir.path().join("sources").display(),
            dir.path().join("logs").display()
        );
        std::fs::write(dir.path().join("user.conf"), conf).expect("write user.conf");
        Cache { dir }
    }

    /// The user configuration file.
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("user.conf")
    }

    /// `program` (bst-rs or bst), non-interactive, with this configuration, in `project`.
    pub fn command(&self, program: &Path, project: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg("--no-interactive")
            .arg("-c")
            .arg(self.conf())
            .arg("-C")
            .arg(project);
        cmd
    }

    /// Runs [`Cache::command`] with `args`.
    pub fn run(&self, program: &Path, project: &Path, args: &[&str]) -> Output {
        self.command(program, project)
            .args(args)
            .output()
            .expect("run")
    }

    /// Runs bst-rs (see [`Cache::run`]).
    pub fn bst_rs(&self, project: &Path, args: &[&str]) -> Output {
        self.run(&bst_rs_bin(), project, args)
    }
}

/// None (after saying why) when the machine cannot build: no buildbox tools or no hello
/// sysroot. With `BST_RS_REQUIRE_BUILD=1` (set by `.ci/run`) that is a failure instead.
pub fn can_build() -> Option<()> {
    let casd = bst_rs::cas::casd::find_tool(&["buildbox-casd"]);
    let run = bst_rs::cas::casd::find_tool(&["buildbox-run", "buildbox-run-bubblewrap"]);
    let sysroot = repo().join("testprojects/hello/sysroot/bin/busybox");
    let missing = if casd.is_none() || run.is_none() {
        "buildbox-casd / buildbox-run not found (run scripts/setup.sh)"
    } else if !sysroot.exists() {
        "testprojects/hello/sysroot missing (run scripts/setup.sh)"
    } else {
        return Some(());
    };
    if std::env::var("BST_RS_REQUIRE_BUILD").as_deref() == Ok("1") {
        panic!("cannot run build tests: {missing}");
    }
    eprintln!("SKIPPED: {missing}");
    None
}

/// A command's exit status and output, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Real BuildStream: `$BST`, else `bst` on PATH.
pub fn real_bst() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BST") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("bst"))
        .find(|p| p.is_file())
}

/// Lowercase hex sha256.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(data))
}

/// `scripts/list-tree.py`'s listing of the tree at `root`: `d`, `f`/`x` with the content's
/// sha256, `l` with the target, sorted as that script sorts. `.git` directories are not
/// listed; for each directory holding one, `git_line(relative path, directory)` may add a line.
pub fn listing_with(root: &Path, git_line: &dyn Fn(&str, &Path) -> String) -> Vec<String> {
    fn walk(
        root: &Path,
        dir: &Path,
        git_line: &dyn Fn(&str, &Path) -> String,
        out: &mut Vec<(String, String)>,
    ) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let entries: Vec<_> = rd.map(|e| e.unwrap()).collect();
        if entries.iter().any(|e| e.file_name() == ".git") {
            let rel = dir
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let rel = if rel.is_empty() { ".".to_owned() } else { rel };
            out.push((rel.clone(), git_line(&rel, dir)));
        }
        for e in entries {
            if e.file_name() == ".git" {
                continue;
            }
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let meta = p.symlink_metadata().unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&p).unwrap();
                out.push((rel.clone(), format!("l {rel} -> {}", target.display())));
            } else if meta.is_dir() {
                out.push((rel.clone(), format!("d {rel}")));
                walk(root, &p, git_line, out);
            } else {
                use std::os::unix::fs::PermissionsExt;
                let kind = if meta.permissions().mode() & 0o100 != 0 {
                    "x"
                } else {
                    "f"
                };
                let digest = sha256(&std::fs::read(&p).unwrap());
                out.push((rel.clone(), format!("{kind} {rel} {digest}")));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, git_line, &mut out);
    out.sort_by(|a, b| {
        let ka = format!("{} {}", a.0, a.1.split(' ').next().unwrap());
        let kb = format!("{} {}", b.0, b.1.split(' ').next().unwrap());
        ka.cmp(&kb)
    });
    out.into_iter().map(|(_, l)| l).collect()
}

/// `PATH` with the directory of the buildbox tools first: fetching stores sources in casd's
/// CAS, and the private XDG cache directory tests give bst-rs hides the tools that
/// `scripts/setup.sh` installed under the real one.
pub fn path_with_buildbox() -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = bst_rs::cas::casd::find_tool(&["buildbox-casd"])
        .and_then(|casd| casd.parent().map(Path::to_path_buf))
        .into_iter()
        .collect();
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH entries without ':'")
}
