//! Resident memory at idle: the supervisor and each worker of the
//! four-process chain (Rust → Python → Deno → Rust, pass-through
//! processors), running but nearly idle — one 720p frame a second — read
//! from `/proc/<pid>/status` once frames have passed through every worker.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::live::{runtime_pids, Plexus};
use crate::tap::Tap;
use crate::throughput::{chain_yaml, RESOLUTIONS, WORKERS};
use crate::Result;
use integration_tests::bench::{resident, Resident};

const IDLE_FPS: u32 = 1;
/// Frames through the chain before memory is read, so every worker has
/// loaded its processor and mapped its ports.
const FRAMES_BEFORE: usize = 3;
const STARTUP: Duration = Duration::from_secs(180);

/// One process and its memory.
pub struct Usage {
    pub process: String,
    pub runtime: &'static str,
    pub resident: Resident,
}

pub fn measure(plexus: &Path, scratch: &Path) -> Result<Vec<Usage>> {
    let res = RESOLUTIONS[0];
    let pipeline = scratch.join("idle.yaml");
    std::fs::write(
        &pipeline,
        chain_yaml(res, IDLE_FPS, "test.py_pass", "test.ts_pass"),
    )
    .map_err(|e| format!("writing {}: {e}", pipeline.display()))?;
    eprintln!("report: idle memory, {} at {IDLE_FPS} fps", res.label);
    let mut run = Plexus::start(plexus, &pipeline, scratch)?;
    let runtime = run.wait_for_runtime(STARTUP)?;
    let usage = {
        run.wait_for_processor("ts", STARTUP)?;
        let tap = Tap::open(&runtime, "ts", "out")?;
        read_when_idle(&mut run, &tap, &runtime)
    };
    let usage = usage.map_err(|e| format!("idle memory: {e}\nlog so far:\n{}", run.log()))?;
    run.stop()?;
    Ok(usage)
}

fn read_when_idle(run: &mut Plexus, tap: &Tap, runtime: &str) -> Result<Vec<Usage>> {
    let deadline = Instant::now() + STARTUP;
    let mut seen = 0;
    while seen < FRAMES_BEFORE {
        seen += tap.poll(Duration::from_millis(100))?.len();
        run.pending_lines()?;
        if Instant::now() >= deadline {
            return Err(format!(
                "fewer than {FRAMES_BEFORE} frames within {STARTUP:?}"
            ));
        }
    }
    let read = |process: String, runtime: &'static str, pid: u32| {
        resident(pid)
            .map(|resident| Usage {
                process,
                runtime,
                resident,
            })
            .ok_or(format!("pid {pid} is gone"))
    };
    let mut usage = vec![read("supervisor".into(), "plexus", run.pid())?];
    for (worker, language) in WORKERS {
        match runtime_pids(runtime, Some(worker)).as_slice() {
            [pid] => usage.push(read(format!("worker {worker}"), language, *pid)?),
            found => {
                return Err(format!(
                    "worker {worker}: expected one process, found {found:?}"
                ))
            }
        }
    }
    Ok(usage)
}
