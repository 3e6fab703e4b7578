//! `plexus recording info FILE`: what a recording holds (its channels, how
//! many frames each and over what time, the sequence gaps among them) and
//! whether it was finished, read in one pass from the start, so that a
//! recording whose recorder was killed is described up to where it ends.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::{bail, Result};
use ipc_schemas::recording::{self, Layout};
use mcap::records::Record;
use mcap::sans_io::{LinearReadEvent, LinearReader, LinearReaderOptions};
use serde::Serialize;

use crate::error::UserError;

/// Every MCAP file starts, and a finished one ends, with these bytes.
const MAGIC: &[u8; 8] = b"\x89MCAP0\r\n";
/// A record (a chunk, compressed or not) longer than this is refused: a
/// hostile file cannot make the reader allocate more.
const RECORD_LIMIT: usize = 512 << 20;

/// One channel of the file.
#[derive(Debug, Default, Serialize)]
pub struct ChannelInfo {
    pub topic: String,
    pub processor: String,
    pub port: String,
    pub schema: String,
    pub frames: u64,
    /// Frames missing between the first and the last, by sequence number.
    pub seq_gaps: u64,
    /// Messages that are not frames plexus can read.
    pub unreadable: u64,
    pub duration_s: f64,
    #[serde(skip)]
    layout: Option<Layout>,
    #[serde(skip)]
    first_ns: Option<u64>,
    #[serde(skip)]
    last_ns: u64,
    #[serde(skip)]
    last_seq: Option<u64>,
}

/// What `recording info` reports.
#[derive(Debug, Serialize)]
pub struct RecordingInfo {
    pub file: String,
    pub bytes: u64,
    /// The recorder finished the file (its summary and end are there).
    pub complete: bool,
    /// Why reading stopped before the end of the file, if it did.
    pub cut_short: Option<String>,
    pub runtime: Option<String>,
    pub pipeline: Option<String>,
    pub frames: u64,
    pub duration_s: f64,
    pub channels: Vec<ChannelInfo>,
}

/// Prints what `path` holds; returns the exit code.
pub fn info(path: &Path, json: bool) -> Result<i32> {
    let described = describe(path)?;
    if json {
        println!("{}", serde_json::to_string(&described)?);
    } else {
        print!("{}", render(&described));
    }
    Ok(0)
}

/// Reads `path` once, from the start.
pub fn describe(path: &Path) -> Result<RecordingInfo> {
    let shown = path.display();
    let mut file =
        File::open(path).map_err(|e| UserError::Plain(format!("cannot open `{shown}` ({e})")))?;
    let bytes = file.metadata()?.len();
    let mut start = [0u8; 8];
    if file.read_exact(&mut start).is_err() || &start != MAGIC {
        bail!(UserError::Plain(format!(
            "`{shown}` is not an MCAP recording (it does not start as one)"
        )));
    }
    let complete = ends_with_magic(&mut file, bytes)?;
    let file = File::open(path)?;
    let mut described = RecordingInfo {
        file: shown.to_string(),
        bytes,
        complete,
        cut_short: None,
        runtime: None,
        pipeline: None,
        frames: 0,
        duration_s: 0.0,
        channels: Vec::new(),
    };
    let mut channels: BTreeMap<u16, ChannelInfo> = BTreeMap::new();
    let mut raw_images: Vec<u16> = Vec::new();
    if let Err(e) = read_records(file, |record| {
        take(record, &mut described, &mut channels, &mut raw_images)
    }) {
        described.cut_short = Some(e.to_string());
    }
    let (first, last) = channels
        .values()
        .filter_map(|c| Some((c.first_ns?, c.last_ns)))
        .fold((u64::MAX, 0), |(f, l), (cf, cl)| (f.min(cf), l.max(cl)));
    described.duration_s = if first <= last {
        (last - first) as f64 / 1e9
    } else {
        0.0
    };
    described.frames = channels.values().map(|c| c.frames).sum();
    described.channels = channels.into_values().collect();
    Ok(described)
}

/// Whether the file's last bytes are MCAP's magic: its recorder finished it.
fn ends_with_magic(file: &mut File, len: u64) -> Result<bool> {
    use std::io::{Seek, SeekFrom};
    if len < 16 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-8))?;
    let mut end = [0u8; 8];
    file.read_exact(&mut end)?;
    Ok(&end == MAGIC)
}

/// Feeds every record of `file` to `on_record`, chunks opened; stops at
/// the first error, which it returns.
fn read_records(file: File, mut on_record: impl FnMut(Record<'_>)) -> Result<(), mcap::McapError> {
    let mut source = BufReader::new(file);
    let mut reader = LinearReader::new_with_options(
        LinearReaderOptions::default()
            .with_skip_end_magic(true)
            .with_record_length_limit(RECORD_LIMIT),
    );
    while let Some(event) = reader.next_event() {
        match event? {
            LinearReadEvent::ReadRequest(need) => {
                let read = loop {
                    match source.read(reader.insert(need)) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e.into()),
                    }
                };
                reader.notify_read(read);
            }
            LinearReadEvent::Record { data, opcode } => {
                on_record(mcap::parse_record(opcode, data)?)
            }
        }
    }
    Ok(())
}

/// Books one record.
fn take(
    record: Record<'_>,
    described: &mut RecordingInfo,
    channels: &mut BTreeMap<u16, ChannelInfo>,
    raw_images: &mut Vec<u16>,
) {
    match record {
        Record::Schema { header, .. } if header.name == recording::RAW_IMAGE => {
            raw_images.push(header.id)
        }
        Record::Metadata(metadata) if metadata.name == "plexus.recording" => {
            described.runtime = metadata.metadata.get("runtime").cloned();
            described.pipeline = metadata.metadata.get("pipeline").cloned();
        }
        // The summary repeats the channels; the first is kept.
        Record::Channel(channel) => {
            channels.entry(channel.id).or_insert_with(|| {
                let field = |key: &str| channel.metadata.get(key).cloned().unwrap_or_default();
                let layout = match raw_images.contains(&channel.schema_id) {
                    true => Some(Layout::RawImage("")),
                    false if channel.message_encoding == recording::FRAME_ENCODING => {
                        Some(Layout::Frame)
                    }
                    false => None,
                };
                ChannelInfo {
                    topic: channel.topic.clone(),
                    processor: field("processor"),
                    port: field("port"),
                    schema: field("schema"),
                    layout,
                    ..ChannelInfo::default()
                }
            });
        }
        Record::Message { header, data } => {
            let Some(channel) = channels.get_mut(&header.channel_id) else {
                return;
            };
            channel.frames += 1;
            let first = *channel.first_ns.get_or_insert(header.log_time);
            channel.last_ns = channel.last_ns.max(header.log_time);
            channel.duration_s = (channel.last_ns - first) as f64 / 1e9;
            let decoded = channel
                .layout
                .and_then(|layout| recording::decode(layout, &data).ok());
            match decoded {
                Some((frame, _)) => {
                    if let Some(last) = channel.last_seq {
                        channel.seq_gaps += frame.seq.saturating_sub(last + 1);
                    }
                    channel.last_seq = Some(frame.seq.max(channel.last_seq.unwrap_or(0)));
                }
                None => channel.unreadable += 1,
            }
        }
        _ => {}
    }
}

/// The human form: a line about the file, then one per channel.
fn render(info: &RecordingInfo) -> String {
    let mut out = format!(
        "{}: {:.1} MiB, {} frames over {:.3} s, {}\n",
        info.file,
        info.bytes as f64 / f64::from(1 << 20),
        info.frames,
        info.duration_s,
        match (&info.cut_short, info.complete) {
            (None, true) => "complete".to_string(),
            (None, false) => "not finished (its recorder did not end it)".to_string(),
            (Some(why), _) => format!("not finished: read up to where it ends ({why})"),
        }
    );
    if let (Some(runtime), Some(pipeline)) = (&info.runtime, &info.pipeline) {
        out.push_str(&format!(
            "recorded from runtime {runtime}, pipeline `{pipeline}`\n"
        ));
    }
    let mut rows = vec![[
        "channel",
        "schema",
        "frames",
        "seq_gaps",
        "unreadable",
        "duration_s",
    ]
    .map(String::from)
    .to_vec()];
    for c in &info.channels {
        rows.push(vec![
            c.topic.clone(),
            c.schema.clone(),
            c.frames.to_string(),
            c.seq_gaps.to_string(),
            c.unreadable.to_string(),
            format!("{:.3}", c.duration_s),
        ]);
    }
    out.push_str(&crate::table::render(&rows));
    out
}
