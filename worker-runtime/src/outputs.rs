//! Output ports as a processor sees them: loan a buffer, fill it, send it.
//! One API serves Rust builtins and, through the plugin C ABI, dylibs.

use bus::frames::{FramePublisher, OutFrame};
use ipc_schemas::{FrameHeader, SchemaId};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum OutputError {
    #[error("no output port with index {0}")]
    NoSuchPort(usize),
    #[error("output `{0}` has no loaned buffer to send")]
    NothingLoaned(String),
    #[error(transparent)]
    Bus(#[from] bus::BusError),
}

pub(crate) struct OutputPort {
    pub name: String,
    pub schema: SchemaId,
    pub publisher: FramePublisher,
    pub pending: Option<OutFrame>,
    pub sent: u64,
}

/// The output ports of the processor being called.
pub struct Outputs<'a> {
    ports: &'a mut [OutputPort],
}

impl<'a> Outputs<'a> {
    pub(crate) fn new(ports: &'a mut [OutputPort]) -> Self {
        Self { ports }
    }

    pub fn len(&self) -> usize {
        self.ports.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }

    pub fn schema(&self, port: usize) -> Option<SchemaId> {
        self.ports.get(port).map(|p| p.schema)
    }

    /// Loans `len` bytes of shared memory on output `port`. A buffer loaned
    /// earlier and not sent is given back first.
    pub fn loan(&mut self, port: usize, len: usize) -> Result<&mut [u8], OutputError> {
        let slot = self
            .ports
            .get_mut(port)
            .ok_or(OutputError::NoSuchPort(port))?;
        slot.pending = None;
        let frame = slot.pending.insert(slot.publisher.loan(len)?);
        Ok(frame.bytes_mut())
    }

    /// Sends the buffer loaned on `port` with `header`; the schema field is
    /// set from the port so a processor cannot mislabel its frames.
    pub fn send(&mut self, port: usize, header: &FrameHeader) -> Result<(), OutputError> {
        let slot = self
            .ports
            .get_mut(port)
            .ok_or(OutputError::NoSuchPort(port))?;
        let mut frame = slot
            .pending
            .take()
            .ok_or_else(|| OutputError::NothingLoaned(slot.name.clone()))?;
        *frame.header_mut() = FrameHeader {
            schema: slot.schema.code(),
            ..*header
        };
        slot.publisher.send(frame)?;
        slot.sent += 1;
        Ok(())
    }
}
