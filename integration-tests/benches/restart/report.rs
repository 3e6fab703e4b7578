//! The markdown table and the verdicts on the targets that end up on stdout
//! and in `bench-results/restart.md`.

use std::fmt::Write as _;

use crate::measure::{Measured, FPS, HEIGHT, WIDTH};

/// The `q`-quantile of `values` by nearest rank (the smallest value with at
/// least `q` of the values at or below it), in ms.
fn percentile_ms(values: &[u64], q: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).map(|&ns| ns as f64 / 1e6)
}

fn ms(value: Option<f64>) -> String {
    value.map_or("–".to_string(), |v| format!("{v:.1}"))
}

pub fn render(results: &[Measured], quick: bool) -> String {
    let mut out = String::new();
    let mode = if quick { "quick" } else { "full" };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(out, "# Restart time ({mode} run, {cores} cores)\n");
    let _ = writeln!(
        out,
        "`plexus run` (release) of `builtin.test_pattern ({WIDTH}×{HEIGHT}, {FPS} fps) → p → \
         builtin.stats_sink`, `p` a pass-through processor of the runtime with `restart: \
         {{ policy: on-failure, max_restarts: 1000, window_secs: 10, backoff_ms: 0 }}`. \
         Each kill sends SIGKILL to `p`'s worker process; times are in ms from just before \
         the kill to\n\n\
         - **restarted**: the supervisor's log line `worker p restarted (generation N, …)` \
         (the new worker has been through hello, configure and start), stamped as the \
         bench read it;\n\
         - **first frame**: the first frame from the new worker's publisher, captured after \
         the kill, taken by the bench's own subscriber on `p.out` (beside the sink). This \
         includes waiting for the camera's next frame, up to {:.0} ms at {FPS} fps. The new \
         worker starts on the supervisor's `start`, before the supervisor logs the restart, \
         so now and then its first frame comes before the restarted line.\n",
        1000.0 / f64::from(FPS)
    );
    let _ = writeln!(
        out,
        "| runtime | p | kills | restarts (plexus) | restarted p50 | restarted p99 | \
         first frame p50 | first frame p99 | target (first frame p50) |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---|");
    let mut verdicts = Vec::new();
    for result in results {
        let subject = result.subject;
        let restarted: Vec<u64> = result.restarts.iter().map(|r| r.restarted_ns).collect();
        let first: Vec<u64> = result.restarts.iter().map(|r| r.first_frame_ns).collect();
        let first_p50 = percentile_ms(&first, 0.5);
        let verdict = match first_p50 {
            Some(p50) if p50 <= subject.target_ms => "met",
            Some(_) => "**missed**",
            None => "not measured",
        };
        let target = format!("≤ {:.0} ms: {verdict}", subject.target_ms);
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {} | {} | {} | {} | {target} |",
            subject.language,
            subject.processor_type,
            result.restarts.len(),
            result
                .counted_by_plexus
                .map_or("–".to_string(), |n| n.to_string()),
            ms(percentile_ms(&restarted, 0.5)),
            ms(percentile_ms(&restarted, 0.99)),
            ms(first_p50),
            ms(percentile_ms(&first, 0.99)),
        );
        verdicts.push(format!(
            "- {} target, kill → first frame p50 ≤ {:.0} ms: {verdict} ({} ms)",
            subject.language,
            subject.target_ms,
            ms(first_p50)
        ));
    }
    out.push('\n');
    for verdict in verdicts {
        let _ = writeln!(out, "{verdict}");
    }
    let _ = writeln!(
        out,
        "- Percentiles are by nearest rank; with fewer than 100 kills p99 is the \
         slowest kill."
    );
    out
}
