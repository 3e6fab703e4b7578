//! Safe views of what the worker hands a processor: the input frames and the
//! output ports of one call, which borrow shared memory only valid during
//! that call (their lifetimes enforce it), and the [`Producer`] a manual
//! processor sends through from its own threads until it is stopped.

use crate::abi::{FrameHeader, HostOutputs, STATUS_OK};
use crate::SchemaId;

/// One input frame, borrowed from shared memory for the current call.
#[derive(Debug, Clone, Copy)]
pub struct InputFrame<'a> {
    /// Index of the input port, in the order the manifest lists them.
    pub port: usize,
    pub header: FrameHeader,
    pub data: &'a [u8],
}

impl InputFrame<'_> {
    /// The schema the frame's header names, `None` for a code this SDK does
    /// not know.
    pub fn schema(&self) -> Option<SchemaId> {
        SchemaId::from_code(self.header.schema)
    }

    /// The extent of each dimension of a shaped frame (audio, samples,
    /// tensors), outermost first; empty for video and bytes.
    pub fn shape(&self) -> &[u32] {
        self.header.dims()
    }

    /// Samples per second per channel of `audio/f32` and `samples/f32`
    /// frames; 0 for others.
    pub fn rate(&self) -> u32 {
        self.header.rate
    }

    /// The payload as f32 elements, zero-copy, for the f32 schemas
    /// (`audio/f32`, `samples/f32`, `tensor/f32`); `None` for other schemas,
    /// or a payload not aligned for f32 or not a whole number of them.
    /// Index it with [`Self::shape`] and the header's strides (in bytes).
    pub fn f32s(&self) -> Option<&[f32]> {
        let f32_schema = matches!(
            self.schema(),
            Some(SchemaId::AudioF32 | SchemaId::SamplesF32 | SchemaId::TensorF32)
        );
        // The wire is little-endian; a big-endian host would need a copy.
        if !f32_schema || cfg!(target_endian = "big") {
            return None;
        }
        // SAFETY: every bit pattern is a valid f32, and `align_to` splits
        // off whatever is not aligned.
        let (head, floats, tail) = unsafe { self.data.align_to::<f32>() };
        (head.is_empty() && tail.is_empty()).then_some(floats)
    }
}

/// The processor's output ports for the current call.
///
/// A buffer is loaned, filled completely (it holds stale bytes) and sent.
/// Loaning again on the same port before sending gives the first buffer back.
pub struct OutputPorts<'a> {
    host: &'a HostOutputs,
}

impl<'a> OutputPorts<'a> {
    pub(crate) fn new(host: &'a HostOutputs) -> Self {
        Self { host }
    }

    /// The number of output ports.
    pub fn len(&self) -> usize {
        self.host.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.host.count == 0
    }

    /// Loans `len` bytes of shared memory on output `port`.
    pub fn loan(&mut self, port: usize, len: usize) -> Result<&mut [u8], String> {
        let index = self.index(port)?;
        // SAFETY: the host's callbacks and ctx are valid for this call.
        let ptr = unsafe { (self.host.loan)(self.host.ctx, index, len) };
        if ptr.is_null() {
            return Err(format!(
                "output port {port} could not loan a buffer of {len} bytes"
            ));
        }
        // SAFETY: the host loaned `len` writable bytes, which stay valid until
        // the next loan or send on this port; both need `&mut self`, so the
        // returned borrow ends first.
        Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
    }

    /// The header the next frame carries unless the processor knows better:
    /// a copy of the frame being processed, the `next` of `produce`, or, in
    /// a manual processor, the next sequence number and the time now.
    pub fn next_header(&self) -> FrameHeader {
        let mut header = FrameHeader::default();
        // SAFETY: the host's callbacks and ctx are valid for this call, and
        // `header` is a valid place to write one.
        unsafe { (self.host.next)(self.host.ctx, &mut header) };
        header
    }

    /// Sends the buffer loaned on `port`. The host sets the header's schema
    /// from the port; the processor sets everything else.
    pub fn send(&mut self, port: usize, header: &FrameHeader) -> Result<(), String> {
        let index = self.index(port)?;
        // SAFETY: the host's callbacks and ctx are valid for this call.
        let status = unsafe { (self.host.send)(self.host.ctx, index, header) };
        if status != STATUS_OK {
            return Err(format!(
                "output port {port} could not send its frame (was a buffer loaned?)"
            ));
        }
        Ok(())
    }

    fn index(&self, port: usize) -> Result<u32, String> {
        match u32::try_from(port) {
            Ok(index) if index < self.host.count => Ok(index),
            _ => Err(format!(
                "output port {port} does not exist; this processor has {}",
                self.host.count
            )),
        }
    }
}

/// The output ports of a manual processor, from `start` until `stop`
/// returns; move it into the thread that produces. Loan and send on one
/// port from one thread at a time.
pub struct Producer {
    host: HostOutputs,
}

// SAFETY: the host's callbacks for a manual processor lock what they touch
// and may be called from any thread (ABI `StartFn`); the context pointer
// stays valid until `stop` returns, which the processor's threads must not
// outlive as senders.
unsafe impl Send for Producer {}

impl Producer {
    /// # Safety
    /// `host` is the outputs a manual processor's `start` was given.
    pub(crate) unsafe fn new(host: &HostOutputs) -> Self {
        Self { host: *host }
    }

    /// The ports, to loan and send on.
    pub fn ports(&mut self) -> OutputPorts<'_> {
        OutputPorts::new(&self.host)
    }

    /// The source has sent its last frame (the end of its file): the run
    /// can end once downstream has drained its frames, as at `--frames`.
    /// Frames sent after are dropped.
    pub fn finish(&mut self) -> Result<(), String> {
        // SAFETY: the host's callbacks and ctx stay valid until `stop`
        // returns, as `start` promised.
        match unsafe { (self.host.finish)(self.host.ctx) } {
            STATUS_OK => Ok(()),
            _ => Err("the host refused finish()".to_owned()),
        }
    }
}

/// A slice over host memory that tolerates the null pointer the host may
/// pass for an empty buffer.
///
/// # Safety
/// Unless `len` is 0, `ptr` points to `len` bytes that stay readable and
/// unchanged for `'a`.
pub(crate) unsafe fn raw_slice<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 || ptr.is_null() {
        &[]
    } else {
        // SAFETY: `ptr` is not null and, as the caller promises, points to
        // `len` bytes readable and unchanged for `'a`; a byte slice needs no
        // alignment.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(header: FrameHeader, data: &[u8]) -> InputFrame<'_> {
        InputFrame {
            port: 0,
            header,
            data,
        }
    }

    #[test]
    fn shaped_frames_give_their_shape_rate_and_floats() {
        let values: Vec<f32> = (0..6).map(|i| i as f32 * 0.5).collect();
        // A Vec<f32>'s bytes are aligned for f32.
        // SAFETY: the f32s are initialised; any byte of them may be read.
        let bytes =
            unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), values.len() * 4) };
        let samples = frame(
            FrameHeader::shaped(SchemaId::SamplesF32, &[2, 3], 250),
            bytes,
        );
        assert_eq!(samples.shape(), &[2, 3]);
        assert_eq!(samples.rate(), 250);
        assert_eq!(samples.f32s(), Some(&values[..]));
        // Misaligned or ragged payloads, and other schemas, give no floats.
        let misaligned = frame(samples.header, &bytes[1..]);
        assert_eq!(misaligned.f32s(), None);
        let bytes_frame = frame(FrameHeader::shaped(SchemaId::TensorU8, &[24], 0), bytes);
        assert_eq!(bytes_frame.f32s(), None);
        assert_eq!(bytes_frame.shape(), &[24]);
        let video = frame(FrameHeader::default(), bytes);
        assert_eq!((video.shape(), video.rate()), (&[] as &[u32], 0));
    }
}
