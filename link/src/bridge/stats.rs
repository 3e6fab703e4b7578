//! Counts of one bridged port on its receiving host: frames published,
//! frames lost on the link (gaps in the sender's `link_seq`; a sequence that
//! starts again is a restarted sender, not a loss) and, per second, the
//! link's latency p50/p99 and frame rate.

use std::time::{Duration, Instant};

use ipc_schemas::LatencyUs;

/// Latencies kept per second; beyond it the newest replace the oldest.
const WINDOW_SAMPLES: usize = 8192;
const SECOND: Duration = Duration::from_secs(1);

/// The counts as `LinkStatus` shows them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counts {
    pub sent: u64,
    pub received: u64,
    pub dropped: u64,
    pub latency_us: Option<LatencyUs>,
    pub fps: f64,
}

#[derive(Debug)]
pub struct PortStats {
    /// Frames earlier senders (before a restart) put on the link.
    sent_before: u64,
    /// The highest `link_seq` of the current sender.
    last_seq: u64,
    received: u64,
    dropped: u64,
    window: Window,
    /// The last full second.
    last_second: Option<(Option<LatencyUs>, f64)>,
}

#[derive(Debug)]
struct Window {
    start: Instant,
    frames: u64,
    latencies_ns: Vec<u64>,
}

impl PortStats {
    pub fn new(now: Instant) -> Self {
        Self {
            sent_before: 0,
            last_seq: 0,
            received: 0,
            dropped: 0,
            window: Window {
                start: now,
                frames: 0,
                latencies_ns: Vec::new(),
            },
            last_second: None,
        }
    }

    /// A frame arrived with `link_seq`: counts the frames lost before it.
    pub fn arrived(&mut self, link_seq: u64) {
        if link_seq <= self.last_seq {
            // The sender started again from 1.
            self.sent_before += self.last_seq;
            self.dropped += link_seq.saturating_sub(1);
        } else {
            self.dropped += link_seq - self.last_seq - 1;
        }
        self.last_seq = link_seq;
    }

    /// The frame that arrived was published, `latency_ns` after it was sent.
    pub fn published(&mut self, latency_ns: u64, now: Instant) {
        self.roll(now);
        self.received += 1;
        self.window.frames += 1;
        let samples = &mut self.window.latencies_ns;
        if samples.len() < WINDOW_SAMPLES {
            samples.push(latency_ns);
        } else {
            samples[(self.window.frames as usize) % WINDOW_SAMPLES] = latency_ns;
        }
    }

    pub fn counts(&mut self, now: Instant) -> Counts {
        self.roll(now);
        let (latency_us, fps) = self.last_second.unwrap_or((None, 0.0));
        Counts {
            sent: self.sent_before + self.last_seq,
            received: self.received,
            dropped: self.dropped,
            latency_us,
            fps,
        }
    }

    /// Closes the window once a second passed; a second with no frames
    /// at all leaves none behind.
    fn roll(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.window.start);
        if elapsed < SECOND {
            return;
        }
        let window = std::mem::replace(
            &mut self.window,
            Window {
                start: now,
                frames: 0,
                latencies_ns: Vec::new(),
            },
        );
        // More than two seconds: nothing arrived in the last one.
        self.last_second = match elapsed < 2 * SECOND {
            true => Some((
                percentiles(window.latencies_ns),
                window.frames as f64 / elapsed.as_secs_f64(),
            )),
            false => None,
        };
    }
}

fn percentiles(mut ns: Vec<u64>) -> Option<LatencyUs> {
    if ns.is_empty() {
        return None;
    }
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q).round() as usize] / 1000;
    Some(LatencyUs {
        p50: at(0.5),
        p99: at(0.99),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_in_the_link_sequence_are_link_drops() {
        let t = Instant::now();
        let mut stats = PortStats::new(t);
        for seq in [1, 2, 5, 6, 10] {
            stats.arrived(seq);
            stats.published(1_000, t);
        }
        let counts = stats.counts(t);
        assert_eq!((counts.sent, counts.received, counts.dropped), (10, 5, 5));
    }

    #[test]
    fn a_restarted_sender_is_not_a_loss() {
        let t = Instant::now();
        let mut stats = PortStats::new(t);
        for seq in [1, 2, 3, 1, 2, 4] {
            stats.arrived(seq);
            stats.published(1_000, t);
        }
        let counts = stats.counts(t);
        assert_eq!((counts.sent, counts.received, counts.dropped), (7, 6, 1));
        // Its first frames lost: counted.
        stats.arrived(3);
        assert_eq!(stats.counts(t).dropped, 3);
    }

    #[test]
    fn latency_and_rate_cover_the_last_full_second() {
        let t = Instant::now();
        let mut stats = PortStats::new(t);
        assert_eq!(stats.counts(t).latency_us, None);
        for i in 1..=100u64 {
            stats.arrived(i);
            stats.published(i * 1_000_000, t + Duration::from_millis(i * 9));
        }
        let counts = stats.counts(t + Duration::from_millis(1000));
        assert_eq!(
            counts.latency_us,
            Some(LatencyUs {
                p50: 51_000,
                p99: 99_000
            })
        );
        assert!((counts.fps - 100.0).abs() < 1e-9, "{}", counts.fps);
        // A silent second after it shows no latency and no rate.
        let later = stats.counts(t + Duration::from_millis(3500));
        assert_eq!((later.latency_us, later.fps), (None, 0.0));
        assert_eq!(later.received, 100);
    }
}
