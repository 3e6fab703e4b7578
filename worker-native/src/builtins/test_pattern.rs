//! `builtin.test_pattern`: a capture source that needs no camera, so every
//! pipeline and test can run anywhere, and whose pixels a consumer can
//! recompute from the sequence number alone to verify what it received.
//!
//! Frame `n` (its `seq`, counting from 0) is RGBA8, `stride = width * 4`, and
//! pixel (x, y) is
//!
//! ```text
//! R = (x + n) % 256
//! G = (y + 2 * n) % 256
//! B = (x ^ y) % 256      (bitwise xor of x and y)
//! A = 255
//! ```

use std::time::Duration;

use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::{ConfigOutcome, FrameHeader, ProcessorSpec, SchemaId};
use serde::Deserialize;
use serde_json::{Map, Value};
use worker_lifecycle::{Input, Outputs, Processor};

const BYTES_PER_PIXEL: usize = 4;

/// Every channel of the pattern repeats after 256 pixels along a row.
const PERIOD_BYTES: usize = 256 * BYTES_PER_PIXEL;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
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
}

pub(super) struct TestPattern {
    id: String,
    width: u32,
    height: u32,
    interval: Duration,
}

impl TestPattern {
    pub(super) fn new(spec: &ProcessorSpec) -> Result<Self, String> {
        let config: Config = super::parse_config(spec)?;
        Ok(Self {
            id: spec.id.clone(),
            width: config.width,
            height: config.height,
            interval: Duration::from_secs(1) / config.fps,
        })
    }
}

impl Processor for TestPattern {
    fn process(&mut self, input: &Input<'_>, _outputs: &mut Outputs<'_>) -> Result<(), String> {
        Err(format!(
            "processor `{}`: builtin.test_pattern has no inputs but was handed a frame on input {}",
            self.id, input.port
        ))
    }

    fn interval(&self) -> Option<Duration> {
        Some(self.interval)
    }

    /// A new size takes effect from the next frame. A new rate does not:
    /// the interval is part of the worker's wait set, made when it
    /// configures, so the worker is restarted with it.
    fn on_config(&mut self, changes_json: &str) -> ConfigOutcome {
        let changes: Map<String, Value> = match serde_json::from_str(changes_json) {
            Ok(changes) => changes,
            Err(e) => {
                return ConfigOutcome::Failed {
                    message: format!(
                        "processor `{}`: the changes are not a JSON object ({e})",
                        self.id
                    ),
                }
            }
        };
        if changes.contains_key("fps") {
            return ConfigOutcome::NoHook;
        }
        let size = |key: &str, now: u32| match changes.get(key) {
            None => Ok(now),
            Some(value) => value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    format!(
                        "processor `{}`: config `{key}` must be a positive integer, not `{value}`",
                        self.id
                    )
                }),
        };
        match (size("width", self.width), size("height", self.height)) {
            (Ok(width), Ok(height)) => {
                (self.width, self.height) = (width, height);
                ConfigOutcome::Applied
            }
            (Err(message), _) | (_, Err(message)) => ConfigOutcome::Failed { message },
        }
    }

    fn produce(&mut self, next: &FrameHeader, outputs: &mut Outputs<'_>) -> Result<(), String> {
        let stride = self.width as usize * BYTES_PER_PIXEL;
        let buf = outputs
            .loan(0, stride * self.height as usize)
            .map_err(|e| format!("processor `{}`: {e}", self.id))?;
        fill(buf, stride, next.seq);
        // A synthetic frame is captured once drawn; stamping it here keeps the
        // drawing out of every latency measured downstream.
        let capture_ns = monotonic_ns();
        let header = FrameHeader {
            schema: SchemaId::VideoRgba8.code(),
            format: 0,
            seq: next.seq,
            capture_ns,
            width: self.width,
            height: self.height,
            stride: stride as u32,
            ..*next
        };
        // Only a frame that went out uses up a sequence number (`next.seq`
        // counts the frames sent), so a failed send is no gap downstream.
        outputs
            .send(0, &header)
            .map_err(|e| format!("processor `{}`: {e}", self.id))
    }
}

/// Writes frame `n` into `buf`, rows of `stride` bytes with no padding.
fn fill(buf: &mut [u8], stride: usize, n: u64) {
    for (y, row) in buf.chunks_exact_mut(stride).enumerate() {
        fill_row(row, y as u32, n);
    }
}

/// Computes one period of the row and then doubles the filled prefix by
/// copying it: at 1080p this is mostly `memcpy`, not per-pixel arithmetic.
fn fill_row(row: &mut [u8], y: u32, n: u64) {
    // Only the low byte of each term survives `% 256`, so u8 wrapping
    // arithmetic gives exactly the documented formula.
    let red_offset = n as u8;
    let green = (y as u8).wrapping_add((n as u8).wrapping_mul(2));
    let y_low = y as u8;
    let period = row.len().min(PERIOD_BYTES);
    for (x, pixel) in row[..period].chunks_exact_mut(BYTES_PER_PIXEL).enumerate() {
        let x_low = x as u8;
        pixel.copy_from_slice(&[x_low.wrapping_add(red_offset), green, x_low ^ y_low, 255]);
    }
    let mut filled = period;
    while filled < row.len() {
        let chunk = filled.min(row.len() - filled);
        row.copy_within(..chunk, filled);
        filled += chunk;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The module docs' formula, pixel by pixel, in the widest arithmetic.
    fn reference(x: u64, y: u64, n: u64) -> [u8; 4] {
        [
            ((x + n) % 256) as u8,
            ((y + 2 * n) % 256) as u8,
            ((x ^ y) % 256) as u8,
            255,
        ]
    }

    fn frame(width: usize, height: usize, n: u64) -> Vec<u8> {
        let mut buf = vec![0xAA; width * height * BYTES_PER_PIXEL];
        fill(&mut buf, width * BYTES_PER_PIXEL, n);
        buf
    }

    fn pixel(buf: &[u8], width: usize, x: usize, y: usize) -> [u8; 4] {
        let at = (y * width + x) * BYTES_PER_PIXEL;
        buf[at..at + BYTES_PER_PIXEL].try_into().unwrap()
    }

    #[test]
    fn every_pixel_matches_the_formula() {
        for (width, height) in [(1, 1), (3, 2), (256, 3), (300, 5), (1000, 2), (1030, 260)] {
            for n in [0, 1, 2, 127, 255, 256, 1000, u64::MAX / 4] {
                let buf = frame(width, height, n);
                for y in 0..height {
                    for x in 0..width {
                        assert_eq!(
                            pixel(&buf, width, x, y),
                            reference(x as u64, y as u64, n),
                            "{width}x{height} frame {n} pixel ({x}, {y})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn full_hd_spot_checks() {
        let (width, height) = (1920, 1080);
        let n = 77;
        let buf = frame(width, height, n);
        for (x, y) in [(0, 0), (1919, 1079), (256, 511), (1023, 700), (1500, 3)] {
            assert_eq!(pixel(&buf, width, x, y), reference(x as u64, y as u64, n));
        }
    }

    #[test]
    fn config_sets_size_and_rate() {
        let spec = crate::builtins::tests::spec(
            "builtin.test_pattern",
            r#"{"width": 1920, "height": 1080, "fps": 50}"#,
        );
        let p = TestPattern::new(&spec).unwrap();
        assert_eq!((p.width, p.height), (1920, 1080));
        assert_eq!(p.interval(), Some(Duration::from_millis(20)));
        let p =
            TestPattern::new(&crate::builtins::tests::spec("builtin.test_pattern", "{}")).unwrap();
        assert_eq!((p.width, p.height), (640, 480));
    }

    #[test]
    fn a_new_size_is_taken_in_place_a_new_rate_is_not() {
        let spec = crate::builtins::tests::spec("builtin.test_pattern", "{}");
        let mut p = TestPattern::new(&spec).unwrap();
        assert_eq!(p.on_config(r#"{"width": 32}"#), ConfigOutcome::Applied);
        assert_eq!((p.width, p.height), (32, 480));
        assert_eq!(
            p.on_config(r#"{"height": 24, "fps": 5}"#),
            ConfigOutcome::NoHook
        );
        assert_eq!(
            (p.width, p.height),
            (32, 480),
            "nothing taken from a change it declines"
        );
        let refused = p.on_config(r#"{"width": 0, "height": 2}"#);
        assert!(
            matches!(&refused, ConfigOutcome::Failed { message } if message.contains("`width`")),
            "{refused:?}"
        );
        assert_eq!(
            (p.width, p.height),
            (32, 480),
            "a refusal keeps the old size"
        );
    }
}
