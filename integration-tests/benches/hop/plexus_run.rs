//! The plexus side: writes a `builtin.test_pattern → builtin.stats_sink`
//! pipeline, runs it with the release `plexus`, and reads the sink's latency
//! from the `--json` summary.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bus::files::RuntimeFiles;
use ipc_schemas::Names;

use crate::plan::{Latency, Plan, Size, FPS};
use crate::Result;

/// Time a `plexus run` gets on top of its frames to start and stop.
const PLEXUS_SLACK: Duration = Duration::from_secs(60);
/// Time a timed-out `plexus run` gets to stop politely after SIGINT.
const PLEXUS_GRACE: Duration = Duration::from_secs(10);

/// Runs `builtin.test_pattern → builtin.stats_sink` with frames of `size`
/// and reads the sink's latency from the JSON summary.
pub fn measure(plexus: &Path, scratch: &Path, size: &Size, plan: Plan) -> Result<Latency> {
    let pipeline = scratch.join(format!("hop-{}.yaml", size.bytes()));
    let yaml = format!(
        "# Written by the hop benchmark: one Rust-to-Rust hop.\n\
         name: hop-bench\n\
         processors:\n  \
           camera: {{ type: builtin.test_pattern, config: {{ width: {}, height: {}, fps: {} }} }}\n  \
           sink: {{ type: builtin.stats_sink }}\n\
         connections:\n  \
           - camera.out -> sink.in\n",
        size.width, size.height, FPS
    );
    std::fs::write(&pipeline, yaml).map_err(|e| format!("writing {}: {e}", pipeline.display()))?;

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

/// Reads `stream` to its end on a thread; the text arrives on the channel.
fn read_in_background(mut stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    rx
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
                "hop: warning: `plexus run` left files with prefix {}",
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
    let sink = &summary["processors"]["sink"];
    let number = |key: &str| sink[key].as_f64().ok_or(format!("the sink has no `{key}`"));
    let sent = summary["processors"]["camera"]["frames_out"]
        .as_u64()
        .unwrap_or(0);
    let frames = sink["frames_in"].as_u64().unwrap_or(0);
    Ok(Latency {
        p50_us: number("latency_p50_us")?,
        p99_us: number("latency_p99_us")?,
        frames,
        lost: sent.saturating_sub(frames),
    })
}
