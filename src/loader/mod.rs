//! The loader: `.bst` files to a dependency graph of load elements.

pub mod listsort;
