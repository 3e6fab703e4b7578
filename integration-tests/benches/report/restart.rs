//! Restart time: how long a pipeline goes without a processor's output when
//! that processor's worker is killed and the supervisor restarts it
//! (docs/ARCHITECTURE.md §5), for a Rust, a Python and a Deno worker.
//!
//! For each runtime one `plexus run` (without `--frames`) runs
//! `builtin.test_pattern (32×24, 200 fps) → p → builtin.stats_sink`, where
//! `p` is a pass-through processor of that runtime from a faulty fixture,
//! configured never to fail on its own and with `restart: { policy:
//! on-failure, max_restarts: 1000, window_secs: 10, backoff_ms: 0 }`. The
//! bench then, again and again:
//!
//! 1. finds `p`'s worker by its environment in `/proc` (and checks it is the
//!    pid the supervisor logged),
//! 2. sends it SIGKILL, taking `monotonic_ns()` just before,
//! 3. reads the supervisor's log live, each line stamped as it arrives: the
//!    line `worker p restarted (generation N, …)` is **kill → restarted**;
//! 4. listens on `p.out` itself, beside the sink ([`Tap`]): the first frame
//!    from a new publisher with a `capture_ns` later than the kill is
//!    **kill → first frame**;
//! 5. waits until the restarted worker has delivered [`SETTLE_FRAMES`]
//!    frames before the next kill.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use iceoryx2::identifiers::UniquePublisherId;
use ipc_schemas::frame::monotonic_ns;

use crate::live::{runtime_pids, worker_started, yaml_path, LogLine, Plexus};
use crate::tap::Tap;
use crate::Result;

/// Kills per runtime in a full run.
const KILLS: usize = 30;
/// Kills per runtime with `--quick`.
const QUICK_KILLS: usize = 3;
/// Frames the restarted worker must deliver before the next kill.
const SETTLE_FRAMES: usize = 10;

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
        integration_tests::fixture(self.fixture)
    }
}

/// Every runtime's restarts, in the order of [`Subject::ALL`].
pub fn measure_all(plexus: &Path, scratch: &Path, quick: bool) -> Result<Vec<Measured>> {
    let kills = if quick { QUICK_KILLS } else { KILLS };
    Subject::ALL
        .into_iter()
        .map(|subject| {
            eprintln!(
                "report: restart {} ({}), {kills} kills",
                subject.language, subject.processor_type
            );
            measure(plexus, scratch, subject, kills)
                .map_err(|e| format!("{} restart: {e}", subject.language))
        })
        .collect()
}

/// The processor whose worker is killed; its output is tapped.
const P: &str = "p";
/// Frame size and rate of the test pattern.
pub const WIDTH: u32 = 32;
pub const HEIGHT: u32 = 24;
pub const FPS: u32 = 200;
/// Time from `plexus run` to frames flowing through `p`: generous, as the
/// first Python run may create its environment and the first Deno run may
/// install `deno`.
const STARTUP: Duration = Duration::from_secs(180);
/// Time one kill may take until the restarted worker has delivered
/// [`SETTLE_FRAMES`] frames.
const RESTART_DEADLINE: Duration = Duration::from_secs(15);
/// Longest sleep on the tap before the log is looked at again. Frames wake
/// the tap at once and log lines are stamped by their reader thread, so this
/// bounds only how late an event is noticed, never its timestamp.
const POLL: Duration = Duration::from_millis(5);

/// One kill, in nanoseconds from the moment just before SIGKILL.
pub struct Restart {
    /// Until the supervisor's `worker p restarted (generation N, …)` line.
    pub restarted_ns: u64,
    /// Until the tap took the first frame the restarted worker sent.
    pub first_frame_ns: u64,
}

/// Everything measured for one runtime.
pub struct Measured {
    pub subject: Subject,
    pub restarts: Vec<Restart>,
    /// The restarts `plexus run --json` counted for `p`'s worker.
    pub counted_by_plexus: Option<u64>,
}

/// The pipeline `test_pattern → p → stats_sink` with `subject`'s processor
/// as `p`.
fn pipeline_yaml(subject: Subject) -> String {
    let package = yaml_path(&subject.package());
    format!(
        "# Written by the restart benchmark: {} pass-through `p`, killed again and again.\n\
         name: restart-bench\n\
         packages: [{package}]\n\
         processors:\n  \
           camera: {{ type: builtin.test_pattern, config: {{ width: {WIDTH}, height: {HEIGHT}, fps: {FPS} }} }}\n  \
           {P}:\n    \
             type: {}\n    \
             config: {{ every: 1000000000 }}\n    \
             restart: {{ policy: on-failure, max_restarts: 1000, window_secs: 10, backoff_ms: 0 }}\n  \
           sink: {{ type: builtin.stats_sink }}\n\
         connections:\n  \
           - camera.out -> {P}.in\n  \
           - {P}.out -> sink.in\n",
        subject.language,
        subject.processor_type,
    )
}

/// Runs `subject`'s pipeline and kills `p`'s worker `kills` times.
fn measure(plexus: &Path, scratch: &Path, subject: Subject, kills: usize) -> Result<Measured> {
    let pipeline = scratch.join(format!(
        "restart-{}.yaml",
        subject.language.to_ascii_lowercase()
    ));
    std::fs::write(&pipeline, pipeline_yaml(subject))
        .map_err(|e| format!("writing {}: {e}", pipeline.display()))?;

    let mut run = Plexus::start(plexus, &pipeline, scratch)?;
    let runtime = run.wait_for_runtime(STARTUP)?;
    eprintln!(
        "report: restart: {} runtime {runtime} started",
        subject.language
    );
    let restarts = {
        // Dropped at the end of this block, before `run` is stopped (or, on
        // an error, dropped): the supervisor removes the runtime's files.
        run.wait_for_processor(P, STARTUP)?;
        let tap = Tap::open(&runtime, P, "out")?;
        let mut bench = KillLoop {
            run: &mut run,
            tap: &tap,
            runtime: &runtime,
            worker: Worker::default(),
        };
        bench.run(kills)
    };
    let restarts = match restarts {
        Ok(restarts) => restarts,
        Err(e) => return Err(format!("{e}\nlog so far:\n{}", run.log())),
    };
    let stopped = run.stop()?;
    eprintln!("report: restart: runtime {runtime} stopped, nothing of it left");
    let counted_by_plexus = stopped.summary["workers"][P]["restarts"].as_u64();
    Ok(Measured {
        subject,
        restarts,
        counted_by_plexus,
    })
}

/// What the log says about `p`'s worker.
#[derive(Default)]
struct Worker {
    pid: Option<u32>,
    generation: u64,
}

struct KillLoop<'a> {
    run: &'a mut Plexus,
    tap: &'a Tap,
    runtime: &'a str,
    worker: Worker,
}

impl KillLoop<'_> {
    fn run(&mut self, kills: usize) -> Result<Vec<Restart>> {
        let mut origin = self.settle(None, Instant::now() + STARTUP)?;
        let mut restarts = Vec::with_capacity(kills);
        for kill in 1..=kills {
            let (restart, new_origin) = self
                .kill_once(origin)
                .map_err(|e| format!("kill {kill} of {kills}: {e}"))?;
            eprintln!(
                "report: restart kill {kill}/{kills}: restarted {:.1} ms, first frame {:.1} ms",
                restart.restarted_ns as f64 / 1e6,
                restart.first_frame_ns as f64 / 1e6
            );
            restarts.push(restart);
            origin = new_origin;
        }
        Ok(restarts)
    }

    /// Kills the current worker of `p`, whose frames come from `origin`, and
    /// waits for its successor's restart line and first frame; then for the
    /// successor to settle. Returns the timings and the successor's origin.
    fn kill_once(&mut self, origin: UniquePublisherId) -> Result<(Restart, UniquePublisherId)> {
        let pid = self.current_pid()?;
        let generation = self.worker.generation;
        let deadline = Instant::now() + RESTART_DEADLINE;

        let kill_ns = monotonic_ns();
        // SAFETY: kill(2) of the live worker process that both `/proc` and
        // the supervisor's log name as `p`'s.
        if unsafe { libc::kill(pid as i32, libc::SIGKILL) } != 0 {
            return Err(format!(
                "killing worker pid {pid}: {}",
                std::io::Error::last_os_error()
            ));
        }

        let mut restarted_at = None;
        let mut first_frame = None;
        while restarted_at.is_none() || first_frame.is_none() {
            if Instant::now() >= deadline {
                return Err(format!(
                    "within {RESTART_DEADLINE:?} of killing pid {pid}: restarted line {}, \
                     first frame {}",
                    if restarted_at.is_some() {
                        "seen"
                    } else {
                        "not seen"
                    },
                    if first_frame.is_some() {
                        "seen"
                    } else {
                        "not seen"
                    },
                ));
            }
            for frame in self.tap.poll(POLL)? {
                if first_frame.is_none() && frame.origin != origin && frame.capture_ns > kill_ns {
                    first_frame = Some((frame.at_ns, frame.origin));
                }
            }
            for line in self.run.pending_lines()? {
                self.absorb(&line)?;
                if restarted_at.is_none() && self.worker.generation > generation {
                    restarted_at = Some(line.at_ns);
                }
            }
        }
        let (first_at, new_origin) = first_frame.expect("loop ends with it");
        let restart = Restart {
            restarted_ns: restarted_at.expect("loop ends with it") - kill_ns,
            first_frame_ns: first_at - kill_ns,
        };
        self.settle(Some(new_origin), deadline)?;
        Ok((restart, new_origin))
    }

    /// Waits until [`SETTLE_FRAMES`] frames in a row came from one publisher
    /// (`origin`, if given) and returns it.
    fn settle(
        &mut self,
        origin: Option<UniquePublisherId>,
        deadline: Instant,
    ) -> Result<UniquePublisherId> {
        let mut run: Option<(UniquePublisherId, usize)> = None;
        loop {
            for frame in self.tap.poll(POLL)? {
                if origin.is_some_and(|o| o != frame.origin) {
                    continue;
                }
                run = match run {
                    Some((o, n)) if o == frame.origin => Some((o, n + 1)),
                    _ => Some((frame.origin, 1)),
                };
            }
            for line in self.run.pending_lines()? {
                self.absorb(&line)?;
            }
            if let Some((o, n)) = run {
                if n >= SETTLE_FRAMES && self.worker.pid.is_some() {
                    return Ok(o);
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "p delivered no {SETTLE_FRAMES} frames in a row to the tap in time"
                ));
            }
        }
    }

    /// Follows `p`'s worker through the log; its giving up ends the bench.
    fn absorb(&mut self, line: &LogLine) -> Result<()> {
        if let Some((generation, pid)) = worker_started(&line.text, P) {
            self.worker.pid = Some(pid);
            if let Some(generation) = generation {
                self.worker.generation = generation;
            }
        }
        if line.text.contains(&format!("worker {P} failed")) {
            return Err(format!("the supervisor gave up: {}", line.text));
        }
        Ok(())
    }

    /// `p`'s worker pid, found by its environment in `/proc` and checked
    /// against the pid the supervisor logged for it.
    fn current_pid(&self) -> Result<u32> {
        let logged = self.worker.pid.ok_or("the log named no pid for p")?;
        let found = runtime_pids(self.runtime, Some(P));
        if found.contains(&logged) {
            Ok(logged)
        } else {
            Err(format!(
                "the supervisor logged pid {logged} for p, but /proc has {found:?}"
            ))
        }
    }
}
