//! Regression tests for the cargo-fuzz targets in `fuzz/` (see `fuzz/README.md`).
//!
//! Every input goes through `fuzz/harness.rs`, the very code the fuzz targets run, included
//! here, so a crash input replays exactly. The tests assert that the input returns (Ok or
//! Err) without panicking, overflowing the stack or hanging; where the outcome is known they
//! check it too, so that a harness that silently stopped reaching the loader would fail.
//!
//! Each case runs on a thread with an 8 MiB stack, the size of the main thread the fuzzer
//! (and the `bst-rs` binary) runs on, rather than the test harness's 2 MiB.

include!("../fuzz/harness.rs");

/// Runs `f` on a thread with the main thread's stack size; a panic fails the test.
fn on_main_sized_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(f)
        .expect("spawning the test thread")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// The `yaml` target on `text`; returns whether it parsed.
fn yaml(text: &str) -> bool {
    let text = text.to_owned();
    on_main_sized_stack(move || run_yaml(text.as_bytes()))
}

/// The `project` target on raw input bytes (files separated by NUL, see `PROJECT_FILES`).
fn project_bytes(data: &[u8]) -> bst_rs::yaml::Result<()> {
    let data = data.to_vec();
    on_main_sized_stack(move || {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        run_project(&data, &tmp.path().join("p"))
    })
}

/// The `project` target on files given in `PROJECT_FILES` order.
fn project(files: &[&str]) -> bst_rs::yaml::Result<()> {
    project_bytes(&join_project(files))
}

const CONF: &str = "name: fuzz\nmin-version: 2.0\nelement-path: elements\n";

/// Set in the child process of an [`isolated_test!`].
const CHILD_ENV: &str = "BST_RS_FUZZ_REGRESSION_CHILD";

/// A test whose body runs in a child process (this test binary, filtered to the test), so
/// that a stack overflow, which aborts the whole process, fails only this test and the
/// others still report.
macro_rules! isolated_test {
    ($(#[doc = $doc:literal])* fn $name:ident() $body:block) => {
        $(#[doc = $doc])*
        #[test]
        fn $name() {
            if std::env::var_os(CHILD_ENV).is_some() {
                $body
                return;
            }
            let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
                .args([stringify!($name), "--exact", "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, "1")
                .output()
                .expect("running the test in a child process");
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            assert!(
                out.status.success(),
                "the child process failed ({}):\n{}",
                out.status,
                tail.join("\n")
            );
        }
    };
}

// ---------------------------------------------------------------------------------------
// Keeping the harness honest: inputs with a known outcome, through both paths.
// ---------------------------------------------------------------------------------------

#[test]
fn harness_valid_project_loads() {
    let r = project(&[
        CONF,
        "kind: manual\nbuild-depends:\n- b.bst\ndepends:\n- c.bst\n\
         config:\n  build-commands:\n  - make %{prefix}\n",
        "kind: import\nsources:\n- kind: local\n  path: files\n",
        "kind: stack\ndepends:\n- b.bst\n",
        "",
        "",
        "",
        "hello\n",
    ]);
    assert_eq!(r, Ok(()));
}

#[test]
fn harness_junction_to_subproject_loads() {
    let r = project(&[
        CONF,
        "kind: stack\ndepends:\n- c.bst:x.bst\n- b.bst\n",
        "kind: link\nconfig:\n  target: c.bst:x.bst\n",
        "kind: junction\nsources:\n- kind: local\n  path: sub\n",
        "",
        "name: sub\nmin-version: 2.0\n",
        "kind: import\nsources:\n- kind: local\n  path: x.bst\n",
    ]);
    assert_eq!(r, Ok(()));
}

#[test]
fn harness_missing_files_are_errors() {
    // Only project.conf: a.bst is missing.
    assert!(project(&[CONF]).is_err());
    // Nothing at all: no project.conf.
    assert!(project_bytes(b"").is_err());
}

#[test]
fn harness_yaml_outcomes() {
    assert!(yaml("a: 1\nb: [c, {d: e}]\n"));
    assert!(!yaml("a: &x 1\nb: *x\n"), "anchors are rejected");
    assert!(!yaml("a: 1\na: 2\n"), "duplicate keys are rejected");
    assert!(!yaml("a: 1\n---\nb: 2\n"), "several documents are rejected");
}

#[test]
fn include_cycle() {
    let r = project(&[
        &format!("{CONF}(@): include.yml\n"),
        "kind: stack\n(@): include.yml\n",
        "",
        "",
        "(@): include.yml\n",
    ]);
    assert!(r.is_err());
}

#[test]
fn junction_to_its_own_project() {
    let _ = project(&[
        CONF,
        "kind: stack\ndepends:\n- c.bst:c.bst:b.bst\n",
        "kind: stack\n",
        "kind: junction\nsources:\n- kind: local\n  path: .\n",
    ]);
}

#[test]
fn dependency_cycle() {
    let r = project(&[
        CONF,
        "kind: stack\ndepends: [b.bst]\n",
        "kind: stack\ndepends: [c.bst]\n",
        "kind: stack\ndepends: [a.bst]\n",
    ]);
    assert!(r.is_err());
}

/// Flow collections past saphyr-parser's recursion limit are a YAML error; block sequences
/// (`- - - x`) have no such limit and reach composition, variables and the loader.
#[test]
fn deeply_nested_collections() {
    for depth in [10, 100, 1000, 20000] {
        let text = format!("kind: stack\nvariables:\n  x:\n  {}1\n", "- ".repeat(depth));
        let _ = yaml(&text);
        let _ = project(&[CONF, &text]);
        let text = format!("kind: stack\npublic:\n  x:\n  {}1\n", "- ".repeat(depth));
        let _ = project(&[CONF, &text]);
    }
    for depth in [10, 100, 1000] {
        let _ = yaml(&format!("{}{}", "[".repeat(depth), "]".repeat(depth)));
        let _ = yaml(&format!(
            "a: {}b{}",
            "{a: ".repeat(depth),
            "}".repeat(depth)
        ));
        let text = format!(
            "kind: stack\nvariables: {}{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let _ = project(&[CONF, &text]);
    }
}

#[test]
fn many_list_directives() {
    let mut text = String::from("kind: manual\nconfig:\n  build-commands:\n");
    for i in 0..2000 {
        text.push_str(&format!("    (>): [x{i}]\n"));
    }
    // Duplicate `(>)` keys: an error, not a panic.
    assert!(!yaml(&text));
    let _ = project(&[CONF, &text]);

    let mut text = String::from("kind: manual\nconfig:\n  build-commands:\n");
    text.push_str("    (<): [");
    text.push_str(&vec!["a"; 5000].join(", "));
    text.push_str("]\n    (>): [b]\n    (=): [c]\n");
    assert!(yaml(&text));
    assert!(project(&[CONF, &text]).is_ok());
}

#[test]
fn variable_reference_storms() {
    let storms = [
        "%{".repeat(2000),
        "%{a}".repeat(2000),
        format!("{}a{}", "%{".repeat(500), "}".repeat(500)),
        "%%{{}}%{}%{%{}}".repeat(200),
    ];
    for storm in &storms {
        let text = format!("variables:\n  a: x\n  s: '{storm}'\n");
        let _ = yaml(&text);
        let element = format!("kind: manual\n{text}");
        let _ = project(&[CONF, &element]);
    }
    // Exponential fan-out: each level doubles the references of the one below.
    let mut text = String::from("kind: manual\nvariables:\n  v0: x\n");
    for i in 1..=20 {
        text.push_str(&format!("  v{i}: '%{{v{j}}}%{{v{j}}}'\n", j = i - 1));
    }
    assert!(yaml(&text));
    assert!(project(&[CONF, &text]).is_ok());
}

#[test]
fn variable_cycles() {
    assert!(project(&[CONF, "kind: manual\nvariables:\n  a: '%{a}'\n"]).is_err());
    assert!(project(&[
        CONF,
        "kind: manual\nvariables:\n  a: '%{b}'\n  b: '%{c}'\n  c: '%{a}'\n",
    ])
    .is_err());
}

// ---------------------------------------------------------------------------------------
// Crashes. Each input is minimised; each test documents what went wrong.
// ---------------------------------------------------------------------------------------

isolated_test! {
    /// Stack overflow in `project::expr` (found by a targeted probe while chasing an
    /// unsaved SIGSEGV of the `project` target, see fuzz/README.md; libFuzzer's 4 KB inputs
    /// cannot reach this depth). A `(?)` condition nested a few thousand levels deep
    /// overflows the stack in the recursive descent parser (`parse_or` -> `parse_and` ->
    /// ... -> `parse_primary` -> `parse_tuple` -> `parse_condexpr` -> `parse_or`, about ten
    /// frames per level) and aborts the whole process: 3,000 parentheses (a 6 KB element)
    /// are enough on an 8 MiB main thread, 2,000 are not. Brackets (4,000) and unary minus
    /// (20,000) do the same. Loading must return (Ok or Err), not abort.
    fn deeply_nested_conditional_expression() {
        let conf = format!(
            "{CONF}options:\n  o:\n    type: bool\n    description: o\n    default: False\n"
        );
        for (open, close, depth) in [("(", ")", 3000), ("[", "]", 4000), ("-", "", 20000)] {
            // A long key needs the explicit `? ` form (implicit keys stop at 1024 chars).
            let element = format!(
                "kind: stack\n(?):\n- ? '{}o{}'\n  : variables:\n      x: y\n",
                open.repeat(depth),
                close.repeat(depth)
            );
            let _ = project(&[&conf, &element]);
        }
    }
}

isolated_test! {
    /// Stack overflow in the loader (found by the `project` target): a link element whose
    /// target leads back to itself (`b.bst` -> `b.bst`, or through other links) was followed
    /// forever. BuildStream recurses until Python's limit and reports a RecursionError; bst-rs
    /// reports the same message with the link's provenance.
    fn link_cycles() {
        let a = "kind: stack\ndepends:\n- b.bst\n";
        let selfish = "kind: link\nconfig:\n  target: b.bst\n";
        let err = project(&[CONF, a, selfish]).expect_err("a link to itself");
        assert!(err.message.contains("Maximum recursion depth exceeded"), "{err}");
        let detail = err.detail.unwrap_or_default();
        assert!(detail.contains("b.bst [line 3 column 10]"), "{detail}");
        // Through another link: b.bst -> c.bst -> b.bst.
        let to_c = "kind: link\nconfig:\n  target: c.bst\n";
        let err = project(&[CONF, a, to_c, selfish]).expect_err("a two-link cycle");
        assert!(err.message.contains("Maximum recursion depth exceeded"), "{err}");
        // Chains without a cycle are followed to their end (missing or not).
        let to_d = "kind: link\nconfig:\n  target: d.bst\n";
        let err = project(&[CONF, a, to_c, to_d]).expect_err("d.bst is missing");
        assert!(err.message.contains("d.bst"), "{err}");
        assert!(project(&[CONF, a, to_c, "kind: stack\n"]).is_ok());
    }
}

/// Endless loading (found by the differential fuzzer): a junction whose local source is the
/// project's own directory, with an element that depends through it on itself, nested
/// projects without end. BuildStream fails with a RecursionError once Python's limit is
/// reached (it loads a finite chain of 700 nested junctions); bst-rs allows 1,000.
#[test]
fn junction_into_its_own_project() {
    let junction = "kind: junction\nsources:\n- kind: local\n  path: ''\n";
    let endless = "kind: stack\ndepends:\n- b.bst:a.bst\n";
    let err = project(&[CONF, endless, junction]).expect_err("endless nesting");
    assert!(
        err.message.contains("Maximum recursion depth exceeded"),
        "{err}"
    );
    let detail = err.detail.unwrap_or_default();
    assert!(
        detail.contains("junction 'b.bst' of project 'fuzz' nests projects 1000 deep"),
        "{detail}"
    );
    // Through the same junction once, the load ends, and the project loaded twice is
    // reported as BuildStream reports it.
    let once = "kind: stack\ndepends:\n- b.bst:c.bst\n";
    let err = project(&[CONF, once, junction, "kind: stack\n"]).expect_err("loaded twice");
    assert!(
        err.message.contains("was loaded in multiple contexts"),
        "{err}"
    );
}
