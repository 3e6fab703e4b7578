//! Live swap: how long `plexus upgrade` takes to put a new process in the
//! place of a running processor's worker, and what a consumer of that
//! processor sees meanwhile, beside a plain `plexus restart` of the same
//! worker in the same run (docs/ARCHITECTURE.md §14).
//!
//! For each language one `plexus run` (without `--frames`) runs
//! `builtin.test_pattern (64×8, 60 fps) → p → builtin.stats_sink`, `p` the
//! stateful counter fixture of that language, and records `p.out`. `p`
//! stamps how many frames it has handled into each frame (slot 0) and
//! carries that count across a swap with snapshot/restore. The bench swaps
//! `p`'s worker N times with `plexus upgrade p`, then restarts it N times
//! with `plexus restart p`; for each change it:
//!
//! 1. notes the last sequence number its own subscriber on `p.out` ([`Tap`])
//!    took, the boundary of the change in the recording,
//! 2. starts the command, taking `monotonic_ns()` just before,
//! 3. polls the tap until the first frame from a new publisher (the new
//!    process) arrives: **request → first frame**, and waits for the command
//!    to end; an upgrade's own answer gives the supervisor's **elapsed_ms**
//!    (request received → the successor serves),
//! 4. waits until the new process has delivered [`SETTLE_FRAMES`] frames;
//!    the longest time between two frames the tap took meanwhile is the
//!    **longest pause** a consumer saw.
//!
//! After the run has stopped the recording is read
//! ([`crate::swap_recording`]): each change owns the sequence numbers after
//! its boundary up to the next change's; a number it owns that is not
//! recorded is a frame lost, one recorded twice a frame duplicated, and the
//! counter went on across the change if its stamps only ever rise there.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use iceoryx2::identifiers::UniquePublisherId;
use ipc_schemas::frame::monotonic_ns;

use crate::live::{read_in_background, yaml_path, Plexus};
use crate::swap_recording::{per_change, Frames};
use crate::tap::{Arrival, Tap};
use crate::Result;

/// Changes of each kind per language in a full run.
const CHANGES: usize = 20;
/// Changes of each kind per language with `--quick`.
const QUICK_CHANGES: usize = 5;
/// Frames the new process must deliver before the next change.
const SETTLE_FRAMES: usize = 10;
/// The processor swapped and restarted; its output is tapped and recorded.
const P: &str = "p";
/// Frame size and rate of the test pattern.
pub const WIDTH: u32 = 64;
pub const HEIGHT: u32 = 8;
pub const FPS: u32 = 60;
/// Time from `plexus run` to frames flowing through `p`: generous, as the
/// first Python run may create its environment and the first Deno run may
/// install `deno`.
const STARTUP: Duration = Duration::from_secs(180);
/// Time one change may take until the new process has settled.
const CHANGE_DEADLINE: Duration = Duration::from_secs(30);
/// Longest sleep on the tap before the command is looked at again.
const POLL: Duration = Duration::from_millis(5);

/// One language under test: its counter processor.
#[derive(Clone, Copy, Debug)]
pub struct Subject {
    pub language: &'static str,
    pub processor_type: &'static str,
    pub fixture: &'static str,
}

impl Subject {
    pub const ALL: [Subject; 3] = [
        Subject {
            language: "Python",
            processor_type: "test.py_counter",
            fixture: "counter-python",
        },
        Subject {
            language: "TypeScript",
            processor_type: "test.ts_counter",
            fixture: "counter-deno",
        },
        Subject {
            language: "Rust",
            processor_type: "test.rs_counter",
            fixture: "counter-rust",
        },
    ];

    fn package(self) -> PathBuf {
        integration_tests::fixture(self.fixture)
    }
}

/// How `p`'s worker is replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// `plexus upgrade p`: the lossless swap.
    Upgrade,
    /// `plexus restart p`: the old process is killed, a new one started.
    Restart,
}

impl Change {
    pub fn command(self) -> &'static str {
        match self {
            Change::Upgrade => "upgrade",
            Change::Restart => "restart",
        }
    }
}

/// One change as the bench timed it.
pub struct Timed {
    /// Request → the tap took the new process's first frame.
    pub first_frame_ns: u64,
    /// The supervisor's request → successor serving, from the answer of
    /// `plexus upgrade`; `None` for a restart, which answers at once.
    pub elapsed_ms: Option<u64>,
    /// The longest time between two frames the tap took, from the last
    /// frame before the request until the new process settled: how long a
    /// consumer went without a frame.
    pub longest_pause_ns: u64,
    /// The last sequence number the tap took before the request.
    boundary: u64,
}

/// One kind of change, N times, in one run.
pub struct Changes {
    pub change: Change,
    pub timed: Vec<Timed>,
    pub frames: Vec<Frames>,
}

/// Everything measured for one language.
pub struct Measured {
    pub subject: Subject,
    pub upgrades: Changes,
    pub restarts: Changes,
}

/// The fixtures the section needs.
pub const FIXTURES: [&str; 3] = ["counter-python", "counter-deno", "counter-rust"];
/// The library of the Rust counter, built with the workspace.
pub const RUST_LIBRARY: &str = "libcounter_rust.so";

/// Every language's swaps and restarts, in the order of [`Subject::ALL`].
pub fn measure_all(plexus: &Path, scratch: &Path, quick: bool) -> Result<Vec<Measured>> {
    let changes = if quick { QUICK_CHANGES } else { CHANGES };
    Subject::ALL
        .into_iter()
        .map(|subject| {
            eprintln!(
                "report: live swap {} ({}), {changes} upgrades and {changes} restarts",
                subject.language, subject.processor_type
            );
            measure(plexus, scratch, subject, changes)
                .map_err(|e| format!("{} live swap: {e}", subject.language))
        })
        .collect()
}

/// The pipeline `test_pattern → p → stats_sink`, recording `p.out`.
fn pipeline_yaml(subject: Subject, recording: &Path) -> String {
    format!(
        "# Written by the live swap benchmark: {} counter `p`, upgraded and restarted.\n\
         name: swap-bench\n\
         packages: [{}]\n\
         processors:\n  \
           camera: {{ type: builtin.test_pattern, config: {{ width: {WIDTH}, height: {HEIGHT}, fps: {FPS} }} }}\n  \
           {P}: {{ type: {}, config: {{ slot: 0 }} }}\n  \
           sink: {{ type: builtin.stats_sink }}\n\
         connections: [camera.out -> {P}.in, {P}.out -> sink.in]\n\
         record: {{ file: {}, ports: [{P}.out] }}\n",
        subject.language,
        yaml_path(&subject.package()),
        subject.processor_type,
        yaml_path(recording),
    )
}

/// Runs `subject`'s pipeline, upgrades `p` `n` times, then restarts it `n`
/// times, and reads what the recording shows of each change.
fn measure(plexus: &Path, scratch: &Path, subject: Subject, n: usize) -> Result<Measured> {
    let name = format!("swap-{}", subject.language.to_ascii_lowercase());
    let recording = scratch.join(format!("{name}.mcap"));
    let pipeline = scratch.join(format!("{name}.yaml"));
    std::fs::write(&pipeline, pipeline_yaml(subject, &recording))
        .map_err(|e| format!("writing {}: {e}", pipeline.display()))?;

    let mut run = Plexus::start(plexus, &pipeline, scratch)?;
    let runtime = run.wait_for_runtime(STARTUP)?;
    let timed = {
        // Dropped before `run` is stopped: the supervisor removes the
        // runtime's files and must find no foreign node.
        run.wait_for_processor(P, STARTUP)?;
        let tap = Tap::open(&runtime, P, "out")?;
        let mut bench = ChangeLoop {
            plexus,
            run: &mut run,
            tap: &tap,
            runtime: &runtime,
            last_seq: 0,
            last_at_ns: None,
            longest_pause_ns: 0,
        };
        bench.run(n)
    };
    let (upgrades, restarts, end) = match timed {
        Ok(timed) => timed,
        Err(e) => return Err(format!("{e}\nlog so far:\n{}", run.log())),
    };
    run.stop()?;
    eprintln!("report: live swap: runtime {runtime} stopped, nothing of it left");

    let boundaries: Vec<u64> = upgrades
        .iter()
        .chain(&restarts)
        .map(|t| t.boundary)
        .chain([end])
        .collect();
    let frames = per_change(&recording, &boundaries);
    let (upgrade_frames, restart_frames) = frames.split_at(upgrades.len());
    Ok(Measured {
        subject,
        upgrades: Changes {
            change: Change::Upgrade,
            timed: upgrades,
            frames: upgrade_frames.to_vec(),
        },
        restarts: Changes {
            change: Change::Restart,
            timed: restarts,
            frames: restart_frames.to_vec(),
        },
    })
}

struct ChangeLoop<'a> {
    plexus: &'a Path,
    run: &'a mut Plexus,
    tap: &'a Tap,
    runtime: &'a str,
    /// The last sequence number the tap took.
    last_seq: u64,
    /// When the tap took its last frame.
    last_at_ns: Option<u64>,
    /// The longest time between two frames since the current change began.
    longest_pause_ns: u64,
}

impl ChangeLoop<'_> {
    /// The upgrades, the restarts, and the last sequence number the tap took
    /// once the last new process settled.
    fn run(&mut self, n: usize) -> Result<(Vec<Timed>, Vec<Timed>, u64)> {
        let mut origin = self.settle(None, Instant::now() + STARTUP)?;
        let mut all = [Vec::new(), Vec::new()];
        for (change, timed) in [Change::Upgrade, Change::Restart].into_iter().zip(&mut all) {
            for i in 1..=n {
                let (one, new_origin) = self
                    .change_once(change, origin)
                    .map_err(|e| format!("{} {i} of {n}: {e}", change.command()))?;
                eprintln!(
                    "report: live swap {} {i}/{n}: first frame {:.1} ms{}",
                    change.command(),
                    one.first_frame_ns as f64 / 1e6,
                    one.elapsed_ms
                        .map_or(String::new(), |ms| format!(", elapsed_ms {ms}"))
                );
                timed.push(one);
                origin = new_origin;
            }
        }
        let [upgrades, restarts] = all;
        Ok((upgrades, restarts, self.last_seq))
    }

    /// Replaces `p`'s worker, whose frames come from `origin`, by `change`,
    /// and waits for the new process's first frame and the command's end;
    /// then for the new process to settle.
    fn change_once(
        &mut self,
        change: Change,
        origin: UniquePublisherId,
    ) -> Result<(Timed, UniquePublisherId)> {
        let deadline = Instant::now() + CHANGE_DEADLINE;
        let boundary = self.last_seq;
        self.longest_pause_ns = 0;
        let start_ns = monotonic_ns();
        let mut command = Command::new(self.plexus)
            .args([change.command(), P, "--runtime", self.runtime])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting `plexus {}`: {e}", change.command()))?;
        let stdout = read_in_background(command.stdout.take().expect("piped"));
        let stderr = read_in_background(command.stderr.take().expect("piped"));

        let mut first_frame = None;
        let mut status = None;
        while first_frame.is_none() || status.is_none() {
            if Instant::now() >= deadline {
                let _ = command.kill();
                let _ = command.wait();
                return Err(format!(
                    "within {CHANGE_DEADLINE:?}: command {}, first frame of the new process {}",
                    if status.is_some() {
                        "ended"
                    } else {
                        "still running"
                    },
                    if first_frame.is_some() {
                        "seen"
                    } else {
                        "not seen"
                    },
                ));
            }
            for frame in self.take()? {
                if first_frame.is_none() && frame.origin != origin {
                    first_frame = Some((frame.at_ns, frame.origin));
                }
            }
            self.run.pending_lines()?;
            if status.is_none() {
                status = command.try_wait().map_err(|e| e.to_string())?;
            }
        }
        let stdout = stdout.recv().unwrap_or_default();
        if !status.expect("loop ends with it").success() {
            return Err(format!(
                "`plexus {}` failed: {}",
                change.command(),
                stderr.recv().unwrap_or_default()
            ));
        }
        let elapsed_ms = match change {
            Change::Upgrade => Some(elapsed_ms_in(&stdout).ok_or_else(|| {
                format!("no `N ms after the request` in the upgrade's answer: {stdout:?}")
            })?),
            Change::Restart => None,
        };
        let (first_at, new_origin) = first_frame.expect("loop ends with it");
        self.settle(Some(new_origin), deadline)?;
        let timed = Timed {
            first_frame_ns: first_at - start_ns,
            elapsed_ms,
            longest_pause_ns: self.longest_pause_ns,
            boundary,
        };
        Ok((timed, new_origin))
    }

    /// The frames the tap took within [`POLL`], noting the last sequence
    /// number and the longest pause.
    fn take(&mut self) -> Result<Vec<Arrival>> {
        let frames = self.tap.poll(POLL)?;
        for frame in &frames {
            self.last_seq = self.last_seq.max(frame.seq);
            if let Some(last) = self.last_at_ns {
                self.longest_pause_ns = self.longest_pause_ns.max(frame.at_ns - last);
            }
            self.last_at_ns = Some(frame.at_ns);
        }
        Ok(frames)
    }

    /// Waits until [`SETTLE_FRAMES`] frames in a row came from one publisher
    /// (`origin`, if given) and returns it.
    fn settle(
        &mut self,
        origin: Option<UniquePublisherId>,
        deadline: Instant,
    ) -> Result<UniquePublisherId> {
        let mut streak: Option<(UniquePublisherId, usize)> = None;
        loop {
            for frame in self.take()? {
                if origin.is_some_and(|o| o != frame.origin) {
                    continue;
                }
                streak = match streak {
                    Some((o, n)) if o == frame.origin => Some((o, n + 1)),
                    _ => Some((frame.origin, 1)),
                };
            }
            self.run.pending_lines()?;
            if let Some((o, n)) = streak {
                if n >= SETTLE_FRAMES {
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
}

/// The T in an upgrade's answer `… T ms after the request; …`.
fn elapsed_ms_in(answer: &str) -> Option<u64> {
    let before = &answer[..answer.find(" ms after the request")?];
    before.rsplit(' ').next()?.parse().ok()
}
