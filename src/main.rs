//! The `portcullis` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

// glibc's malloc keeps freed argon2 buffers (19 MiB each) in per-thread arenas, so RSS climbs
// to hundreds of MiB under a login flood; mimalloc hands huge blocks back to the OS.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = portcullis::cli::Cli::parse();
    match portcullis::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portcullis: {e}");
            ExitCode::FAILURE
        }
    }
}
