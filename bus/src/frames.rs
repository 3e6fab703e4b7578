//! Frame ports: a publisher per output port and a subscriber per input,
//! each paired with the port's wake-up event. Payloads are never copied here:
//! producers write into loaned shared memory, consumers read it in place.

use std::mem::MaybeUninit;

use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::{Subscriber, SubscriberCreateError};
use iceoryx2::port::ReceiveError;
use iceoryx2::prelude::AllocationStrategy;
use iceoryx2::sample::Sample;
use iceoryx2::sample_mut_uninit::SampleMutUninit;
use iceoryx2::service::port_factory::PortFactory;
use ipc_schemas::FrameHeader;

use crate::error::{ctx, BusError};
use crate::settings::{frame_service, port_event_service, Opening, FRAME_QUEUE};
use crate::space::{Segment, ShmUsage};
use crate::wake::{WakeListener, Waker};
use crate::{Bus, Ipc};

/// Writes frames of one output port.
pub struct FramePublisher {
    publisher: Publisher<Ipc, [u8], FrameHeader>,
    segment: Segment,
    waker: Waker,
}

/// A loaned, not yet sent frame in shared memory.
pub struct OutFrame {
    sample: SampleMutUninit<Ipc, [MaybeUninit<u8>], FrameHeader>,
}

impl FramePublisher {
    /// A producer of the runtime opens the port as [`Opening::Member`],
    /// which sizes it; a link bridge publishing another host's frames
    /// (§16) as [`Opening::Observer`], once the port's consumers made it.
    /// `initial_len` sizes the first shared-memory segment; larger frames
    /// grow it (power-of-two steps) instead of failing.
    pub fn open(
        bus: &Bus,
        processor: &str,
        port: &str,
        opening: Opening,
        initial_len: usize,
    ) -> Result<Self, BusError> {
        const LOANED: usize = 2;
        let initial_len = initial_len.max(1);
        let service = frame_service(bus, processor, port, opening)?;
        let (segment, publisher) = Segment::create(
            bus.names(),
            format!("port {processor}.{port}"),
            initial_len,
            || {
                bus.retrying_after_cleanup(|| {
                    service
                        .publisher_builder()
                        .initial_max_slice_len(initial_len)
                        .allocation_strategy(AllocationStrategy::PowerOfTwo)
                        .max_loaned_samples(LOANED)
                        .create()
                })
                .map_err(ctx(format!("creating publisher for {processor}.{port}")))
            },
        )?;
        let wake = bus.names().port_wake(processor, port);
        let waker = Waker::on(&port_event_service(bus, &wake, opening)?, &wake)?;
        Ok(Self {
            publisher,
            segment,
            waker,
        })
    }

    /// Loans `len` bytes of shared memory for the next frame.
    pub fn loan(&self, len: usize) -> Result<OutFrame, BusError> {
        let publisher = &self.publisher;
        let sample = self.segment.loan(len, || {
            publisher
                .loan_slice_uninit(len)
                .map_err(ctx(format!("loaning {len} bytes")))
        })?;
        Ok(OutFrame { sample })
    }

    /// The port's shared memory: reserved, and written by its frames.
    pub fn shm_usage(&self) -> ShmUsage {
        self.segment.usage()
    }

    /// Publishes the frame and wakes the port's consumers. Returns how many
    /// subscribers received it.
    pub fn send(&self, frame: OutFrame) -> Result<usize, BusError> {
        // SAFETY: OutFrame only hands the payload out as initialised bytes
        // (see `OutFrame::bytes_mut`), so every byte is initialised memory.
        let sample = unsafe { frame.sample.assume_init() };
        let reached = sample.send().map_err(ctx("sending frame"))?;
        self.waker.wake()?;
        Ok(reached)
    }
}

impl OutFrame {
    pub fn header_mut(&mut self) -> &mut FrameHeader {
        self.sample.user_header_mut()
    }

    /// The payload to fill. It holds the bytes of an earlier frame (shared
    /// memory is always initialised), so a producer must write every byte.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let payload = self.sample.payload_mut();
        // SAFETY: the slice lies in a mapped shared-memory segment whose bytes
        // are initialised (zero-filled by the kernel or written before);
        // MaybeUninit<u8> and u8 have the same layout.
        unsafe { std::slice::from_raw_parts_mut(payload.as_mut_ptr().cast::<u8>(), payload.len()) }
    }
}

/// Reads frames of one input port. Its wake-ups come from a separate
/// [`port_wake_listener`], so a wait can borrow the listener while frames are
/// being taken from the subscriber.
pub struct FrameSubscriber {
    subscriber: Subscriber<Ipc, [u8], FrameHeader>,
}

/// A received frame; its memory returns to the producer when dropped.
pub type InFrame = Sample<Ipc, [u8], FrameHeader>;

/// What one attempt to receive found.
pub enum Received {
    Frame(InFrame),
    /// Nothing is waiting.
    Empty,
    /// Frames may be waiting, but the consumer still holds as many earlier
    /// ones as a subscriber may borrow; it must release one first.
    AllBorrowed,
}

/// Why a subscription to a frame port failed.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// Every subscriber slot the port was sized for is taken.
    #[error("{processor}.{port} is full: all {capacity} of its subscriber slots are taken")]
    Full {
        processor: String,
        port: String,
        capacity: usize,
    },
    #[error(transparent)]
    Bus(#[from] BusError),
}

impl FrameSubscriber {
    /// Subscribes to the output `port` of `processor`.
    pub fn open(
        bus: &Bus,
        processor: &str,
        port: &str,
        opening: Opening,
    ) -> Result<Self, SubscribeError> {
        let service = frame_service(bus, processor, port, opening)?;
        let created = bus.retrying_after_cleanup(|| {
            service
                .subscriber_builder()
                .buffer_size(FRAME_QUEUE)
                .create()
        });
        match created {
            Ok(subscriber) => Ok(Self { subscriber }),
            Err(SubscriberCreateError::ExceedsMaxSupportedSubscribers) => {
                Err(SubscribeError::Full {
                    processor: processor.to_string(),
                    port: port.to_string(),
                    capacity: service.static_config().max_subscribers(),
                })
            }
            Err(e) => Err(BusError::new(format!("subscribing to {processor}.{port}"), e).into()),
        }
    }

    pub fn receive(&self) -> Result<Received, BusError> {
        match self.subscriber.receive() {
            Ok(Some(sample)) => Ok(Received::Frame(sample)),
            Ok(None) => Ok(Received::Empty),
            Err(ReceiveError::ExceedsMaxBorrows) => Ok(Received::AllBorrowed),
            Err(e) => Err(BusError::new("receiving frame", e)),
        }
    }

    /// Whether a frame is waiting, read from shared memory without a
    /// system call: what a consumer polls while it waits actively.
    pub fn has_frames(&self) -> Result<bool, BusError> {
        self.subscriber
            .has_samples()
            .map_err(|e| BusError::new("looking for frames", e))
    }
}

/// Listens for "frames ready" on the output `port` of `processor`, opened
/// as its [`FrameSubscriber`] was.
pub fn port_wake_listener(
    bus: &Bus,
    processor: &str,
    port: &str,
    opening: Opening,
) -> Result<WakeListener, BusError> {
    let wake = bus.names().port_wake(processor, port);
    WakeListener::on(bus, &port_event_service(bus, &wake, opening)?, &wake)
}
