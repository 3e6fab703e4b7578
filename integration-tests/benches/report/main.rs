//! The performance report: every figure plexus is judged by, measured in one
//! run on one machine next to the baselines a user would otherwise choose,
//! written as one markdown table and one plot.
//!
//! 1. **Hop latency** ([`raw`], [`pipe`], [`hop`]): one-way latency, receive
//!    time minus capture time, p50/p99, at 64 B, 4 KiB, 64 KiB, 1 MiB and
//!    8 MiB, of raw iceoryx2 (the floor), a Unix pipe (the hand-rolled
//!    baseline), and one plexus hop into a Rust, a Python and a Deno worker.
//! 2. **Throughput and CPU per hop** ([`throughput`]): Rust → Python → Deno →
//!    Rust at 720p and 1080p RGBA.
//! 3. **Sources** ([`source`]): CPU per frame and latency to the first hop
//!    of a Rust plugin, a Python and a TypeScript source beside
//!    `builtin.test_pattern`, at 64 B and 8 MiB.
//! 4. **Media** ([`media`]): a 1080p H.264 transcode through a Rust, a
//!    Python and a Deno worker beside the same transcode in one PyAV
//!    process, and decoding alone.
//! 5. **Recording** ([`recorder`]): `plexus record` of 480p and 1080p at
//!    60 frames/s, uncompressed, lz4 and zstd, beside `dd`.
//! 6. **Restart time** ([`restart`]): SIGKILL → first frame of the restarted
//!    worker, per runtime.
//! 7. **Resident memory at idle** ([`memory`]).
//! 8. **Event latency** ([`events`]): supervisor emits → a `plexus events
//!    --follow --json` watcher has printed it.
//! 9. **Availability** ([`availability`]): frames delivered at the end of a
//!    Rust → Python → Deno chain ÷ frames captured, while a random effect's
//!    worker is killed every 0.8 s.
//! 10. **Memory over time** ([`soak`]): the flagship demo for 30 minutes,
//!     each process's resident memory growth per hour after warm-up.
//! 11. **Dashboard cost** ([`dashboard`]): 1080p frames/s and drops of the
//!     pipeline's own counters, alone and with a dashboard previewing the
//!     port five times a second.
//! 12. **Live swap** ([`swap`]): `plexus upgrade` of a Python, a TypeScript
//!     and a Rust counter in a 60 fps pipeline, request → first frame of the
//!     new process and frames lost or duplicated, beside `plexus restart` of
//!     the same worker.
//! 13. **Sandbox** ([`sandbox`]): a worker's start-up and one hop's latency
//!     and CPU per frame into a Rust, a Python and a Deno worker, with
//!     `sandbox: off` and `sandbox: strict`.
//! 14. **Across hosts** ([`hosts`]): two network namespaces joined by a
//!     veth pair, latency and most frames a second of 64 B, 64 KiB and
//!     1080p frames through a pipeline's link (`plexus agent` in the second
//!     namespace) beside Zenoh's own pub/sub ([`zenoh_raw`]); needs root.
//! 15. **Shared memory** ([`shm`]): what the flagship's ports reserve in
//!     `/dev/shm` at 1080p beside their frames in flight.
//!
//! The report ([`report`]) goes to stdout and `bench-results/report.md`, the
//! plot of latency against payload size ([`plot`]) to
//! `bench-results/latency.png`. Targets are reported, not asserted. With
//! `--quick` every case runs briefly, which proves only that the harness
//! works. With `--soak` only the soak runs (30 minutes), and its table goes
//! to `bench-results/soak.md`; with `--sources` only the sources run (a few
//! minutes), to `bench-results/sources.md`; with `--hops` only the hops (a few
//! minutes), to `bench-results/hops.md`; with `--media` only the media
//! section (a few minutes), to `bench-results/media.md`; with `--recording`
//! only the recording section (a minute), to `bench-results/recording.md`;
//! with `--dashboard` only the dashboard's cost (a minute), to
//! `bench-results/dashboard.md`; with `--swaps` only the live swap section
//! (a few minutes), to `bench-results/swaps.md`; with `--sandbox` only the
//! sandbox section (a few minutes), to `bench-results/sandbox.md`; with
//! `--shm` only the shared memory (half a minute), to `bench-results/shm.md`.
//!
//! ```text
//! cargo build --release --workspace
//! cargo bench -p integration-tests --bench report [-- --quick | --soak | --sources | --hops | --media | --recording | --dashboard | --swaps | --sandbox | --hosts | --shm]
//! ```

mod availability;
mod child;
mod dashboard;
mod events;
mod hop;
mod hosts;
mod hosts_report;
mod latency_report;
mod live;
mod media;
mod media_report;
mod memory;
mod page;
mod pipe;
mod plan;
mod plot;
mod raw;
mod recorder;
mod report;
mod restart;
mod restart_report;
mod sandbox;
mod sandbox_report;
mod shm;
mod soak;
mod source;
mod source_report;
mod swap;
mod swap_recording;
mod swap_report;
mod tap;
mod target;
mod throughput;
mod zenoh_raw;

use std::path::Path;

use integration_tests::bench::{publish, require_release, results_dir, Scratch};

use hop::Consumer;
use latency_report::Row;
use plan::{Plan, FPS, SIZES};

type Result<T> = std::result::Result<T, String>;
/// The entry point of a child role: its arguments after the role's flag.
type Role = fn(&[String]) -> Result<()>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let role: Option<Role> = match args.first().map(String::as_str) {
        Some(raw::PUBLISHER_ROLE) => Some(raw::publisher_main),
        Some(pipe::WRITER_ROLE) => Some(pipe::writer_main),
        Some(zenoh_raw::RECEIVER_ROLE) => Some(zenoh_raw::receiver_main),
        Some(zenoh_raw::SENDER_ROLE) => Some(zenoh_raw::sender_main),
        _ => None,
    };
    if let Some(role) = role {
        if let Err(e) = role(&args[1..]) {
            eprintln!("report {}: {e}", args[0]);
            std::process::exit(1);
        }
        return;
    }
    // cargo passes `--bench` to a harness-less bench; only `--quick`,
    // `--soak`, `--sources`, `--hops`, `--media`, `--recording`,
    // `--dashboard`, `--swaps`, `--sandbox`, `--hosts` and `--shm` matter.
    let flag = |name: &str| args.iter().any(|a| a == name);
    let quick = flag("--quick");
    let outcome = if flag("--soak") {
        soak_only(quick)
    } else if flag("--sources") {
        sources_only(quick)
    } else if flag("--hops") {
        hops_only(quick)
    } else if flag("--media") {
        media_only(quick)
    } else if flag("--recording") {
        recording_only(quick)
    } else if flag("--dashboard") {
        dashboard_only(quick)
    } else if flag("--swaps") {
        swaps_only(quick)
    } else if flag("--sandbox") {
        sandbox_only(quick)
    } else if flag("--hosts") {
        hosts_only(quick)
    } else if flag("--shm") {
        shm_only(quick)
    } else {
        bench(quick)
    };
    if let Err(e) = outcome {
        eprintln!("report bench: {e}");
        std::process::exit(1);
    }
}

/// The shared memory of the flagship alone (half a minute).
fn shm_only(quick: bool) -> Result<()> {
    let release = require_release(&[
        "plexus",
        "plexus-worker-native",
        "plexus-worker-python",
        "libplexus_deno.so",
    ])?;
    let scratch = Scratch::new("shm")?;
    let shm = shm::measure(&release.join("plexus"), &scratch.0, quick)?;
    let mut out = String::new();
    shm::render(&mut out, &shm);
    publish("shm", &out)
}

/// The soak alone: it takes half an hour, so it can be run apart.
fn soak_only(quick: bool) -> Result<()> {
    let release = require_release(&["plexus", "plexus-worker-native", "libplexus_deno.so"])?;
    let scratch = Scratch::new("soak")?;
    let soak = soak::measure(&release.join("plexus"), &scratch.0, quick)?;
    publish("soak", &report::render_soak_alone(&soak))
}

/// The hops alone, at every size: the transports' latency without the rest
/// of the report.
fn hops_only(quick: bool) -> Result<()> {
    let release = require_release(&[
        "plexus",
        "plexus-worker-native",
        "plexus-worker-python",
        "libplexus_deno.so",
    ])?;
    require_fixtures(["probe-python", "probe-deno"])?;
    let scratch = Scratch::new("hops")?;
    let load_before = report::load_average();
    let rows = hop_rows(&release.join("plexus"), &scratch.0, Plan::new(quick))?;
    publish(
        "hops",
        &report::render_hops_alone(&rows, quick, &load_before, &report::load_average()),
    )
}

/// Every transport's hop at every size: the two raw iceoryx2 flavours, the
/// pipe and plexus's hops into each language.
fn hop_rows(plexus: &Path, scratch: &Path, plan: Plan) -> Result<Vec<Row<'static>>> {
    let mut latency = Vec::new();
    for size in &SIZES {
        eprintln!(
            "report: {} hops, {} frames each at {FPS} fps",
            size.label,
            plan.total()
        );
        let raw = |flavour: raw::Flavour| {
            raw::measure(size, plan, flavour)
                .map_err(|e| format!("{} {} hop: {e}", size.label, flavour.label()))
        };
        let (raw, raw_thread_safe) = (
            raw(raw::Flavour::SingleThreaded)?,
            raw(raw::Flavour::ThreadSafe)?,
        );
        let pipe =
            pipe::measure(size, plan).map_err(|e| format!("{} pipe hop: {e}", size.label))?;
        let hops = Consumer::ALL
            .into_iter()
            .map(|consumer| {
                let hop = hop::measure(plexus, scratch, consumer, size, plan)
                    .map_err(|e| format!("{} {} hop: {e}", size.label, consumer.label()))?;
                Ok((consumer, hop))
            })
            .collect::<Result<Vec<_>>>()?;
        latency.push(Row {
            size,
            raw,
            raw_thread_safe,
            pipe,
            hops,
        });
    }
    Ok(latency)
}

/// The sources alone, to measure them without the rest of the report.
fn sources_only(quick: bool) -> Result<()> {
    let release = require_release(&[
        "plexus",
        "plexus-worker-native",
        "plexus-worker-python",
        "libplexus_deno.so",
        source::RUST_LIBRARY,
    ])?;
    require_fixtures(source::FIXTURES)?;
    let scratch = Scratch::new("sources")?;
    let load_before = report::load_average();
    let sources = source::measure_all(&release.join("plexus"), &release, &scratch.0, quick)?;
    publish(
        "sources",
        &report::render_sources_alone(&sources, quick, &load_before, &report::load_average()),
    )
}

/// The media section alone.
fn media_only(quick: bool) -> Result<()> {
    let release = require_release(&[
        "plexus",
        "plexus-worker-native",
        "plexus-worker-python",
        "libplexus_deno.so",
        "libconform_rust.so",
    ])?;
    require_fixtures(availability::FIXTURES)?;
    let scratch = Scratch::new("media")?;
    let load_before = report::load_average();
    let media = media::measure(&release.join("plexus"), &scratch.0, quick)?;
    publish(
        "media",
        &report::render_media_alone(&media, quick, &load_before, &report::load_average()),
    )
}

/// The recording section alone.
fn recording_only(quick: bool) -> Result<()> {
    let release = require_release(&["plexus", "plexus-worker-native"])?;
    let scratch = Scratch::new("recording")?;
    let load_before = report::load_average();
    let recording = recorder::measure(&release.join("plexus"), &scratch.0, quick)?;
    publish(
        "recording",
        &report::render_recording_alone(&recording, quick, &load_before, &report::load_average()),
    )
}

/// The dashboard's cost alone.
fn dashboard_only(quick: bool) -> Result<()> {
    let release = require_release(&["plexus", "plexus-worker-native", "plexus-dashboard"])?;
    let scratch = Scratch::new("dashboard")?;
    let load_before = report::load_average();
    let cost = dashboard::measure(
        &release.join("plexus"),
        &release.join("plexus-dashboard"),
        &scratch.0,
        quick,
    )?;
    publish(
        "dashboard",
        &report::render_dashboard_alone(&cost, quick, &load_before, &report::load_average()),
    )
}

/// The live swap section alone.
fn swaps_only(quick: bool) -> Result<()> {
    let release = require_release(&[
        "plexus",
        "plexus-worker-native",
        "plexus-worker-python",
        "libplexus_deno.so",
        swap::RUST_LIBRARY,
    ])?;
    require_fixtures(swap::FIXTURES)?;
    let scratch = Scratch::new("swaps")?;
    let load_before = report::load_average();
    let swaps = swap::measure_all(&release.join("plexus"), &scratch.0, quick)?;
    publish(
        "swaps",
        &swap_report::render_alone(&swaps, quick, &load_before, &report::load_average()),
    )
}

/// The sandbox section alone.
fn sandbox_only(quick: bool) -> Result<()> {
    let release = require_release(&[
        "plexus",
        "plexus-worker-native",
        "plexus-worker-python",
        "libplexus_deno.so",
    ])?;
    require_fixtures(sandbox::FIXTURES)?;
    let scratch = Scratch::new("sandbox")?;
    let load_before = report::load_average();
    let measured = sandbox::measure_all(&release.join("plexus"), &scratch.0, quick)?;
    publish(
        "sandbox",
        &sandbox_report::render_alone(&measured, quick, &load_before, &report::load_average()),
    )
}

/// The section across hosts alone.
fn hosts_only(quick: bool) -> Result<()> {
    let release = require_release(&["plexus", "plexus-link", "plexus-worker-native"])?;
    let scratch = Scratch::new("hosts")?;
    let load_before = report::load_average();
    let measured = hosts::measure_all(&release.join("plexus"), &scratch.0, quick)?;
    publish(
        "hosts",
        &hosts_report::render_alone(&measured, quick, &load_before, &report::load_average()),
    )
}

/// Fails, naming it, if a fixture package the bench needs has no manifest.
fn require_fixtures<'a>(fixtures: impl IntoIterator<Item = &'a str>) -> Result<()> {
    for fixture in fixtures {
        let manifest = integration_tests::fixture(fixture).join("plexus.yaml");
        if !manifest.is_file() {
            return Err(format!("{} is missing", manifest.display()));
        }
    }
    Ok(())
}

fn bench(quick: bool) -> Result<()> {
    let release = require_release(&[
        "plexus",
        "plexus-worker-native",
        "plexus-worker-python",
        "libplexus_deno.so",
        "libfaulty_rust.so",
        "libconform_rust.so",
        "plexus-dashboard",
        "plexus-link",
        source::RUST_LIBRARY,
        swap::RUST_LIBRARY,
    ])?;
    let plexus = release.join("plexus");
    require_fixtures(
        ["probe-python", "probe-deno", "relay-python", "relay-deno"]
            .into_iter()
            .chain(restart::Subject::ALL.map(|s| s.fixture))
            .chain(availability::FIXTURES)
            .chain(source::FIXTURES)
            .chain(swap::FIXTURES),
    )?;
    let scratch = Scratch::new("report")?;
    let load_before = report::load_average();

    let latency = hop_rows(&plexus, &scratch.0, Plan::new(quick))?;

    let window = throughput::Window::new(quick);
    let throughput = throughput::RESOLUTIONS
        .into_iter()
        .map(|res| throughput::measure(&plexus, &scratch.0, res, window))
        .collect::<Result<Vec<_>>>()?;
    let sources = source::measure_all(&plexus, &release, &scratch.0, quick)?;
    let media = media::measure(&plexus, &scratch.0, quick)?;
    let recording = recorder::measure(&plexus, &scratch.0, quick)?;
    let restarts = restart::measure_all(&plexus, &scratch.0, quick)?;
    let swaps = swap::measure_all(&plexus, &scratch.0, quick)?;
    let sandbox = sandbox::measure_all(&plexus, &scratch.0, quick)?;
    let hosts = match integration_tests::netns::unavailable() {
        Some(why) => Err(why),
        None => Ok(hosts::measure_all(&plexus, &scratch.0, quick)?),
    };
    let memory = memory::measure(&plexus, &scratch.0)?;
    let shm = shm::measure(&plexus, &scratch.0, quick)?;
    let events = events::measure(&plexus, &scratch.0, quick)?;
    let availability = availability::measure(&plexus, &scratch.0, quick)?;
    let soak = soak::measure(&plexus, &scratch.0, quick)?;
    let dashboard = dashboard::measure(
        &plexus,
        &release.join("plexus-dashboard"),
        &scratch.0,
        quick,
    )?;

    let results = report::Results {
        quick,
        load_before,
        load_after: report::load_average(),
        latency,
        throughput,
        sources,
        media,
        recording,
        restarts,
        swaps,
        sandbox,
        hosts,
        memory,
        shm,
        events,
        availability,
        soak,
        dashboard,
    };
    publish("report", &report::render(&results))?;
    let png = results_dir()?.join("latency.png");
    plot::draw(&results.latency, &png)?;
    eprintln!("report: plot written to {}", png.display());
    Ok(())
}
