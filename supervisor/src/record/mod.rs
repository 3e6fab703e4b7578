//! `plexus record PROCESSOR.PORT…`: an observer, like `tap`, that copies
//! every frame of the ports it names out of shared memory into an MCAP
//! file, and `plexus recording info`, which reads such a file back. The
//! recorder takes frames off its queues as soon as they arrive and leaves
//! the disk to a thread of its own, with a queue of [`QUEUE_BYTES`]; a
//! frame it still misses (its queue in shared memory overflowed, or the
//! disk fell that far behind) is counted by port and reported, never lost
//! silently.

mod file;
mod images;
mod info;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use bus::frames::{FrameSubscriber, Received};
use bus::wake::WakeListener;
use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::recording::Codec;
use ipc_schemas::FrameHeader;

use crate::error::UserError;
use crate::observe::client::{self, Client};
use crate::observe::{subscribe, Waiter, Woken};
pub use file::{Compressed, Split};
use file::{Port, RecordingFile, Settings};
pub use info::info;

/// Frames copied out of shared memory and not yet written, at most.
const QUEUE_BYTES: usize = 512 << 20;

pub struct RecordOptions {
    /// `PROCESSOR.PORT`s.
    pub targets: Vec<String>,
    pub runtime: Option<String>,
    pub output: Option<PathBuf>,
    pub duration: Option<Duration>,
    /// Frames per port.
    pub frames: Option<u64>,
    pub compression: Compressed,
    pub split: Split,
    pub video_codec: VideoCodec,
}

/// How video frames are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VideoCodec {
    /// As they are (`foxglove.RawImage`).
    None,
    /// JPEG files (`foxglove.CompressedImage`): small, lossy.
    Jpeg,
    /// PNG files (`foxglove.CompressedImage`): lossless.
    Png,
}

impl VideoCodec {
    fn codec(self) -> Option<Codec> {
        match self {
            VideoCodec::None => None,
            VideoCodec::Jpeg => Some(Codec::Jpeg),
            VideoCodec::Png => Some(Codec::Png),
        }
    }
}

/// One recorded port: where its frames come from and what it counted.
struct Source {
    target: String,
    frames: FrameSubscriber,
    wake: WakeListener,
    recorded: u64,
    missed: u64,
    last_seq: Option<u64>,
}

/// Records until the frame count, the duration, Ctrl-C or the runtime's
/// end; returns the exit code.
pub fn record(options: &RecordOptions) -> Result<i32> {
    let runtime = client::choose_runtime(options.runtime.as_deref())?;
    let client = Client::connect(&runtime.id)?;
    let status = client.status()?;
    let mut sources = Vec::new();
    let mut ports = Vec::new();
    for target in &options.targets {
        let Some((processor, port)) = target.split_once('.') else {
            bail!(UserError::Plain(format!(
                "`{target}` is not PROCESSOR.PORT (for example `camera.out`)"
            )));
        };
        if ports
            .iter()
            .any(|p: &Port| p.processor == processor && p.port == port)
        {
            bail!(UserError::Plain(format!("`{target}` is named twice")));
        }
        let (frames, wake) = subscribe(&client, &status, processor, port)?;
        sources.push(Source {
            target: target.clone(),
            frames,
            wake,
            recorded: 0,
            missed: 0,
            last_seq: None,
        });
        ports.push(Port {
            processor: processor.to_string(),
            port: port.to_string(),
        });
    }
    let path = options
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.mcap", runtime.id)));
    let settings = Settings {
        runtime: runtime.id.clone(),
        pipeline: status.pipeline.clone(),
        compressed: options.compression,
        split: options.split,
        codec: options.video_codec.codec(),
    };
    let file = RecordingFile::create(&path, settings, &ports, QUEUE_BYTES)
        .map_err(|e| UserError::Plain(e.to_string()))?;
    eprintln!(
        "plexus: recording {} of runtime {} to {} (Ctrl-C to stop)",
        options.targets.join(", "),
        runtime.id,
        path.display()
    );
    let started = Instant::now();
    // Frames carry the monotonic clock; the file wants the calendar's.
    let epoch_offset = unix_ns().saturating_sub(monotonic_ns());
    let waiter = Waiter::new(runtime.pid)?;
    let ended = loop {
        let mut done = true;
        for (port, source) in sources.iter_mut().enumerate() {
            take(port, source, &file, options.frames, epoch_offset)?;
            done &= options.frames.is_some_and(|n| source.recorded >= n);
        }
        if done {
            break Ended::Counted;
        }
        if file.failed() {
            break Ended::WriteFailed;
        }
        let left = options
            .duration
            .map(|d| d.saturating_sub(started.elapsed()));
        if left == Some(Duration::ZERO) {
            break Ended::Counted;
        }
        let wakes: Vec<&WakeListener> = sources.iter().map(|s| &s.wake).collect();
        // The writer is looked at once a second at least.
        let timeout = left
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        let ended = match waiter.wait_for(&wakes, Some(timeout))? {
            Woken::News => continue,
            Woken::Interrupted => Ended::Interrupted,
            Woken::SupervisorGone => Ended::RuntimeGone,
        };
        // What arrived before the end is recorded too: a run that records
        // itself stops its recorder only once its workers have drained.
        for (port, source) in sources.iter_mut().enumerate() {
            take(port, source, &file, options.frames, epoch_offset)?;
        }
        break ended;
    };
    let written = file.finish();
    let seconds = started.elapsed().as_secs_f64();
    let counts: Vec<String> = sources
        .iter()
        .map(|s| format!("{} {} frames, {} missed", s.target, s.recorded, s.missed))
        .collect();
    if ended == Ended::RuntimeGone {
        client::leave_ending_runtime((sources, client));
    }
    let files = match written {
        Ok(files) => files,
        Err(e) => bail!(UserError::Plain(format!(
            "{e}; the file holds the frames written up to its last complete chunk"
        ))),
    };
    let size: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    eprintln!(
        "plexus: {} {} in {seconds:.1} s: {} ({:.1} MiB)",
        match ended {
            Ended::RuntimeGone => "the runtime ended; recorded",
            _ => "recorded",
        },
        names.join(", "),
        counts.join("; "),
        size as f64 / f64::from(1 << 20)
    );
    Ok(0)
}

/// Why recording stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// `--frames` or `--duration` reached.
    Counted,
    Interrupted,
    RuntimeGone,
    /// The writing thread stopped on an error.
    WriteFailed,
}

/// Copies every frame waiting on `source` into the file's queue.
fn take(
    port: usize,
    source: &mut Source,
    file: &RecordingFile,
    limit: Option<u64>,
    epoch_offset: u64,
) -> Result<()> {
    source.wake.drain()?;
    while let Received::Frame(frame) = source.frames.receive()? {
        let header: FrameHeader = *frame.user_header();
        if let Some(last) = source.last_seq {
            // A sequence gap is frames this queue lost before we took them.
            source.missed += header.seq.saturating_sub(last + 1);
        }
        source.last_seq = Some(header.seq.max(source.last_seq.unwrap_or(0)));
        if limit.is_some_and(|n| source.recorded >= n) {
            continue;
        }
        let captured = match header.capture_ns {
            0 => monotonic_ns(),
            ns => ns,
        };
        let log_ns = captured.saturating_add(epoch_offset);
        let queued = file.take(port, &header, frame.payload(), log_ns);
        drop(frame);
        match queued {
            true => source.recorded += 1,
            false => source.missed += 1,
        }
    }
    Ok(())
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
