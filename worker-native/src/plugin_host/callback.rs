//! Calls from a plugin back into the worker (loans, sends, its state):
//! a panic in the worker's code must never unwind into the plugin, which
//! was built by another compiler and cannot take it.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs the worker's output code for a plugin's callback; a panic in it
/// must not unwind into the plugin, so it becomes a failure like any other.
pub(super) fn caught<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(format!("the worker panicked in its output code: {text}"))
    })
}
