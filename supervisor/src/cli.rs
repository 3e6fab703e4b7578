//! The `plexus` command line (docs/ARCHITECTURE.md §8) and what each command does.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use ipc_schemas::{ControlReply, ControlRequest, Selection};

use crate::describe::schemas::{self, SchemasCommand};
use crate::describe::types;
use crate::error::UserError;
use crate::graph::{self, TextFormat};
use crate::language::{self, Lang};
use crate::load::pipeline::Pipeline;
use crate::load::plan::Plan;
use crate::load::{load_plan, plan_pipeline};
use crate::lockfile;
use crate::observe::{self, client, LogsOptions, TapOptions, WatchOptions};
use crate::package::commands::{self as package_commands, PkgCommand};
use crate::record::{self, Compressed, RecordOptions, Split, VideoCodec};
use crate::run::detach::{self, Detached, Ready};
use crate::run::summary::Summary;
use crate::run::{self, Launcher, RunOptions};
use crate::scaffold;

#[derive(Debug, Parser)]
#[command(
    name = "plexus",
    version,
    about = "Run streaming pipelines of Rust, Python and TypeScript processors, each in its own process, joined by zero-copy shared memory."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Commands,
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Validate a pipeline, run it, and print a summary when it ends.
    ///
    /// The run ends when every source produced --frames frames and the sinks
    /// drained, after --duration seconds, or on Ctrl-C (a second Ctrl-C kills
    /// the workers at once). Without --frames or --duration it runs until Ctrl-C.
    /// Exits 0 when the run ends `completed`, `completed_with_errors`
    /// (processors raised errors on some frames) or `stopped`, and 1 when it
    /// ends `failed` (a worker was given up, or was down at the end).
    ///
    /// Every run keeps a journal (events, each worker's output, the
    /// summary) that `runs`, `events`, `logs` and `summary` read later.
    /// With -d the run goes on in the background: `run -d` prints its
    /// runtime id once every worker runs, and `wait`, `attach`, `stop` and
    /// the other commands take it with --runtime.
    Run {
        /// The pipeline file (YAML).
        pipeline: PathBuf,
        #[command(flatten)]
        ending: Ending,
        /// Run in the background; print the runtime id once every worker
        /// runs (with --json: `{"runtime": ID}`).
        #[arg(short = 'd', long)]
        detach: bool,
        /// Refuse to run unless the packages (and deno) are exactly what
        /// plexus.lock beside the pipeline pins; install its Python
        /// requirements with their hashes.
        #[arg(long)]
        locked: bool,
        /// Watch the files of the pipeline's local packages; when they
        /// change, build the package if it is Rust (cargo's output shown
        /// as `[watch PACKAGE]`) and swap its workers for ones running
        /// the new code without losing a frame. A broken edit keeps the old
        /// version running and is reported; repeated failures back off.
        /// Installed packages are not watched.
        #[arg(long)]
        watch: bool,
        /// The runtime id `run -d` chose for the run it starts (internal).
        #[arg(long, hide = true, conflicts_with = "detach")]
        detached_as: Option<String>,
        /// The runtime id of a host's part, chosen by the agent that runs
        /// it (internal, §16).
        #[arg(long, hide = true, conflicts_with_all = ["detach", "detached_as"])]
        runtime_id: Option<String>,
    },
    /// List the runs the journal keeps, newest first: runtime id, pipeline,
    /// state (`running`, the outcome, or `unfinished` for a run whose
    /// supervisor was killed), start and length.
    ///
    /// The journal is $PLEXUS_DATA_DIR/runs (else under $XDG_DATA_HOME or
    /// ~/.local/share/plexus). It keeps the newest $PLEXUS_RUNS_KEEP runs
    /// (50) younger than $PLEXUS_RUNS_MAX_AGE_DAYS days (30); each run's
    /// events file and each worker's log is kept to 16 MiB and 4 MiB, the
    /// older half dropped first.
    Runs {
        /// One JSON object: `{"runs": [...]}`.
        #[arg(long)]
        json: bool,
    },
    /// Print the summary of a run that ended, as `run` printed it; exits
    /// with that run's exit code.
    Summary {
        /// The runtime id (`plexus runs` lists them).
        runtime: String,
        /// The summary as one JSON object, as `run --json`.
        #[arg(long)]
        json: bool,
    },
    /// Wait for a run (a detached one, say) to end, print its summary and
    /// exit with its exit code.
    Wait {
        /// The runtime id.
        runtime: String,
        /// The summary as one JSON object, as `run --json`.
        #[arg(long)]
        json: bool,
    },
    /// Follow a running run's events and its workers' output until it
    /// ends, then print its summary. Ctrl-C detaches; the run goes on.
    Attach {
        /// The runtime id.
        runtime: String,
    },
    /// Print what one worker wrote to stdout and stderr, every process of
    /// it, each line marked with its generation (0 for the first process, 1
    /// after the first restart, …). Works on live and finished runs.
    Logs {
        /// The worker: a processor id, or a `worker:` group name.
        worker: String,
        /// The runtime id; optional when only one runs.
        #[arg(long)]
        runtime: Option<String>,
        /// Keep printing new lines until the run ends (or Ctrl-C).
        #[arg(long, short)]
        follow: bool,
        /// Only lines from this long ago on: seconds, or a number with
        /// s, m or h (`90s`, `5m`).
        #[arg(long, value_parser = parse_age)]
        since: Option<Duration>,
        /// One JSON object per line: `time_ns`, `worker`, `generation`,
        /// `stream` (`stdout`, `stderr`, or `error`: a processor error the
        /// worker reported, as its event tells it) and `line`.
        #[arg(long)]
        json: bool,
    },
    /// Restart one worker of a running runtime, on purpose.
    ///
    /// The worker is killed and started again at once, whatever its restart
    /// policy; this is not counted as a failure. The rest of the pipeline
    /// keeps running. It comes back with the pipeline's current config: the
    /// file's, with the changes `plexus set` made since. Worker names are
    /// processor ids, or `worker:` group names.
    Restart {
        /// The worker to restart.
        worker: String,
        /// The runtime (as `plexus run` logs it); optional when only one runs.
        #[arg(long)]
        runtime: Option<String>,
    },
    /// Swap a running processor's worker for a new process without losing
    /// a frame.
    ///
    /// The new process is started and set up while the old one serves;
    /// then the old one hands over between two frames and the new one
    /// goes on from the next, so every consumer receives each frame once.
    /// A processor with `snapshot()`/`restore()` carries its state across.
    /// Without `--to` the new process reads the processor's code again (an
    /// edited Python or TypeScript file, a rebuilt library); with it, it
    /// runs that version of the package from the store. If the new version
    /// does not fit the pipeline's connections, or cannot set up or
    /// restore, nothing changes and the old process serves on.
    Upgrade {
        /// The processor whose worker to swap.
        processor: String,
        /// `PACKAGE@VERSION`, installed in the store (`plexus pkg install`).
        #[arg(long)]
        to: Option<String>,
        /// The runtime (as `plexus run` logs it); optional when only one runs.
        #[arg(long)]
        runtime: Option<String>,
    },
    /// Make a running pipeline the one in a file, without stopping it.
    ///
    /// Compares the running graph with PIPELINE.yaml — processors added or
    /// removed, connections added or removed, config or package version
    /// changed — checks all of it against the running runtime, prints the
    /// plan and applies it as one batch: every new or changed worker is set
    /// up before any takes over, and if one cannot, nothing changes.
    /// Changed workers are swapped as `plexus upgrade` swaps them, added
    /// ones start, removed ones stop last; processors the change does not
    /// touch run on without a gap. A running processor keeps its worker and
    /// its number of ports, and a port keeps the subscriber slots it was
    /// made with (consumers, `observers:` and one for a live swap).
    Apply {
        /// The pipeline file to run from now on.
        pipeline: PathBuf,
        /// The runtime (as `plexus run` logs it); optional when only one runs.
        #[arg(long)]
        runtime: Option<String>,
        /// Only print what would change.
        #[arg(long)]
        dry_run: bool,
    },
    /// Change config keys of a running processor.
    ///
    /// Each value is read as a YAML scalar (`amount=0.5`, `label=hello`,
    /// `enabled=true`; quote it, `label='"0.5"'`, for text that looks like
    /// a number) and checked against the processor's config schema as the
    /// pipeline's config is. A processor with an `on_config` hook takes the
    /// changes in place, from its next frame on; any other has its worker
    /// restarted with the new config, as the answer says. A hook that
    /// refuses them leaves the config as it was. The changes stay for the
    /// rest of the run, across restarts.
    Set {
        /// The processor, by its id in the pipeline.
        processor: String,
        /// The changes, each as key=value.
        #[arg(required = true, value_name = "KEY=VALUE")]
        changes: Vec<String>,
        /// The runtime (as `plexus run` logs it); optional when only one runs.
        #[arg(long)]
        runtime: Option<String>,
    },
    /// Pause processors of a running runtime until `plexus resume`.
    ///
    /// A paused source produces nothing; when resumed, its sequence numbers
    /// go on with no gap (a pause is not loss). A paused processor with
    /// inputs takes no frames: what arrives is dropped and counted as
    /// dropped while paused, apart from loss, so its upstream runs on. A
    /// processor stays paused when its worker restarts. Pausing a paused
    /// processor changes nothing.
    Pause(Steered),
    /// Resume paused processors of a running runtime.
    ///
    /// A resumed source goes on with the next sequence number; a resumed
    /// processor takes the frames that arrive from now on.
    Resume(Steered),
    /// Stop a running runtime gracefully from another terminal.
    ///
    /// The run drains and stops as on Ctrl-C, and its `plexus run` prints
    /// its summary and exits 0.
    Stop {
        /// The runtime (as `plexus run` logs it); optional when only one runs.
        #[arg(long)]
        runtime: Option<String>,
    },
    /// Print a runtime's events: its history, and with --follow, live until
    /// it stops. A run that ended is read from the journal.
    ///
    /// Events: runtime started/stopping/stopped, worker spawned/ready/exited/
    /// restarting/restarted/failed/unresponsive, restart requested, processor
    /// started/stopped/error/paused/resumed, config changed, slow frame, input
    /// closed/recovered, and per-processor stats every second.
    /// With --follow and no runtime running, waits for the next one to start.
    Events {
        /// The runtime (as `plexus run` logs it); optional when only one runs.
        #[arg(long)]
        runtime: Option<String>,
        /// Keep printing new events until the runtime stops (or Ctrl-C).
        #[arg(long, short)]
        follow: bool,
        /// One JSON object per line: `seq`, `time_ns`, `mono_ns`, `kind` and
        /// the event's own fields (`worker`, `processor`, …).
        #[arg(long)]
        json: bool,
    },
    /// List running runtimes with their workers (pid, state, restarts,
    /// uptime, CPU, memory) and processors (frames per second).
    Ps {
        /// Only this runtime (as `plexus run` logs it).
        #[arg(long)]
        runtime: Option<String>,
        /// Print one JSON object: `{"runtimes": [...]}`, each runtime with its
        /// workers, processors and ports (docs/json/ps.schema.json).
        #[arg(long)]
        json: bool,
    },
    /// A full-screen view of a running runtime, refreshed every second: per
    /// processor and port frames per second in and out, dropped, gaps,
    /// errors, latency p50/p99 and input queue depth; per worker state,
    /// restarts, CPU and memory. Keys: s sort, r reverse, up/down scroll,
    /// q quit.
    Top {
        /// The runtime (as `plexus run` logs it); optional when only one runs.
        #[arg(long)]
        runtime: Option<String>,
        /// Print one snapshot as JSON instead: one runtime as `ps --json`
        /// lists it.
        #[arg(long)]
        json: bool,
    },
    /// Show the frames passing a live output port, without disturbing the
    /// pipeline: sequence number, size, header fields, latency and rate.
    Tap {
        /// The port, as PROCESSOR.PORT (for example `camera.out`).
        target: String,
        /// Stop after this many frames.
        #[arg(long, short = 'n', value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
        /// The runtime (as `plexus run` logs it); optional when only one runs.
        #[arg(long)]
        runtime: Option<String>,
        /// One JSON object per frame.
        #[arg(long)]
        json: bool,
    },
    /// Record live output ports of a running runtime to an MCAP file.
    ///
    /// One channel per port, one message per frame, logged at its capture
    /// time. Video frames are `foxglove.RawImage` messages (Foxglove shows
    /// them), with the whole frame header in field 15; other frames are
    /// the header's 96 bytes and the payload. Recording ends after --frames
    /// frames of every port, after --duration, on Ctrl-C or when the runtime
    /// ends, and the file is then finished; a recorder killed outright
    /// leaves a file readable up to its last second. Frames the recorder
    /// missed are counted per port and reported at the end.
    Record {
        /// The ports, as PROCESSOR.PORT (for example `camera.out`).
        #[arg(required = true)]
        targets: Vec<String>,
        /// The file to create [default: <runtime>.mcap]; it must not exist.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Stop after this many seconds.
        #[arg(long, value_parser = parse_seconds)]
        duration: Option<Duration>,
        /// Stop once every port has this many frames recorded.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        frames: Option<u64>,
        /// How the file's chunks are compressed.
        #[arg(long, value_enum, default_value = "none")]
        compression: Compressed,
        /// Move on to a new file once one holds this many MiB of frames
        /// (before compression); the files are numbered beside the name
        /// given (`run-0001.mcap`, …), each a whole recording.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "split_s")]
        split_mb: Option<u64>,
        /// Move on to a new file every this many seconds, numbered likewise.
        #[arg(long, value_parser = parse_seconds)]
        split_s: Option<Duration>,
        /// Keep video frames as JPEG or PNG files (`foxglove.CompressedImage`),
        /// compressed on the recorder's writing thread, instead of as they are.
        #[arg(long, value_enum, default_value = "none")]
        video_codec: VideoCodec,
        /// The runtime (as `plexus run` logs it); optional when only one runs.
        #[arg(long)]
        runtime: Option<String>,
    },
    /// Run a pipeline with a recording in the place of one of its sources.
    ///
    /// The processor named by --replace becomes `builtin.replay` of FILE
    /// (its connections stay), and the pipeline runs as with `run`; it ends
    /// at the end of the recording unless --loop.
    Replay {
        /// The recording (MCAP, from `plexus record`).
        file: PathBuf,
        /// The pipeline to play it into (YAML).
        #[arg(long)]
        into: PathBuf,
        /// The processor the recording replaces (a source with output `out`).
        #[arg(long)]
        replace: String,
        /// The recording's channel (/processor/port or processor.port); the
        /// first of video/rgba8 when absent.
        #[arg(long)]
        channel: Option<String>,
        /// Pace against the recorded capture times; 0 sends as fast as it reads.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Start again at the end of the recording.
        #[arg(long = "loop")]
        looping: bool,
        #[command(flatten)]
        ending: Ending,
    },
    /// Read recordings made by `plexus record`.
    Recording {
        #[command(subcommand)]
        command: RecordingCommand,
    },
    /// Draw a pipeline, or a running runtime, as a picture.
    ///
    /// Processors are boxes coloured by language (with a legend) naming
    /// their id, type and any shared `worker:` group; connections are
    /// arrows labelled with their schema, their ports when not `out` to
    /// `in`, and for a running runtime the frames per second of their
    /// upstream. SVG and PNG are laid out and drawn by plexus itself; DOT
    /// (Graphviz) and Mermaid are text for those tools to lay out; JSON is
    /// the graph with plexus's layout, for programs that draw it themselves.
    Graph {
        /// The pipeline file (YAML).
        #[arg(required_unless_present = "runtime", conflicts_with = "runtime")]
        pipeline: Option<PathBuf>,
        /// A running runtime (as `plexus run` logs it) instead of a file:
        /// its pipeline as it runs, with rates.
        #[arg(long)]
        runtime: Option<String>,
        /// The file to write; its extension says the format: .svg, .png,
        /// .dot (or .gv), .mmd or .json.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Without --output, what to print on stdout.
        #[arg(long, value_enum, default_value = "dot", conflicts_with = "output")]
        format: TextFormat,
    },
    /// Check a pipeline as `run` would, without starting anything.
    ///
    /// With --deep it also provisions what the run needs (Python
    /// environments, deno) and has each worker load its processors as for a
    /// run, short of calling their setup: Python modules imported and their
    /// classes built, TypeScript modules imported and their classes built,
    /// plugin libraries opened and their descriptors checked. What fails is
    /// told as `run` would tell it, one line per processor, exit 2.
    Validate {
        /// The pipeline file (YAML).
        pipeline: PathBuf,
        /// Also load every processor's code, without running its setup.
        #[arg(long)]
        deep: bool,
        /// Also check that the pipeline runs exactly what plexus.lock
        /// beside it pins.
        #[arg(long)]
        locked: bool,
        /// One JSON object: `{"file", "pipeline", "valid", "deep",
        /// "processors", "workers", "errors": [{"processor", "message"}]}`.
        #[arg(long)]
        json: bool,
    },
    /// Write plexus.lock beside a pipeline: every package it uses (and
    /// their dependencies) with version and sha256, each Python package's
    /// requirements resolved by pip with their hashes, and the deno version
    /// when it runs TypeScript. `run --locked` then refuses any drift.
    Lock {
        /// The pipeline file (YAML).
        pipeline: PathBuf,
    },
    /// Create a processor package that builds, packs and runs as it is.
    ///
    /// NAME is the package name (e.g. acme.brighten); it is also the
    /// processor's type and the new directory's name. The package holds
    /// plexus.yaml, a processor that brightens RGBA video, and pipeline.yaml,
    /// which runs it between the test pattern and a stats sink; with
    /// --source, a source that makes video on its own (mode manual: a thread
    /// or timer of its own between start and stop), and a pipeline.yaml
    /// that runs it into a stats sink.
    New {
        /// The language of the processor.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(language::names()))]
        lang: String,
        /// Make a source (mode manual) instead of an effect.
        #[arg(long)]
        source: bool,
        /// The package name.
        name: String,
        /// The directory to create the package in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// List every processor type a pipeline can use: the builtins, the
    /// installed packages and, with --pipeline, the packages it lists.
    Types {
        /// Also the types of the packages this pipeline lists.
        #[arg(long)]
        pipeline: Option<PathBuf>,
        /// One JSON object: `{"types": [T, …]}`, T as `describe --json`.
        #[arg(long)]
        json: bool,
    },
    /// Describe a processor type: its language, mode, ports with their
    /// schemas, and config keys with type, default, range and description.
    Describe {
        /// The type, as a pipeline names it (for example `builtin.png_sink`).
        #[arg(value_name = "TYPE")]
        type_name: String,
        /// Also look among the packages this pipeline lists.
        #[arg(long)]
        pipeline: Option<PathBuf>,
        /// One JSON object per package that declares it.
        #[arg(long)]
        json: bool,
    },
    /// List the frame schemas ports may name, or describe one; write code
    /// for package schemas (`schemas codegen`).
    Schemas {
        #[command(subcommand)]
        command: SchemasCommand,
    },
    /// Pack a package directory into a .plexpkg archive.
    ///
    /// The archive holds the manifest, what the package's runtimes need (a
    /// Rust plugin's built library, Python modules and requirement files,
    /// TypeScript files) and a SHA256SUMS list. Packing the same directory
    /// twice gives the same bytes.
    Pack {
        /// The package directory (with a plexus.yaml).
        dir: PathBuf,
        /// Where to write the archive [default: ./<name>-<version>.plexpkg].
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Install, list, inspect and remove packages in the package store.
    ///
    /// The store is $PLEXUS_DATA_DIR/packages, else
    /// $XDG_DATA_HOME/plexus/packages, else ~/.local/share/plexus/packages.
    /// Pipelines name installed packages as `name` or `name@version`.
    Pkg {
        #[command(subcommand)]
        command: PkgCommand,
    },
    /// Serve a live web dashboard of a running runtime (and the past runs),
    /// with a Prometheus endpoint at /metrics.
    ///
    /// This runs `plexus-dashboard`, installed beside `plexus`, with the
    /// arguments given; `plexus dashboard --help` shows its own options.
    #[command(disable_help_flag = true)]
    Dashboard {
        /// The dashboard's arguments (see `plexus dashboard --help`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Run the part of pipelines that a coordinating `plexus run` hands
    /// this host (docs/ARCHITECTURE.md §16): its processors, supervised
    /// here as a local run's are, and the frames that cross to and from
    /// other hosts over Zenoh.
    ///
    /// This runs `plexus-link agent`, installed beside `plexus`, with the
    /// arguments given (`--listen tcp/ADDRESS:PORT`, `--name NAME`,
    /// `--token-file FILE`, `--dir DIR`); `plexus agent --help` shows them.
    #[command(disable_help_flag = true)]
    Agent {
        /// The agent's arguments (see `plexus agent --help`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Internal: started by `plexus run` to remove its runtime's shared
    /// memory once the supervisor and its workers are gone, however it ended.
    #[command(hide = true)]
    Reap { runtime: String, supervisor: u32 },
}

impl Ending {
    fn options(&self) -> RunOptions {
        RunOptions {
            frames: self.frames,
            duration: self.duration,
            ..RunOptions::default()
        }
    }
}

/// When a run ends, and how its summary is printed.
#[derive(Debug, Args)]
pub struct Ending {
    /// Stop after each source produced this many frames.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    frames: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_parser = parse_seconds)]
    duration: Option<Duration>,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// What `plexus recording` does with a recording.
#[derive(Debug, Subcommand)]
pub enum RecordingCommand {
    /// Its channels (frames, sequence gaps, duration), its size, and
    /// whether its recorder finished it.
    Info {
        /// The recording (MCAP).
        file: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// The processors `pause` and `resume` act on.
#[derive(Debug, Args)]
pub struct Steered {
    /// The processors, by their ids in the pipeline.
    #[arg(required_unless_present = "all")]
    processors: Vec<String>,
    /// Every processor of the runtime.
    #[arg(long, conflicts_with = "processors")]
    all: bool,
    /// The runtime (as `plexus run` logs it); optional when only one runs.
    #[arg(long)]
    runtime: Option<String>,
}

impl Steered {
    /// Sends the request `make` builds for these processors.
    fn ask(self, make: impl FnOnce(Selection, String) -> ControlRequest) -> Result<i32> {
        let selection = match self.all {
            true => Selection::All,
            false => Selection::Named(self.processors),
        };
        ask(self.runtime.as_deref(), |reply_to| {
            make(selection, reply_to)
        })
    }
}

/// `90`, `90s`, `5m` or `2h`.
fn parse_age(s: &str) -> Result<Duration, String> {
    let (number, unit) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1.0),
        Some((i, 'm')) => (&s[..i], 60.0),
        Some((i, 'h')) => (&s[..i], 3600.0),
        _ => (s, 1.0),
    };
    let seconds = parse_seconds(number).map_err(|_| {
        format!("`{s}` is not a length of time: give seconds, or a number with s, m or h")
    })?;
    Ok(seconds.mul_f64(unit))
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(format!("`{s}` must be a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Sends a request to a running runtime and prints its answer.
fn ask(runtime: Option<&str>, make: impl FnOnce(String) -> ControlRequest) -> Result<i32> {
    let runtime = client::choose_runtime(runtime)?;
    match client::request(&runtime.id, make)? {
        ControlReply::Done { message } => {
            println!("{message}");
            Ok(0)
        }
        ControlReply::Refused { reason } => Err(UserError::Plain(reason).into()),
        other => anyhow::bail!("runtime {} answered out of turn: {other:?}", runtime.id),
    }
}

/// `plexus dashboard ARGS…` and `plexus agent ARGS…`: become the binary
/// installed beside this one (`plexus-dashboard`, `plexus-link agent`), so
/// that `plexus` itself never links the web stack or Zenoh. Returns only
/// when it could not be started.
fn exec_beside(
    binary: &str,
    crate_name: &str,
    what: &str,
    first: &[&str],
    args: &[std::ffi::OsString],
) -> Result<i32> {
    use std::os::unix::process::CommandExt;
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(binary)));
    let Some(program) = beside.filter(|p| p.is_file()) else {
        return Err(UserError::Plain(format!(
            "the {what} is not installed: `{binary}` must sit beside `plexus` (build it with `cargo build --release -p {crate_name}`)"
        ))
        .into());
    };
    let error = std::process::Command::new(&program)
        .args(first)
        .args(args)
        .exec();
    Err(UserError::in_file(&program, format!("cannot start the {what}: {error}")).into())
}

/// Runs a command; returns the process exit code.
pub fn execute(cli: Cli) -> Result<i32> {
    match cli.command {
        Commands::Validate {
            pipeline,
            deep,
            locked,
            json,
        } => validate(&pipeline, deep, locked, json),
        Commands::Lock { pipeline } => lockfile::make::lock(&pipeline),
        Commands::New {
            lang,
            source,
            name,
            dir,
        } => {
            let lang: Lang = language::by_name(&lang).expect("clap admits only known languages");
            let kind = match source {
                true => scaffold::Kind::Source,
                false => scaffold::Kind::Effect,
            };
            let created = scaffold::create(lang, kind, &name, &dir)?;
            println!(
                "created package `{name}` in {}\nnext: {}",
                created.display(),
                scaffold::next_steps(lang, &created)
            );
            Ok(0)
        }
        Commands::Graph {
            pipeline,
            runtime,
            output,
            format,
        } => {
            let source = match (pipeline, runtime) {
                (Some(file), _) => graph::Source::File(file),
                (None, Some(id)) => graph::Source::Runtime(id),
                (None, None) => unreachable!("clap requires a pipeline or --runtime"),
            };
            graph::graph(source, output.as_deref(), format)
        }
        Commands::Dashboard { args } => {
            exec_beside("plexus-dashboard", "dashboard", "dashboard", &[], &args)
        }
        Commands::Agent { args } => exec_beside("plexus-link", "link", "agent", &["agent"], &args),
        Commands::Schemas { command } => schemas::run(command),
        Commands::Types { pipeline, json } => types::types(pipeline.as_deref(), json),
        Commands::Describe {
            type_name,
            pipeline,
            json,
        } => types::describe(&type_name, pipeline.as_deref(), json),
        Commands::Pack { dir, output } => package_commands::pack_command(&dir, output.as_deref()),
        Commands::Pkg { command } => package_commands::run(command),
        Commands::Apply {
            pipeline,
            runtime,
            dry_run,
        } => {
            let file = std::path::absolute(&pipeline)
                .with_context(|| format!("finding {}", pipeline.display()))?;
            ask(runtime.as_deref(), |reply_to| ControlRequest::Apply {
                file: file.to_string_lossy().into_owned(),
                dry_run,
                reply_to,
            })
        }
        Commands::Upgrade {
            processor,
            to,
            runtime,
        } => ask(runtime.as_deref(), |reply_to| ControlRequest::Upgrade {
            processor,
            to,
            reply_to,
        }),
        Commands::Restart { worker, runtime } => ask(runtime.as_deref(), |reply_to| {
            ControlRequest::RestartWorker { worker, reply_to }
        }),
        Commands::Events {
            runtime,
            follow,
            json,
        } => observe::watch(&WatchOptions {
            runtime,
            follow,
            json,
        }),
        Commands::Ps { runtime, json } => observe::ps(runtime.as_deref(), json),
        Commands::Top { runtime, json } => observe::top(runtime.as_deref(), json),
        Commands::Reap {
            runtime,
            supervisor,
        } => run::reap(&runtime, supervisor),
        Commands::Tap {
            target,
            count,
            runtime,
            json,
        } => observe::tap(&TapOptions {
            target,
            count,
            runtime,
            json,
        }),
        Commands::Record {
            targets,
            output,
            duration,
            frames,
            compression,
            split_mb,
            split_s,
            video_codec,
            runtime,
        } => record::record(&RecordOptions {
            targets,
            runtime,
            output,
            duration,
            frames,
            compression,
            split: match (split_mb, split_s) {
                (Some(mb), _) => Split::Bytes(mb << 20),
                (None, Some(period)) => Split::Every(period),
                (None, None) => Split::Never,
            },
            video_codec,
        }),
        Commands::Recording {
            command: RecordingCommand::Info { file, json },
        } => record::info(&file, json),
        Commands::Stop { runtime } => ask(runtime.as_deref(), |reply_to| ControlRequest::Stop {
            reply_to,
        }),
        Commands::Set {
            processor,
            changes,
            runtime,
        } => ask(
            runtime.as_deref(),
            observe::set::request(processor, &changes)?,
        ),
        Commands::Pause(steered) => steered.ask(|processors, reply_to| ControlRequest::Pause {
            processors,
            reply_to,
        }),
        Commands::Resume(steered) => steered.ask(|processors, reply_to| ControlRequest::Resume {
            processors,
            reply_to,
        }),
        Commands::Run {
            pipeline,
            ending,
            detach: true,
            locked,
            watch,
            ..
        } => run_detached(&pipeline, &ending, locked, watch),
        Commands::Run {
            pipeline,
            ending,
            detached_as,
            runtime_id,
            locked,
            watch,
            ..
        } => {
            let mut options = ending.options();
            options.watch = watch;
            options.runtime_id = runtime_id;
            if let Some(id) = detached_as {
                options.ready = Some(Ready::inherited()?);
                options.runtime_id = Some(id);
            }
            run_plan(plan_for(&pipeline, locked)?, options, ending.json)
        }
        Commands::Runs { json } => observe::runs(json),
        Commands::Summary { runtime, json } => observe::summary(&runtime, json),
        Commands::Wait { runtime, json } => observe::wait(&runtime, json),
        Commands::Attach { runtime } => observe::attach(&runtime),
        Commands::Logs {
            worker,
            runtime,
            follow,
            since,
            json,
        } => observe::logs(&LogsOptions {
            worker,
            runtime,
            follow,
            since,
            json,
        }),
        Commands::Replay {
            file,
            into,
            replace,
            channel,
            speed,
            looping,
            ending,
        } => {
            if !(0.0..=100.0).contains(&speed) {
                anyhow::bail!(UserError::Plain(format!(
                    "--speed {speed} must be between 0 and 100"
                )));
            }
            // The worker's directory is not ours: name the file in full.
            let file = std::path::absolute(&file)?;
            let mut config = serde_json::Map::new();
            config.insert("path".into(), file.display().to_string().into());
            if let Some(channel) = channel {
                config.insert("channel".into(), channel.into());
            }
            config.insert("speed".into(), speed.into());
            config.insert("loop".into(), looping.into());
            let mut pipeline = Pipeline::load(&into)?;
            pipeline.replace(&replace, "builtin.replay", config)?;
            run_plan(plan_pipeline(&pipeline)?, ending.options(), ending.json)
        }
    }
}

/// `plexus validate`: every check `run` makes and, with `deep`, the
/// processors' code loaded in their workers; returns the exit code.
fn validate(pipeline: &std::path::Path, deep: bool, locked: bool, json: bool) -> Result<i32> {
    let mut report = serde_json::json!({
        "file": pipeline.display().to_string(),
        "pipeline": null,
        "valid": false,
        "deep": deep,
        "processors": null,
        "workers": null,
        "errors": [],
    });
    let checked = (|| -> Result<(Plan, Vec<run::check::Failure>)> {
        let mut plan = plan_for(pipeline, locked)?;
        if let Some(hosts) = &plan.hosts {
            run::hosts::check(hosts)?;
        }
        report["pipeline"] = plan.name.clone().into();
        report["processors"] = plan.processors.len().into();
        report["workers"] = plan.workers.len().into();
        let failures = match deep {
            true => {
                let launcher = Launcher::prepare(&mut plan)?;
                run::check::check(&plan, &launcher)?
            }
            false => Vec::new(),
        };
        Ok((plan, failures))
    })();
    let (plan, failures) = match (checked, json) {
        (Ok(checked), _) => checked,
        (Err(e), false) => return Err(e),
        (Err(e), true) => {
            let message: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            report["errors"] =
                serde_json::json!([{ "processor": null, "message": message.join(": ") }]);
            println!("{report}");
            return Ok(2);
        }
    };
    report["valid"] = failures.is_empty().into();
    report["errors"] = failures
        .iter()
        .map(|f| serde_json::json!({ "processor": f.processor, "message": f.to_string() }))
        .collect();
    if json {
        println!("{report}");
    } else if failures.is_empty() {
        let how = match deep {
            true => ", and every processor's code loads",
            false => "",
        };
        let elsewhere = match &plan.hosts {
            Some(hosts) => format!(
                ", and {} on other hosts ({}), whose agents could run them",
                plan.remote.len(),
                hosts
                    .parts
                    .iter()
                    .map(|p| p.host.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => String::new(),
        };
        println!(
            "{}: pipeline `{}` is valid: {} processors in {} workers{elsewhere}{how}",
            pipeline.display(),
            plan.name,
            plan.processors.len(),
            plan.workers.len()
        );
    } else {
        for failure in &failures {
            eprintln!("plexus: error: {failure}");
        }
    }
    Ok(if failures.is_empty() { 0 } else { 2 })
}

/// The plan of `pipeline`; when `locked`, checked against its lockfile.
fn plan_for(pipeline: &std::path::Path, locked: bool) -> Result<Plan> {
    match locked {
        true => lockfile::drift::locked_plan(pipeline),
        false => Ok(load_plan(pipeline)?),
    }
}

/// Runs a plan to its end and prints its summary; returns the exit code.
fn run_plan(mut plan: Plan, options: RunOptions, json: bool) -> Result<i32> {
    if let Some(id) = &options.runtime_id {
        if !crate::journal::is_runtime_id(id) {
            anyhow::bail!(UserError::Plain(format!("`{id}` is not a runtime id")));
        }
    }
    crate::load::permissions::write_dirs::make_write_dirs(&plan)?;
    crate::load::permissions::banner::print_banner(&plan);
    let launcher = Launcher::prepare(&mut plan)?;
    let report = run::run(&plan, &launcher, &options)?;
    let summary = Summary::of(&report.plan, &report);
    match json {
        true => println!("{}", summary.to_json()),
        false => println!("{}", summary.to_table()),
    }
    if let Some(halt) = &report.halt {
        eprintln!("plexus: error: {halt}");
    }
    // Errors on frames were contained and are in the summary; only a
    // worker lost makes the run fail.
    Ok(summary.exit_code())
}

/// `run -d`: validates, starts the run in the background and prints its id.
fn run_detached(
    pipeline: &std::path::Path,
    ending: &Ending,
    locked: bool,
    watch: bool,
) -> Result<i32> {
    // Mistakes in the pipeline are told here, at once, as `run` tells them,
    // and what it runs unconfined or allows beyond its packages.
    crate::load::permissions::banner::print_banner(&plan_for(pipeline, locked)?);
    let detached = Detached {
        pipeline,
        locked,
        watch,
        frames: ending.frames,
        duration: ending.duration,
    };
    match detach::start(&detached)? {
        Ok(runtime) => {
            match ending.json {
                true => println!("{}", serde_json::json!({ "runtime": runtime })),
                false => println!("{runtime}"),
            }
            eprintln!(
                "plexus: run {runtime} is running detached: `plexus wait {runtime}` waits for its summary, `plexus attach {runtime}` follows it, `plexus stop --runtime {runtime}` stops it"
            );
            Ok(0)
        }
        Err(code) => Ok(code),
    }
}
