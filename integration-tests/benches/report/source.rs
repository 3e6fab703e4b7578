//! What a source written in each language costs beside the builtin one
//! (issue 15): `<source> → builtin.stats_sink` at 64 B and 8 MiB and
//! [`FPS`], for `builtin.test_pattern` and for a Rust plugin, a Python and
//! a TypeScript source, each in mode continuous and in mode manual.
//!
//! The user sources come from the `bench-source-*` fixtures. Each fills its
//! whole frame in place with one memset-like call (`slice::fill`, numpy
//! `ndarray.fill`, `Uint8Array.fill`), so it writes every byte, as the test
//! pattern does. Per run, after a warm-up, over one window:
//!
//! - **CPU per frame** of the source's worker process: its CPU-time clock
//!   (all threads, user + system) over the window ÷ the frames the source
//!   sent in it (its output counter in the runtime's shared counters);
//! - **latency** at the first consumer, `builtin.stats_sink`: receive time
//!   minus the header's `capture_ns`, p50/p99 of the sink's histogram over
//!   the whole run, read from the `--json` summary as the hop bench does.
//!
//! On this machine class the same source's CPU per 8 MiB frame moves by
//! tens of percent from one run to the next, more than what a language
//! adds, so every case runs [`ROUNDS`] times, one round of all cases after
//! the other, and each figure is the median over its runs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bus::counters::{Counter, Counters};
use ipc_schemas::Names;

use crate::hop::sink_latency;
use crate::live::{runtime_pids, yaml_path, Plexus};
use crate::plan::{Latency, Size, FPS, SIZES};
use crate::throughput::{Window, POLL, STARTUP};
use crate::Result;
use integration_tests::bench::cpu_ns;

/// The continuous fixtures' manifests run them every 10 ms: [`FPS`].
const _: () = assert!(
    FPS == 100,
    "the bench-source-* manifests say interval_ms: 10"
);

/// The Rust fixture and its library, staged together (see [`stage_rust`]).
const RUST_FIXTURE: &str = "bench-source-rust";
pub const RUST_LIBRARY: &str = "libbench_source_rust.so";
/// The fixture packages the sources come from.
pub const FIXTURES: [&str; 3] = [
    Language::Rust.fixture().unwrap(),
    Language::Python.fixture().unwrap(),
    Language::TypeScript.fixture().unwrap(),
];

/// Who wrote a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// `builtin.test_pattern`, part of the native worker.
    Builtin,
    /// A plugin of the `bench-source-rust` fixture, in the native worker.
    Rust,
    /// The `bench-source-python` fixture, in a Python worker.
    Python,
    /// The `bench-source-deno` fixture, in a Deno worker.
    TypeScript,
}

impl Language {
    pub fn label(self) -> &'static str {
        match self {
            Language::Builtin => "builtin",
            Language::Rust => "Rust plugin",
            Language::Python => "Python",
            Language::TypeScript => "TypeScript",
        }
    }

    /// The fixture package its sources come from.
    const fn fixture(self) -> Option<&'static str> {
        match self {
            Language::Builtin => None,
            Language::Rust => Some(RUST_FIXTURE),
            Language::Python => Some("bench-source-python"),
            Language::TypeScript => Some("bench-source-deno"),
        }
    }
}

/// How a source is driven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The worker calls `produce` on its interval.
    Continuous,
    /// The processor's own thread or timer sends, between `start` and `stop`.
    Manual,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::Continuous => "continuous",
            Mode::Manual => "manual",
        }
    }
}

/// One source the bench measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Source {
    pub language: Language,
    pub mode: Mode,
    pub processor_type: &'static str,
}

impl Source {
    const fn new(language: Language, mode: Mode, processor_type: &'static str) -> Self {
        Self {
            language,
            mode,
            processor_type,
        }
    }

    /// Its `config:`: the frame size and, unless its manifest's
    /// `interval_ms` sets the rate, `fps`.
    fn config(&self, size: &Size) -> String {
        let fps = match (self.language, self.mode) {
            (Language::Builtin, _) | (_, Mode::Manual) => format!(", fps: {FPS}"),
            _ => String::new(),
        };
        format!("{{ width: {}, height: {}{fps} }}", size.width, size.height)
    }
}

/// The builtin first: every other row is compared with it.
pub const SOURCES: [Source; 7] = [
    Source::new(Language::Builtin, Mode::Continuous, "builtin.test_pattern"),
    Source::new(Language::Rust, Mode::Continuous, "test.rs_fill_source"),
    Source::new(Language::Python, Mode::Continuous, "test.py_fill_source"),
    Source::new(
        Language::TypeScript,
        Mode::Continuous,
        "test.ts_fill_source",
    ),
    Source::new(Language::Rust, Mode::Manual, "test.rs_manual_fill_source"),
    Source::new(Language::Python, Mode::Manual, "test.py_manual_fill_source"),
    Source::new(
        Language::TypeScript,
        Mode::Manual,
        "test.ts_manual_fill_source",
    ),
];

/// Runs of every case in a full run (one in a quick run).
const ROUNDS: usize = 3;

/// How many runs each case gets and how each is measured.
#[derive(Clone, Copy)]
struct Schedule {
    rounds: usize,
    window: Window,
}

impl Schedule {
    /// Three runs of 2 s of warm-up and 5 s of measurement each, or one
    /// short run in a quick run, which only proves the harness.
    fn new(quick: bool) -> Self {
        match quick {
            true => Self {
                rounds: 1,
                window: Window::new(true),
            },
            false => Self {
                rounds: ROUNDS,
                window: Window {
                    warmup: Duration::from_secs(2),
                    measure: Duration::from_secs(5),
                },
            },
        }
    }
}

/// What one run of one case measured.
struct Run {
    /// At the sink, over the whole run.
    latency: Latency,
    /// CPU time of the source's worker per frame sent in the window, in µs.
    cpu_us: f64,
    /// Frames the source sent per second in the window.
    fps: f64,
}

/// The median, lowest and highest of one figure over a case's runs.
#[derive(Clone, Copy)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of<R>(runs: &[R], figure: impl Fn(&R) -> f64) -> Self {
        let mut values: Vec<f64> = runs.iter().map(figure).collect();
        values.sort_by(f64::total_cmp);
        Self {
            median: values[(values.len() - 1) / 2],
            min: values[0],
            max: values[values.len() - 1],
        }
    }
}

/// One source at one payload size, over its runs.
pub struct Measured {
    pub source: Source,
    pub size: &'static Size,
    /// At the sink: the median of the runs' p50 and p99; the frames taken
    /// and lost over all of them.
    pub latency: Latency,
    /// The source worker's CPU time per frame, in µs.
    pub cpu_us: Spread,
    /// Frames the source sent per second in the windows, the median.
    pub fps: f64,
    pub runs: usize,
}

impl Measured {
    fn of(source: Source, size: &'static Size, runs: &[Run]) -> Self {
        let median = |figure: fn(&Run) -> f64| Spread::of(runs, figure).median;
        Self {
            source,
            size,
            latency: Latency {
                p50_us: median(|r| r.latency.p50_us),
                p99_us: median(|r| r.latency.p99_us),
                frames: runs.iter().map(|r| r.latency.frames).sum(),
                lost: runs.iter().map(|r| r.latency.lost).sum(),
                cpu_us: None,
            },
            cpu_us: Spread::of(runs, |r| r.cpu_us),
            fps: median(|r| r.fps),
            runs: runs.len(),
        }
    }
}

/// The smallest and the largest payload of the hop table.
pub fn sizes() -> [&'static Size; 2] {
    [&SIZES[0], &SIZES[SIZES.len() - 1]]
}

/// Every source at every size of [`sizes`], the builtin first at each,
/// in rounds. `release` is where `cargo build --release` put the Rust
/// fixture.
pub fn measure_all(
    plexus: &Path,
    release: &Path,
    scratch: &Path,
    quick: bool,
) -> Result<Vec<Measured>> {
    let rust_package = stage_rust(release, scratch)?;
    let schedule = Schedule::new(quick);
    let cases: Vec<(&'static Size, Source)> = sizes()
        .into_iter()
        .flat_map(|size| SOURCES.map(|source| (size, source)))
        .collect();
    let mut runs: Vec<Vec<Run>> = cases.iter().map(|_| Vec::new()).collect();
    for round in 1..=schedule.rounds {
        for (&(size, source), runs) in cases.iter().zip(&mut runs) {
            eprintln!(
                "report: source {} ({}, {}) at {}, round {round} of {}",
                source.processor_type,
                source.language.label(),
                source.mode.label(),
                size.label,
                schedule.rounds
            );
            let package = match source.language {
                Language::Rust => Some(rust_package.clone()),
                other => other.fixture().map(integration_tests::fixture),
            };
            let run = measure(
                plexus,
                scratch,
                source,
                package.as_deref(),
                size,
                schedule.window,
            )
            .map_err(|e| {
                format!(
                    "{} {} {} source: {e}",
                    size.label,
                    source.language.label(),
                    source.mode.label()
                )
            })?;
            runs.push(run);
        }
    }
    Ok(cases
        .into_iter()
        .zip(runs)
        .map(|((size, source), runs)| Measured::of(source, size, &runs))
        .collect())
}

/// A copy of the Rust fixture's package with the release library in it.
/// plexus loads a development package's library from the package itself or
/// else the freshest of `target/release` and `target/debug`; staged where
/// no `target/` is above it, the release build is the one measured.
fn stage_rust(release: &Path, scratch: &Path) -> Result<PathBuf> {
    let fixture = integration_tests::fixture(RUST_FIXTURE);
    let staged = scratch.join(RUST_FIXTURE);
    std::fs::create_dir_all(&staged).map_err(|e| format!("creating {}: {e}", staged.display()))?;
    for (from, to) in [
        (fixture.join("plexus.yaml"), staged.join("plexus.yaml")),
        (release.join(RUST_LIBRARY), staged.join(RUST_LIBRARY)),
    ] {
        std::fs::copy(&from, &to)
            .map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))?;
    }
    Ok(staged)
}

/// `source → builtin.stats_sink` with frames of `size`.
fn pipeline_yaml(source: Source, package: Option<&Path>, size: &Size) -> String {
    let packages = match package {
        Some(dir) => format!("packages: [{}]\n", yaml_path(dir)),
        None => String::new(),
    };
    format!(
        "# Written by the source benchmark: a {} source, mode {}.\n\
         name: source-bench\n\
         {packages}\
         processors:\n  \
           camera: {{ type: {}, config: {} }}\n  \
           sink: {{ type: builtin.stats_sink }}\n\
         connections:\n  \
           - camera.out -> sink.in\n",
        source.language.label(),
        source.mode.label(),
        source.processor_type,
        source.config(size),
    )
}

/// Runs `source → builtin.stats_sink`, measures the source's CPU over one
/// window after the warm-up, stops the run and reads the sink's latency.
fn measure(
    plexus: &Path,
    scratch: &Path,
    source: Source,
    package: Option<&Path>,
    size: &Size,
    window: Window,
) -> Result<Run> {
    let pipeline = scratch.join(format!(
        "source-{}-{}.yaml",
        source.processor_type,
        size.bytes()
    ));
    std::fs::write(&pipeline, pipeline_yaml(source, package, size))
        .map_err(|e| format!("writing {}: {e}", pipeline.display()))?;
    let mut run = Plexus::start(plexus, &pipeline, scratch)?;
    let runtime = run.wait_for_runtime(STARTUP)?;
    let (cpu_us, fps) = measure_window(&mut run, &runtime, window)
        .map_err(|e| format!("{e}\nlog so far:\n{}", run.log()))?;
    let latency = sink_latency(&run.stop()?.summary)?;
    Ok(Run {
        latency,
        cpu_us,
        fps,
    })
}

/// Waits for the source's first frame and the warm-up, then returns, over
/// the window, its worker's CPU time per frame sent (µs) and frames/s.
fn measure_window(run: &mut Plexus, runtime: &str, window: Window) -> Result<(f64, f64)> {
    run.wait_for_processor("camera", STARTUP)?;
    let names = Names::new(runtime).map_err(|e| format!("runtime id `{runtime}`: {e}"))?;
    // The source has no input and one output, as its manifest says.
    let sent = Counters::open(&names, "camera", 0, 1)
        .map_err(|e| e.to_string())?
        .output(0)
        .sent;
    wait_for_frames(run, &sent)?;
    run.watch(window.warmup)?;

    let pid = match runtime_pids(runtime, Some("camera")).as_slice() {
        [pid] => *pid,
        found => {
            return Err(format!(
                "worker camera: expected one process, found {found:?}"
            ))
        }
    };
    let cpu = || cpu_ns(pid).ok_or(format!("the source's worker (pid {pid}) is gone"));
    let (cpu_before, sent_before, start) = (cpu()?, sent.get(), Instant::now());
    run.watch(window.measure)?;
    let (cpu_after, sent_after) = (cpu()?, sent.get());
    let seconds = start.elapsed().as_secs_f64();
    match sent_after - sent_before {
        0 => Err("the source sent no frame in the measured window".into()),
        frames => Ok((
            (cpu_after - cpu_before) as f64 / 1000.0 / frames as f64,
            frames as f64 / seconds,
        )),
    }
}

/// Waits until the source has sent a frame; the first Python run may create
/// its environment and the first Deno run may install `deno` meanwhile.
fn wait_for_frames(run: &mut Plexus, sent: &Counter) -> Result<()> {
    let deadline = Instant::now() + STARTUP;
    while sent.get() == 0 {
        if Instant::now() >= deadline {
            return Err(format!("the source sent no frame within {STARTUP:?}"));
        }
        run.watch(POLL)?;
    }
    Ok(())
}
