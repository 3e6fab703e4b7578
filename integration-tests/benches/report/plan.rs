//! What every hop-latency measurement sends and what it yields, shared by
//! the baselines and the plexus hops so that all measure the same traffic.

use std::time::Duration;

/// The one rate every payload size is sent at. A receiver that sleeps longer
/// between frames wakes up more slowly, so a rate that differed between sizes
/// would skew the size comparison; 100 fps is low enough that the test
/// pattern draws even 8 MiB frames in time on a small machine.
pub const FPS: u32 = 100;

/// One payload size: RGBA8 frames of `width × height` pixels.
pub struct Size {
    pub label: &'static str,
    pub width: u32,
    pub height: u32,
}

impl Size {
    pub fn bytes(&self) -> usize {
        self.width as usize * self.height as usize * 4
    }
}

pub const SIZES: [Size; 5] = [
    Size {
        label: "64 B",
        width: 4,
        height: 4,
    },
    Size {
        label: "4 KiB",
        width: 32,
        height: 32,
    },
    Size {
        label: "64 KiB",
        width: 128,
        height: 128,
    },
    Size {
        label: "1 MiB",
        width: 512,
        height: 512,
    },
    Size {
        label: "8 MiB",
        width: 1024,
        height: 2048,
    },
];

/// Frame counts of one measurement, sent at [`FPS`].
#[derive(Clone, Copy)]
pub struct Plan {
    /// Frames sent first and not measured by the raw receiver: page faults of
    /// fresh segments, connection set-up, cold caches.
    pub warmup: u64,
    pub measured: u64,
}

impl Plan {
    /// A quarter of a second of warm-up, then ten seconds of measurement, or
    /// a quarter of a second in a quick run, which only proves the harness.
    pub fn new(quick: bool) -> Self {
        let quarter = u64::from(FPS / 4);
        Self {
            warmup: quarter,
            measured: if quick { quarter } else { quarter * 40 },
        }
    }

    pub fn total(&self) -> u64 {
        self.warmup + self.measured
    }

    /// Time between two frames.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(1) / FPS
    }
}

/// Percentiles of one measurement, in microseconds.
pub struct Latency {
    pub p50_us: f64,
    pub p99_us: f64,
    /// Frames the percentiles are taken over.
    pub frames: u64,
    /// Frames sent but never received.
    pub lost: u64,
    /// CPU time of sender and receiver together per measured frame, in µs,
    /// where the bench can see both sides (the baselines).
    pub cpu_us: Option<f64>,
}

/// The CPU per frame of a baseline hop: both sides' CPU time from just after
/// the first measured frame to the last, over the frames in between.
pub fn cpu_per_frame(sender_ns: u64, receiver_ns: u64, plan: Plan) -> Option<f64> {
    let frames = plan.measured.checked_sub(1).filter(|&n| n > 0)?;
    Some((sender_ns + receiver_ns) as f64 / 1000.0 / frames as f64)
}
