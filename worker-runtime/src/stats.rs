//! Per-port accounting every processor gets for free: frame counts, sequence
//! gaps and capture-to-input latency, summarised for the supervisor.

use ipc_schemas::{LatencySummary, PortStats};

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

/// Counts frames of one input and the sequence numbers it never saw.
#[derive(Default)]
pub struct InputTracker {
    pub stats: PortStats,
    last_seq: Option<u64>,
}

impl InputTracker {
    pub fn new(port: &str) -> Self {
        Self {
            stats: PortStats {
                port: port.to_string(),
                ..PortStats::default()
            },
            last_seq: None,
        }
    }

    pub fn observe(&mut self, seq: u64) {
        self.stats.frames += 1;
        match self.last_seq {
            Some(last) if seq <= last => self.stats.out_of_order += 1,
            Some(last) => self.stats.seq_gaps += seq - last - 1,
            None => {}
        }
        if self.last_seq.is_none_or(|last| seq > last) {
            self.last_seq = Some(seq);
        }
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
    fn gaps_and_reordering_are_counted() {
        let mut t = InputTracker::new("in");
        for s in [0, 1, 2, 5, 4, 6] {
            t.observe(s);
        }
        assert_eq!(t.stats.frames, 6);
        assert_eq!(t.stats.seq_gaps, 2);
        assert_eq!(t.stats.out_of_order, 1);
    }

    #[test]
    fn empty_histogram_has_no_summary() {
        assert!(LatencyHistogram::default().summary().is_none());
    }
}
