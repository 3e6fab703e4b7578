//! The runtime's control channel: requests from other `plexus` processes
//! arrive on one service, and each is answered on the requester's own reply
//! channel. A reply lives in our shared memory, and the requester may read
//! it after we moved on, so the last few reply channels are kept open, one
//! per requester: an observer asking every second (the dashboard) reuses
//! its channel rather than opening one per answer.

use std::collections::VecDeque;

use anyhow::Result;
use bus::control::{MessageReceiver, MessageSender};
use bus::Bus;
use ipc_schemas::names::validate_id;
use ipc_schemas::{ControlReply, ControlRequest};

/// Reply channels kept open after answering.
const KEPT_REPLIES: usize = 16;

pub struct ControlChannel {
    requests: MessageReceiver,
    /// By requester, the least recently answered first.
    replies: VecDeque<(String, MessageSender)>,
}

impl ControlChannel {
    pub fn open(bus: &Bus) -> Result<Self> {
        Ok(Self {
            requests: MessageReceiver::open(bus, &bus.names().control())?,
            replies: VecDeque::new(),
        })
    }

    /// The next waiting request, if any.
    pub fn next_request(&self) -> Result<Option<ControlRequest>> {
        Ok(self.requests.try_recv::<ControlRequest>()?)
    }

    /// Sends `reply` to the requester that named its channel `reply_to`; a
    /// name that is not a valid id gets no answer. A reply that cannot be
    /// sent is the requester's loss, never the run's: it is logged.
    pub fn answer(&mut self, bus: &Bus, reply_to: &str, reply: &ControlReply) {
        if validate_id(reply_to).is_err() {
            return;
        }
        if let Err(e) = self.send(bus, reply_to, reply) {
            tracing::warn!("cannot answer requester `{reply_to}`: {e:#}");
        }
    }

    fn send(&mut self, bus: &Bus, reply_to: &str, reply: &ControlReply) -> Result<()> {
        let kept = self.replies.iter().position(|(name, _)| name == reply_to);
        let sender = match kept.and_then(|i| self.replies.remove(i)) {
            Some((_, sender)) => sender,
            None => {
                let names = bus.names();
                MessageSender::open(
                    bus,
                    &names.control_reply(reply_to),
                    &names.client_wake(reply_to),
                )?
            }
        };
        let sent = sender.send(reply);
        self.replies.push_back((reply_to.to_string(), sender));
        if self.replies.len() > KEPT_REPLIES {
            self.replies.pop_front();
        }
        sent?;
        Ok(())
    }
}
