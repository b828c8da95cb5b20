//! Builds of compose, filter and script elements and of elements whose dependencies cross a
//! junction (`testprojects/buildkinds`), compared with what real BuildStream built
//! (`tests/expected/build-kinds/`, recorded by `scripts/record-build-kinds.sh`): the output of
//! `artifact list-contents` and a listing of `artifact checkout --no-integrate --deps none`,
//! paths under `bin/` (the host's busybox applets) left out. When `bst` is installed (`$BST`,
//! else on PATH), real bst builds the same project into a shared cache and bst-rs must find
//! every artifact cached and read it back identically.
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
