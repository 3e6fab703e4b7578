//! The MCAP file a recording is written to, on a thread of its own so that
//! the observer that copies frames out of shared memory never waits for the
//! disk. The file is flushed at least every [`FLUSH_EVERY`]: each flush ends
//! an MCAP chunk, so a recorder killed outright leaves a file that readers
//! open up to its last flush.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ipc_schemas::recording::{self, Layout};
use ipc_schemas::{FrameHeader, SchemaId};
use mcap::records::{MessageHeader, Metadata};
use mcap::{Compression, WriteOptions, Writer};

/// The longest a frame stays in memory before it is on disk.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// How the file's chunks are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compressed {
    None,
    Lz4,
    Zstd,
}

/// One port of the recording. Its channel is added with its first frame,
/// whose header says its schema.
pub struct Port {
    pub processor: String,
    pub port: String,
}

/// A frame copied out of shared memory, on its way to the file.
pub struct Frame {
    pub port: usize,
    pub header: FrameHeader,
    pub payload: Vec<u8>,
    /// Its time in the file: nanoseconds since the UNIX epoch.
    pub log_ns: u64,
}

/// What the runtime was, for the file's metadata.
pub struct About {
    pub runtime: String,
    pub pipeline: String,
}

/// Why the file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write `{}` ({})", path.display(), reason(source))]
pub struct WriteError {
    path: PathBuf,
    source: mcap::McapError,
}

/// The I/O error itself when there is one ("No space left on device"),
/// not mcap's general words for it.
fn reason(error: &mcap::McapError) -> String {
    match error {
        mcap::McapError::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

/// The writing thread and the frames queued for it.
pub struct RecordingFile {
    frames: Sender<Frame>,
    /// Bytes of payload queued and not yet written.
    queued: Arc<AtomicUsize>,
    budget: usize,
    thread: JoinHandle<Result<(), WriteError>>,
}

impl RecordingFile {
    /// Creates `path`, which must not exist, with a channel per port, and
    /// starts its writing thread. `budget` bounds the bytes queued.
    pub fn create(
        path: &Path,
        compressed: Compressed,
        about: &About,
        ports: &[Port],
        budget: usize,
    ) -> std::io::Result<Self> {
        // Never through an existing file or link: a shared directory may hold
        // another user's.
        let file = File::options().write(true).create_new(true).open(path)?;
        let failed = |source| WriteError {
            path: path.to_path_buf(),
            source,
        };
        let writer = open(file, compressed, about)
            .map_err(failed)
            .map_err(std::io::Error::other)?;
        let ports: Vec<(Port, Option<Channel>)> = ports
            .iter()
            .map(|p| {
                let port = Port {
                    processor: p.processor.clone(),
                    port: p.port.clone(),
                };
                (port, None)
            })
            .collect();
        let (frames, received) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let thread = {
            let queued = Arc::clone(&queued);
            let path = path.to_path_buf();
            std::thread::Builder::new()
                .name("recording".into())
                .spawn(move || {
                    write_all(writer, ports, received, &queued)
                        .map_err(|source| WriteError { path, source })
                })?
        };
        Ok(Self {
            frames,
            queued,
            budget,
            thread,
        })
    }

    /// Queues `frame`; false, and the frame dropped, when the queue is at
    /// its budget (the disk is behind) or the writer has stopped.
    pub fn queue(&self, frame: Frame) -> bool {
        let len = frame.payload.len();
        if self.queued.load(Ordering::Relaxed) + len > self.budget {
            return false;
        }
        self.queued.fetch_add(len, Ordering::Relaxed);
        self.frames.send(frame).is_ok()
    }

    /// Whether the writer has stopped, which it does only on an error.
    pub fn failed(&self) -> bool {
        self.thread.is_finished()
    }

    /// Writes what is queued and finishes the file.
    pub fn finish(self) -> Result<(), WriteError> {
        drop(self.frames);
        self.thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

/// A port's channel in the file and how its frames are written.
#[derive(Clone, Copy)]
struct Channel {
    id: u16,
    layout: Layout,
}

type McapWriter = Writer<BufWriter<File>>;

fn open(file: File, compressed: Compressed, about: &About) -> Result<McapWriter, mcap::McapError> {
    let compression = match compressed {
        Compressed::None => None,
        Compressed::Lz4 => Some(Compression::Lz4),
        Compressed::Zstd => Some(Compression::Zstd),
    };
    let mut writer = WriteOptions::new()
        .compression(compression)
        // One thread: the recorder shares the machine with the pipeline.
        .compression_threads(0)
        .library(concat!("plexus/", env!("CARGO_PKG_VERSION")))
        .create(BufWriter::with_capacity(1 << 20, file))?;
    writer.write_metadata(&Metadata {
        name: "plexus.recording".into(),
        metadata: BTreeMap::from([
            ("runtime".into(), about.runtime.clone()),
            ("pipeline".into(), about.pipeline.clone()),
            ("plexus".into(), env!("CARGO_PKG_VERSION").into()),
        ]),
    })?;
    writer.flush()?;
    Ok(writer)
}

/// Adds the channel of `port`, whose frames are of `schema` (a code no
/// schema has is written as a plain frame).
fn add_channel(
    writer: &mut McapWriter,
    port: &Port,
    schema: u32,
) -> Result<Channel, mcap::McapError> {
    let known = SchemaId::from_code(schema);
    let layout = known.map_or(Layout::Frame, Layout::of);
    let (schema_id, encoding) = match layout {
        Layout::RawImage(_) => (
            writer.add_schema(
                recording::RAW_IMAGE,
                recording::PROTOBUF,
                recording::RAW_IMAGE_DESCRIPTOR,
            )?,
            recording::PROTOBUF,
        ),
        Layout::Frame => (0, recording::FRAME_ENCODING),
    };
    let metadata = BTreeMap::from([
        ("processor".to_string(), port.processor.clone()),
        ("port".to_string(), port.port.clone()),
        (
            "schema".to_string(),
            known.map_or_else(|| format!("unknown ({schema})"), |s| s.name().to_string()),
        ),
    ]);
    let topic = recording::topic(&port.processor, &port.port);
    let id = writer.add_channel(schema_id, &topic, encoding, &metadata)?;
    Ok(Channel { id, layout })
}

/// The writing thread: every frame, then the file's summary.
fn write_all(
    mut writer: McapWriter,
    mut ports: Vec<(Port, Option<Channel>)>,
    frames: Receiver<Frame>,
    queued: &AtomicUsize,
) -> Result<(), mcap::McapError> {
    let mut message = Vec::new();
    let mut flushed = Instant::now();
    loop {
        let frame = match frames.recv_timeout(FLUSH_EVERY) {
            Ok(frame) => frame,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                writer.flush()?;
                flushed = Instant::now();
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let (port, channel) = &mut ports[frame.port];
        let channel = match channel {
            Some(channel) => *channel,
            None => *channel.insert(add_channel(&mut writer, port, frame.header.schema)?),
        };
        recording::encode(
            channel.layout,
            &frame.header,
            &frame.payload,
            frame.log_ns,
            &mut message,
        );
        queued.fetch_sub(frame.payload.len(), Ordering::Relaxed);
        drop(frame.payload);
        writer.write_to_known_channel(
            &MessageHeader {
                channel_id: channel.id,
                // MCAP's counter is 32 bits; the whole sequence number is in
                // the message's frame header.
                sequence: frame.header.seq as u32,
                log_time: frame.log_ns,
                publish_time: frame.log_ns,
            },
            &message,
        )?;
        if flushed.elapsed() >= FLUSH_EVERY {
            writer.flush()?;
            flushed = Instant::now();
        }
    }
    writer.finish()?;
    Ok(())
}
