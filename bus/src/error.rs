//! One error type for everything that can go wrong on the bus, carrying what
//! plexus was doing and what iceoryx2 answered.

use thiserror::Error;

/// What plexus tried, and the error it got. The answer is kept as an error
/// value, not a string, and told by its `Display`; it is not also returned
/// as [`std::error::Error::source`], so a printed chain says it once.
#[derive(Debug, Error)]
#[error("{action}{}{detail}", if action.is_empty() { "" } else { ": " })]
pub struct BusError {
    action: String,
    detail: Box<dyn std::error::Error + Send + Sync>,
}

impl BusError {
    pub fn new(
        action: impl Into<String>,
        detail: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            action: action.into(),
            detail: detail.into(),
        }
    }

    /// An error whose `detail` says it all, what plexus tried included.
    pub fn plain(detail: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::new(String::new(), detail)
    }

    /// iceoryx2's answer, or plexus's own reason.
    pub(crate) fn detail(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self.detail.as_ref()
    }
}

/// Adapts any iceoryx2 error into a [`BusError`] that says what we tried.
pub(crate) fn ctx<E: std::error::Error + Send + Sync + 'static>(
    action: impl Into<String>,
) -> impl FnOnce(E) -> BusError {
    let action = action.into();
    move |e| BusError::new(action, e)
}
