//! The `bst-rs` binary: a thin shell over [`bst_rs::cli`].

fn main() {
    tune_malloc();
    std::process::exit(bst_rs::cli::main());
}

/// glibc's malloc grows each thread's heap a few pages at a time, with one `mprotect(2)`
/// call each: thousands of system calls on a large project. A 16 MiB growth step makes
/// that a handful; headroom that is never touched costs no memory.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    const M_TOP_PAD: i32 = -2;
    // SAFETY: mallopt only sets a parameter of glibc's allocator; any value is valid.
    unsafe {
        mallopt(M_TOP_PAD, 16 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}
