//! The media section of the report: a transcode through plexus's three
//! workers against one PyAV process, with issue 16's targets: throughput at
//! least the one process's, and the hops' CPU per frame at most
//! [`HOP_SHARE_TARGET`] of its decode+encode CPU per frame.

use std::fmt::Write as _;

use crate::media::{Media, CHAIN};
use crate::target::Target;

/// The hops' CPU per frame, as a share of one process's decode+encode.
const HOP_SHARE_TARGET: f64 = 0.05;
/// The chain's throughput, as a multiple of one process's.
const THROUGHPUT_TARGET: f64 = 1.0;

/// The workers of [`CHAIN`] that are hops: neither the source nor the
/// recorder.
fn hops() -> std::ops::Range<usize> {
    1..CHAIN.len() - 1
}

/// The CPU per frame of the hops of a run, in ms.
fn hops_ms(cpu_ms: &[f64]) -> f64 {
    cpu_ms[hops()].iter().sum()
}

pub fn targets(media: &Media) -> Vec<Target> {
    let label = media.plan.label;
    let best = media.best();
    let throughput = match best {
        Some(run) => {
            let ratio = run.fps / media.single.fps;
            (
                format!(
                    "{:.1} frames/s, {ratio:.2}× one process ({:.1} frames/s)",
                    run.fps, media.single.fps
                ),
                ratio >= THROUGHPUT_TARGET,
            )
        }
        None => (
            format!(
                "lost frames even at one process's rate ({:.1} frames/s)",
                media.single.fps
            ),
            false,
        ),
    };
    let relays = &media.relays;
    let share = (relays.lost == 0).then(|| {
        let share = hops_ms(&relays.cpu_ms) / media.single.cpu_ms;
        let copying = best.map_or(String::new(), |run| {
            format!(
                "; {:.1} % with the copy of a pass-through",
                hops_ms(&run.cpu_ms) / media.single.cpu_ms * 100.0
            )
        });
        (
            format!(
                "{:.1} % ({:.2} ms of {:.1} ms){copying}",
                share * 100.0,
                hops_ms(&relays.cpu_ms),
                media.single.cpu_ms
            ),
            share <= HOP_SHARE_TARGET,
        )
    });
    vec![
        Target::new(
            format!("{label} H.264 transcode through Rust, Python and Deno hops"),
            format!(
                "≥ {THROUGHPUT_TARGET:.1}× the same decode+encode in one PyAV process, \
                 without losing a frame"
            ),
            Some(throughput),
        ),
        Target::new(
            format!("{label} transcode: plexus's CPU per frame at the three hops"),
            format!(
                "≤ {:.0} % of one process's decode+encode CPU per frame (relays at its rate)",
                HOP_SHARE_TARGET * 100.0
            ),
            share,
        ),
    ]
}

pub fn render(out: &mut String, media: &Media) {
    let plan = &media.plan;
    let _ = writeln!(
        out,
        "## Media\n\n\
         A {label} H.264 clip (the test pattern recorded by `media.video_recorder`, \
         30 frames/s) decoded by `media.video_source`, copied by a Rust, a Python and a \
         Deno worker (`{}`) and encoded by `media.video_recorder` (libx264, crf 18, \
         preset veryfast, tune zerolatency, fragmented MP4): five worker processes. \
         **One process** is the same decode and encode with the same settings and the \
         same RGBA conversions in one PyAV script, no plexus ({} run{}, the median). \
         **Decode alone**: the source at `speed: 0` into `builtin.stats_sink`. plexus \
         has no back-pressure, so the chain runs with its source paced at rising \
         multiples of the one-process rate until a run loses a frame (a sequence gap at \
         the recorder); the throughput is the best run without loss. **Relays** run the \
         chain once more at the one-process rate with processors that send a loaned \
         buffer unwritten in place of the copies: their CPU per frame is plexus's own \
         cost at a hop. Frames/s and CPU per frame (each worker's CPU-time clock, all \
         threads) are over a window of {:?} after {:?} of warm-up.\n",
        CHAIN[hops()].join("`, `"),
        plan.rounds,
        if plan.rounds == 1 { "" } else { "s" },
        plan.window.measure,
        plan.window.warmup,
        label = plan.label,
    );
    let _ = writeln!(
        out,
        "| case | paced at | frames/s | × one process | lost | CPU ms/frame |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
    let single = media.single.fps;
    let _ = writeln!(
        out,
        "| one PyAV process | – | {single:.1} | 1.00 | – | {:.1} |",
        media.single.cpu_ms
    );
    let _ = writeln!(
        out,
        "| decode alone (plexus) | as fast as it decodes | {:.1} | {:.2} | – | – |",
        media.decode_fps,
        media.decode_fps / single
    );
    let runs = media
        .chain
        .iter()
        .map(|run| ("through plexus", run))
        .chain(std::iter::once(("through plexus, relays", &media.relays)));
    for (case, run) in runs {
        let cpu: Vec<String> = CHAIN
            .iter()
            .zip(&run.cpu_ms)
            .map(|(worker, ms)| format!("{worker} {ms:.2}"))
            .collect();
        let _ = writeln!(
            out,
            "| {case} | {:.1} | {:.1} | {:.2} | {} | {} (total {:.1}) |",
            run.asked_fps,
            run.fps,
            run.fps / single,
            run.lost,
            cpu.join(", "),
            run.cpu_ms.iter().sum::<f64>()
        );
    }
    out.push('\n');
}
