//! `pchost`: the partner-center plugin host.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match pchost_server::config::with_config_file(std::env::args_os().collect()) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let cli = pchost_server::cli::Cli::parse_from(args);
    match pchost_server::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
