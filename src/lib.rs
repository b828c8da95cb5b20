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
