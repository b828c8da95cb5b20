//! The `bst-rs` binary: a thin shell over [`bst_rs::cli`].

fn main() {
    std::process::exit(bst_rs::cli::main());
}
