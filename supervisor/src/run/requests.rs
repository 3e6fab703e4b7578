//! The runtime's control channel: requests from other `plexus` processes
//! arrive on one service, and each is answered on the requester's own reply
//! channel. A reply lives in our shared memory, and the requester may read
//! it after we moved on, so the last few reply channels are kept open.

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
    replies: VecDeque<MessageSender>,
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
    /// name that is not a valid id gets no answer.
    pub fn answer(&mut self, bus: &Bus, reply_to: &str, reply: &ControlReply) -> Result<()> {
        if validate_id(reply_to).is_err() {
            return Ok(());
        }
        let names = bus.names();
        let sender = MessageSender::open(
            bus,
            &names.control_reply(reply_to),
            &names.client_wake(reply_to),
        )?;
        sender.send(reply)?;
        self.replies.push_back(sender);
        if self.replies.len() > KEPT_REPLIES {
            self.replies.pop_front();
        }
        Ok(())
    }
}
