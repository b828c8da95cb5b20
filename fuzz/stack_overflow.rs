// Makes stack overflows visible to libFuzzer without a sanitizer (`--sanitizer none`).
//
// A cargo-fuzz binary starts in libFuzzer's C++ `main`, so Rust's runtime never installs
// its guard-page handler: a stack overflow then hits libFuzzer's SIGSEGV handler on the
// overflowed stack, the process dies of a double fault and no crash input is saved. Here
// every thread that runs bst-rs code (the main thread and rayon's workers) gets an
// alternate signal stack, and a SIGSEGV handler with SA_ONSTACK is installed *before*
// libFuzzer's (which keeps SA_ONSTACK and chains to it). The handler says what happened and
// aborts, and libFuzzer's SIGABRT handler, running on the same alternate stack, saves the
// input as a crash artifact.
//
// Stack sizes are those of the `bst-rs` binary: 8 MiB for the main thread and
// `bst_rs::WORKER_STACK_SIZE` for rayon's workers.

const ALT_STACK_SIZE: usize = 1 << 20;

/// Gives the calling thread an alternate signal stack (leaked: threads live as long as the
/// process).
fn install_alt_stack() {
    let stack = Box::leak(vec![0u8; ALT_STACK_SIZE].into_boxed_slice());
    let ss = libc::stack_t {
        ss_sp: stack.as_mut_ptr().cast(),
        ss_flags: 0,
        ss_size: ALT_STACK_SIZE,
    };
    // SAFETY: `ss` describes a live, leaked buffer of ALT_STACK_SIZE bytes.
    let rc = unsafe { libc::sigaltstack(&ss, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "sigaltstack failed");
}

extern "C" fn on_sigsegv(_sig: libc::c_int, _info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    const MSG: &[u8] = b"\n==bst-rs-fuzz== SIGSEGV, most likely a stack overflow; aborting\n";
    // SAFETY: write(2) and abort(3) are async-signal-safe.
    unsafe {
        libc::write(2, MSG.as_ptr().cast(), MSG.len());
        libc::abort();
    }
}

/// Call once from the fuzz target's `init`, before libFuzzer installs its handlers.
pub fn catch_stack_overflows() {
    install_alt_stack();
    // SAFETY: a zeroed sigaction is valid; the handler only calls async-signal-safe code.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigsegv as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGSEGV, &sa, std::ptr::null_mut()), 0);
        assert_eq!(libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut()), 0);
    }
    rayon::ThreadPoolBuilder::new()
        .stack_size(bst_rs::WORKER_STACK_SIZE)
        .start_handler(|_| install_alt_stack())
        .build_global()
        .expect("configuring rayon's global pool before first use");
}
