//! Hop latency: how much one plexus hop (Rust worker → Rust worker, Rust
//! worker → Python worker and Rust worker → Deno worker) costs on top of the
//! bare iceoryx2 transfer it is built on.
//!
//! For each payload size (64 B, 64 KiB, 1 MiB, 8 MiB) one run measures the
//! one-way latency, `monotonic_ns()` at the receiver minus the header's
//! `capture_ns`, of
//!
//! 1. **raw iceoryx2** ([`raw`]): this binary re-executed as a publisher
//!    child, talking straight to iceoryx2 with the settings of
//!    `bus::settings`, to a subscriber here that sleeps in a `WaitSet` on the
//!    port's wake-up event;
//! 2. **plexus, Rust** ([`plexus_run`]): `plexus run` of
//!    `builtin.test_pattern → builtin.stats_sink` with frames of the same
//!    size, read from the sink's latency in the `--json` summary;
//! 3. **plexus, Python** ([`plexus_run`]): the same pipeline with the Python
//!    processor `test.py_header_probe` (fixture `probe-python`, which reads
//!    only `frame.seq`) as the consumer. The Python worker takes the latency
//!    when it receives the frame, just before it calls into Python, so this
//!    is the hop into the Python worker, not the Python call;
//! 4. **plexus, Deno** ([`plexus_run`]): the same pipeline with the
//!    TypeScript processor `test.ts_header_probe` (fixture `probe-deno`,
//!    which reads only `header.seq`) as the consumer. Likewise the Deno
//!    worker takes the latency when it receives the frame, before it calls
//!    into JavaScript. `plexus` finds `deno` or installs it from npm into its
//!    cache on first use, which the first Deno run pays for in start-up only.
//!
//! The hops are the list [`plexus_run::Consumer::ALL`]; the report has one
//! column group and one pair of target lines per hop.
//!
//! Every size on every side is sent at the same fixed rate ([`plan::FPS`]),
//! so no receiver is ever backlogged and all sleep as long between frames,
//! and every side goes through the worker's own latency histogram, so their
//! percentiles have the same resolution. The result ([`report`]) is a
//! markdown table on stdout and in `bench-results/hop.md`; targets are
//! reported, not asserted.
//!
//! ```text
//! cargo build --release --workspace
//! cargo bench -p integration-tests --bench hop [-- --quick]
//! ```

mod plan;
mod plexus_run;
mod raw;
mod report;

use integration_tests::bench::{publish, require_release, Scratch};

use plan::{Plan, FPS, SIZES};
use plexus_run::Consumer;
use report::Row;

type Result<T> = std::result::Result<T, String>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(raw::PUBLISHER_ROLE) {
        if let Err(e) = raw::publisher_main(&args[1..]) {
            eprintln!("hop publisher: {e}");
            std::process::exit(1);
        }
        return;
    }
    // cargo passes `--bench` to a harness-less bench; only `--quick` matters.
    let quick = args.iter().any(|a| a == "--quick");
    if let Err(e) = bench(quick) {
        eprintln!("hop bench: {e}");
        std::process::exit(1);
    }
}

fn bench(quick: bool) -> Result<()> {
    let release = require_release(&[
        "plexus",
        "plexus-worker-native",
        "plexus-worker-python",
        "libplexus_deno.so",
    ])?;
    let plexus = release.join("plexus");
    for consumer in Consumer::ALL {
        if let Some(package) = consumer.package() {
            if !package.join("plexus.yaml").is_file() {
                return Err(format!(
                    "{} has no plexus.yaml: the {} hop needs that package",
                    package.display(),
                    consumer.label()
                ));
            }
        }
    }
    let scratch = Scratch::new("hop")?;

    let plan = Plan::new(quick);
    let mut rows = Vec::new();
    for size in &SIZES {
        eprintln!(
            "hop: {} raw iceoryx2, {} frames at {FPS} fps",
            size.label,
            plan.total()
        );
        let raw = raw::measure(size, plan)?;
        let hop = |consumer: Consumer| {
            eprintln!(
                "hop: {} {}, {} frames at {FPS} fps",
                size.label,
                consumer.label(),
                plan.total()
            );
            plexus_run::measure(&plexus, &scratch.0, consumer, size, plan)
                .map_err(|e| format!("{} {} hop: {e}", size.label, consumer.label()))
        };
        let hops = Consumer::ALL
            .into_iter()
            .map(|consumer| Ok((consumer, hop(consumer)?)))
            .collect::<Result<Vec<_>>>()?;
        rows.push(Row { size, raw, hops });
    }

    let report = report::render(&rows, quick);
    publish("hop", &report)
}
