//! One error type for everything that can go wrong on the bus, carrying what
//! plexus was doing and what iceoryx2 answered.

use thiserror::Error;

#[derive(Debug, Error)]
#[error("{action}: {detail}")]
pub struct BusError {
    action: String,
    detail: String,
}

impl BusError {
    pub fn new(action: impl Into<String>, detail: impl std::fmt::Debug) -> Self {
        Self {
            action: action.into(),
            detail: format!("{detail:?}"),
        }
    }
}

/// Adapts any iceoryx2 error into a [`BusError`] that says what we tried.
pub(crate) fn ctx<E: std::fmt::Debug>(action: impl Into<String>) -> impl FnOnce(E) -> BusError {
    let action = action.into();
    move |e| BusError::new(action, e)
}
