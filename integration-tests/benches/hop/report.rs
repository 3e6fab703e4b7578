//! Turns the measurements into the markdown table and the verdicts on the
//! targets that end up on stdout and in `bench-results/hop.md`.

use std::fmt::Write as _;

use crate::plan::{Latency, Size, FPS};

/// Plexus p50 may cost at most this many times the raw p50 (target 1).
const RUST_RAW_RATIO: f64 = 1.3;
/// The Python hop's p50 bound at every size, in µs (Python target 1).
const PYTHON_P50_US: f64 = 100.0;
/// 8 MiB p50 may be at most this many times the 64 B p50 (targets 2).
const SIZE_RATIO: f64 = 1.5;

/// The measurements of one payload size.
pub struct Row<'a> {
    pub size: &'a Size,
    pub raw: Latency,
    /// Rust → Rust: `builtin.test_pattern → builtin.stats_sink`.
    pub rust: Latency,
    /// Rust → Python: `builtin.test_pattern → test.py_header_probe`.
    pub python: Latency,
}

pub fn render(rows: &[Row<'_>], quick: bool) -> String {
    let mut out = String::new();
    let mode = if quick { "quick" } else { "full" };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(out, "# Hop latency ({mode} run, {cores} cores)\n");
    let _ = writeln!(
        out,
        "One-way latency, receive time minus `capture_ns`, in µs. Raw: iceoryx2 \
         publisher → subscriber + event, plexus settings. plexus: \
         `builtin.test_pattern → builtin.stats_sink`, one worker each. python: \
         `builtin.test_pattern → test.py_header_probe` (a Python processor that \
         reads only `frame.seq`), one worker each; the Python worker takes the \
         latency when it receives the frame, just before it calls into Python, so \
         the time of the Python call itself is not included.\n"
    );
    let _ = writeln!(
        out,
        "| payload | fps | raw p50 | raw p99 | plexus p50 | plexus p99 | plexus/raw p50 \
         | python p50 | python p99 | python/raw p50 | frames raw / plexus / python (lost) |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for row in rows {
        let (raw, rust, python) = (&row.raw, &row.rust, &row.python);
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} | {:.2} \
             | {} ({}) / {} ({}) / {} ({}) |",
            row.size.label,
            FPS,
            raw.p50_us,
            raw.p99_us,
            rust.p50_us,
            rust.p99_us,
            rust.p50_us / raw.p50_us,
            python.p50_us,
            python.p99_us,
            python.p50_us / raw.p50_us,
            raw.frames,
            raw.lost,
            rust.frames,
            rust.lost,
            python.frames,
            python.lost,
        );
    }
    out.push('\n');

    // Target 1: the Rust hop against raw iceoryx2.
    let worst_ratio = worst(rows, |r| r.rust.p50_us / r.raw.p50_us);
    let _ = writeln!(
        out,
        "- Target 1, plexus p50 ≤ {RUST_RAW_RATIO} × raw p50 at every size: {}",
        match worst_ratio {
            Some((label, ratio)) if ratio > RUST_RAW_RATIO => {
                format!("**missed** (worst: {label}, {ratio:.2}×)")
            }
            _ => "met".to_string(),
        }
    );
    if let Some(line) = size_target("Target 2", "plexus", rows, |r| r.rust.p50_us) {
        let _ = writeln!(out, "- {line}");
    }

    // The Python issue's targets.
    let worst_python = worst(rows, |r| r.python.p50_us);
    let _ = writeln!(
        out,
        "- Python target 1, Python hop p50 ≤ {PYTHON_P50_US:.0} µs at every size: {}",
        match worst_python {
            Some((label, p50)) if p50 > PYTHON_P50_US => {
                format!("**missed** (worst: {label}, {p50:.1} µs)")
            }
            Some((label, p50)) => format!("met (highest: {label}, {p50:.1} µs)"),
            None => "met".to_string(),
        }
    );
    if let Some(line) = size_target("Python target 2", "Python", rows, |r| r.python.p50_us) {
        let _ = writeln!(out, "- {line}");
    }

    let _ = writeln!(
        out,
        "- All columns use the worker's latency histogram (values are bucket upper \
         bounds, ≤ 6.25 % high). Raw discards a warm-up of fps/4 frames; plexus and \
         python count every frame, so their p99 includes start-up."
    );
    out
}

/// The size with the highest `value`, and that value.
fn worst<'a>(rows: &[Row<'a>], value: impl Fn(&Row<'a>) -> f64) -> Option<(&'a str, f64)> {
    rows.iter()
        .map(|r| (r.size.label, value(r)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// "`target`, `side` 8 MiB p50 / `side` 64 B p50 = … (≤ 1.5): verdict" for
/// the p50 that `p50_of` reads, if both sizes were measured.
fn size_target(
    target: &str,
    side: &str,
    rows: &[Row<'_>],
    p50_of: impl Fn(&Row<'_>) -> f64,
) -> Option<String> {
    let p50 = |label: &str| rows.iter().find(|r| r.size.label == label).map(&p50_of);
    let (big, small) = (p50("8 MiB")?, p50("64 B")?);
    let ratio = big / small;
    let verdict = if ratio <= SIZE_RATIO {
        "met"
    } else {
        "**missed**"
    };
    Some(format!(
        "{target}, {side} 8 MiB p50 / {side} 64 B p50 = {big:.1} / {small:.1} = {ratio:.3} (≤ {SIZE_RATIO}): {verdict}"
    ))
}
