//! The workers' counters turned into rates and totals. Every periodic
//! report becomes a `processor_stats` event per processor, and the rates
//! `plexus ps` and `top` show. The summary's totals are read from the shared
//! counters the workers keep (`bus::counters`), which no crash loses, and
//! each input's drops are worked out against what its upstream sent while
//! it was subscribed, less what it dropped while paused (docs/ARCHITECTURE.md §8).

use std::collections::BTreeMap;
use std::time::Instant;

use bus::counters::Counters;
use ipc_schemas::{
    EventKind, InputStatus, LatencyHistogramUs, LatencySummary, LatencyUs, Names, OutputStatus,
    PortRate, PortStats, ProcessorSpec, ProcessorStats, ProcessorStatus,
};

/// The last counters of each processor, the rates derived from them, and
/// where the shared counters are.
#[derive(Default)]
pub struct LiveStats {
    last: BTreeMap<String, (ProcessorStats, Instant)>,
    rates: BTreeMap<String, Vec<PortRate>>,
    /// Per processor, the latency its last ended process reported.
    earlier_latency: BTreeMap<String, LatencySummary>,
    /// Per processor whose last process ended without stopping: per input,
    /// the frames its upstream had sent by then.
    sent_until_ended: BTreeMap<String, Vec<Option<u64>>>,
    /// Per processor, per input, the latency of every frame reported over
    /// the run: each report brings its interval's counts.
    latency: BTreeMap<String, Vec<LatencyHistogramUs>>,
    wiring: Option<Wiring>,
}

/// What reading the shared counters takes: the runtime's names and every
/// processor's ports.
struct Wiring {
    names: Names,
    specs: BTreeMap<String, ProcessorSpec>,
}

impl LiveStats {
    /// Tells where the shared counters of the runtime `names` are, and how
    /// the processors `specs` are connected.
    pub fn wire(&mut self, names: &Names, specs: impl IntoIterator<Item = ProcessorSpec>) {
        self.wiring = Some(Wiring {
            names: names.clone(),
            specs: specs.into_iter().map(|s| (s.id.clone(), s)).collect(),
        });
    }

    /// Books counters received at `now`; returns the events to publish: one
    /// per processor whose counters moved or that just went quiet.
    pub fn update(&mut self, stats: Vec<ProcessorStats>, now: Instant) -> Vec<EventKind> {
        let mut events = Vec::new();
        for current in stats {
            self.book_latency(&current);
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
                    latency_us: current.latency.map(LatencyUs::from),
                });
            }
            self.rates.insert(current.processor.clone(), ports);
            self.last.insert(current.processor.clone(), (current, now));
        }
        events
    }

    /// Adds the latency counts of one report, periodic or final, to the
    /// run's histograms.
    pub fn book_latency(&mut self, stats: &ProcessorStats) {
        let inputs = self.latency.entry(stats.processor.clone()).or_default();
        inputs.resize_with(stats.inputs.len().max(inputs.len()), Default::default);
        for (histogram, port) in inputs.iter_mut().zip(&stats.inputs) {
            histogram.add(&port.latency_counts);
        }
    }

    /// `processor`'s process ended before the run did. Its counts are safe
    /// in shared memory; what its upstream sent up to now bounds what it
    /// could have received, should no successor take over its inputs.
    pub fn retire(&mut self, processor: &str) {
        self.rates.remove(processor);
        if let Some(latency) = self.last.remove(processor).and_then(|(s, _)| s.latency) {
            self.earlier_latency.insert(processor.to_string(), latency);
        }
        if let Some(sent) = self.upstream_sent(processor) {
            self.sent_until_ended.insert(processor.to_string(), sent);
        }
    }

    /// `processor`'s counters over the whole run, from the shared counters.
    /// `last` is what its final process reported when it stopped, `None`
    /// if it never did (it crashed, or plexus gave up on it): then its
    /// inputs were subscribed only until its last process ended.
    pub fn totals(&self, processor: &str, last: Option<&ProcessorStats>) -> Option<ProcessorStats> {
        let spec = self.wiring.as_ref()?.specs.get(processor)?;
        let counters = self.counters(spec)?;
        let sent = match (last, self.sent_until_ended.get(processor)) {
            (None, Some(until_ended)) => until_ended.clone(),
            _ => self.upstream_sent(processor)?,
        };
        let inputs = spec
            .inputs
            .iter()
            .zip(sent)
            .enumerate()
            .map(|(index, (input, sent))| {
                let c = counters.input(index);
                let frames = c.frames.get();
                let dropped_paused = c.dropped_paused.get();
                PortStats {
                    port: input.port.clone(),
                    frames,
                    seq_gaps: c.seq_gaps.get(),
                    out_of_order: c.out_of_order.get(),
                    // Frames dropped while paused were received: not lost.
                    dropped: sent.map_or(0, |sent| sent.saturating_sub(frames + dropped_paused)),
                    dropped_paused,
                    unmatched: c.unmatched.get(),
                    caught: c.caught.get(),
                    ..Default::default()
                }
            })
            .collect();
        let outputs = spec
            .outputs
            .iter()
            .enumerate()
            .map(|(index, output)| {
                let c = counters.output(index);
                PortStats {
                    port: output.port.clone(),
                    frames: c.sent.get(),
                    shm_reserved: c.shm_reserved.get(),
                    shm_touched: c.shm_touched.get(),
                    ..Default::default()
                }
            })
            .collect();
        let latency = last
            .and_then(|s| s.latency)
            .or_else(|| self.last.get(processor).and_then(|(s, _)| s.latency))
            .or_else(|| self.earlier_latency.get(processor).copied());
        Some(ProcessorStats {
            processor: processor.to_string(),
            inputs,
            outputs,
            errors: counters.errors().get(),
            latency,
            recent_latency: None,
        })
    }

    /// Per input of `processor`, the frames its upstream port sent so far;
    /// `None` for an input fed from another host, whose counts its link
    /// keeps (§16).
    fn upstream_sent(&self, processor: &str) -> Option<Vec<Option<u64>>> {
        let specs = &self.wiring.as_ref()?.specs;
        let sent = specs
            .get(processor)?
            .inputs
            .iter()
            .map(|input| {
                let upstream = specs.get(&input.from_processor)?;
                let port = upstream
                    .outputs
                    .iter()
                    .position(|o| o.port == input.from_port)?;
                Some(self.counters(upstream)?.output(port).sent.get())
            })
            .collect();
        Some(sent)
    }

    /// The shared counters of `spec`'s processor.
    fn counters(&self, spec: &ProcessorSpec) -> Option<Counters> {
        let names = &self.wiring.as_ref()?.names;
        Counters::open(names, &spec.id, spec.inputs.len(), spec.outputs.len())
            .inspect_err(|e| tracing::warn!("{e}"))
            .ok()
    }

    /// `processor` as `ps` and `top` show it now: counts read live from the
    /// shared counters, rates, queues and latency of the last interval its
    /// worker reported. `None` if it is not one of the runtime's.
    pub fn status(&self, processor: &str, paused: bool) -> Option<ProcessorStatus> {
        let spec = self.wiring.as_ref()?.specs.get(processor)?;
        // What upstream sent is read before what was taken, so a frame sent
        // in between is never counted as dropped.
        let sent = self.upstream_sent(processor);
        let counters = self.counters(spec)?;
        let rates = self.rates.get(processor).map_or(&[][..], Vec::as_slice);
        let fps = |direction: &str, port: &str| {
            rates
                .iter()
                .find(|r| r.direction == direction && r.port == port)
                .map_or(0.0, |r| r.fps)
        };
        let reported = self.last.get(processor).map(|(s, _)| s);
        let inputs: Vec<InputStatus> = spec
            .inputs
            .iter()
            .enumerate()
            .map(|(index, input)| {
                let c = counters.input(index);
                let frames = c.frames.get();
                let taken = frames + c.dropped_paused.get();
                let upstream = sent.as_ref().and_then(|s| s.get(index).copied().flatten());
                let last = reported.and_then(|s| s.inputs.get(index));
                InputStatus {
                    port: input.port.clone(),
                    frames,
                    fps: fps("in", &input.port),
                    dropped: upstream.map_or(0, |sent| sent.saturating_sub(taken)),
                    gaps: c.seq_gaps.get(),
                    queue: last.map_or(0, |p| p.queue),
                    caught: c.caught.get(),
                    caught_percent: ipc_schemas::caught_percent(c.caught.get(), frames),
                    latency_us: last.and_then(|p| p.recent_latency).map(LatencyUs::from),
                    latency_histogram: self
                        .latency
                        .get(processor)
                        .and_then(|inputs| inputs.get(index))
                        .cloned()
                        .unwrap_or_default(),
                }
            })
            .collect();
        let outputs: Vec<OutputStatus> = spec
            .outputs
            .iter()
            .enumerate()
            .map(|(index, output)| {
                let c = counters.output(index);
                OutputStatus {
                    port: output.port.clone(),
                    frames: c.sent.get(),
                    fps: fps("out", &output.port),
                    shm_reserved_bytes: c.shm_reserved.get(),
                    shm_touched_bytes: c.shm_touched.get(),
                }
            })
            .collect();
        // Folded from +0.0: an empty f64 sum is -0.0, which prints as such.
        let total = |rates: &mut dyn Iterator<Item = f64>| {
            (rates.fold(0.0, |a, b| a + b) * 10.0).round() / 10.0
        };
        Some(ProcessorStatus {
            processor: processor.to_string(),
            type_name: spec.type_name.clone(),
            frames_in: inputs.iter().map(|i| i.frames).sum(),
            frames_out: outputs.iter().map(|o| o.frames).sum(),
            fps_in: total(&mut inputs.iter().map(|i| i.fps)),
            fps_out: total(&mut outputs.iter().map(|o| o.fps)),
            dropped: inputs.iter().map(|i| i.dropped).sum(),
            gaps: inputs.iter().map(|i| i.gaps).sum(),
            errors: counters.errors().get(),
            latency_us: reported.and_then(|s| s.recent_latency).map(LatencyUs::from),
            paused,
            inputs,
            outputs,
        })
    }
}

/// Per-port rates since `previous`.
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
        (port.frames.saturating_sub(then) as f64 / secs * 10.0).round() / 10.0
    };
    let before =
        |pick: fn(&ProcessorStats) -> &[PortStats]| previous.map_or(&[][..], move |(p, _)| pick(p));
    let inputs = current.inputs.iter().map(|p| PortRate {
        port: p.port.clone(),
        direction: "in".into(),
        frames: p.frames,
        fps: rate(p, before(|s| &s.inputs)),
        gaps: p.seq_gaps,
    });
    let outputs = current.outputs.iter().map(|p| PortRate {
        port: p.port.clone(),
        direction: "out".into(),
        frames: p.frames,
        fps: rate(p, before(|s| &s.outputs)),
        gaps: 0,
    });
    inputs.chain(outputs).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipc_schemas::{Accepts, Entry, InputSpec, OutputSpec, SchemaId};
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

    fn out_fps(live: &LiveStats) -> f64 {
        live.rates["camera"][0].fps
    }

    #[test]
    fn rate_is_frames_moved_over_time() {
        let mut live = LiveStats::default();
        let t0 = Instant::now();
        assert!(live.update(vec![counters(0)], t0).is_empty());
        let events = live.update(vec![counters(30)], t0 + Duration::from_millis(500));
        assert_eq!(events.len(), 1);
        assert!((out_fps(&live) - 60.0).abs() < 1e-6);
        assert_eq!(live.last["camera"].0.outputs[0].frames, 30);
        live.update(vec![counters(40)], t0 + Duration::from_millis(1000));
        assert!((out_fps(&live) - 20.0).abs() < 1e-6);
        // Going quiet is told once, then nothing until frames move again.
        assert_eq!(
            live.update(vec![counters(40)], t0 + Duration::from_secs(2))
                .len(),
            1
        );
        assert!(live
            .update(vec![counters(40)], t0 + Duration::from_secs(3))
            .is_empty());
    }

    fn spec(id: &str, from: Option<&str>, outputs: usize) -> ProcessorSpec {
        ProcessorSpec {
            id: id.into(),
            type_name: "t".into(),
            entry: Entry::Builtin,
            config_json: String::new(),
            inputs: from
                .map(|from| InputSpec {
                    port: "in".into(),
                    accepts: Accepts::Any,
                    from_processor: from.into(),
                    from_port: "out".into(),
                    subscribers: 3,
                })
                .into_iter()
                .collect(),
            outputs: (0..outputs)
                .map(|_| OutputSpec {
                    port: "out".into(),
                    schema: SchemaId::Bytes,
                    subscribers: 3,
                })
                .collect(),
            frame_limit: None,
            mode: ipc_schemas::Mode::Reactive,
            sync: ipc_schemas::SyncPolicy::Any,
        }
    }

    #[test]
    fn drops_count_what_was_sent_while_the_input_was_subscribed_and_not_taken() {
        let names = Names::new("c0ffee03").unwrap();
        let mut live = LiveStats::default();
        live.wire(
            &names,
            [
                spec("cam", None, 1),
                spec("kept", Some("cam"), 0),
                spec("lost", Some("cam"), 0),
            ],
        );
        let open = |id: &str, inputs, outputs| Counters::open(&names, id, inputs, outputs).unwrap();
        let (cam, kept, lost) = (open("cam", 0, 1), open("kept", 1, 0), open("lost", 1, 0));
        cam.output(0).sent.add(10);
        kept.input(0).frames.add(7);
        // Taken while `kept` was paused: neither received nor lost.
        kept.input(0).dropped_paused.add(3);
        lost.input(0).frames.add(4);
        // `lost` dies for good after 10 frames were sent; 5 more follow.
        live.retire("lost");
        cam.output(0).sent.add(5);
        let stopped = ProcessorStats::default();
        let kept = live.totals("kept", Some(&stopped)).unwrap();
        let lost = live.totals("lost", None).unwrap();
        let cam = live.totals("cam", Some(&stopped)).unwrap();
        for id in ["cam", "kept", "lost"] {
            let _ = std::fs::remove_file(format!("/dev/shm/{}counts_{id}", names.file_prefix()));
        }
        assert_eq!(cam.outputs[0].frames, 15);
        let kept = &kept.inputs[0];
        assert_eq!((kept.frames, kept.dropped, kept.dropped_paused), (7, 5, 3));
        assert_eq!((lost.inputs[0].frames, lost.inputs[0].dropped), (4, 6));
    }
}
