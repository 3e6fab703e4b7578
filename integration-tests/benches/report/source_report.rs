//! The source section of the report: each source's CPU per frame and
//! latency as multiples of `builtin.test_pattern`'s at the same size, its
//! CPU also against the Rust plugin source doing the same work, and the
//! target that a Python or TypeScript source costs at most
//! [`CPU_TARGET_RATIO`] × the builtin's CPU per frame at 8 MiB.

use std::fmt::Write as _;

use crate::plan::FPS;
use crate::source::{self, Language, Measured, Spread};
use crate::target::Target;

/// A Python or TypeScript source's CPU per frame at [`TARGET_SIZE`], at
/// most this many times a native source's doing the same work.
const CPU_TARGET_RATIO: f64 = 1.2;
const TARGET_SIZE: &str = "8 MiB";

/// The row of `rows` at `row`'s size whose source `pick` chooses.
fn peer<'a>(
    rows: &'a [Measured],
    row: &Measured,
    pick: impl Fn(&Measured) -> bool,
) -> Option<&'a Measured> {
    rows.iter()
        .find(|peer| peer.size.label == row.size.label && pick(peer))
}

fn builtin_of<'a>(rows: &'a [Measured], row: &Measured) -> Option<&'a Measured> {
    peer(rows, row, |peer| peer.source.language == Language::Builtin)
}

/// The Rust plugin source of `row`'s mode: the same fill in native code.
fn rust_of<'a>(rows: &'a [Measured], row: &Measured) -> Option<&'a Measured> {
    peer(rows, row, |peer| {
        peer.source.language == Language::Rust && peer.source.mode == row.source.mode
    })
}

/// `value` ÷ `base`, two decimals, or `–` without a base.
fn times(value: f64, base: Option<f64>) -> String {
    base.map_or("–".into(), |base| format!("{:.2}", value / base))
}

/// One target per language a user writes sources in besides Rust, held
/// against its worst mode: its CPU per frame at [`TARGET_SIZE`] ÷ that of
/// the Rust plugin source of the same mode, which does the same work in
/// the builtin's worker; the ratio to the builtin itself is shown beside.
pub fn targets(rows: &[Measured]) -> Vec<Target> {
    [Language::Python, Language::TypeScript]
        .into_iter()
        .map(|language| {
            let worst = rows
                .iter()
                .filter(|r| r.source.language == language && r.size.label == TARGET_SIZE)
                .filter_map(|r| {
                    let same_work = r.cpu_us.median / rust_of(rows, r)?.cpu_us.median;
                    let builtin = r.cpu_us.median / builtin_of(rows, r)?.cpu_us.median;
                    Some((r.source.mode.label(), same_work, builtin))
                })
                .max_by(|a, b| a.1.total_cmp(&b.1));
            Target::new(
                format!("{} source CPU per frame at {TARGET_SIZE}", language.label()),
                format!(
                    "≤ {CPU_TARGET_RATIO} × the builtin's, for the same work (a Rust plugin \
                     source with the same fill)"
                ),
                worst.map(|(mode, same_work, builtin)| {
                    (
                        format!(
                            "worst {same_work:.2}× (mode {mode}; {builtin:.2}× \
                             `builtin.test_pattern`, which draws more)"
                        ),
                        same_work <= CPU_TARGET_RATIO,
                    )
                }),
            )
        })
        .collect()
}

/// `median (lowest–highest)`, or the value alone for a single run.
fn spread(figure: Spread) -> String {
    match figure.min == figure.max {
        true => format!("{:.0}", figure.median),
        false => format!("{:.0} ({:.0}–{:.0})", figure.median, figure.min, figure.max),
    }
}

pub fn render(out: &mut String, rows: &[Measured]) {
    let sizes: Vec<&str> = source::sizes().iter().map(|s| s.label).collect();
    let _ = writeln!(
        out,
        "## Sources\n\n\
         `<source> → builtin.stats_sink`, two worker processes, at {} and {FPS} \
         frames/s. The user sources (fixtures `bench-source-rust`, `-python`, `-deno`) \
         fill their whole frame in place with one memset-like call (`slice::fill`, numpy \
         `ndarray.fill`, `Uint8Array.fill`) and send it, in mode continuous (`produce` \
         called every 10 ms) and manual (a thread or timer of their own); \
         `builtin.test_pattern` computes its pattern for every row and copies it along \
         the row, more work than a memset. Each case runs {}, in rounds of \
         all cases; every figure is the median over its runs. **CPU µs/frame**: the \
         source worker's CPU-time clock (all threads, user + system) over a window \
         after a warm-up ÷ the frames it sent in it, the median and (in brackets) the \
         lowest and highest run. **× builtin**: against `builtin.test_pattern` at the same size in \
         this run; **× Rust**: against the Rust plugin source of the same mode, the same \
         fill in native code. **Latency**: at the sink, receive time minus the header's \
         `capture_ns`, over the whole run (the sink's histogram, bucket upper bounds). \
         The builtin stamps it after drawing; a continuous user source's header is \
         stamped when the worker calls `produce`, so its latency includes the call and \
         the fill; a manual one's when it is taken for the send, after the fill. \
         **frames (lost)**: taken by the sink over all runs, and sent but not taken.\n",
        sizes.join(" and "),
        match rows.first().map_or(0, |r| r.runs) {
            1 => "once".to_string(),
            runs => format!("{runs} times"),
        },
    );
    let _ = writeln!(
        out,
        "| payload | source | mode | frames/s | CPU µs/frame | CPU × builtin | CPU × Rust | \
         p50 µs | p99 µs | p50 × builtin | frames (lost) |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let builtin = builtin_of(rows, row);
        let latency = &row.latency;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {} | {} | {} | {:.1} | {:.1} | {} | {} ({}) |",
            row.size.label,
            match row.source.language {
                Language::Builtin => format!("`{}`", row.source.processor_type),
                language => language.label().to_string(),
            },
            row.source.mode.label(),
            row.fps,
            spread(row.cpu_us),
            times(row.cpu_us.median, builtin.map(|b| b.cpu_us.median)),
            times(
                row.cpu_us.median,
                rust_of(rows, row).map(|r| r.cpu_us.median)
            ),
            latency.p50_us,
            latency.p99_us,
            times(latency.p50_us, builtin.map(|b| b.latency.p50_us)),
            latency.frames,
            latency.lost
        );
    }
    out.push('\n');
}
