//! A pipeline across hosts (issue 23): two network namespaces joined by a
//! veth pair stand for two machines. Per payload size (64 B, 64 KiB, 1080p
//! RGBA), in the same run and over the same veth:
//!
//! - **raw Zenoh** ([`zenoh_raw`]): a sender in A, a receiver in B, paced
//!   at [`FPS`] for latency (send → receive), then flat out for the most
//!   frames a second the link delivers;
//! - **plexus**: `builtin.test_pattern` on A → `builtin.stats_sink` on B
//!   (`host: b`, run by `plexus agent` in B), paced at [`FPS`]: the sink's
//!   latency (capture → arrival, both namespaces share the clock) from the
//!   run's summary, and the link's own (bridge to bridge) from `plexus ps
//!   --json` during the run; then the source at its highest rate
//!   ([`MAX_SOURCE_FPS`]) for the frames a second that reach B.
//!
//! Needs root and iproute2, as the tests across hosts do.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use crate::hop::{self, Consumer};
use crate::live::{read_in_background, yaml_path};
use crate::plan::{Latency, Plan, Size, FPS};
use crate::zenoh_raw::{self, Pace, Received};
use crate::Result;
use integration_tests::netns::{self, NetPair};

/// The payloads the issue names.
pub const SIZES: [Size; 3] = [
    Size {
        label: "64 B",
        width: 4,
        height: 4,
    },
    Size {
        label: "64 KiB",
        width: 128,
        height: 128,
    },
    Size {
        label: "1080p",
        width: 1920,
        height: 1080,
    },
];

/// The highest rate `builtin.test_pattern` takes (its `fps` config).
pub const MAX_SOURCE_FPS: u64 = 1000;
/// The port `plexus agent` listens on in B.
const AGENT_PORT: u16 = 7447;
/// Time the agent and a run get to start.
const STARTUP: Duration = Duration::from_secs(60);

/// The link's own latency, bridge to bridge, as `plexus ps --json` shows it.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkLatency {
    pub p50_us: f64,
    pub p99_us: f64,
    /// Frames the link lost (gaps in its own sequence), over the run.
    pub dropped: u64,
}

/// A plexus run across the veth.
#[derive(Debug, Clone, Copy, Default)]
pub struct Crossed {
    /// Capture on A → arrival at the sink on B.
    pub p50_us: f64,
    pub p99_us: f64,
    /// Frames the sink took, and frames the source sent that it did not.
    pub frames: u64,
    pub lost: u64,
    pub link: Option<LinkLatency>,
    /// Frames a second the link carried while the source ran.
    pub fps: f64,
    /// The local hop on A, capture → `near`, p50 and p99 in µs.
    pub near_us: (f64, f64),
}

/// One payload size, every way.
pub struct Measured {
    pub size: &'static Size,
    pub raw: Received,
    pub raw_max: Received,
    pub plexus: Crossed,
    pub plexus_max: Crossed,
    /// The same local hop, `camera → sink`, in a run on one host.
    pub single_host: Latency,
}

/// The paced runs' frames and the flat-out runs' length.
struct HostsPlan {
    paced: Plan,
    flat_out: Duration,
}

impl HostsPlan {
    fn new(quick: bool) -> Self {
        Self {
            paced: Plan::new(quick),
            flat_out: Duration::from_secs(if quick { 1 } else { 5 }),
        }
    }
}

/// Every size, raw and through plexus, in one pair of namespaces.
pub fn measure_all(plexus: &Path, scratch: &Path, quick: bool) -> Result<Vec<Measured>> {
    if let Some(why) = netns::unavailable() {
        return Err(format!("the section across hosts cannot run: {why}"));
    }
    let pair = NetPair::create("report --hosts").ok_or("no network namespaces")?;
    let plan = HostsPlan::new(quick);
    let setup = Setup::new(&pair, plexus, scratch)?;
    let mut agent = setup.start_agent()?;
    let mut measured = Vec::new();
    for size in &SIZES {
        eprintln!("report: across hosts, {} raw zenoh", size.label);
        let raw = zenoh_raw::measure(
            &pair,
            size.bytes(),
            Pace::Paced {
                frames: plan.paced.total(),
                warmup: plan.paced.warmup,
                interval: plan.paced.interval(),
            },
            "drop",
        )
        .map_err(|e| format!("{} raw zenoh: {e}", size.label))?;
        let raw_max = zenoh_raw::measure(
            &pair,
            size.bytes(),
            Pace::FlatOut {
                duration: plan.flat_out,
            },
            "block",
        )
        .map_err(|e| format!("{} raw zenoh flat out: {e}", size.label))?;
        eprintln!(
            "report: across hosts, {} raw: {raw:?}, max {raw_max:?}",
            size.label
        );
        eprintln!("report: across hosts, {} plexus", size.label);
        let crossed = setup
            .run(
                &mut agent,
                size,
                FPS as u64,
                Length::Frames(plan.paced.total()),
            )
            .map_err(|e| format!("{} plexus across hosts: {e}", size.label))?;
        let crossed_max = setup
            .run(
                &mut agent,
                size,
                MAX_SOURCE_FPS,
                Length::Window(plan.flat_out),
            )
            .map_err(|e| format!("{} plexus across hosts at most: {e}", size.label))?;
        eprintln!(
            "report: across hosts, {} plexus: {crossed:?}, max {crossed_max:?}",
            size.label
        );
        let single_host = hop::measure(plexus, scratch, Consumer::RustSink, size, plan.paced)
            .map_err(|e| format!("{} on one host: {e}", size.label))?;
        measured.push(Measured {
            size,
            single_host,
            raw,
            raw_max,
            plexus: crossed,
            plexus_max: crossed_max,
        });
    }
    agent.stop();
    Ok(measured)
}

/// The files both hosts see (namespaces share the filesystem).
struct Setup<'a> {
    pair: &'a NetPair,
    plexus: &'a Path,
    scratch: &'a Path,
    token: PathBuf,
    agent_dir: PathBuf,
}

impl<'a> Setup<'a> {
    fn new(pair: &'a NetPair, plexus: &'a Path, scratch: &'a Path) -> Result<Self> {
        let token = scratch.join("link-token");
        std::fs::write(&token, "bench-token-of-the-hosts-section\n")
            .map_err(|e| format!("writing {}: {e}", token.display()))?;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("restricting {}: {e}", token.display()))?;
        let agent_dir = scratch.join("host-b");
        std::fs::create_dir_all(&agent_dir)
            .map_err(|e| format!("creating {}: {e}", agent_dir.display()))?;
        Ok(Self {
            pair,
            plexus,
            scratch,
            token,
            agent_dir,
        })
    }

    fn endpoint(&self) -> String {
        format!("tcp/{}:{AGENT_PORT}", self.pair.b.addr)
    }

    /// `plexus agent` in B, once it listens.
    fn start_agent(&self) -> Result<Agent> {
        let mut child = self
            .pair
            .command(&self.pair.b, self.plexus)
            .args(["agent", "--listen", &self.endpoint(), "--name", "b"])
            .arg("--token-file")
            .arg(&self.token)
            .arg("--dir")
            .arg(&self.agent_dir)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting plexus agent: {e}"))?;
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let forward = |stream: Box<dyn std::io::Read + Send>,
                       tx: std::sync::mpsc::Sender<String>| {
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(|l| l.ok()) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        };
        forward(Box::new(stdout), tx.clone());
        forward(Box::new(stderr), tx);
        let mut agent = Agent {
            child: Some(child),
            lines,
            log: String::new(),
        };
        agent.wait_for("` ready", STARTUP)?;
        Ok(agent)
    }

    /// `camera` on A → `sink` on B at `fps`, run by `plexus run` in A: for
    /// `frames` frames, or, with `window`, stopped once the link has carried
    /// frames for that long.
    fn run(&self, agent: &mut Agent, size: &Size, fps: u64, length: Length) -> Result<Crossed> {
        let pipeline = self
            .scratch
            .join(format!("hosts-{}-{fps}.yaml", size.bytes()));
        let yaml = format!(
            "# Written by the benchmark across hosts.\n\
             name: hosts-bench\n\
             hosts:\n  \
               b: {{ endpoint: \"{}\" }}\n\
             link: {{ token_file: {} }}\n\
             processors:\n  \
               camera: {{ type: builtin.test_pattern, config: {{ width: {}, height: {}, fps: {fps} }} }}\n  \
               near: {{ type: builtin.stats_sink }}\n  \
               sink: {{ type: builtin.stats_sink, host: b }}\n\
             connections:\n  \
               - camera.out -> near.in\n  \
               - camera.out -> sink.in\n",
            self.endpoint(),
            yaml_path(&self.token),
            size.width,
            size.height,
        );
        std::fs::write(&pipeline, yaml)
            .map_err(|e| format!("writing {}: {e}", pipeline.display()))?;
        let mut command = self.pair.command(&self.pair.a, self.plexus);
        command.arg("run").arg(&pipeline).arg("--json");
        if let Length::Frames(frames) = length {
            command.args(["--frames", &frames.to_string()]);
        }
        let mut child = command
            .current_dir(self.scratch)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting plexus run: {e}"))?;
        let stdout = read_in_background(child.stdout.take().expect("piped"));
        let stderr = read_in_background(child.stderr.take().expect("piped"));
        let (readings, output) = self.watch_links(&mut child, &stdout, fps, length);
        let stderr = stderr.recv().unwrap_or_default();
        agent.drain();
        let output = output.map_err(|e| format!("{e}\n{stderr}\nagent:\n{}", agent.log))?;
        let summary: serde_json::Value = serde_json::from_str(output.trim())
            .map_err(|e| format!("the summary is not JSON ({e}): {output}\n{stderr}"))?;
        let expected = match length {
            Length::Frames(_) => "completed",
            Length::Window(_) => "stopped",
        };
        if summary["outcome"] != expected {
            return Err(format!(
                "the run ended `{}`, not `{expected}`:\n{summary:#}\n{stderr}\nagent:\n{}",
                summary["outcome"], agent.log
            ));
        }
        crossed(&summary, &readings).map_err(|e| format!("{e}: {summary:#}"))
    }

    /// Reads the link's figures with `plexus ps --json` in A about once a
    /// second while the run goes on; with [`Length::Window`], stops the run
    /// (SIGINT) once the link has carried frames that long. Returns every
    /// reading in which the link had carried frames, and the run's stdout.
    fn watch_links(
        &self,
        child: &mut Child,
        stdout: &Receiver<String>,
        fps: u64,
        length: Length,
    ) -> (Vec<LinkReading>, Result<String>) {
        let run_for = match length {
            Length::Frames(frames) => Duration::from_secs(frames / fps + 1),
            Length::Window(window) => window,
        };
        let deadline = Instant::now() + STARTUP + run_for;
        let mut readings: Vec<LinkReading> = Vec::new();
        let mut flowing_since = None;
        let mut interrupted = false;
        loop {
            if let Ok(output) = stdout.recv_timeout(Duration::from_secs(1)) {
                let _ = child.wait();
                return (readings, Ok(output));
            }
            if Instant::now() >= deadline {
                // SAFETY: kill(2) of our own child, not yet reaped.
                unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
                let _ = child.wait();
                return (readings, Err("the run did not end in time".into()));
            }
            if interrupted {
                continue;
            }
            let ps = self
                .pair
                .command(&self.pair.a, self.plexus)
                .args(["ps", "--json"])
                .current_dir(self.scratch)
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output();
            if let Some(reading) = ps
                .ok()
                .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
                .and_then(|ps| link_reading(&ps))
                .filter(|r| r.received > 0)
            {
                let since = *flowing_since.get_or_insert_with(Instant::now);
                readings.push(reading);
                if matches!(length, Length::Window(w) if since.elapsed() >= w) {
                    // SAFETY: kill(2) of our own child, not yet reaped.
                    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
                    interrupted = true;
                }
            }
        }
    }
}

/// How long a plexus run goes on.
#[derive(Clone, Copy)]
enum Length {
    Frames(u64),
    Window(Duration),
}

/// The bridged port as one `plexus ps --json` showed it.
#[derive(Debug, Clone, Copy)]
struct LinkReading {
    received: u64,
    dropped: u64,
    fps: f64,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
}

/// The one bridged port in a `plexus ps --json` listing, which holds
/// every runtime on the machine (B's part among them, whose workers the
/// coordinator's lists too): the coordinator's is the one with `near`.
fn link_reading(ps: &serde_json::Value) -> Option<LinkReading> {
    let runtime = ps["runtimes"].as_array()?.iter().find(|r| {
        r["pipeline"] == "hosts-bench"
            && r["workers"]
                .as_array()
                .is_some_and(|w| w.iter().any(|w| w["worker"] == "near"))
    })?;
    let link = runtime["links"].as_array()?.first()?;
    Some(LinkReading {
        received: link["received"].as_u64()?,
        dropped: link["dropped"].as_u64()?,
        fps: link["fps"].as_f64()?,
        p50_us: link["latency_us"]["p50"].as_f64(),
        p99_us: link["latency_us"]["p99"].as_f64(),
    })
}

/// The median of `values`, if there is one.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len().checked_sub(1)? / 2).copied()
}

/// The sink's figures in the run's summary, the link's from its readings:
/// the median of the per-second latencies and rates, leaving out the first
/// second (the link had not carried frames for all of it) when there are
/// more.
fn crossed(summary: &serde_json::Value, readings: &[LinkReading]) -> Result<Crossed> {
    // `near` is the coordinator's, `sink` in B's own summary.
    let processor = |name: &str| match name {
        "sink" => &summary["hosts"]["b"]["processors"]["sink"],
        _ => &summary["processors"][name],
    };
    let latency = |name: &str, key: &str| {
        processor(name)["latency_us"][key]
            .as_f64()
            .ok_or(format!("{name} has no `latency_us.{key}`"))
    };
    let sink = processor("sink");
    let sent = summary["processors"]["camera"]["frames_out"]
        .as_u64()
        .ok_or("the camera has no frames_out")?;
    let frames = sink["frames_in"]
        .as_u64()
        .ok_or("the sink has no frames_in")?;
    let steady = if readings.len() > 1 {
        &readings[1..]
    } else {
        readings
    };
    let link = match (
        median(steady.iter().filter_map(|r| r.p50_us).collect()),
        median(steady.iter().filter_map(|r| r.p99_us).collect()),
    ) {
        (Some(p50_us), Some(p99_us)) => Some(LinkLatency {
            p50_us,
            p99_us,
            dropped: readings.last().map_or(0, |r| r.dropped),
        }),
        _ => None,
    };
    Ok(Crossed {
        p50_us: latency("sink", "p50")?,
        p99_us: latency("sink", "p99")?,
        near_us: (latency("near", "p50")?, latency("near", "p99")?),
        frames,
        lost: sent.saturating_sub(frames),
        link,
        fps: median(steady.iter().map(|r| r.fps).collect()).unwrap_or(0.0),
    })
}

/// `plexus agent` in B; dropped, it is killed.
struct Agent {
    child: Option<Child>,
    lines: Receiver<String>,
    log: String,
}

impl Agent {
    fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push_str(&line);
                    self.log.push('\n');
                    if line.contains(needle) {
                        return Ok(());
                    }
                }
                Err(_) => {
                    return Err(format!(
                        "plexus agent said no `{needle}` within {timeout:?}:\n{}",
                        self.log
                    ))
                }
            }
        }
    }

    /// Keeps what the agent logged so far, for error messages.
    fn drain(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push_str(&line);
            self.log.push('\n');
        }
    }

    /// SIGINT, as a user's Ctrl-C, then waits.
    fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) of our own child, not yet reaped.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            let _ = child.wait();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
