//! `builtin.replay`: a recording made by `plexus record` as a source, so a
//! pipeline can be fed what another one saw. The file is checked when the
//! processor is created (it opens, the channel is there and holds RGBA
//! video); from `start` a thread of its own reads it from the start and
//! sends each frame of the channel, byte for byte, at the pace it was
//! captured (times `speed`), with the header it was recorded with but a
//! sequence number and capture time of this run.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ::recording::{Channels, Record, Recording};
use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::recording::{self, Codec, Layout};
use ipc_schemas::{FrameHeader, ProcessorSpec, SchemaId};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use worker_lifecycle::{Input, Outputs, Processor, Producer};

use super::image;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(deserialize_with = "path")]
    path: String,
    #[serde(default, deserialize_with = "channel")]
    channel: Option<String>,
    #[serde(default = "default_speed", deserialize_with = "speed")]
    speed: f64,
    #[serde(default, rename = "loop", deserialize_with = "looping")]
    looping: bool,
}

fn path<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    super::string(d, "path")
}

fn channel<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    super::string(d, "channel").map(Some)
}

fn default_speed() -> f64 {
    1.0
}

fn speed<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Value::deserialize(d)?
        .as_f64()
        .filter(|v| (0.0..=100.0).contains(v))
        .ok_or_else(|| D::Error::custom("`speed` must be a number between 0 and 100"))
}

fn looping<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Value::deserialize(d)?
        .as_bool()
        .ok_or_else(|| D::Error::custom("`loop` must be true or false"))
}

/// What the replay plays.
#[derive(Clone)]
struct Play {
    id: String,
    path: PathBuf,
    channel: u16,
    layout: Layout,
    /// 0: as fast as it reads.
    speed: f64,
    looping: bool,
}

enum State {
    Idle,
    Playing {
        stop: Arc<AtomicBool>,
        thread: JoinHandle<()>,
    },
}

pub(super) struct Replay {
    play: Play,
    state: State,
}

impl Replay {
    pub(super) fn new(spec: &ProcessorSpec) -> Result<Self, String> {
        let config: Config = super::parse_config(spec)?;
        let id = &spec.id;
        let path = Path::new(&config.path);
        let channel = find_channel(path, config.channel.as_deref())
            .map_err(|e| format!("processor `{id}`: {e}"))?;
        let layout = match (channel.schema.as_str(), channel.layout) {
            ("video/rgba8", Some(layout)) => layout,
            (schema, _) => {
                return Err(format!(
                    "processor `{id}`: channel `{}` of `{}` holds {schema} frames, and builtin.replay sends video/rgba8",
                    channel.topic, config.path
                ))
            }
        };
        Ok(Self {
            play: Play {
                id: id.clone(),
                path: path.to_path_buf(),
                channel: channel.id,
                layout,
                speed: config.speed,
                looping: config.looping,
            },
            state: State::Idle,
        })
    }
}

/// The channel `wanted` names (its topic, `/cam/out`, or its port,
/// `cam.out`), or without a name the first of RGBA video; the error lists
/// the channels there are.
fn find_channel(path: &Path, wanted: Option<&str>) -> Result<::recording::ChannelInfo, String> {
    let file = Recording::open(path).map_err(|e| e.to_string())?;
    let matches = |c: &::recording::ChannelInfo| match wanted {
        Some(name) => c.topic == name || format!("{}.{}", c.processor, c.port) == name,
        None => c.schema == SchemaId::VideoRgba8.name(),
    };
    let mut channels = Channels::default();
    let mut found = None;
    // A cut file is read as far as it goes.
    let _ = file.records(|record| {
        if let Some(channel) = channels.book(&record) {
            if matches(channel) {
                found = Some(channel.clone());
                return false;
            }
        }
        true
    });
    found.ok_or_else(|| {
        let topics: Vec<&str> = channels.all().iter().map(|c| c.topic.as_str()).collect();
        let there = match topics.is_empty() {
            true => "it has none".to_string(),
            false => format!("its channels: {}", topics.join(", ")),
        };
        match wanted {
            Some(name) => format!("`{}` has no channel `{name}` ({there})", path.display()),
            None => format!(
                "`{}` has no channel of video/rgba8 ({there})",
                path.display()
            ),
        }
    })
}

impl Processor for Replay {
    fn process(&mut self, input: &Input<'_>, _outputs: &mut Outputs<'_>) -> Result<(), String> {
        Err(format!(
            "processor `{}`: builtin.replay has no inputs but was handed a frame on input {}",
            self.play.id, input.port
        ))
    }

    fn start(&mut self, producer: Producer) -> Result<(), String> {
        if matches!(self.state, State::Playing { .. }) {
            return Err(format!("processor `{}`: already playing", self.play.id));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let player = Player {
            play: self.play.clone(),
            stop: Arc::clone(&stop),
            producer,
        };
        let thread = std::thread::Builder::new()
            .name(format!("replay {}", self.play.id))
            .spawn(move || player.run())
            .map_err(|e| {
                format!(
                    "processor `{}`: cannot start its thread ({e})",
                    self.play.id
                )
            })?;
        self.state = State::Playing { stop, thread };
        Ok(())
    }

    fn stop(&mut self) -> Result<(), String> {
        if let State::Playing { stop, thread } = std::mem::replace(&mut self.state, State::Idle) {
            stop.store(true, Ordering::Relaxed);
            thread.thread().unpark();
            thread
                .join()
                .map_err(|_| format!("processor `{}`: its thread panicked", self.play.id))?;
        }
        Ok(())
    }
}

/// The playing thread's part.
struct Player {
    play: Play,
    stop: Arc<AtomicBool>,
    producer: Producer,
}

/// How one pass over the file ended.
enum Pass {
    /// Told to stop.
    Stopped,
    /// The end of the file, or of what could be read of it.
    Ended,
}

impl Player {
    fn run(mut self) {
        loop {
            match self.pass() {
                Pass::Stopped => return,
                Pass::Ended if self.play.looping => continue,
                Pass::Ended => break,
            }
        }
        // The last frame is sent: the run may end once it is drained.
        self.producer.finish();
    }

    /// Sends every frame of the channel, paced by its log times.
    fn pass(&mut self) -> Pass {
        let play = &self.play;
        let file = match Recording::open(&play.path) {
            Ok(file) => file,
            Err(e) => {
                self.producer.fail(format!("processor `{}`: {e}", play.id));
                return Pass::Ended;
            }
        };
        let started = Instant::now();
        let mut first_ns = None;
        let mut sent = 0u64;
        let mut trouble = None;
        let producer = &mut self.producer;
        let stop = &self.stop;
        let read = file.records(|record| {
            let Record::Message { header, data } = record else {
                return true;
            };
            if header.channel_id != play.channel {
                return true;
            }
            let (frame, payload) = match recording::decode(play.layout, &data) {
                Ok(decoded) => decoded,
                Err(e) => {
                    trouble.get_or_insert(format!("frame {} cannot be read ({e})", sent + 1));
                    return true;
                }
            };
            let first = *first_ns.get_or_insert(header.log_time);
            if play.speed > 0.0 {
                let offset = header.log_time.saturating_sub(first) as f64 / play.speed;
                let due = started + Duration::from_nanos(offset as u64);
                while !stop.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    if now >= due {
                        break;
                    }
                    std::thread::park_timeout(due - now);
                }
            }
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            match send(producer, play.layout, &frame, payload) {
                Ok(Sent::Sent) => sent += 1,
                Ok(Sent::Skipped(why)) => {
                    trouble.get_or_insert(why);
                }
                Err(e) => {
                    trouble.get_or_insert(e);
                    return false;
                }
            }
            true
        });
        if self.stop.load(Ordering::Relaxed) {
            return Pass::Stopped;
        }
        let trouble = trouble.or_else(|| {
            read.err()
                .map(|e| format!("the file ends inside a record after frame {sent} ({e})"))
        });
        if let Some(trouble) = trouble {
            self.producer.fail(format!(
                "processor `{}`: `{}`: {trouble}",
                play.id,
                play.path.display()
            ));
        }
        Pass::Ended
    }
}

/// Sends one recorded frame: its bytes (its image decoded, for a
/// compressed one) and header, with this run's sequence number and capture
/// time. The error ends the replay.
fn send(
    producer: &mut Producer,
    layout: Layout,
    recorded: &FrameHeader,
    payload: &[u8],
) -> Result<Sent, String> {
    let (width, height) = (recorded.width as usize, recorded.height as usize);
    let (len, stride) = match layout {
        Layout::CompressedImage(_) => (width * height * 4, recorded.width * 4),
        _ => (payload.len(), recorded.stride),
    };
    let out = producer
        .loan(0, len)
        .map_err(|e| format!("cannot loan a frame ({e})"))?;
    let unpacked = match layout {
        Layout::CompressedImage(Codec::Jpeg) => image::jpeg_to_rgba(payload, width, height, out),
        Layout::CompressedImage(Codec::Png) => image::png_to_rgba(payload, width, height, out),
        _ => {
            out.copy_from_slice(payload);
            Ok(())
        }
    };
    if let Err(why) = unpacked {
        return Ok(Sent::Skipped(format!(
            "frame {} was skipped: {why}",
            recorded.seq
        )));
    }
    let header = FrameHeader {
        seq: producer.next_header().seq,
        capture_ns: monotonic_ns(),
        stride,
        ..*recorded
    };
    producer
        .send(0, &header)
        .map(|_| Sent::Sent)
        .map_err(|e| format!("cannot send a frame ({e})"))
}

/// What became of a recorded frame.
enum Sent {
    Sent,
    /// Its image could not be decoded; the replay goes on.
    Skipped(String),
}
