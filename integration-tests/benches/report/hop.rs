//! The plexus hops: writes a `builtin.test_pattern → <consumer>` pipeline,
//! runs it with the release `plexus`, and reads the consumer's latency from
//! the `--json` summary. The consumer is the Rust `builtin.stats_sink`, the
//! Python probe `test.py_header_probe` or the TypeScript probe
//! `test.ts_header_probe`; every one is given the id `sink`, so the summary
//! is read the same way.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use bus::files::RuntimeFiles;
use ipc_schemas::Names;

use crate::live::{read_in_background, yaml_path};
use crate::plan::{Latency, Plan, Size, FPS};
use crate::Result;

/// Time a `plexus run` gets on top of its frames to start and stop.
const PLEXUS_SLACK: Duration = Duration::from_secs(60);
/// Time a timed-out `plexus run` gets to stop politely after SIGINT.
const PLEXUS_GRACE: Duration = Duration::from_secs(10);

/// The processor at the receiving end of the measured hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consumer {
    /// `builtin.stats_sink`, in a native (Rust) worker.
    RustSink,
    /// `test.py_header_probe` of the `probe-python` fixture, in a Python
    /// worker; it reads `frame.seq` and nothing else.
    PythonProbe,
    /// `test.ts_header_probe` of the `probe-deno` fixture, in a Deno worker;
    /// it reads `header.seq` and nothing else.
    DenoProbe,
}

impl Consumer {
    /// Every hop the bench measures, in the order of the report's columns.
    pub const ALL: [Consumer; 3] = [
        Consumer::RustSink,
        Consumer::PythonProbe,
        Consumer::DenoProbe,
    ];

    /// How progress lines name this hop.
    pub fn label(self) -> &'static str {
        match self {
            Consumer::RustSink => "plexus Rust",
            Consumer::PythonProbe => "plexus Python",
            Consumer::DenoProbe => "plexus Deno",
        }
    }

    /// The processor type the pipeline gives the consumer.
    pub fn processor_type(self) -> &'static str {
        match self {
            Consumer::RustSink => "builtin.stats_sink",
            Consumer::PythonProbe => "test.py_header_probe",
            Consumer::DenoProbe => "test.ts_header_probe",
        }
    }

    /// The package directory the consumer comes from, if it is not built in.
    pub fn package(self) -> Option<PathBuf> {
        let fixture = match self {
            Consumer::RustSink => return None,
            Consumer::PythonProbe => "probe-python",
            Consumer::DenoProbe => "probe-deno",
        };
        Some(integration_tests::fixture(fixture))
    }

    /// A short name for the pipeline file.
    fn file_tag(self) -> &'static str {
        match self {
            Consumer::RustSink => "rust",
            Consumer::PythonProbe => "python",
            Consumer::DenoProbe => "deno",
        }
    }
}

/// The pipeline `builtin.test_pattern → consumer` with frames of `size`,
/// and `top` (top-level lines, such as a `sandbox:`) added.
pub fn pipeline_yaml(consumer: Consumer, size: &Size, top: &str) -> String {
    let packages = match consumer.package() {
        Some(dir) => format!("packages: [{}]\n", yaml_path(&dir)),
        None => String::new(),
    };
    format!(
        "# Written by the hop benchmark: one hop into a {} consumer.\n\
         name: hop-bench\n\
         {top}\
         {packages}\
         processors:\n  \
           camera: {{ type: builtin.test_pattern, config: {{ width: {}, height: {}, fps: {} }} }}\n  \
           sink: {{ type: {} }}\n\
         connections:\n  \
           - camera.out -> sink.in\n",
        consumer.file_tag(),
        size.width,
        size.height,
        FPS,
        consumer.processor_type(),
    )
}

/// Runs `builtin.test_pattern → consumer` with frames of `size` and reads
/// the consumer's latency from the JSON summary.
pub fn measure(
    plexus: &Path,
    scratch: &Path,
    consumer: Consumer,
    size: &Size,
    plan: Plan,
) -> Result<Latency> {
    let pipeline = scratch.join(format!("hop-{}-{}.yaml", consumer.file_tag(), size.bytes()));
    std::fs::write(&pipeline, pipeline_yaml(consumer, size, ""))
        .map_err(|e| format!("writing {}: {e}", pipeline.display()))?;

    let mut child = Command::new(plexus)
        .arg("run")
        .arg(&pipeline)
        .args(["--frames", &plan.total().to_string(), "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", plexus.display()))?;
    let stdout = read_in_background(child.stdout.take().expect("piped"));
    let stderr = read_in_background(child.stderr.take().expect("piped"));

    // stdout ends when plexus exits; waiting for it with a deadline bounds
    // the run without polling the child.
    let deadline = plan.total() as u32 * plan.interval() + PLEXUS_SLACK;
    let output = match stdout.recv_timeout(deadline) {
        Ok(output) => Ok(output),
        Err(_) => {
            // SAFETY: kill(2) on our own child, not yet reaped, so its pid
            // cannot have been reused. SIGINT lets plexus stop its workers
            // and remove its files.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            if stdout.recv_timeout(PLEXUS_GRACE).is_err() {
                let _ = child.kill();
            }
            Err(format!(
                "`plexus run` took longer than {deadline:?} and was stopped"
            ))
        }
    };
    let status = child
        .wait()
        .map_err(|e| format!("waiting for plexus: {e}"))?;
    let stderr = stderr.recv().unwrap_or_default();
    let output = output?;
    if !status.success() {
        return Err(format!(
            "`plexus run {}` failed ({status}):\n{stderr}",
            pipeline.display()
        ));
    }
    parse_summary(&output)
        .map_err(|e| format!("{e}\nplexus stdout:\n{output}\nplexus stderr:\n{stderr}"))
}

fn parse_summary(output: &str) -> Result<Latency> {
    let summary: serde_json::Value = output
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .ok_or("`plexus run --json` printed no JSON summary")?;
    // The supervisor removes its runtime's files; a leftover is a plexus bug
    // worth shouting about, and is removed so the bench leaves nothing.
    if let Some(runtime) = summary["runtime"].as_str().and_then(|r| Names::new(r).ok()) {
        let files = RuntimeFiles::new(&runtime);
        if files.any_left() {
            eprintln!(
                "report: warning: `plexus run` left files with prefix {}",
                files.prefix()
            );
            files.remove_all();
        }
    }
    if summary["outcome"] != "completed" {
        return Err(format!(
            "the run ended `{}`, not `completed`",
            summary["outcome"]
        ));
    }
    sink_latency(&summary)
}

/// The latency at `sink` of a `camera → sink` run's `--json` summary, over
/// every frame the sink took, and the frames `camera` sent that it did not.
pub fn sink_latency(summary: &serde_json::Value) -> Result<Latency> {
    let sink = &summary["processors"]["sink"];
    let number = |key: &str| {
        sink["latency_us"][key]
            .as_f64()
            .ok_or(format!("the sink has no `latency_us.{key}`"))
    };
    let sent = summary["processors"]["camera"]["frames_out"]
        .as_u64()
        .unwrap_or(0);
    let frames = sink["frames_in"].as_u64().unwrap_or(0);
    Ok(Latency {
        p50_us: number("p50")?,
        p99_us: number("p99")?,
        frames,
        lost: sent.saturating_sub(frames),
        cpu_us: None,
    })
}
