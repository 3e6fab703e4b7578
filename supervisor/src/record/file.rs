//! The MCAP files a recording is written to, on a thread of its own so
//! that the observer that copies frames out of shared memory never waits
//! for the disk. Each file is flushed at least every [`FLUSH_EVERY`]: each
//! flush ends an MCAP chunk, so a recorder killed outright leaves a file
//! that readers open up to its last flush. With a [`Split`] the recording
//! moves on to a new file (`<stem>-0001.mcap`, `-0002`, …) by size or time.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ipc_schemas::recording::{self, Codec, Layout};
use ipc_schemas::{FrameHeader, SchemaId};
use mcap::records::{MessageHeader, Metadata};
use mcap::{Compression, WriteOptions, Writer};

use super::images;

/// The longest a frame stays in memory before it is on disk.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// How the files' chunks are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compressed {
    None,
    Lz4,
    Zstd,
}

/// When a recording moves on to its next file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// One file.
    Never,
    /// When the file holds this many bytes of messages, uncompressed.
    Bytes(u64),
    /// When the file was opened this long ago.
    Every(Duration),
}

/// One port of the recording. Its channel is added to each file with its
/// first frame there, whose header says its schema.
#[derive(Clone)]
pub struct Port {
    pub processor: String,
    pub port: String,
}

/// A frame copied out of shared memory, on its way to the file.
struct Frame {
    port: usize,
    header: FrameHeader,
    /// Its time in the file: nanoseconds since the UNIX epoch.
    log_ns: u64,
    /// Its message, or, for a frame to compress, its pixels
    /// ([`RecordingFile::take`]).
    body: Vec<u8>,
}

/// How frames of schema `schema` are written.
fn layout_of(schema: u32, codec: Option<Codec>) -> Layout {
    SchemaId::from_code(schema).map_or(Layout::Frame, |s| Layout::of(s, codec))
}

/// Message buffers kept for reuse: allocating a frame's worth of memory
/// for each frame costs more than copying it.
const SPARE_BUFFERS: usize = 16;

/// What every file says of the recording.
pub struct Settings {
    pub runtime: String,
    pub pipeline: String,
    pub compressed: Compressed,
    pub split: Split,
    /// Video as image files instead of raw pixels.
    pub codec: Option<Codec>,
}

/// Why a file could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot create `{}` ({source}){}", path.display(), hint(source))]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write `{}` ({})", path.display(), reason(source))]
    Write {
        path: PathBuf,
        source: mcap::McapError,
    },
}

fn hint(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::AlreadyExists => "; remove it or record to another file",
        _ => "",
    }
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
    /// Written messages' buffers, back for reuse.
    spare: Receiver<Vec<u8>>,
    /// Bytes of messages queued and not yet written.
    queued: Arc<AtomicUsize>,
    budget: usize,
    codec: Option<Codec>,
    thread: JoinHandle<Result<Vec<PathBuf>, WriteError>>,
}

impl RecordingFile {
    /// Creates the first file at `path` (numbered when the recording is
    /// split), which must not exist, and starts the writing thread.
    /// `budget` bounds the bytes queued.
    pub fn create(
        path: &Path,
        settings: Settings,
        ports: &[Port],
        budget: usize,
    ) -> Result<Self, WriteError> {
        let first = Segment::open(path, &settings, 1)?;
        let codec = settings.codec;
        let (frames, received) = mpsc::channel();
        let (give_back, spare) = mpsc::sync_channel(SPARE_BUFFERS);
        let queued = Arc::new(AtomicUsize::new(0));
        let writing = Writing {
            base: path.to_path_buf(),
            settings,
            ports: ports.to_vec(),
            segment: first,
            written: Vec::new(),
            rows: Vec::new(),
            image: Vec::new(),
            message: Vec::new(),
            told: false,
        };
        let thread = {
            let queued = Arc::clone(&queued);
            std::thread::Builder::new()
                .name("recording".into())
                .spawn(move || writing.run(received, &give_back, &queued))
                .map_err(|source| WriteError::Create {
                    path: path.to_path_buf(),
                    source,
                })?
        };
        Ok(Self {
            frames,
            spare,
            queued,
            budget,
            codec,
            thread,
        })
    }

    /// Copies a frame of output `port` out of shared memory (the one copy
    /// it gets: into its message, or, for a frame to compress, its pixels)
    /// and queues it; false, and the frame dropped, when the queue is at its
    /// budget (the disk is behind) or the writer has stopped.
    pub fn take(&self, port: usize, header: &FrameHeader, payload: &[u8], log_ns: u64) -> bool {
        let len = payload.len();
        if self.queued.load(Ordering::Relaxed) + len > self.budget {
            return false;
        }
        let mut body = self.spare.try_recv().unwrap_or_default();
        match layout_of(header.schema, self.codec) {
            Layout::CompressedImage(_) => {
                body.clear();
                body.extend_from_slice(payload);
            }
            layout => recording::encode(layout, header, payload, log_ns, &mut body),
        }
        self.queued.fetch_add(body.len(), Ordering::Relaxed);
        let frame = Frame {
            port,
            header: *header,
            log_ns,
            body,
        };
        self.frames.send(frame).is_ok()
    }

    /// Whether the writer has stopped, which it does only on an error.
    pub fn failed(&self) -> bool {
        self.thread.is_finished()
    }

    /// Writes what is queued and finishes the file; returns the files
    /// written.
    pub fn finish(self) -> Result<Vec<PathBuf>, WriteError> {
        drop(self.frames);
        self.thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

/// A port's channel in a file.
#[derive(Clone, Copy)]
struct Channel {
    id: u16,
}

type McapWriter = Writer<BufWriter<File>>;

/// One file of the recording, being written.
struct Segment {
    path: PathBuf,
    writer: McapWriter,
    /// Each port's channel in this file, once it has a frame here.
    channels: BTreeMap<usize, Channel>,
    bytes: u64,
    opened: Instant,
}

impl Segment {
    /// Creates file number `index` of the recording at `base`.
    fn open(base: &Path, settings: &Settings, index: u32) -> Result<Self, WriteError> {
        let path = match settings.split {
            Split::Never => base.to_path_buf(),
            Split::Bytes(_) | Split::Every(_) => numbered(base, index),
        };
        // Never through an existing file or link: a shared directory may
        // hold another user's.
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| WriteError::Create {
                path: path.clone(),
                source,
            })?;
        let writer = start(file, settings).map_err(|source| WriteError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(Self {
            path,
            writer,
            channels: BTreeMap::new(),
            bytes: 0,
            opened: Instant::now(),
        })
    }

    fn due(&self, split: Split) -> bool {
        match split {
            Split::Never => false,
            Split::Bytes(limit) => self.bytes >= limit,
            Split::Every(period) => self.opened.elapsed() >= period,
        }
    }
}

/// `dir/stem-0001.ext` for `dir/stem.ext`.
fn numbered(base: &Path, index: u32) -> PathBuf {
    let stem = base.file_stem().unwrap_or_default().to_string_lossy();
    let name = match base.extension() {
        Some(ext) => format!("{stem}-{index:04}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{index:04}"),
    };
    base.with_file_name(name)
}

fn start(file: File, settings: &Settings) -> Result<McapWriter, mcap::McapError> {
    let compression = match settings.compressed {
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
            ("runtime".into(), settings.runtime.clone()),
            ("pipeline".into(), settings.pipeline.clone()),
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
    codec: Option<Codec>,
) -> Result<Channel, mcap::McapError> {
    let known = SchemaId::from_code(schema);
    let (schema_id, encoding) = match layout_of(schema, codec) {
        Layout::RawImage(_) => (
            writer.add_schema(
                recording::RAW_IMAGE,
                recording::PROTOBUF,
                recording::RAW_IMAGE_DESCRIPTOR,
            )?,
            recording::PROTOBUF,
        ),
        Layout::CompressedImage(_) => (
            writer.add_schema(
                recording::COMPRESSED_IMAGE,
                recording::PROTOBUF,
                recording::COMPRESSED_IMAGE_DESCRIPTOR,
            )?,
            recording::PROTOBUF,
        ),
        Layout::Frame | Layout::ShortFrame => (0, recording::FRAME_ENCODING),
    };
    let mut metadata = BTreeMap::from([
        ("processor".to_string(), port.processor.clone()),
        ("port".to_string(), port.port.clone()),
        (
            "schema".to_string(),
            known.map_or_else(|| format!("unknown ({schema})"), |s| s.name().to_string()),
        ),
    ]);
    match layout_of(schema, codec) {
        Layout::CompressedImage(codec) => {
            metadata.insert("codec".to_string(), codec.format().to_string());
        }
        // Tells readers this channel's headers are not the 56 bytes of old
        // recordings.
        Layout::Frame => {
            metadata.insert(
                recording::HEADER_BYTES_KEY.to_string(),
                recording::HEADER_BYTES.to_string(),
            );
        }
        Layout::RawImage(_) | Layout::ShortFrame => {}
    }
    let topic = recording::topic(&port.processor, &port.port);
    let id = writer.add_channel(schema_id, &topic, encoding, &metadata)?;
    Ok(Channel { id })
}

/// The writing thread's state.
struct Writing {
    base: PathBuf,
    settings: Settings,
    ports: Vec<Port>,
    segment: Segment,
    /// The files finished so far.
    written: Vec<PathBuf>,
    /// Scratch for frames compressed here: their rows, image, message.
    rows: Vec<u8>,
    image: Vec<u8>,
    message: Vec<u8>,
    /// A frame that could not be compressed was reported.
    told: bool,
}

impl Writing {
    /// Every frame, then the last file's summary.
    fn run(
        mut self,
        frames: Receiver<Frame>,
        give_back: &SyncSender<Vec<u8>>,
        queued: &AtomicUsize,
    ) -> Result<Vec<PathBuf>, WriteError> {
        let mut flushed = Instant::now();
        loop {
            let frame = match frames.recv_timeout(FLUSH_EVERY) {
                Ok(frame) => frame,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.segment.writer.flush().map_err(|e| self.failed(e))?;
                    flushed = Instant::now();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            queued.fetch_sub(frame.body.len(), Ordering::Relaxed);
            if self.segment.due(self.settings.split) {
                self.next_segment()?;
            }
            self.write(&frame).map_err(|e| self.failed(e))?;
            // A full pool drops the buffer.
            let _ = give_back.try_send(frame.body);
            if flushed.elapsed() >= FLUSH_EVERY {
                self.segment.writer.flush().map_err(|e| self.failed(e))?;
                flushed = Instant::now();
            }
        }
        self.segment.writer.finish().map_err(|e| self.failed(e))?;
        self.written.push(self.segment.path);
        Ok(self.written)
    }

    fn failed(&self, source: mcap::McapError) -> WriteError {
        WriteError::Write {
            path: self.segment.path.clone(),
            source,
        }
    }

    /// Finishes the file and opens the next.
    fn next_segment(&mut self) -> Result<(), WriteError> {
        let index = self.written.len() as u32 + 2;
        let next = Segment::open(&self.base, &self.settings, index)?;
        let mut done = std::mem::replace(&mut self.segment, next);
        done.writer.finish().map_err(|source| WriteError::Write {
            path: done.path.clone(),
            source,
        })?;
        self.written.push(done.path);
        Ok(())
    }

    fn write(&mut self, frame: &Frame) -> Result<(), mcap::McapError> {
        let codec = self.settings.codec;
        let message = match layout_of(frame.header.schema, codec) {
            Layout::CompressedImage(image_codec) => {
                let compressed = images::compress(
                    image_codec,
                    &frame.header,
                    &frame.body,
                    &mut self.rows,
                    &mut self.image,
                );
                if let Err(e) = compressed {
                    // Not the recording's end: the frame is left out.
                    if !std::mem::replace(&mut self.told, true) {
                        tracing::warn!("{e}; frames that cannot be compressed are left out");
                    }
                    return Ok(());
                }
                let layout = Layout::CompressedImage(image_codec);
                recording::encode(
                    layout,
                    &frame.header,
                    &self.image,
                    frame.log_ns,
                    &mut self.message,
                );
                &self.message
            }
            _ => &frame.body,
        };
        let segment = &mut self.segment;
        let channel = match segment.channels.get(&frame.port) {
            Some(channel) => *channel,
            None => {
                let port = &self.ports[frame.port];
                let channel = add_channel(&mut segment.writer, port, frame.header.schema, codec)?;
                *segment.channels.entry(frame.port).or_insert(channel)
            }
        };
        segment.writer.write_to_known_channel(
            &MessageHeader {
                channel_id: channel.id,
                // MCAP's counter is 32 bits; the whole sequence number is
                // in the message's frame header.
                sequence: frame.header.seq as u32,
                log_time: frame.log_ns,
                publish_time: frame.log_ns,
            },
            message,
        )?;
        segment.bytes += message.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_files_are_numbered_beside_the_name_given() {
        assert_eq!(
            numbered(Path::new("/r/run.mcap"), 1),
            Path::new("/r/run-0001.mcap")
        );
        assert_eq!(numbered(Path::new("run"), 12), Path::new("run-0012"));
    }
}
