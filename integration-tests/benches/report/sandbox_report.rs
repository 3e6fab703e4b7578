//! The sandbox section of the report and its targets: `strict` adds at
//! most 20 ms to a worker's start and 5 % to a hop's latency and CPU, each
//! against `sandbox: off` in the same run.

use std::fmt::Write as _;

use crate::hop::Consumer;
use crate::page::{heading, render_targets};
use crate::sandbox::{Measured, Mode};
use crate::target::Target;

/// Most a strict worker's start may take beyond an unconfined one's, in ms.
const STARTUP_BOUND_MS: f64 = 20.0;
/// Most a strict hop's p50 and CPU per frame may be, × the unconfined one's.
const HOP_BOUND: f64 = 1.05;

fn find(results: &[Measured], consumer: Consumer, mode: Mode) -> Option<&Measured> {
    results
        .iter()
        .find(|m| m.consumer == consumer && m.mode == mode)
}

/// Each consumer's (off, strict) pair.
fn pairs(results: &[Measured]) -> Vec<(&Measured, &Measured)> {
    Consumer::ALL
        .into_iter()
        .filter_map(|c| {
            Some((
                find(results, c, Mode::Off)?,
                find(results, c, Mode::Strict)?,
            ))
        })
        .collect()
}

pub fn render(out: &mut String, results: &[Measured]) {
    let runs = results.first().map_or(0, |m| m.runs);
    let _ = writeln!(
        out,
        "## Sandbox\n\n\
         `builtin.test_pattern → sink` at 64 B and 100 fps, `sink` a Rust \
         (`builtin.stats_sink`), Python or TypeScript header probe, with the pipeline's \
         `sandbox: off` and `sandbox: strict` (Landlock, seccomp and, for Rust and \
         Python, the shared-memory keeper), {runs} runs of each, the two modes \
         interleaved. **start-up**: the supervisor's `worker sink spawned` line to its \
         `worker sink ready` line, ms. **CPU/frame**: the sink worker's CPU time over a \
         window after the warm-up ÷ frames it took, µs. **p50 / p99**: the hop's latency \
         (receive − capture), µs. Medians of the runs, with [min–max].\n"
    );
    let _ = writeln!(
        out,
        "| sink | sandbox | start-up ms | CPU/frame µs | p50 µs | p99 µs | lost |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|");
    for m in results {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} [{:.1}–{:.1}] | {:.1} [{:.1}–{:.1}] | {:.1} [{:.1}–{:.1}] | \
             {:.1} | {} |",
            m.consumer.label(),
            m.mode.word(),
            m.startup_ms.median,
            m.startup_ms.min,
            m.startup_ms.max,
            m.cpu_us.median,
            m.cpu_us.min,
            m.cpu_us.max,
            m.p50_us.median,
            m.p50_us.min,
            m.p50_us.max,
            m.p99_us.median,
            m.lost,
        );
    }
    out.push('\n');
}

pub fn targets(results: &[Measured]) -> Vec<Target> {
    let mut targets = Vec::new();
    for (off, strict) in pairs(results) {
        let label = off.consumer.label();
        let added = strict.startup_ms.median - off.startup_ms.median;
        targets.push(Target::new(
            format!("{label} worker start-up, strict − off"),
            format!("≤ {STARTUP_BOUND_MS:.0} ms"),
            Some((format!("{added:+.1} ms"), added <= STARTUP_BOUND_MS)),
        ));
        let p50 = strict.p50_us.median / off.p50_us.median;
        let cpu = strict.cpu_us.median / off.cpu_us.median;
        targets.push(Target::new(
            format!("{label} hop, strict ÷ off"),
            format!("p50 and CPU/frame ≤ {HOP_BOUND:.2}×"),
            Some((
                format!("p50 {p50:.2}×, CPU/frame {cpu:.2}×"),
                p50 <= HOP_BOUND && cpu <= HOP_BOUND,
            )),
        ));
    }
    targets
}

/// The section and its targets, when it ran on its own.
pub fn render_alone(
    results: &[Measured],
    quick: bool,
    load_before: &str,
    load_after: &str,
) -> String {
    let mut out = heading("plexus sandbox", quick, load_before, load_after);
    render_targets(&mut out, &targets(results));
    render(&mut out, results);
    out
}
