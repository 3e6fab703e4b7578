//! When an input's next frame should arrive, learnt from the frames so far,
//! so that a `latency: low` wait is awake for it instead of paying a
//! wake-up (docs/ARCHITECTURE.md §4, *Low latency*). Pure arithmetic on
//! [`monotonic_ns`](ipc_schemas::frame::monotonic_ns) times: no clock is
//! read here.
//!
//! Sources are mostly periodic. The period is the median interval over the
//! frames kept, per sequence step: one frame lost upstream, or one late
//! capture (a long interval, then a short one), does not move it. The next
//! capture is due a period after the last; it arrives the shortest recent
//! capture-to-take delay later, which is what the hop itself costs: a
//! frame that came through a wake-up counts [`WAKE_NS`] less, so that the
//! wake-ups the first frames pay do not push the window past the frames.
//! A new rate is noticed when two intervals in a row are off the period by
//! more than a quarter, the same way; what was learnt before is dropped.

use std::collections::VecDeque;

use ipc_schemas::LatencyMode;

/// Frames the period is the median interval of, and the delay the least
/// of.
const KEPT: usize = 16;
/// Frames needed before anything is predicted.
const MIN_FRAMES: usize = 4;

/// What a wake-up adds to a frame's delay at least. Measured on this
/// 2-core VM: a frame that came through a wake-up is taken 40–120 µs after
/// its capture, one found by polling 3–20 µs after it at best.
const WAKE_NS: u64 = 30_000;

/// How long before the predicted arrival the wait starts polling, and the
/// longest window in ns. Measured on this VM with a `test_pattern →
/// stats_sink` hop at 33 and 100 fps (64 B), logging each frame against
/// the window it was predicted in: the builtin source's own timer ends
/// whole milliseconds (epoll's unit) late in a saw-tooth, so its captures
/// come 0.3 ms late three times and 0.7 ms early once; the consumer's alarm
/// ends 10–150 µs late under load. Starting 80 µs early caught the most
/// frames; 40 µs lost those the alarm woke late for, 180 µs only burnt
/// the window before the frame (20 % caught against 45–65 %).
const EARLY_NS: u64 = 80_000;
const MAX_WINDOW_NS: u64 = 1_000_000;

/// The most of a period an input may spend polling, in per mille: 25 ‰
/// keeps a worker's extra CPU under 3 % of a core at any rate (250 µs of
/// a 10 ms period at 100 fps, 750 µs at 33 fps, 1 ms at most).
const BUDGET_PER_MILLE: u64 = 25;

/// Frames later than a prediction that is given up on: after a frame lost
/// upstream the next one is still awaited, after several the source is
/// taken for paused and the input simply sleeps until a frame comes.
const MAX_MISSED: u64 = 2;

/// A source slower than this is not predicted: one wake-up a second costs
/// nothing worth polling for.
const MAX_PERIOD_NS: u64 = 1_000_000_000;

/// How the worker came to serve an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Its wake-up, or frames left from its last turn.
    Woken,
    /// A `latency: low` wait found a frame as it arrived.
    Caught,
}

/// What the wait should do about one input, at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// Nothing to predict (too few frames, a slow source, or the frame is
    /// long overdue): sleep until it comes.
    Asleep,
    /// Sleep until the window opens at this time, then poll.
    OpensAt(u64),
    /// Poll now, until this time.
    PollUntil(u64),
}

/// How one input waits for its frames, with what it learnt for that.
#[derive(Debug)]
pub enum Waiting {
    Efficient,
    Low(Arrival),
}

impl Waiting {
    pub fn new(mode: LatencyMode) -> Self {
        match mode {
            LatencyMode::Efficient => Waiting::Efficient,
            LatencyMode::Low => Waiting::Low(Arrival::default()),
        }
    }

    /// See [`Arrival::observe`]; nothing to learn for an efficient input.
    pub fn observe(&mut self, seq: u64, capture_ns: u64, taken_ns: u64, via: Via) {
        if let Waiting::Low(arrival) = self {
            arrival.observe(seq, capture_ns, taken_ns, via);
        }
    }

    /// See [`Arrival::watch`]; an efficient input always sleeps.
    pub fn watch(&self, now_ns: u64) -> Watch {
        match self {
            Waiting::Efficient => Watch::Asleep,
            Waiting::Low(arrival) => arrival.watch(now_ns),
        }
    }
}

/// What the predictor knows of one input.
#[derive(Debug, Default)]
pub struct Arrival {
    /// The newest frames taken.
    frames: VecDeque<Frame>,
    /// Intervals in a row off the period by more than a quarter, counted
    /// up when longer, down when shorter: a late frame (one long interval,
    /// then one short) is not a new rate.
    off: i8,
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    seq: u64,
    capture: u64,
    /// From capture to take, less a wake-up's cost if it paid one.
    delay: u64,
}

impl Arrival {
    /// Books a frame with sequence number `seq`, captured at `capture_ns`
    /// and taken at `taken_ns`, come `via` a wake-up or a catch.
    pub fn observe(&mut self, seq: u64, capture_ns: u64, taken_ns: u64, via: Via) {
        if let Some(last) = self.frames.back().copied() {
            match (
                seq.checked_sub(last.seq),
                capture_ns.checked_sub(last.capture),
            ) {
                (Some(steps @ 1..), Some(interval)) => {
                    let step = interval / steps;
                    self.off = match self.period() {
                        Some(p) if step > p + p / 4 => self.off.max(0) + 1,
                        Some(p) if step < p - p / 4 => self.off.min(0) - 1,
                        _ => 0,
                    };
                    // A new rate: what came before it would only mislead.
                    if self.off.abs() >= 2 {
                        self.frames.drain(..self.frames.len() - 1);
                        self.off = 0;
                    }
                }
                // Out of order, or a new producer's clock: learn anew.
                _ => self.frames.clear(),
            }
        }
        if self.frames.len() == KEPT {
            self.frames.pop_front();
        }
        self.frames.push_back(Frame {
            seq,
            capture: capture_ns,
            delay: match via {
                Via::Woken => taken_ns.saturating_sub(capture_ns + WAKE_NS),
                Via::Caught => taken_ns.saturating_sub(capture_ns),
            },
        });
    }

    /// The period learnt, once there are enough frames to trust: the
    /// median interval per sequence step, which one late frame (a long
    /// interval, then a short one) does not move.
    fn period(&self) -> Option<u64> {
        if self.frames.len() < MIN_FRAMES {
            return None;
        }
        let pairs = self.frames.iter().zip(self.frames.iter().skip(1));
        let mut steps: Vec<u64> = pairs
            .map(|(a, b)| (b.capture - a.capture) / (b.seq - a.seq))
            .collect();
        steps.sort_unstable();
        Some(steps[steps.len() / 2]).filter(|p| (1..=MAX_PERIOD_NS).contains(p))
    }

    /// What to do about this input at `now_ns`.
    pub fn watch(&self, now_ns: u64) -> Watch {
        let (Some(period), Some(last)) = (self.period(), self.frames.back()) else {
            return Watch::Asleep;
        };
        let delay = self.frames.iter().map(|f| f.delay).min().unwrap_or(0);
        let window = (period * BUDGET_PER_MILLE / 1000).min(MAX_WINDOW_NS);
        let early = EARLY_NS.min(window / 2);
        let late = window - early;
        // The first predicted arrival whose window has not closed yet.
        let first = last.capture + period + delay;
        let missed = now_ns.saturating_sub(first + late).div_ceil(period);
        if missed > MAX_MISSED {
            return Watch::Asleep;
        }
        let expected = first + missed * period;
        match expected.saturating_sub(early) {
            opens if now_ns < opens => Watch::OpensAt(opens),
            _ => Watch::PollUntil(expected + late),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const US: u64 = 1_000;
    /// The window at 100 fps: 250 µs, 80 µs of it before the prediction.
    const LATE_AT_100: u64 = 170 * US;

    /// An input fed `frames` frames `period` apart from 0, each taken
    /// `delay` after its capture.
    fn fed(frames: u64, period: u64, delay: u64) -> Arrival {
        let mut a = Arrival::default();
        for seq in 0..frames {
            a.observe(seq, seq * period, seq * period + delay, Via::Caught);
        }
        a
    }

    #[test]
    fn nothing_is_predicted_before_four_frames() {
        assert_eq!(fed(3, 10 * MS, 5 * US).watch(25 * MS), Watch::Asleep);
        assert_ne!(fed(4, 10 * MS, 5 * US).watch(35 * MS), Watch::Asleep);
    }

    #[test]
    fn the_window_opens_a_margin_before_the_predicted_arrival() {
        // Last capture at 90 ms: the next is due at 100 ms, taken 5 µs later.
        let a = fed(10, 10 * MS, 5 * US);
        let expected = 100 * MS + 5 * US;
        assert_eq!(a.watch(92 * MS), Watch::OpensAt(expected - EARLY_NS));
        assert_eq!(
            a.watch(expected - 10 * US),
            Watch::PollUntil(expected + LATE_AT_100)
        );
    }

    #[test]
    fn the_window_keeps_within_the_cpu_budget_at_high_rates() {
        // 1 kHz: 25 µs of each 1 ms.
        let a = fed(10, MS, 0);
        let Watch::OpensAt(opens) = a.watch(9 * MS + 100 * US) else {
            panic!("a window is predicted")
        };
        let Watch::PollUntil(until) = a.watch(opens) else {
            panic!("the window is open")
        };
        assert_eq!(until - opens, 25 * US);
    }

    #[test]
    fn a_lost_frame_is_awaited_a_period_later_then_given_up() {
        let a = fed(10, 10 * MS, 0);
        // The frame due at 100 ms never came: the one at 110 ms is awaited.
        assert_eq!(a.watch(101 * MS), Watch::OpensAt(110 * MS - EARLY_NS));
        assert_eq!(a.watch(135 * MS), Watch::Asleep);
    }

    #[test]
    fn the_shortest_delay_is_the_hops_not_a_wake_ups() {
        let mut a = fed(10, 10 * MS, 60 * US);
        a.observe(10, 100 * MS, 100 * MS + 4 * US, Via::Caught);
        assert_eq!(
            a.watch(105 * MS),
            Watch::OpensAt(110 * MS + 4 * US - EARLY_NS)
        );
    }

    #[test]
    fn a_woken_frame_counts_a_wake_up_less() {
        let mut a = fed(10, 10 * MS, 60 * US);
        a.observe(10, 100 * MS, 100 * MS + 50 * US, Via::Woken);
        assert_eq!(
            a.watch(105 * MS),
            Watch::OpensAt(110 * MS + 50 * US - WAKE_NS - EARLY_NS)
        );
    }

    #[test]
    fn a_late_capture_does_not_move_the_period() {
        let mut a = fed(10, 10 * MS, 0);
        a.observe(10, 103 * MS, 103 * MS, Via::Caught);
        a.observe(11, 110 * MS, 110 * MS, Via::Caught);
        assert_eq!(a.watch(112 * MS), Watch::OpensAt(120 * MS - EARLY_NS));
    }

    #[test]
    fn a_new_rate_is_learnt_within_four_frames() {
        let mut a = fed(10, 30 * MS, 0);
        let mut capture = 9 * 30 * MS;
        for seq in 10..14 {
            capture += 10 * MS;
            a.observe(seq, capture, capture, Via::Caught);
        }
        assert_eq!(
            a.watch(capture + MS),
            Watch::OpensAt(capture + 10 * MS - EARLY_NS)
        );
    }

    #[test]
    fn frames_lost_between_two_taken_count_as_periods() {
        let mut a = fed(10, 10 * MS, 0);
        // Frames 10 and 11 were lost upstream: 12 comes 30 ms after 9.
        a.observe(12, 120 * MS, 120 * MS, Via::Caught);
        assert_eq!(a.watch(121 * MS), Watch::OpensAt(130 * MS - EARLY_NS));
    }

    #[test]
    fn a_producer_starting_over_is_learnt_anew() {
        let mut a = fed(10, 10 * MS, 0);
        a.observe(0, 200 * MS, 200 * MS, Via::Caught);
        assert_eq!(a.watch(201 * MS), Watch::Asleep);
    }

    #[test]
    fn a_slow_source_is_not_predicted() {
        assert_eq!(fed(10, 2_000 * MS, 0).watch(18_500 * MS), Watch::Asleep);
    }
}
