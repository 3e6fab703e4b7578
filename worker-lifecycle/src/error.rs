//! Why a worker ends before its time, for its `main` to print.

use bus::waitset::WaitError;
use bus::BusError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum WorkerError {
    #[error("{0} is not set: workers are started by `plexus run`, not by hand")]
    MissingEnv(&'static str),
    #[error("invalid worker identity: {0}")]
    Identity(#[from] ipc_schemas::NameError),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("processor `{processor}`: {message}")]
    Setup { processor: String, message: String },
    /// A manual processor's `start` failed: the worker ends as if it had
    /// crashed, so that the restart policy decides.
    #[error("processor `{processor}` could not start: {message}")]
    Start { processor: String, message: String },
    /// A live swap's successor could not restore its predecessor's state;
    /// the predecessor serves on.
    #[error("processor `{processor}` could not take over: {message}")]
    TakeOver { processor: String, message: String },
    #[error(transparent)]
    Wait(#[from] WaitError),
}
