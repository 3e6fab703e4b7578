//! The only place that formats iceoryx2 service names. Everything else asks
//! [`Names`] so that a rename can never leave two processes talking past each
//! other.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum NameError {
    #[error("`{0}` is not a valid name: use 1 to 64 letters, digits, `_` or `-`")]
    Invalid(String),
}

/// Checks an id that becomes part of a service name (runtime id, worker,
/// processor or port name).
pub fn validate_id(id: &str) -> Result<(), NameError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(NameError::Invalid(id.to_string()))
    }
}

/// Service names of one runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    runtime: String,
}

impl Names {
    pub fn new(runtime: &str) -> Result<Self, NameError> {
        validate_id(runtime)?;
        Ok(Self {
            runtime: runtime.to_string(),
        })
    }

    /// Frames of one output port (publish-subscribe).
    pub fn port(&self, processor: &str, port: &str) -> String {
        format!("plexus/{}/port/{}/{}", self.runtime, processor, port)
    }

    /// "Data ready" wake-ups of one output port (event). Every subscriber of
    /// the port listens here, so a restarted consumer needs no rewiring.
    pub fn port_wake(&self, processor: &str, port: &str) -> String {
        format!("plexus/{}/wake/port/{}/{}", self.runtime, processor, port)
    }

    /// Commands from the supervisor to one worker (publish-subscribe, bincode).
    pub fn ctl_commands(&self, worker: &str) -> String {
        format!("plexus/{}/ctl/{}/commands", self.runtime, worker)
    }

    /// Reports from one worker to the supervisor (publish-subscribe, bincode).
    pub fn ctl_reports(&self, worker: &str) -> String {
        format!("plexus/{}/ctl/{}/reports", self.runtime, worker)
    }

    /// The control channel of worker `worker`'s `n`th live-swap successor,
    /// used where a worker's name is in the control services above. A `.`
    /// is in no id, so it never names another worker's channel.
    pub fn successor_channel(worker: &str, n: u32) -> String {
        format!("{worker}.{n}")
    }

    /// Wakes one worker when a command is waiting (event).
    pub fn worker_wake(&self, worker: &str) -> String {
        format!("plexus/{}/wake/{}", self.runtime, worker)
    }

    /// Wakes the supervisor when any worker sent a report (event).
    pub fn supervisor_wake(&self) -> String {
        format!("plexus/{}/wake-supervisor", self.runtime)
    }

    /// Requests to the runtime from other `plexus` processes (publish-subscribe, bincode).
    pub fn control(&self) -> String {
        format!("plexus/{}/control", self.runtime)
    }

    /// The reply to one requester `client` (publish-subscribe, bincode).
    pub fn control_reply(&self, client: &str) -> String {
        format!("plexus/{}/control-reply/{}", self.runtime, client)
    }

    /// Wakes requester `client` when its reply is waiting (event).
    pub fn client_wake(&self, client: &str) -> String {
        format!("plexus/{}/wake-client/{}", self.runtime, client)
    }

    /// Runtime events (publish-subscribe with history).
    pub fn events(&self) -> String {
        format!("plexus/{}/events", self.runtime)
    }

    /// Wakes event watchers when an event was published (event).
    pub fn events_wake(&self) -> String {
        format!("plexus/{}/wake-events", self.runtime)
    }

    /// Prefix of the shared-memory files of this runtime, so that they can be
    /// told apart from other runtimes' and removed when it ends.
    pub fn file_prefix(&self) -> String {
        format!("plexus_{}_", self.runtime)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_architecture() {
        let n = Names::new("r1").unwrap();
        assert_eq!(n.port("camera", "out"), "plexus/r1/port/camera/out");
        assert_eq!(n.events(), "plexus/r1/events");
        assert_eq!(n.worker_wake("gray"), "plexus/r1/wake/gray");
        assert_ne!(n.worker_wake("port"), n.port_wake("a", "b"));
    }

    #[test]
    fn bad_ids_are_refused() {
        for bad in ["", "a/b", "a b", "ü", &"x".repeat(65)] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
        assert!(validate_id("cam_0-left").is_ok());
    }
}
