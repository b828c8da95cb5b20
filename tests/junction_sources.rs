//! Junctions whose subprojects come from sources other than a single `local` one
//! (`testprojects/junction-sources`, `src/loader/junction.rs`): a tarball, a local tree with a
//! patch, two local trees merged, and a junction inside a staged subproject. Keys and staged
//! files are compared with what real bst did (`scripts/record-junction-sources.sh`).

mod common;

use common::{repo, sha256, text, Cache};
use std::fs;
use std::path::{Path, PathBuf};

const SHOW: &[&str] = &["show", "--deps", "all", "--format", "%{name} %{full-key}"];

fn expected(name: &str) -> String {
    fs::read_to_string(repo().join("tests/expected/junction-sources").join(name)).unwrap()
}

/// A scratch copy of the project (bst-rs stages into the project's `.bst/`).
fn project_copy(cache: &Cache) -> PathBuf {
    let dest = cache.dir.path().join("project");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(repo().join("testprojects/junction-sources"))
        .arg(&dest)
        .status()
        .unwrap();
    assert!(status.success());
    let _ = fs::remove_dir_all(dest.join(".bst"));
    dest
}

fn tarball() -> PathBuf {
    repo().join("testprojects/junction-sources/files/sub.tar.gz")
}

/// The tar source's mirror in the source directory, as BuildStream names it.
fn mirror(cache: &Cache) -> PathBuf {
    let sha = sha256(&fs::read(tarball()).unwrap());
    cache
        .dir
        .path()
        .join("sources/tar/upstream_sub_tar_gz")
        .join(sha)
}

/// Puts the tarball in the source directory, so that the junction's URL is never fetched.
fn seed_mirror(cache: &Cache) -> PathBuf {
    let m = mirror(cache);
    fs::create_dir_all(m.parent().unwrap()).unwrap();
    fs::copy(tarball(), &m).unwrap();
    m
}

/// Every file and symlink under the project's `.bst/staged-junctions`, as the recorder
/// lists them.
fn staged(project: &Path) -> String {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            let rel = format!("{rel}/{name}");
            let t = entry.file_type().unwrap();
            if t.is_symlink() {
                let target = fs::read_link(entry.path()).unwrap();
                out.push(format!("{rel} -> {}", target.display()));
            } else if t.is_dir() {
                walk(&entry.path(), &rel, out);
            } else {
                out.push(format!(
                    "{rel} {}",
                    sha256(&fs::read(entry.path()).unwrap())
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &project.join(".bst/staged-junctions"),
        ".bst/staged-junctions",
        &mut out,
    );
    out.sort();
    out.iter().map(|l| format!("{l}\n")).collect()
}

/// `show` of `top.bst` (every element's key), which must succeed.
fn show_top(cache: &Cache, project: &Path) -> std::process::Output {
    let mut args = SHOW.to_vec();
    args.push("top.bst");
    let out = cache.bst_rs(project, &args);
    assert!(out.status.success(), "{}", text(&out));
    out
}

#[test]
fn staged_junctions_give_bsts_keys_and_stages() {
    let cache = Cache::new();
    let project = project_copy(&cache);
    let m = seed_mirror(&cache);
    let out = show_top(&cache, &project);
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected("show.txt"));
    assert_eq!(staged(&project), expected("staged.txt"));
    // Nothing was downloaded: no fetch job ran.
    assert!(!String::from_utf8_lossy(&out.stderr).contains("fetch:"));

    // A second load uses the stages as they are, even without the tarball.
    fs::remove_file(&m).unwrap();
    let again = show_top(&cache, &project);
    assert_eq!(again.stdout, out.stdout);
}

#[test]
fn a_missing_tarball_is_fetched_by_a_fetch_job() {
    let cache = Cache::new();
    let project = project_copy(&cache);
    let files = project.join("files");
    let conf = fs::read_to_string(project.join("project.conf")).unwrap();
    let url = format!("file://{}/", files.display());
    fs::write(
        project.join("project.conf"),
        conf.replace("https://example.invalid/subprojects/", &url),
    )
    .unwrap();
    let out = show_top(&cache, &project);
    // The subprojects' keys do not depend on the junction's URL.
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected("show.txt"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let fetching = format!("SUCCESS Fetching {url}sub.tar.gz");
    assert!(stderr.contains(&fetching), "{stderr}");
    // The job shows the junction's strict key, the one real bst shows for it
    // (`bst show --format '%{full-key}' tarred.bst`: 90c03391c8e2...).
    assert!(
        stderr.contains("[90c03391][   fetch:tarred.bst "),
        "{stderr}"
    );
    // The job's log is where BuildStream keeps it, and the tarball in the source directory.
    let logs: Vec<_> = fs::read_dir(cache.dir.path().join("logs/junction-sources/tarred"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0].contains("-fetch."), "{logs:?}");
    assert_eq!(
        fs::read(mirror(&cache)).unwrap(),
        fs::read(tarball()).unwrap()
    );
}

#[test]
fn a_failed_fetch_stages_nothing() {
    let cache = Cache::new();
    let project = project_copy(&cache);
    let missing = cache.dir.path().join("nowhere");
    let conf = fs::read_to_string(project.join("project.conf")).unwrap();
    fs::write(
        project.join("project.conf"),
        conf.replace(
            "https://example.invalid/subprojects/",
            &format!("file://{}/", missing.display()),
        ),
    )
    .unwrap();
    let out = cache.bst_rs(&project, &["show", "tarred.bst:app.bst"]);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Could not stage the sources of junction 'tarred.bst'")
            && stderr.contains("tar source at tarred.bst [line 4 column 2]"),
        "{stderr}"
    );
    // Two retries, as BuildStream's default network-retries (each failed try's log is
    // printed below it too).
    let retries = stderr
        .lines()
        .filter(|l| {
            l.starts_with('[') && l.contains("fetch:tarred.bst") && l.contains("] FAILURE Try #")
        })
        .count();
    assert_eq!(retries, 2, "{stderr}");
    let stages = project.join(".bst/staged-junctions/tarred.bst");
    let left: Vec<_> = fs::read_dir(&stages)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn with_project_refs_a_junctions_ref_comes_from_junction_refs() {
    let cache = Cache::new();
    let project = project_copy(&cache);
    seed_mirror(&cache);
    // The ref stays in the element too: ignored, with bst's warning.
    let sha = sha256(&fs::read(tarball()).unwrap());
    let conf = fs::read_to_string(project.join("project.conf")).unwrap();
    fs::write(
        project.join("project.conf"),
        format!("{conf}\nref-storage: project.refs\n"),
    )
    .unwrap();
    fs::write(
        project.join("junction.refs"),
        format!("projects:\n  junction-sources:\n    tarred.bst:\n    - ref: {sha}\n"),
    )
    .unwrap();
    let out = show_top(&cache, &project);
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected("show.txt"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARNING Ignoring redundant source references")
            && stderr.contains(&format!("    tarred.bst [line 4 column 2]:{sha}\n")),
        "{stderr}"
    );
    // The same stage as with the ref inline: the key holds the ref, not where it is kept.
    assert_eq!(staged(&project), expected("staged.txt"));
}
