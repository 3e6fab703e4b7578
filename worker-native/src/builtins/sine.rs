//! `builtin.test_audio` and `builtin.test_samples`: sources of sine waves
//! per channel, so audio and sensor pipelines run, and are checked, with no
//! hardware. Two types rather than a `pattern` key of `builtin.test_pattern`
//! because a port declares one schema: each type's output is `audio/f32` or
//! `samples/f32`, which `validate` checks like any other connection.
//!
//! Channel `c` (from 0) of absolute sample `n` (from 0 at the first frame,
//! continuous across frames: frame `k` holds `n = k·block … k·block+block−1`)
//! is `sin(2π · hz · (c+1) · n / rate)` as f32. Frames go out `rate / block`
//! times a second; `seq` = k, `pts_ns` = n·1e9/rate of the first sample.
//! `audio/f32` interleaves them (shape [block, channels]); `samples/f32`
//! holds one row per channel (shape [channels, block]).

use std::time::Duration;

use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::{FrameHeader, ProcessorSpec, SchemaId};
use serde::Deserialize;
use worker_lifecycle::{Input, Outputs, Processor};

/// Which of the two sources, and so its layout and defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Audio,
    Samples,
}

impl Kind {
    fn schema(self) -> SchemaId {
        match self {
            Kind::Audio => SchemaId::AudioF32,
            Kind::Samples => SchemaId::SamplesF32,
        }
    }

    /// channels, rate, block, hz when the config leaves them out (as
    /// builtins.yaml says).
    fn defaults(self) -> (u32, u32, u32, f64) {
        match self {
            Kind::Audio => (2, 48_000, 480, 440.0),
            Kind::Samples => (8, 250, 25, 10.0),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    channels: Option<u32>,
    rate: Option<u32>,
    block: Option<u32>,
    hz: Option<f64>,
}

pub(super) struct Sine {
    id: String,
    kind: Kind,
    channels: u32,
    rate: u32,
    block: u32,
    hz: f64,
}

impl Sine {
    pub(super) fn new(spec: &ProcessorSpec, kind: Kind) -> Result<Self, String> {
        let config: Config = super::parse_config(spec)?;
        let (channels, rate, block, hz) = kind.defaults();
        let sine = Self {
            id: spec.id.clone(),
            kind,
            channels: config.channels.unwrap_or(channels),
            rate: config.rate.unwrap_or(rate),
            block: config.block.unwrap_or(block),
            hz: config.hz.unwrap_or(hz),
        };
        // builtins.yaml bounds them for pipelines; this keeps the worker
        // safe from a spec that skipped it.
        for (key, value) in [
            ("channels", sine.channels),
            ("rate", sine.rate),
            ("block", sine.block),
        ] {
            if value == 0 {
                return Err(format!(
                    "processor `{}`: config `{key}` must be at least 1",
                    spec.id
                ));
            }
        }
        Ok(sine)
    }

    fn shape(&self) -> [u32; 2] {
        match self.kind {
            Kind::Audio => [self.block, self.channels],
            Kind::Samples => [self.channels, self.block],
        }
    }
}

/// Sample `n` of channel `c`, as the module comment says.
pub(super) fn sample(hz: f64, rate: u32, c: u32, n: u64) -> f32 {
    (std::f64::consts::TAU * hz * f64::from(c + 1) * n as f64 / f64::from(rate)).sin() as f32
}

impl Processor for Sine {
    fn process(&mut self, input: &Input<'_>, _outputs: &mut Outputs<'_>) -> Result<(), String> {
        Err(format!(
            "processor `{}`: a sine source has no inputs but was handed a frame on input {}",
            self.id, input.port
        ))
    }

    fn interval(&self) -> Option<Duration> {
        Some(Duration::from_nanos(
            u64::from(self.block) * 1_000_000_000 / u64::from(self.rate),
        ))
    }

    fn produce(&mut self, next: &FrameHeader, outputs: &mut Outputs<'_>) -> Result<(), String> {
        let fail = |e: worker_lifecycle::OutputError| format!("processor `{}`: {e}", self.id);
        let count = self.channels as usize * self.block as usize;
        let buf = outputs.loan(0, count * 4).map_err(fail)?;
        let first = next.seq * u64::from(self.block);
        for (i, bytes) in buf.chunks_exact_mut(4).enumerate() {
            let (c, offset) = match self.kind {
                Kind::Audio => (i % self.channels as usize, i / self.channels as usize),
                Kind::Samples => (i / self.block as usize, i % self.block as usize),
            };
            let value = sample(self.hz, self.rate, c as u32, first + offset as u64);
            bytes.copy_from_slice(&value.to_le_bytes());
        }
        let header = FrameHeader {
            seq: next.seq,
            capture_ns: monotonic_ns(),
            pts_ns: (u128::from(first) * 1_000_000_000 / u128::from(self.rate)) as i64,
            duration_ns: u64::from(self.block) * 1_000_000_000 / u64::from(self.rate),
            ..FrameHeader::shaped(self.kind.schema(), &self.shape(), self.rate)
        };
        outputs.send(0, &header).map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_harmonics_of_hz() {
        // Channel 1 at sample 1 of 8 per second, 1 Hz: sin(2π·2/8) = 1.
        assert!((sample(1.0, 8, 1, 1) - 1.0).abs() < 1e-6);
        assert_eq!(sample(440.0, 48_000, 0, 0), 0.0);
        // Channel 2 (3 × 10 Hz) at 250/s, sample 1: sin(2π·30/250).
        let want = (std::f64::consts::TAU * 30.0 / 250.0).sin() as f32;
        assert_eq!(sample(10.0, 250, 2, 1), want);
    }

    #[test]
    fn each_kind_lays_out_its_shape() {
        let spec = |config: &str| ProcessorSpec {
            id: "s".into(),
            type_name: "builtin.test_samples".into(),
            entry: ipc_schemas::Entry::Builtin,
            config_json: config.into(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            frame_limit: None,
            mode: ipc_schemas::Mode::Reactive,
            sync: ipc_schemas::SyncPolicy::Any,
        };
        let samples = Sine::new(&spec(""), Kind::Samples).unwrap();
        assert_eq!(samples.shape(), [8, 25]);
        assert_eq!(samples.interval(), Some(Duration::from_millis(100)));
        let audio = Sine::new(&spec(r#"{"channels": 1}"#), Kind::Audio).unwrap();
        assert_eq!(audio.shape(), [480, 1]);
        assert_eq!(audio.interval(), Some(Duration::from_millis(10)));
        let zero = Sine::new(&spec(r#"{"rate": 0}"#), Kind::Samples)
            .err()
            .unwrap();
        assert_eq!(zero, "processor `s`: config `rate` must be at least 1");
    }
}
