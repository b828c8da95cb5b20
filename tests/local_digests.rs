//! `local` source keys with the persistent file digest cache (`src/source/filedigests.rs`):
//! the cache is written under the cache directory, and a file changed in place (same size,
//! modification time put back) still changes the key, to what a run without the cache gets.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn key(project: &Path, cachedir: &Path) -> String {
    let conf = cachedir.with_extension("conf");
    fs::write(&conf, format!("cachedir: {}\n", cachedir.display())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bst-rs"))
        .arg("--no-interactive")
        .arg("-c")
        .arg(&conf)
        .arg("-C")
        .arg(project)
        .args(["show", "--deps", "none", "--format", "%{full-key}", "a.bst"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn keys_follow_in_place_changes_with_the_digest_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    fs::create_dir_all(project.join("files/sub")).unwrap();
    fs::write(project.join("project.conf"), "name: p\nmin-version: 2.0\n").unwrap();
    fs::write(
        project.join("a.bst"),
        "kind: import\nsources:\n- kind: local\n  path: files\n",
    )
    .unwrap();
    let file = project.join("files/sub/data.txt");
    fs::write(&file, b"version one\n").unwrap();
    fs::write(project.join("files/other.txt"), b"unchanged\n").unwrap();
    // Only files that changed a while (100 ms) before they are read are remembered.
    std::thread::sleep(Duration::from_millis(300));

    let cache = tmp.path().join("cache");
    let first = key(&project, &cache);
    let store = cache.join("bst-rs/file-digests");
    // Magic and two 88-byte records.
    assert_eq!(fs::metadata(&store).unwrap().len(), 8 + 2 * 88);
    assert_eq!(key(&project, &cache), first);

    let before = fs::metadata(&file).unwrap();
    fs::write(&file, b"version two\n").unwrap();
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(before.modified().unwrap())
        .unwrap();
    let changed = key(&project, &cache);
    assert_ne!(changed, first);
    assert_eq!(changed, key(&project, &tmp.path().join("fresh-cache")));
}
