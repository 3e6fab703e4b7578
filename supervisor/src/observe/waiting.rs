//! One wait shared by the observers: sleep until the runtime has something
//! new, its supervisor is gone, or the user pressed Ctrl-C.

use std::time::Duration;

use anyhow::Result;
use bus::fd::WaitableFd;
use bus::waitset::{Outcome, WaitSet};
use bus::wake::WakeListener;

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
    waitset: WaitSet,
    /// `None` when the supervisor was already gone.
    supervisor: Option<WaitableFd>,
}

impl Waiter {
    pub fn new(supervisor_pid: u32) -> Result<Self> {
        Self::with(WaitSet::interruptible()?, supervisor_pid)
    }

    /// A waiter that leaves Ctrl-C and SIGTERM to the process, for a
    /// process that handles them itself (the dashboard's async side):
    /// its waits end on news, the supervisor's end or their timeout only.
    pub fn quiet(supervisor_pid: u32) -> Result<Self> {
        Self::with(WaitSet::new()?, supervisor_pid)
    }

    fn with(waitset: WaitSet, supervisor_pid: u32) -> Result<Self> {
        Ok(Self {
            waitset,
            supervisor: WaitableFd::pidfd(supervisor_pid).ok(),
        })
    }

    pub fn wait(&self, wake: &WakeListener) -> Result<Woken> {
        self.wait_for(&[wake], None)
    }

    /// Sleeps on any of `wakes` and the supervisor, for at most `timeout`
    /// (then [`Woken::News`]: look again).
    pub fn wait_for(&self, wakes: &[&WakeListener], timeout: Option<Duration>) -> Result<Woken> {
        let Some(supervisor) = &self.supervisor else {
            return Ok(Woken::SupervisorGone);
        };
        let news = wakes
            .iter()
            .map(|wake| self.waitset.attach_wake(wake))
            .collect::<Result<Vec<_>, _>>()?;
        let death = self.waitset.attach_fd(supervisor)?;
        let mut gone = false;
        let outcome = self
            .waitset
            .wait_once(timeout, |ready| gone |= ready.is(&death))?;
        drop((news, death));
        Ok(match outcome {
            Outcome::Interrupted => Woken::Interrupted,
            Outcome::Returned if gone => Woken::SupervisorGone,
            Outcome::Returned => Woken::News,
        })
    }
}
