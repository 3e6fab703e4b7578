//! The side of `plexus` that talks to a running runtime from another
//! process: finding the runtime, sending it a request and waiting — on an
//! event, not by polling — for its answer. The requester stays until the
//! answer came, so its request, which lives in its own shared memory, is
//! always read.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bus::control::{MessageReceiver, MessageSender};
use bus::files::RuntimeFiles;
use bus::wake::WakeListener;
use bus::{Bus, Ipc};
use iceoryx2::prelude::*;
use ipc_schemas::{ControlReply, ControlRequest, Names};

use crate::error::UserError;

/// How long a runtime may take to answer.
const ANSWER_DEADLINE: Duration = Duration::from_secs(5);

/// The runtime to talk to: `requested`, or the only one running.
pub fn choose_runtime(requested: Option<&str>) -> Result<String, UserError> {
    let live = RuntimeFiles::live_runtimes();
    match requested {
        Some(id) if live.iter().any(|l| l == id) => Ok(id.to_string()),
        Some(id) => Err(UserError::Plain(format!(
            "no plexus runtime `{id}` is running (running: {})",
            list(&live)
        ))),
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

fn list(ids: &[String]) -> String {
    if ids.is_empty() {
        "none".into()
    } else {
        ids.join(", ")
    }
}

/// Sends the request `make(reply_to)` to `runtime` and returns its answer.
pub fn request(runtime: &str, make: impl FnOnce(String) -> ControlRequest) -> Result<ControlReply> {
    let names = Names::new(runtime)?;
    let client = format!("cli-{}", std::process::id());
    let bus = Bus::join(names.clone(), &client)?;
    let replies = MessageReceiver::open(&bus, &names.control_reply(&client))?;
    let wake = WakeListener::open(&bus, &names.client_wake(&client))?;
    let sender = MessageSender::open(&bus, &names.control(), &names.supervisor_wake())?;
    if !sender.send(&make(client))? {
        bail!("runtime {runtime} is not taking requests");
    }
    let waitset = WaitSetBuilder::new()
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<Ipc>()
        .map_err(|e| anyhow::anyhow!("creating a wait set: {e:?}"))?;
    let _guard = waitset
        .attach_notification(wake.listener())
        .map_err(|e| anyhow::anyhow!("waiting for the answer: {e:?}"))?;
    let deadline = Instant::now() + ANSWER_DEADLINE;
    loop {
        wake.drain()?;
        if let Some(reply) = replies
            .try_recv::<ControlReply>()
            .context("reading the answer")?
        {
            return Ok(reply);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!(
                "runtime {runtime} did not answer within {} s",
                ANSWER_DEADLINE.as_secs()
            );
        }
        waitset
            .wait_and_process_once_with_timeout(|_| CallbackProgression::Continue, left)
            .map_err(|e| anyhow::anyhow!("waiting for the answer: {e:?}"))?;
    }
}
