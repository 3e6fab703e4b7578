//! Sustained throughput and plexus's CPU cost per frame, through the four
//! processes `builtin.test_pattern` (Rust) → Python → Deno →
//! `builtin.stats_sink` (Rust), at 720p and 1080p RGBA.
//!
//! Two runs per resolution, each measured over one window of steady state:
//!
//! - **throughput**: the processors in the middle are pass-throughs that
//!   copy every frame into their output (`test.py_pass`, `test.ts_pass`),
//!   the source draws as fast as it may (1000 fps, its maximum), and the
//!   frames the Deno worker delivers are counted by a tap beside the sink;
//! - **overhead**: the middle processors are relays that send a loaned
//!   buffer of the frame's size without writing it (`test.py_relay`,
//!   `test.ts_relay`), at a fixed [`OVERHEAD_FPS`]. Their processor code is
//!   then two SDK calls, so the CPU time their workers use per frame (their
//!   CPU-time clocks over the window, divided by the frames delivered) is
//!   what plexus spends on a hop: receive, wake, call in, loan, send, notify.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::live::{runtime_pids, yaml_path, Plexus};
use crate::tap::Tap;
use crate::Result;
use integration_tests::bench::cpu_ns;

/// One video resolution of the run.
#[derive(Clone, Copy)]
pub struct Resolution {
    pub label: &'static str,
    pub width: u32,
    pub height: u32,
}

impl Resolution {
    pub fn bytes(self) -> usize {
        self.width as usize * self.height as usize * 4
    }
}

pub const RESOLUTIONS: [Resolution; 2] = [
    Resolution {
        label: "720p",
        width: 1280,
        height: 720,
    },
    Resolution {
        label: "1080p",
        width: 1920,
        height: 1080,
    },
];

/// The fixed rate of the overhead run: well within what the machine
/// sustains at 1080p, so no frame waits and none is dropped.
pub const OVERHEAD_FPS: u32 = 100;
/// The workers of the pipeline, in frame order, with their runtime.
pub const WORKERS: [(&str, &str); 4] = [
    ("camera", "Rust"),
    ("py", "Python"),
    ("ts", "Deno"),
    ("sink", "Rust"),
];
/// Time from `plexus run` to frames at the tap: the first Python run may
/// create its environment and the first Deno run may install `deno`.
pub const STARTUP: Duration = Duration::from_secs(180);
pub const POLL: Duration = Duration::from_millis(20);

/// How long a run warms up and then measures.
#[derive(Clone, Copy)]
pub struct Window {
    pub warmup: Duration,
    pub measure: Duration,
}

impl Window {
    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                warmup: Duration::from_millis(300),
                measure: Duration::from_secs(1),
            }
        } else {
            Self {
                warmup: Duration::from_secs(2),
                measure: Duration::from_secs(10),
            }
        }
    }
}

/// The four-process pipeline with `py` and `ts` of the given types.
pub fn chain_yaml(res: Resolution, fps: u32, py_type: &str, ts_type: &str) -> String {
    let package = |fixture: &str| yaml_path(&integration_tests::fixture(fixture));
    format!(
        "# Written by the benchmark: Rust → Python → Deno → Rust.\n\
         name: chain-bench\n\
         packages: [{}, {}]\n\
         processors:\n  \
           camera: {{ type: builtin.test_pattern, config: {{ width: {}, height: {}, fps: {fps} }} }}\n  \
           py: {{ type: {py_type} }}\n  \
           ts: {{ type: {ts_type} }}\n  \
           sink: {{ type: builtin.stats_sink }}\n\
         connections:\n  \
           - camera.out -> py.in\n  \
           - py.out -> ts.in\n  \
           - ts.out -> sink.in\n",
        package("relay-python"),
        package("relay-deno"),
        res.width,
        res.height,
    )
}

/// What one window of steady state saw.
pub struct Measured {
    /// Frames the tap on `ts.out` took in the window, per second.
    pub fps: f64,
    /// CPU time per delivered frame of each worker of [`WORKERS`], in µs.
    pub cpu_us_per_frame: Vec<f64>,
}

/// Both runs at one resolution.
pub struct Throughput {
    pub res: Resolution,
    /// The pass-through run at full speed.
    pub pass: Measured,
    /// The relay run at [`OVERHEAD_FPS`].
    pub relay: Measured,
}

pub fn measure(
    plexus: &Path,
    scratch: &Path,
    res: Resolution,
    window: Window,
) -> Result<Throughput> {
    let pass = run_chain(
        plexus,
        scratch,
        res,
        1000,
        ("test.py_pass", "test.ts_pass"),
        window,
    )
    .map_err(|e| format!("{} pass-through run: {e}", res.label))?;
    let relay = run_chain(
        plexus,
        scratch,
        res,
        OVERHEAD_FPS,
        ("test.py_relay", "test.ts_relay"),
        window,
    )
    .map_err(|e| format!("{} relay run: {e}", res.label))?;
    Ok(Throughput { res, pass, relay })
}

/// Runs the chain with the given middle processors, waits for frames and the
/// warm-up, and measures one window.
fn run_chain(
    plexus: &Path,
    scratch: &Path,
    res: Resolution,
    fps: u32,
    (py_type, ts_type): (&str, &str),
    window: Window,
) -> Result<Measured> {
    let pipeline = scratch.join(format!("chain-{}-{py_type}.yaml", res.label));
    std::fs::write(&pipeline, chain_yaml(res, fps, py_type, ts_type))
        .map_err(|e| format!("writing {}: {e}", pipeline.display()))?;
    eprintln!(
        "report: throughput {} {py_type} → {ts_type} at {fps} fps",
        res.label
    );
    let mut run = Plexus::start(plexus, &pipeline, scratch)?;
    let runtime = run.wait_for_runtime(STARTUP)?;
    let measured = {
        // Dropped before `run` is stopped: the supervisor removes the files.
        run.wait_for_processor("ts", STARTUP)?;
        let tap = Tap::open(&runtime, "ts", "out")?;
        measure_window(&mut run, &tap, &runtime, window)
    };
    let measured = measured.map_err(|e| format!("{e}\nlog so far:\n{}", run.log()))?;
    run.stop()?;
    Ok(measured)
}

fn measure_window(run: &mut Plexus, tap: &Tap, runtime: &str, window: Window) -> Result<Measured> {
    let deadline = Instant::now() + STARTUP;
    while tap.poll(POLL)?.is_empty() {
        run.pending_lines()?;
        if Instant::now() >= deadline {
            return Err(format!("no frame reached ts.out within {STARTUP:?}"));
        }
    }
    drain_for(run, tap, window.warmup)?;

    let pids = WORKERS
        .iter()
        .map(
            |(worker, _)| match runtime_pids(runtime, Some(worker)).as_slice() {
                [pid] => Ok(*pid),
                found => Err(format!(
                    "worker {worker}: expected one process, found {found:?}"
                )),
            },
        )
        .collect::<Result<Vec<u32>>>()?;
    let cpu = |pids: &[u32]| -> Result<Vec<u64>> {
        pids.iter()
            .map(|&pid| cpu_ns(pid).ok_or(format!("worker pid {pid} is gone")))
            .collect()
    };
    let before = cpu(&pids)?;
    let start = Instant::now();
    let frames = drain_for(run, tap, window.measure)?;
    let after = cpu(&pids)?;
    let seconds = start.elapsed().as_secs_f64();
    if frames == 0 {
        return Err("no frame reached ts.out in the measured window".into());
    }
    Ok(Measured {
        fps: frames as f64 / seconds,
        cpu_us_per_frame: before
            .iter()
            .zip(&after)
            .map(|(b, a)| a.saturating_sub(*b) as f64 / 1000.0 / frames as f64)
            .collect(),
    })
}

/// Takes frames from the tap for `span`, reading the log as it goes (so a
/// failing worker shows up in the error); returns how many it took.
fn drain_for(run: &mut Plexus, tap: &Tap, span: Duration) -> Result<u64> {
    let end = Instant::now() + span;
    let mut frames = 0;
    while Instant::now() < end {
        frames += tap
            .poll(POLL.min(end.saturating_duration_since(Instant::now())))?
            .len() as u64;
        run.check_workers()?;
    }
    Ok(frames)
}
