//! Wake-ups: a notifier that says "look again" and a listener that sleeps
//! until someone did.

use iceoryx2::port::listener::Listener;
use iceoryx2::port::notifier::Notifier;

use crate::error::{ctx, BusError};
use crate::settings::{event_service, EventService};
use crate::{Bus, Ipc};

pub struct Waker {
    notifier: Notifier<Ipc>,
}

impl Waker {
    pub fn open(bus: &Bus, service: &str) -> Result<Self, BusError> {
        Self::on(&event_service(bus, service)?, service)
    }

    /// A notifier on the already opened event `events`, named `service`.
    pub(crate) fn on(events: &EventService, service: &str) -> Result<Self, BusError> {
        let notifier = events
            .notifier_builder()
            .create()
            .map_err(ctx(format!("creating notifier on `{service}`")))?;
        Ok(Self { notifier })
    }

    /// Wakes every listener. Nobody listening is not an error: a consumer
    /// may be restarting.
    pub fn wake(&self) -> Result<(), BusError> {
        self.notifier
            .notify()
            .map(|_| ())
            .map_err(ctx("sending wake-up"))
    }
}

pub struct WakeListener {
    listener: Listener<Ipc>,
}

impl WakeListener {
    pub fn open(bus: &Bus, service: &str) -> Result<Self, BusError> {
        Self::on(bus, &event_service(bus, service)?, service)
    }

    /// A listener on the already opened event `events`, named `service`.
    /// A crashed predecessor's listener may still hold a slot until it is
    /// cleaned, as with frame subscribers.
    pub(crate) fn on(bus: &Bus, events: &EventService, service: &str) -> Result<Self, BusError> {
        let listener = bus
            .retrying_after_cleanup(|| events.listener_builder().create())
            .map_err(ctx(format!("creating listener on `{service}`")))?;
        Ok(Self { listener })
    }

    /// The listener, for attaching to a `WaitSet`.
    pub fn listener(&self) -> &Listener<Ipc> {
        &self.listener
    }

    /// Consumes pending wake-ups so a level-triggered wait does not fire again.
    pub fn drain(&self) -> Result<(), BusError> {
        self.listener
            .try_wait(|_| {})
            .map(|_| ())
            .map_err(ctx("reading wake-ups"))
    }
}
