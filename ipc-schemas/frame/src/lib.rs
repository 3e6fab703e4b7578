//! The part of the plexus wire contract a plugin needs: the header every
//! frame carries, the schema ids that say what its bytes mean, and the clock
//! its `capture_ns` is read from. It is a crate of its own so that the plugin
//! SDK, and every plugin package that vendors it, carries these and nothing
//! else of `ipc-schemas` (no control messages, runtime events or bincode).
//!
//! `ipc-schemas` depends on this crate and re-exports all of it, so the
//! supervisor and the workers keep naming these types through `ipc-schemas`;
//! both sides of the plugin ABI see the same `FrameHeader`.
//!
//! Two cargo features add what only `ipc-schemas` and the processes that
//! open the bus need, so a plugin compiles no proc macro for them:
//! - `zero-copy` derives iceoryx2's `ZeroCopySend` on [`FrameHeader`], which
//!   the bus requires of a sample's user header. Plugins never touch the
//!   bus (the worker hands them headers through the C ABI), and the derive
//!   changes no byte of the `#[repr(C)]` layout, so a plugin built without
//!   it exchanges the same headers.
//! - `serde` derives `Serialize` and `Deserialize` on [`SchemaId`], which
//!   control messages carry.
//!
//! `ipc-schemas` turns both on; within one build cargo unifies features, so
//! there is one `FrameHeader` type whichever crate names it.

mod clock;
mod frame;
mod schema;

pub use clock::monotonic_ns;
pub use frame::{FrameHeader, MAX_DIMS, NO_PTS};
pub use schema::{HeaderField, SchemaId};
