//! The bench's own consumer of one output port: a second subscriber beside
//! the pipeline's own, joined to the runtime's bus as node `bench-tap`, that
//! sleeps on the
//! port's wake-up event and stamps every frame with `monotonic_ns()` as it
//! takes it. Must be dropped before `plexus` is stopped, so the supervisor
//! finds no foreign node when it removes the runtime's files.

use std::time::Duration;

use bus::frames::{port_wake_listener, FrameSubscriber, Received};
use bus::settings::Opening;
use bus::wake::WakeListener;
use bus::Bus;
use iceoryx2::identifiers::UniquePublisherId;
use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::Names;

use crate::Result;

/// One frame the tap took.
pub struct Arrival {
    /// `monotonic_ns()` when the tap took it.
    pub at_ns: u64,
    /// The header's `capture_ns`.
    pub capture_ns: u64,
    /// The header's `seq`.
    pub seq: u64,
    /// The publisher, i.e. the worker process, that sent it.
    pub origin: UniquePublisherId,
}

pub struct Tap {
    // Field order is drop order: the ports go before the node.
    subscriber: FrameSubscriber,
    listener: WakeListener,
    _bus: Bus,
}

impl Tap {
    /// Subscribes to `processor.port` of `runtime`.
    pub fn open(runtime: &str, processor: &str, port: &str) -> Result<Self> {
        let names = Names::new(runtime).map_err(|e| format!("runtime id `{runtime}`: {e}"))?;
        let bus = Bus::join(names, "bench-tap").map_err(|e| e.to_string())?;
        // An observer, as `plexus tap` is: it takes one of the port's
        // observer slots and adopts the size the runtime gave the port.
        let subscriber = FrameSubscriber::open(&bus, processor, port, Opening::Observer)
            .map_err(|e| e.to_string())?;
        let listener = port_wake_listener(&bus, processor, port, Opening::Observer)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            subscriber,
            listener,
            _bus: bus,
        })
    }

    /// Sleeps until the port's wake-up event fires or `timeout` passes, then
    /// takes every frame waiting, in order.
    pub fn poll(&self, timeout: Duration) -> Result<Vec<Arrival>> {
        self.listener
            .listener()
            .timed_wait(|_| {}, timeout)
            .map_err(|e| format!("waiting on the tapped port: {e:?}"))?;
        let mut arrivals = Vec::new();
        loop {
            match self.subscriber.receive().map_err(|e| e.to_string())? {
                Received::Frame(frame) => arrivals.push(Arrival {
                    at_ns: monotonic_ns(),
                    capture_ns: frame.user_header().capture_ns,
                    seq: frame.user_header().seq,
                    origin: frame.origin(),
                }),
                Received::Empty => return Ok(arrivals),
                // Every frame is dropped as soon as it is stamped.
                Received::AllBorrowed => unreachable!("the tap holds no frame"),
            }
        }
    }
}
