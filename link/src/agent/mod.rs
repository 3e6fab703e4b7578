//! `plexus-link agent`: one host's side of runs that span hosts. It listens
//! where told, proves itself alive, lets in only coordinators with the
//! token, and runs the part of a run it is given as a nested `plexus run`
//! until that run's coordinator stops it or goes away.

mod door;
mod forward;
mod nested;
mod part;
mod work;

use std::path::PathBuf;
use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;
use ipc_schemas::link::{agent_key, AgentReply};
use nix::sys::signal::Signal;
use thiserror::Error;
use zenoh::{Session, Wait};

use crate::session::{self, Endpoint, Role, SessionError};
use crate::token::{Token, TokenError};
use door::{answer, Door, Knock};
use nested::{NestedError, Plexus};
use part::{Agent, RunningPart};
use work::{Request, Work};

/// Requests that passed the door and wait for the working thread.
const QUEUED_WORK: usize = 16;

pub struct AgentArgs {
    pub listen: String,
    pub name: String,
    pub token_file: PathBuf,
    pub dir: PathBuf,
}

#[derive(Debug, Error)]
pub enum AgentError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Plexus(#[from] NestedError),
    #[error("`{0}` is not a valid agent name: use 1 to 64 letters, digits, `_` or `-` (and not `local`, the coordinator's host)")]
    Name(String),
    #[error("the agent's directory `{0}` does not exist")]
    Dir(String),
    #[error("{0}")]
    Zenoh(String),
    #[error("installing signal handlers: {0}")]
    Signals(nix::Error),
}

impl AgentError {
    /// True when the user can fix it by changing how the agent is started.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::Token(_)
                | Self::Session(SessionError::Endpoint(_) | SessionError::Listen { .. })
                | Self::Name(_)
                | Self::Dir(_)
        )
    }
}

pub fn run(args: AgentArgs) -> Result<(), AgentError> {
    let token = Token::read(&args.token_file, "--token-file")?;
    let listen = Endpoint::parse(&args.listen)?;
    if ipc_schemas::names::validate_id(&args.name).is_err()
        || args.name == ipc_schemas::link::LOCAL_HOST
    {
        return Err(AgentError::Name(args.name));
    }
    if !args.dir.is_dir() {
        return Err(AgentError::Dir(args.dir.display().to_string()));
    }
    let plexus = Plexus::beside_me(&args.dir)?;
    if listen.is_loopback() {
        tracing::warn!(
            "{listen} is a loopback address: no other host can reach this agent; listen on an address of a network interface"
        );
    }
    signals_install()?;
    part::remove_stale_parts(&args.dir);
    let session = session::open(Role::Agent { listen: &listen })?;
    let served = serve(&session, &args.name, token, &plexus);
    let _ = session.close().wait();
    served
}

fn signals_install() -> Result<(), AgentError> {
    crate::signals::install(&[Signal::SIGINT, Signal::SIGTERM], &[Signal::SIGPIPE])
        .map_err(AgentError::Signals)
}

fn serve(session: &Session, name: &str, token: Token, plexus: &Plexus) -> Result<(), AgentError> {
    let zenoh_err = |e: zenoh::Error| AgentError::Zenoh(e.to_string());
    let (work_tx, work_rx) = crossbeam_channel::bounded(QUEUED_WORK);
    let (knock_tx, knock_rx) = crossbeam_channel::bounded(door::WAITING);
    let hello_tx = knock_tx.clone();
    let _hello = session
        .declare_queryable(agent_key(name, "hello"))
        .callback(move |query| {
            let _ = hello_tx.try_send(Knock::Hello(query));
        })
        .wait()
        .map_err(zenoh_err)?;
    let _request = session
        .declare_queryable(agent_key(name, "request"))
        .callback(move |query| {
            let _ = knock_tx.try_send(Knock::Request(query));
        })
        .wait()
        .map_err(zenoh_err)?;
    let door = Door {
        name: name.to_string(),
        token,
        work: work_tx.clone(),
    };
    // The door ends with the process: it may be answering a knock.
    std::thread::spawn(move || door.serve(knock_rx));
    let _alive = session
        .liveliness()
        .declare_token(agent_key(name, "alive"))
        .wait()
        .map_err(zenoh_err)?;
    tracing::info!("agent `{name}` ready");
    let agent = Agent {
        session,
        plexus,
        name,
        work: &work_tx,
    };
    let mut current: Option<RunningPart> = None;
    while !crate::signals::stop_requested() {
        match work_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Work::Request(request, query)) => {
                let reply = handle(&agent, &mut current, request);
                answer(&query, &reply);
            }
            Ok(Work::CoordinatorGone { runtime }) => {
                if current.as_ref().is_some_and(|p| p.runtime == runtime) {
                    tracing::warn!("the coordinator of run {runtime} went away: stopping its part");
                    stop(&mut current);
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if current.as_mut().is_some_and(RunningPart::has_ended) {
                    tracing::info!("the part's run ended by itself");
                    stop(&mut current);
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    stop(&mut current);
    Ok(())
}

fn handle(agent: &Agent, current: &mut Option<RunningPart>, request: Request) -> AgentReply {
    let outcome = match request {
        Request::Check(part) => part::check(agent, &part),
        Request::Start(part) => {
            if let Some(old) = current.take() {
                tracing::info!("a new start: stopping the part of run {}", old.runtime);
                old.stop();
            }
            RunningPart::start(agent, &part).map(|running| {
                *current = Some(running);
            })
        }
        Request::RestartWorker(worker) => match current {
            Some(running) => running.restart_worker(agent.plexus, &worker),
            None => Err("no part runs here".to_string()),
        },
        Request::Stop => {
            stop(current);
            Ok(())
        }
    };
    match outcome {
        Ok(()) => AgentReply::Done,
        Err(reason) => AgentReply::Refused { reason },
    }
}

/// Stops the part that runs, if one does.
fn stop(current: &mut Option<RunningPart>) {
    if let Some(running) = current.take() {
        running.stop();
    }
}
