//! Recordings of frames as MCAP files (`plexus record`). How one frame is
//! one message is `ipc_schemas::recording`; this crate reads the files,
//! once from the start, so that a file whose recorder was killed is read
//! up to where it ends, and a hostile one in bounded memory.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use ipc_schemas::recording::{self, Layout};
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
            Record::Channel(channel) if self.get(channel.id).is_none() => {
                let field = |key: &str| channel.metadata.get(key).cloned().unwrap_or_default();
                let layout = if self.raw_images.contains(&channel.schema_id) {
                    Some(Layout::RawImage(""))
                } else if channel.message_encoding == recording::FRAME_ENCODING {
                    Some(Layout::Frame)
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
