//! Clocks of two hosts: the offset of an agent's `CLOCK_MONOTONIC` from the
//! coordinator's, estimated from hello round trips (the shortest one bounds
//! the error best), and times moved from one host's clock to another's.

use std::collections::BTreeMap;

/// One hello: the coordinator's clock when it asked and when the answer
/// came, and the agent's clock when it answered.
#[derive(Debug, Clone, Copy)]
pub struct RoundTrip {
    pub asked_ns: u64,
    pub remote_ns: u64,
    pub answered_ns: u64,
}

/// A host's clock minus the coordinator's, with the round trip it was
/// measured over (the error is at most half of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offset {
    pub offset_ns: i64,
    pub rtt_ns: u64,
}

impl RoundTrip {
    fn offset(&self) -> Offset {
        let rtt_ns = self.answered_ns.saturating_sub(self.asked_ns);
        let middle = self.asked_ns as i128 + rtt_ns as i128 / 2;
        Offset {
            offset_ns: (self.remote_ns as i128 - middle) as i64,
            rtt_ns,
        }
    }
}

/// The estimate from the round trip that took least time.
pub fn best_offset(trips: &[RoundTrip]) -> Option<Offset> {
    trips.iter().map(RoundTrip::offset).min_by_key(|o| o.rtt_ns)
}

/// Host clocks of one run, each relative to the coordinator's.
#[derive(Debug, Clone, Default)]
pub struct Clocks {
    offsets: BTreeMap<String, i64>,
}

impl Clocks {
    pub fn new(offsets: BTreeMap<String, i64>) -> Self {
        Self { offsets }
    }

    /// `ns` read on host `from`, as host `to`'s clock read at the same
    /// instant; a host with no known offset counts as the coordinator's.
    pub fn convert(&self, ns: u64, from: &str, to: &str) -> u64 {
        let of = |host: &str| self.offsets.get(host).copied().unwrap_or(0) as i128;
        (ns as i128 - of(from) + of(to)).clamp(0, u64::MAX as i128) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shortest_round_trip_wins() {
        // The agent's clock is 1 s ahead; the first answer was delayed.
        let trips = [
            RoundTrip {
                asked_ns: 1_000,
                remote_ns: 1_000_000_000 + 9_000,
                answered_ns: 11_000,
            },
            RoundTrip {
                asked_ns: 20_000,
                remote_ns: 1_000_000_000 + 20_500,
                answered_ns: 21_000,
            },
        ];
        let best = best_offset(&trips).unwrap();
        assert_eq!(best.rtt_ns, 1_000);
        assert_eq!(best.offset_ns, 1_000_000_000);
        assert_eq!(best_offset(&[]), None);
    }

    #[test]
    fn times_move_between_host_clocks() {
        let clocks = Clocks::new(BTreeMap::from([
            ("local".to_string(), 0),
            ("b".to_string(), 5_000),
            ("c".to_string(), -2_000),
        ]));
        assert_eq!(clocks.convert(10_000, "b", "local"), 5_000);
        assert_eq!(clocks.convert(10_000, "local", "b"), 15_000);
        assert_eq!(clocks.convert(10_000, "b", "c"), 3_000);
        assert_eq!(clocks.convert(1_000, "b", "local"), 0);
        assert_eq!(clocks.convert(7, "unknown", "local"), 7);
    }
}
