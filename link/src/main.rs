//! `plexus-link`: the one plexus binary that speaks Zenoh, for pipelines
//! that span hosts (docs/ARCHITECTURE.md §16). `agent` serves one host;
//! `coordinate` is spawned by `plexus run` on the coordinator's host. Any
//! error is one sentence on stderr: exit 2 for a mistake the user can fix,
//! 1 when the run could not go on.

mod agent;
mod bridge;
mod clock;
mod coordinator;
mod session;
mod signals;
mod token;
mod wire;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "plexus-link",
    version,
    about = "plexus across hosts, over Zenoh"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve this host: run the parts of pipelines that coordinators with
    /// the token give it.
    Agent {
        /// Where coordinators reach this agent: tcp/ADDRESS:PORT, an
        /// address of a network interface other hosts can reach.
        #[arg(long)]
        listen: String,
        /// This host's name in pipelines' `hosts:` (default: the machine's
        /// host name).
        #[arg(long)]
        name: Option<String>,
        /// A file, readable only by its owner, holding the secret every
        /// coordinator must present (the pipeline's `link.token_file`).
        #[arg(long)]
        token_file: PathBuf,
        /// Where parts are written and run; their relative paths start
        /// here (default: the current directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// The link process of a `plexus run` across hosts: a `LinkSetup` line,
    /// then commands, on stdin; reports on stdout (internal).
    #[command(hide = true)]
    Coordinate,
}

fn main() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("plexus-link: internal error: {info}");
    }));
    init_logging();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Agent {
            listen,
            name,
            token_file,
            dir,
        } => agent(listen, name, token_file, dir),
        Command::Coordinate => match coordinator::run() {
            Ok(()) => 0,
            // Told on stdout already, and by the supervisor to its user.
            Err(coordinator::CoordinatorError::Fatal(_)) => 1,
            Err(e) => fail(&e, true),
        },
    };
    std::process::exit(code);
}

fn agent(listen: String, name: Option<String>, token_file: PathBuf, dir: Option<PathBuf>) -> i32 {
    let name = name.unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default()
    });
    let dir = dir.unwrap_or_else(|| PathBuf::from("."));
    let args = agent::AgentArgs {
        listen,
        name,
        token_file,
        dir,
    };
    match agent::run(args) {
        Ok(()) => 0,
        Err(e) => fail(&e, e.is_usage()),
    }
}

fn fail(error: &dyn std::error::Error, usage: bool) -> i32 {
    eprintln!("plexus-link: error: {error}");
    if usage {
        2
    } else {
        1
    }
}

/// Our own lines at `info`; Zenoh's and iceoryx2's only on errors, as ours
/// say what their warnings meant.
/// `RUST_LOG` overrides it.
fn init_logging() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("error,plexus_link=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .fmt_fields(bus::logging::Fields)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
