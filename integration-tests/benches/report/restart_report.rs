//! The restart section of the report and its targets.

use std::fmt::Write as _;

use crate::restart::{Measured, FPS, HEIGHT, WIDTH};
use crate::target::Target;

/// The `q`-quantile of `values` by nearest rank (the smallest value with at
/// least `q` of the values at or below it), in ms.
pub fn percentile_ms(values: &[u64], q: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).map(|&ns| ns as f64 / 1e6)
}

fn ms(value: Option<f64>) -> String {
    value.map_or("–".to_string(), |v| format!("{v:.1}"))
}

fn first_frame_p50(result: &Measured) -> Option<f64> {
    let first: Vec<u64> = result.restarts.iter().map(|r| r.first_frame_ns).collect();
    percentile_ms(&first, 0.5)
}

pub fn render(out: &mut String, results: &[Measured]) {
    let _ = writeln!(
        out,
        "## Restart time\n\n\
         `builtin.test_pattern ({WIDTH}×{HEIGHT}, {FPS} fps) → p → builtin.stats_sink`, \
         `p` a pass-through processor of the runtime with `restart: {{ policy: \
         on-failure, backoff_ms: 0 }}`. Each kill sends SIGKILL to `p`'s worker; times \
         in ms from just before the kill to **restarted**, the supervisor's log line \
         `worker p restarted (generation N, …)` as the bench read it, and to **first \
         frame**, the first frame from the new worker (captured after the kill) taken \
         by the bench's own subscriber on `p.out`. The latter includes waiting up to \
         {:.0} ms for the camera's next frame, and may come before the restarted line. \
         Percentiles by nearest rank.\n",
        1000.0 / f64::from(FPS)
    );
    let _ = writeln!(
        out,
        "| runtime | p | kills | restarts (plexus) | restarted p50 | restarted p99 | \
         first frame p50 | first frame p99 |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|");
    for result in results {
        let restarted: Vec<u64> = result.restarts.iter().map(|r| r.restarted_ns).collect();
        let first: Vec<u64> = result.restarts.iter().map(|r| r.first_frame_ns).collect();
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {} | {} | {} | {} |",
            result.subject.language,
            result.subject.processor_type,
            result.restarts.len(),
            result
                .counted_by_plexus
                .map_or("–".to_string(), |n| n.to_string()),
            ms(percentile_ms(&restarted, 0.5)),
            ms(percentile_ms(&restarted, 0.99)),
            ms(percentile_ms(&first, 0.5)),
            ms(percentile_ms(&first, 0.99)),
        );
    }
    out.push('\n');
}

pub fn targets(results: &[Measured]) -> Vec<Target> {
    results
        .iter()
        .map(|result| {
            let bound = result.subject.target_ms;
            Target::new(
                format!("{} restart", result.subject.language),
                format!("kill → first frame p50 ≤ {bound:.0} ms"),
                first_frame_p50(result).map(|p50| (format!("{p50:.1} ms"), p50 <= bound)),
            )
        })
        .collect()
}
