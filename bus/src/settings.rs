//! The one place that decides how each kind of service is configured.
//!
//! iceoryx2 refuses to open a service whose requirements differ from the ones
//! it was created with, so every opener — whichever process comes first —
//! must build it here.

use iceoryx2::prelude::*;
use iceoryx2::service::builder;
use iceoryx2::service::builder::event::EventOpenOrCreateError;
use iceoryx2::service::port_factory::{event, publish_subscribe};
use ipc_schemas::FrameHeader;

use crate::error::{ctx, BusError};
use crate::{Bus, Ipc};

/// Samples a subscriber may queue before safe overflow drops the oldest.
pub const FRAME_QUEUE: usize = 8;
/// The most subscribers one output port may be sized for: its consumers plus
/// the pipeline's observer slots. Each slot reserves `FRAME_QUEUE +
/// FRAME_BORROWED` samples in the producer's shared memory, so the port's
/// memory grows with it.
pub const MAX_PORT_SUBSCRIBERS: usize = 32;
/// Observer slots (`plexus tap` and the like) per output port when the
/// pipeline does not set `observers:`.
pub const DEFAULT_OBSERVERS: usize = 2;
/// Subscriber slots per output port beside its consumers and observers: a
/// live swap's successor subscribes to its inputs while the process it
/// replaces still holds its own subscriptions.
pub const SWAP_SUBSCRIBERS: usize = 1;
/// Publishers per output port: the producer and its replacement after a
/// restart, or its successor in a live swap.
pub const FRAME_PUBLISHERS: usize = 2;
/// Samples a processor may hold from one input at once.
pub const FRAME_BORROWED: usize = 2;
/// Control messages a peer may queue; generous, they are tiny and rare.
pub const MESSAGE_QUEUE: usize = 64;
/// Workers that may notify the supervisor's wake-up event.
pub const MAX_WORKERS: usize = 256;

pub type FrameService = publish_subscribe::PortFactory<Ipc, [u8], FrameHeader>;
pub type MessageService = publish_subscribe::PortFactory<Ipc, [u8], ()>;
pub type EventService = event::PortFactory<Ipc>;

fn service_name(name: &str) -> Result<ServiceName, BusError> {
    name.try_into()
        .map_err(ctx(format!("service name `{name}`")))
}

/// How a process opens a frame port's services (its frames and its wake-up
/// event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// A producer or consumer of the runtime. Whichever comes first creates
    /// the port, so all of them pass the same number, which the plan computed:
    /// the port's consumers plus the pipeline's observer slots.
    Member { subscribers: usize },
    /// An observer of a running runtime: opens the port as its creator sized
    /// it and never creates one, so it cannot disagree with the runtime.
    Observer,
}

/// Frames of one output port. Safe overflow is on: a slow or dead consumer
/// must never block the producer. No payload alignment is requested: for a
/// `[u8]` payload iceoryx2 0.10 pads every element to it, which would make
/// each frame's shared memory that many times larger.
pub fn frame_service(
    bus: &Bus,
    processor: &str,
    port: &str,
    opening: Opening,
) -> Result<FrameService, BusError> {
    let name = bus.names().port(processor, port);
    let builder = bus
        .node()
        .service_builder(&service_name(&name)?)
        .publish_subscribe::<[u8]>()
        .user_header::<FrameHeader>()
        .max_publishers(FRAME_PUBLISHERS)
        .history_size(0)
        .subscriber_max_buffer_size(FRAME_QUEUE)
        .subscriber_max_borrowed_samples(FRAME_BORROWED)
        .enable_safe_overflow(true);
    let opened = match opening {
        Opening::Member { subscribers } => {
            let subscribers = slots(subscribers);
            builder
                .max_subscribers(subscribers)
                .max_nodes(FRAME_PUBLISHERS + subscribers)
                .open_or_create()
        }
        // Leaving the subscriber and node counts unset is what makes
        // iceoryx2 adopt the creator's.
        Opening::Observer => builder.open().map_err(Into::into),
    };
    opened.map_err(ctx(format!("opening frame service `{name}`")))
}

/// The wake-up event of one output port: one listener per subscriber of
/// its frames, sized and opened as [`frame_service`] is.
pub fn port_event_service(
    bus: &Bus,
    name: &str,
    opening: Opening,
) -> Result<EventService, BusError> {
    let builder = bus
        .node()
        .service_builder(&service_name(name)?)
        .event()
        .max_notifiers(MAX_WORKERS);
    let opened = match opening {
        Opening::Member { subscribers } => sized_event(builder, slots(subscribers)),
        Opening::Observer => builder.open().map_err(Into::into),
    };
    opened.map_err(ctx(format!("opening event service `{name}`")))
}

/// iceoryx2 turns a limit of 0 into 1 with a warning; a port nobody consumes
/// or observes asks for the 1 itself.
fn slots(subscribers: usize) -> usize {
    subscribers.max(1)
}

fn sized_event(
    builder: builder::event::Builder<Ipc>,
    listeners: usize,
) -> Result<EventService, EventOpenOrCreateError> {
    builder
        .max_listeners(listeners)
        .max_nodes(MAX_WORKERS + listeners)
        .open_or_create()
}

/// Writers one message stream admits at once. A worker's command and report
/// streams have one each; the runtime's control stream has one per
/// observer command in flight (`tap`, `events --follow`, `pause`, `stop`…),
/// several of which may be long-lived.
pub const MESSAGE_WRITERS: usize = 16;

/// A bincode message stream with a reader and its writers.
pub fn message_service(bus: &Bus, name: &str) -> Result<MessageService, BusError> {
    bus.node()
        .service_builder(&service_name(name)?)
        .publish_subscribe::<[u8]>()
        .max_publishers(MESSAGE_WRITERS)
        .max_subscribers(2)
        .max_nodes(MESSAGE_WRITERS + 2)
        .history_size(0)
        .subscriber_max_buffer_size(MESSAGE_QUEUE)
        .subscriber_max_borrowed_samples(1)
        .enable_safe_overflow(true)
        .open_or_create()
        .map_err(ctx(format!("opening message service `{name}`")))
}

/// Events a late watcher is handed when it subscribes.
pub const EVENT_HISTORY: usize = 512;
/// Watchers (`plexus events`) one runtime serves at once.
pub const EVENT_WATCHERS: usize = 8;

/// The runtime's event stream: one publisher (the supervisor), a few
/// watchers, and a history so that a watcher sees the recent past. Safe
/// overflow: a watcher that stops reading never holds the runtime up.
pub fn event_stream_service(bus: &Bus) -> Result<MessageService, BusError> {
    let name = bus.names().events();
    bus.node()
        .service_builder(&service_name(&name)?)
        .publish_subscribe::<[u8]>()
        .max_publishers(1)
        .max_subscribers(EVENT_WATCHERS)
        .max_nodes(EVENT_WATCHERS + 1)
        .history_size(EVENT_HISTORY)
        .subscriber_max_buffer_size(EVENT_HISTORY)
        .subscriber_max_borrowed_samples(1)
        .enable_safe_overflow(true)
        .open_or_create()
        .map_err(ctx(format!("opening event stream `{name}`")))
}

/// Listeners of a wake-up event that is not a frame port's: its owner and
/// the few processes that ask it for something at once.
pub const WAKE_LISTENERS: usize = 8;

/// A wake-up event. Activations coalesce, so listeners treat a wake-up as
/// "look again", never as a count.
pub fn event_service(bus: &Bus, name: &str) -> Result<EventService, BusError> {
    let builder = bus
        .node()
        .service_builder(&service_name(name)?)
        .event()
        .max_notifiers(MAX_WORKERS);
    sized_event(builder, WAKE_LISTENERS).map_err(ctx(format!("opening event service `{name}`")))
}
