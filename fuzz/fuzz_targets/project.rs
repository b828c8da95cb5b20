//! Fuzzes the whole loading pipeline: project.conf, includes, options, elements,
//! junctions, variables and cache keys, from files split out of one input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

include!("../harness.rs");

mod stack_overflow {
    include!("../stack_overflow.rs");
}

/// One project directory per fuzzing process, rewritten for each input and removed when
/// libFuzzer exits normally.
fn project_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        extern "C" fn remove_project_dir() {
            if let Some(dir) = DIR.get() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        // SAFETY: registers a plain function to run at exit(3).
        unsafe { libc::atexit(remove_project_dir) };
        std::env::temp_dir().join(format!("bst-rs-fuzz-project-{}", std::process::id()))
    })
}

fuzz_target!(
    init: stack_overflow::catch_stack_overflows(),
    |data: &[u8]| {
        let _ = run_project(data, project_dir());
    }
);
