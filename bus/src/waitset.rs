//! The one way a plexus process sleeps: a wait set over wake-up listeners,
//! waitable file descriptors (pidfds, the signal pipe) and intervals, woken
//! once per call. It wraps iceoryx2's `WaitSet`, so the crates above `bus`
//! wait without naming iceoryx2, and its errors stay typed.

use std::time::Duration;

use iceoryx2::prelude::{CallbackProgression, SignalHandlingMode, WaitSetBuilder};
use iceoryx2::waitset::{
    WaitSetAttachmentError, WaitSetAttachmentId, WaitSetCreateError, WaitSetGuard, WaitSetRunError,
    WaitSetRunResult,
};
use thiserror::Error;

use crate::fd::WaitableFd;
use crate::wake::WakeListener;
use crate::Ipc;

#[derive(Debug, Error)]
pub enum WaitError {
    #[error("creating a wait set: {0}")]
    Create(WaitSetCreateError),
    #[error("attaching to a wait set: {0}")]
    Attach(WaitSetAttachmentError),
    #[error("waiting: {0}")]
    Wait(WaitSetRunError),
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Something attached was ready, or the timeout passed.
    Returned,
    /// A signal ended the wait: SIGINT or SIGTERM on an
    /// [`WaitSet::interruptible`] set, or any signal that broke the sleep.
    Interrupted,
}

pub struct WaitSet {
    inner: iceoryx2::waitset::WaitSet<Ipc>,
}

/// Something attached to a [`WaitSet`]; it stays attached until dropped.
pub struct Attachment<'set, 'source> {
    guard: WaitSetGuard<'set, 'source, Ipc>,
}

/// One attachment that was ready during a wait.
pub struct Ready(WaitSetAttachmentId<Ipc>);

impl Ready {
    /// True when this readiness came from `attachment`.
    pub fn is(&self, attachment: &Attachment) -> bool {
        self.0.has_event_from(&attachment.guard)
    }
}

impl WaitSet {
    /// A wait set that leaves signals to the process: it does not install
    /// handlers of its own.
    pub fn new() -> Result<Self, WaitError> {
        Self::with_signals(SignalHandlingMode::Disabled)
    }

    /// A wait set that ends a wait with [`Outcome::Interrupted`] on SIGINT
    /// or SIGTERM, for commands the user stops with Ctrl-C.
    pub fn interruptible() -> Result<Self, WaitError> {
        Self::with_signals(SignalHandlingMode::HandleTerminationRequests)
    }

    fn with_signals(mode: SignalHandlingMode) -> Result<Self, WaitError> {
        let inner = WaitSetBuilder::new()
            .signal_handling_mode(mode)
            .create::<Ipc>()
            .map_err(WaitError::Create)?;
        Ok(Self { inner })
    }

    /// Wakes the set when `listener` got a wake-up.
    pub fn attach_wake<'set, 'source>(
        &'set self,
        listener: &'source WakeListener,
    ) -> Result<Attachment<'set, 'source>, WaitError> {
        self.attach_guard(self.inner.attach_notification(listener.listener()))
    }

    /// Wakes the set when `fd` is readable.
    pub fn attach_fd<'set, 'source>(
        &'set self,
        fd: &'source WaitableFd,
    ) -> Result<Attachment<'set, 'source>, WaitError> {
        self.attach_guard(self.inner.attach_notification(fd))
    }

    /// Wakes the set every `period`.
    pub fn attach_interval(&self, period: Duration) -> Result<Attachment<'_, 'static>, WaitError> {
        self.attach_guard(self.inner.attach_interval(period))
    }

    fn attach_guard<'set, 'source>(
        &'set self,
        guard: Result<WaitSetGuard<'set, 'source, Ipc>, WaitSetAttachmentError>,
    ) -> Result<Attachment<'set, 'source>, WaitError> {
        guard
            .map(|guard| Attachment { guard })
            .map_err(WaitError::Attach)
    }

    /// Sleeps until something attached is ready or `timeout` passes (`None`:
    /// no limit), then calls `on_ready` once per ready attachment.
    pub fn wait_once(
        &self,
        timeout: Option<Duration>,
        mut on_ready: impl FnMut(Ready),
    ) -> Result<Outcome, WaitError> {
        let on_event = |id| {
            on_ready(Ready(id));
            CallbackProgression::Continue
        };
        let result = match timeout {
            Some(timeout) => self
                .inner
                .wait_and_process_once_with_timeout(on_event, timeout),
            None => self.inner.wait_and_process_once(on_event),
        }
        .map_err(WaitError::Wait)?;
        Ok(match result {
            WaitSetRunResult::TerminationRequest | WaitSetRunResult::Interrupt => {
                Outcome::Interrupted
            }
            WaitSetRunResult::StopRequest | WaitSetRunResult::AllEventsHandled => Outcome::Returned,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_which_attachment_was_ready() {
        let set = WaitSet::new().unwrap();
        let soon = set.attach_interval(Duration::from_millis(5)).unwrap();
        let late = set.attach_interval(Duration::from_secs(60)).unwrap();
        let (mut soon_ready, mut late_ready) = (false, false);
        let outcome = set
            .wait_once(None, |ready| {
                soon_ready |= ready.is(&soon);
                late_ready |= ready.is(&late);
            })
            .unwrap();
        assert_eq!(outcome, Outcome::Returned);
        assert!(soon_ready && !late_ready);
    }

    #[test]
    fn a_timeout_ends_the_wait_with_nothing_ready() {
        let set = WaitSet::new().unwrap();
        let _late = set.attach_interval(Duration::from_secs(60)).unwrap();
        let mut called = false;
        let outcome = set
            .wait_once(Some(Duration::from_millis(5)), |_| called = true)
            .unwrap();
        assert_eq!(outcome, Outcome::Returned);
        assert!(!called);
    }

    #[test]
    fn an_empty_set_is_an_error_not_a_deadlock() {
        let set = WaitSet::new().unwrap();
        let err = set.wait_once(None, |_| {}).unwrap_err();
        assert!(matches!(
            err,
            WaitError::Wait(WaitSetRunError::NoAttachments)
        ));
        assert_eq!(err.to_string(), "waiting: WaitSetRunError::NoAttachments");
    }
}
