//! The session heading's project part on a project with junctions: what loaded each
//! subproject (`Loaded by`) and which projects declare it a duplicate (`Declared duplicate
//! by`) or internal (`Declared internal by`), and fetch sessions' element lists and summaries,
//! compared with what real BuildStream printed (tests/expected/heading, recorded by
//! scripts/record-junction-heading.sh).

use std::process::Output;

mod common;

use common::{bst_rs_bin, repo, text, Cache};

/// bst-rs with `args` in testprojects/junctions, with a private cache, source and log
/// directory.
fn run_in_junctions(args: &[&str]) -> Output {
    let cache = Cache::new();
    let xdg = cache.dir.path();
    cache
        .command(&bst_rs_bin(), &repo().join("testprojects/junctions"))
        .args(args)
        .env("XDG_CONFIG_HOME", xdg.join("config"))
        .env("XDG_CACHE_HOME", xdg.join("xdg-cache"))
        .env("PATH", common::path_with_buildbox())
        .output()
        .unwrap()
}

#[test]
fn junction_projects_are_described_as_buildstream_describes_them() {
    // A fetch session prints the heading before its jobs run (one of them fails: the
    // subproject's remote source points nowhere, as when bst recorded it).
    let out = run_in_junctions(&["source", "fetch", "--deps", "all", "app.bst"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let projects: String = stderr
        .lines()
        .skip_while(|l| !l.starts_with("Project: "))
        .take_while(|l| *l != "Pipeline")
        .map(|l| format!("{l}\n"))
        .collect();
    let expected =
        std::fs::read_to_string(repo().join("tests/expected/heading/junctions.txt")).unwrap();
    assert!(
        expected.contains("    Declared duplicate by:\n        junctions (toplevel)\n"),
        "the recording has a duplicate declaration"
    );
    assert!(
        expected.contains(
            "    Declared internal by:\n        sub (sub-again.bst): app.bst [line 5 column 2]\n"
        ),
        "the recording has an internal declaration"
    );
    assert_eq!(projects, expected, "{}", text(&out));
}

/// The heading's element list and the pipeline summary of a fetch session: the list and
/// `Total` cover everything the targets depend on, `Session` only the selection, and a
/// non-strict session shows no keys (it does not query artifacts), as real bst does
/// (tests/expected/heading/fetch-pipeline.*.txt).
#[test]
fn fetch_sessions_list_and_count_as_buildstream_does() {
    for (name, args) in [
        ("strict-none", &["source", "fetch", "hello.bst"][..]),
        (
            "nonstrict-all",
            &["--no-strict", "source", "fetch", "--deps", "all", "app.bst"][..],
        ),
    ] {
        let out = run_in_junctions(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let list = stderr
            .lines()
            .skip_while(|l| *l != "Pipeline")
            .take_while(|l| !l.starts_with("====="));
        let summary = stderr
            .lines()
            .skip_while(|l| *l != "Pipeline Summary")
            .filter(|l| !l.is_empty());
        let got: String = list
            .chain(["=".repeat(79).as_str()])
            .chain(summary)
            .map(|l| format!("{l}\n"))
            .collect();
        let expected = std::fs::read_to_string(
            repo().join(format!("tests/expected/heading/fetch-pipeline.{name}.txt")),
        )
        .unwrap();
        assert_eq!(got, expected, "{name}: {}", text(&out));
    }
}
