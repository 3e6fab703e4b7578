//! The section across hosts and its targets: the link's latency at most
//! 1.2× raw Zenoh's and its frames a second at least 0.9× raw Zenoh's, over
//! the same veth in the same run, and the local hop of a pipeline across
//! hosts as fast as on one host.

use std::fmt::Write as _;

use crate::hosts::{Measured, MAX_SOURCE_FPS};
use crate::page::{heading, render_targets};
use crate::plan::FPS;
use crate::target::Target;

/// Most the link's p50 and p99 may be, × raw Zenoh's.
const LATENCY_BOUND: f64 = 1.2;
/// Least the link's frames a second may be, × raw Zenoh's.
const THROUGHPUT_BOUND: f64 = 0.9;
/// Most the local hop's p50 may be in a pipeline across hosts, × on one host.
const LOCAL_BOUND: f64 = 1.1;

fn pair(p50: f64, p99: f64) -> String {
    format!("{p50:.0} / {p99:.0}")
}

pub fn render(out: &mut String, results: &[Measured]) {
    let _ = writeln!(
        out,
        "## Across hosts\n\n\
         Two network namespaces joined by a veth pair on this machine, one host each. \
         **raw Zenoh**: a Zenoh 1.10 publisher (TCP, peer mode) in A, a subscriber in B, \
         payload stamped with the send time, {FPS} frames/s, express and congestion \
         control `drop` as the link's bridges send. \
         **plexus**: `builtin.test_pattern` on A → `builtin.stats_sink` on B (`host: b`, \
         `plexus agent` in B) and a second `builtin.stats_sink` on A, {FPS} frames/s; \
         **link** is bridge to bridge as `plexus ps --json` reports it (median of the \
         per-second p50 and p99), **capture → B** the sink's latency in the run's \
         summary (both namespaces share one clock). **max frames/s**: raw Zenoh flat out \
         with congestion control `block`, frames received ÷ seconds from first to last; \
         plexus with the source at its highest rate ({MAX_SOURCE_FPS} frames/s), the \
         link's median frames/s. **local hop**: capture → the sink on A, in the pipeline \
         across hosts and in the same pipeline on one host. **frames**: received \
         at B in the paced runs, and those sent that never arrived. All latencies \
         p50 / p99, µs.\n"
    );
    let _ = writeln!(
        out,
        "| payload | raw Zenoh | plexus link | plexus capture → B | frames (lost), raw / plexus | \
         link drops | raw max frames/s | plexus max frames/s | local hop, across hosts | \
         local hop, one host |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for m in results {
        let link = m
            .plexus
            .link
            .map_or("–".to_string(), |l| pair(l.p50_us, l.p99_us));
        let dropped =
            m.plexus.link.map_or(0, |l| l.dropped) + m.plexus_max.link.map_or(0, |l| l.dropped);
        let _ = writeln!(
            out,
            "| {} | {} | {link} | {} | {} ({}) / {} ({}) | {dropped} | {:.0} | {:.0} | {} | {} |",
            m.size.label,
            pair(m.raw.p50_us, m.raw.p99_us),
            pair(m.plexus.p50_us, m.plexus.p99_us),
            m.raw.frames,
            m.raw.lost,
            m.plexus.frames,
            m.plexus.lost,
            m.raw_max.fps,
            m.plexus_max.fps,
            pair(m.plexus.near_us.0, m.plexus.near_us.1),
            pair(m.single_host.p50_us, m.single_host.p99_us),
        );
    }
    out.push('\n');
}

pub fn targets(results: &[Measured]) -> Vec<Target> {
    let mut targets = Vec::new();
    for m in results {
        let label = m.size.label;
        targets.push(Target::new(
            format!("{label} across hosts: link latency ÷ raw Zenoh"),
            format!("p50 and p99 ≤ {LATENCY_BOUND:.1}×"),
            m.plexus.link.map(|link| {
                let (p50, p99) = (link.p50_us / m.raw.p50_us, link.p99_us / m.raw.p99_us);
                (
                    format!("p50 {p50:.2}×, p99 {p99:.2}×"),
                    p50 <= LATENCY_BOUND && p99 <= LATENCY_BOUND,
                )
            }),
        ));
        // The source cannot send faster than MAX_SOURCE_FPS: where raw
        // Zenoh carries more, the link is held to what it was offered.
        let offered = m.raw_max.fps.min(MAX_SOURCE_FPS as f64);
        let ratio = m.plexus_max.fps / offered;
        targets.push(Target::new(
            format!("{label} across hosts: max frames/s ÷ raw Zenoh"),
            format!("≥ {THROUGHPUT_BOUND:.1}× (raw capped at the source's {MAX_SOURCE_FPS})"),
            Some((format!("{ratio:.2}×"), ratio >= THROUGHPUT_BOUND)),
        ));
        let local = m.plexus.near_us.0 / m.single_host.p50_us;
        targets.push(Target::new(
            format!("{label} local hop in a pipeline across hosts ÷ on one host"),
            format!("p50 ≤ {LOCAL_BOUND:.1}×"),
            Some((format!("{local:.2}×"), local <= LOCAL_BOUND)),
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
    let mut out = heading("plexus across hosts", quick, load_before, load_after);
    render_targets(&mut out, &targets(results));
    render(&mut out, results);
    out
}
