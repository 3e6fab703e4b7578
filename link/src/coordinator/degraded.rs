//! `link_degraded`: each bridged port's counts, second after second,
//! against the run's thresholds. A port whose loss or p99 latency goes over
//! them starts an episode, told once; the first good second ends it.

use std::collections::BTreeMap;

use ipc_schemas::link::{LinkStatus, PortRef, Thresholds};
use ipc_schemas::EventKind;

pub struct Degraded {
    thresholds: Thresholds,
    ports: BTreeMap<(PortRef, String, String), Seen>,
}

#[derive(Default)]
struct Seen {
    received: u64,
    dropped: u64,
    in_episode: bool,
}

impl Degraded {
    pub fn new(thresholds: Thresholds) -> Self {
        Self {
            thresholds,
            ports: BTreeMap::new(),
        }
    }

    /// Looks at a port's latest counts; the event when an episode starts.
    pub fn observe(&mut self, link: &LinkStatus) -> Option<EventKind> {
        let key = (
            link.port.clone(),
            link.from_host.clone(),
            link.to_host.clone(),
        );
        let seen = self.ports.entry(key).or_default();
        // A receiver that started again counts from zero.
        if link.received < seen.received || link.dropped < seen.dropped {
            *seen = Seen::default();
        }
        let received = link.received - seen.received;
        let dropped = link.dropped - seen.dropped;
        seen.received = link.received;
        seen.dropped = link.dropped;
        let dropped_percent = match received + dropped {
            0 => 0.0,
            all => dropped as f64 * 100.0 / all as f64,
        };
        let latency_p99_us = link.latency_us.map_or(0, |l| l.p99);
        let degraded = dropped_percent > self.thresholds.loss_percent
            || latency_p99_us > self.thresholds.latency_ms * 1000;
        let starts = degraded && !seen.in_episode;
        seen.in_episode = degraded;
        starts.then(|| EventKind::LinkDegraded {
            processor: link.port.processor.clone(),
            port: link.port.port.clone(),
            from_host: link.from_host.clone(),
            to_host: link.to_host.clone(),
            dropped_percent: (dropped_percent * 10.0).round() / 10.0,
            latency_p99_us,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipc_schemas::LatencyUs;

    fn link(received: u64, dropped: u64, p99: u64) -> LinkStatus {
        LinkStatus {
            port: PortRef {
                processor: "cam".into(),
                port: "out".into(),
            },
            from_host: "b".into(),
            to_host: "local".into(),
            sent: received + dropped,
            received,
            dropped,
            latency_us: Some(LatencyUs { p50: p99 / 2, p99 }),
            fps: 30.0,
        }
    }

    #[test]
    fn one_event_per_episode() {
        let mut degraded = Degraded::new(Thresholds {
            loss_percent: 5.0,
            latency_ms: 50,
        });
        assert!(degraded.observe(&link(100, 0, 1_000)).is_none());
        // 10 of the next 100 lost: an episode starts, told once.
        let event = degraded.observe(&link(190, 10, 1_000)).unwrap();
        assert!(
            matches!(event, EventKind::LinkDegraded { dropped_percent, .. } if dropped_percent == 10.0)
        );
        assert!(degraded.observe(&link(280, 20, 1_000)).is_none());
        // A good second ends it; slow frames start another.
        assert!(degraded.observe(&link(380, 20, 1_000)).is_none());
        let slow = degraded.observe(&link(480, 20, 80_000)).unwrap();
        assert!(matches!(
            slow,
            EventKind::LinkDegraded {
                latency_p99_us: 80_000,
                ..
            }
        ));
    }

    #[test]
    fn a_restarted_receiver_is_not_a_loss() {
        let mut degraded = Degraded::new(Thresholds {
            loss_percent: 5.0,
            latency_ms: 50,
        });
        assert!(degraded.observe(&link(1000, 0, 1_000)).is_none());
        assert!(degraded.observe(&link(30, 0, 1_000)).is_none());
    }
}
