//! The hop-latency section of the report: one row per payload size and
//! transport, each p50 as a multiple of the raw iceoryx2 floor and of the
//! pipe baseline, and the latency targets.

use std::fmt::Write as _;

use crate::hop::Consumer;
use crate::plan::{Latency, Size, FPS};
use crate::raw::Flavour;
use crate::target::Target;

/// The payload size at which plexus is compared with the pipe.
const BIG: &str = "8 MiB";
/// How many times faster than the pipe every plexus hop must be at [`BIG`].
const PIPE_FACTOR: f64 = 20.0;

/// The measurements of one payload size.
pub struct Row<'a> {
    pub size: &'a Size,
    /// The floor: iceoryx2's single-threaded flavour.
    pub raw: Latency,
    /// iceoryx2's thread-safe flavour, which plexus uses.
    pub raw_thread_safe: Latency,
    pub pipe: Latency,
    /// One measurement per hop, in the order of [`Consumer::ALL`].
    pub hops: Vec<(Consumer, Latency)>,
}

impl Row<'_> {
    /// Every transport of the row, floor first, with its name.
    pub fn transports(&self) -> Vec<(&'static str, &Latency)> {
        let mut all = vec![
            (Flavour::SingleThreaded.label(), &self.raw),
            (Flavour::ThreadSafe.label(), &self.raw_thread_safe),
            ("Unix pipe", &self.pipe),
        ];
        all.extend(self.hops.iter().map(|(c, l)| (c.label(), l)));
        all
    }

    fn hop(&self, consumer: Consumer) -> Option<&Latency> {
        self.hops
            .iter()
            .find(|(c, _)| *c == consumer)
            .map(|(_, latency)| latency)
    }
}

/// The p50 bound of one hop kind at every size.
enum P50Bound {
    /// At most this many times the raw p50 of the same size.
    TimesRaw(f64),
    /// At most this many microseconds.
    Micros(f64),
}

fn bound_of(consumer: Consumer) -> P50Bound {
    match consumer {
        Consumer::RustSink => P50Bound::TimesRaw(1.3),
        Consumer::PythonProbe => P50Bound::Micros(100.0),
        Consumer::DenoProbe => P50Bound::Micros(150.0),
    }
}

pub fn render(out: &mut String, rows: &[Row<'_>]) {
    let _ = writeln!(
        out,
        "## Hop latency\n\n\
         One-way latency of one hop between two processes, receive time minus the \
         capture time stamped by the sender, in µs, every size sent at {FPS} fps. \
         **raw iceoryx2**: a publisher and a subscriber with plexus's service \
         settings and none of its code, the receiver asleep in a `WaitSet` on the \
         port's event, in iceoryx2's single-threaded flavour (the floor) and in \
         its thread-safe one, whose ports take a lock on every use and which \
         plexus uses so that a manual source may send from its own threads. **Unix pipe**: the same bytes plus a 16-byte header written \
         into a pipe by one process and read by another. **plexus Rust / Python / \
         Deno**: `plexus run` of `builtin.test_pattern → consumer`, one worker each, \
         the consumer `builtin.stats_sink`, `test.py_header_probe` or \
         `test.ts_header_probe` (which read one header field); the Python and Deno \
         workers take the time when they receive the frame, before calling into \
         the guest language. All use the workers' latency histogram (bucket upper \
         bounds, ≤ 6.25 % high); the baselines discard a warm-up of fps/4 frames, \
         the plexus hops count every frame. **CPU µs/frame** (baselines only, where the \
         bench is both ends): sender's plus receiver's thread CPU time over the \
         measured frames.\n"
    );
    let _ = writeln!(
        out,
        "| payload | transport | p50 µs | p99 µs | p50 × raw | p50 × pipe | CPU µs/frame | \
         frames (lost) |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        for (name, latency) in row.transports() {
            let _ = writeln!(
                out,
                "| {} | {name} | {:.1} | {:.1} | {:.2} | {:.3} | {} | {} ({}) |",
                row.size.label,
                latency.p50_us,
                latency.p99_us,
                latency.p50_us / row.raw.p50_us,
                latency.p50_us / row.pipe.p50_us,
                latency
                    .cpu_us
                    .map_or("–".to_string(), |us| format!("{us:.1}")),
                latency.frames,
                latency.lost
            );
        }
    }
    out.push('\n');
}

/// The latency targets: each hop's p50 at every size, and every hop at
/// [`BIG`] against the pipe.
pub fn targets(rows: &[Row<'_>]) -> Vec<Target> {
    let mut targets = Vec::new();
    for consumer in Consumer::ALL {
        let measured = rows
            .iter()
            .filter_map(|r| r.hop(consumer).map(|hop| (r, hop)));
        let (bound, worst) = match bound_of(consumer) {
            P50Bound::TimesRaw(ratio) => (
                format!("p50 ≤ {ratio} × raw iceoryx2 at every size"),
                worst(measured.map(|(r, hop)| (r.size.label, hop.p50_us / r.raw.p50_us)))
                    .map(|(label, v)| (format!("worst {v:.2}× at {label}"), v <= ratio)),
            ),
            P50Bound::Micros(us) => (
                format!("p50 ≤ {us:.0} µs at every size"),
                worst(measured.map(|(r, hop)| (r.size.label, hop.p50_us)))
                    .map(|(label, v)| (format!("worst {v:.1} µs at {label}"), v <= us)),
            ),
        };
        targets.push(Target::new(
            format!("{} hop", consumer.label()),
            bound,
            worst,
        ));
    }
    let big = rows.iter().find(|r| r.size.label == BIG);
    let slowest = big.and_then(|row| {
        worst(row.hops.iter().map(|(c, l)| (c.label(), l.p50_us)))
            .map(|(label, p50)| (label, row.pipe.p50_us / p50))
    });
    targets.push(Target::new(
        format!("every plexus hop vs pipe at {BIG}"),
        format!("p50 ≥ {PIPE_FACTOR:.0} × faster than the pipe"),
        slowest.map(|(label, factor)| {
            (
                format!("slowest ({label}) {factor:.1}× faster"),
                factor >= PIPE_FACTOR,
            )
        }),
    ));
    targets
}

/// The CPU time per frame of one raw iceoryx2 hop (both ends) at the
/// largest payload, the floor for plexus's CPU per hop.
pub fn raw_cpu_floor(rows: &[Row<'_>]) -> Option<f64> {
    rows.iter().find(|r| r.size.label == BIG)?.raw.cpu_us
}

/// The largest value and its label.
fn worst(values: impl Iterator<Item = (&'static str, f64)>) -> Option<(&'static str, f64)> {
    values.max_by(|a, b| a.1.total_cmp(&b.1))
}
