//! Restart time: how long a pipeline goes without a processor's output when
//! that processor's worker is killed and the supervisor restarts it
//! (ARCHITECTURE §5), for a Rust, a Python and a Deno worker.
//!
//! For each runtime one real release `plexus run` (without `--frames`) runs
//! `builtin.test_pattern (32×24, 200 fps) → p → builtin.stats_sink`, where
//! `p` is a pass-through processor of that runtime from a faulty fixture,
//! configured never to fail on its own (`every: 1000000000`) and with
//! `restart: { policy: on-failure, max_restarts: 1000, window_secs: 10,
//! backoff_ms: 0 }`. The bench then, [`KILLS`] times ([`QUICK_KILLS`] with
//! `--quick`):
//!
//! 1. finds `p`'s worker by the `PLEXUS_WORKER` / `PLEXUS_RUNTIME`
//!    environment in `/proc` (and checks it is the pid the supervisor logged),
//! 2. sends it SIGKILL, taking `monotonic_ns()` just before,
//! 3. reads the supervisor's log live ([`plexus`]), each line stamped with
//!    `monotonic_ns()` as it arrives: the line `worker p restarted
//!    (generation N, …)` is the worker back and running — **kill →
//!    restarted**;
//! 4. listens on `p.out` itself, as a second consumer beside the sink
//!    ([`tap`]): the first frame published by a new publisher (not the
//!    killed worker's) with a `capture_ns` later than the kill is the first
//!    frame the restarted worker delivered — **kill → first frame**;
//! 5. waits until the restarted worker has delivered [`SETTLE_FRAMES`]
//!    frames before the next kill.
//!
//! At the end the bench drops its own subscriber, stops `plexus` with SIGINT
//! (so the supervisor stops its workers and removes its files), and checks
//! that no process and no `/dev/shm` file of the runtime is left. The result
//! ([`report`]) is a markdown table on stdout and in
//! `bench-results/restart.md`; the targets (kill → first frame p50) are
//! reported, not asserted.
//!
//! ```text
//! cargo build --release --workspace
//! cargo bench -p integration-tests --bench restart [-- --quick]
//! ```

mod measure;
mod plexus;
mod report;
mod tap;

use integration_tests::bench::{publish, require_release, Scratch};
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, String>;

/// Kills per runtime in a full run.
const KILLS: usize = 30;
/// Kills per runtime with `--quick`.
const QUICK_KILLS: usize = 5;
/// Frames the restarted worker must deliver before the next kill.
pub const SETTLE_FRAMES: usize = 10;

/// One runtime under test: its pass-through processor and its target.
#[derive(Clone, Copy, Debug)]
pub struct Subject {
    /// How the report names the runtime.
    pub language: &'static str,
    /// The pass-through processor type `p` is given.
    pub processor_type: &'static str,
    /// The fixture package the processor comes from.
    pub fixture: &'static str,
    /// The kill → first frame p50 the runtime must stay under, in ms.
    pub target_ms: f64,
}

impl Subject {
    pub const ALL: [Subject; 3] = [
        Subject {
            language: "Rust",
            processor_type: "test.panic_every",
            fixture: "faulty-rust",
            target_ms: 50.0,
        },
        Subject {
            language: "Python",
            processor_type: "test.py_raise_every",
            fixture: "faulty-python",
            target_ms: 300.0,
        },
        Subject {
            language: "Deno",
            processor_type: "test.ts_throw_every",
            fixture: "faulty-deno",
            target_ms: 500.0,
        },
    ];

    pub fn package(self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(self.fixture)
    }
}

fn main() {
    // cargo passes `--bench` to a harness-less bench; only `--quick` matters.
    let quick = std::env::args().skip(1).any(|a| a == "--quick");
    if let Err(e) = bench(quick) {
        eprintln!("restart bench: {e}");
        std::process::exit(1);
    }
}

fn bench(quick: bool) -> Result<()> {
    let release = require_release(&[
        "plexus",
        "plexus-worker-native",
        "plexus-worker-python",
        "libplexus_deno.so",
        "libfaulty_rust.so",
    ])?;
    let plexus = release.join("plexus");
    for subject in Subject::ALL {
        let manifest = subject.package().join("plexus.yaml");
        if !manifest.is_file() {
            return Err(format!(
                "{} is missing: the {} restart needs that package",
                manifest.display(),
                subject.language
            ));
        }
    }
    let scratch = Scratch::new("restart")?;
    let kills = if quick { QUICK_KILLS } else { KILLS };

    let mut results = Vec::new();
    for subject in Subject::ALL {
        eprintln!(
            "restart: {} ({}), {kills} kills",
            subject.language, subject.processor_type
        );
        let result = measure::measure(&plexus, &scratch.0, subject, kills)
            .map_err(|e| format!("{} restart: {e}", subject.language))?;
        results.push(result);
    }

    let report = report::render(&results, quick);
    publish("restart", &report)
}
