//! Builds of compose, filter and script elements and of elements whose dependencies cross a
//! junction (`testprojects/buildkinds`), compared with what real BuildStream built
//! (`tests/expected/build-kinds/`, recorded by `scripts/record-build-kinds.sh`): the output of
//! `artifact list-contents` and a listing of `artifact checkout --no-integrate --deps none`,
//! paths under `bin/` (the host's busybox applets) left out. When `bst` is installed (`$BST`,
//! else on PATH), real bst builds the same project into a shared cache and bst-rs must find
//! every artifact cached and read it back identically.
//!
//! Also recorded from real bst and compared: `artifact checkout` with its options
//! (integration, hard links, dependency scopes, tarballs, option conflicts and errors;
//! `checkout/`), and builds whose dependencies' integration commands fail
//! (`elements/fail/`, `integration-failures.txt`).
//!
//! Needs `scripts/setup.sh` (buildbox tools, the hello sysroot); skipped otherwise, unless
//! `BST_RS_REQUIRE_BUILD=1`.

mod common;

use common::{can_build, real_bst, repo, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `scripts/list-tree.py`'s listing of an artifact checkout (which has no `.git`).
fn listing(root: &Path) -> Vec<String> {
    common::listing_with(root, &|rel, _| unreachable!("a .git in a checkout: {rel}"))
}

/// The elements built, and the names of their expected files.
const ELEMENTS: &[(&str, &str)] = &[
    ("compose-all.bst", "compose-all"),
    ("compose-devel.bst", "compose-devel"),
    ("compose-integrated.bst", "compose-integrated"),
    ("compose-runtime.bst", "compose-runtime"),
    ("filter-claimed.bst", "filter-claimed"),
    ("filter-devel.bst", "filter-devel"),
    ("filter-exclude.bst", "filter-exclude"),
    ("integration.bst", "integration"),
    ("libfoo.bst", "libfoo"),
    ("manual-sub.bst", "manual-sub"),
    ("script-integrated.bst", "script-integrated"),
    ("script.bst", "script"),
    ("sub.bst:tool.bst", "sub-tool"),
];

/// A copy of testprojects/buildkinds with the hello sysroot in its subproject, and a cache.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = dir.path().join("project");
        for (from, to) in [
            (repo().join("testprojects/buildkinds"), project.clone()),
            (
                repo().join("testprojects/hello/sysroot"),
                project.join("sub/sysroot"),
            ),
        ] {
            let st = Command::new("cp")
                .arg("-a")
                .arg(&from)
                .arg(&to)
                .status()
                .expect("cp");
            assert!(st.success());
        }
        std::fs::write(
            dir.path().join("user.conf"),
            format!(
                "cachedir: {}\nsourcedir: {}\nlogdir: {}\n",
                dir.path().join("cache").display(),
                dir.path().join("sources").display(),
                dir.path().join("logs").display()
            ),
        )
        .expect("write user.conf");
        Setup { dir }
    }

    fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    fn run(&self, tool: &Path, args: &[&str]) -> Output {
        Command::new(tool)
            .arg("--no-interactive")
            .arg("-c")
            .arg(self.dir.path().join("user.conf"))
            .arg("-C")
            .arg(self.project())
            .args(args)
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .output()
            .expect("run")
    }

    fn bst_rs(&self, args: &[&str]) -> Output {
        self.run(Path::new(env!("CARGO_BIN_EXE_bst-rs")), args)
    }

    /// `list-contents` and the checkout listing of `element`, in the recorded format.
    fn contents(&self, element: &str, name: &str) -> String {
        let out = self.bst_rs(&["artifact", "list-contents", element]);
        assert!(out.status.success(), "{}", text(&out));
        let mut s = String::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if !line.starts_with("\tbin/") {
                s += line;
                s.push('\n');
            }
        }
        s += "--\n";
        let co = self.dir.path().join("co").join(name);
        let out = self.bst_rs(&[
            "artifact",
            "checkout",
            "--no-integrate",
            "--deps",
            "none",
            "--directory",
            co.to_str().unwrap(),
            element,
        ]);
        assert!(out.status.success(), "{}", text(&out));
        for line in listing(&co) {
            if line
                .split(' ')
                .nth(1)
                .is_some_and(|p| p.starts_with("bin/"))
            {
                continue;
            }
            s += &line;
            s.push('\n');
        }
        s
    }
}

fn expected(name: &str) -> String {
    let path = repo().join(format!("tests/expected/build-kinds/{name}.txt"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn compose_filter_script_and_junction_builds_match_buildstream() {
    if can_build().is_none() {
        return;
    }
    let setup = Setup::new();
    let mut args = vec!["build"];
    args.extend(ELEMENTS.iter().map(|(e, _)| *e));
    let out = setup.bst_rs(&args);
    assert!(out.status.success(), "{}", text(&out));
    let mut failures = Vec::new();
    for (element, name) in ELEMENTS {
        let got = setup.contents(element, name);
        let want = expected(name);
        if got != want {
            failures.push(format!("{element}:\n--- expected\n{want}--- bst-rs\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn artifacts_built_by_buildstream_are_cached_for_bst_rs() {
    if can_build().is_none() {
        return;
    }
    let Some(bst) = real_bst() else {
        eprintln!("SKIPPED: real BuildStream not installed (set BST=/path/to/bst)");
        return;
    };
    let setup = Setup::new();
    let mut args = vec!["build"];
    args.extend(ELEMENTS.iter().map(|(e, _)| *e));
    let out = setup.run(&bst, &args);
    assert!(out.status.success(), "{}", text(&out));
    // Same keys: nothing left to build.
    let out = setup.bst_rs(&args);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Build Queue: processed 0,"),
        "{}",
        text(&out)
    );
    for (element, name) in ELEMENTS {
        assert_eq!(setup.contents(element, name), expected(name), "{element}");
    }
}

#[test]
fn filter_with_unknown_domains_fails_with_provenance() {
    if can_build().is_none() {
        return;
    }
    let setup = Setup::new();
    std::fs::write(
        setup.project().join("elements/filter-unknown.bst"),
        "kind: filter\nbuild-depends:\n- libfoo.bst\nconfig:\n  include:\n  - nosuch\n",
    )
    .unwrap();
    let out = setup.bst_rs(&["build", "filter-unknown.bst"]);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("Unknown domains declared."), "{all}");
    assert!(
        all.contains("Unknown domains were used in filter-unknown.bst [line 6 column 2]"),
        "{all}"
    );
    assert!(all.contains(" - nosuch"), "{all}");
}

/// What a checkout case writes, and how it is listed.
#[derive(Clone, Copy, PartialEq)]
enum Written {
    Dir,
    Tar,
    Stdout,
}

/// What exists at the location before the checkout.
#[derive(Clone, Copy, PartialEq)]
enum Prepare {
    Nothing,
    File,
    NonEmptyDir,
}

/// The `artifact checkout` cases of scripts/record-build-kinds.sh (keep them in step): the
/// expected file's name, the output, what exists beforehand, the location's suffix and the
/// arguments (`DEST` stands for the location, `ARTIFACT:<element>` for the name of the
/// element's artifact, `UNCACHED:<element>` for a name of it with a key no artifact has).
const CHECKOUTS: &[(&str, Written, Prepare, &str, &[&str])] = {
    use Prepare::*;
    use Written::*;
    &[
        (
            "integrated",
            Dir,
            Nothing,
            "",
            &["--directory", "DEST", "integration.bst"],
        ),
        (
            "no-integrate",
            Dir,
            Nothing,
            "",
            &["--no-integrate", "--directory", "DEST", "integration.bst"],
        ),
        (
            "integrate-last-wins",
            Dir,
            Nothing,
            "",
            &[
                "--no-integrate",
                "--integrate",
                "--directory",
                "DEST",
                "integration.bst",
            ],
        ),
        (
            "hardlinks",
            Dir,
            Nothing,
            "",
            &["--hardlinks", "--directory", "DEST", "integration.bst"],
        ),
        (
            "deps-build",
            Dir,
            Nothing,
            "",
            &[
                "--deps",
                "build",
                "--directory",
                "DEST",
                "script-integrated.bst",
            ],
        ),
        (
            "deps-none",
            Dir,
            Nothing,
            "",
            &["--deps", "none", "--directory", "DEST", "libfoo.bst"],
        ),
        (
            "deps-none-no-commands",
            Dir,
            Nothing,
            "",
            &["--deps", "none", "--directory", "DEST", "integration.bst"],
        ),
        (
            "uncached",
            Dir,
            Nothing,
            "",
            &["--directory", "DEST", "fail/manual.bst"],
        ),
        (
            "not-empty",
            Dir,
            NonEmptyDir,
            "",
            &["--directory", "DEST", "integration.bst"],
        ),
        (
            "force",
            Dir,
            NonEmptyDir,
            "",
            &[
                "--force",
                "--no-integrate",
                "--deps",
                "none",
                "--directory",
                "DEST",
                "libfoo.bst",
            ],
        ),
        (
            "tar",
            Tar,
            Nothing,
            ".tar",
            &["--tar", "DEST", "integration.bst"],
        ),
        (
            "tar-stdout",
            Stdout,
            Nothing,
            "",
            &["--tar", "-", "integration.bst"],
        ),
        (
            "tar-libfoo",
            Tar,
            Nothing,
            ".tar",
            &[
                "--deps",
                "none",
                "--no-integrate",
                "--tar",
                "DEST",
                "libfoo.bst",
            ],
        ),
        (
            "tar-libfoo-gz",
            Tar,
            Nothing,
            ".tar.gz",
            &[
                "--deps",
                "none",
                "--no-integrate",
                "--tar",
                "DEST",
                "libfoo.bst",
            ],
        ),
        (
            "tar-libfoo-xz",
            Tar,
            Nothing,
            ".tar.xz",
            &[
                "--deps",
                "none",
                "--no-integrate",
                "--tar",
                "DEST",
                "libfoo.bst",
            ],
        ),
        (
            "tar-libfoo-bz2",
            Tar,
            Nothing,
            ".tar.bz2",
            &[
                "--deps",
                "none",
                "--no-integrate",
                "--tar",
                "DEST",
                "libfoo.bst",
            ],
        ),
        (
            "tar-libfoo-compression",
            Tar,
            Nothing,
            ".tar.gz",
            &[
                "--deps",
                "none",
                "--no-integrate",
                "--compression",
                "bz2",
                "--tar",
                "DEST",
                "libfoo.bst",
            ],
        ),
        (
            "tar-exists",
            Tar,
            File,
            ".tar",
            &[
                "--deps",
                "none",
                "--no-integrate",
                "--tar",
                "DEST",
                "libfoo.bst",
            ],
        ),
        (
            "tar-exists-force",
            Tar,
            File,
            ".tar",
            &[
                "--force",
                "--deps",
                "none",
                "--no-integrate",
                "--tar",
                "DEST",
                "libfoo.bst",
            ],
        ),
        (
            "hardlinks-tar",
            Tar,
            Nothing,
            ".tar",
            &["--hardlinks", "--tar", "DEST", "integration.bst"],
        ),
        (
            "directory-tar",
            Tar,
            Nothing,
            ".tar",
            &["--directory", "DEST.d", "--tar", "DEST", "integration.bst"],
        ),
        (
            "compression-without-tar",
            Dir,
            Nothing,
            "",
            &[
                "--compression",
                "gz",
                "--directory",
                "DEST",
                "integration.bst",
            ],
        ),
        (
            "tar-unknown-compression",
            Tar,
            Nothing,
            ".tar.zst",
            &["--tar", "DEST", "integration.bst"],
        ),
        // By artifact name: integrated with what the artifacts recorded.
        (
            "named-deps-build",
            Dir,
            Nothing,
            "",
            &[
                "--deps",
                "build",
                "--directory",
                "DEST",
                "ARTIFACT:script-integrated.bst",
            ],
        ),
        (
            "named-deps-none",
            Dir,
            Nothing,
            "",
            &[
                "--deps",
                "none",
                "--directory",
                "DEST",
                "ARTIFACT:libfoo.bst",
            ],
        ),
        (
            "named-no-integrate",
            Dir,
            Nothing,
            "",
            &[
                "--deps",
                "none",
                "--no-integrate",
                "--directory",
                "DEST",
                "ARTIFACT:libfoo.bst",
            ],
        ),
        (
            "named-deps-run",
            Dir,
            Nothing,
            "",
            &["--directory", "DEST", "ARTIFACT:integration.bst"],
        ),
        (
            "named-uncached",
            Dir,
            Nothing,
            "",
            &[
                "--deps",
                "none",
                "--directory",
                "DEST",
                "UNCACHED:libfoo.bst",
            ],
        ),
        (
            "named-tar",
            Tar,
            Nothing,
            ".tar",
            &[
                "--deps",
                "build",
                "--tar",
                "DEST",
                "ARTIFACT:integration.bst",
            ],
        ),
    ]
};

/// An archive's bytes, decompressed when they start with a gzip, xz or bzip2 magic number.
fn decompressed(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    let read = if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)
    } else if bytes.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        liblzma::read::XzDecoder::new(bytes).read_to_end(&mut out)
    } else if bytes.starts_with(b"BZh") {
        bzip2::read::BzDecoder::new(bytes).read_to_end(&mut out)
    } else {
        return bytes.to_vec();
    };
    read.expect("decompress");
    out
}

/// `scripts/list-tar.py --skip ./bin/`'s listing of a tar archive.
fn tar_listing(bytes: &[u8]) -> Vec<String> {
    use std::io::Read;
    let tar = decompressed(bytes);
    let mut archive = tar::Archive::new(tar.as_slice());
    let mut out = Vec::new();
    for entry in archive.entries().expect("tar entries") {
        let mut entry = entry.expect("tar entry");
        let name = entry
            .path()
            .expect("member name")
            .to_string_lossy()
            .into_owned();
        let name = name.trim_end_matches('/').to_owned();
        if name.starts_with("./bin/") {
            continue;
        }
        let h = entry.header().clone();
        let text = |o: std::io::Result<Option<&str>>| o.ok().flatten().unwrap_or("").to_owned();
        let common = format!(
            "{name} mode={:04o} owner={}:{} names={}:{} mtime={}",
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.gid().unwrap(),
            text(h.username().map_err(std::io::Error::other)),
            text(h.groupname().map_err(std::io::Error::other)),
            h.mtime().unwrap()
        );
        match h.entry_type() {
            tar::EntryType::Directory => out.push(format!("d {common}")),
            tar::EntryType::Regular => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                out.push(format!(
                    "f {common} size={} sha256={}",
                    data.len(),
                    common::sha256(&data)
                ));
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name().unwrap().unwrap_or_default();
                out.push(format!("l {common} -> {}", target.display()));
            }
            _ => out.push(format!("? {name}")),
        }
    }
    out
}

impl Setup {
    /// One checkout case in the recorded format.
    fn checkout_case(
        &self,
        n: usize,
        (name, output, prepare, suffix, args): (&str, Written, Prepare, &str, &[&str]),
    ) -> String {
        let dir = self.dir.path().join("checkouts").join(n.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let dest = format!("{}/out{suffix}", dir.display());
        match prepare {
            Prepare::Nothing => {}
            Prepare::File => std::fs::write(&dest, b"").unwrap(),
            Prepare::NonEmptyDir => {
                std::fs::create_dir_all(&dest).unwrap();
                std::fs::write(format!("{dest}/file"), b"").unwrap();
            }
        }
        let mut full = vec!["artifact", "checkout"];
        let args: Vec<String> = args
            .iter()
            .map(|a| match a.split_once(':') {
                Some((which @ ("ARTIFACT" | "UNCACHED"), element)) => {
                    let key = if which == "UNCACHED" {
                        "0".repeat(64)
                    } else {
                        let out = self.bst_rs(&[
                            "show",
                            "--deps",
                            "none",
                            "--format",
                            "%{full-key}",
                            element,
                        ]);
                        String::from_utf8(out.stdout).unwrap().trim().to_owned()
                    };
                    let name = element.strip_suffix(".bst").unwrap().replace('/', "-");
                    format!("buildkinds/{name}/{key}")
                }
                _ => a.replace("DEST", &dest),
            })
            .collect();
        full.extend(args.iter().map(String::as_str));
        let out = self.bst_rs(&full);
        let code = out.status.code().unwrap_or(-1);
        let mut s = format!("exit {code}\n");
        for line in String::from_utf8_lossy(&out.stderr).lines() {
            let messages = [
                "ERROR",
                "WARNING",
                "Error",
                "Destination",
                "Output file",
                "Missing",
            ];
            if messages.iter().any(|m| line.starts_with(m)) {
                s += &line.replace(&dest, "DEST");
                s.push('\n');
            }
        }
        if code != 0 {
            return s;
        }
        let lines = match output {
            Written::Dir => listing(Path::new(&dest))
                .into_iter()
                .filter(|l| !l.split(' ').nth(1).is_some_and(|p| p.starts_with("bin/")))
                .collect(),
            Written::Tar | Written::Stdout => {
                let bytes = match output {
                    Written::Stdout => out.stdout.clone(),
                    _ => std::fs::read(&dest).unwrap(),
                };
                let mut lines = tar_listing(&bytes);
                if name.starts_with("tar-libfoo") {
                    lines.push(format!(
                        "archive sha256={}",
                        common::sha256(&decompressed(&bytes))
                    ));
                }
                lines
            }
        };
        for line in lines {
            s += &line;
            s.push('\n');
        }
        s
    }
}

#[test]
fn artifact_checkouts_match_buildstream() {
    if can_build().is_none() {
        return;
    }
    let setup = Setup::new();
    let out = setup.bst_rs(&[
        "build",
        "integration.bst",
        "script-integrated.bst",
        "libfoo.bst",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let mut failures = Vec::new();
    for (n, &case) in CHECKOUTS.iter().enumerate() {
        let got = setup.checkout_case(n, case);
        let want = expected(&format!("checkout/{}", case.0));
        if got != want {
            failures.push(format!(
                "{}:\n--- expected\n{want}--- bst-rs\n{got}",
                case.0
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A checkout that runs no integration commands needs no sandbox and no casd: it works with
/// no buildbox tool to be found, where one that integrates cannot start casd.
#[test]
fn checkout_without_integration_starts_no_casd() {
    if can_build().is_none() {
        return;
    }
    let setup = Setup::new();
    let out = setup.bst_rs(&["build", "integration.bst"]);
    assert!(out.status.success(), "{}", text(&out));
    let checkout = |args: &[&str], dest: &str| {
        Command::new(env!("CARGO_BIN_EXE_bst-rs"))
            .arg("--no-interactive")
            .arg("-c")
            .arg(setup.dir.path().join("user.conf"))
            .arg("-C")
            .arg(setup.project())
            .args(["artifact", "checkout", "--directory"])
            .arg(setup.dir.path().join(dest))
            .args(args)
            .env("XDG_CONFIG_HOME", setup.dir.path().join("config"))
            .env("XDG_CACHE_HOME", setup.dir.path().join("no-tools"))
            .env("PATH", setup.dir.path().join("no-tools"))
            .output()
            .expect("run")
    };
    let out = checkout(&["--no-integrate", "integration.bst"], "plain");
    assert!(out.status.success(), "{}", text(&out));
    assert!(setup.dir.path().join("plain/usr/lib/libfoo.so.1").is_file());
    // Integration commands and no `sh` to run them: found without a sandbox.
    let out = checkout(&["--deps", "none", "libfoo.bst"], "own");
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    assert!(
        text(&out).contains("'Staged artifacts do not provide command 'sh''"),
        "{}",
        text(&out)
    );
    let out = checkout(&["integration.bst"], "integrated");
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    assert!(
        text(&out).contains("buildbox-casd not found"),
        "{}",
        text(&out)
    );
}

/// Building elements whose dependencies' integration commands fail: BuildElements and script
/// elements integrate while staging and cache nothing; compose integrates while assembling
/// and caches the failure.
#[test]
fn integration_failures_match_buildstream() {
    if can_build().is_none() {
        return;
    }
    let setup = Setup::new();
    // As recorded: the sysroot is cached (with the other elements), the failing one is not.
    let out = setup.bst_rs(&["build", "sub.bst:base.bst"]);
    assert!(out.status.success(), "{}", text(&out));
    let mut got = String::new();
    for el in ["fail/manual.bst", "fail/compose.bst", "fail/script.bst"] {
        let out = setup.bst_rs(&["build", el]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        got += &format!("{el}: exit {}\n", out.status.code().unwrap_or(-1));
        let failure = stderr
            .lines()
            .rfind(|l| l.contains(&format!("build:{el}")) && l.contains("] FAILURE "))
            .and_then(|l| l.split_once("] FAILURE "))
            .map(|(_, m)| m.to_owned())
            .unwrap_or_default();
        got += &format!("failure: {failure}\n");
        for line in stderr
            .lines()
            .filter(|l| l.trim_start().starts_with("Build Queue:"))
        {
            got += line.trim();
            got.push('\n');
        }
        let out = setup.bst_rs(&["show", "--format", "%{name} %{state}", el]);
        got += &String::from_utf8_lossy(&out.stdout);
    }
    assert_eq!(got, expected("integration-failures"));
}
