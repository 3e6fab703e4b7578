//! `plexus`: parses the command line, sets up logging, and turns any error
//! into one line on stderr and a non-zero exit.

use std::io::IsTerminal;

use clap::Parser;
use supervisor::cli::{execute, Cli};

fn main() {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,iceoryx2=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    match execute(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("plexus: error: {}", chain.join(": "));
            std::process::exit(2);
        }
    }
}
