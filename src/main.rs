//! The `bst-rs` binary: a thin shell over [`bst_rs::cli`].

fn main() {
    tune_malloc();
    std::process::exit(bst_rs::cli::main());
}

/// Shapes glibc's malloc for a loader that allocates tens of MiB of small objects from a few
/// threads within a fraction of a second, where first-touch page faults cost as much as the
/// allocator itself:
///
/// - one arena for all threads (their small allocations go through per-thread caches
///   anyway), so the heap is one contiguous region instead of one partly used heap per
///   thread;
/// - that region reserved in one 64 MiB step (headroom that is never touched costs no
///   memory; glibc otherwise grows it a few pages at a time, one system call each) and kept
///   (no trimming, no `mmap` for mid-sized blocks);
/// - transparent huge pages asked for over it (`MADV_HUGEPAGE`; honoured when the system's
///   THP mode is `madvise` or `always`), so touching it takes one fault per 2 MiB instead of
///   one per 4 KiB.
///
/// What glibc's `glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1` tunables do, from inside.
/// Every step is advisory: if the heap cannot grow by `brk` (glibc then uses `mmap`), the
/// advice is simply not given.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    const M_TRIM_THRESHOLD: i32 = -1;
    const M_TOP_PAD: i32 = -2;
    const M_MMAP_THRESHOLD: i32 = -3;
    const M_ARENA_MAX: i32 = -8;
    const RESERVE: usize = 64 << 20;
    const HUGE_PAGE: usize = 2 << 20;
    // SAFETY: mallopt only sets parameters of glibc's allocator; sbrk(0) only reads the
    // program break; the malloc'd block is freed at once; madvise only gives advice about
    // pages of the heap, which glibc owns and keeps mapped (trimming is off).
    unsafe {
        mallopt(M_ARENA_MAX, 1);
        mallopt(M_TRIM_THRESHOLD, i32::MAX);
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        mallopt(M_TOP_PAD, RESERVE as i32);
        let before = libc::sbrk(0) as usize;
        // Larger than what is left of the initial heap, so the heap grows now, by RESERVE.
        let probe = std::hint::black_box(libc::malloc(1 << 20));
        let after = libc::sbrk(0) as usize;
        libc::free(probe);
        let start = before.next_multiple_of(HUGE_PAGE);
        if before != usize::MAX && after > start && after - start >= HUGE_PAGE {
            let len = (after - start) / HUGE_PAGE * HUGE_PAGE;
            libc::madvise(start as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}
