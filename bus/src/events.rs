//! The runtime's event stream (docs/ARCHITECTURE.md §6): the supervisor publishes
//! every [`RuntimeEvent`], watchers in other processes read them, and the
//! service's history lets a watcher that arrives late catch up.

use ipc_schemas::RuntimeEvent;

use crate::control::{MessageReceiver, MessageSender};
use crate::error::BusError;
use crate::settings::{event_stream_service, EVENT_HISTORY};
use crate::wake::WakeListener;
use crate::Bus;

/// Longest event text (a traceback, say) kept whole; longer text is cut so
/// that every event fits the stream's samples.
pub const MAX_EVENT_TEXT: usize = 3000;

/// The supervisor's end.
pub struct EventPublisher {
    sender: MessageSender,
}

impl EventPublisher {
    pub fn open(bus: &Bus) -> Result<Self, BusError> {
        let names = bus.names();
        let service = event_stream_service(bus)?;
        let sender = MessageSender::on(bus, &service, &names.events(), &names.events_wake())?;
        Ok(Self { sender })
    }

    pub fn publish(&self, event: &RuntimeEvent) -> Result<(), BusError> {
        self.sender.send(event).map(|_| ())
    }

    /// Hands the history to watchers that subscribed since the last event.
    pub fn welcome_watchers(&self) -> Result<(), BusError> {
        self.sender.connect_readers()
    }
}

/// A watcher's end: the stream and the wake-up that says it has more.
pub struct EventWatcher {
    receiver: MessageReceiver,
    wake: WakeListener,
}

impl EventWatcher {
    pub fn open(bus: &Bus) -> Result<Self, BusError> {
        let names = bus.names();
        let service = event_stream_service(bus)?;
        let wake = WakeListener::open(bus, &names.events_wake())?;
        let receiver = MessageReceiver::on(&service, &names.events(), Some(EVENT_HISTORY))?;
        Ok(Self { receiver, wake })
    }

    /// The wake-up to sleep on.
    pub fn wake(&self) -> &WakeListener {
        &self.wake
    }

    /// The next event received, if any.
    pub fn try_next(&self) -> Result<Option<RuntimeEvent>, BusError> {
        self.receiver.try_recv()
    }
}

/// Cuts `text` to [`MAX_EVENT_TEXT`] bytes on a character boundary.
pub fn clip(text: &mut String) {
    if text.len() <= MAX_EVENT_TEXT {
        return;
    }
    let mut end = MAX_EVENT_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(" …(cut)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text_on_a_char_boundary() {
        let mut short = "fine".to_string();
        clip(&mut short);
        assert_eq!(short, "fine");
        let mut long = "é".repeat(MAX_EVENT_TEXT);
        clip(&mut long);
        assert!(long.len() <= MAX_EVENT_TEXT + " …(cut)".len());
        assert!(long.ends_with(" …(cut)"));
    }
}
