//! Per-port accounting every processor gets for free: frame counts, sequence
//! gaps (kept in shared memory, `bus::counters`) and capture-to-input
//! latency, summarised for the supervisor.

use bus::counters::InputCounters;
use ipc_schemas::{LatencyHistogramUs, LatencySummary, PortStats, LATENCY_LE_US};

/// Sub-buckets per power of two: about 6 % resolution, fixed memory.
const SUB_BITS: u32 = 4;
const SUBS: usize = 1 << SUB_BITS;
const BUCKETS: usize = 64 * SUBS;

/// A log-linear histogram of nanosecond durations.
pub struct LatencyHistogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
    max: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            counts: Box::new([0; BUCKETS]),
            total: 0,
            max: 0,
        }
    }
}

impl LatencyHistogram {
    pub fn record(&mut self, ns: u64) {
        self.counts[bucket_of(ns)] += 1;
        self.total += 1;
        self.max = self.max.max(ns);
    }

    /// The value below which `q` (0..=1) of the samples fall, to bucket precision.
    pub fn quantile(&self, q: f64) -> u64 {
        let rank = ((self.total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_high(i).min(self.max);
            }
        }
        self.max
    }

    /// Adds `other`'s samples to these.
    pub fn absorb(&mut self, other: &LatencyHistogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// Forgets every sample: the histogram of an interval starts over.
    pub fn clear(&mut self) {
        if self.total > 0 {
            self.counts.fill(0);
            self.total = 0;
            self.max = 0;
        }
    }

    pub fn summary(&self) -> Option<LatencySummary> {
        (self.total > 0).then(|| LatencySummary {
            p50_ns: self.quantile(0.5),
            p99_ns: self.quantile(0.99),
            max_ns: self.max,
        })
    }
}

fn bucket_of(ns: u64) -> usize {
    if ns < SUBS as u64 {
        return ns as usize;
    }
    let exp = 63 - ns.leading_zeros();
    let sub = (ns >> (exp - SUB_BITS)) as usize & (SUBS - 1);
    ((exp - SUB_BITS + 1) as usize) * SUBS + sub
}

fn bucket_high(i: usize) -> u64 {
    if i < SUBS {
        return i as u64;
    }
    let exp = (i / SUBS) as u32 + SUB_BITS - 1;
    let sub = (i % SUBS) as u64;
    ((SUBS as u64 + sub + 1) << (exp - SUB_BITS)) - 1
}

/// Counts frames of one input and the sequence numbers it never saw, in
/// the processor's shared counters, so that the counts span every process
/// of the processor: a successor's first frame after a crash shows the
/// outage as a gap.
pub struct InputTracker {
    port: String,
    counters: InputCounters,
    /// Capture-to-input latency since the last report.
    recent: LatencyHistogram,
    /// The same frames counted in the coarse buckets the run's histogram
    /// adds up (`LATENCY_LE_US`).
    recent_counts: [u64; LATENCY_LE_US.len() + 1],
    /// The most frames found waiting behind the one taken, since the last
    /// report.
    queue: u64,
    /// Whose frames these are, after a live swap.
    start: Start,
}

/// Where an input's process begins taking frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// With whatever comes.
    Anywhere,
    /// A live swap's successor: frames below this sequence number were its
    /// predecessor's, which handled them; they are released unseen until
    /// the first frame at or past it.
    After { predecessor_until: u64 },
}

impl InputTracker {
    pub fn new(port: &str, counters: InputCounters) -> Self {
        Self {
            port: port.to_string(),
            counters,
            recent: LatencyHistogram::default(),
            recent_counts: [0; LATENCY_LE_US.len() + 1],
            queue: 0,
            start: Start::Anywhere,
        }
    }

    /// A live swap's successor takes the input over where its predecessor
    /// left it: at the sequence number after the last one it saw, which
    /// the shared counters hold.
    pub fn take_over(&mut self) {
        self.start = Start::After {
            predecessor_until: self.counters.next_seq.get(),
        };
    }

    /// Whether the frame `seq` is one the predecessor handled, to be
    /// released without being counted or processed again.
    pub fn predecessors(&mut self, seq: u64) -> bool {
        match self.start {
            Start::After { predecessor_until } if seq < predecessor_until => true,
            Start::After { .. } => {
                self.start = Start::Anywhere;
                false
            }
            Start::Anywhere => false,
        }
    }

    pub fn port(&self) -> &str {
        &self.port
    }

    /// The sequence number after the highest one seen, by every process of
    /// the processor; 0 before any.
    pub fn next_seq(&self) -> u64 {
        self.counters.next_seq.get()
    }

    /// Books a frame with sequence number `seq`, taken off the input for
    /// the processor `latency_ns` after its capture.
    pub fn observe(&mut self, seq: u64, latency_ns: u64) {
        self.see(seq);
        self.recent.record(latency_ns);
        self.recent_counts[LatencyHistogramUs::bucket_of(latency_ns)] += 1;
        self.counters.frames.add(1);
    }

    /// Books the frame just observed as caught by a `latency: low` wait.
    pub fn caught(&self) {
        self.counters.caught.add(1);
    }

    /// Books one turn at the input, which found `waiting` frames behind the
    /// first one it took.
    pub fn waited(&mut self, waiting: u64) {
        self.queue = self.queue.max(waiting);
    }

    /// The latency since the last report.
    pub fn recent_latency(&self) -> &LatencyHistogram {
        &self.recent
    }

    /// Books a frame with sequence number `seq`, taken off the input while
    /// the processor is paused and dropped: on purpose, so not loss. Its
    /// sequence number counts as seen, so the first frame after the resume
    /// shows no gap.
    pub fn skip(&mut self, seq: u64) {
        self.see(seq);
        self.counters.dropped_paused.add(1);
    }

    /// Books a frame taken off the input that found no partner under the
    /// processor's `sync:` policy (it was counted when received).
    pub fn unmatched(&self) {
        self.counters.unmatched.add(1);
    }

    /// Sequence accounting, the same for frames processed and skipped.
    fn see(&mut self, seq: u64) {
        let c = &self.counters;
        match c.next_seq.get().checked_sub(1) {
            Some(last) if seq <= last => c.out_of_order.add(1),
            Some(last) => c.seq_gaps.add(seq - last - 1),
            None => {}
        }
        if seq >= c.next_seq.get() {
            c.next_seq.set(seq + 1);
        }
    }

    /// The counts so far, and the figures of the interval since the last
    /// call, which start over.
    pub fn stats(&mut self) -> PortStats {
        let stats = PortStats {
            port: self.port.clone(),
            frames: self.counters.frames.get(),
            seq_gaps: self.counters.seq_gaps.get(),
            out_of_order: self.counters.out_of_order.get(),
            dropped_paused: self.counters.dropped_paused.get(),
            unmatched: self.counters.unmatched.get(),
            caught: self.counters.caught.get(),
            queue: self.queue,
            recent_latency: self.recent.summary(),
            latency_counts: match self.recent_counts.iter().any(|&c| c > 0) {
                true => self.recent_counts.to_vec(),
                false => Vec::new(),
            },
            ..PortStats::default()
        };
        self.recent.clear();
        self.recent_counts.fill(0);
        self.queue = 0;
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_bucket_precision() {
        let mut h = LatencyHistogram::default();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        let p99 = h.quantile(0.99) as f64;
        assert!((p50 / 500_000.0 - 1.0).abs() < 0.07, "p50 {p50}");
        assert!((p99 / 990_000.0 - 1.0).abs() < 0.07, "p99 {p99}");
        assert_eq!(h.summary().unwrap().max_ns, 1_000_000);
    }

    #[test]
    fn buckets_are_monotonic() {
        let mut prev = 0;
        for v in (0..1_000_000u64).step_by(997) {
            let b = bucket_of(v);
            assert!(b >= prev);
            assert!(bucket_high(b) >= v);
            prev = b;
        }
    }

    #[test]
    fn gaps_and_reordering_are_counted_across_processes() {
        let names = ipc_schemas::Names::new("c0ffee02").unwrap();
        let counters = || bus::counters::Counters::open(&names, "sink", 1, 0).unwrap();
        let mut t = InputTracker::new("in", counters().input(0));
        for s in [0, 1, 2, 5, 4, 6] {
            t.observe(s, 1000);
        }
        // A successor picks up where the crashed process left off.
        let mut t = InputTracker::new("in", counters().input(0));
        t.observe(9, 1000);
        let stats = t.stats();
        std::fs::remove_file(format!("/dev/shm/{}counts_sink", names.file_prefix())).unwrap();
        assert_eq!(stats.frames, 7);
        assert_eq!(stats.seq_gaps, 4);
        assert_eq!(stats.out_of_order, 1);
    }

    #[test]
    fn a_successor_releases_its_predecessors_frames_unseen() {
        let names = ipc_schemas::Names::new("c0ffee0a").unwrap();
        let counters = bus::counters::Counters::open(&names, "swap", 1, 0).unwrap();
        let mut old = InputTracker::new("in", counters.input(0));
        for seq in 0..5 {
            old.observe(seq, 1);
        }
        let mut new = InputTracker::new("in", counters.input(0));
        new.take_over();
        let handled: Vec<u64> = (2..8).filter(|&seq| !new.predecessors(seq)).collect();
        assert_eq!(handled, vec![5, 6, 7]);
        // Past the switch, an old frame is out of order like any other.
        assert!(!new.predecessors(3));
        for seq in 5..8 {
            new.observe(seq, 1);
        }
        let stats = new.stats();
        std::fs::remove_file(format!("/dev/shm/{}counts_swap", names.file_prefix())).unwrap();
        assert_eq!(
            (stats.frames, stats.seq_gaps, stats.out_of_order),
            (8, 0, 0)
        );
    }

    #[test]
    fn frames_skipped_while_paused_are_seen_but_neither_received_nor_lost() {
        let names = ipc_schemas::Names::new("c0ffee04").unwrap();
        let counters = bus::counters::Counters::open(&names, "mid", 1, 0).unwrap();
        let mut t = InputTracker::new("in", counters.input(0));
        for s in 0..3 {
            t.observe(s, 1000);
        }
        for s in 3..8 {
            t.skip(s);
        }
        t.observe(8, 1000);
        let stats = t.stats();
        std::fs::remove_file(format!("/dev/shm/{}counts_mid", names.file_prefix())).unwrap();
        assert_eq!(stats.frames, 4);
        assert_eq!(stats.dropped_paused, 5);
        assert_eq!(stats.seq_gaps, 0);
        assert_eq!(stats.out_of_order, 0);
    }

    #[test]
    fn an_interval_starts_over_after_each_report() {
        let names = ipc_schemas::Names::new("c0ffee05").unwrap();
        let counters = bus::counters::Counters::open(&names, "late", 1, 0).unwrap();
        let mut t = InputTracker::new("in", counters.input(0));
        t.observe(0, 2_000_000);
        t.waited(3);
        t.waited(1);
        let first = t.stats();
        let second = t.stats();
        std::fs::remove_file(format!("/dev/shm/{}counts_late", names.file_prefix())).unwrap();
        assert_eq!(first.queue, 3);
        assert!(first.recent_latency.unwrap().p50_ns > 1_800_000);
        assert_eq!((second.queue, second.recent_latency), (0, None));
        assert_eq!(second.frames, 1);
        // 2 ms is at most 2.5 ms, the fifth bound; the next interval is empty.
        let mut expected = vec![0; LATENCY_LE_US.len() + 1];
        expected[4] = 1;
        assert_eq!(first.latency_counts, expected);
        assert!(second.latency_counts.is_empty());
    }

    #[test]
    fn latencies_fall_in_the_bucket_of_the_first_bound_they_do_not_exceed() {
        assert_eq!(LatencyHistogramUs::bucket_of(0), 0);
        assert_eq!(LatencyHistogramUs::bucket_of(100_000), 0);
        assert_eq!(LatencyHistogramUs::bucket_of(100_001), 1);
        assert_eq!(LatencyHistogramUs::bucket_of(1_000_000_000), 11);
        assert_eq!(LatencyHistogramUs::bucket_of(1_000_000_001), 12);
    }

    #[test]
    fn empty_histogram_has_no_summary() {
        assert!(LatencyHistogram::default().summary().is_none());
    }
}
