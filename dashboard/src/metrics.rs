//! `GET /metrics`: the runtime shown in Prometheus's text format, built
//! afresh on each scrape from its newest status (kept after it ended) and
//! the events counted by kind. Labels: runtime, pipeline, processor, port,
//! worker, language (docs/dashboard.md lists every metric).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use ipc_schemas::{InputStatus, ProcessorStatus, RuntimeStatus, WorkerStatus};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::app::App;
use crate::reply::ApiError;

/// Prometheus's text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn metrics(State(app): State<App>) -> Result<Response, ApiError> {
    let status = app.watch.status.borrow().clone();
    let events = {
        let history = app.watch.history.lock().expect("not poisoned");
        history.counts.clone()
    };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot { status, events }));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
        .map_err(|e| ApiError::internal(&anyhow::anyhow!("writing the metrics: {e}")))?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

/// What one scrape shows.
#[derive(Debug)]
struct Snapshot {
    status: Option<Arc<RuntimeStatus>>,
    /// Events seen, by kind.
    events: BTreeMap<String, u64>,
}

type Labels = Vec<(&'static str, String)>;

/// One port of one processor, as its labels name it.
struct Place<'a> {
    status: &'a RuntimeStatus,
    worker: &'a WorkerStatus,
    processor: &'a ProcessorStatus,
}

impl Place<'_> {
    fn processor_labels(&self) -> Labels {
        vec![
            ("runtime", self.status.runtime.clone()),
            ("pipeline", self.status.pipeline.clone()),
            ("processor", self.processor.processor.clone()),
            ("worker", self.worker.worker.clone()),
            ("language", self.worker.language.clone()),
        ]
    }

    fn port_labels(&self, port: &str) -> Labels {
        let mut labels = self.processor_labels();
        labels.insert(3, ("port", port.to_string()));
        labels
    }
}

fn worker_labels(status: &RuntimeStatus, worker: &WorkerStatus) -> Labels {
    vec![
        ("runtime", status.runtime.clone()),
        ("pipeline", status.pipeline.clone()),
        ("worker", worker.worker.clone()),
        ("language", worker.language.clone()),
    ]
}

fn runtime_labels(status: &RuntimeStatus) -> Labels {
    vec![
        ("runtime", status.runtime.clone()),
        ("pipeline", status.pipeline.clone()),
    ]
}

/// Writes one metric family: its descriptor, then a sample per label set.
fn family<T>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    kind: MetricType,
    samples: impl IntoIterator<Item = (Labels, T)>,
    write: impl Fn(MetricEncoder, &T) -> std::fmt::Result,
) -> std::fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, unit.as_ref(), kind)?;
    for (labels, value) in samples {
        write(metric.encode_family(&labels)?, &value)?;
    }
    Ok(())
}

fn counter(mut encoder: MetricEncoder, value: &u64) -> std::fmt::Result {
    encoder.encode_counter::<NoLabelSet, _, u64>(value, None)
}

fn counter_f64(mut encoder: MetricEncoder, value: &f64) -> std::fmt::Result {
    encoder.encode_counter::<NoLabelSet, _, f64>(value, None)
}

fn gauge(mut encoder: MetricEncoder, value: &f64) -> std::fmt::Result {
    encoder.encode_gauge(value)
}

/// An input's latency histogram over the run: per bucket counts (not
/// cumulative), the last above the highest bound.
struct Buckets {
    bounds_s: Vec<f64>,
    counts: Vec<u64>,
}

impl Buckets {
    fn of(input: &InputStatus) -> Self {
        let histogram = &input.latency_histogram;
        Self {
            bounds_s: histogram.le_us.iter().map(|&us| us as f64 / 1e6).collect(),
            counts: histogram.counts.clone(),
        }
    }

    /// The status keeps counts, not the sum of latencies, so the sum is
    /// estimated from each bucket's middle (the top bucket counted at its
    /// lower bound); quantiles, which Grafana draws, use the buckets only.
    fn estimated_sum(&self) -> f64 {
        let mut lower = 0.0;
        let mut sum = 0.0;
        for (i, &count) in self.counts.iter().enumerate() {
            let middle = match self.bounds_s.get(i) {
                Some(&upper) => (lower + upper) / 2.0,
                None => lower,
            };
            sum += middle * count as f64;
            lower = self.bounds_s.get(i).copied().unwrap_or(lower);
        }
        sum
    }

    fn write(&self, mut encoder: MetricEncoder) -> std::fmt::Result {
        let buckets: Vec<(f64, u64)> = self
            .bounds_s
            .iter()
            .copied()
            .zip(self.counts.iter().copied())
            .collect();
        let count = self.counts.iter().sum();
        encoder.encode_histogram::<NoLabelSet>(self.estimated_sum(), count, &buckets, None)
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let Some(status) = self.status.as_deref() else {
            return Ok(());
        };
        let places: Vec<Place> = status
            .workers
            .iter()
            .flat_map(|worker| {
                worker.processors.iter().map(move |processor| Place {
                    status,
                    worker,
                    processor,
                })
            })
            .collect();
        let inputs = || {
            places
                .iter()
                .flat_map(|p| p.processor.inputs.iter().map(move |i| (p, i)))
        };
        let frames = places.iter().flat_map(|p| {
            let ins = p.processor.inputs.iter().map(move |i| {
                let mut labels = p.port_labels(&i.port);
                labels.push(("direction", "in".into()));
                (labels, i.frames)
            });
            let outs = p.processor.outputs.iter().map(move |o| {
                let mut labels = p.port_labels(&o.port);
                labels.push(("direction", "out".into()));
                (labels, o.frames)
            });
            ins.chain(outs)
        });
        family(
            &mut encoder,
            "plexus_port_frames",
            "Frames a port took (in) or sent (out) over the run.",
            None,
            MetricType::Counter,
            frames,
            counter,
        )?;
        let dropped = inputs().map(|(p, i)| (p.port_labels(&i.port), i.dropped));
        family(
            &mut encoder,
            "plexus_port_dropped",
            "Frames an input's upstream sent that it never took.",
            None,
            MetricType::Counter,
            dropped,
            counter,
        )?;
        let gaps = inputs().map(|(p, i)| (p.port_labels(&i.port), i.gaps));
        family(
            &mut encoder,
            "plexus_port_gaps",
            "Sequence numbers an input never saw.",
            None,
            MetricType::Counter,
            gaps,
            counter,
        )?;
        let latency = inputs().map(|(p, i)| (p.port_labels(&i.port), Buckets::of(i)));
        family(
            &mut encoder,
            "plexus_port_latency",
            "Capture to input, over the run.",
            Some(Unit::Seconds),
            MetricType::Histogram,
            latency,
            |e, b| b.write(e),
        )?;
        let errors = places
            .iter()
            .map(|p| (p.processor_labels(), p.processor.errors));
        family(
            &mut encoder,
            "plexus_processor_errors",
            "Errors a processor raised, every process of it.",
            None,
            MetricType::Counter,
            errors,
            counter,
        )?;
        let restarts = status
            .workers
            .iter()
            .map(|w| (worker_labels(status, w), u64::from(w.restarts)));
        family(
            &mut encoder,
            "plexus_worker_restarts",
            "Times a worker was restarted.",
            None,
            MetricType::Counter,
            restarts,
            counter,
        )?;
        let cpu = status
            .workers
            .iter()
            .map(|w| (worker_labels(status, w), w.cpu_ms as f64 / 1000.0));
        family(
            &mut encoder,
            "plexus_worker_cpu",
            "CPU time of every process of a worker.",
            Some(Unit::Seconds),
            MetricType::Counter,
            cpu,
            counter_f64,
        )?;
        let rss = status
            .workers
            .iter()
            .map(|w| (worker_labels(status, w), w.rss_bytes as f64));
        family(
            &mut encoder,
            "plexus_worker_rss",
            "Resident memory of a worker's current process.",
            Some(Unit::Bytes),
            MetricType::Gauge,
            rss,
            gauge,
        )?;
        let uptime = [(runtime_labels(status), status.uptime_ms as f64 / 1000.0)];
        family(
            &mut encoder,
            "plexus_runtime_uptime",
            "Time since the runtime started.",
            Some(Unit::Seconds),
            MetricType::Gauge,
            uptime,
            gauge,
        )?;
        let events = self.events.iter().map(|(kind, &n)| {
            let mut labels = runtime_labels(status);
            labels.push(("kind", kind.clone()));
            (labels, n)
        });
        family(
            &mut encoder,
            "plexus_events",
            "Runtime events seen, by kind, its history included.",
            None,
            MetricType::Counter,
            events,
            counter,
        )
    }
}
