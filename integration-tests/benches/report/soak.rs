//! Memory over time: the flagship demo (`examples/mixed/pipeline.yaml`,
//! 640×480 at 60 fps through Rust, Python and Deno) runs for [`SOAK`] while
//! the resident memory of the supervisor and of every worker is read from
//! `/proc/<pid>/status` every [`SAMPLE_EVERY`]. A process's growth is the
//! slope of the least-squares line through its samples after [`WARM_UP`]
//! (allocators, interpreters and V8 size their heaps in the first minutes),
//! in MiB per hour. A worker that restarted starts a new series.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use integration_tests::bench::resident;

use crate::live::{runtime_pids, Plexus};
use crate::Result;

/// How long the demo runs, in a full run (issue 14) and with `--quick`.
const SOAK: Duration = Duration::from_secs(30 * 60);
const QUICK_SOAK: Duration = Duration::from_secs(20);
/// Samples before this are not fitted.
const WARM_UP: Duration = Duration::from_secs(5 * 60);
const QUICK_WARM_UP: Duration = Duration::from_secs(5);
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
const QUICK_SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Time from `plexus run` to the last worker running (a first run may
/// install numpy and deno).
const STARTUP: Duration = Duration::from_secs(300);
/// The growth the issue allows per process, in MiB per hour.
pub const TARGET_MIB_PER_HOUR: f64 = 1.0;

/// One process's memory over the fitted part of the run.
pub struct Growth {
    pub process: String,
    /// RSS at the end of the warm-up and at the end of the run, MiB.
    pub first_mib: f64,
    pub last_mib: f64,
    /// Slopes of RSS and of its private part (`RssAnon`), MiB per hour.
    pub rss_per_hour: f64,
    pub anon_per_hour: f64,
    pub samples: usize,
}

/// What the soak measured.
pub struct Soak {
    pub minutes: f64,
    pub warm_up_minutes: f64,
    pub growth: Vec<Growth>,
}

impl Soak {
    /// The process that grew fastest.
    pub fn worst(&self) -> Option<&Growth> {
        self.growth
            .iter()
            .max_by(|a, b| a.rss_per_hour.total_cmp(&b.rss_per_hour))
    }
}

/// Samples of one process: (seconds since start, RSS KiB, anon KiB).
type Series = Vec<(f64, u64, u64)>;

pub fn measure(plexus: &Path, scratch: &Path, quick: bool) -> Result<Soak> {
    let (soak, warm_up, every) = match quick {
        true => (QUICK_SOAK, QUICK_WARM_UP, QUICK_SAMPLE_EVERY),
        false => (SOAK, WARM_UP, SAMPLE_EVERY),
    };
    let dir = scratch.join("soak");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let pipeline = integration_tests::example_in(&dir, "mixed");
    eprintln!(
        "report: soak, the mixed demo for {} s, memory every {} s",
        soak.as_secs(),
        every.as_secs()
    );
    let mut run = Plexus::start(plexus, &pipeline, &dir)?;
    let runtime = run.wait_for_runtime(STARTUP)?;
    run.wait_for_processor("bar", STARTUP)?;
    let start = Instant::now();
    // Keyed by process and pid, so that a restarted worker starts anew.
    let mut series: BTreeMap<(String, u32), Series> = BTreeMap::new();
    while start.elapsed() < soak {
        let at = start.elapsed().as_secs_f64();
        let supervisor = ("supervisor".to_string(), run.pid());
        for (name, pid) in std::iter::once(supervisor).chain(workers(&runtime)) {
            if let Some(r) = resident(pid) {
                series
                    .entry((name, pid))
                    .or_default()
                    .push((at, r.total, r.anon));
            }
        }
        run.pending_lines()?;
        std::thread::sleep(every);
    }
    let stopped = run.stop()?;
    if stopped.summary["outcome"] != "stopped" {
        return Err(format!("the soak run ended {}", stopped.summary["outcome"]));
    }
    let warm = warm_up.as_secs_f64();
    let mut growth: Vec<Growth> = series
        .into_iter()
        .filter_map(|((process, _), samples)| {
            let fitted: Series = samples.into_iter().filter(|s| s.0 >= warm).collect();
            (fitted.len() >= 2).then(|| fit(process, &fitted))
        })
        .collect();
    growth.sort_by(|a, b| a.process.cmp(&b.process));
    Ok(Soak {
        minutes: soak.as_secs_f64() / 60.0,
        warm_up_minutes: warm / 60.0,
        growth,
    })
}

/// The workers of `runtime` by the name their environment gives them.
fn workers(runtime: &str) -> Vec<(String, u32)> {
    runtime_pids(runtime, None)
        .into_iter()
        .filter_map(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            let prefix = format!("{}=", ipc_schemas::env::WORKER);
            let name = environ
                .split(|b| *b == 0)
                .find_map(|kv| kv.strip_prefix(prefix.as_bytes()))?;
            Some((format!("worker {}", String::from_utf8_lossy(name)), pid))
        })
        .collect()
}

fn fit(process: String, samples: &Series) -> Growth {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let slope = |value: fn(&(f64, u64, u64)) -> u64| {
        let n = samples.len() as f64;
        let mean_t = samples.iter().map(|s| s.0).sum::<f64>() / n;
        let mean_v = samples.iter().map(|s| mib(value(s))).sum::<f64>() / n;
        let (num, den) = samples.iter().fold((0.0, 0.0), |(num, den), s| {
            let dt = s.0 - mean_t;
            (num + dt * (mib(value(s)) - mean_v), den + dt * dt)
        });
        // MiB per second to MiB per hour.
        if den > 0.0 {
            num / den * 3600.0
        } else {
            0.0
        }
    };
    Growth {
        process,
        first_mib: mib(samples[0].1),
        last_mib: mib(samples[samples.len() - 1].1),
        rss_per_hour: slope(|s| s.1),
        anon_per_hour: slope(|s| s.2),
        samples: samples.len(),
    }
}

/// How the soak is run, for the report.
pub fn describe() -> String {
    format!(
        "The flagship demo (`examples/mixed/pipeline.yaml`: 640×480 at 60 fps, \
         camera → sepia (Rust) → invert (Python) → bar (Deno) → stats, png) runs for \
         {} min; every {} s the resident memory of the supervisor and of each worker is \
         read from `/proc/<pid>/status`. **growth** is the slope of the least-squares line \
         through the samples after the first {} min, in MiB per hour (RSS, and its private \
         part `RssAnon`). With `--quick`: {} s, fitted after {} s, which proves only the harness.",
        SOAK.as_secs() / 60,
        SAMPLE_EVERY.as_secs(),
        WARM_UP.as_secs() / 60,
        QUICK_SOAK.as_secs(),
        QUICK_WARM_UP.as_secs()
    )
}
