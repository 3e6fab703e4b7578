//! `builtin.v4l2_camera`: a Linux camera as a manual source. The camera is
//! opened and its format agreed when the processor is created, so a missing
//! or unsuitable device fails the run's start in one sentence; from `start`
//! to `stop` a thread of its own takes each frame the camera fills,
//! converts it to RGBA8 straight into the output's shared memory and sends
//! it, stamped with the time it was taken off the device.

mod convert;
mod device;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::{FrameHeader, ProcessorSpec, SchemaId};
use serde::{Deserialize, Deserializer};
use v4l::buffer::Type;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use worker_lifecycle::{Input, Outputs, Processor, Producer};

use convert::Converter;
use device::{Camera, Request, Wanted};

/// Buffers the driver fills while one is being converted: enough that a
/// slow frame does not make the camera drop the next.
const BUFFERS: u32 = 4;

/// How long the capture thread waits for a frame before it looks whether
/// it was told to stop.
const POLL: Duration = Duration::from_millis(200);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_device", deserialize_with = "device")]
    device: String,
    #[serde(
        default = "super::picture::default_width",
        deserialize_with = "super::picture::width"
    )]
    width: u32,
    #[serde(
        default = "super::picture::default_height",
        deserialize_with = "super::picture::height"
    )]
    height: u32,
    #[serde(
        default = "super::picture::default_fps",
        deserialize_with = "super::picture::fps"
    )]
    fps: u32,
    #[serde(default = "default_format")]
    format: Wanted,
}

fn default_device() -> String {
    "/dev/video0".into()
}

fn default_format() -> Wanted {
    Wanted::Auto
}

fn device<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    super::string(d, "device")
}

/// Whether the camera is streaming.
enum State {
    /// Opened, not started (or stopped): the camera is held here.
    Idle(Box<Camera>),
    /// The capture thread holds the camera.
    Capturing {
        stop: Arc<AtomicBool>,
        thread: JoinHandle<Box<Camera>>,
    },
    /// The capture thread panicked, taking the camera with it.
    Lost,
}

pub(super) struct V4l2Camera {
    id: String,
    path: String,
    state: State,
}

impl V4l2Camera {
    pub(super) fn new(spec: &ProcessorSpec) -> Result<Self, String> {
        let config: Config = super::parse_config(spec)?;
        let camera = device::open(&Request {
            id: &spec.id,
            path: &config.device,
            width: config.width,
            height: config.height,
            fps: config.fps,
            format: config.format,
        })?;
        Ok(Self {
            id: spec.id.clone(),
            path: config.device,
            state: State::Idle(Box::new(camera)),
        })
    }
}

impl Processor for V4l2Camera {
    fn process(&mut self, input: &Input<'_>, _outputs: &mut Outputs<'_>) -> Result<(), String> {
        Err(format!(
            "processor `{}`: builtin.v4l2_camera has no inputs but was handed a frame on input {}",
            self.id, input.port
        ))
    }

    fn start(&mut self, producer: Producer) -> Result<(), String> {
        let camera = match std::mem::replace(&mut self.state, State::Lost) {
            State::Idle(camera) => camera,
            capturing @ State::Capturing { .. } => {
                self.state = capturing;
                return Err(format!(
                    "processor `{}`: the camera is already started",
                    self.id
                ));
            }
            State::Lost => {
                return Err(format!(
                    "processor `{}`: the camera was lost with its capture thread",
                    self.id
                ))
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let capture = Capture {
            id: self.id.clone(),
            path: self.path.clone(),
            stop: Arc::clone(&stop),
            producer,
        };
        let thread = std::thread::Builder::new()
            .name(format!("camera {}", self.id))
            .spawn(move || capture.run(camera))
            .map_err(|e| {
                format!(
                    "processor `{}`: cannot start its capture thread ({e})",
                    self.id
                )
            })?;
        self.state = State::Capturing { stop, thread };
        Ok(())
    }

    fn stop(&mut self) -> Result<(), String> {
        match std::mem::replace(&mut self.state, State::Lost) {
            State::Capturing { stop, thread } => {
                stop.store(true, Ordering::Relaxed);
                let camera = thread
                    .join()
                    .map_err(|_| format!("processor `{}`: its capture thread panicked", self.id))?;
                self.state = State::Idle(camera);
                Ok(())
            }
            other => {
                self.state = other;
                Ok(())
            }
        }
    }
}

/// The capture thread's part.
struct Capture {
    id: String,
    path: String,
    stop: Arc<AtomicBool>,
    producer: Producer,
}

impl Capture {
    /// Captures until told to stop or the camera fails; hands the camera
    /// back so it can be started again.
    fn run(mut self, camera: Box<Camera>) -> Box<Camera> {
        if let Err(e) = self.capture(&camera) {
            self.producer
                .fail(format!("processor `{}`: `{}` {e}", self.id, self.path));
            // A camera that stopped delivering is a source that ended.
            self.producer.finish();
        }
        camera
    }

    fn capture(&mut self, camera: &Camera) -> Result<(), String> {
        let mut stream = Stream::with_buffers(&camera.device, Type::VideoCapture, BUFFERS)
            .map_err(|e| format!("cannot map its buffers ({e})"))?;
        stream.set_timeout(POLL);
        let mut converter = Converter::new(camera.pixels, camera.width, camera.height);
        let mut first_ns = None;
        while !self.stop.load(Ordering::Relaxed) {
            let (frame, meta) = match CaptureStream::next(&mut stream) {
                Ok(next) => next,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                Err(e) => return Err(format!("stopped delivering frames ({e})")),
            };
            let capture_ns = monotonic_ns();
            let used = (meta.bytesused as usize).min(frame.len());
            let len = converter.frame_len();
            let out = self
                .producer
                .loan(0, len)
                .map_err(|e| format!("cannot loan a frame ({e})"))?;
            if let Err(e) = converter.convert(&frame[..used], out) {
                // One bad frame (a USB hiccup) is reported and skipped.
                self.producer.fail(format!(
                    "processor `{}`: frame {} from `{}` was skipped: {e}",
                    self.id, meta.sequence, self.path
                ));
                continue;
            }
            let first = *first_ns.get_or_insert(capture_ns);
            let header = FrameHeader {
                schema: SchemaId::VideoRgba8.code(),
                capture_ns,
                // The camera's clock is this machine's: its media time
                // is the time since its first frame.
                pts_ns: (capture_ns - first) as i64,
                duration_ns: camera.interval_ns,
                width: camera.width,
                height: camera.height,
                stride: camera.width * 4,
                ..self.producer.next_header()
            };
            self.producer
                .send(0, &header)
                .map_err(|e| format!("cannot send a frame ({e})"))?;
        }
        Ok(())
    }
}
