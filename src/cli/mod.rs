//! The command line (clap): parses arguments, calls the library, renders results.

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    0
}
