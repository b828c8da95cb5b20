// Shared by the fuzz targets (`fuzz/fuzz_targets/*.rs`) and the regression tests
// (`tests/fuzz_regressions.rs`), which both `include!` this file, so that a crash input
// replays through exactly the code path that found it.
//
// Both harnesses only call the public API and let every `Err` pass: a panic, a hang or a
// stack overflow is the bug.

use bst_rs::yaml::{parse_str, Node, Value, SYNTHETIC};
use std::path::Path;

/// Separates the files of a `project` input.
pub const SEPARATOR: u8 = 0;

/// Where the n-th `SEPARATOR`-separated chunk of a `project` input is written. Chunks past
/// the last name are ignored; a file whose chunk is absent is not created at all.
pub const PROJECT_FILES: [&str; 8] = [
    "project.conf",
    "elements/a.bst",
    "elements/b.bst",
    "elements/c.bst",
    "include.yml",
    "sub/project.conf",
    "sub/x.bst",
    "files/f.txt",
];

/// A fixed base mapping the `yaml` input is composed onto: plain values, lists, pending
/// list directives and nested mappings under the keys element files use.
pub const YAML_BASE: &str = "\
kind: manual
variables:
  prefix: /usr
  lib: lib
  libdir: '%{prefix}/%{lib}'
  greeting: hello
environment:
  PATH: /usr/bin:/bin
  LIBDIR: '%{libdir}'
config:
  build-commands:
  - make
  install-commands:
    (>):
    - make install
  strip-commands:
    (=):
    - strip
    (<):
    - echo
sources:
- kind: local
  path: files
depends:
- base.bst
public:
  bst:
    split-rules:
      devel:
      - /usr/include
(?):
- arch == \"x86-64\":
    variables:
      lib: lib64
";

/// The `yaml` target: parse, compose onto itself and onto [`YAML_BASE`], check for left-over
/// list directives, and resolve every mapping named `variables`. Returns whether the input
/// parsed (for tests that keep the harness honest).
pub fn run_yaml(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(node) = parse_str(text, SYNTHETIC) else {
        return false;
    };
    let _ = node.assert_fully_composited();

    let mut copy = node.clone();
    if node.composite(&mut copy).is_ok() {
        let _ = copy.assert_fully_composited();
        check_variables(&copy);
    }

    let mut base = parse_str(YAML_BASE, SYNTHETIC).expect("the base mapping parses");
    if node.composite(&mut base).is_ok() {
        let _ = base.assert_fully_composited();
        check_variables(&base);
    }

    // And the other way round: the base composed onto the input, when the input is a
    // mapping (composition's precondition).
    if node.is_map() {
        let base = parse_str(YAML_BASE, SYNTHETIC).expect("the base mapping parses");
        let mut target = node.clone();
        if base.composite(&mut target).is_ok() {
            let _ = target.assert_fully_composited();
        }
    }

    check_variables(&node);
    true
}

/// Runs `Variables::new` + `check` (and expansion of its own values) on every mapping value
/// named `variables`, at any depth.
fn check_variables(node: &Node) {
    match &node.value {
        Value::Scalar(_) => {}
        Value::Seq(items) => items.iter().for_each(check_variables),
        Value::Map(map) => {
            for (key, value) in map.iter() {
                if &**key == "variables" && value.is_map() {
                    let mut vnode = value.clone();
                    if let Ok(vars) = bst_rs::project::variables::Variables::new(&mut vnode) {
                        if vars.check().is_ok() {
                            let _ = vars.resolved_pairs();
                            let mut expanded = node.clone();
                            let _ = vars.expand(&mut expanded);
                        }
                    }
                }
                check_variables(value);
            }
        }
    }
}

/// Splits a `project` input into its files: `(relative path, contents)`.
pub fn split_project(data: &[u8]) -> Vec<(&'static str, &[u8])> {
    data.split(|&b| b == SEPARATOR)
        .zip(PROJECT_FILES)
        .map(|(chunk, name)| (name, chunk))
        .collect()
}

#[allow(dead_code)]
/// Joins files into a `project` input (the inverse of [`split_project`]); `files` are the
/// contents in [`PROJECT_FILES`] order.
pub fn join_project(files: &[&str]) -> Vec<u8> {
    assert!(files.len() <= PROJECT_FILES.len());
    files.join("\0").into_bytes()
}

/// Writes a `project` input into `dir` (which must be empty or absent: it is recreated).
pub fn write_project(data: &[u8], dir: &Path) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).expect("clearing the project directory");
    }
    for (name, contents) in split_project(data) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(&path, contents).expect("writing a project file");
    }
    // The project directory itself exists even for an empty input.
    std::fs::create_dir_all(dir).expect("mkdir");
}

/// The `project` target: write the files and load the pipeline with `a.bst` as the target,
/// as `bst show a.bst` does. Returns the load's outcome (for tests).
pub fn run_project(data: &[u8], dir: &Path) -> bst_rs::yaml::Result<()> {
    write_project(data, dir);
    bst_rs::graph::Pipeline::load(dir, vec![], &["a.bst".into()], &[], Default::default()).map(|_| ())
}
