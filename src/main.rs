//! The `bst-rs` binary: a thin shell over [`bst_rs::cli`].

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(bst_rs::cli::main());
}
