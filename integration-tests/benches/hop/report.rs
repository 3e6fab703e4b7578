//! Turns the measurements into the markdown table and the verdicts on the
//! two targets that end up on stdout and in `bench-results/hop.md`.

use std::fmt::Write as _;

use crate::plan::{Latency, Size, FPS};

/// One row per size: the raw measurement, then the plexus one.
pub fn render(rows: &[(&Size, Latency, Latency)], quick: bool) -> String {
    let mut out = String::new();
    let mode = if quick { "quick" } else { "full" };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(out, "# Hop latency ({mode} run, {cores} cores)\n");
    let _ = writeln!(
        out,
        "One-way latency, receive time minus `capture_ns`, in µs. Raw: iceoryx2 \
         publisher → subscriber + event, plexus settings. plexus: \
         `builtin.test_pattern → builtin.stats_sink`, one worker each.\n"
    );
    let _ = writeln!(
        out,
        "| payload | fps | raw p50 | raw p99 | plexus p50 | plexus p99 | plexus/raw p50 | frames raw / plexus (lost) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---|");
    let mut worst: Option<(&str, f64)> = None;
    for (size, raw, plexus) in rows {
        let ratio = plexus.p50_us / raw.p50_us;
        if ratio > 1.3 && worst.is_none_or(|(_, w)| ratio > w) {
            worst = Some((size.label, ratio));
        }
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {} ({}) / {} ({}) |",
            size.label,
            FPS,
            raw.p50_us,
            raw.p99_us,
            plexus.p50_us,
            plexus.p99_us,
            ratio,
            raw.frames,
            raw.lost,
            plexus.frames,
            plexus.lost,
        );
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "- Target 1, plexus p50 ≤ 1.3 × raw p50 at every size: {}",
        match worst {
            None => "met".to_string(),
            Some((label, ratio)) => format!("**missed** (worst: {label}, {ratio:.2}×)"),
        }
    );
    let p50 = |label: &str| {
        rows.iter()
            .find(|(s, _, _)| s.label == label)
            .map(|(_, _, p)| p.p50_us)
    };
    if let (Some(big), Some(small)) = (p50("8 MiB"), p50("64 B")) {
        let ratio = big / small;
        let verdict = if ratio <= 1.5 { "met" } else { "**missed**" };
        let _ = writeln!(
            out,
            "- Target 2, plexus 8 MiB p50 / plexus 64 B p50 = {big:.1} / {small:.1} = {ratio:.3} (≤ 1.5): {verdict}"
        );
    }
    let _ = writeln!(
        out,
        "- Both columns use the worker's latency histogram (values are bucket upper \
         bounds, ≤ 6.25 % high). Raw discards a warm-up of fps/4 frames; plexus counts \
         every frame, so its p99 includes start-up."
    );
    out
}
