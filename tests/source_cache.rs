//! BuildStream's source caches (`elementsources/`, `source_protos/`): ref names and contents
//! against what real bst wrote (recorded by `scripts/record-source-caches.sh` into
//! `tests/expected/source-caches/`), the refs bst-rs writes when it fetches, and both tools
//! using each other's cached sources once the upstream is gone.
//!
//! The tests that fetch need buildbox-casd (`scripts/setup.sh`) and those that compare with
//! real bst need `bst` (`$BST`, else on PATH); without them they print why and pass, unless
//! `BST_RS_REQUIRE_BUILD=1` makes a missing buildbox a failure.

mod common;

use bst_rs::sourcecache::{decode_ref, encode_ref, SourceCache};
use common::{can_build, real_bst, repo, text, Cache};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The recorded refs of one element: `(path under the cache directory, content)`.
fn recorded(element: &str) -> Vec<(String, Vec<u8>)> {
    let path = repo().join(format!("tests/expected/source-caches/{element}.txt"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| {
            let (p, hex) = l.split_once(' ').expect("`path hex` line");
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            (p.to_owned(), bytes)
        })
        .collect()
}

const ELEMENTS: [&str; 7] = [
    "tar.bst",
    "zip.bst",
    "remote.bst",
    "local.bst",
    "merged.bst",
    "patched.bst",
    "no-sources.bst",
];

/// A copy of testprojects/fetch whose `files` alias is the local files directory.
fn fetch_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = Command::new("cp")
        .arg("-a")
        .arg(repo().join("testprojects/fetch/."))
        .arg(dir.path())
        .status()
        .expect("cp");
    assert!(st.success());
    let conf = dir.path().join("project.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    let files = format!(
        "file://{}/",
        repo().join("testprojects/fetch/files").display()
    );
    std::fs::write(
        &conf,
        text.replace("@HTTP@/", &files)
            .replace("@GIT@", "/nonexistent"),
    )
    .unwrap();
    dir
}

#[test]
fn ref_names_and_contents_are_buildstreams() {
    let project = fetch_project();
    for element in ELEMENTS {
        let (p, _) = bst_rs::graph::Pipeline::load(
            project.path(),
            Vec::new(),
            &[element.to_owned()],
            &[],
            bst_rs::element::Keep {
                source_cache_keys: true,
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{element}: {e}"));
        let el = &p.elements[&p.targets[0]];
        let refs = recorded(element);
        // The element's sources key names its one elementsources ref.
        let ours = format!("elementsources/{}", el.sources_key.as_deref().unwrap());
        let theirs: Vec<&str> = refs
            .iter()
            .map(|(p, _)| p.as_str())
            .filter(|p| p.starts_with("elementsources/"))
            .collect();
        assert_eq!(theirs, [ours.as_str()], "{element}");
        // Each source staged alone (all but `patch`, which works on the previous ones) under
        // `source_protos/<kind>/<key>`.
        let mut ours: Vec<String> = el
            .sources
            .iter()
            .filter(|s| !s.fetcher.requires_previous_sources())
            .map(|s| format!("source_protos/{}/{}", s.kind, s.key.as_deref().unwrap()))
            .collect();
        ours.sort();
        ours.dedup();
        let theirs: Vec<&str> = refs
            .iter()
            .map(|(p, _)| p.as_str())
            .filter(|p| p.starts_with("source_protos/"))
            .collect();
        assert_eq!(ours, theirs, "{element}");
        // A ref is a `Source` message naming the tree, and encodes back to the same bytes.
        for (path, bytes) in &refs {
            let digest = decode_ref(bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(digest.hash.len(), 64, "{path}");
            assert_eq!(&encode_ref(&digest), bytes, "{path}");
        }
    }
    // The ref paths of the layout.
    let c = SourceCache::new(Path::new("/c"));
    assert_eq!(c.element_sources_ref("k"), Path::new("/c/elementsources/k"));
    assert_eq!(
        c.source_ref("tar", "k"),
        Path::new("/c/source_protos/tar/k")
    );
    // An element without sources: the key of `[]`, an empty tree (no size field).
    let empty = &recorded("no-sources.bst")[0];
    assert_eq!(
        empty.0,
        "elementsources/4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
    );
    assert_eq!(empty.0.rsplit('/').next().unwrap(), common::sha256(b"[]"));
    assert_eq!(
        decode_ref(&empty.1).unwrap(),
        bst_rs::cas::empty_directory_digest()
    );
}

fn bst_rs() -> PathBuf {
    common::bst_rs_bin()
}

/// Every ref of `cache` under `elementsources/` and `source_protos/`, as the recording lists
/// them.
fn refs(cache: &Cache) -> Vec<(String, Vec<u8>)> {
    let root = cache.dir.path().join("cache");
    let mut out = Vec::new();
    for top in ["elementsources", "source_protos"] {
        let mut stack = vec![root.join(top)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p
                        .strip_prefix(&root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    out.push((rel, std::fs::read(&p).unwrap()));
                }
            }
        }
    }
    out.sort();
    out
}

/// bst-rs's `source fetch` writes the refs bst writes, byte for byte (so the same trees).
#[test]
fn fetch_writes_the_refs_buildstream_writes() {
    if can_build().is_none() {
        return;
    }
    let project = fetch_project();
    for element in ELEMENTS {
        let cache = Cache::new();
        let out = cache.run(&bst_rs(), project.path(), &["source", "fetch", element]);
        assert!(out.status.success(), "{element}: {}", text(&out));
        assert_eq!(refs(&cache), recorded(element), "{element}");
        // Fetched again: the element's sources are cached, nothing to do.
        let out = cache.run(&bst_rs(), project.path(), &["source", "fetch", element]);
        assert!(out.status.success(), "{element}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("Fetch Queue: processed 0, skipped 1, failed 0"),
            "{element}: {}",
            text(&out)
        );
    }
}

/// A copy of testprojects/hello with `fromtar.bst`, a manual element whose tar source is
/// served from `upstream` (a file:// URL); the tarball's path is returned too.
fn tar_project(upstream: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = Command::new("cp")
        .arg("-a")
        .arg(repo().join("testprojects/hello/."))
        .arg(dir.path())
        .status()
        .expect("cp");
    assert!(st.success());
    std::fs::create_dir_all(upstream.join("pkg-1.0")).unwrap();
    std::fs::write(upstream.join("pkg-1.0/greeting.txt"), "from a tarball\n").unwrap();
    let tarball = upstream.join("pkg-1.0.tar.gz");
    let st = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(upstream)
        .arg("pkg-1.0")
        .status()
        .unwrap();
    assert!(st.success());
    let sha = common::sha256(&std::fs::read(&tarball).unwrap());
    let element = format!(
        "kind: manual\nbuild-depends:\n- base.bst\nsources:\n- kind: tar\n  url: file://{}\n  ref: {sha}\nconfig:\n  install-commands:\n  - mkdir -p %{{install-root}}/share\n  - cp greeting.txt %{{install-root}}/share/\n",
        tarball.display()
    );
    std::fs::write(dir.path().join("elements/fromtar.bst"), element).unwrap();
    (dir, tarball)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// One tool fetches; the upstream tarball and the source directory go; the other tool finds
/// the element's sources in the source cache: `show` agrees they need no fetch, and a build
/// fetches nothing for them (only base.bst's local source is staged into the cache) and
/// builds from the cached tree.
#[test]
fn source_caches_cross_read_with_real_buildstream() {
    if can_build().is_none() {
        return;
    }
    let Some(bst) = real_bst() else {
        eprintln!("SKIPPED: real BuildStream not installed (set BST=/path/to/bst)");
        return;
    };
    let ours = bst_rs();
    for (fetcher, reader) in [(&ours, &bst), (&bst, &ours)] {
        let cache = Cache::new();
        let upstream = tempfile::tempdir().unwrap();
        let (project, tarball) = tar_project(upstream.path());
        let p = project.path();
        let show = ["show", "--format", "%{name} %{state}", "fromtar.bst"];
        assert_eq!(
            stdout(&cache.run(reader, p, &show)),
            "base.bst buildable\nfromtar.bst fetch needed\n"
        );
        let out = cache.run(fetcher, p, &["source", "fetch", "fromtar.bst"]);
        assert!(out.status.success(), "{}", text(&out));
        std::fs::remove_file(&tarball).unwrap();
        std::fs::remove_dir_all(cache.dir.path().join("sources")).unwrap();
        for tool in [&ours, &bst] {
            let out = cache.run(tool, p, &show);
            assert!(out.status.success(), "{}", text(&out));
            assert_eq!(
                stdout(&out),
                "base.bst buildable\nfromtar.bst waiting\n",
                "{}",
                text(&out)
            );
        }
        // `source checkout` stages the cached tree.
        let sc = cache.dir.path().join("sc");
        let out = cache.run(
            reader,
            p,
            &[
                "source",
                "checkout",
                "--directory",
                sc.to_str().unwrap(),
                "fromtar.bst",
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(
            std::fs::read_to_string(sc.join("fromtar/greeting.txt")).unwrap(),
            "from a tarball\n"
        );
        let out = cache.run(reader, p, &["build", "fromtar.bst"]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("Fetch Queue: processed 1, skipped 1, failed 0"),
            "{}",
            text(&out)
        );
        let co = cache.dir.path().join("co");
        let out = cache.run(
            reader,
            p,
            &[
                "artifact",
                "checkout",
                "--directory",
                co.to_str().unwrap(),
                "fromtar.bst",
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(
            std::fs::read_to_string(co.join("share/greeting.txt")).unwrap(),
            "from a tarball\n"
        );
        // Both tools wrote the same refs: a build by the fetching tool finds it all cached.
        let out = cache.run(fetcher, p, &["show", "--format", "%{state}", "fromtar.bst"]);
        assert_eq!(stdout(&out), "cached\ncached\n", "{}", text(&out));
    }
}
