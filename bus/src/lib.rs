//! The shared-memory bus of one plexus runtime, on iceoryx2.
//!
//! Every process of a runtime opens its ports through this crate, so every
//! opener of a service uses the same settings (docs/ARCHITECTURE.md §3) and the
//! runtime's files live under its own prefix and root, where [`files`] can
//! remove them when the runtime ends.

pub mod alarm;
pub mod control;
pub mod counters;
pub mod discovery;
pub mod error;
pub mod events;
pub mod fd;
pub mod files;
pub mod frames;
pub mod keeper;
pub mod logging;
pub mod node;
pub mod settings;
pub mod space;
pub mod waitset;
pub mod wake;

pub use error::BusError;
pub use node::Bus;

/// The iceoryx2 service flavour plexus uses: inter-process, shared memory,
/// with ports that may be used from several threads. A manual source sends
/// from threads of its own while the worker's loop goes on; the flavour's
/// lock is uncontended everywhere else (BENCHMARKS.md measures it against
/// the single-threaded flavour).
pub type Ipc = iceoryx2::service::ipc_threadsafe::Service;
