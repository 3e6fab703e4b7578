//! Messages between the supervisor and its workers (docs/ARCHITECTURE.md §4):
//! `spawned → hello → configured → running → stopped → exited`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::schema::{Accepts, SchemaId};

/// Supervisor → worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// The processors this worker hosts and how their ports are wired.
    Configure(WorkerConfig),
    /// Begin producing and consuming frames.
    Start,
    /// Drain every input, tear processors down, answer `Stopped`. The
    /// worker keeps its ports open so downstream can still read what it sent.
    Stop,
    /// Stop driving `processor` until `Resume`: a source produces nothing,
    /// a processor with inputs has what arrives dropped (counted as dropped
    /// while paused). Sent any time after `Configure`; pausing a paused
    /// processor changes nothing.
    Pause { processor: String },
    /// Drive `processor` again after a `Pause`.
    Resume { processor: String },
    /// Hand `processor` the config keys a user changed (`plexus set`),
    /// between two of its calls; answered with `Reconfigured`. The changes
    /// are checked against its schema already.
    Reconfigure {
        processor: String,
        /// The changed keys and their new values, as a JSON object's text.
        changes_json: String,
    },
    /// Live swap, to the worker being replaced (docs/ARCHITECTURE.md §14):
    /// handle the frames already queued, stop driving its processors, take
    /// their snapshots and close its outputs, then answer `HandedOver`. Its
    /// inputs stay subscribed, so `KeepServing` loses nothing.
    HandOver,
    /// Live swap, to the successor instead of `Start`: restore these
    /// states, then run from where the predecessor stopped.
    TakeOver { states: Vec<ProcessorState> },
    /// Live swap, to the worker that handed over: its successor failed, so
    /// reopen the outputs and drive its processors again.
    KeepServing,
    /// Leave: every worker has stopped.
    Exit,
}

/// One processor's state across a live swap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessorState {
    pub processor: String,
    /// What its `snapshot()` gave, if it keeps state.
    pub state: Option<Vec<u8>>,
    /// The sequence number of the first frame its successor is to handle
    /// (for a source: to send).
    pub seq: u64,
}

/// Worker → supervisor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Report {
    Hello {
        protocol: u32,
        pid: u32,
    },
    Configured,
    /// A processor could not be set up; the worker exits after sending this.
    ConfigureFailed {
        processor: String,
        message: String,
    },
    Running,
    /// A source reached its frame limit and will produce nothing more.
    SourceFinished {
        processor: String,
    },
    /// `process` failed for one frame; the worker goes on with the next.
    ProcessorError {
        processor: String,
        message: String,
    },
    /// A processor tried something outside its permissions (§15); the
    /// operation failed, and the processor goes on.
    Violation(crate::sandbox::Violation),
    /// The worker cannot go on, for a reason that is the machine's, not its
    /// processors' (no room left in `/dev/shm`); it exits after sending
    /// this. `message` is the sentence for the user.
    Fatal {
        message: String,
    },
    /// `processor` is paused now: after a `Pause` while running, or, once
    /// the worker runs, because it was configured or told so at start.
    Paused {
        processor: String,
    },
    /// `processor` is driven again after a pause.
    Resumed {
        processor: String,
    },
    /// How `processor` took a `Reconfigure`.
    Reconfigured {
        processor: String,
        outcome: ConfigOutcome,
    },
    /// The counters so far, sent every [`STATS_INTERVAL`] while running.
    Stats {
        stats: Vec<ProcessorStats>,
    },
    Stopped {
        stats: Vec<ProcessorStats>,
    },
    /// The answer to `HandOver`: the worker drives nothing and its outputs
    /// are closed; it waits for `Exit` or `KeepServing`.
    HandedOver {
        states: Vec<ProcessorState>,
    },
    /// A snapshot failed: nothing changed, the worker serves on.
    HandOverFailed {
        processor: String,
        message: String,
    },
    /// A successor could not restore its predecessor's state; it exits
    /// after sending this.
    TakeOverFailed {
        processor: String,
        message: String,
    },
}

/// How a processor took config changes handed to it while it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigOutcome {
    /// Its `on_config` hook took them: its next call works with them.
    Applied,
    /// It has no `on_config` hook, or the hook cannot take these keys in
    /// place: the supervisor restarts its worker with the new config.
    NoHook,
    /// Its hook refused them (`message`, the processor's sentence): it
    /// keeps its old config and is not restarted.
    Failed { message: String },
}

/// How often a worker's pulse thread stamps the time into its processors'
/// counters, whatever the processors are doing.
pub const PULSE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// How often a running worker reports its counters.
pub const STATS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The most state one processor may carry across a live swap
/// (`Processor::snapshot`): it travels in two control messages.
pub const MAX_STATE_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerConfig {
    pub processors: Vec<ProcessorSpec>,
    /// Processors that begin paused: a worker restarted while a user had
    /// them paused brings them back paused.
    pub paused: Vec<String>,
    pub role: Role,
    /// How each processor's inputs wait for frames, by processor id and
    /// then input index as in its [`ProcessorSpec::inputs`]; a processor or
    /// an input not listed waits [`LatencyMode::Efficient`]ly. Beside the
    /// specs, not in them, so that a spec stays what a worker's host needs
    /// to create a processor.
    pub latency: BTreeMap<String, Vec<LatencyMode>>,
}

impl WorkerConfig {
    /// How input `input` of processor `processor` waits for frames.
    pub fn latency_of(&self, processor: &str, input: usize) -> LatencyMode {
        self.latency
            .get(processor)
            .and_then(|inputs| inputs.get(input))
            .copied()
            .unwrap_or_default()
    }
}

/// How a worker waits for an input's frames (`latency:` in a pipeline).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyMode {
    /// Asleep until the frame's wake-up: no CPU between frames, a wake-up's
    /// cost (tens of µs) on every hop.
    #[default]
    Efficient,
    /// Awake for a bounded window around each frame's predicted arrival,
    /// polling for it: a few µs per hop for a few % of a core.
    Low,
}

impl LatencyMode {
    /// The word pipelines and JSON use.
    pub fn name(self) -> &'static str {
        match self {
            LatencyMode::Efficient => "efficient",
            LatencyMode::Low => "low",
        }
    }
}

/// Whether a configured worker serves at `Start` or waits to take over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// It runs at `Start`.
    #[default]
    Serving,
    /// A live swap's successor: it sets its processors up and opens its
    /// ports, but touches no shared counter and drives nothing until
    /// `TakeOver`.
    Successor,
}

/// Where a worker finds a processor's code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Entry {
    /// Compiled into the native worker, by type name.
    Builtin,
    /// A Rust plugin library, by absolute path.
    Dylib { path: String },
    /// A Python class: `module` imported from `package_dir`, with the
    /// package's environment (if it has requirements) on the path first.
    Python {
        package_dir: String,
        module: String,
        class: String,
        site_packages: Option<String>,
    },
    /// A TypeScript class exported as `export` from `file` (absolute path)
    /// of the package in `package_dir`.
    Deno {
        package_dir: String,
        file: String,
        export: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessorSpec {
    /// Processor id from the pipeline; also names its output services.
    pub id: String,
    /// The `type` from the pipeline, e.g. `builtin.test_pattern`.
    pub type_name: String,
    pub entry: Entry,
    /// The processor's `config:` from the pipeline, as JSON text.
    pub config_json: String,
    pub inputs: Vec<InputSpec>,
    pub outputs: Vec<OutputSpec>,
    /// For sources: stop after this many frames.
    pub frame_limit: Option<u64>,
    /// When the worker calls the processor (the manifest's `mode`).
    pub mode: Mode,
    /// How a processor with several inputs is called (`sync:`).
    pub sync: SyncPolicy,
}

/// How a worker calls a processor with several inputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncPolicy {
    /// Once per frame, whichever input it came on.
    #[default]
    Any,
    /// Once per set of one frame from every input: frames with the same
    /// sequence number, or, given a tolerance, capture times at most that
    /// far apart. A frame that can no longer find partners is unmatched.
    All { tolerance_ms: Option<u64> },
    /// Once per frame of input `trigger` (an index), with the newest frame
    /// of every other input; a trigger frame before every other input has
    /// sent one is unmatched.
    Latest { trigger: usize },
}

/// When a worker calls a processor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// `process` on every frame that arrives.
    #[default]
    Reactive,
    /// `produce` every `interval_ms` (the manifest's), or as often as the
    /// processor's own `interval` says (builtins such as the test pattern).
    Continuous { interval_ms: Option<u64> },
    /// The processor keeps its own time: it sends from threads of its own
    /// between `start` and `stop`.
    Manual,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    pub port: String,
    pub accepts: Accepts,
    /// The output this input is connected to.
    pub from_processor: String,
    pub from_port: String,
    /// The subscribers that output is sized for; see [`OutputSpec::subscribers`].
    pub subscribers: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputSpec {
    pub port: String,
    pub schema: SchemaId,
    /// The subscribers the port is sized for: its consumers plus the
    /// pipeline's observer slots. Every process that opens the port passes
    /// this same number, since the first one creates it.
    pub subscribers: u32,
}

/// Counters of one port over the run: workers keep them in shared memory
/// (`bus::counters`), so they add up every process of the processor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortStats {
    pub port: String,
    /// Frames received (inputs) or sent (outputs).
    pub frames: u64,
    /// Inputs only: sequence numbers skipped between consecutive frames.
    pub seq_gaps: u64,
    /// Inputs only: frames whose sequence number was not above the previous.
    pub out_of_order: u64,
    /// Inputs only, filled in by the supervisor for the summary: frames the
    /// upstream port sent while this processor was subscribed that this
    /// input never received (docs/ARCHITECTURE.md §8). Workers send 0.
    pub dropped: u64,
    /// Inputs only: frames taken off the input while the processor was
    /// paused and never given to it; dropped on purpose, not lost.
    pub dropped_paused: u64,
    /// Inputs only: frames received that found no partner under the
    /// processor's `sync:` policy, so were never given to it.
    pub unmatched: u64,
    /// Inputs only, over the last stats interval: the most frames the input
    /// found waiting behind the one it took (its queue depth at its worst).
    pub queue: u64,
    /// Inputs only, over the last stats interval: capture-to-input latency.
    pub recent_latency: Option<LatencySummary>,
    /// Inputs only: frames taken in a turn a `latency: low` wait began by
    /// finding a frame as it arrived, rather than by being woken for it.
    pub caught: u64,
    /// Inputs only, over the last stats interval: frames per bucket of
    /// [`LATENCY_LE_US`], the last counting those above every bound; empty
    /// when no frame arrived.
    pub latency_counts: Vec<u64>,
    /// Outputs only, filled in by the supervisor from the shared counters:
    /// bytes of `/dev/shm` the port's segment holds, and of those, the bytes
    /// its frames have written (docs/ARCHITECTURE.md §3). Workers send 0.
    pub shm_reserved: u64,
    pub shm_touched: u64,
}

/// `caught` frames as a share of `frames`, in percent to one decimal; 0
/// before any frame.
pub fn caught_percent(caught: u64, frames: u64) -> f64 {
    match frames {
        0 => 0.0,
        _ => (caught as f64 * 1000.0 / frames as f64).round() / 10.0,
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessorStats {
    pub processor: String,
    pub inputs: Vec<PortStats>,
    pub outputs: Vec<PortStats>,
    pub errors: u64,
    /// Capture-to-input latency over every input frame, when there were any.
    pub latency: Option<LatencySummary>,
    /// The same over the last stats interval only, every input together.
    pub recent_latency: Option<LatencySummary>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
}

/// A request to a running runtime from another `plexus` process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ControlRequest {
    /// Restart one worker on purpose; not counted as a failure.
    RestartWorker { worker: String, reply_to: String },
    /// Stop the run gracefully, as Ctrl-C in its terminal would.
    Stop { reply_to: String },
    /// Describe the runtime: its workers and processors (`plexus ps`).
    Status { reply_to: String },
    /// A watcher subscribed to the events: hand it the history now.
    Watch { reply_to: String },
    /// Pause processors until they are resumed (`plexus pause`).
    Pause {
        processors: Selection,
        reply_to: String,
    },
    /// Resume paused processors (`plexus resume`).
    Resume {
        processors: Selection,
        reply_to: String,
    },
    /// Swap the worker hosting `processor` for a new process without
    /// losing a frame (`plexus upgrade`): the same code read again, or
    /// `to`, `PACKAGE@VERSION` from the store. Answered once the successor
    /// serves or the swap failed.
    Upgrade {
        processor: String,
        to: Option<String>,
        reply_to: String,
    },
    /// Make the running graph the pipeline in `file` (an absolute path),
    /// all of it or nothing (`plexus apply`); `dry_run` only says what
    /// would change. Answered once it is done.
    Apply {
        file: String,
        dry_run: bool,
        reply_to: String,
    },
    /// Change config keys of one processor while it runs (`plexus set`).
    /// Answered once the processor took them, or its worker restarted.
    SetConfig {
        processor: String,
        /// The keys to change and their new values, as a JSON object's
        /// text (bincode cannot carry a `serde_json::Value`).
        changes_json: String,
        reply_to: String,
    },
}

/// Which processors of a runtime a request is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selection {
    /// Every processor of the runtime.
    All,
    /// These, by id.
    Named(Vec<String>),
}

/// The runtime's answer to a [`ControlRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ControlReply {
    Done {
        message: String,
    },
    Refused {
        reason: String,
    },
    Status(RuntimeStatus),
    /// The history is delivered; the next event will have `next_seq`.
    Watching {
        next_seq: u64,
    },
}

/// A running runtime as `plexus ps` and `plexus top` show it. Serialized
/// as it is, it is their `--json` (docs/ARCHITECTURE.md §8, the schema in
/// `docs/json/ps.schema.json`): the field names are the CLI's vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeStatus {
    pub runtime: String,
    /// The supervisor's pid.
    pub pid: u32,
    pub pipeline: String,
    pub uptime_ms: u64,
    /// Its own workers, then those of its other hosts (§16).
    pub workers: Vec<WorkerStatus>,
    /// Every output port that crosses between hosts, per receiving host.
    pub links: Vec<LinkStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    pub worker: String,
    /// The host it runs on (§16): `local` for the host running `plexus run`.
    pub host: String,
    /// What its processors are written in: `rust`, `python` or `deno`.
    pub language: String,
    /// The current process; 0 while none runs.
    pub pid: u32,
    pub state: String,
    pub restarts: u32,
    /// Since the current process was spawned.
    pub uptime_ms: u64,
    /// CPU time the current process used over its last stats interval, in
    /// percent of one core; 0 until it was measured.
    pub cpu_percent: f64,
    /// The current process's resident memory; 0 while none runs.
    pub rss_bytes: u64,
    /// CPU time its processes used, user and system, as last read (each
    /// process is read once a second).
    pub cpu_ms: u64,
    /// How its previous process ended, if one did.
    pub exit: Option<crate::event::ExitStatus>,
    pub processors: Vec<ProcessorStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessorStatus {
    pub processor: String,
    #[serde(rename = "type")]
    pub type_name: String,
    /// Over the run, every process of the processor together.
    pub frames_in: u64,
    pub frames_out: u64,
    /// Frames per second over the last stats interval: its inputs together,
    /// and its first output.
    pub fps_in: f64,
    pub fps_out: f64,
    /// Its inputs' added up.
    pub dropped: u64,
    pub gaps: u64,
    pub errors: u64,
    /// Capture to input over the last stats interval; `None` for a source
    /// and while no frame arrived.
    pub latency_us: Option<LatencyUs>,
    /// A user paused it (`plexus pause`) and has not resumed it.
    pub paused: bool,
    pub inputs: Vec<InputStatus>,
    pub outputs: Vec<OutputStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputStatus {
    pub port: String,
    pub frames: u64,
    pub fps: f64,
    /// Frames its upstream sent that it never took (live: frames on their
    /// way are in it for an instant).
    pub dropped: u64,
    /// Sequence numbers it never saw.
    pub gaps: u64,
    /// The most frames waiting behind the one it took, over the last
    /// stats interval.
    pub queue: u64,
    /// Frames a `latency: low` wait caught as they arrived, without a
    /// wake-up, and their share of `frames` in percent (0 for an input
    /// that waits `efficient`ly).
    pub caught: u64,
    pub caught_percent: f64,
    pub latency_us: Option<LatencyUs>,
    /// Capture-to-input latency of the frames its processes reported, over
    /// the run (a crashed process's last second is not in it).
    pub latency_histogram: LatencyHistogramUs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputStatus {
    pub port: String,
    pub frames: u64,
    pub fps: f64,
    /// Bytes of `/dev/shm` the port's segment holds.
    pub shm_reserved_bytes: u64,
    /// Bytes of it its frames have written: its peak of frames in flight.
    pub shm_touched_bytes: u64,
}

/// The upper bounds, in µs, of the buckets a latency histogram counts
/// frames in; one more bucket counts those above the last. They span what
/// a hop costs (tens of µs) to what a stalled stage costs (a second).
pub const LATENCY_LE_US: [u64; 12] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
];

/// Frames counted per latency bucket, each bucket holding those at most
/// its bound in `le_us` (and above the previous one); `counts` has one
/// entry more than `le_us`, for those above every bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyHistogramUs {
    pub le_us: Vec<u64>,
    pub counts: Vec<u64>,
}

impl Default for LatencyHistogramUs {
    fn default() -> Self {
        Self {
            le_us: LATENCY_LE_US.to_vec(),
            counts: vec![0; LATENCY_LE_US.len() + 1],
        }
    }
}

impl LatencyHistogramUs {
    /// The bucket a latency of `ns` falls in.
    pub fn bucket_of(ns: u64) -> usize {
        LATENCY_LE_US.partition_point(|&le_us| le_us * 1000 < ns)
    }

    /// Adds an interval's `counts` (as [`PortStats::latency_counts`]).
    pub fn add(&mut self, counts: &[u64]) {
        for (mine, more) in self.counts.iter_mut().zip(counts) {
            *mine += more;
        }
    }
}

/// Latency percentiles in whole microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyUs {
    pub p50: u64,
    pub p99: u64,
}

impl From<LatencySummary> for LatencyUs {
    fn from(l: LatencySummary) -> Self {
        Self {
            p50: l.p50_ns / 1000,
            p99: l.p99_ns / 1000,
        }
    }
}

/// One output port, named by its processor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortRef {
    pub processor: String,
    pub port: String,
}

/// Counts of one bridged port on one receiving host, over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkStatus {
    pub port: PortRef,
    pub from_host: String,
    pub to_host: String,
    /// Frames the sending bridge put on the link.
    pub sent: u64,
    /// Frames the receiving bridge published.
    pub received: u64,
    /// Frames lost on the link: gaps in the link's own sequence.
    pub dropped: u64,
    /// Sent to received, over the last second (clock offset applied).
    pub latency_us: Option<LatencyUs>,
    pub fps: f64,
}
