//! `{{name}}`: a plexus source that produces RGBA8 video from a thread of its
//! own. Every frame is one colour, cycling through the hues; replace `fill`
//! with your camera, file reader or sensor.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use plexus_plugin_sdk::serde_json::Value;
use plexus_plugin_sdk::{export_plugin, FrameHeader, Processor, Producer};

const OUT: usize = 0;
const BYTES_PER_PIXEL: usize = 4;

struct {{class}} {
    width: u32,
    height: u32,
    period: Duration,
    running: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Processor for {{class}} {
    /// `config` holds the pipeline's `config:` with the defaults from
    /// plexus.yaml filled in, already checked against its ranges.
    fn setup(config: &Value) -> Result<Self, String> {
        let number = |key: &str| {
            config[key]
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or(format!("config `{key}` must be a positive integer"))
        };
        Ok({{class}} {
            width: number("width")?,
            height: number("height")?,
            period: Duration::from_secs(1) / number("fps")?,
            running: Arc::new(AtomicBool::new(true)),
            thread: None,
        })
    }

    /// Returns promptly: the frames come from this thread.
    fn start(&mut self, mut out: Producer) -> Result<(), String> {
        let (width, height, period) = (self.width, self.height, self.period);
        let running = Arc::clone(&self.running);
        let thread = std::thread::spawn(move || {
            let mut due = Instant::now();
            while running.load(Ordering::Relaxed) {
                let mut ports = out.ports();
                // The next sequence number and the capture time, from plexus.
                let next = ports.next_header();
                let header = FrameHeader {
                    width,
                    height,
                    stride: width * BYTES_PER_PIXEL as u32,
                    ..next
                };
                let len = width as usize * height as usize * BYTES_PER_PIXEL;
                // Shared memory, filled in place and sent without a copy.
                let sent = ports
                    .loan(OUT, len)
                    .map(|buf| fill(buf, next.seq))
                    .and_then(|()| ports.send(OUT, &header));
                if let Err(e) = sent {
                    eprintln!("{{name}}: {e}");
                }
                due += period;
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
        });
        self.thread = Some(thread);
        Ok(())
    }

    fn stop(&mut self) -> Result<(), String> {
        self.running.store(false, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Err(_)) => Err("the producing thread panicked".to_owned()),
            _ => Ok(()),
        }
    }
}

/// One colour for frame `n`, cycling through the hues.
fn fill(pixels: &mut [u8], n: u64) {
    let hue = (n % 360) as f32 / 60.0;
    let x = (255.0 * (1.0 - (hue % 2.0 - 1.0).abs())).round() as u8;
    let [r, g, b] = [
        [255, x, 0],
        [x, 255, 0],
        [0, 255, x],
        [0, x, 255],
        [x, 0, 255],
        [255, 0, x],
    ][hue as usize % 6];
    for pixel in pixels.chunks_exact_mut(BYTES_PER_PIXEL) {
        pixel.copy_from_slice(&[r, g, b, 255]);
    }
}

export_plugin!({{class}} => "{{name}}");
