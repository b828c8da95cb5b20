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
        .build_global();
}
