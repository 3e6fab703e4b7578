//! Output ports as a processor sees them: loan a buffer, fill it, send it.
//! One API serves Rust builtins and, through the plugin C ABI, dylibs. The
//! ports themselves are shared (a manual processor's threads send on them
//! while the worker's loop goes on); each user of them keeps its own loans.

use std::sync::RwLock;

use bus::counters::OutputCounters;
use bus::frames::{FramePublisher, OutFrame};
use bus::settings::Opening;
use bus::space::ShmFull;
use bus::{Bus, BusError};
use ipc_schemas::frame::MAX_DIMS;
use ipc_schemas::{FrameHeader, OutputSpec, SchemaId};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum OutputError {
    #[error("no output port with index {0}")]
    NoSuchPort(usize),
    #[error("output `{0}` has no loaned buffer to send")]
    NothingLoaned(String),
    /// A manual processor sent after its `stop()` returned.
    #[error("output `{0}` is closed: the processor was stopped")]
    Stopped(String),
    /// The processor handed over to a live swap's successor, which sends
    /// on this port from now on.
    #[error("output `{0}` is closed: the processor handed over to its successor")]
    HandedOver(String),
    /// The frame's payload does not hold what its header claims for the
    /// port's schema; it was not sent.
    #[error("output `{port}` did not send {why}")]
    DoesNotFit { port: String, why: String },
    #[error(transparent)]
    Bus(#[from] bus::BusError),
}

pub(crate) struct OutputPort {
    pub name: String,
    pub schema: SchemaId,
    /// `None` while the processor has handed over to a live swap's
    /// successor (docs/ARCHITECTURE.md §14): closing it is what lets each
    /// consumer read the rest of this process's frames before the
    /// successor's, in order.
    publisher: RwLock<Option<FramePublisher>>,
    /// Frames sent by every process of the processor, and the port's shared
    /// memory (shared counters).
    pub counters: OutputCounters,
    /// How the port was opened, to open it again.
    processor: String,
    subscribers: usize,
}

/// First shared-memory segment per output; larger frames grow it once.
const INITIAL_FRAME_BYTES: usize = 64 * 1024;

impl OutputPort {
    /// Opens output `spec` of `processor`, sized as the plan sized it.
    pub fn open(
        bus: &Bus,
        processor: &str,
        spec: &OutputSpec,
        counters: OutputCounters,
    ) -> Result<Self, BusError> {
        let subscribers = spec.subscribers as usize;
        let publisher = FramePublisher::open(
            bus,
            processor,
            &spec.port,
            Opening::Member { subscribers },
            INITIAL_FRAME_BYTES,
        )?;
        Ok(Self {
            name: spec.port.clone(),
            schema: spec.schema,
            publisher: RwLock::new(Some(publisher)),
            counters,
            processor: processor.to_string(),
            subscribers,
        })
    }

    /// Closes the port for a live swap: consumers read what it sent, then
    /// the successor's frames.
    pub fn close(&self) {
        drop(self.publisher().take());
    }

    /// Opens the port again after [`OutputPort::close`]: the successor
    /// failed and this process serves on.
    pub fn reopen(&self, bus: &Bus) -> Result<(), BusError> {
        let publisher = FramePublisher::open(
            bus,
            &self.processor,
            &self.name,
            Opening::Member {
                subscribers: self.subscribers,
            },
            INITIAL_FRAME_BYTES,
        )?;
        *self.publisher() = Some(publisher);
        Ok(())
    }

    /// Writes the port's shared memory, reserved and written, to its
    /// counters; a closed port keeps its last figures.
    pub fn count_shm(&self) {
        let publisher = self.publisher.read().unwrap_or_else(|e| e.into_inner());
        if let Some(usage) = publisher.as_ref().map(FramePublisher::shm_usage) {
            self.counters.shm_reserved.set(usage.reserved);
            self.counters.shm_touched.set(usage.touched);
        }
    }

    /// Lends the publisher to `use_it`, or says the port is closed.
    fn with<T>(
        &self,
        use_it: impl FnOnce(&FramePublisher) -> Result<T, OutputError>,
    ) -> Result<T, OutputError> {
        let publisher = self.publisher.read().unwrap_or_else(|e| e.into_inner());
        match publisher.as_ref() {
            Some(publisher) => use_it(publisher),
            None => Err(OutputError::HandedOver(self.name.clone())),
        }
    }

    fn publisher(&self) -> std::sync::RwLockWriteGuard<'_, Option<FramePublisher>> {
        self.publisher.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Per output port, the buffer loaned and not yet sent.
pub(crate) type Loans = Vec<Option<OutFrame>>;

/// The output ports of a processor, as one call or one producing thread
/// uses them.
pub struct Outputs<'a> {
    ports: &'a [OutputPort],
    loans: &'a mut [Option<OutFrame>],
    told: Told,
}

/// What the outputs saw go wrong during one call, kept so that it counts
/// even if the processor's code swallows the error it was given.
#[derive(Default)]
pub(crate) struct Told {
    /// The first frame refused: the producer is blamed.
    pub refused: Option<String>,
    /// `/dev/shm` had no room for a frame: the worker cannot go on.
    pub out_of_memory: Option<ShmFull>,
}

impl<'a> Outputs<'a> {
    /// `loans` holds one entry per port; what is left in it when the user
    /// is done was loaned and never sent.
    pub(crate) fn new(ports: &'a [OutputPort], loans: &'a mut [Option<OutFrame>]) -> Self {
        debug_assert_eq!(ports.len(), loans.len());
        Self {
            ports,
            loans,
            told: Told::default(),
        }
    }

    /// What went wrong during this call.
    pub(crate) fn told(self) -> Told {
        self.told
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
        let slot = self.ports.get(port).ok_or(OutputError::NoSuchPort(port))?;
        let pending = &mut self.loans[port];
        *pending = None;
        let frame = match slot.with(|p| Ok(p.loan(len)?)) {
            Ok(frame) => pending.insert(frame),
            Err(e) => {
                if let OutputError::Bus(e) = &e {
                    if let Some(full) = e.shm_full() {
                        self.told.out_of_memory.get_or_insert_with(|| full.clone());
                    }
                }
                return Err(e);
            }
        };
        Ok(frame.bytes_mut())
    }

    /// Sends the buffer loaned on `port` with `header`; the schema field is
    /// set from the port so a processor cannot mislabel its frames. A frame
    /// whose size does not fit its header and the port's schema is refused
    /// here, so that the producer is blamed rather than its consumers.
    pub fn send(&mut self, port: usize, header: &FrameHeader) -> Result<(), OutputError> {
        let slot = self.ports.get(port).ok_or(OutputError::NoSuchPort(port))?;
        let mut frame = self.loans[port]
            .take()
            .ok_or_else(|| OutputError::NothingLoaned(slot.name.clone()))?;
        let header = FrameHeader {
            schema: slot.schema.code(),
            ..*header
        };
        let len = frame.bytes_mut().len();
        if let Err(why) = check_video(&header, len).and_then(|()| check_shape(&header, len)) {
            let refused = OutputError::DoesNotFit {
                port: slot.name.clone(),
                why,
            };
            self.told.refused.get_or_insert_with(|| refused.to_string());
            return Err(refused);
        }
        *frame.header_mut() = header;
        // Counted before it is sent: a process killed in between counts a
        // frame nobody received (a drop downstream), never the reverse, so
        // a consumer never counts more than its producer sent.
        slot.counters.sent.add(1);
        slot.with(|p| Ok(p.send(frame)?))
            .inspect_err(|_| slot.counters.sent.sub(1))?;
        Ok(())
    }
}

/// Output ports as a language host reaches them, whichever way they are
/// open: a call's [`Outputs`], or a manual processor's
/// [`Producer`](crate::Producer).
pub trait Ports {
    /// Loans `len` bytes on output `port`.
    fn loan(&mut self, port: usize, len: usize) -> Result<&mut [u8], OutputError>;
    /// Sends the buffer loaned on `port`; false when it was dropped instead
    /// (a paused manual processor's).
    fn send(&mut self, port: usize, header: &FrameHeader) -> Result<bool, OutputError>;
}

impl Ports for Outputs<'_> {
    fn loan(&mut self, port: usize, len: usize) -> Result<&mut [u8], OutputError> {
        Outputs::loan(self, port, len)
    }

    fn send(&mut self, port: usize, header: &FrameHeader) -> Result<bool, OutputError> {
        Outputs::send(self, port, header).map(|()| true)
    }
}

/// Checks that a video frame's payload really holds what its header claims:
/// `height` rows of `stride` bytes, each long enough for `width` pixels.
/// Output ports refuse frames that fail it, and sinks that read rows by these
/// numbers check again, so a lying header is an error, not an out-of-bounds
/// slice. Frames of non-video schemas pass unchecked.
pub fn check_video(header: &FrameHeader, len: usize) -> Result<(), String> {
    let Some(schema) = SchemaId::from_code(header.schema) else {
        return Ok(());
    };
    let Some(bpp) = schema.bytes_per_pixel() else {
        return Ok(());
    };
    let (width, height, stride) = (header.width, header.height, header.stride);
    let row = u64::from(width) * u64::from(bpp);
    if u64::from(stride) < row {
        return Err(format!(
            "frame {} ({} {width}x{height}) has stride {stride}, shorter than a row of {row} bytes",
            header.seq,
            schema.name()
        ));
    }
    let needed = u64::from(stride) * u64::from(height);
    if needed > len as u64 {
        return Err(format!(
            "frame {} ({} {width}x{height}, stride {stride}) needs {needed} bytes but carries {len}",
            header.seq,
            schema.name()
        ));
    }
    Ok(())
}

/// Checks that a shaped frame (audio, samples, tensors) says a shape its
/// payload holds: 1 to 4 dimensions, strides that are whole elements, and
/// its furthest element within the payload. Output ports refuse frames that
/// fail it, so a consumer may index by the header without checking bounds.
/// Frames of other schemas pass unchecked.
pub fn check_shape(header: &FrameHeader, len: usize) -> Result<(), String> {
    let Some(schema) = SchemaId::from_code(header.schema) else {
        return Ok(());
    };
    let Some(element) = schema.element_bytes() else {
        return Ok(());
    };
    let (seq, name, ndim) = (header.seq, schema.name(), header.ndim);
    if ndim == 0 || ndim as usize > MAX_DIMS {
        return Err(format!(
            "frame {seq} ({name}) has ndim {ndim}; shaped frames have 1 to {MAX_DIMS} dimensions"
        ));
    }
    let shape = &header.shape[..ndim as usize];
    let strides = &header.strides[..ndim as usize];
    if let Some(d) = strides.iter().position(|s| s % element != 0) {
        return Err(format!(
            "frame {seq} ({name} shape {shape:?}) has stride {} in dimension {d}, not a multiple of its {element}-byte elements",
            strides[d]
        ));
    }
    // An empty dimension holds no element; otherwise the furthest element
    // starts at the sum of (extent - 1) strides. u128: no product overflows.
    let needed: u128 = if shape.contains(&0) {
        0
    } else {
        shape
            .iter()
            .zip(strides)
            .map(|(&n, &s)| u128::from(n - 1) * u128::from(s))
            .sum::<u128>()
            + u128::from(element)
    };
    if needed > len as u128 {
        return Err(format!(
            "frame {seq} ({name} shape {shape:?}, strides {strides:?}) needs {needed} bytes but carries {len}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shaped(schema: SchemaId, shape: &[u32], strides: &[u32]) -> FrameHeader {
        let mut h = FrameHeader {
            schema: schema.code(),
            seq: 7,
            ndim: shape.len() as u32,
            ..FrameHeader::default()
        };
        h.shape[..shape.len()].copy_from_slice(shape);
        h.strides[..strides.len()].copy_from_slice(strides);
        h
    }

    #[test]
    fn shaped_frames_must_fit_their_payload() {
        let samples = shaped(SchemaId::SamplesF32, &[8, 25], &[100, 4]);
        assert_eq!(check_shape(&samples, 800), Ok(()));
        assert_eq!(
            check_shape(&samples, 799),
            Err("frame 7 (samples/f32 shape [8, 25], strides [100, 4]) needs 800 bytes but carries 799".into())
        );
        let flat = shaped(SchemaId::TensorF32, &[], &[]);
        assert_eq!(
            check_shape(&flat, 64),
            Err("frame 7 (tensor/f32) has ndim 0; shaped frames have 1 to 4 dimensions".into())
        );
        let mut five = shaped(SchemaId::TensorU8, &[1], &[1]);
        five.ndim = 5;
        assert!(check_shape(&five, 64).unwrap_err().contains("has ndim 5"));
        let odd = shaped(SchemaId::AudioF32, &[480, 2], &[8, 2]);
        assert_eq!(
            check_shape(&odd, 4000),
            Err("frame 7 (audio/f32 shape [480, 2]) has stride 2 in dimension 1, not a multiple of its 4-byte elements".into())
        );
        // u8 elements may sit at any byte; an empty tensor needs nothing.
        assert_eq!(
            check_shape(&shaped(SchemaId::TensorU8, &[3, 3], &[5, 1]), 13),
            Ok(())
        );
        assert_eq!(
            check_shape(&shaped(SchemaId::TensorF32, &[0, 9], &[36, 4]), 0),
            Ok(())
        );
        // Huge extents do not overflow into a pass.
        let huge = shaped(SchemaId::TensorF32, &[u32::MAX; 4], &[u32::MAX - 3; 4]);
        assert!(check_shape(&huge, usize::MAX).is_err());
        // Other schemas are not shaped.
        assert_eq!(check_shape(&shaped(SchemaId::Bytes, &[], &[]), 0), Ok(()));
    }

    fn video(schema: SchemaId, width: u32, height: u32, stride: u32) -> FrameHeader {
        FrameHeader {
            schema: schema.code(),
            width,
            height,
            stride,
            ..FrameHeader::default()
        }
    }

    #[test]
    fn video_payload_must_match_header() {
        let rgba = video(SchemaId::VideoRgba8, 4, 3, 20);
        assert!(check_video(&rgba, 60).is_ok());
        assert!(check_video(&rgba, 59)
            .unwrap_err()
            .contains("needs 60 bytes but carries 59"));
        let short = video(SchemaId::VideoGray8, 4, 3, 3);
        assert!(check_video(&short, 100).unwrap_err().contains("stride 3"));
        assert!(check_video(&video(SchemaId::Bytes, 9, 9, 9), 0).is_ok());
    }
}
