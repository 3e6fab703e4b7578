//! Why a bridge could not start or stopped.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BridgeError {
    #[error("{0}")]
    Bus(#[from] bus::BusError),
    #[error("{0}")]
    Subscribe(#[from] bus::frames::SubscribeError),
    #[error("{0}")]
    Wait(#[from] bus::waitset::WaitError),
    #[error("the link key `{0}`: {1}")]
    Zenoh(String, String),
    #[error("starting a bridge thread: {0}")]
    Thread(String),
    #[error("a bridge's counters were left inconsistent by a panic")]
    Poisoned,
    #[error("{0}")]
    Names(#[from] ipc_schemas::names::NameError),
}
