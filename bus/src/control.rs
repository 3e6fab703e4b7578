//! Control channels between the supervisor and one worker: bincode messages
//! on a publish-subscribe pair, each direction with a wake-up.

use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::prelude::AllocationStrategy;
use ipc_schemas::wire;
use serde::{de::DeserializeOwned, Serialize};

use crate::error::{ctx, BusError};
use crate::settings::{message_service, MessageService};
use crate::space::Segment;
use crate::wake::Waker;
use crate::{Bus, Ipc};

/// Sends messages of type `T` and wakes the reader.
pub struct MessageSender {
    publisher: Publisher<Ipc, [u8], ()>,
    segment: Segment,
    waker: Waker,
}

/// Samples a message sender keeps on loan: one at a time.
const LOANED: usize = 1;
/// The first segment's slice length: most messages are shorter; a longer
/// one (a traceback) grows the segment once.
const INITIAL_MESSAGE_BYTES: usize = 512;

impl MessageSender {
    pub fn open(bus: &Bus, service: &str, wake_service: &str) -> Result<Self, BusError> {
        Self::on(bus, &message_service(bus, service)?, service, wake_service)
    }

    /// A sender on an already opened `factory` named `service`.
    pub(crate) fn on(
        bus: &Bus,
        factory: &MessageService,
        service: &str,
        wake_service: &str,
    ) -> Result<Self, BusError> {
        let (segment, publisher) = Segment::create(
            bus.names(),
            format!("channel `{service}`"),
            INITIAL_MESSAGE_BYTES,
            || {
                factory
                    .publisher_builder()
                    .initial_max_slice_len(INITIAL_MESSAGE_BYTES)
                    .allocation_strategy(AllocationStrategy::PowerOfTwo)
                    .max_loaned_samples(LOANED)
                    .create()
                    .map_err(ctx(format!("creating publisher on `{service}`")))
            },
        )?;
        let waker = Waker::open(bus, wake_service)?;
        Ok(Self {
            publisher,
            segment,
            waker,
        })
    }

    /// Sends one message. Returns whether a reader was connected to get it.
    pub fn send<T: Serialize>(&self, message: &T) -> Result<bool, BusError> {
        let bytes = wire::encode(message).map_err(ctx("encoding message"))?;
        let publisher = &self.publisher;
        let sample = self
            .segment
            .loan(bytes.len(), || {
                publisher
                    .loan_slice_uninit(bytes.len())
                    .map_err(ctx("loaning message"))
            })?
            .write_from_slice(&bytes);
        let reached = sample.send().map_err(ctx("sending message"))?;
        self.waker.wake()?;
        Ok(reached > 0)
    }

    /// Connects readers that arrived since the last send and hands them the
    /// service's history, without waiting for the next message.
    pub fn connect_readers(&self) -> Result<(), BusError> {
        self.publisher
            .update_connections()
            .map_err(ctx("connecting new readers"))?;
        self.waker.wake()
    }
}

/// Receives messages of type `T`.
pub struct MessageReceiver {
    subscriber: Subscriber<Ipc, [u8], ()>,
}

impl MessageReceiver {
    pub fn open(bus: &Bus, service: &str) -> Result<Self, BusError> {
        Self::on(&message_service(bus, service)?, service, None)
    }

    /// A reader on an already opened `factory` named `service`, asking for
    /// the last `history` messages sent before it arrived.
    pub(crate) fn on(
        factory: &MessageService,
        service: &str,
        history: Option<usize>,
    ) -> Result<Self, BusError> {
        let builder = factory.subscriber_builder();
        let builder = match history {
            Some(n) => builder.buffer_size(n).history_request(n),
            None => builder,
        };
        let subscriber = builder
            .create()
            .map_err(ctx(format!("subscribing to `{service}`")))?;
        Ok(Self { subscriber })
    }

    /// The next message, if one is waiting.
    pub fn try_recv<T: DeserializeOwned>(&self) -> Result<Option<T>, BusError> {
        match self
            .subscriber
            .receive()
            .map_err(ctx("receiving message"))?
        {
            None => Ok(None),
            Some(sample) => wire::decode(sample.payload())
                .map(Some)
                .map_err(ctx("decoding message")),
        }
    }
}
