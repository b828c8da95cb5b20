//! `bst-rs init`: the project.conf `bst init` writes (the same bytes: checked against real
//! bst by hand), its checks, and that the new project loads.

mod common;

use common::text;
use std::process::Command;

fn init(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(common::bst_rs_bin())
        .arg("--no-interactive")
        .arg("init")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn init_writes_bsts_project_conf() {
    let tmp = tempfile::tempdir().unwrap();
    let out = init(tmp.path(), &["--project-name", "foo", "sub/dir"]);
    assert!(out.status.success(), "{}", text(&out));
    let project = tmp.path().join("sub/dir");
    assert_eq!(
        std::fs::read_to_string(project.join("project.conf")).unwrap(),
        "# Unique project name\nname: foo\n\n# Required BuildStream version\nmin-version: 2.8\n\n\
         # Subdirectory where elements are stored\nelement-path: elements\n"
    );
    assert!(project.join("elements").is_dir());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "\nCreated project.conf at: {}\n",
            project.join("project.conf").display()
        )
    );
    // The new project loads (and has no elements yet).
    std::fs::write(project.join("elements/a.bst"), "kind: stack\n").unwrap();
    let cache = common::Cache::new();
    let shown = cache.bst_rs(&project, &["show", "--format", "%{name}", "a.bst"]);
    assert!(shown.status.success(), "{}", text(&shown));
    assert_eq!(String::from_utf8_lossy(&shown.stdout), "a.bst\n");

    // Not twice, unless forced.
    let again = init(&project, &["--project-name", "foo"]);
    assert_eq!(again.status.code(), Some(255), "{}", text(&again));
    assert!(String::from_utf8_lossy(&again.stderr).contains("A project.conf already exists at: "));
    let forced = init(
        &project,
        &["--project-name", "bar", "--min-version", "2.2", "-f"],
    );
    assert!(forced.status.success(), "{}", text(&forced));
    let conf = std::fs::read_to_string(project.join("project.conf")).unwrap();
    assert!(
        conf.contains("name: bar\n") && conf.contains("min-version: 2.2\n"),
        "{conf}"
    );
}

#[test]
fn init_refuses_what_bst_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    for (args, message) in [
        (
            &[][..],
            "Cannot initialize a new project without specifying the project name",
        ),
        (
            &["--project-name", "9x"][..],
            "Invalid symbol name for project name: '9x'",
        ),
        (
            &["--project-name", "ok", "--min-version", "3.0"][..],
            "The minimum version must be a known version of BuildStream 2",
        ),
        (
            &["--project-name", "ok", "--min-version", "2.x"][..],
            "Malformed version string: 2.x",
        ),
        (
            &["--project-name", "ok", "--element-path", "../e"][..],
            "The element path cannot be an absolute path or contain any '..' components",
        ),
    ] {
        let out = init(tmp.path(), args);
        assert_eq!(out.status.code(), Some(255), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(message),
            "{args:?}: {}",
            text(&out)
        );
        assert!(!tmp.path().join("project.conf").exists());
    }
}
