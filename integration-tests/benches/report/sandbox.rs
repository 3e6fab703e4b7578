//! What least privilege costs (docs/ARCHITECTURE.md §15): one hop,
//! `builtin.test_pattern → <consumer>`, into a Rust, a Python and a Deno
//! worker, once with `sandbox: off` and once with `sandbox: strict`, runs
//! of the two modes interleaved so that both see the same machine. Per run:
//! the consumer worker's start-up (the supervisor's `worker sink spawned`
//! line to its `worker sink ready` line), its CPU time per frame over a
//! window after the warm-up, and the hop's latency from the summary.

use std::path::Path;
use std::time::Instant;

use bus::counters::Counters;
use ipc_schemas::Names;

use crate::hop::{pipeline_yaml, sink_latency, Consumer};
use crate::live::{runtime_pids, Plexus};
use crate::plan::{Latency, Size, SIZES};
use crate::source::Spread;
use crate::throughput::{Window, POLL, STARTUP};
use crate::Result;
use integration_tests::bench::cpu_ns;

/// The fixture packages the consumers come from.
pub const FIXTURES: [&str; 2] = ["probe-python", "probe-deno"];

/// The frames: the smallest size, where a fixed cost per frame shows most.
const SIZE: &Size = &SIZES[0];

/// The two modes compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Off,
    Strict,
}

impl Mode {
    pub const BOTH: [Mode; 2] = [Mode::Off, Mode::Strict];

    pub fn word(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Strict => "strict",
        }
    }
}

/// One run's figures.
pub struct Run {
    startup_ms: f64,
    cpu_us: f64,
    latency: Latency,
}

/// One consumer in one mode, over its runs.
pub struct Measured {
    pub consumer: Consumer,
    pub mode: Mode,
    pub startup_ms: Spread,
    pub cpu_us: Spread,
    pub p50_us: Spread,
    pub p99_us: Spread,
    /// Frames the sink did not take, over all runs.
    pub lost: u64,
    pub runs: usize,
}

impl Measured {
    fn of(consumer: Consumer, mode: Mode, runs: &[Run]) -> Self {
        Self {
            consumer,
            mode,
            startup_ms: Spread::of(runs, |r| r.startup_ms),
            cpu_us: Spread::of(runs, |r| r.cpu_us),
            p50_us: Spread::of(runs, |r| r.latency.p50_us),
            p99_us: Spread::of(runs, |r| r.latency.p99_us),
            lost: runs.iter().map(|r| r.latency.lost).sum(),
            runs: runs.len(),
        }
    }
}

/// Every consumer in both modes: five runs each (one with `quick`).
pub fn measure_all(plexus: &Path, scratch: &Path, quick: bool) -> Result<Vec<Measured>> {
    let runs = if quick { 1 } else { 5 };
    let window = Window::new(quick);
    let mut measured = Vec::new();
    for consumer in Consumer::ALL {
        let mut by_mode: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
        for round in 0..runs {
            for (m, mode) in Mode::BOTH.into_iter().enumerate() {
                eprintln!(
                    "report: sandbox {} into {}, run {} of {runs}",
                    mode.word(),
                    consumer.label(),
                    round + 1
                );
                let run = measure(plexus, scratch, consumer, mode, window).map_err(|e| {
                    format!("{} with sandbox {}: {e}", consumer.label(), mode.word())
                })?;
                by_mode[m].push(run);
            }
        }
        for (m, mode) in Mode::BOTH.into_iter().enumerate() {
            measured.push(Measured::of(consumer, mode, &by_mode[m]));
        }
    }
    Ok(measured)
}

fn measure(
    plexus: &Path,
    scratch: &Path,
    consumer: Consumer,
    mode: Mode,
    window: Window,
) -> Result<Run> {
    let pipeline = scratch.join(format!("sandbox-{:?}-{}.yaml", consumer, mode.word()));
    let yaml = pipeline_yaml(consumer, SIZE, &format!("sandbox: {}\n", mode.word()));
    std::fs::write(&pipeline, yaml).map_err(|e| format!("writing {}: {e}", pipeline.display()))?;
    let mut run = Plexus::start(plexus, &pipeline, scratch)?;
    let startup_ms = startup_ms(&mut run)?;
    let runtime = run.wait_for_runtime(STARTUP)?;
    let cpu_us =
        cpu_per_frame(&mut run, &runtime, window).map_err(|e| format!("{e}\n{}", run.log()))?;
    let latency = sink_latency(&run.stop()?.summary)?;
    Ok(Run {
        startup_ms,
        cpu_us,
        latency,
    })
}

/// From the `worker sink spawned` line to the `worker sink ready` line.
fn startup_ms(run: &mut Plexus) -> Result<f64> {
    let deadline = Instant::now() + STARTUP;
    let mut spawned = None;
    loop {
        let Some(line) = run.next_line(deadline)? else {
            return Err(format!(
                "worker sink was not ready within {STARTUP:?}; log:\n{}",
                run.log()
            ));
        };
        if line.text.contains("worker sink spawned (pid ") {
            spawned = Some(line.at_ns);
        } else if line.text.contains("worker sink ready") {
            let from = spawned.ok_or("worker sink was ready before it was spawned")?;
            return Ok(line.at_ns.saturating_sub(from) as f64 / 1e6);
        }
    }
}

/// The sink worker's CPU time per frame it took over the window, in µs.
fn cpu_per_frame(run: &mut Plexus, runtime: &str, window: Window) -> Result<f64> {
    let names = Names::new(runtime).map_err(|e| format!("runtime id `{runtime}`: {e}"))?;
    let taken = Counters::open(&names, "sink", 1, 0)
        .map_err(|e| e.to_string())?
        .input(0)
        .frames;
    let deadline = Instant::now() + STARTUP;
    while taken.get() == 0 {
        if Instant::now() >= deadline {
            return Err(format!("the sink took no frame within {STARTUP:?}"));
        }
        run.watch(POLL)?;
    }
    run.watch(window.warmup)?;
    let pid = match runtime_pids(runtime, Some("sink")).as_slice() {
        [pid] => *pid,
        found => {
            return Err(format!(
                "worker sink: expected one process, found {found:?}"
            ))
        }
    };
    let cpu = || cpu_ns(pid).ok_or(format!("the sink's worker (pid {pid}) is gone"));
    let (cpu_before, taken_before) = (cpu()?, taken.get());
    run.watch(window.measure)?;
    let (cpu_after, taken_after) = (cpu()?, taken.get());
    match taken_after - taken_before {
        0 => Err("the sink took no frame in the measured window".into()),
        frames => Ok((cpu_after - cpu_before) as f64 / 1000.0 / frames as f64),
    }
}
