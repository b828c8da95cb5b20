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
///
/// Workers' heaps are left in 4 KiB pages. Transparent huge pages for them were tried: 8%
/// less CPU when runs follow each other, but 2-9% more wall time (four rounds) in a run that
/// follows an idle second, which is how `bst-rs show` is usually run: on a virtual machine
/// that hands free memory back to its host, a huge page comes from the large free blocks the
/// guest has returned, so the host must provide and the guest zero every page of it again,
/// while small pages come from the ones freed recently (`benches/README.md`, 2026-11-28).
pub fn init_thread_pool() {
    let _ = rayon::ThreadPoolBuilder::new()
        .stack_size(WORKER_STACK_SIZE)
        .build_global();
}
