//! The side of `plexus` that talks to a running runtime from another
//! process: finding the runtime, sending it a request and waiting — on an
//! event, not by polling — for its answer. The requester stays until the
//! answer came, so its request, which lives in its own shared memory, is
//! always read.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bus::control::{MessageReceiver, MessageSender};
use bus::files::RuntimeFiles;
use bus::waitset::WaitSet;
use bus::wake::WakeListener;
use bus::Bus;
use ipc_schemas::{ControlReply, ControlRequest, Names, RuntimeStatus};

use crate::error::UserError;

/// How long a runtime may take to answer.
const ANSWER_DEADLINE: Duration = Duration::from_secs(5);
/// How long a change of the running graph may take to answer: a new
/// process starts and sets up first, which its own deadlines bound
/// (`setup_timeout_s`, 120 s by default, plus the handshake's).
const CHANGE_DEADLINE: Duration = Duration::from_secs(300);
/// How often a requester that may abandon its request looks whether to.
const ABANDON_CHECK: Duration = Duration::from_millis(100);

/// How long the runtime may take to answer `request`.
fn answer_within(request: &ControlRequest) -> Duration {
    match request {
        ControlRequest::Upgrade { .. } | ControlRequest::Apply { .. } => CHANGE_DEADLINE,
        _ => ANSWER_DEADLINE,
    }
}

/// A runtime whose supervisor is alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRuntime {
    pub id: String,
    /// The supervisor's pid.
    pub pid: u32,
}

/// Every runtime running now, by id. What runtimes whose supervisor died
/// left in `/dev/shm` is removed on the way, so it is never listed.
pub fn live_runtimes() -> Vec<LiveRuntime> {
    RuntimeFiles::remove_abandoned();
    RuntimeFiles::live_runtimes()
        .into_iter()
        .map(|(id, pid)| LiveRuntime { id, pid })
        .collect()
}

/// The runtime to talk to: `requested`, or the only one running.
pub fn choose_runtime(requested: Option<&str>) -> Result<LiveRuntime, UserError> {
    let live = live_runtimes();
    match requested {
        Some(id) => live.iter().find(|l| l.id == id).cloned().ok_or_else(|| {
            UserError::Plain(format!(
                "no plexus runtime `{id}` is running (running: {})",
                list(&live)
            ))
        }),
        None => match live.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(UserError::Plain("no plexus runtime is running".into())),
            many => Err(UserError::Plain(format!(
                "{} runtimes are running ({}); choose one with --runtime",
                many.len(),
                list(many)
            ))),
        },
    }
}

fn list(live: &[LiveRuntime]) -> String {
    if live.is_empty() {
        return "none".into();
    }
    let ids: Vec<&str> = live.iter().map(|l| l.id.as_str()).collect();
    ids.join(", ")
}

/// Clients this process opened so far: each after the first gets a name of
/// its own, and so a reply channel of its own, since a process may hold
/// several at once (the dashboard: one watching, one per preview, one per
/// action).
static OPENED: AtomicU32 = AtomicU32::new(0);

/// This process joined to a runtime's bus, with its own reply channel.
pub struct Client {
    runtime: String,
    name: String,
    bus: Bus,
    replies: MessageReceiver,
    wake: WakeListener,
    sender: MessageSender,
}

impl Client {
    pub fn connect(runtime: &str) -> Result<Self> {
        let names = Names::new(runtime)?;
        let name = match OPENED.fetch_add(1, Ordering::Relaxed) {
            0 => format!("cli-{}", std::process::id()),
            n => format!("cli-{}-{n}", std::process::id()),
        };
        let bus = Bus::join(names.clone(), &name)?;
        let replies = MessageReceiver::open(&bus, &names.control_reply(&name))?;
        let wake = WakeListener::open(&bus, &names.client_wake(&name))?;
        let sender = MessageSender::open(&bus, &names.control(), &names.supervisor_wake())?;
        Ok(Self {
            runtime: runtime.to_string(),
            name,
            bus,
            replies,
            wake,
            sender,
        })
    }

    /// The runtime's bus, as this client joined it.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Sends the request `make(reply_to)` and returns the answer.
    pub fn request(&self, make: impl FnOnce(String) -> ControlRequest) -> Result<ControlReply> {
        match self.try_request(make)? {
            Some(reply) => Ok(reply),
            None => bail!("runtime {} is not taking requests", self.runtime),
        }
    }

    /// The runtime's description of itself (`plexus ps`).
    pub fn status(&self) -> Result<RuntimeStatus> {
        match self.request(|reply_to| ControlRequest::Status { reply_to })? {
            ControlReply::Status(status) => Ok(status),
            other => bail!("runtime {} answered out of turn: {other:?}", self.runtime),
        }
    }

    /// Like [`Client::request`], but `None` when the runtime is not reading
    /// requests (yet: it is starting, or no more: it is ending).
    pub fn try_request(
        &self,
        make: impl FnOnce(String) -> ControlRequest,
    ) -> Result<Option<ControlReply>> {
        let request = make(self.name.clone());
        self.try_request_within(answer_within(&request), None, |_| request)
    }

    /// Like [`Client::try_request`], for a request whose answer may take
    /// longer than most (a swap waits for a new worker's setup). A requester
    /// in the runtime's own process, which the runtime stops answering as it
    /// ends, passes `abandon`: once it is set the wait ends with `None`.
    pub fn try_request_within(
        &self,
        within: Duration,
        abandon: Option<&AtomicBool>,
        make: impl FnOnce(String) -> ControlRequest,
    ) -> Result<Option<ControlReply>> {
        if !self.sender.send(&make(self.name.clone()))? {
            return Ok(None);
        }
        let waitset = WaitSet::new()?;
        let _guard = waitset
            .attach_wake(&self.wake)
            .context("waiting for the answer")?;
        let deadline = Instant::now() + within;
        loop {
            self.wake.drain()?;
            if let Some(reply) = self
                .replies
                .try_recv::<ControlReply>()
                .context("reading the answer")?
            {
                return Ok(Some(reply));
            }
            if abandon.is_some_and(|a| a.load(Ordering::Relaxed)) {
                return Ok(None);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "runtime {} did not answer within {} s",
                    self.runtime,
                    within.as_secs()
                );
            }
            // Nothing wakes this wait when `abandon` is set: it looks again
            // this often.
            let slice = match abandon {
                Some(_) => left.min(ABANDON_CHECK),
                None => left,
            };
            waitset
                .wait_once(Some(slice), |_| {})
                .context("waiting for the answer")?;
        }
    }
}

/// Leaves a runtime that is ending without closing `guest`'s ports and
/// node: the runtime removes all its files, ours among them, as it ends, and
/// closing them now would race that removal (iceoryx2 then warns that the
/// files were already gone). Call it only once the runtime said it stopped,
/// or its supervisor is dead, since the ports stay counted until then.
pub fn leave_ending_runtime<T>(guest: T) {
    std::mem::forget(guest);
}

/// Sends one request to `runtime` and returns its answer.
pub fn request(runtime: &str, make: impl FnOnce(String) -> ControlRequest) -> Result<ControlReply> {
    let client = Client::connect(runtime)?;
    let request = make(client.name.clone());
    let ends_runtime = matches!(request, ControlRequest::Stop { .. });
    let reply = client.request(|_| request)?;
    if ends_runtime && matches!(reply, ControlReply::Done { .. }) {
        leave_ending_runtime(client);
    }
    Ok(reply)
}
