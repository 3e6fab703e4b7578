//! Where a plugin's `snapshot` (ABI 3.1) writes a processor's state for a
//! live swap: memory of the worker's, which the plugin reaches only through
//! the sink's callback, so neither side frees the other's memory, and which
//! refuses to grow past `MAX_STATE_BYTES`.

use std::ffi::c_void;

use ipc_schemas::control::MAX_STATE_BYTES;
use plexus_plugin_sdk::abi::{StateSink, STATUS_ERROR, STATUS_OK};
use worker_lifecycle::check_state_size;

use super::callback::caught;

/// The state written so far.
#[derive(Default)]
pub(super) struct StateBuf {
    bytes: Vec<u8>,
    /// The size the state would have had when a write took it past
    /// `MAX_STATE_BYTES`; nothing is kept after that.
    refused: Option<usize>,
}

impl StateBuf {
    /// The sink a plugin writes into this buffer through; valid while the
    /// buffer stays where it is and is not otherwise used.
    pub(super) fn sink(&mut self) -> StateSink {
        StateSink {
            struct_size: std::mem::size_of::<StateSink>() as u32,
            ctx: (self as *mut StateBuf).cast(),
            write: write_state,
        }
    }

    /// Refuses a state that grew past the bound, naming processor `id` and
    /// the size it reached.
    pub(super) fn check(&self, id: &str) -> Result<(), String> {
        self.refused.map_or(Ok(()), |len| check_state_size(id, len))
    }

    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// `StateSink::write`: appends a chunk, within the bound.
unsafe extern "C" fn write_state(ctx: *mut c_void, data: *const u8, len: usize) -> i32 {
    let written = caught(|| {
        // SAFETY: `ctx` is the `StateBuf` of the `snapshot` call in
        // progress, which waits in the plugin and does not touch it
        // meanwhile.
        let state = unsafe { &mut *ctx.cast::<StateBuf>() };
        let total = state.bytes.len().saturating_add(len);
        if state.refused.is_some() || total > MAX_STATE_BYTES {
            state.refused = Some(state.refused.unwrap_or(total));
            return Err(String::new());
        }
        if len > 0 && data.is_null() {
            return Err(String::new());
        }
        if len > 0 {
            // SAFETY: the plugin passes `len` readable bytes at `data`, as
            // the ABI says; a null `data` was refused above.
            state
                .bytes
                .extend_from_slice(unsafe { std::slice::from_raw_parts(data, len) });
        }
        Ok(())
    });
    written.map_or(STATUS_ERROR, |()| STATUS_OK)
}
