//! End-to-end builds with real buildbox-casd and buildbox-run: the README example, failures
//! cached as failures, interrupts that cache nothing, and artifacts read across bst-rs and real
//! BuildStream (when `bst` is installed: `$BST`, else `bst` on PATH).
//!
//! Needs `scripts/setup.sh` (buildbox tools, the hello sysroot). Without buildbox the tests
//! print why and pass, unless `BST_RS_REQUIRE_BUILD=1` (set by `.ci/run`) makes that a failure.

mod common;

use common::{can_build, real_bst, repo, text, Cache};
use std::path::{Path, PathBuf};
use std::process::Command;

fn bst_rs() -> PathBuf {
    common::bst_rs_bin()
}

/// A copy of testprojects/hello plus extra elements, in a scratch directory.
fn project_with(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let status = Command::new("cp")
        .arg("-a")
        .arg(repo().join("testprojects/hello/."))
        .arg(dir.path())
        .status()
        .expect("cp");
    assert!(status.success());
    for (name, content) in extra {
        std::fs::write(dir.path().join("elements").join(name), content).expect("write element");
    }
    dir
}

#[test]
fn hello_builds_checks_out_and_is_cached() {
    if can_build().is_none() {
        return;
    }
    let cache = Cache::new();
    let project = repo().join("testprojects/hello");
    let out = cache.bst_rs(&project, &["build", "hello.bst"]);
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.contains("Build Queue: processed 2, skipped 0, failed 0"),
        "{}",
        text(&out)
    );
    // Both elements are fetched (into the source cache, as bst does for local sources too)
    // and went through the Prime queue on their way to Build; it has no work yet.
    assert!(
        stderr.contains("    Fetch Queue: processed 2, skipped 0, failed 0 \n    Prime Queue: processed 0, skipped 2, failed 0 \n    Build Queue: processed 2, skipped 0, failed 0 \n"),
        "{}",
        text(&out)
    );
    let keys = String::from_utf8_lossy(
        &cache
            .bst_rs(
                &project,
                &[
                    "show",
                    "--deps",
                    "all",
                    "--format",
                    "%{full-key}",
                    "hello.bst",
                ],
            )
            .stdout,
    )
    .into_owned();
    let (base_key, hello_key) = keys.trim().split_once('\n').expect("two keys");
    // As bst 2.8.1 printed them building the same project in an empty cache: the heading's
    // pipeline, each build job's activities (times and log names left out) and the
    // commands below `Running commands`.
    let pipeline = format!(
        "\nPipeline\n   buildable {base_key} base.bst \n     waiting {hello_key} hello.bst \n{}\n",
        "=".repeat(79)
    );
    assert!(stderr.contains(&pipeline), "no\n{pipeline}\nin:\n{stderr}");
    let job = |name: &str, key: &str| format!("[{}][   build:{name:<30}]", &key[..8]);
    let mut expected = Vec::new();
    for (name, key, activities) in [
        (
            "base.bst",
            base_key,
            &["Staging sources", "Caching artifact"][..],
        ),
        (
            "hello.bst",
            hello_key,
            &[
                "Staging dependencies at: /",
                "Integrating sandbox",
                "Staging sources",
                "Running commands",
                "Caching artifact",
            ][..],
        ),
    ] {
        for text in activities {
            expected.push(format!("{} START   {text}", job(name, key)));
            expected.push(format!("{} SUCCESS {text}", job(name, key)));
        }
    }
    let got: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.get(10..))
        .filter(|l| l.contains("][   build:") && !l.ends_with(".log"))
        .collect();
    assert_eq!(got, expected, "{stderr}");
    let commands = "START   Running commands\n\n    sed 's|@GREETING@|Hello from bst-rs|' hello.in > hello\n    mkdir -p /buildstream-install/usr/bin\n    cp hello /buildstream-install/usr/bin/hello\n    chmod 755 /buildstream-install/usr/bin/hello\n\n[";
    assert!(stderr.contains(commands), "{stderr}");

    let co = cache.dir.path().join("checkout");
    let out = cache.bst_rs(
        &project,
        &[
            "artifact",
            "checkout",
            "--directory",
            co.to_str().unwrap(),
            "hello.bst",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    // BuildStream's activity lines, in bst 2.8.1's order and layout (recorded from `bst
    // artifact checkout` of the same element), the elapsed times and the key left out.
    let key = String::from_utf8_lossy(
        &cache
            .bst_rs(
                &project,
                &["show", "--deps", "none", "--format", "%{key}", "hello.bst"],
            )
            .stdout,
    )
    .trim()
    .to_owned();
    let core = "[        ][    main:core activity                 ]";
    let el = format!("[{key}][    main:hello.bst                     ]");
    let mut expected = Vec::new();
    for text in [
        "Loading elements",
        "Resolving elements",
        "Initializing remote caches",
        "Query cache",
    ] {
        expected.push(format!("{core} START   {text}"));
        expected.push(format!("{core} SUCCESS {text}"));
    }
    let checking_out = format!("Checking out files in '{}'", co.display());
    for text in ["Staging dependencies", "Integrating sandbox", &checking_out] {
        expected.push(format!("{el} START   {text}"));
        expected.push(format!("{el} SUCCESS {text}"));
    }
    let got: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.get(10..).map(str::to_owned))
        .collect();
    assert_eq!(got, expected, "{}", text(&out));
    let script = std::fs::read_to_string(co.join("usr/bin/hello")).expect("hello installed");
    assert_eq!(script, "#!/bin/sh\necho \"Hello from bst-rs\"\n");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(co.join("usr/bin/hello"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o755);

    // Nothing to do the second time: as in BuildStream's session, only the required
    // element (the target; base is a build dependency of a cached element) passes through
    // the queues, skipped.
    let out = cache.bst_rs(&project, &["build", "hello.bst"]);
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in [
        "Session:     1",
        "Fetch Queue: processed 0, skipped 1, failed 0",
        "Prime Queue: processed 0, skipped 1, failed 0",
        "Build Queue: processed 0, skipped 1, failed 0",
    ] {
        assert!(stderr.contains(line), "no '{line}' in:\n{}", text(&out));
    }

    let out = cache.bst_rs(&project, &["artifact", "list-contents", "hello.bst"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "  hello.bst:\n\tusr\n\tusr/bin\n\tusr/bin/hello\n\n",
        "{}",
        text(&out)
    );
    // `--long`, in BuildStream's `_get_filestats` columns (checked against bst 2.8.1).
    let out = cache.bst_rs(
        &project,
        &["artifact", "list-contents", "--long", "hello.bst"],
    );
    let size = "#!/bin/sh\necho \"Hello from bst-rs\"\n".len();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "  hello.bst:\n\tdrwxr-xr-x  dir    0           usr\n\tdrwxr-xr-x  dir    0           \
             usr/bin\n\t-rwxr-xr-x  exe    {size:<11} usr/bin/hello\n\n"
        ),
        "{}",
        text(&out)
    );
    // Several elements: one blank line, after them all (BuildStream's
    // pretty_print_element_contents).
    let out = cache.bst_rs(
        &project,
        &["artifact", "list-contents", "base.bst", "hello.bst"],
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.starts_with("  base.bst:\n\t")
            && listed.ends_with("\n  hello.bst:\n\tusr\n\tusr/bin\n\tusr/bin/hello\n\n")
            && listed.matches("\n\n").count() == 1,
        "{}",
        text(&out)
    );
    let out = cache.bst_rs(&project, &["artifact", "log", "hello.bst"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Running commands"),
        "{}",
        text(&out)
    );
}

const FAILING: &str = "kind: manual\nbuild-depends:\n- base.bst\nconfig:\n  build-commands:\n  - echo about to fail\n  - exit 3\n";

#[test]
fn failures_are_cached_as_failures() {
    if can_build().is_none() {
        return;
    }
    let cache = Cache::new();
    let project = project_with(&[("fail.bst", FAILING)]);
    let out = cache.bst_rs(project.path(), &["build", "fail.bst"]);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Failure Summary"), "{}", text(&out));
    assert!(
        // As BuildStream counts: the failed job is not "processed".
        stderr.contains("Build Queue: processed 1, skipped 0, failed 1"),
        "{}",
        text(&out)
    );

    // The failure is cached: the next build fails in the build queue without building, as
    // BuildStream's `CachedFailure` (both elements pass the fetch queue: their sources are
    // there); --retry-failed builds again.
    let out = cache.bst_rs(project.path(), &["build", "fail.bst"]);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The stored error, as bst reports it; the job's log replays the failed build's log.
    assert!(stderr.contains("FAILURE Command failed"), "{}", text(&out));
    // Job lines name the log relative to the log directory, as bst's do.
    let log = stderr
        .lines()
        .filter(|l| l.contains("   build:fail.bst "))
        .find_map(|l| l.split_once("] START   ").map(|(_, path)| path.trim()))
        .expect("a build job's START line");
    assert!(Path::new(log).is_relative(), "{log}");
    let log = cache.dir.path().join("logs").join(log);
    let replayed = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        replayed.contains("about to fail"),
        "{}: {replayed}",
        log.display()
    );
    assert!(
        stderr.contains("Fetch Queue: processed 0, skipped 2, failed 0"),
        "{}",
        text(&out)
    );
    assert!(
        stderr.contains("Build Queue: processed 0, skipped 1, failed 1"),
        "{}",
        text(&out)
    );
    let out = cache.bst_rs(project.path(), &["build", "--retry-failed", "fail.bst"]);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("processed 0, skipped 1, failed 1"),
        "{}",
        text(&out)
    );
    let out = cache.bst_rs(project.path(), &["artifact", "log", "fail.bst"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("about to fail"),
        "{}",
        text(&out)
    );

    // What a failed BuildElement installed is not kept (BuildStream collects nothing from a
    // failed BuildElement batch; a script element's failed artifact keeps its install root).
    let project = project_with(&[(
        "partial.bst",
        "kind: manual\nbuild-depends:\n- base.bst\nconfig:\n  install-commands:\n  \
         - mkdir -p %{install-root}/etc && echo partial > %{install-root}/etc/partial\n  - false\n",
    )]);
    let out = cache.bst_rs(project.path(), &["build", "partial.bst"]);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    let out = cache.bst_rs(
        project.path(),
        &["artifact", "list-contents", "partial.bst"],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "  partial.bst:\n\tThis element has no associated artifacts\n\n",
        "{}",
        text(&out)
    );
}

const SLOW: &str =
    "kind: manual\nbuild-depends:\n- base.bst\nconfig:\n  build-commands:\n  - sleep 30\n";

#[test]
fn interrupt_caches_nothing_half_built() {
    if can_build().is_none() {
        return;
    }
    let cache = Cache::new();
    let project = project_with(&[("slow.bst", SLOW)]);
    let child = Command::new(bst_rs())
        .args(["--no-interactive", "-c"])
        .arg(cache.conf())
        .arg("-C")
        .arg(project.path())
        .args(["build", "slow.bst"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until slow.bst runs, then interrupt as a terminal's Ctrl-C would.
    let refs = cache.dir.path().join("cache/artifacts/refs/hello/base");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !refs.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().expect("wait");
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(refs.exists(), "base was built before the interrupt");
    assert!(
        !cache
            .dir
            .path()
            .join("cache/artifacts/refs/hello/slow")
            .exists(),
        "an interrupted build left a ref: {}",
        text(&out)
    );
    // casd was stopped: the cache directory can be used again at once.
    let out = cache.bst_rs(project.path(), &["build", "base.bst"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn artifacts_cross_read_with_real_buildstream() {
    if can_build().is_none() {
        return;
    }
    let Some(bst) = real_bst() else {
        eprintln!("SKIPPED: real BuildStream not installed (set BST=/path/to/bst)");
        return;
    };
    let project = repo().join("testprojects/hello");
    let run_bst = |cache: &Cache, args: &[&str]| {
        Command::new(&bst)
            .arg("--no-interactive")
            .arg("-c")
            .arg(cache.conf())
            .arg("-C")
            .arg(&project)
            .args(args)
            .output()
            .expect("run bst")
    };
    let expected = "#!/bin/sh\necho \"Hello from bst-rs\"\n";

    // bst-rs builds, bst checks out.
    let cache = Cache::new();
    let out = cache.bst_rs(&project, &["build", "hello.bst"]);
    assert!(out.status.success(), "{}", text(&out));
    let co = cache.dir.path().join("by-bst");
    let out = run_bst(
        &cache,
        &[
            "artifact",
            "checkout",
            "--directory",
            co.to_str().unwrap(),
            "hello.bst",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(co.join("usr/bin/hello")).unwrap(),
        expected
    );

    // bst builds, bst-rs checks out and finds everything cached.
    let cache = Cache::new();
    let out = run_bst(&cache, &["build", "hello.bst"]);
    assert!(out.status.success(), "{}", text(&out));
    let co = cache.dir.path().join("by-bst-rs");
    let out = cache.bst_rs(
        &project,
        &[
            "artifact",
            "checkout",
            "--directory",
            co.to_str().unwrap(),
            "hello.bst",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(co.join("usr/bin/hello")).unwrap(),
        expected
    );
    // A no-op build of what bst built: the same pipeline summary as bst's own no-op build.
    let ours = cache.bst_rs(&project, &["build", "hello.bst"]);
    assert!(ours.status.success(), "{}", text(&ours));
    let theirs = run_bst(&cache, &["build", "hello.bst"]);
    assert!(theirs.status.success(), "{}", text(&theirs));
    assert_eq!(
        pipeline_summary(&ours.stderr),
        pipeline_summary(&theirs.stderr),
        "bst-rs:\n{}\nbst:\n{}",
        text(&ours),
        text(&theirs)
    );
}

/// The counting lines of a pipeline summary (`Total`, `Session`, each queue), trimmed. The
/// Prime queue is bst-rs's own (BuildStream 2.8 has none), so it is left out.
fn pipeline_summary(stderr: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<String> = text
        .lines()
        .skip_while(|l| !l.contains("Pipeline Summary"))
        .map(str::trim)
        .filter(|l| l.starts_with("Total:") || l.starts_with("Session:") || l.contains(" Queue: "))
        .filter(|l| !l.starts_with("Prime Queue:"))
        .map(str::to_owned)
        .collect();
    assert!(lines.len() >= 4, "no pipeline summary in:\n{text}");
    lines
}

#[test]
fn fetched_tar_sources_are_staged_and_built() {
    if can_build().is_none() {
        return;
    }
    let cache = Cache::new();
    // A tarball with a top directory (stripped by the default base-dir `*`).
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("pkg-1.0")).unwrap();
    std::fs::write(work.path().join("pkg-1.0/greeting.txt"), "from a tarball\n").unwrap();
    let tarball = work.path().join("pkg-1.0.tar.gz");
    let st = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(work.path())
        .arg("pkg-1.0")
        .status()
        .unwrap();
    assert!(st.success());
    let sha = {
        use sha2::Digest;
        let bytes = std::fs::read(&tarball).unwrap();
        sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let element = format!(
        "kind: manual\nbuild-depends:\n- base.bst\nsources:\n- kind: tar\n  url: file://{}\n  ref: {sha}\nconfig:\n  install-commands:\n  - mkdir -p %{{install-root}}/share\n  - cp greeting.txt %{{install-root}}/share/\n",
        tarball.display()
    );
    let project = project_with(&[("fromtar.bst", &element)]);
    let out = cache.bst_rs(project.path(), &["build", "fromtar.bst"]);
    assert!(out.status.success(), "{}", text(&out));
    // As in BuildStream, base.bst's local source is staged into the source cache by a fetch
    // job too.
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("Fetch Queue: processed 2, skipped 0, failed 0"),
        "{}",
        text(&out)
    );
    let co = cache.dir.path().join("co");
    let out = cache.bst_rs(
        project.path(),
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
}

/// `show` states from the cache: before a build, after it, and for a cached failure.
#[test]
fn show_states_follow_the_cache() {
    if can_build().is_none() {
        return;
    }
    let cache = Cache::new();
    let project = project_with(&[("fail.bst", FAILING)]);
    let show = |args: &[&str]| {
        let mut a = vec!["show", "--format", "%{name} %{state}"];
        a.extend_from_slice(args);
        let out = cache.bst_rs(project.path(), &a);
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        show(&["hello.bst"]),
        "base.bst buildable\nhello.bst waiting\n"
    );
    assert_eq!(
        show(&["--deps", "none", "hello.bst"]),
        "hello.bst waiting\n"
    );
    let out = cache.bst_rs(project.path(), &["build", "base.bst"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        show(&["hello.bst", "fail.bst"]),
        "base.bst cached\nhello.bst buildable\nfail.bst buildable\n"
    );
    let out = cache.bst_rs(project.path(), &["build", "hello.bst", "fail.bst"]);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    assert_eq!(
        show(&["hello.bst", "fail.bst"]),
        "base.bst cached\nhello.bst cached\nfail.bst failed\n"
    );
    // A partially present artifact is not cached: remove one blob of hello's files tree.
    let co = cache.bst_rs(
        project.path(),
        &[
            "show",
            "--deps",
            "none",
            "--format",
            "%{artifact-cas-digest}",
            "hello.bst",
        ],
    );
    let digest = String::from_utf8_lossy(&co.stdout).trim().to_owned();
    assert!(digest.contains('/'), "{}", text(&co));
    let store = cache.dir.path().join("cache/cas/objects");
    let hash = digest.split('/').next().unwrap();
    let dir = std::fs::read(store.join(&hash[..2]).join(&hash[2..])).expect("root directory");
    std::fs::remove_file(store.join(&hash[..2]).join(&hash[2..])).unwrap();
    assert_eq!(
        show(&["hello.bst"]),
        "base.bst cached\nhello.bst buildable\n"
    );
    std::fs::write(store.join(&hash[..2]).join(&hash[2..]), dir).unwrap();
    assert_eq!(show(&["hello.bst"]), "base.bst cached\nhello.bst cached\n");
}

/// With real bst: `show` (default format) gives the same lines as bst on the same cache,
/// before and after building, with a cached failure.
#[test]
fn show_states_match_real_buildstream() {
    if can_build().is_none() {
        return;
    }
    let Some(bst) = real_bst() else {
        eprintln!("SKIPPED: real BuildStream not installed (set BST=/path/to/bst)");
        return;
    };
    let cache = Cache::new();
    let project = project_with(&[("fail.bst", FAILING)]);
    let compare = |args: &[&str]| {
        let rs = cache.bst_rs(project.path(), args);
        let real = Command::new(&bst)
            .arg("--no-interactive")
            .arg("-c")
            .arg(cache.conf())
            .arg("-C")
            .arg(project.path())
            .args(args)
            .output()
            .expect("run bst");
        assert!(real.status.success(), "{}", text(&real));
        assert_eq!(
            String::from_utf8_lossy(&rs.stdout),
            String::from_utf8_lossy(&real.stdout),
            "{args:?}\nbst-rs: {}\nbst: {}",
            text(&rs),
            text(&real)
        );
    };
    let shows: [&[&str]; 3] = [
        &["show", "hello.bst", "fail.bst"],
        &["show", "--deps", "none", "hello.bst"],
        &["--no-strict", "show", "hello.bst", "fail.bst"],
    ];
    for args in shows {
        compare(args);
    }
    let out = cache.bst_rs(project.path(), &["build", "base.bst"]);
    assert!(out.status.success(), "{}", text(&out));
    for args in shows {
        compare(args);
    }
    let _ = cache.bst_rs(project.path(), &["build", "hello.bst", "fail.bst"]);
    for args in shows {
        compare(args);
    }
}

const LIB: &str = "kind: manual\nbuild-depends:\n- base.bst\nconfig:\n  install-commands:\n  - mkdir -p %{install-root}/lib\n  - echo VERSION > %{install-root}/lib/version\n";
const APP: &str = "kind: manual\nbuild-depends:\n- base.bst\ndepends:\n- lib.bst\nconfig:\n  install-commands:\n  - mkdir -p %{install-root}/bin\n  - cat /lib/version > %{install-root}/bin/built-with\n";

/// Non-strict builds: after lib.bst changes, `--no-strict build app.bst` rebuilds lib but
/// not app (app's weak key is unchanged), as BuildStream does; `show --no-strict` reports
/// app's key as the one of its cached artifact.
#[test]
fn non_strict_build_reuses_weak_artifacts() {
    if can_build().is_none() {
        return;
    }
    let cache = Cache::new();
    let lib1 = LIB.replace("VERSION", "one");
    let project = project_with(&[("lib.bst", &lib1), ("app.bst", APP)]);
    let out = cache.bst_rs(project.path(), &["build", "app.bst"]);
    assert!(out.status.success(), "{}", text(&out));
    let keys = |strict: bool| {
        let mut args = vec![
            "show",
            "--format",
            "%{name} %{state} %{full-key}",
            "app.bst",
        ];
        if !strict {
            args.insert(0, "--no-strict");
        }
        let out = cache.bst_rs(project.path(), &args);
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = keys(true);
    assert_eq!(before, keys(false));

    std::fs::write(
        project.path().join("elements/lib.bst"),
        LIB.replace("VERSION", "two"),
    )
    .unwrap();
    let strict_after = keys(true);
    assert!(strict_after.contains("lib.bst buildable"), "{strict_after}");
    assert!(strict_after.contains("app.bst waiting"), "{strict_after}");
    let loose = keys(false);
    // app's weak artifact is cached: its non-strict key is the old one.
    let app_line = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("app.bst"))
            .unwrap()
            .to_owned()
    };
    assert_eq!(app_line(&loose), app_line(&before), "{loose}");
    assert!(loose.contains("lib.bst buildable"), "{loose}");

    let out = cache.bst_rs(project.path(), &["--no-strict", "build", "app.bst"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Build Queue: processed 1,"),
        "{}",
        text(&out)
    );
    let loose = keys(false);
    assert!(loose.contains("lib.bst cached"), "{loose}");
    assert_eq!(app_line(&loose), app_line(&before), "{loose}");
    // Strict mode still wants app rebuilt.
    assert!(keys(true).contains("app.bst buildable"));

    if let Some(bst) = real_bst() {
        let run_bst = |args: &[&str]| {
            Command::new(&bst)
                .arg("--no-interactive")
                .arg("-c")
                .arg(cache.conf())
                .arg("-C")
                .arg(project.path())
                .args(args)
                .output()
                .expect("run bst")
        };
        for strict in ["--strict", "--no-strict"] {
            let args = [
                strict,
                "show",
                "--format",
                "%{name} %{state} %{full-key}",
                "app.bst",
            ];
            let real = run_bst(&args);
            let rs = cache.bst_rs(project.path(), &args);
            assert_eq!(
                String::from_utf8_lossy(&rs.stdout),
                String::from_utf8_lossy(&real.stdout),
                "{}\n{}",
                text(&rs),
                text(&real)
            );
        }
        // bst agrees that nothing is left to build in non-strict mode.
        let real = run_bst(&["--no-strict", "build", "app.bst"]);
        assert!(real.status.success(), "{}", text(&real));
        assert!(
            String::from_utf8_lossy(&real.stderr).contains("processed 0,"),
            "{}",
            text(&real)
        );
    }
}

/// BuildStream runs a BuildElement's commands with a read-only root: writing anywhere but
/// the build root, the install root, `/dev`, `/proc` and `/tmp` fails, as it does there.
#[test]
fn build_elements_run_with_a_read_only_root() {
    if can_build().is_none() {
        return;
    }
    let cache = Cache::new();
    let write_usr =
        "kind: manual\nbuild-depends:\n- base.bst\nconfig:\n  build-commands:\n  - touch /usr/probe\n";
    let write_tmp = "kind: manual\nbuild-depends:\n- base.bst\nconfig:\n  build-commands:\n  - touch /tmp/probe\n  - mkdir -p %{install-root}/out && touch %{install-root}/out/probe\n";
    let project = project_with(&[("write-usr.bst", write_usr), ("write-tmp.bst", write_tmp)]);
    let out = cache.bst_rs(project.path(), &["build", "write-usr.bst"]);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    let out = cache.bst_rs(project.path(), &["artifact", "log", "write-usr.bst"]);
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(log.contains("Read-only file system"), "{log}");
    let out = cache.bst_rs(project.path(), &["build", "write-tmp.bst"]);
    assert!(out.status.success(), "{}", text(&out));
}

/// A failing element with 25 commands, for the terminal's message and error lines.
fn many_commands_failing() -> String {
    let mut e =
        String::from("kind: manual\nbuild-depends:\n- base.bst\nconfig:\n  build-commands:\n");
    for i in 0..24 {
        e += &format!("  - echo line {i}\n");
    }
    e + "  - exit 3\n"
}

#[test]
fn terminal_options_shorten_details_and_log_tails_as_bst_does() {
    if can_build().is_none() {
        return;
    }
    let cache = Cache::new();
    let project = project_with(&[("many.bst", &many_commands_failing())]);
    let build = |global: &[&str], options: &[&str]| {
        let mut args = global.to_vec();
        args.push("build");
        args.extend(options);
        args.push("many.bst");
        cache.bst_rs(project.path(), &args)
    };
    // BuildStream's defaults (`logging: message-lines` and `error-lines`, 20 each): the
    // commands' listing stops after 20 lines; the log's last 20 lines follow the failure.
    let out = build(&[], &[]);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("    echo line 19\n    Message contains 5 additional lines\n\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Printing the last 20 lines from log file:"),
        "{stderr}"
    );
    // After the summary, the session's error (which has no message): two blank lines.
    assert!(stderr.ends_with("failed 1 \n\n\n"), "{stderr:?}");

    let out = build(
        &["--message-lines", "3", "--error-lines", "4"],
        &["--retry-failed"],
    );
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("    echo line 2\n    Message contains 22 additional lines\n\n"),
        "{stderr}"
    );
    let tail = stderr
        .split("Printing the last 4 lines from log file:\n")
        .nth(1)
        .expect("the log's tail");
    let rules: Vec<&str> = tail
        .lines()
        .filter(|l| l.trim_start().starts_with("===="))
        .collect();
    assert_eq!(rules.len(), 2, "{tail}");
    let shown = tail
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("===="))
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with("===="))
        .count();
    assert_eq!(shown, 4, "{tail}");
}

#[test]
fn max_jobs_on_the_command_line_sets_the_variable() {
    let project = repo().join("testprojects/hello");
    let vars = |extra: &[&str]| {
        let cache = Cache::new();
        let mut args = extra.to_vec();
        args.extend(["show", "--deps", "none", "--format", "%{vars}", "hello.bst"]);
        let out = cache.bst_rs(&project, &args);
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(vars(&["--max-jobs", "3"]).contains("\nmax-jobs: 3\n"));
    assert!(vars(&["--max-jobs", "13"]).contains("\nmax-jobs: 13\n"));
}

#[test]
fn log_file_gets_the_messages_heading_and_summary() {
    if can_build().is_none() {
        return;
    }
    let cache = Cache::new();
    let project = project_with(&[]);
    let main_log = cache.dir.path().join("main.log");
    let main_log_arg = main_log.to_str().unwrap();
    let out = cache.bst_rs(
        project.path(),
        &["--log-file", main_log_arg, "build", "hello.bst"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let log = std::fs::read_to_string(&main_log).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Everything the terminal showed, but the blank line the terminal puts before the
    // summary (as `bst --log-file` writes it).
    assert_eq!(
        log,
        stderr.replacen("\n\nPipeline Summary", "\nPipeline Summary", 1)
    );
    assert!(log.contains("START   Build\n"), "{log}");
    assert!(log.contains("\nPipeline\n"), "{log}");
    assert!(log.contains("\nPipeline Summary\n"), "{log}");
}

#[test]
fn artifact_show_and_delete_follow_the_cache() {
    if can_build().is_none() {
        return;
    }
    let cache = Cache::new();
    let project = project_with(&[("fail.bst", FAILING)]);
    let run = |args: &[&str]| cache.bst_rs(project.path(), args);
    let show = |deps: &str| {
        let out = run(&["artifact", "show", "--deps", deps, "hello.bst", "fail.bst"]);
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        show("none"),
        "  not cached hello.bst\n  not cached fail.bst\n\n"
    );
    assert!(run(&["build", "hello.bst"]).status.success());
    assert_eq!(run(&["build", "fail.bst"]).status.code(), Some(255));
    // As BuildStream's `show_state_of_artifacts` words it, in staging order, a blank line
    // after.
    assert_eq!(
        show("all"),
        "      cached base.bst\n      cached hello.bst\n      failed fail.bst\n\n"
    );

    // Artifacts by name: a ref (by its weak key too, shown with its strong key), a glob over
    // the refs, a name with no ref; a malformed name is refused.
    let refs = cache.dir.path().join("cache/artifacts/refs/hello/hello");
    let mut keys: Vec<String> = std::fs::read_dir(&refs)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    keys.sort();
    let missing = format!("hello/hello/{}", "0".repeat(64));
    let named: Vec<String> = keys.iter().map(|k| format!("hello/hello/{k}")).collect();
    let out = run(&["artifact", "show", &named[0], &named[1], &missing]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 3, "{shown}");
    assert!(lines[0].starts_with("      cached hello/hello/"), "{shown}");
    assert_eq!(lines[1], format!("  not cached {missing}"));
    let out = run(&["artifact", "show", "hello/*/*"]);
    let shown = String::from_utf8(out.stdout).unwrap();
    assert_eq!(shown.matches("      cached hello/").count(), 2, "{shown}");
    assert_eq!(
        shown.matches("      failed hello/fail/").count(),
        1,
        "{shown}"
    );
    let out = run(&["artifact", "show", "hello/hello/abc"]);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("Specified target does not appear to be an artifact or element name"),
        "{}",
        text(&out)
    );
    // A named artifact's build dependencies are the artifacts it was built with.
    let out = run(&["artifact", "show", "--deps", "build", &named[0]]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(
        shown.starts_with("      cached hello/base/") && shown.lines().count() == 2,
        "{shown}"
    );
    let out = run(&["artifact", "show", "--deps", "all", &named[0]]);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    // The same listing as by element, under the artifact's name.
    let by_name = run(&["artifact", "list-contents", &named[0]]);
    assert!(by_name.status.success(), "{}", text(&by_name));
    let by_element = run(&["artifact", "list-contents", "hello.bst"]);
    let by_name = String::from_utf8(by_name.stdout).unwrap();
    let by_element = String::from_utf8(by_element.stdout).unwrap();
    assert!(by_element.lines().count() > 2, "{by_element}");
    assert_eq!(
        by_name.split_once('\n').unwrap().1,
        by_element.split_once('\n').unwrap().1
    );

    // Both refs (strong and weak key) go; a second delete finds none.
    let out = run(&["artifact", "delete", "hello.bst"]);
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("INFO    Removed: hello/hello/").count(),
        2,
        "{stderr}"
    );
    assert_eq!(
        show("all"),
        "      cached base.bst\n  not cached hello.bst\n      failed fail.bst\n\n"
    );
    assert!(!cache
        .dir
        .path()
        .join("cache/artifacts/refs/hello/hello")
        .exists());
    let out = run(&["artifact", "delete", "hello.bst"]);
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr
            .matches("WARNING Could not find ref 'hello/hello/")
            .count(),
        2,
        "{stderr}"
    );
    assert!(
        stderr.contains("INFO    No artifacts were removed"),
        "{stderr}"
    );
}

const OVERLAP_A: &str = "kind: import\nsources:\n- kind: local\n  path: files\n";
const OVERLAP_COMPOSE: &str = "kind: compose\nbuild-depends:\n- a.bst\n- b.bst\n";

/// Staging a file over one an earlier dependency staged raises BuildStream's `overlaps`
/// warning (with its wording, checked against bst 2.8.1's), unless the overwriting element's
/// `overlap-whitelist` allows it; `fatal-warnings: [overlaps]` fails the build, which caches
/// nothing.
#[test]
fn overlaps_warn_unless_whitelisted_and_fail_when_fatal() {
    if can_build().is_none() {
        return;
    }
    let whitelisted =
        format!("{OVERLAP_A}public:\n  bst:\n    overlap-whitelist:\n    - /hello.*\n");
    let warning = "WARNING [overlaps]: Non-whitelisted overlaps detected\n\n    \
                   Staged files overwrite existing files in staging area: /\n    \
                   /hello.in: b.bst is not permitted to overlap other elements, order b.bst above a.bst \n";
    for (b, fatal, warns) in [
        (OVERLAP_A, false, true),
        (whitelisted.as_str(), false, false),
        (OVERLAP_A, true, true),
    ] {
        let cache = Cache::new();
        let project = project_with(&[
            ("a.bst", OVERLAP_A),
            ("b.bst", b),
            ("c.bst", OVERLAP_COMPOSE),
        ]);
        if fatal {
            let conf = project.path().join("project.conf");
            let text = std::fs::read_to_string(&conf).unwrap() + "fatal-warnings: [overlaps]\n";
            std::fs::write(&conf, text).unwrap();
        }
        let out = cache.bst_rs(project.path(), &["build", "c.bst"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let state = cache.bst_rs(
            project.path(),
            &["show", "--deps", "none", "--format", "%{state}", "c.bst"],
        );
        let state = String::from_utf8_lossy(&state.stdout).trim().to_owned();
        if fatal {
            assert_eq!(out.status.code(), Some(255), "{}", text(&out));
            assert!(
                stderr.contains(
                    "FAILURE [overlaps]: Non-whitelisted overlaps detected\nStaged files overwrite"
                ),
                "{}",
                text(&out)
            );
            assert_eq!(state, "buildable");
        } else {
            assert!(out.status.success(), "{}", text(&out));
            assert_eq!(stderr.contains(warning), warns, "{}", text(&out));
            assert_eq!(stderr.contains("[overlaps]"), warns, "{}", text(&out));
            assert_eq!(state, "cached");
        }
    }
}

/// An import element's `config: source:` that names nothing, or a file, fails with the
/// message of BuildStream's `open_directory` and caches nothing (bst builds it again next
/// time); an empty directory is a failure that is cached, as bst's `ElementError` is.
#[test]
fn import_of_a_missing_file_or_empty_source_directory_fails_as_in_bst() {
    if can_build().is_none() {
        return;
    }
    let import = |source: &str, path: &str| {
        format!(
            "kind: import\nsources:\n- kind: local\n  path: {path}\nconfig:\n  source: {source}\n"
        )
    };
    let cache = Cache::new();
    let project = project_with(&[
        ("missing.bst", &import("/nope", "files")),
        ("file.bst", &import("/hello.in/x", "files")),
        ("empty.bst", &import("/empty", "tree")),
    ]);
    std::fs::create_dir_all(project.path().join("tree/empty")).unwrap();
    std::fs::write(project.path().join("tree/file"), "x").unwrap();
    let out = cache.bst_rs(
        project.path(),
        &[
            "--on-error",
            "continue",
            "build",
            "missing.bst",
            "file.bst",
            "empty.bst",
        ],
    );
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for failure in [
        "FAILURE 'nope' not found in [CAS://input]",
        "FAILURE Cannot open hello.in, which is a 'regular file' in the directory [CAS://input]",
        "FAILURE import element at empty.bst [line 1 column 0]: No files were found inside \
         directory '/empty'",
    ] {
        assert!(
            stderr.contains(failure),
            "no '{failure}' in:\n{}",
            text(&out)
        );
    }
    let out = cache.bst_rs(
        project.path(),
        &[
            "show",
            "--format",
            "%{name} %{state}",
            "missing.bst",
            "file.bst",
            "empty.bst",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "missing.bst buildable\nfile.bst buildable\nempty.bst failed\n",
        "{}",
        text(&out)
    );
}

/// A filter naming a domain its dependency does not have fails in `Staging artifact` with
/// BuildStream's message and its detail, indented (as bst 2.8.1 prints it).
#[test]
fn filter_with_an_unknown_domain_fails_as_in_bst() {
    if can_build().is_none() {
        return;
    }
    let cache = Cache::new();
    let project = project_with(&[(
        "f.bst",
        "kind: filter\nbuild-depends:\n- hello.bst\nconfig:\n  include: [nosuch]\n",
    )]);
    let out = cache.bst_rs(project.path(), &["build", "f.bst"]);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "] FAILURE Staging artifact\n",
        "] FAILURE Unknown domains declared.\n\n    Unknown domains were used in f.bst [line 5 \
         column 11]\n     - nosuch\n",
    ] {
        assert!(
            stderr.contains(expected),
            "no '{expected}' in:\n{}",
            text(&out)
        );
    }
}

/// A BuildElement that runs no command never gets its install root made: BuildStream caches
/// an artifact without files, then fails the job for want of the directory (checked against
/// bst 2.8.1).
#[test]
fn build_element_running_no_command_is_cached_and_fails() {
    if can_build().is_none() {
        return;
    }
    let cache = Cache::new();
    let project = project_with(&[(
        "m.bst",
        "kind: manual\nbuild-depends:\n- base.bst\nconfig:\n  strip-commands: []\n",
    )]);
    let out = cache.bst_rs(project.path(), &["build", "m.bst"]);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "FAILURE Directory '/buildstream-install' was not found inside the sandbox, unable to \
         collect artifact contents\n",
        // base.bst is built too.
        "Build Queue: processed 1, skipped 0, failed 1",
    ] {
        assert!(
            stderr.contains(expected),
            "no '{expected}' in:\n{}",
            text(&out)
        );
    }
    let out = cache.bst_rs(
        project.path(),
        &["show", "--deps", "none", "--format", "%{state}", "m.bst"],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "cached\n",
        "{}",
        text(&out)
    );
}
