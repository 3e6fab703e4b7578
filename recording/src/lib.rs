//! Recordings of frames as MCAP files (`plexus record`). How one frame is
//! one message is `ipc_schemas::recording`; this crate reads the files,
//! once from the start, so that a file whose recorder was killed is read
//! up to where it ends, and a hostile one in bounded memory.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use ipc_schemas::recording::{self, Codec, Layout};
pub use mcap::records::Record;
use mcap::sans_io::{LinearReadEvent, LinearReader, LinearReaderOptions};

/// Every MCAP file starts, and a finished one ends, with these bytes.
pub const MAGIC: &[u8; 8] = b"\x89MCAP0\r\n";
/// A record (a chunk, compressed or not) longer than this is refused: a
/// hostile file cannot make the reader allocate more.
const RECORD_LIMIT: usize = 512 << 20;

/// Why a recording cannot be read (from its start).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open `{path}` ({source})")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("`{path}` is not an MCAP recording (it does not start as one)")]
    NotMcap { path: String },
}

/// A recording opened for one pass from its start.
pub struct Recording {
    file: BufReader<File>,
    /// Its recorder finished it: its last bytes are MCAP's end.
    pub complete: bool,
    pub bytes: u64,
}

impl Recording {
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let shown = || path.display().to_string();
        let open = |source| OpenError::Open {
            path: shown(),
            source,
        };
        let mut file = File::open(path).map_err(open)?;
        let bytes = file.metadata().map_err(open)?.len();
        let mut start = [0u8; 8];
        if file.read_exact(&mut start).is_err() || &start != MAGIC {
            return Err(OpenError::NotMcap { path: shown() });
        }
        let complete = bytes >= 16 && ends_with_magic(&mut file).map_err(open)?;
        file.seek(SeekFrom::Start(0)).map_err(open)?;
        Ok(Self {
            file: BufReader::new(file),
            complete,
            bytes,
        })
    }

    /// Feeds every record to `on_record`, chunks opened, until the end or
    /// until `on_record` says stop (false); the first error ends the pass
    /// and is returned: where a killed recorder's file ends.
    pub fn records(
        mut self,
        mut on_record: impl FnMut(Record<'_>) -> bool,
    ) -> Result<(), mcap::McapError> {
        let mut reader = LinearReader::new_with_options(
            LinearReaderOptions::default()
                .with_skip_end_magic(true)
                .with_record_length_limit(RECORD_LIMIT),
        );
        while let Some(event) = reader.next_event() {
            match event? {
                LinearReadEvent::ReadRequest(need) => {
                    let read = loop {
                        match self.file.read(reader.insert(need)) {
                            Ok(n) => break n,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                            Err(e) => return Err(e.into()),
                        }
                    };
                    reader.notify_read(read);
                }
                LinearReadEvent::Record { data, opcode } => {
                    if !on_record(mcap::parse_record(opcode, data)?) {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }
}

fn ends_with_magic(file: &mut File) -> std::io::Result<bool> {
    file.seek(SeekFrom::End(-8))?;
    let mut end = [0u8; 8];
    file.read_exact(&mut end)?;
    Ok(&end == MAGIC)
}

/// What a channel of a recording holds, from its channel record and the
/// schemas seen before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    pub id: u16,
    pub topic: String,
    pub processor: String,
    pub port: String,
    /// The plexus schema, as the recorder wrote it (`video/rgba8`).
    pub schema: String,
    /// How its messages hold frames; `None`: not plexus frames.
    pub layout: Option<Layout>,
}

/// Tracks the schemas and channels of one pass, so each message can be
/// told which channel it is on and how to read it.
#[derive(Default)]
pub struct Channels {
    raw_images: Vec<u16>,
    compressed_images: Vec<u16>,
    channels: Vec<ChannelInfo>,
}

impl Channels {
    /// Books a schema or channel record; the summary repeats channels, and
    /// the first is kept. Returns the channel when it is a new one.
    pub fn book(&mut self, record: &Record<'_>) -> Option<&ChannelInfo> {
        match record {
            Record::Schema { header, .. } if header.name == recording::RAW_IMAGE => {
                self.raw_images.push(header.id);
                None
            }
            Record::Schema { header, .. } if header.name == recording::COMPRESSED_IMAGE => {
                self.compressed_images.push(header.id);
                None
            }
            Record::Channel(channel) if self.get(channel.id).is_none() => {
                let field = |key: &str| channel.metadata.get(key).cloned().unwrap_or_default();
                let layout = if self.raw_images.contains(&channel.schema_id) {
                    Some(Layout::RawImage(""))
                } else if self.compressed_images.contains(&channel.schema_id) {
                    channel
                        .metadata
                        .get("codec")
                        .and_then(|c| Codec::from_format(c))
                        .map(Layout::CompressedImage)
                } else if channel.message_encoding == recording::FRAME_ENCODING {
                    Layout::of_frame_channel(
                        channel
                            .metadata
                            .get(recording::HEADER_BYTES_KEY)
                            .map(String::as_str),
                    )
                } else {
                    None
                };
                self.channels.push(ChannelInfo {
                    id: channel.id,
                    topic: channel.topic.clone(),
                    processor: field("processor"),
                    port: field("port"),
                    schema: field("schema"),
                    layout,
                });
                self.channels.last()
            }
            _ => None,
        }
    }

    pub fn get(&self, id: u16) -> Option<&ChannelInfo> {
        self.channels.iter().find(|c| c.id == id)
    }

    pub fn all(&self) -> &[ChannelInfo] {
        &self.channels
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ipc_schemas::{FrameHeader, SchemaId};
    use mcap::records::MessageHeader;

    use super::*;

    /// A recording of `frames` 8x4 RGBA frames, flushed every 5, as
    /// `plexus record` writes them.
    fn recording(frames: u64, compression: Option<mcap::Compression>) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        {
            let mut writer = mcap::WriteOptions::new()
                .compression(compression)
                .create(&mut out)
                .unwrap();
            let schema = writer
                .add_schema(
                    recording::RAW_IMAGE,
                    recording::PROTOBUF,
                    recording::RAW_IMAGE_DESCRIPTOR,
                )
                .unwrap();
            let metadata = BTreeMap::from([("schema".to_string(), "video/rgba8".to_string())]);
            let channel = writer
                .add_channel(schema, "/cam/out", recording::PROTOBUF, &metadata)
                .unwrap();
            let mut message = Vec::new();
            for seq in 0..frames {
                let header = FrameHeader {
                    schema: SchemaId::VideoRgba8.code(),
                    seq,
                    width: 8,
                    height: 4,
                    stride: 32,
                    ..FrameHeader::default()
                };
                let payload = vec![seq as u8; 128];
                recording::encode(
                    Layout::RawImage("rgba8"),
                    &header,
                    &payload,
                    seq,
                    &mut message,
                );
                let at = MessageHeader {
                    channel_id: channel,
                    sequence: seq as u32,
                    log_time: seq,
                    publish_time: seq,
                };
                writer.write_to_known_channel(&at, &message).unwrap();
                if seq % 5 == 4 {
                    writer.flush().unwrap();
                }
            }
            writer.finish().unwrap();
        }
        out.into_inner()
    }

    /// The frames a pass over `bytes` reads, each checked to be the next
    /// one whole when `whole`, else only counted when it decodes.
    fn pass(bytes: &[u8], whole: bool) -> Result<u64, OpenError> {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), bytes).unwrap();
        let recording = Recording::open(file.path())?;
        let mut channels = Channels::default();
        let mut frames = 0;
        let _ = recording.records(|record| {
            channels.book(&record);
            if let Record::Message { header, data } = record {
                let layout = channels.get(header.channel_id).and_then(|c| c.layout);
                let decoded = layout.and_then(|l| recording::decode(l, &data).ok());
                if whole {
                    let (frame, payload) = decoded.expect("a whole frame");
                    assert_eq!(frame.seq, frames);
                    assert!(payload.iter().all(|&b| b == frames as u8));
                }
                frames += u64::from(decoded.is_some());
            }
            true
        });
        Ok(frames)
    }

    #[test]
    fn a_whole_recording_reads_back_and_says_it_is_complete() {
        for compression in [
            None,
            Some(mcap::Compression::Lz4),
            Some(mcap::Compression::Zstd),
        ] {
            let bytes = recording(40, compression);
            assert_eq!(pass(&bytes, true).unwrap(), 40);
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), &bytes).unwrap();
            assert!(Recording::open(file.path()).unwrap().complete);
        }
    }

    /// Cut anywhere, as a killed recorder leaves it, a recording reads up
    /// to where it ends, never panics, and holds more the later the cut.
    #[test]
    fn a_recording_cut_anywhere_reads_up_to_the_cut() {
        for compression in [None, Some(mcap::Compression::Zstd)] {
            let bytes = recording(20, compression);
            let mut before = 0;
            for cut in 8..bytes.len() {
                let frames = pass(&bytes[..cut], true).unwrap();
                assert!(frames >= before, "cut at {cut}: {frames} < {before}");
                before = frames;
            }
            assert_eq!(before, 20);
        }
    }

    #[test]
    fn damaged_and_foreign_files_are_refused_or_read_without_a_panic() {
        let bytes = recording(20, None);
        // Every byte after the magic flipped in turn.
        for at in 8..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0xA5;
            assert!(pass(&damaged, false).is_ok_and(|frames| frames <= 20));
        }
        assert!(matches!(
            pass(b"not a recording", false),
            Err(OpenError::NotMcap { .. })
        ));
        assert!(matches!(pass(b"", false), Err(OpenError::NotMcap { .. })));
    }
}
