//! bst-rs: a Rust reimplementation of the BuildStream 2 build orchestrator.
//!
//! The modules follow the data flow (see `docs/architecture.md`):
//! [`yaml`] -> [`project`] -> [`loader`] -> [`element`] / [`source`] -> [`cachekey`] -> [`graph`] -> [`cli`].

pub mod artifact;
pub mod assemble;
pub mod cachekey;
pub mod cas;
pub mod cli;
pub mod element;
pub mod graph;
pub mod loader;
pub mod project;
pub mod sandbox;
pub mod scheduler;
pub mod source;
pub mod sourcecache;
pub mod util;
pub mod yaml;

/// Stack size of rayon's worker threads. YAML trees are composed, expanded and cloned
/// recursively, on workers as on the main thread, so workers get the main thread's 8 MiB
/// (rayon's default is the 2 MiB of spawned threads); untouched stack costs no memory.
pub const WORKER_STACK_SIZE: usize = 8 << 20;

/// Configures rayon's global pool for bst-rs ([`WORKER_STACK_SIZE`]) unless it is already
/// built; [`graph::Pipeline::load`] calls it first.
pub fn init_thread_pool() {
    let _ = rayon::ThreadPoolBuilder::new()
        .stack_size(WORKER_STACK_SIZE)
        .start_handler(|_| huge_pages_for_thread_heap())
        .build_global();
}

/// Asks for transparent huge pages on the calling thread's malloc heap.
///
/// glibc gives each thread its own heap (a 64 MiB-aligned mapping) and the kernel fills it
/// 4 KiB page by page: loading a large project spends about a tenth of its CPU in those
/// page faults. Where transparent huge pages are enabled for `madvise`d memory, 2 MiB pages
/// take their place for the first 8 MiB of the heap; memory that is never touched is still
/// never made resident.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn huge_pages_for_thread_heap() {
    /// glibc's `HEAP_MAX_SIZE` on 64-bit targets: each non-main heap is aligned to it.
    const HEAP_MAX: usize = 64 << 20;
    /// Only the start of the heap: a worker's heap holds 8-12 MiB when loading
    /// gnome-build-meta, and its last huge page, partly used, would add up to 2 MiB of
    /// resident memory per worker (measured: the same speed, 2 MiB less peak memory than
    /// advising the whole heap; benches/README.md).
    const HUGE: usize = 8 << 20;
    // SAFETY: a plain allocation and its release; sbrk(0) only reads the break; madvise
    // with MADV_HUGEPAGE changes no contents and fails harmlessly on unmapped addresses.
    unsafe {
        // Too large for the per-thread cache, so it comes from the thread's own arena.
        let p = libc::malloc(8192);
        if p.is_null() {
            return;
        }
        let addr = p as usize;
        // The main arena (below the program break) is not a 64 MiB-aligned heap.
        if addr > libc::sbrk(0) as usize {
            let base = addr & !(HEAP_MAX - 1);
            libc::madvise(base as *mut libc::c_void, HUGE, libc::MADV_HUGEPAGE);
        }
        libc::free(p);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn huge_pages_for_thread_heap() {}
