//! `plexus recording info FILE`: what a recording holds (its channels, how
//! many frames each and over what time, the sequence gaps among them) and
//! whether it was finished, read in one pass from the start, so that a
//! recording whose recorder was killed is described up to where it ends.

use std::collections::BTreeMap;
use std::path::Path;

use ::recording::{Channels, Record, Recording};
use anyhow::Result;
use ipc_schemas::recording;
use serde::Serialize;

use crate::error::UserError;

/// One channel of the file.
#[derive(Debug, Default, Serialize)]
pub struct ChannelInfo {
    pub topic: String,
    pub processor: String,
    pub port: String,
    pub schema: String,
    pub frames: u64,
    /// Frames missing between the first and the last, by sequence number.
    pub gaps: u64,
    /// Messages that are not frames plexus can read.
    pub unreadable: u64,
    pub duration_ms: u64,
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
    pub duration_ms: u64,
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
    let file = Recording::open(path).map_err(|e| UserError::Plain(e.to_string()))?;
    let mut described = RecordingInfo {
        file: path.display().to_string(),
        bytes: file.bytes,
        complete: file.complete,
        cut_short: None,
        runtime: None,
        pipeline: None,
        frames: 0,
        duration_ms: 0,
        channels: Vec::new(),
    };
    let mut known = Channels::default();
    let mut counted: BTreeMap<u16, ChannelInfo> = BTreeMap::new();
    let read = file.records(|record| {
        take(record, &mut described, &mut known, &mut counted);
        true
    });
    if let Err(e) = read {
        described.cut_short = Some(e.to_string());
    }
    let (first, last) = counted
        .values()
        .filter_map(|c| Some((c.first_ns?, c.last_ns)))
        .fold((u64::MAX, 0), |(f, l), (cf, cl)| (f.min(cf), l.max(cl)));
    described.duration_ms = match first <= last {
        true => (last - first) / 1_000_000,
        false => 0,
    };
    described.frames = counted.values().map(|c| c.frames).sum();
    described.channels = counted.into_values().collect();
    Ok(described)
}

/// Books one record.
fn take(
    record: Record<'_>,
    described: &mut RecordingInfo,
    known: &mut Channels,
    counted: &mut BTreeMap<u16, ChannelInfo>,
) {
    if let Some(channel) = known.book(&record) {
        counted.insert(
            channel.id,
            ChannelInfo {
                topic: channel.topic.clone(),
                processor: channel.processor.clone(),
                port: channel.port.clone(),
                schema: channel.schema.clone(),
                ..ChannelInfo::default()
            },
        );
        return;
    }
    match record {
        Record::Metadata(metadata) if metadata.name == "plexus.recording" => {
            described.runtime = metadata.metadata.get("runtime").cloned();
            described.pipeline = metadata.metadata.get("pipeline").cloned();
        }
        Record::Message { header, data } => {
            let (Some(channel), Some(info)) = (
                counted.get_mut(&header.channel_id),
                known.get(header.channel_id),
            ) else {
                return;
            };
            channel.frames += 1;
            let first = *channel.first_ns.get_or_insert(header.log_time);
            channel.last_ns = channel.last_ns.max(header.log_time);
            channel.duration_ms = (channel.last_ns - first) / 1_000_000;
            let decoded = info
                .layout
                .and_then(|layout| recording::decode(layout, &data).ok());
            match decoded {
                Some((frame, _)) => {
                    if let Some(last) = channel.last_seq {
                        channel.gaps += frame.seq.saturating_sub(last + 1);
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
        info.duration_ms as f64 / 1000.0,
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
        "gaps",
        "unreadable",
        "duration_ms",
    ]
    .map(String::from)
    .to_vec()];
    for c in &info.channels {
        rows.push(vec![
            c.topic.clone(),
            c.schema.clone(),
            c.frames.to_string(),
            c.gaps.to_string(),
            c.unreadable.to_string(),
            c.duration_ms.to_string(),
        ]);
    }
    out.push_str(&crate::table::render(&rows));
    out
}
