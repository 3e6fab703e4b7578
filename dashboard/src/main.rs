//! `plexus-dashboard`, the process behind `plexus dashboard`: a web page and
//! a Prometheus endpoint over a running runtime (and the runs the journal
//! keeps), as an observer like `plexus events` and `tap`. It alone links
//! the web stack. The bus-facing parts run on std threads of their own
//! (`watch`, `preview`), since iceoryx2's ports are not `Send`; the HTTP
//! side (`server`) runs on a single-threaded tokio runtime and reads what
//! they publish. Ctrl-C and SIGTERM end it with its bus files removed.

mod actions;
mod api;
mod app;
mod assets;
mod live;
mod metrics;
mod packages;
mod panels;
mod picture;
mod preview;
mod reply;
mod security;
mod server;
mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use supervisor::error::UserError;
use supervisor::journal::is_runtime_id;

use crate::security::Security;
use crate::watch::Watched;

/// How long the bus threads get to close their ports at the end.
const CLOSING: Duration = Duration::from_secs(3);

/// Serve a live web dashboard of a plexus runtime, with its graph, workers,
/// events, previews of video ports, actions, past runs, package uploads and
/// a Prometheus endpoint at /metrics.
///
/// Without --runtime it follows the only runtime running, the newest of
/// several, or, with none running, the next one to start. On a loopback
/// address reading needs no token; actions (POST) always carry the token
/// the page is given. Bound to any other address, every request needs the
/// token (--token, or one generated and printed at start).
#[derive(Debug, Parser)]
#[command(name = "plexus dashboard", bin_name = "plexus dashboard", version)]
struct Args {
    /// The runtime to show (as `plexus run` logs it).
    #[arg(long)]
    runtime: Option<String>,
    /// The address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The token requests must carry: 16 to 128 letters, digits, `-`, `_`,
    /// `.` or `~` [default: 32 random hex digits].
    #[arg(long)]
    token: Option<String>,
}

fn main() {
    let args = Args::parse();
    bus::logging::init(bus::logging::Process::Plexus);
    match serve(args) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("plexus: error: {}", chain.join(": "));
            std::process::exit(2);
        }
    }
}

fn serve(args: Args) -> Result<()> {
    if let Some(id) = args.runtime.as_deref().filter(|id| !is_runtime_id(id)) {
        return Err(UserError::Plain(format!(
            "--runtime `{}` is not a runtime id (8 lowercase hex digits, as `plexus ps` shows)",
            supervisor::error::excerpt(id)
        ))
        .into());
    }
    let token = match args.token {
        Some(token) => security::checked_token(token)?,
        None => security::generated_token()?,
    };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the dashboard's event loop")?;
    let listener = tokio
        .block_on(tokio::net::TcpListener::bind(args.listen))
        .map_err(|e| UserError::Plain(format!("cannot listen on {}: {e}", args.listen)))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let security = Security::new(token, bound);
    // Joined to the bus last: nothing after it can fail before the end,
    // where the ports are closed.
    let watch = watch::start(args.runtime)?;
    eprintln!("{}", start_line(&watch.watched.borrow(), &security, bound));
    let previews = Arc::new(preview::Previews::new(watch.stopping.clone()));
    let app = app::App {
        security: Arc::new(security),
        watch: Arc::new(watch),
        previews,
        closing: tokio::sync::watch::channel(false).0,
    };
    let served = tokio.block_on(server::serve(listener, app.clone()));
    // The bus threads close their ports and nodes before the process ends,
    // so nothing of ours is left in /dev/shm.
    app.watch.stop(CLOSING);
    app.previews.stop(CLOSING);
    served
}

/// `plexus: dashboard for runtime <id> on http://ADDR/?token=T`: the line
/// scripts and tests wait for. The token is in it wherever the dashboard
/// listens: a page opened without it may read (on the loopback) but not act.
fn start_line(watched: &Watched, security: &Security, bound: SocketAddr) -> String {
    let what = match watched {
        Watched::Live(runtime) | Watched::Ended(runtime) => format!("runtime {}", runtime.id),
        Watched::Waiting => "the next runtime to start".to_string(),
    };
    format!(
        "plexus: dashboard for {what} on http://{bound}/?token={}",
        security.token()
    )
}
