//! `plexus`: parses the command line, sets up logging, and turns any error
//! into one line on stderr and a non-zero exit.

use clap::Parser;
use supervisor::cli::{execute, Cli};

fn main() {
    let cli = Cli::parse();
    bus::logging::init(bus::logging::Process::Plexus);
    match execute(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("plexus: error: {}", chain.join(": "));
            // No room in /dev/shm is the machine's state, not a mistake.
            let out_of_memory = e.chain().any(|c| {
                c.downcast_ref::<bus::BusError>()
                    .is_some_and(|b| b.shm_full().is_some())
            });
            std::process::exit(if out_of_memory { 1 } else { 2 });
        }
    }
}
