//! `plexus`: parses the command line, sets up logging, and turns any error
//! into one line on stderr and a non-zero exit.

use clap::Parser;
use supervisor::cli::{execute, Cli};

fn main() {
    quiet_when_output_closes();
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

/// `plexus … | head` closes our stdout early, and `println!` then panics.
/// That is the reader's choice, not a fault: the panic still unwinds (so
/// every guard runs) and exits non-zero, but says nothing. Every other
/// panic is told as the default hook tells it.
fn quiet_when_output_closes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if !message.starts_with("failed printing to stdout") {
            default(info);
        }
    }));
}
