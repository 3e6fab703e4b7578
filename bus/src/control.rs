//! Control channels between the supervisor and one worker: bincode messages
//! on a publish-subscribe pair, each direction with a wake-up.

use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::AllocationStrategy;
use ipc_schemas::wire;
use serde::{de::DeserializeOwned, Serialize};

use crate::error::{ctx, BusError};
use crate::settings::message_service;
use crate::wake::Waker;
use crate::{Bus, Ipc};

/// Sends messages of type `T` and wakes the reader.
pub struct MessageSender {
    publisher: Publisher<Ipc, [u8], ()>,
    waker: Waker,
}

impl MessageSender {
    pub fn open(bus: &Bus, service: &str, wake_service: &str) -> Result<Self, BusError> {
        let publisher = message_service(bus, service)?
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
}

/// Receives messages of type `T`.
pub struct MessageReceiver {
    subscriber: Subscriber<Ipc, [u8], ()>,
}

impl MessageReceiver {
    pub fn open(bus: &Bus, service: &str) -> Result<Self, BusError> {
        let subscriber = message_service(bus, service)?
            .subscriber_builder()
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
