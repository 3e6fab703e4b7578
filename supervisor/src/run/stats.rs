//! The workers' periodic counters turned into rates: every report becomes a
//! `processor_stats` event per processor, and the frame rate `plexus ps`
//! shows. They also keep what a process counted before it crashed, so the
//! summary of a restarted processor covers the whole run.

use std::collections::BTreeMap;
use std::time::Instant;

use ipc_schemas::{EventKind, PortRate, PortStats, ProcessorStats};

/// The last counters of each processor, and the rates derived from them.
#[derive(Default)]
pub struct LiveStats {
    last: BTreeMap<String, (ProcessorStats, Instant)>,
    rates: BTreeMap<String, Vec<PortRate>>,
    /// Per processor, the sum of the last counters of its ended processes.
    earlier: BTreeMap<String, ProcessorStats>,
}

impl LiveStats {
    /// Books counters received at `now`; returns the events to publish: one
    /// per processor whose counters moved or that just went quiet.
    pub fn update(&mut self, stats: Vec<ProcessorStats>, now: Instant) -> Vec<EventKind> {
        let mut events = Vec::new();
        for current in stats {
            let previous = self.last.get(&current.processor);
            let ports = rates(&current, previous, now);
            let was_moving = self
                .rates
                .get(&current.processor)
                .is_some_and(|r| r.iter().any(|p| p.fps > 0.0));
            if was_moving || ports.iter().any(|p| p.fps > 0.0) {
                events.push(EventKind::ProcessorStats {
                    processor: current.processor.clone(),
                    ports: ports.clone(),
                    errors: current.errors,
                    latency_p50_us: current.latency.map(|l| l.p50_ns / 1000),
                });
            }
            self.rates.insert(current.processor.clone(), ports);
            self.last.insert(current.processor.clone(), (current, now));
        }
        events
    }

    /// `processor`'s process ended before the run did: its last counters
    /// (at most one report interval old) join the processor's totals.
    pub fn retire(&mut self, processor: &str) {
        self.rates.remove(processor);
        if let Some((last, _)) = self.last.remove(processor) {
            let sum = self
                .earlier
                .entry(processor.to_string())
                .or_insert_with(|| ProcessorStats {
                    processor: processor.to_string(),
                    ..Default::default()
                });
            add(sum, &last);
        }
    }

    /// `processor`'s counters over the whole run: those of its final
    /// process, `last`, plus what its earlier processes counted.
    pub fn totals(&self, processor: &str, last: Option<&ProcessorStats>) -> Option<ProcessorStats> {
        match (self.earlier.get(processor), last) {
            (None, last) => last.cloned(),
            (Some(earlier), None) => Some(earlier.clone()),
            (Some(earlier), Some(last)) => {
                let mut sum = last.clone();
                add(&mut sum, earlier);
                Some(sum)
            }
        }
    }

    /// Frames per second of `processor`: of its first output, or for a sink,
    /// of its inputs together.
    pub fn fps(&self, processor: &str) -> f64 {
        let Some(ports) = self.rates.get(processor) else {
            return 0.0;
        };
        match ports.iter().find(|p| p.direction == "out") {
            Some(out) => out.fps,
            None => ports.iter().map(|p| p.fps).sum(),
        }
    }

    /// (frames in, frames out) of `processor`'s current process.
    pub fn frames(&self, processor: &str) -> (u64, u64) {
        self.last.get(processor).map_or((0, 0), |(s, _)| {
            let total = |ports: &[PortStats]| ports.iter().map(|p| p.frames).sum();
            (total(&s.inputs), total(&s.outputs))
        })
    }
}

/// Adds the counters of `more` to `sum`, port by port; the latency stays
/// `sum`'s when it has one.
fn add(sum: &mut ProcessorStats, more: &ProcessorStats) {
    fn ports(sum: &mut Vec<PortStats>, more: &[PortStats]) {
        for port in more {
            match sum.iter_mut().find(|p| p.port == port.port) {
                Some(p) => {
                    p.frames += port.frames;
                    p.seq_gaps += port.seq_gaps;
                    p.out_of_order += port.out_of_order;
                }
                None => sum.push(port.clone()),
            }
        }
    }
    ports(&mut sum.inputs, &more.inputs);
    ports(&mut sum.outputs, &more.outputs);
    sum.errors += more.errors;
    sum.latency = sum.latency.or(more.latency);
}

/// Per-port rates since `previous`. Counters restart from zero with a new
/// process, so a count below the previous one is counted from zero.
fn rates(
    current: &ProcessorStats,
    previous: Option<&(ProcessorStats, Instant)>,
    now: Instant,
) -> Vec<PortRate> {
    let secs = previous.map(|(_, at)| now.duration_since(*at).as_secs_f64());
    let rate = |port: &PortStats, before: &[PortStats]| -> f64 {
        let Some(secs) = secs.filter(|s| *s > 0.0) else {
            return 0.0;
        };
        let then = before
            .iter()
            .find(|p| p.port == port.port)
            .map_or(0, |p| p.frames);
        let moved = if port.frames >= then {
            port.frames - then
        } else {
            port.frames
        };
        (moved as f64 / secs * 10.0).round() / 10.0
    };
    let before =
        |pick: fn(&ProcessorStats) -> &[PortStats]| previous.map_or(&[][..], move |(p, _)| pick(p));
    let inputs = current.inputs.iter().map(|p| PortRate {
        port: p.port.clone(),
        direction: "in".into(),
        frames: p.frames,
        fps: rate(p, before(|s| &s.inputs)),
        drops: p.seq_gaps,
    });
    let outputs = current.outputs.iter().map(|p| PortRate {
        port: p.port.clone(),
        direction: "out".into(),
        frames: p.frames,
        fps: rate(p, before(|s| &s.outputs)),
        drops: 0,
    });
    inputs.chain(outputs).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn counters(frames_out: u64) -> ProcessorStats {
        ProcessorStats {
            processor: "camera".into(),
            outputs: vec![PortStats {
                port: "out".into(),
                frames: frames_out,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn rate_is_frames_moved_over_time_and_survives_a_restart() {
        let mut live = LiveStats::default();
        let t0 = Instant::now();
        assert!(live.update(vec![counters(0)], t0).is_empty());
        let events = live.update(vec![counters(30)], t0 + Duration::from_millis(500));
        assert_eq!(events.len(), 1);
        assert!((live.fps("camera") - 60.0).abs() < 1e-6);
        assert_eq!(live.frames("camera"), (0, 30));
        // A new process counts from zero again.
        live.update(vec![counters(10)], t0 + Duration::from_millis(1000));
        assert!((live.fps("camera") - 20.0).abs() < 1e-6);
        // Going quiet is told once, then nothing until frames move again.
        assert_eq!(
            live.update(vec![counters(10)], t0 + Duration::from_secs(2))
                .len(),
            1
        );
        assert!(live
            .update(vec![counters(10)], t0 + Duration::from_secs(3))
            .is_empty());
    }

    #[test]
    fn totals_add_what_crashed_processes_counted() {
        let mut live = LiveStats::default();
        let t0 = Instant::now();
        live.update(vec![counters(40)], t0);
        live.retire("camera");
        live.update(vec![counters(5)], t0 + Duration::from_secs(1));
        live.retire("camera");
        let total = live.totals("camera", Some(&counters(30))).unwrap();
        assert_eq!(total.outputs[0].frames, 75);
        assert_eq!(live.totals("camera", None).unwrap().outputs[0].frames, 45);
        assert_eq!(live.totals("other", None), None);
    }
}
