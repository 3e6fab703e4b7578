//! Sustained recording (issue 17): `plexus record camera.out` of a
//! `builtin.test_pattern → builtin.stats_sink` run at [`FPS`], at 480p and
//! 1080p RGBA, with no compression, lz4 and zstd, beside `dd` writing to the
//! same file system in the same run.
//!
//! Each case records for [`Plan::seconds`] with `--duration`; the recorder
//! reports the frames it recorded and missed per port, its CPU time (user +
//! system, from `wait4`) is divided by the frames recorded, and its write
//! rate is the file's size over the time it recorded. `dd` writes zeros in
//! 8 MiB blocks with `conv=fdatasync`, so its rate is what the disk takes
//! sustained; the recorder leaves its writes to the page cache. The target,
//! no frame missed uncompressed at 60 frames/s, holds where `dd`'s rate is
//! at least the frames' byte rate.

use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::live::Plexus;
use crate::target::Target;
use crate::throughput::STARTUP;
use crate::Result;

const FPS: u32 = 60;
const COMPRESSIONS: [&str; 3] = ["none", "lz4", "zstd"];

/// A frame size of the run.
#[derive(Clone, Copy)]
pub struct Size {
    pub label: &'static str,
    width: u32,
    height: u32,
}

impl Size {
    fn bytes_per_second(self) -> f64 {
        f64::from(self.width) * f64::from(self.height) * 4.0 * f64::from(FPS)
    }
}

const SIZES: [Size; 2] = [
    Size {
        label: "480p",
        width: 640,
        height: 480,
    },
    Size {
        label: "1080p",
        width: 1920,
        height: 1080,
    },
];

/// How long each case records.
#[derive(Clone, Copy)]
pub struct Plan {
    seconds: u64,
}

impl Plan {
    pub fn new(quick: bool) -> Self {
        Self {
            seconds: if quick { 1 } else { 5 },
        }
    }
}

/// One recording.
pub struct Case {
    pub size: Size,
    pub compression: &'static str,
    pub recorded: u64,
    pub missed: u64,
    /// The recorder's CPU time per frame recorded, in µs.
    pub cpu_us: f64,
    /// File bytes per second of recording, in MB/s.
    pub write_mb_s: f64,
    /// File bytes over frame bytes.
    pub ratio: f64,
}

pub struct Recording {
    pub plan: Plan,
    /// `dd`'s sustained write rate on the scratch file system, MB/s.
    pub dd_mb_s: f64,
    pub cases: Vec<Case>,
}

pub fn measure(plexus: &Path, scratch: &Path, quick: bool) -> Result<Recording> {
    let plan = Plan::new(quick);
    let dd_mb_s = dd(scratch, if quick { 8 } else { 64 })?;
    let mut cases = Vec::new();
    for size in SIZES {
        let pipeline = scratch.join(format!("record-{}.yaml", size.label));
        std::fs::write(
            &pipeline,
            format!(
                "# Written by the recording benchmark.\n\
                 name: record-bench\n\
                 processors:\n  \
                   camera: {{ type: builtin.test_pattern, config: {{ width: {}, height: {}, fps: {FPS} }} }}\n  \
                   sink: {{ type: builtin.stats_sink }}\n\
                 connections: [camera.out -> sink.in]\n",
                size.width, size.height
            ),
        )
        .map_err(|e| format!("writing {}: {e}", pipeline.display()))?;
        let mut run = Plexus::start(plexus, &pipeline, scratch)?;
        let runtime = run.wait_for_runtime(STARTUP)?;
        run.wait_for_processor("sink", STARTUP)?;
        for compression in COMPRESSIONS {
            eprintln!(
                "report: recording {} at {FPS} frames/s, compression {compression}",
                size.label
            );
            let case = record(plexus, scratch, &runtime, size, compression, plan)
                .map_err(|e| format!("recording {} {compression}: {e}", size.label))?;
            cases.push(case);
            run.check_workers()?;
        }
        run.stop()?;
    }
    Ok(Recording {
        plan,
        dd_mb_s,
        cases,
    })
}

/// `dd` of `blocks` × 8 MiB of zeros with `conv=fdatasync`: MB/s.
fn dd(scratch: &Path, blocks: u32) -> Result<f64> {
    let file = scratch.join("dd.bin");
    let started = Instant::now();
    let status = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", file.display()))
        .args(["bs=8M", &format!("count={blocks}"), "conv=fdatasync"])
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("running dd: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&file);
    if !status.success() {
        return Err(format!("dd failed: {status}"));
    }
    Ok(f64::from(blocks) * 8.0 * f64::from(1 << 20) / 1e6 / seconds)
}

/// One `plexus record camera.out --duration` into the scratch directory.
fn record(
    plexus: &Path,
    scratch: &Path,
    runtime: &str,
    size: Size,
    compression: &'static str,
    plan: Plan,
) -> Result<Case> {
    let file = scratch.join(format!("record-{}-{compression}.mcap", size.label));
    let _ = std::fs::remove_file(&file);
    let child = Command::new(plexus)
        .args([
            "record",
            "camera.out",
            "--runtime",
            runtime,
            "--compression",
            compression,
        ])
        .args(["--duration", &plan.seconds.to_string(), "-o"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting plexus record: {e}"))?;
    let pid = child.id();
    let stderr = crate::live::read_in_background(child.stderr.expect("piped"));
    let (status, cpu) = wait_with_cpu(pid)?;
    let log = stderr
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_default();
    if !status.success() {
        return Err(format!("plexus record ended {status}: {log}"));
    }
    let (recorded, missed) = counts(&log).ok_or(format!("no counts in: {log}"))?;
    let bytes = std::fs::metadata(&file).map_or(0, |m| m.len()) as f64;
    let _ = std::fs::remove_file(&file);
    let frame_bytes = f64::from(size.width) * f64::from(size.height) * 4.0;
    Ok(Case {
        size,
        compression,
        recorded,
        missed,
        cpu_us: cpu.as_secs_f64() * 1e6 / recorded.max(1) as f64,
        write_mb_s: bytes / 1e6 / plan.seconds as f64,
        ratio: bytes / (frame_bytes * recorded.max(1) as f64),
    })
}

/// Waits for child `pid`; its exit status and CPU time (user + system).
fn wait_with_cpu(pid: u32) -> Result<(std::process::ExitStatus, Duration)> {
    let mut status = 0;
    // SAFETY: zeroed `rusage` is a valid out-parameter for wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child, writing only to the out-parameters.
    let waited = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
    if waited != pid as i32 {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok((
        std::process::ExitStatus::from_raw(status),
        time(usage.ru_utime) + time(usage.ru_stime),
    ))
}

/// "camera.out N frames, M missed" from the recorder's last line.
fn counts(log: &str) -> Option<(u64, u64)> {
    let rest = &log[log.rfind("camera.out ")? + "camera.out ".len()..];
    let mut words = rest.split([' ', ',']);
    let recorded = words.next()?.parse().ok()?;
    let missed = words.find_map(|w| w.parse().ok())?;
    Some((recorded, missed))
}

pub fn targets(recording: &Recording) -> Vec<Target> {
    SIZES
        .iter()
        .filter_map(|size| {
            let case = recording
                .cases
                .iter()
                .find(|c| c.size.label == size.label && c.compression == "none")?;
            let needed = size.bytes_per_second() / 1e6;
            let measured = match recording.dd_mb_s >= needed {
                true => (
                    format!("{} missed of {}", case.missed, case.recorded + case.missed),
                    case.missed == 0,
                ),
                false => (
                    format!(
                        "{} missed of {}; dd writes {:.0} MB/s, below the {needed:.0} MB/s \
                         the frames need, so the target does not apply",
                        case.missed,
                        case.recorded + case.missed,
                        recording.dd_mb_s
                    ),
                    true,
                ),
            };
            Some(Target::new(
                format!(
                    "recording {} RGBA at {FPS} frames/s, uncompressed",
                    size.label
                ),
                "no frame missed, where `dd`'s write rate allows".into(),
                Some(measured),
            ))
        })
        .collect()
}

pub fn render(out: &mut String, recording: &Recording) {
    let _ = writeln!(
        out,
        "## Recording\n\n\
         `plexus record camera.out` of `builtin.test_pattern → builtin.stats_sink` at {FPS} \
         frames/s for {} s per case. **CPU µs/frame**: the recorder's CPU time (user + system) \
         ÷ the frames it recorded; **write MB/s**: the file's size ÷ the time recorded \
         (buffered, as the recorder leaves it to the page cache); **size**: the file ÷ the \
         frames' bytes. `dd` (8 MiB blocks of zeros, `conv=fdatasync`) wrote {:.0} MB/s to \
         the same file system in this run.\n",
        recording.plan.seconds, recording.dd_mb_s
    );
    let _ = writeln!(
        out,
        "| frames | compression | frames needed MB/s | recorded | missed | CPU µs/frame | write MB/s | size |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|");
    for case in &recording.cases {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {} | {} | {:.0} | {:.0} | {:.2} |",
            case.size.label,
            case.compression,
            case.size.bytes_per_second() / 1e6,
            case.recorded,
            case.missed,
            case.cpu_us,
            case.write_mb_s,
            case.ratio
        );
    }
    out.push('\n');
}
