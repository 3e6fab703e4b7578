//! What watching costs: the 1080p throughput of `builtin.test_pattern →
//! builtin.stats_sink` (the source drawing as fast as it may), as the
//! pipeline's own counters give it (`plexus ps --json`: the sink's frames
//! taken and dropped over a window), alone, then in the same runtime with a
//! `plexus dashboard` whose preview of the 1080p port is fetched over HTTP
//! five times a second, as a page showing it does, then alone again: the
//! two windows alone bracket the watched one, so a machine whose load
//! drifts biases neither side.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::http::Request;

use crate::live::Plexus;
use crate::throughput::{Window, STARTUP};
use crate::Result;

/// How often the preview is fetched, as the page does at five a second.
const FETCH_EVERY: Duration = Duration::from_millis(200);

/// One window of the pipeline's own figures.
pub struct Figures {
    /// Frames the sink took, per second.
    pub fps: f64,
    /// Frames the sink's upstream sent that it never took, in the window.
    pub dropped: u64,
}

pub struct Cost {
    /// Before the dashboard came and after it left.
    pub alone: [Figures; 2],
    pub watched: Figures,
    /// Previews the dashboard served (200) in the watched window.
    pub previews: u64,
}

impl Cost {
    /// Frames/s watched ÷ frames/s alone (the mean of both windows).
    pub fn ratio(&self) -> f64 {
        self.watched.fps / ((self.alone[0].fps + self.alone[1].fps) / 2.0)
    }

    /// Whether watching dropped more frames than either window alone.
    pub fn dropped_more(&self) -> bool {
        self.watched.dropped > self.alone[0].dropped.max(self.alone[1].dropped)
    }
}

pub fn measure(plexus: &Path, dashboard: &Path, scratch: &Path, quick: bool) -> Result<Cost> {
    let window = Window::new(quick);
    let pipeline = scratch.join("dashboard-cost.yaml");
    std::fs::write(
        &pipeline,
        "# Written by the benchmark: 1080p as fast as the source draws.\n\
         name: dashboard-cost\n\
         processors:\n  \
           camera: { type: builtin.test_pattern, config: { width: 1920, height: 1080, fps: 1000 } }\n  \
           sink: { type: builtin.stats_sink }\n\
         connections: [camera.out -> sink.in]\n",
    )
    .map_err(|e| format!("writing {}: {e}", pipeline.display()))?;
    eprintln!("report: dashboard cost at 1080p");
    let mut run = Plexus::start(plexus, &pipeline, scratch)?;
    let runtime = run.wait_for_runtime(STARTUP)?;
    run.wait_for_processor("sink", STARTUP)?;
    let measured = measure_runtime(&mut run, plexus, dashboard, scratch, &runtime, window);
    let measured = measured.map_err(|e| format!("{e}\nlog so far:\n{}", run.log()))?;
    run.stop()?;
    Ok(measured)
}

fn measure_runtime(
    run: &mut Plexus,
    plexus: &Path,
    dashboard: &Path,
    scratch: &Path,
    runtime: &str,
    window: Window,
) -> Result<Cost> {
    run.watch(window.warmup)?;
    let before = figures(run, plexus, scratch, runtime, window.measure)?;
    let mut watcher = Dashboard::start(dashboard, runtime)?;
    let fetched = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let fetcher = {
        let (fetched, done, addr) = (fetched.clone(), done.clone(), watcher.addr);
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let asked = Instant::now();
                if Request::get("/api/preview/camera/out").send(addr).status == 200 {
                    fetched.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(FETCH_EVERY.saturating_sub(asked.elapsed()));
            }
        })
    };
    // The first previews open the subscription; then the window.
    let warm = Instant::now() + STARTUP;
    while fetched.load(Ordering::Relaxed) == 0 && Instant::now() < warm {
        run.watch(FETCH_EVERY)?;
    }
    run.watch(window.warmup)?;
    let served = fetched.load(Ordering::Relaxed);
    let watched = figures(run, plexus, scratch, runtime, window.measure);
    let previews = fetched.load(Ordering::Relaxed) - served;
    done.store(true, Ordering::Relaxed);
    let _ = fetcher.join();
    watcher.stop()?;
    let watched = watched?;
    if previews == 0 {
        return Err("the dashboard served no preview in the window".into());
    }
    let after = figures(run, plexus, scratch, runtime, window.measure)?;
    Ok(Cost {
        alone: [before, after],
        watched,
        previews,
    })
}

/// The sink's frames/s and drops over `span`, from `plexus ps --json`.
fn figures(
    run: &mut Plexus,
    plexus: &Path,
    scratch: &Path,
    runtime: &str,
    span: Duration,
) -> Result<Figures> {
    let (frames_before, dropped_before) = sink_counts(plexus, scratch, runtime)?;
    let start = Instant::now();
    run.watch(span)?;
    let (frames_after, dropped_after) = sink_counts(plexus, scratch, runtime)?;
    Ok(Figures {
        fps: frames_after.saturating_sub(frames_before) as f64 / start.elapsed().as_secs_f64(),
        // A live count holds the frames on their way for an instant, so it
        // may go down by those.
        dropped: dropped_after.saturating_sub(dropped_before),
    })
}

/// The sink's frames taken and dropped over the run so far.
fn sink_counts(plexus: &Path, scratch: &Path, runtime: &str) -> Result<(u64, u64)> {
    let out = Command::new(plexus)
        .args(["ps", "--runtime", runtime, "--json"])
        .current_dir(scratch)
        .output()
        .map_err(|e| format!("plexus ps: {e}"))?;
    let ps: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "plexus ps --json: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let sink = ps["runtimes"][0]["workers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|w| w["processors"].as_array().into_iter().flatten())
        .find(|p| p["processor"] == "sink")
        .ok_or_else(|| format!("no sink in {ps}"))?;
    Ok((
        sink["frames_in"].as_u64().unwrap_or(0),
        sink["dropped"].as_u64().unwrap_or(0),
    ))
}

/// `plexus-dashboard --runtime ID --listen 127.0.0.1:0`, killed if dropped.
struct Dashboard {
    child: Option<Child>,
    addr: SocketAddr,
}

impl Dashboard {
    fn start(dashboard: &Path, runtime: &str) -> Result<Self> {
        let mut child = Command::new(dashboard)
            .args(["--runtime", runtime, "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", dashboard.display()))?;
        let stderr = child.stderr.take().expect("piped");
        let mut lines = BufReader::new(stderr).lines();
        let line = lines
            .by_ref()
            .map_while(std::result::Result::ok)
            .find(|l| l.contains("plexus: dashboard for "))
            .ok_or("the dashboard ended before its start line")?;
        // Its log is read on, so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(|| format!("no address in `{line}`"))?;
        Ok(Self {
            child: Some(child),
            addr,
        })
    }

    /// SIGTERM, as a user's Ctrl-C; it must end cleanly.
    fn stop(&mut self) -> Result<()> {
        let mut child = self.child.take().expect("not stopped yet");
        // SAFETY: kill(2) of our own child, not yet reaped.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        match crate::live::wait_until(&mut child, Instant::now() + Duration::from_secs(20)) {
            Some(status) if status.success() => Ok(()),
            Some(status) => Err(format!("the dashboard ended with {status}")),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err("the dashboard did not end within 20 s of SIGTERM".into())
            }
        }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
