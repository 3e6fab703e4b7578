//! One wait shared by the observers: sleep until the runtime has something
//! new, its supervisor is gone, or the user pressed Ctrl-C.

use anyhow::{anyhow, Result};
use bus::fd::WaitableFd;
use bus::wake::WakeListener;
use bus::Ipc;
use iceoryx2::prelude::*;
use iceoryx2::waitset::WaitSetRunResult;

/// Why a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// Look again: something arrived.
    News,
    /// The runtime's supervisor has exited.
    SupervisorGone,
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

/// Sleeps on `wake` and on the supervisor `pid` at once.
pub struct Waiter {
    waitset: WaitSet<Ipc>,
    /// `None` when the supervisor was already gone.
    supervisor: Option<WaitableFd>,
}

impl Waiter {
    pub fn new(supervisor_pid: u32) -> Result<Self> {
        let waitset = WaitSetBuilder::new()
            .signal_handling_mode(SignalHandlingMode::HandleTerminationRequests)
            .create::<Ipc>()
            .map_err(|e| anyhow!("creating a wait set: {e:?}"))?;
        Ok(Self {
            waitset,
            supervisor: WaitableFd::pidfd(supervisor_pid).ok(),
        })
    }

    pub fn wait(&self, wake: &WakeListener) -> Result<Woken> {
        let Some(supervisor) = &self.supervisor else {
            return Ok(Woken::SupervisorGone);
        };
        let attach = |e| anyhow!("attaching to a wait set: {e:?}");
        let news = self
            .waitset
            .attach_notification(wake.listener())
            .map_err(attach)?;
        let death = self
            .waitset
            .attach_notification(supervisor)
            .map_err(attach)?;
        let mut gone = false;
        let result = self
            .waitset
            .wait_and_process_once(|id| {
                if id.has_event_from(&death) {
                    gone = true;
                }
                CallbackProgression::Continue
            })
            .map_err(|e| anyhow!("waiting: {e:?}"))?;
        drop((news, death));
        Ok(match result {
            WaitSetRunResult::TerminationRequest | WaitSetRunResult::Interrupt => {
                Woken::Interrupted
            }
            _ if gone => Woken::SupervisorGone,
            _ => Woken::News,
        })
    }
}
