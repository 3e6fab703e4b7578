//! The live swap section of the report and its target: every upgrade loses
//! and duplicates no frame; a restart of the same worker is the baseline.

use std::fmt::Write as _;

use crate::page::{heading, render_targets};
use crate::restart_report::percentile_ms;
use crate::swap::{Change, Changes, Measured, FPS, HEIGHT, WIDTH};
use crate::swap_recording::Frames;
use crate::target::Target;

fn ms(value: Option<f64>) -> String {
    value.map_or("–".to_string(), |v| format!("{v:.1}"))
}

/// p50, p95 and max of `ns`, in ms.
fn spread(ns: &[u64]) -> [Option<f64>; 3] {
    [0.5, 0.95, 1.0].map(|q| percentile_ms(ns, q))
}

fn first_frame_ns(changes: &Changes) -> Vec<u64> {
    changes.timed.iter().map(|t| t.first_frame_ns).collect()
}

/// Frames lost and duplicated over all `changes`.
fn totals(changes: &Changes) -> (u64, u64) {
    changes
        .frames
        .iter()
        .fold((0, 0), |(l, d), f| (l + f.lost, d + f.duplicated))
}

pub fn render(out: &mut String, results: &[Measured]) {
    let _ = writeln!(
        out,
        "## Live swap\n\n\
         `builtin.test_pattern ({WIDTH}×{HEIGHT}, {FPS} fps) → p → builtin.stats_sink`, `p` \
         the language's counter (`test.*_counter`), which stamps how many frames it has \
         handled into each frame and carries that count across a swap with \
         snapshot/restore; `p.out` is recorded. In one run per language the bench swaps \
         `p`'s worker with `plexus upgrade p`, then restarts it with `plexus restart p` \
         (the old process is killed and a new one started), as often each, waiting for \
         10 frames from the new process between changes. **→ first frame**: from just \
         before the bench starts the command to the first frame of the new process taken \
         by its own subscriber on `p.out`, in ms, the same way for both; it includes up \
         to {:.0} ms waiting for the camera's next frame. **elapsed_ms**: the \
         supervisor's own request → successor serving, from `plexus upgrade`'s answer \
         (a restart answers at once). **longest pause**: the longest time, over all \
         changes, between two frames that subscriber took, from the last frame before \
         the request until the new process had delivered 10 (one frame every {:.1} ms \
         at {FPS} fps). **lost / duplicated**: sequence numbers missing \
         from, or twice in, the recording after each change, all changes together \
         (most after one change). **count went on**: changes after which the counter's \
         stamps kept rising. **× restart**: upgrade ÷ restart, → first frame p50. \
         Percentiles by nearest rank.\n",
        1000.0 / f64::from(FPS),
        1000.0 / f64::from(FPS)
    );
    let _ = writeln!(
        out,
        "| runtime | change | n | → first frame p50 ms | p95 | max | elapsed_ms p50 | p95 | \
         max | longest pause ms | lost | duplicated | count went on | × restart |"
    );
    let _ = writeln!(
        out,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for result in results {
        let restart_p50 = percentile_ms(&first_frame_ns(&result.restarts), 0.5);
        for changes in [&result.upgrades, &result.restarts] {
            let first = spread(&first_frame_ns(changes));
            let elapsed_ns: Vec<u64> = changes
                .timed
                .iter()
                .filter_map(|t| t.elapsed_ms.map(|ms| ms * 1_000_000))
                .collect();
            let elapsed = spread(&elapsed_ns);
            let (lost, duplicated) = totals(changes);
            let most = |f: fn(&Frames) -> u64| changes.frames.iter().map(f).max().unwrap_or(0);
            let longest_pause = changes.timed.iter().map(|t| t.longest_pause_ns).max();
            let went_on = changes.frames.iter().filter(|f| f.count_went_on).count();
            let ratio = match (changes.change, first[0], restart_p50) {
                (Change::Upgrade, Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                _ => "–".to_string(),
            };
            let _ = writeln!(
                out,
                "| {} | `plexus {}` | {} | {} | {} | {} | {} | {} | {} | {} | {lost} ({}) | \
                 {duplicated} ({}) | {went_on} of {} | {ratio} |",
                result.subject.language,
                changes.change.command(),
                changes.timed.len(),
                ms(first[0]),
                ms(first[1]),
                ms(first[2]),
                ms(elapsed[0]),
                ms(elapsed[1]),
                ms(elapsed[2]),
                ms(longest_pause.map(|ns| ns as f64 / 1e6)),
                most(|f| f.lost),
                most(|f| f.duplicated),
                changes.frames.len(),
            );
        }
    }
    out.push('\n');
}

pub fn targets(results: &[Measured]) -> Vec<Target> {
    results
        .iter()
        .map(|result| {
            let (lost, duplicated) = totals(&result.upgrades);
            let p50 = percentile_ms(&first_frame_ns(&result.upgrades), 0.5);
            Target::new(
                format!("{} live swap", result.subject.language),
                format!(
                    "0 frames lost or duplicated over {} upgrades",
                    result.upgrades.timed.len()
                ),
                Some((
                    format!(
                        "{lost} lost, {duplicated} duplicated; → first frame p50 {} ms",
                        ms(p50)
                    ),
                    lost == 0 && duplicated == 0,
                )),
            )
        })
        .collect()
}

/// The section and its target, when it ran on its own.
pub fn render_alone(
    results: &[Measured],
    quick: bool,
    load_before: &str,
    load_after: &str,
) -> String {
    let mut out = heading("plexus live swap", quick, load_before, load_after);
    render_targets(&mut out, &targets(results));
    render(&mut out, results);
    out
}
