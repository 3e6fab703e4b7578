//! The header every frame carries in front of its payload on the bus.

#[cfg(feature = "zero-copy")]
use iceoryx2_bb_derive_macros::ZeroCopySend;
// The derive names the trait unqualified.
#[cfg(feature = "zero-copy")]
use iceoryx2_bb_elementary_traits::zero_copy_send::ZeroCopySend;

/// Per-frame metadata, sent as the iceoryx2 user header of a `[u8]` sample.
///
/// `#[repr(C)]` so that plugins compiled separately, the Python worker and the
/// Deno FFI layer all read the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "zero-copy",
    derive(ZeroCopySend),
    type_name("plexus::FrameHeader")
)]
#[repr(C)]
pub struct FrameHeader {
    /// Numeric id of the frame schema (see [`crate::SchemaId::code`]).
    pub schema: u32,
    /// Pixel format detail reserved for schemas with several layouts.
    pub format: u32,
    /// Sequence number given by the source; processors pass it on unchanged.
    pub seq: u64,
    /// When the source captured the frame, `CLOCK_MONOTONIC` in nanoseconds
    /// (see [`crate::monotonic_ns`]).
    pub capture_ns: u64,
    pub width: u32,
    pub height: u32,
    /// Bytes per row for video schemas.
    pub stride: u32,
    pub reserved: u32,
    /// Presentation time on the source's own media clock (a file's
    /// timestamps), in nanoseconds; [`NO_PTS`] when the source has none.
    pub pts_ns: i64,
    /// How long the frame is presented, in nanoseconds; 0 when unknown.
    pub duration_ns: u64,
    /// Samples per second per channel for `audio/f32` and `samples/f32`;
    /// 0 otherwise.
    pub rate: u32,
    /// How many entries of `shape` and `strides` are used: 1 to 4 for shaped
    /// schemas (audio, samples, tensors), 0 for video and bytes.
    pub ndim: u32,
    /// Extent of each dimension, outermost first; unused entries 0.
    pub shape: [u32; MAX_DIMS],
    /// Bytes from one element to the next along each dimension; unused
    /// entries 0.
    pub strides: [u32; MAX_DIMS],
}

/// The most dimensions a shaped frame has.
pub const MAX_DIMS: usize = 4;

/// The `pts_ns` of a frame whose source has no media clock (ffmpeg's
/// `AV_NOPTS_VALUE`).
pub const NO_PTS: i64 = i64::MIN;

impl Default for FrameHeader {
    fn default() -> Self {
        Self {
            schema: 0,
            format: 0,
            seq: 0,
            capture_ns: 0,
            width: 0,
            height: 0,
            stride: 0,
            reserved: 0,
            pts_ns: NO_PTS,
            duration_ns: 0,
            rate: 0,
            ndim: 0,
            shape: [0; MAX_DIMS],
            strides: [0; MAX_DIMS],
        }
    }
}

impl FrameHeader {
    /// The field names, in order, as schemas describe them.
    pub const FIELDS: [&'static str; 14] = [
        "schema",
        "format",
        "seq",
        "capture_ns",
        "width",
        "height",
        "stride",
        "reserved",
        "pts_ns",
        "duration_ns",
        "rate",
        "ndim",
        "shape",
        "strides",
    ];

    /// A header for a frame of shaped `schema` (audio, samples, tensors)
    /// whose elements are packed row-major in `shape` (outermost first):
    /// `ndim`, `shape` and `strides` filled in, `rate` set (0 for tensors),
    /// everything else default. Set `seq` and the times with struct update
    /// syntax. A shape of more than [`MAX_DIMS`] dimensions keeps its `ndim`
    /// and first four extents, so the worker refuses the frame, naming it.
    pub fn shaped(schema: crate::SchemaId, shape: &[u32], rate: u32) -> Self {
        let element = schema.element_bytes().unwrap_or(1);
        let used = shape.len().min(MAX_DIMS);
        let mut header = Self {
            schema: schema.code(),
            rate,
            ndim: shape.len() as u32,
            ..Self::default()
        };
        header.shape[..used].copy_from_slice(&shape[..used]);
        // Innermost stride is one element; each outer one spans the
        // dimensions inside it. Saturating: a shape too large to address
        // gets a size the worker refuses instead of a wrapped one.
        let mut step = element;
        for d in (0..used).rev() {
            header.strides[d] = step;
            step = step.saturating_mul(shape[d]);
        }
        header
    }

    /// The used entries of `shape`: `ndim` of them, at most [`MAX_DIMS`].
    pub fn dims(&self) -> &[u32] {
        &self.shape[..(self.ndim as usize).min(MAX_DIMS)]
    }

    /// The presentation time, if the source gave one.
    pub fn pts(&self) -> Option<i64> {
        (self.pts_ns != NO_PTS).then_some(self.pts_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_is_stable() {
        assert_eq!(std::mem::size_of::<FrameHeader>(), 96);
        assert_eq!(std::mem::offset_of!(FrameHeader, pts_ns), 40);
        assert_eq!(std::mem::offset_of!(FrameHeader, duration_ns), 48);
        assert_eq!(std::mem::offset_of!(FrameHeader, rate), 56);
        assert_eq!(std::mem::offset_of!(FrameHeader, ndim), 60);
        assert_eq!(std::mem::offset_of!(FrameHeader, shape), 64);
        assert_eq!(std::mem::offset_of!(FrameHeader, strides), 80);
        assert_eq!(std::mem::align_of::<FrameHeader>(), 8);
    }

    #[test]
    fn shaped_headers_are_packed_row_major() {
        use crate::SchemaId;
        let h = FrameHeader::shaped(SchemaId::SamplesF32, &[8, 25], 250);
        assert_eq!((h.schema, h.rate, h.ndim), (5, 250, 2));
        assert_eq!((h.shape, h.strides), ([8, 25, 0, 0], [100, 4, 0, 0]));
        assert_eq!(h.dims(), &[8, 25]);
        let t = FrameHeader::shaped(SchemaId::TensorU8, &[2, 3, 4], 0);
        assert_eq!(t.strides, [12, 4, 1, 0]);
        let five = FrameHeader::shaped(SchemaId::TensorF32, &[1, 2, 3, 4, 5], 0);
        assert_eq!((five.ndim, five.dims()), (5, &[1, 2, 3, 4][..]));
        let huge = FrameHeader::shaped(SchemaId::TensorF32, &[u32::MAX, u32::MAX], 0);
        assert_eq!(huge.strides[..2], [u32::MAX, 4]);
        assert_eq!(FrameHeader::default().dims(), &[] as &[u32]);
    }

    #[test]
    fn field_names_match_the_struct() {
        // Destructuring names every field, so adding or renaming one breaks
        // this test until FIELDS follows.
        let FrameHeader {
            schema: _,
            format: _,
            seq: _,
            capture_ns: _,
            width: _,
            height: _,
            stride: _,
            reserved: _,
            pts_ns: _,
            duration_ns: _,
            rate: _,
            ndim: _,
            shape: _,
            strides: _,
        } = FrameHeader::default();
        assert_eq!(FrameHeader::FIELDS.len(), 14);
        assert_eq!(FrameHeader::default().pts(), None);
    }
}
