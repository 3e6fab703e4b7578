//! Turns the measurements into the markdown table and the verdicts on the
//! targets that end up on stdout and in `bench-results/hop.md`. Every hop
//! kind of [`Consumer::ALL`] gets the same column group and the same two
//! target lines; only the bounds of [`Targets::of`] differ.

use std::fmt::Write as _;

use crate::plan::{Latency, Size, FPS};
use crate::plexus_run::Consumer;

/// The sizes the size target compares.
const SMALL: &str = "64 B";
const BIG: &str = "8 MiB";

/// The measurements of one payload size.
pub struct Row<'a> {
    pub size: &'a Size,
    pub raw: Latency,
    /// One measurement per hop, in the order of [`Consumer::ALL`].
    pub hops: Vec<(Consumer, Latency)>,
}

impl Row<'_> {
    fn hop(&self, consumer: Consumer) -> Option<&Latency> {
        self.hops
            .iter()
            .find(|(c, _)| *c == consumer)
            .map(|(_, latency)| latency)
    }
}

/// What a hop's p50 must stay under at every size (target 1).
enum P50Bound {
    /// At most this many times the raw p50 of the same size.
    TimesRaw(f64),
    /// At most this many microseconds.
    Micros(f64),
}

/// The two targets of one hop kind.
struct Targets {
    p50: P50Bound,
    /// The 8 MiB p50 may be at most this many times the 64 B p50 (target 2).
    size_ratio: f64,
}

impl Targets {
    fn of(consumer: Consumer) -> Self {
        match consumer {
            Consumer::RustSink => Targets {
                p50: P50Bound::TimesRaw(1.3),
                size_ratio: 1.5,
            },
            Consumer::PythonProbe => Targets {
                p50: P50Bound::Micros(100.0),
                size_ratio: 1.5,
            },
            Consumer::DenoProbe => Targets {
                p50: P50Bound::Micros(150.0),
                size_ratio: 1.5,
            },
        }
    }
}

pub fn render(rows: &[Row<'_>], quick: bool) -> String {
    let consumers = Consumer::ALL;
    let mut out = String::new();
    let mode = if quick { "quick" } else { "full" };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(out, "# Hop latency ({mode} run, {cores} cores)\n");
    legend(&mut out, &consumers);
    table(&mut out, rows, &consumers);
    for &consumer in &consumers {
        let targets = Targets::of(consumer);
        let _ = writeln!(out, "- {}", p50_target(consumer, &targets, rows));
        let _ = writeln!(out, "- {}", size_target(consumer, &targets, rows));
    }
    let _ = writeln!(
        out,
        "- All columns use the worker's latency histogram (values are bucket upper \
         bounds, ≤ 6.25 % high). Raw discards a warm-up of fps/4 frames; the plexus \
         hops count every frame, so their p99 includes start-up."
    );
    out
}

/// What each column group measures.
fn legend(out: &mut String, consumers: &[Consumer]) {
    let _ = writeln!(
        out,
        "One-way latency, receive time minus `capture_ns`, in µs. Raw: iceoryx2 \
         publisher → subscriber + event, plexus settings. Every other column group \
         is one plexus hop, `builtin.test_pattern → consumer`, one worker each:\n"
    );
    for &consumer in consumers {
        let _ = write!(
            out,
            "- {}: `{}`, {}",
            consumer.language(),
            consumer.processor_type(),
            consumer.description()
        );
        if let Some(guest) = consumer.guest() {
            let _ = write!(
                out,
                "; the {} worker takes the latency when it receives the frame, just \
                 before it calls into {guest}, so the time of the {guest} call itself \
                 is not included",
                consumer.language()
            );
        }
        out.push_str(".\n");
    }
    out.push('\n');
}

/// The table: raw, then one (p50, p99, /raw p50) group per consumer, then
/// the frame counts.
fn table(out: &mut String, rows: &[Row<'_>], consumers: &[Consumer]) {
    let mut header = String::from("| payload | fps | raw p50 | raw p99 |");
    let mut rule = String::from("|---|---:|---:|---:|");
    for consumer in consumers {
        let lang = consumer.language();
        let _ = write!(header, " {lang} p50 | {lang} p99 | {lang}/raw p50 |");
        rule.push_str("---:|---:|---:|");
    }
    let names: Vec<&str> = consumers.iter().map(|c| c.language()).collect();
    let _ = writeln!(out, "{header} frames raw / {} (lost) |", names.join(" / "));
    let _ = writeln!(out, "{rule}---|");

    for row in rows {
        let raw = &row.raw;
        let mut line = format!(
            "| {} | {FPS} | {:.1} | {:.1} |",
            row.size.label, raw.p50_us, raw.p99_us
        );
        let mut frames = vec![frame_count(raw)];
        for &consumer in consumers {
            match row.hop(consumer) {
                Some(hop) => {
                    let _ = write!(
                        line,
                        " {:.1} | {:.1} | {:.2} |",
                        hop.p50_us,
                        hop.p99_us,
                        hop.p50_us / raw.p50_us
                    );
                    frames.push(frame_count(hop));
                }
                None => {
                    line.push_str(" – | – | – |");
                    frames.push("–".to_string());
                }
            }
        }
        let _ = writeln!(out, "{line} {} |", frames.join(" / "));
    }
    out.push('\n');
}

fn frame_count(latency: &Latency) -> String {
    format!("{} ({})", latency.frames, latency.lost)
}

/// "met"/"**missed**" and the worst value, shown with `decimals` decimals,
/// for a bound on `values`.
fn verdict(
    values: impl Iterator<Item = (&'static str, f64)>,
    bound: f64,
    decimals: usize,
    unit: &str,
) -> String {
    match values.max_by(|a, b| a.1.total_cmp(&b.1)) {
        Some((label, value)) => {
            let verdict = if value <= bound { "met" } else { "**missed**" };
            format!("{verdict} (worst: {label}, {value:.decimals$}{unit})")
        }
        None => "not measured".to_string(),
    }
}

/// Target 1: the hop's p50 at every size, against raw or in µs.
fn p50_target(consumer: Consumer, targets: &Targets, rows: &[Row<'_>]) -> String {
    let lang = consumer.language();
    let measured = rows
        .iter()
        .filter_map(move |r| r.hop(consumer).map(|hop| (r, hop)));
    let (bound_text, verdict) = match targets.p50 {
        P50Bound::TimesRaw(ratio) => (
            format!("p50 ≤ {ratio} × raw p50"),
            verdict(
                measured.map(|(r, hop)| (r.size.label, hop.p50_us / r.raw.p50_us)),
                ratio,
                2,
                "×",
            ),
        ),
        P50Bound::Micros(us) => (
            format!("p50 ≤ {us:.0} µs"),
            verdict(
                measured.map(|(r, hop)| (r.size.label, hop.p50_us)),
                us,
                1,
                " µs",
            ),
        ),
    };
    format!("{lang} target 1, {lang} hop {bound_text} at every size: {verdict}")
}

/// Target 2: the hop's 8 MiB p50 against its 64 B p50.
fn size_target(consumer: Consumer, targets: &Targets, rows: &[Row<'_>]) -> String {
    let lang = consumer.language();
    let bound = targets.size_ratio;
    let p50 = |label: &str| {
        rows.iter()
            .filter(|r| r.size.label == label)
            .find_map(|r| r.hop(consumer))
            .map(|hop| hop.p50_us)
    };
    let result = match (p50(BIG), p50(SMALL)) {
        (Some(big), Some(small)) => {
            let ratio = big / small;
            let verdict = if ratio <= bound { "met" } else { "**missed**" };
            format!("{big:.1} / {small:.1} = {ratio:.3}: {verdict}")
        }
        _ => "not measured".to_string(),
    };
    format!("{lang} target 2, {lang} {BIG} p50 ≤ {bound} × {SMALL} p50: {result}")
}
