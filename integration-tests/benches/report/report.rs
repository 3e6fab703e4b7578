//! The whole report: the targets at a glance, then one section per kind of
//! measurement, as markdown.

use std::fmt::Write as _;

use crate::availability::{self, Availability};
use crate::dashboard::Cost;
use crate::events::EventLatency;
use crate::hosts::Measured as HostsMeasured;
use crate::latency_report::{self, Row};
use crate::media::Media;
use crate::memory::Usage;
use crate::page::{heading, render_targets, target_row};
use crate::recorder::{self, Recording};
use crate::restart::Measured;
use crate::sandbox::Measured as SandboxMeasured;
use crate::soak::{self, Soak};
use crate::source::Measured as SourceMeasured;
use crate::swap::Measured as SwapMeasured;
use crate::target::Target;
use crate::throughput::{Throughput, OVERHEAD_FPS, WORKERS};
use crate::{
    hosts_report, media_report, restart_report, sandbox_report, source_report, swap_report,
    throughput,
};

/// Plexus's CPU time per frame per hop may be at most this, in µs.
const OVERHEAD_TARGET_US: f64 = 20.0;
/// Emit → printed by a watcher, p50, in µs.
const EVENT_TARGET_US: f64 = 1000.0;
/// 1080p RGBA through the four processes must reach this many frames/s.
const THROUGHPUT_TARGET_FPS: f64 = 200.0;

/// Everything one run measured.
pub struct Results<'a> {
    pub quick: bool,
    pub load_before: String,
    pub load_after: String,
    pub latency: Vec<Row<'a>>,
    pub throughput: Vec<Throughput>,
    pub sources: Vec<SourceMeasured>,
    pub media: Media,
    pub recording: Recording,
    pub restarts: Vec<Measured>,
    pub swaps: Vec<SwapMeasured>,
    pub sandbox: Vec<SandboxMeasured>,
    /// The section across hosts, or why this machine cannot run it (not
    /// root, no iproute2).
    pub hosts: std::result::Result<Vec<HostsMeasured>, String>,
    pub memory: Vec<Usage>,
    pub shm: crate::shm::Shm,
    pub events: EventLatency,
    pub availability: Availability,
    pub soak: Soak,
    pub dashboard: Cost,
}

/// `/proc/loadavg`'s three load averages, to say how busy the machine was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

pub fn render(results: &Results<'_>) -> String {
    let mut out = heading(
        "plexus performance report",
        results.quick,
        &results.load_before,
        &results.load_after,
    );

    let mut targets = latency_report::targets(&results.latency);
    let floor = latency_report::raw_cpu_floor(&results.latency);
    targets.extend(throughput_targets(&results.throughput, floor));
    targets.extend(source_report::targets(&results.sources));
    targets.extend(media_report::targets(&results.media));
    targets.extend(recorder::targets(&results.recording));
    targets.extend(restart_report::targets(&results.restarts));
    targets.extend(swap_report::targets(&results.swaps));
    targets.extend(sandbox_report::targets(&results.sandbox));
    match &results.hosts {
        Ok(hosts) => targets.extend(hosts_report::targets(hosts)),
        Err(_) => targets.push(Target::new(
            "across hosts".into(),
            "link latency ≤ 1.2× and frames/s ≥ 0.9× raw Zenoh".into(),
            None,
        )),
    }
    let events = &results.events;
    targets.push(Target::new(
        "event latency".into(),
        format!("emit → printed by a watcher, p50 ≤ {EVENT_TARGET_US:.0} µs"),
        Some((
            format!("{:.0} µs", events.p50_us),
            events.p50_us <= EVENT_TARGET_US,
        )),
    ));
    targets.push(crate::shm::target(&results.shm));
    targets.push(availability_target(&results.availability));
    targets.push(soak_target(&results.soak));
    targets.push(dashboard_target(&results.dashboard));
    render_targets(&mut out, &targets);
    latency_report::render(&mut out, &results.latency);
    render_throughput(&mut out, &results.throughput, floor);
    source_report::render(&mut out, &results.sources);
    media_report::render(&mut out, &results.media);
    recorder::render(&mut out, &results.recording);
    restart_report::render(&mut out, &results.restarts);
    swap_report::render(&mut out, &results.swaps);
    sandbox_report::render(&mut out, &results.sandbox);
    match &results.hosts {
        Ok(hosts) => hosts_report::render(&mut out, hosts),
        Err(why) => {
            let _ = writeln!(out, "## Across hosts\n\nNot measured: {why}.\n");
        }
    }
    render_memory(&mut out, &results.memory);
    crate::shm::render(&mut out, &results.shm);
    render_events(&mut out, &results.events);
    render_availability(&mut out, &results.availability);
    render_soak(&mut out, &results.soak);
    render_dashboard(&mut out, &results.dashboard);
    out
}

/// Watching with the dashboard must leave the pipeline's frames/s within
/// this share of what it is alone, and drop nothing more.
const DASHBOARD_TARGET_RATIO: f64 = 0.95;

fn dashboard_target(cost: &Cost) -> Target {
    let kept = cost.ratio() >= DASHBOARD_TARGET_RATIO && !cost.dropped_more();
    Target::new(
        "cost of a dashboard previewing 1080p".into(),
        format!(
            "frames/s watched ≥ {:.0} % of alone, no more drops",
            DASHBOARD_TARGET_RATIO * 100.0
        ),
        Some((
            format!(
                "{:.1} %, {} dropped",
                cost.ratio() * 100.0,
                cost.watched.dropped
            ),
            kept,
        )),
    )
}

fn render_dashboard(out: &mut String, cost: &Cost) {
    let _ = writeln!(
        out,
        "## Dashboard cost\n\n\
         `builtin.test_pattern` at 1920×1080 RGBA (1000 fps cap) → `builtin.stats_sink`, \
         measured by the pipeline's own counters (`plexus ps --json`: the sink's frames \
         taken and dropped over the window), alone, then in the same runtime with \
         `plexus dashboard` attached and its preview of `camera.out` (320 px wide JPEG) \
         fetched over HTTP five times a second, as the page does, then alone again once \
         it left. The ratio is watched ÷ the mean of the two windows alone.\n"
    );
    let _ = writeln!(out, "| run | frames/s | dropped | previews served |");
    let _ = writeln!(out, "|---|---:|---:|---:|");
    let [before, after] = &cost.alone;
    let _ = writeln!(
        out,
        "| alone, before | {:.0} | {} | – |",
        before.fps, before.dropped
    );
    let _ = writeln!(
        out,
        "| with the dashboard | {:.0} | {} | {} |",
        cost.watched.fps, cost.watched.dropped, cost.previews
    );
    let _ = writeln!(
        out,
        "| alone, after | {:.0} | {} | – |",
        after.fps, after.dropped
    );
    let _ = writeln!(
        out,
        "\nWatched ÷ alone: {:.3} of the frames/s.\n",
        cost.ratio()
    );
}

fn soak_target(soak: &Soak) -> Target {
    Target::new(
        "memory growth over a long run".into(),
        format!(
            "≤ {:.0} MiB/h per process after warm-up",
            soak::TARGET_MIB_PER_HOUR
        ),
        soak.worst().map(|w| {
            (
                format!("{:+.2} MiB/h ({})", w.rss_per_hour, w.process),
                w.rss_per_hour <= soak::TARGET_MIB_PER_HOUR,
            )
        }),
    )
}

/// The soak's table and its target, when it ran on its own.
pub fn render_soak_alone(soak: &Soak) -> String {
    let mut out = format!(
        "# plexus soak\n\n| figure | target | measured | verdict |\n|---|---|---|---|\n{}\n\n",
        target_row(&soak_target(soak))
    );
    render_soak(&mut out, soak);
    out
}

/// The sources section and its targets, when it ran on its own.
pub fn render_sources_alone(
    sources: &[SourceMeasured],
    quick: bool,
    load_before: &str,
    load_after: &str,
) -> String {
    let mut out = heading("plexus sources", quick, load_before, load_after);
    render_targets(&mut out, &source_report::targets(sources));
    source_report::render(&mut out, sources);
    out
}

/// The media section and its targets, when it ran on its own.
pub fn render_media_alone(
    media: &Media,
    quick: bool,
    load_before: &str,
    load_after: &str,
) -> String {
    let mut out = heading("plexus media", quick, load_before, load_after);
    render_targets(&mut out, &media_report::targets(media));
    media_report::render(&mut out, media);
    out
}

/// The recording section and its targets, when it ran on its own.
pub fn render_recording_alone(
    recording: &Recording,
    quick: bool,
    load_before: &str,
    load_after: &str,
) -> String {
    let mut out = heading("plexus recording", quick, load_before, load_after);
    render_targets(&mut out, &recorder::targets(recording));
    recorder::render(&mut out, recording);
    out
}

pub fn render_dashboard_alone(
    cost: &Cost,
    quick: bool,
    load_before: &str,
    load_after: &str,
) -> String {
    let mut out = heading("plexus dashboard cost", quick, load_before, load_after);
    render_targets(&mut out, &[dashboard_target(cost)]);
    render_dashboard(&mut out, cost);
    out
}

pub fn render_hops_alone(
    rows: &[Row<'_>],
    quick: bool,
    load_before: &str,
    load_after: &str,
) -> String {
    let mut out = heading("plexus hops", quick, load_before, load_after);
    render_targets(&mut out, &latency_report::targets(rows));
    latency_report::render(&mut out, rows);
    out
}

fn render_soak(out: &mut String, soak: &Soak) {
    let _ = writeln!(
        out,
        "## Memory over time

{}

This run: {:.1} min, fitted after {:.1} min.
",
        soak::describe(),
        soak.minutes,
        soak.warm_up_minutes
    );
    let _ = writeln!(
        out,
        "| process | RSS after warm-up | RSS at the end | growth (RSS) | growth (anon) | samples |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for g in &soak.growth {
        let _ = writeln!(
            out,
            "| {} | {:.1} MiB | {:.1} MiB | {:+.2} MiB/h | {:+.2} MiB/h | {} |",
            g.process, g.first_mib, g.last_mib, g.rss_per_hour, g.anon_per_hour, g.samples
        );
    }
    out.push('\n');
}

fn availability_target(measured: &Availability) -> Target {
    let percent = measured.percent();
    Target::new(
        "availability under kills".into(),
        format!("≥ {:.0} %", availability::TARGET_PERCENT),
        Some((
            format!("{percent:.1} %"),
            percent >= availability::TARGET_PERCENT,
        )),
    )
}

fn render_availability(out: &mut String, measured: &Availability) {
    let _ = writeln!(
        out,
        "## Availability under kills\n\n{}\n",
        availability::describe()
    );
    let _ = writeln!(
        out,
        "| captured | delivered at the end of the chain | availability | kills | \
         restarts (plexus) | over |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| {} | {} | {:.1} % | {} | {} | {:.0} s |\n",
        measured.captured,
        measured.delivered,
        measured.percent(),
        measured.kills,
        measured.restarts,
        measured.seconds
    );
    let target = availability_target(measured);
    let _ = writeln!(out, "| target | measured | verdict |\n|---|---|---|");
    if let Some((text, met)) = &target.measured {
        let verdict = if *met { "met" } else { "**missed**" };
        let _ = writeln!(out, "| {} | {text} | {verdict} |\n", target.bound);
    }
}

fn render_events(out: &mut String, events: &EventLatency) {
    let _ = writeln!(
        out,
        "## Event latency\n\n\
         From the supervisor's emit (the event's `mono_ns`) to the line read from a \
         `plexus events --follow --json` process, stamped with the same monotonic \
         clock. Events come from a worker that aborts ten times a second and is \
         restarted (exited, restarting, spawned, ready, restarted, input closed / \
         recovered, stats); the watcher's history replay is not counted.\n"
    );
    let _ = writeln!(out, "| events | over | p50 µs | p99 µs | max µs |");
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| {} | {:.1} s | {:.0} | {:.0} | {:.0} |\n",
        events.events, events.seconds, events.p50_us, events.p99_us, events.max_us
    );
}

/// `, N × raw` for a CPU figure against the raw iceoryx2 floor.
fn times_floor(us: f64, floor: Option<f64>) -> String {
    floor.map_or(String::new(), |f| format!(", {:.1} × raw iceoryx2", us / f))
}

fn throughput_targets(runs: &[Throughput], floor: Option<f64>) -> Vec<Target> {
    let mut targets = Vec::new();
    if let Some(full_hd) = runs.iter().find(|t| t.res.label == "1080p") {
        let fps = full_hd.pass.fps;
        targets.push(Target::new(
            "1080p RGBA, Rust → Python → Deno → Rust".into(),
            format!("≥ {THROUGHPUT_TARGET_FPS:.0} frames/s"),
            Some((format!("{fps:.0} frames/s"), fps >= THROUGHPUT_TARGET_FPS)),
        ));
    }
    let worst = runs
        .iter()
        .flat_map(|t| relay_hops(t).map(move |(worker, us)| (t.res.label, worker, us)))
        .max_by(|a, b| a.2.total_cmp(&b.2));
    targets.push(Target::new(
        "plexus CPU per frame per hop".into(),
        format!("≤ {OVERHEAD_TARGET_US:.0} µs"),
        worst.map(|(label, worker, us)| {
            (
                format!(
                    "worst {us:.1} µs ({worker} worker, {label}{})",
                    times_floor(us, floor)
                ),
                us <= OVERHEAD_TARGET_US,
            )
        }),
    ));
    targets
}

/// The relay workers (one receive and one send each: a whole hop's work)
/// and their CPU per frame in the overhead run.
fn relay_hops(run: &Throughput) -> impl Iterator<Item = (&'static str, f64)> + '_ {
    WORKERS
        .iter()
        .zip(&run.relay.cpu_us_per_frame)
        .filter(|((worker, _), _)| matches!(*worker, "py" | "ts"))
        .map(|((_, language), us)| (*language, *us))
}

fn render_throughput(out: &mut String, runs: &[Throughput], floor: Option<f64>) {
    let workers: Vec<String> = WORKERS
        .iter()
        .map(|(worker, language)| format!("{worker} ({language})"))
        .collect();
    let _ = writeln!(
        out,
        "## Throughput and CPU per hop\n\n\
         `builtin.test_pattern → py → ts → builtin.stats_sink`, four worker processes \
         (Rust → Python → Deno → Rust). **Pass-through run**: `py` and `ts` copy each \
         frame into their output (`test.py_pass`, `test.ts_pass`); the source draws as \
         fast as it may (1000 fps cap); frames/s counted by the bench's own subscriber \
         on `ts.out` over the window; MB/s is frames/s × frame size (each hop moves \
         that much). CPU µs/frame: each worker's CPU-time clock (all threads, user + \
         system) over the window ÷ frames delivered; the camera's includes drawing, \
         `py`'s and `ts`'s their copy.\n"
    );
    let _ = writeln!(
        out,
        "| resolution | frame | frames/s | MB/s | CPU µs/frame: {} |",
        workers.join(" / ")
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|");
    for run in runs {
        let _ = writeln!(
            out,
            "| {} | {:.2} MB | {:.0} | {:.0} | {} |",
            run.res.label,
            run.res.bytes() as f64 / 1e6,
            run.pass.fps,
            run.pass.fps * run.res.bytes() as f64 / 1e6,
            per_frame(&run.pass),
        );
    }
    let _ = writeln!(
        out,
        "\n**Overhead run**: the same chain at a fixed {OVERHEAD_FPS} fps with relays \
         in the middle (`test.py_relay`, `test.ts_relay`: loan an output of the frame's \
         size and send it unwritten), so their workers' CPU is plexus's own work on a \
         hop — wake, receive, call into Python / JavaScript, loan, send, notify — plus \
         the two SDK calls and idle housekeeping (heartbeats). That per-frame CPU of \
         `py` and `ts` is the figure held against the target; the sink's is a \
         receive only. The floor: one raw iceoryx2 hop of 8 MiB costs {} µs of CPU \
         per frame, publisher and subscriber together (hop latency table).\n",
        floor.map_or("(not measured)".to_string(), |f| format!("{f:.1}"))
    );
    let _ = writeln!(
        out,
        "| resolution | frames/s | CPU µs/frame: {} | hop (py, ts) × raw |",
        workers.join(" / ")
    );
    let _ = writeln!(out, "|---|---:|---|---|");
    for run in runs {
        let ratios: Vec<String> = relay_hops(run)
            .map(|(_, us)| floor.map_or("–".into(), |f| format!("{:.1}", us / f)))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {:.0} | {} | {} |",
            run.res.label,
            run.relay.fps,
            per_frame(&run.relay),
            ratios.join(" / ")
        );
    }
    out.push('\n');
}

fn per_frame(measured: &throughput::Measured) -> String {
    measured
        .cpu_us_per_frame
        .iter()
        .map(|us| format!("{us:.1}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn render_memory(out: &mut String, usage: &[Usage]) {
    let _ = writeln!(
        out,
        "## Resident memory at idle\n\n\
         The four-process chain with pass-through processors at 1 fps of 720p frames, \
         read from `/proc/<pid>/status` after three frames went through, in MiB. \
         **anon**: private heap and stacks; **file**: mapped binaries, libraries, \
         interpreters; **shmem**: iceoryx2 segments the process touched, counted again \
         in every process that maps them.\n"
    );
    let _ = writeln!(out, "| process | runtime | RSS | anon | file | shmem |");
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
    let mib = |kib: u64| kib as f64 / 1024.0;
    for u in usage {
        let r = u.resident;
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            u.process,
            u.runtime,
            mib(r.total),
            mib(r.anon),
            mib(r.file),
            mib(r.shmem)
        );
    }
    out.push('\n');
}
