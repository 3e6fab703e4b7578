//! An imported port: a Zenoh subscriber to another host's output port
//! whose frames are published into this host's runtime under the
//! producer's name, header kept and capture time moved to this host's
//! clock. Between the two, a queue bounded in frames and bytes: a burst the
//! runtime cannot take is dropped, and the gaps it leaves are counted.

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use bus::frames::FramePublisher;
use bus::settings::{Opening, FRAME_QUEUE};
use bus::Bus;
use crossbeam_channel::{Receiver, RecvTimeoutError, TrySendError};
use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::link::{LinkFrameHead, PortRef};
use ipc_schemas::Names;
use zenoh::bytes::ZBytes;
use zenoh::pubsub::Subscriber;
use zenoh::{Session, Wait};

use super::error::BridgeError;
use super::export::POLL;
use super::stats::{Counts, PortStats};
use crate::clock::Clocks;

/// Bytes of frames waiting to be published, all imports of a port together.
const QUEUED_BYTES: usize = 64 << 20;
/// Frames waiting to be published here: more than a subscriber queues
/// (`FRAME_QUEUE`), so that a bridge thread starved for a moment on a
/// busy host loses nothing; the byte bound above still holds.
const IMPORT_QUEUE: usize = 4 * FRAME_QUEUE;

pub struct Import {
    pub names: Names,
    pub port: PortRef,
    pub key: String,
    pub from_host: String,
    pub this_host: String,
    pub clocks: Clocks,
}

/// What the Zenoh callback and the publishing thread share.
#[derive(Default)]
struct Shared {
    queued_bytes: AtomicUsize,
    /// Samples too short to hold a frame: not from a plexus bridge.
    garbled: AtomicU64,
    /// Samples dropped because the queue was full.
    overflowed: AtomicU64,
}

/// A running import; it stops when dropped.
pub struct Running {
    _subscriber: Subscriber<()>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<Mutex<PortStats>>,
    pub port: PortRef,
    pub from_host: String,
}

impl Import {
    pub fn spawn(self, session: &Session, stop: Arc<AtomicBool>) -> Result<Running, BridgeError> {
        let shared = Arc::new(Shared::default());
        let stats = Arc::new(Mutex::new(PortStats::new(Instant::now())));
        let (tx, rx) = crossbeam_channel::bounded::<ZBytes>(IMPORT_QUEUE);
        let callback_shared = shared.clone();
        let subscriber = session
            .declare_subscriber(self.key.clone())
            .callback(move |sample| {
                let payload = sample.payload();
                let len = payload.len();
                let shared = &callback_shared;
                if len < LinkFrameHead::PREFIX {
                    shared.garbled.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                if shared.queued_bytes.fetch_add(len, Ordering::AcqRel) + len > QUEUED_BYTES {
                    shared.queued_bytes.fetch_sub(len, Ordering::AcqRel);
                    shared.overflowed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
                    tx.try_send(payload.clone())
                {
                    shared.queued_bytes.fetch_sub(len, Ordering::AcqRel);
                    shared.overflowed.fetch_add(1, Ordering::Relaxed);
                }
            })
            .wait()
            .map_err(|e| BridgeError::Zenoh(self.key.clone(), e.to_string()))?;
        let name = format!("import {}.{}", self.port.processor, self.port.port);
        let (port, from_host) = (self.port.clone(), self.from_host.clone());
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                if let Err(e) = self.run(&rx, &shared, &thread_stats, &stop) {
                    tracing::error!("{name}: {e}");
                }
            })
            .map_err(|e| BridgeError::Thread(e.to_string()))?;
        Ok(Running {
            _subscriber: subscriber,
            thread: Some(thread),
            stats,
            port,
            from_host,
        })
    }

    fn run(
        &self,
        rx: &Receiver<ZBytes>,
        shared: &Shared,
        stats: &Mutex<PortStats>,
        stop: &AtomicBool,
    ) -> Result<(), BridgeError> {
        let bus = Bus::join(self.names.clone(), "plexus-link-import")?;
        let mut publisher: Option<FramePublisher> = None;
        let mut last_try: Option<Instant> = None;
        let mut unpublished = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let payload = match rx.recv_timeout(POLL) {
                Ok(payload) => payload,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            shared
                .queued_bytes
                .fetch_sub(payload.len(), Ordering::AcqRel);
            // Read in place: a large frame arrives in fragments, and is
            // copied once, from them into shared memory.
            let mut reader = payload.reader();
            let mut prefix = [0u8; LinkFrameHead::PREFIX];
            if reader.read_exact(&mut prefix).is_err() {
                continue;
            }
            let Some((head, mut header, _)) = LinkFrameHead::read(&prefix) else {
                continue;
            };
            let frame_len = payload.len() - LinkFrameHead::PREFIX;
            stats
                .lock()
                .map_err(|_| BridgeError::Poisoned)?
                .arrived(head.link_seq);
            // The consumers make the port when they start: until then the
            // frames have nobody to reach.
            if publisher.is_none() && last_try.is_none_or(|t| t.elapsed() >= POLL) {
                last_try = Some(Instant::now());
                let PortRef { processor, port } = &self.port;
                match FramePublisher::open(&bus, processor, port, Opening::Observer, frame_len) {
                    Ok(opened) => {
                        tracing::info!("importing {processor}.{port} from {}", self.key);
                        publisher = Some(opened);
                    }
                    Err(e) => tracing::trace!("{processor}.{port} not there yet: {e}"),
                }
            }
            let Some(publisher) = &publisher else {
                unpublished += 1;
                continue;
            };
            header.capture_ns =
                self.clocks
                    .convert(header.capture_ns, &self.from_host, &self.this_host);
            let mut out = publisher.loan(frame_len)?;
            *out.header_mut() = header;
            if reader.read_exact(out.bytes_mut()).is_err() {
                continue;
            }
            publisher.send(out)?;
            let sent_here = self
                .clocks
                .convert(head.sent_ns, &self.from_host, &self.this_host);
            let latency = monotonic_ns().saturating_sub(sent_here);
            stats
                .lock()
                .map_err(|_| BridgeError::Poisoned)?
                .published(latency, Instant::now());
        }
        let (garbled, overflowed) = (
            shared.garbled.load(Ordering::Relaxed),
            shared.overflowed.load(Ordering::Relaxed),
        );
        if garbled + overflowed + unpublished > 0 {
            tracing::warn!(
                "{}.{}: {garbled} samples were not frames, {overflowed} overflowed the bridge's queue, {unpublished} arrived before any consumer",
                self.port.processor,
                self.port.port
            );
        }
        Ok(())
    }
}

impl Running {
    pub fn counts(&self) -> Counts {
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.counts(Instant::now())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
