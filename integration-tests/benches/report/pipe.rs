//! The pipe baseline: the bytes of one frame of each size, with a 16-byte
//! header (sequence number, capture time), written by a child process into a
//! Unix pipe and read here — what a hand-rolled multi-process design without
//! shared memory does. The pipe has the kernel's default capacity (64 KiB),
//! so a large frame crosses in many write/read rounds, as it would there.
//! After the frames the writer sends its CPU time as an 8-byte trailer.

use std::fs::File;
use std::io::{Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use ipc_schemas::frame::monotonic_ns;
use worker_lifecycle::LatencyHistogram;

use crate::child::{check_status, die_with_parent, number, pace};
use crate::plan::{cpu_per_frame, Latency, Plan, Size};
use crate::Result;
use integration_tests::bench::thread_cpu_ns;

/// First argument that turns this binary into the pipe writer child.
pub const WRITER_ROLE: &str = "--pipe-writer";
const HEADER: usize = 16;

/// Kills the writer if the measurement ends early.
struct Writer(Child);

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Measures the pipe hop for one size.
pub fn measure(size: &Size, plan: Plan) -> Result<Latency> {
    let exe = std::env::current_exe().map_err(|e| format!("locating the bench binary: {e}"))?;
    let child = Command::new(exe)
        .arg(WRITER_ROLE)
        .args([
            size.bytes().to_string(),
            plan.total().to_string(),
            plan.warmup.to_string(),
            plan.interval().as_micros().to_string(),
            std::process::id().to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the pipe writer: {e}"))?;
    let mut writer = Writer(child);
    let mut pipe = writer.0.stdout.take().expect("piped");

    let mut frame = vec![0u8; HEADER + size.bytes()];
    let mut histogram = LatencyHistogram::default();
    let mut measured = 0;
    let mut cpu_from = 0;
    for _ in 0..plan.total() {
        pipe.read_exact(&mut frame)
            .map_err(|e| format!("reading the pipe: {e}"))?;
        let now = monotonic_ns();
        let field = |at: usize| u64::from_ne_bytes(frame[at..at + 8].try_into().expect("8 bytes"));
        let (seq, capture_ns) = (field(0), field(8));
        if seq >= plan.warmup {
            histogram.record(now.saturating_sub(capture_ns));
            measured += 1;
        }
        if seq == plan.warmup {
            cpu_from = thread_cpu_ns();
        }
    }
    let receiver_cpu = thread_cpu_ns() - cpu_from;
    let mut trailer = [0u8; 8];
    pipe.read_exact(&mut trailer)
        .map_err(|e| format!("reading the writer's CPU time: {e}"))?;
    let sender_cpu = u64::from_ne_bytes(trailer);
    let status = writer
        .0
        .wait()
        .map_err(|e| format!("waiting for the pipe writer: {e}"))?;
    check_status("the pipe writer", status)?;
    let summary = histogram
        .summary()
        .ok_or("the pipe reader measured no frame")?;
    Ok(Latency {
        p50_us: summary.p50_ns as f64 / 1000.0,
        p99_us: summary.p99_ns as f64 / 1000.0,
        frames: measured,
        lost: plan.measured.saturating_sub(measured),
        cpu_us: cpu_per_frame(sender_cpu, receiver_cpu, plan),
    })
}

/// The child side: writes `frames` frames of `bytes` payload bytes to its
/// stdout at a fixed pace, each stamped just before its write begins, then
/// the CPU time it spent from just after frame `warmup` to the last.
pub fn writer_main(args: &[String]) -> Result<()> {
    let [bytes, frames, warmup, interval_us, parent] = args else {
        return Err(format!("expected 5 arguments, got {args:?}"));
    };
    let warmup = number(warmup)?;
    die_with_parent(number(parent)?)?;
    let (bytes, frames) = (number(bytes)? as usize, number(frames)?);
    let interval = std::time::Duration::from_micros(number(interval_us)?);
    // SAFETY: fd 1 is this process's stdout, the pipe to the bench; it is
    // written unbuffered and never closed here (ManuallyDrop).
    let mut out = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
    let mut frame = vec![0x5a_u8; HEADER + bytes];
    let start = Instant::now();
    let mut cpu_from = 0;
    for seq in 0..frames {
        frame[..8].copy_from_slice(&seq.to_ne_bytes());
        frame[8..16].copy_from_slice(&monotonic_ns().to_ne_bytes());
        out.write_all(&frame)
            .map_err(|e| format!("writing the pipe: {e}"))?;
        if seq == warmup {
            cpu_from = thread_cpu_ns();
        }
        pace(start, interval, seq);
    }
    out.write_all(&(thread_cpu_ns() - cpu_from).to_ne_bytes())
        .map_err(|e| format!("writing the pipe: {e}"))
}
