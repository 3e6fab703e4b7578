//! The baseline: one hop straight through iceoryx2, with the settings plexus
//! uses but none of its code, from a publisher child to a receiver here. It
//! is measured in both of iceoryx2's inter-process flavours: the
//! single-threaded one is the floor, and the thread-safe one, which plexus
//! uses (`bus::Ipc`), shows what its port locks cost.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bus::files::RuntimeFiles;
use bus::node::runtime_config;
use bus::settings::{
    DEFAULT_OBSERVERS, FRAME_BORROWED, FRAME_PUBLISHERS, FRAME_QUEUE, MAX_WORKERS,
};
use iceoryx2::port::listener::Listener;
use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::prelude::*;
use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::{FrameHeader, Names, SchemaId};
use worker_lifecycle::LatencyHistogram;

use crate::child::{check_status, die_with_parent, number, pace};
use crate::plan::{cpu_per_frame, Latency, Plan, Size};
use crate::Result;
use integration_tests::bench::thread_cpu_ns;

/// First argument that turns this binary into the raw publisher child.
pub const PUBLISHER_ROLE: &str = "--hop-publisher";
/// The raw hop's port, named like a plexus output so `Names` builds it.
const RAW_PROCESSOR: &str = "raw";
const RAW_PORT: &str = "out";
/// Sized as plexus sizes a port with one consumer and the default observer
/// slots.
const RAW_SUBSCRIBERS: usize = 1 + DEFAULT_OBSERVERS;
type FrameService<S> =
    iceoryx2::service::port_factory::publish_subscribe::PortFactory<S, [u8], FrameHeader>;
type EventService<S> = iceoryx2::service::port_factory::event::PortFactory<S>;

/// Which of iceoryx2's inter-process service flavours a raw hop uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// No lock in its ports: the floor.
    SingleThreaded,
    /// Ports usable from several threads, behind a lock: plexus's.
    ThreadSafe,
}

impl Flavour {
    pub fn label(self) -> &'static str {
        match self {
            Flavour::SingleThreaded => "raw iceoryx2",
            Flavour::ThreadSafe => "raw iceoryx2, thread-safe",
        }
    }

    /// How the publisher child is told.
    fn arg(self) -> &'static str {
        match self {
            Flavour::SingleThreaded => "single",
            Flavour::ThreadSafe => "thread-safe",
        }
    }
}

/// How long the raw receiver waits for a frame before it decides the rest
/// were lost; far above the pacing interval.
const RAW_STALL: Duration = Duration::from_secs(3);

/// Turns any iceoryx2 error into a message saying what was being done.
fn ctx<E: std::fmt::Debug>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e:?}")
}

fn raw_node<S: Service>(names: &Names, name: &str) -> Result<Node<S>> {
    let config = runtime_config(names).map_err(|e| e.to_string())?;
    NodeBuilder::new()
        .name(&name.try_into().map_err(ctx("node name"))?)
        .config(&config)
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<S>()
        .map_err(ctx("creating node"))
}

/// The settings of `bus::settings::frame_service`, spelled out against
/// iceoryx2 directly so the baseline has no plexus code in its path.
fn raw_frame_service<S: Service>(node: &Node<S>, names: &Names) -> Result<FrameService<S>> {
    let name = names.port(RAW_PROCESSOR, RAW_PORT);
    node.service_builder(&name.as_str().try_into().map_err(ctx("service name"))?)
        .publish_subscribe::<[u8]>()
        .user_header::<FrameHeader>()
        .max_publishers(FRAME_PUBLISHERS)
        .max_subscribers(RAW_SUBSCRIBERS)
        .max_nodes(FRAME_PUBLISHERS + RAW_SUBSCRIBERS)
        .history_size(0)
        .subscriber_max_buffer_size(FRAME_QUEUE)
        .subscriber_max_borrowed_samples(FRAME_BORROWED)
        .enable_safe_overflow(true)
        .open_or_create()
        .map_err(ctx("opening frame service"))
}

/// The settings of `bus::settings::port_event_service`.
fn raw_event_service<S: Service>(node: &Node<S>, names: &Names) -> Result<EventService<S>> {
    let name = names.port_wake(RAW_PROCESSOR, RAW_PORT);
    node.service_builder(&name.as_str().try_into().map_err(ctx("service name"))?)
        .event()
        .max_notifiers(MAX_WORKERS)
        .max_listeners(RAW_SUBSCRIBERS)
        .max_nodes(MAX_WORKERS + RAW_SUBSCRIBERS)
        .open_or_create()
        .map_err(ctx("opening event service"))
}

/// What one raw measurement leaves behind: the publisher child and the
/// iceoryx2 files of its private runtime. Dropped last, after every port and
/// node of the receiver, so it also cleans up after an error.
struct RawResidue {
    child: Option<Child>,
    files: RuntimeFiles,
}

impl Drop for RawResidue {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Only reached on error: a healthy child has been waited for.
            let _ = child.kill();
            let _ = child.wait();
        }
        self.files.remove_all();
        if self.files.any_left() {
            eprintln!(
                "report: warning: raw iceoryx2 files with prefix {} are left in /dev/shm",
                self.files.prefix()
            );
        }
    }
}

/// Measures the raw hop for one size in `flavour`, in a runtime of its own.
pub fn measure(size: &Size, plan: Plan, flavour: Flavour) -> Result<Latency> {
    match flavour {
        Flavour::SingleThreaded => measure_in::<ipc::Service>(size, plan, flavour),
        Flavour::ThreadSafe => measure_in::<ipc_threadsafe::Service>(size, plan, flavour),
    }
}

fn measure_in<S: Service>(size: &Size, plan: Plan, flavour: Flavour) -> Result<Latency>
where
    Listener<S>: SynchronousMultiplexing,
{
    let runtime = format!("raw-{}-{}", std::process::id(), size.bytes());
    let names = Names::new(&runtime).map_err(|e| e.to_string())?;
    let mut residue = RawResidue {
        child: None,
        files: RuntimeFiles::new(&names),
    };
    residue.files.remove_all();

    let node = raw_node::<S>(&names, "hop-receiver")?;
    let subscriber = raw_frame_service(&node, &names)?
        .subscriber_builder()
        .buffer_size(FRAME_QUEUE)
        .create()
        .map_err(ctx("creating subscriber"))?;
    let listener = raw_event_service(&node, &names)?
        .listener_builder()
        .create()
        .map_err(ctx("creating listener"))?;
    let waitset = WaitSetBuilder::new()
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<S>()
        .map_err(ctx("creating waitset"))?;
    let _wake = waitset
        .attach_notification(&listener)
        .map_err(ctx("attaching listener"))?;

    // The subscriber exists before the publisher does, so its first send
    // already reaches us.
    let exe = std::env::current_exe().map_err(|e| format!("locating the bench binary: {e}"))?;
    let child = Command::new(exe)
        .arg(PUBLISHER_ROLE)
        .args([
            flavour.arg().to_owned(),
            runtime.clone(),
            size.width.to_string(),
            size.height.to_string(),
            plan.total().to_string(),
            plan.warmup.to_string(),
            plan.interval().as_micros().to_string(),
            std::process::id().to_string(),
        ])
        // stdin stays open while we measure; its end tells the child to go.
        // It prints its CPU time on stdout.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the publisher child: {e}"))?;
    let child = residue.child.insert(child);

    let last = plan.total() - 1;
    let mut histogram = LatencyHistogram::default();
    let mut measured = 0;
    let mut last_frame = Instant::now();
    let mut cpu_from = None;
    'frames: loop {
        waitset
            .wait_and_process_once_with_timeout(|_| CallbackProgression::Continue, RAW_STALL)
            .map_err(ctx("waiting for frames"))?;
        listener
            .try_wait(|_| {})
            .map_err(ctx("draining wake-ups"))?;
        while let Some(sample) = subscriber.receive().map_err(ctx("receiving"))? {
            let now = monotonic_ns();
            let header = *sample.user_header();
            last_frame = Instant::now();
            if header.seq >= plan.warmup {
                histogram.record(now.saturating_sub(header.capture_ns));
                measured += 1;
            }
            drop(sample);
            if header.seq == plan.warmup {
                cpu_from = Some(thread_cpu_ns());
            }
            if header.seq == last {
                break 'frames;
            }
        }
        if last_frame.elapsed() >= RAW_STALL {
            if let Some(status) = child
                .try_wait()
                .map_err(|e| format!("polling the publisher: {e}"))?
            {
                return Err(format!("the raw publisher exited early ({status})"));
            }
            // Only the end can stall: the rest was lost, report what came.
            break;
        }
    }

    let receiver_cpu = cpu_from.map(|from| thread_cpu_ns() - from);
    drop(child.stdin.take());
    let mut printed = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut printed);
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for the publisher: {e}"))?;
    residue.child = None;
    check_status("the raw publisher", status)?;
    let sender_cpu = printed.trim().parse::<u64>().ok();
    let summary = histogram
        .summary()
        .ok_or("the raw receiver measured no frame")?;
    Ok(Latency {
        p50_us: summary.p50_ns as f64 / 1000.0,
        p99_us: summary.p99_ns as f64 / 1000.0,
        frames: measured,
        lost: plan.measured.saturating_sub(measured),
        cpu_us: match (sender_cpu, receiver_cpu, measured == plan.measured) {
            (Some(send), Some(receive), true) => cpu_per_frame(send, receive, plan),
            _ => None,
        },
    })
}

/// The child side of the raw hop: publishes `frames` header-only samples of
/// `width × height × 4` bytes at a fixed pace, prints the CPU time it spent
/// from just after frame `warmup` to the last, then stays (so the receiver
/// can still read its last samples) until its stdin closes.
pub fn publisher_main(args: &[String]) -> Result<()> {
    let Some((flavour, args)) = args.split_first() else {
        return Err("expected the flavour first".to_owned());
    };
    match flavour.as_str() {
        "single" => publish::<ipc::Service>(args),
        "thread-safe" => publish::<ipc_threadsafe::Service>(args),
        other => Err(format!("unknown flavour `{other}`")),
    }
}

fn publish<S: Service>(args: &[String]) -> Result<()> {
    let [runtime, width, height, frames, warmup, interval_us, parent] = args else {
        return Err(format!("expected 7 arguments, got {args:?}"));
    };
    let warmup = number(warmup)?;
    die_with_parent(number(parent)?)?;
    let (width, height) = (number(width)? as u32, number(height)? as u32);
    let (frames, interval) = (number(frames)?, Duration::from_micros(number(interval_us)?));

    let names = Names::new(runtime).map_err(|e| e.to_string())?;
    let node = raw_node::<S>(&names, "hop-publisher")?;
    let len = width as usize * height as usize * 4;
    let publisher = raw_frame_service(&node, &names)?
        .publisher_builder()
        .initial_max_slice_len(len)
        .allocation_strategy(AllocationStrategy::PowerOfTwo)
        .max_loaned_samples(2)
        .create()
        .map_err(ctx("creating publisher"))?;
    let notifier = raw_event_service(&node, &names)?
        .notifier_builder()
        .create()
        .map_err(ctx("creating notifier"))?;
    publisher.update_connections().map_err(ctx("connecting"))?;

    let start = Instant::now();
    let mut cpu_from = 0;
    for seq in 0..frames {
        let mut sample = publisher.loan_slice_uninit(len).map_err(ctx("loaning"))?;
        *sample.user_header_mut() = FrameHeader {
            schema: SchemaId::VideoRgba8.code(),
            format: 0,
            seq,
            capture_ns: 0,
            width,
            height,
            stride: width * 4,
            ..FrameHeader::default()
        };
        // SAFETY: the receiver reads only the header; the payload bytes are
        // mapped shared memory (zero-filled by the kernel or written before),
        // so they are initialised as far as the hardware is concerned. Not
        // writing them keeps the fill out of the baseline, as plexus stamps
        // its frames after drawing them.
        let mut sample = unsafe { sample.assume_init() };
        sample.user_header_mut().capture_ns = monotonic_ns();
        sample.send().map_err(ctx("sending"))?;
        notifier.notify().map_err(ctx("notifying"))?;
        if seq == warmup {
            cpu_from = thread_cpu_ns();
        }
        pace(start, interval, seq);
    }
    println!("{}", thread_cpu_ns() - cpu_from);
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    Ok(())
}
