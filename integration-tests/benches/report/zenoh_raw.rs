//! The baseline across hosts: Zenoh's own pub/sub (the version and
//! features `plexus-link` uses, no plexus code) between a sender in
//! namespace A and a receiver in namespace B, as two children of this bench
//! binary. Both namespaces share the machine's `CLOCK_MONOTONIC`, so the
//! receiver takes one-way latency straight from the send time stamped in
//! each payload.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use ipc_schemas::frame::monotonic_ns;
use worker_lifecycle::LatencyHistogram;
use zenoh::qos::CongestionControl;
use zenoh::Wait;

use crate::child::{die_with_parent, number, pace};
use crate::Result;
use integration_tests::netns::NetPair;

/// First argument that turns this binary into the receiver (in B).
pub const RECEIVER_ROLE: &str = "--zenoh-receiver";
/// First argument that turns this binary into the sender (in A).
pub const SENDER_ROLE: &str = "--zenoh-sender";
const KEY: &str = "bench/raw/frames";
/// The port the receiver listens on, in its own namespace.
pub const PORT: u16 = 7446;
/// Bytes of each payload the sender stamps: its sequence and send time.
const STAMP: usize = 16;
/// Silence that ends a receiver: everything sent has arrived or is lost.
const STALL: Duration = Duration::from_secs(2);
/// Time the two sides get to find each other.
const MEET: Duration = Duration::from_secs(15);

/// How a run sends: paced for latency, flat out for the maximum rate.
#[derive(Clone, Copy)]
pub enum Pace {
    /// `frames` frames at fixed intervals; the first `warmup` not measured.
    Paced {
        frames: u64,
        warmup: u64,
        interval: Duration,
    },
    /// As fast as the link takes them, for `duration`.
    FlatOut { duration: Duration },
}

/// What the receiver measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Received {
    pub frames: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Frames per second between the first and the last frame received.
    pub fps: f64,
    /// Frames the sender sent that never arrived.
    pub lost: u64,
}

fn session(endpoint_key: &str, endpoint: &str) -> Result<zenoh::Session> {
    let mut config = zenoh::Config::default();
    let set = |config: &mut zenoh::Config, key: &str, value: &str| {
        config
            .insert_json5(key, value)
            .map_err(|e| format!("zenoh config {key}: {e}"))
    };
    set(&mut config, "mode", "\"peer\"")?;
    set(&mut config, "scouting/multicast/enabled", "false")?;
    set(&mut config, endpoint_key, &format!("[\"{endpoint}\"]"))?;
    zenoh::open(config)
        .wait()
        .map_err(|e| format!("opening a zenoh session ({endpoint}): {e}"))
}

/// The receiver child: listens on `endpoint`, prints `ready`, then takes
/// frames until the sender's last one or [`STALL`], and prints its figures
/// as one line `frames p50_ns p99_ns first_ns last_ns warmup_seen max_seq`.
pub fn receiver_main(args: &[String]) -> Result<()> {
    let [endpoint, warmup, parent] = args else {
        return Err(format!("expected 3 arguments, got {args:?}"));
    };
    die_with_parent(number(parent)?)?;
    let warmup = number(warmup)?;
    let session = session("listen/endpoints", endpoint)?;
    let subscriber = session
        .declare_subscriber(KEY)
        .wait()
        .map_err(|e| format!("declaring the subscriber: {e}"))?;
    println!("ready");
    let mut histogram = LatencyHistogram::default();
    let (mut frames, mut first_ns, mut last_ns, mut max_seq) = (0u64, 0u64, 0u64, 0u64);
    let mut wait = MEET;
    while let Some(sample) = subscriber
        .recv_timeout(wait)
        .map_err(|e| format!("receiving: {e}"))?
    {
        let now = monotonic_ns();
        wait = STALL;
        let payload = sample.payload().to_bytes();
        if payload.len() < STAMP {
            return Err(format!("a sample of {} bytes", payload.len()));
        }
        let word = |at: usize| u64::from_le_bytes(payload[at..at + 8].try_into().unwrap());
        let (seq, sent_ns) = (word(0), word(8));
        if seq == u64::MAX {
            break; // the sender's end mark
        }
        if frames == 0 {
            first_ns = now;
        }
        last_ns = now;
        frames += 1;
        max_seq = max_seq.max(seq);
        if seq >= warmup {
            histogram.record(now.saturating_sub(sent_ns));
        }
    }
    let summary = histogram.summary();
    println!(
        "{frames} {} {} {first_ns} {last_ns} {max_seq}",
        summary.as_ref().map_or(0, |s| s.p50_ns),
        summary.as_ref().map_or(0, |s| s.p99_ns),
    );
    Ok(())
}

/// The sender child: connects to `endpoint`, waits until the receiver's
/// subscriber matches, sends, ends with a mark, prints how many frames it
/// sent and stays until its stdin closes. Its publisher is set as
/// `plexus-link`'s bridges set theirs: express (no batching), with the
/// congestion control asked for.
pub fn sender_main(args: &[String]) -> Result<()> {
    let [endpoint, bytes, frames, interval_us, duration_ms, congestion, parent] = args else {
        return Err(format!("expected 7 arguments, got {args:?}"));
    };
    die_with_parent(number(parent)?)?;
    let bytes = (number(bytes)? as usize).max(STAMP);
    let (frames, interval) = (number(frames)?, Duration::from_micros(number(interval_us)?));
    let duration = Duration::from_millis(number(duration_ms)?);
    let congestion = match congestion.as_str() {
        "drop" => CongestionControl::Drop,
        "block" => CongestionControl::Block,
        other => return Err(format!("unknown congestion control `{other}`")),
    };
    let session = session("connect/endpoints", endpoint)?;
    let publisher = session
        .declare_publisher(KEY)
        .congestion_control(congestion)
        .express(true)
        .wait()
        .map_err(|e| format!("declaring the publisher: {e}"))?;
    let met = Instant::now() + MEET;
    while !publisher
        .matching_status()
        .wait()
        .map_err(|e| format!("matching status: {e}"))?
        .matching()
    {
        if Instant::now() >= met {
            return Err(format!("no subscriber matched within {MEET:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut payload = vec![0u8; bytes];
    let start = Instant::now();
    let mut sent = 0u64;
    loop {
        let flat_out = interval.is_zero();
        if (flat_out && start.elapsed() >= duration) || (!flat_out && sent == frames) {
            break;
        }
        payload[..8].copy_from_slice(&sent.to_le_bytes());
        payload[8..16].copy_from_slice(&monotonic_ns().to_le_bytes());
        publisher
            .put(payload.clone())
            .wait()
            .map_err(|e| format!("putting frame {sent}: {e}"))?;
        sent += 1;
        if !flat_out {
            pace(start, interval, sent - 1);
        }
    }
    // The end mark waits for the link, whatever the frames' congestion
    // control, so the receiver need not wait out a stall.
    let mut end = vec![0u8; STAMP];
    end[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    session
        .put(KEY, end)
        .congestion_control(CongestionControl::Block)
        .wait()
        .map_err(|e| format!("putting the end mark: {e}"))?;
    println!("{sent}");
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    Ok(())
}

/// Kills a child left behind by an error.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One raw run of `bytes`-byte payloads from A to B.
pub fn measure(pair: &NetPair, bytes: usize, pace_: Pace, congestion: &str) -> Result<Received> {
    let exe = std::env::current_exe().map_err(|e| format!("locating the bench binary: {e}"))?;
    let parent = std::process::id().to_string();
    let endpoint = format!("tcp/{}:{PORT}", pair.b.addr);
    let (frames, warmup, interval, duration) = match pace_ {
        Pace::Paced {
            frames,
            warmup,
            interval,
        } => (frames, warmup, interval, Duration::ZERO),
        Pace::FlatOut { duration } => (0, 0, Duration::ZERO, duration),
    };
    let mut children = Children(Vec::new());
    let receiver = spawn(pair.command(&pair.b, &exe).args([
        RECEIVER_ROLE,
        &endpoint,
        &warmup.to_string(),
        &parent,
    ]))?;
    children.0.push(receiver);
    let mut out = BufReader::new(children.0[0].stdout.take().expect("piped"));
    let mut line = String::new();
    out.read_line(&mut line)
        .map_err(|e| format!("reading the receiver: {e}"))?;
    if line.trim() != "ready" {
        return Err(format!("the receiver said `{}`, not ready", line.trim()));
    }
    let sender = spawn(pair.command(&pair.a, &exe).args([
        SENDER_ROLE,
        &endpoint,
        &bytes.to_string(),
        &frames.to_string(),
        &interval.as_micros().to_string(),
        &duration.as_millis().to_string(),
        congestion,
        &parent,
    ]))?;
    children.0.push(sender);

    let mut figures = String::new();
    out.read_to_string(&mut figures)
        .map_err(|e| format!("reading the receiver: {e}"))?;
    let receiver_status = children.0[0].wait().map_err(|e| e.to_string())?;
    let sender = &mut children.0[1];
    drop(sender.stdin.take());
    let mut sent = String::new();
    if let Some(mut out) = sender.stdout.take() {
        let _ = out.read_to_string(&mut sent);
    }
    let sender_status = sender.wait().map_err(|e| e.to_string())?;
    children.0.clear();
    if !receiver_status.success() || !sender_status.success() {
        return Err(format!(
            "raw zenoh: receiver {receiver_status}, sender {sender_status}"
        ));
    }
    let sent = number(sent.trim())?;
    let f: Vec<u64> = figures
        .split_whitespace()
        .map(number)
        .collect::<Result<_>>()?;
    let [received, p50, p99, first, last, _max_seq] = f[..] else {
        return Err(format!("the receiver printed `{figures}`"));
    };
    let span = last.saturating_sub(first) as f64 / 1e9;
    Ok(Received {
        frames: received,
        p50_us: p50 as f64 / 1000.0,
        p99_us: p99 as f64 / 1000.0,
        fps: if span > 0.0 {
            (received.saturating_sub(1)) as f64 / span
        } else {
            0.0
        },
        lost: sent.saturating_sub(received),
    })
}

fn spawn(command: &mut std::process::Command) -> Result<Child> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting a raw zenoh child: {e}"))
}
