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
use crate::wake::Waker;
use crate::{Bus, Ipc};

/// Sends messages of type `T` and wakes the reader.
pub struct MessageSender {
    publisher: Publisher<Ipc, [u8], ()>,
    waker: Waker,
}

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
        let publisher = factory
            .publisher_builder()
            .initial_max_slice_len(4096)
            .allocation_strategy(AllocationStrategy::PowerOfTwo)
            .create()
            .map_err(ctx(format!("creating publisher on `{service}`")))?;
        let waker = Waker::open(bus, wake_service)?;
        Ok(Self { publisher, waker })
    }

    /// Sends one message. Returns whether a reader was connected to get it.
    pub fn send<T: Serialize>(&self, message: &T) -> Result<bool, BusError> {
        let bytes = wire::encode(message).map_err(ctx("encoding message"))?;
        let sample = self
            .publisher
            .loan_slice_uninit(bytes.len())
            .map_err(ctx("loaning message"))?
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
