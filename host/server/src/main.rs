//! `pchost`: the partner-center plugin host.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = pchost_server::cli::Cli::parse();
    match pchost_server::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
