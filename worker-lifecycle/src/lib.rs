//! The worker side of plexus, independent of the language processors are
//! written in. A worker binary supplies a [`ProcessorHost`] that turns a
//! [`ProcessorSpec`](ipc_schemas::ProcessorSpec) into a [`Processor`]; this
//! crate does the rest of docs/ARCHITECTURE.md §4: hello, configure, run, stop.

mod active;
mod arrival;
mod check;
mod control;
mod error;
mod handover;
mod lifecycle;
mod manual;
mod outputs;
mod ports;
mod processor;
mod pulse;
mod stats;
mod sync;

pub use stats::LatencyHistogram;

pub use check::check_processors;
pub use error::WorkerError;
pub use lifecycle::run_worker;
pub use manual::Producer;
pub use outputs::{check_shape, check_video, OutputError, Outputs, Ports};
pub use processor::{check_state_size, Input, Processor, ProcessorHost, NO_RESTORE};

/// Sets up logging for a worker process: plain lines on stderr, which the
/// supervisor prefixes with the worker's name. `RUST_LOG` overrides the level.
pub fn init_logging() {
    bus::logging::init(bus::logging::Process::Worker);
}
