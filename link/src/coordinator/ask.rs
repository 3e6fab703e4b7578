//! Questions to an agent, as Zenoh queries: hellos, repeated until one is
//! answered or the deadline passes (the link may still be opening), whose
//! shortest round trip gives the host's clock offset; and requests, each
//! answered `Done` or refused with a sentence.

use std::time::{Duration, Instant};

use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::link::{agent_key, AgentReply, AgentRequest, Hello, Part, LINK_PROTOCOL};
use thiserror::Error;
use zenoh::{Session, Wait};

use crate::clock::{best_offset, Offset, RoundTrip};
use crate::token::Token;
use crate::wire;

/// How long an agent has to answer its first hello.
pub const HELLO_DEADLINE: Duration = Duration::from_secs(5);
/// Hellos per measurement of a clock offset.
const HELLOS: usize = 8;
/// A part may take this long to start (its agent gives up a little sooner).
pub const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Everything else an agent is asked.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Error)]
pub enum AskError {
    #[error("no answer")]
    NoAnswer,
    #[error("{0}")]
    Refused(String),
    #[error("an answer that is not one: {0}")]
    Garbled(String),
    #[error("{0}")]
    Zenoh(String),
}

/// What a coordinator presents to every agent of its run.
#[derive(Clone)]
pub struct Asker {
    pub session: Session,
    pub token: Token,
    pub runtime: String,
}

impl Asker {
    /// Says hello to `host` until answered, then a few times more: the
    /// host's clock offset over the shortest round trip.
    pub fn hello(&self, host: &str) -> Result<Offset, AskError> {
        let deadline = Instant::now() + HELLO_DEADLINE;
        let hello = Hello {
            protocol: LINK_PROTOCOL,
            token: self.token.secret().to_string(),
            runtime: self.runtime.clone(),
        };
        let mut trips = Vec::new();
        while trips.len() < HELLOS && Instant::now() < deadline {
            let asked_ns = monotonic_ns();
            let left = deadline.saturating_duration_since(Instant::now());
            match self.ask(
                &agent_key(host, "hello"),
                &hello,
                left.min(Duration::from_secs(1)),
            ) {
                Ok(AgentReply::Welcome { mono_ns, .. }) => trips.push(RoundTrip {
                    asked_ns,
                    remote_ns: mono_ns,
                    answered_ns: monotonic_ns(),
                }),
                Ok(AgentReply::Refused { reason }) => return Err(AskError::Refused(reason)),
                Ok(AgentReply::Done) => {
                    return Err(AskError::Garbled("`done` to a hello".to_string()))
                }
                // Not connected yet: no route, the query ends at once.
                Err(AskError::NoAnswer) => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => return Err(e),
            }
        }
        best_offset(&trips).ok_or(AskError::NoAnswer)
    }

    pub fn check(&self, host: &str, part: &Part) -> Result<(), AskError> {
        let token = self.token.secret().to_string();
        let part = part.clone();
        self.request(host, &AgentRequest::Check { token, part }, START_TIMEOUT)
    }

    pub fn start(&self, host: &str, part: &Part) -> Result<(), AskError> {
        let token = self.token.secret().to_string();
        let part = part.clone();
        self.request(host, &AgentRequest::Start { token, part }, START_TIMEOUT)
    }

    pub fn restart_worker(&self, host: &str, worker: &str) -> Result<(), AskError> {
        let token = self.token.secret().to_string();
        let worker = worker.to_string();
        let request = AgentRequest::RestartWorker { token, worker };
        self.request(host, &request, REQUEST_TIMEOUT)
    }

    pub fn stop(&self, host: &str) -> Result<(), AskError> {
        let token = self.token.secret().to_string();
        self.request(host, &AgentRequest::Stop { token }, REQUEST_TIMEOUT)
    }

    fn request(
        &self,
        host: &str,
        request: &AgentRequest,
        timeout: Duration,
    ) -> Result<(), AskError> {
        match self.ask(&agent_key(host, "request"), request, timeout)? {
            AgentReply::Done => Ok(()),
            AgentReply::Refused { reason } => Err(AskError::Refused(reason)),
            AgentReply::Welcome { .. } => Err(AskError::Garbled("`welcome` to a request".into())),
        }
    }

    /// One query; its first answer.
    fn ask(
        &self,
        key: &str,
        question: &impl serde::Serialize,
        timeout: Duration,
    ) -> Result<AgentReply, AskError> {
        let replies = self
            .session
            .get(key)
            .payload(wire::encode(question))
            .timeout(timeout)
            .wait()
            .map_err(|e| AskError::Zenoh(e.to_string()))?;
        let reply = replies.recv().map_err(|_| AskError::NoAnswer)?;
        match reply.result() {
            Ok(sample) => {
                wire::decode(Some(sample.payload())).map_err(|e| AskError::Garbled(e.to_string()))
            }
            Err(e) => Err(AskError::Garbled(
                String::from_utf8_lossy(&e.payload().to_bytes()).into_owned(),
            )),
        }
    }
}
