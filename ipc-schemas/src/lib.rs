//! The wire contract of plexus: every type that crosses a process boundary and
//! every iceoryx2 service name. Nothing here performs I/O, so the supervisor,
//! every worker and every plugin can share it without pulling in the bus.

pub mod control;
pub mod event;
/// The frame header and the capture clock; they live in `plexus-frame` so
/// that plugins get them without the rest of this crate.
pub mod link;
pub mod frame {
    pub use plexus_frame::{monotonic_ns, FrameHeader, MAX_DIMS, NO_PTS};
}
pub mod names;
pub mod recording;
pub mod sandbox;
pub mod schema;
pub mod wire;
pub mod worker_info;

pub use control::{
    caught_percent, Command, ConfigOutcome, ControlReply, ControlRequest, Entry, InputSpec,
    InputStatus, LatencyHistogramUs, LatencyMode, LatencySummary, LatencyUs, Mode, OutputSpec,
    OutputStatus, PortStats, ProcessorSpec, ProcessorState, ProcessorStats, ProcessorStatus,
    Report, Role, RuntimeStatus, Selection, SyncPolicy, WorkerConfig, WorkerStatus, LATENCY_LE_US,
    MAX_STATE_BYTES, PULSE_INTERVAL, STATS_INTERVAL,
};
pub use event::{ConfigApplied, EventKind, ExitStatus, PortRate, RuntimeEvent};
pub use frame::FrameHeader;
pub use names::{NameError, Names};
pub use sandbox::{
    Denied, Endpoint, Permissions, SandboxMode, Violation, ViolationAction, WorkerSandbox,
};
pub use schema::{Accepts, HeaderField, SchemaId};
pub use worker_info::{DenoCreate, DenoDrive, DenoOutput, PythonInfo};

/// Version of the supervisor ↔ worker protocol. A worker that reports another
/// version in its hello is refused.
pub const PROTOCOL_VERSION: u32 = 10;

/// Environment variables the supervisor hands to every worker it spawns.
pub mod env {
    /// Short id of the runtime (`plexus run` instance) the worker belongs to.
    pub const RUNTIME: &str = "PLEXUS_RUNTIME";
    /// Name of the worker, as used in control service names.
    pub const WORKER: &str = "PLEXUS_WORKER";
    /// The worker's control channel when it is not the worker's name: a
    /// live swap's successor talks to the supervisor on a channel of its
    /// own ([`crate::Names::successor_channel`]) while its predecessor
    /// still serves.
    pub const CONTROL: &str = "PLEXUS_CONTROL";
}
