//! Source kinds and their unique keys.

pub mod dirdigest;
