//! How a frame is kept in a recording (`plexus record`, MCAP) and read back:
//! one message per frame on a channel named for its port. Video frames are
//! `foxglove.RawImage` protobuf messages, or `foxglove.CompressedImage` ones
//! (JPEG or PNG) when asked, so that Foxglove shows them, with the whole
//! frame header in field 15, which neither uses and protobuf readers skip;
//! other frames are the header's 96 bytes followed by the payload. Nothing
//! here knows MCAP or image codecs: these are the messages' bytes.
//!
//! Recordings made before headers carried a rate and a shape hold the
//! header's first 56 bytes: field 15 says its own length, and a plain frame
//! channel without a `header_bytes` entry in its metadata holds 56-byte
//! headers ([`Layout::ShortFrame`]); both read back with the new fields 0.

use plexus_frame::FrameHeader;

use crate::SchemaId;

/// The channel of `processor.port`.
pub fn topic(processor: &str, port: &str) -> String {
    format!("/{processor}/{port}")
}

/// The message encoding of channels of frames that are not video.
pub const FRAME_ENCODING: &str = "plexus.frame";
/// The schema of video channels, and its MCAP encoding.
pub const RAW_IMAGE: &str = "foxglove.RawImage";
pub const PROTOBUF: &str = "protobuf";
/// `foxglove.RawImage` as a serialized `FileDescriptorSet` (with
/// `google/protobuf/timestamp.proto`), embedded in every recording.
pub const RAW_IMAGE_DESCRIPTOR: &[u8] = include_bytes!("recording/RawImage.fds");
/// The schema of compressed video channels, and its descriptor.
pub const COMPRESSED_IMAGE: &str = "foxglove.CompressedImage";
pub const COMPRESSED_IMAGE_DESCRIPTOR: &[u8] = include_bytes!("recording/CompressedImage.fds");

/// The RawImage field that carries plexus's frame header.
const HEADER_FIELD: u32 = 15;
/// The header's size in a message: its fields, little-endian, in order.
pub const HEADER_BYTES: usize = 96;
/// The header's size in recordings made before it carried a rate and a
/// shape: its first ten fields.
pub const SHORT_HEADER_BYTES: usize = 56;
/// The channel metadata entry that says how many header bytes each message
/// of a plain frame channel starts with; recordings without it hold
/// [`SHORT_HEADER_BYTES`].
pub const HEADER_BYTES_KEY: &str = "header_bytes";

/// How the frames of one schema are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A `foxglove.RawImage` of this pixel encoding.
    RawImage(&'static str),
    /// A `foxglove.CompressedImage`, its data a whole image file.
    CompressedImage(Codec),
    /// The header's bytes, then the payload.
    Frame,
    /// The header's first 56 bytes, then the payload: plain frames recorded
    /// before headers carried a rate and a shape. Read only.
    ShortFrame,
}

/// The image files a compressed video channel holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Jpeg,
    Png,
}

impl Codec {
    /// CompressedImage's `format`.
    pub fn format(self) -> &'static str {
        match self {
            Codec::Jpeg => "jpeg",
            Codec::Png => "png",
        }
    }

    pub fn from_format(format: &str) -> Option<Self> {
        [Codec::Jpeg, Codec::Png]
            .into_iter()
            .find(|c| c.format() == format)
    }
}

impl Layout {
    /// How frames of `schema` are written, video compressed with `codec`.
    pub fn of(schema: SchemaId, codec: Option<Codec>) -> Self {
        match (schema, codec) {
            (SchemaId::VideoRgba8 | SchemaId::VideoGray8, Some(codec)) => {
                Layout::CompressedImage(codec)
            }
            (SchemaId::VideoRgba8, None) => Layout::RawImage("rgba8"),
            (SchemaId::VideoGray8, None) => Layout::RawImage("mono8"),
            _ => Layout::Frame,
        }
    }

    /// The layout of a plain frame channel whose metadata gives
    /// `header_bytes` (absent in old recordings).
    pub fn of_frame_channel(header_bytes: Option<&str>) -> Option<Self> {
        match header_bytes {
            None => Some(Layout::ShortFrame),
            Some(n) if n == HEADER_BYTES.to_string() => Some(Layout::Frame),
            Some(_) => None,
        }
    }

    /// The header bytes a message of this layout starts with, for plain
    /// frames.
    fn frame_header_bytes(self) -> Option<usize> {
        match self {
            Layout::Frame => Some(HEADER_BYTES),
            Layout::ShortFrame => Some(SHORT_HEADER_BYTES),
            Layout::RawImage(_) | Layout::CompressedImage(_) => None,
        }
    }

    /// The protobuf field that holds the pixels.
    fn data_field(self) -> u64 {
        match self {
            Layout::CompressedImage(_) => 2,
            Layout::RawImage(_) | Layout::Frame | Layout::ShortFrame => 6,
        }
    }
}

/// Why a message is not a frame.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("the message ends inside a field")]
    Truncated,
    #[error("the message has a field of wire type {0}, which protobuf does not define")]
    WireType(u32),
    #[error("the message has no plexus frame header (field 15)")]
    NoHeader,
    #[error("the message's frame header is {0} bytes, not 96 (or 56 in old recordings)")]
    HeaderSize(usize),
    #[error("the message has no image data")]
    NoData,
}

/// The header as the ten fields' little-endian bytes.
pub fn header_bytes(h: &FrameHeader) -> [u8; HEADER_BYTES] {
    let mut out = [0; HEADER_BYTES];
    let mut shape = [0u8; 16];
    let mut strides = [0u8; 16];
    for d in 0..plexus_frame::MAX_DIMS {
        shape[d * 4..d * 4 + 4].copy_from_slice(&h.shape[d].to_le_bytes());
        strides[d * 4..d * 4 + 4].copy_from_slice(&h.strides[d].to_le_bytes());
    }
    let fields: [&[u8]; 14] = [
        &h.schema.to_le_bytes(),
        &h.format.to_le_bytes(),
        &h.seq.to_le_bytes(),
        &h.capture_ns.to_le_bytes(),
        &h.width.to_le_bytes(),
        &h.height.to_le_bytes(),
        &h.stride.to_le_bytes(),
        &h.reserved.to_le_bytes(),
        &h.pts_ns.to_le_bytes(),
        &h.duration_ns.to_le_bytes(),
        &h.rate.to_le_bytes(),
        &h.ndim.to_le_bytes(),
        &shape,
        &strides,
    ];
    let mut at = 0;
    for field in fields {
        out[at..at + field.len()].copy_from_slice(field);
        at += field.len();
    }
    out
}

/// The header [`header_bytes`] wrote, or the 56 bytes an older plexus
/// wrote (its rate and shape 0); `None` for any other length.
pub fn header_from(bytes: &[u8]) -> Option<FrameHeader> {
    if bytes.len() != HEADER_BYTES && bytes.len() != SHORT_HEADER_BYTES {
        return None;
    }
    // Absent fields of a short header read as 0.
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap()))
    };
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    Some(FrameHeader {
        schema: u32_at(0),
        format: u32_at(4),
        seq: u64_at(8),
        capture_ns: u64_at(16),
        width: u32_at(24),
        height: u32_at(28),
        stride: u32_at(32),
        reserved: u32_at(36),
        pts_ns: u64_at(40) as i64,
        duration_ns: u64_at(48),
        rate: u32_at(56),
        ndim: u32_at(60),
        shape: std::array::from_fn(|d| u32_at(64 + d * 4)),
        strides: std::array::from_fn(|d| u32_at(80 + d * 4)),
    })
}

/// Writes the message of one frame into `out` (cleared first).
/// `timestamp_ns` is the image's time, nanoseconds since the UNIX epoch.
pub fn encode(
    layout: Layout,
    header: &FrameHeader,
    payload: &[u8],
    timestamp_ns: u64,
    out: &mut Vec<u8>,
) {
    out.clear();
    if layout.frame_header_bytes().is_some() {
        // Plain frames are always written with the whole header.
        out.extend_from_slice(&header_bytes(header));
        out.extend_from_slice(payload);
        return;
    }
    let mut stamp = Vec::with_capacity(16);
    let (seconds, nanos) = (timestamp_ns / 1_000_000_000, timestamp_ns % 1_000_000_000);
    if seconds > 0 {
        key(&mut stamp, 1, 0);
        varint(&mut stamp, seconds);
    }
    if nanos > 0 {
        key(&mut stamp, 2, 0);
        varint(&mut stamp, nanos);
    }
    bytes_field(out, 1, &stamp);
    match layout {
        Layout::RawImage(pixels) => {
            fixed32(out, 2, header.width);
            fixed32(out, 3, header.height);
            bytes_field(out, 4, pixels.as_bytes());
            fixed32(out, 5, header.stride);
            bytes_field(out, 6, payload);
        }
        Layout::CompressedImage(codec) => {
            bytes_field(out, 2, payload);
            bytes_field(out, 3, codec.format().as_bytes());
        }
        Layout::Frame | Layout::ShortFrame => unreachable!("written above"),
    }
    bytes_field(out, HEADER_FIELD, &header_bytes(header));
}

/// The header and payload of a message [`encode`] wrote with `layout` (for
/// a compressed image, its image file). A hostile message is refused, never
/// read out of bounds.
pub fn decode(layout: Layout, message: &[u8]) -> Result<(FrameHeader, &[u8]), DecodeError> {
    let header = |bytes: &[u8]| header_from(bytes).ok_or(DecodeError::HeaderSize(bytes.len()));
    if let Some(size) = layout.frame_header_bytes() {
        if message.len() < size {
            return Err(DecodeError::HeaderSize(message.len()));
        }
        let (head, payload) = message.split_at(size);
        return Ok((header(head)?, payload));
    }
    let (mut found_header, mut data) = (None, None);
    let mut rest = message;
    while !rest.is_empty() {
        let field = read_varint(&mut rest)?;
        let value = match field & 7 {
            0 => {
                read_varint(&mut rest)?;
                None
            }
            1 => Some(take(&mut rest, 8)?),
            2 => {
                let len = read_varint(&mut rest)?;
                let len = usize::try_from(len).map_err(|_| DecodeError::Truncated)?;
                Some(take(&mut rest, len)?)
            }
            5 => Some(take(&mut rest, 4)?),
            other => return Err(DecodeError::WireType(other as u32)),
        };
        match (field >> 3, value) {
            (number, Some(bytes)) if number == layout.data_field() => data = Some(bytes),
            (15, Some(bytes)) => found_header = Some(bytes),
            _ => {}
        }
    }
    let header = header(found_header.ok_or(DecodeError::NoHeader)?)?;
    Ok((header, data.ok_or(DecodeError::NoData)?))
}

fn take<'a>(rest: &mut &'a [u8], len: usize) -> Result<&'a [u8], DecodeError> {
    if rest.len() < len {
        return Err(DecodeError::Truncated);
    }
    let (taken, left) = rest.split_at(len);
    *rest = left;
    Ok(taken)
}

fn read_varint(rest: &mut &[u8]) -> Result<u64, DecodeError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, left) = rest.split_first().ok_or(DecodeError::Truncated)?;
        *rest = left;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::Truncated)
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from(field << 3 | wire));
}

fn fixed32(out: &mut Vec<u8>, field: u32, value: u32) {
    key(out, field, 5);
    out.extend_from_slice(&value.to_le_bytes());
}

fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(out, field, 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> FrameHeader {
        FrameHeader {
            schema: SchemaId::VideoRgba8.code(),
            format: 7,
            seq: u64::MAX - 3,
            capture_ns: 123_456_789_012,
            width: 2,
            height: 1,
            stride: 8,
            reserved: 9,
            pts_ns: -5,
            duration_ns: 33_333_333,
            rate: 48_000,
            ndim: 2,
            shape: [480, 2, 0, 0],
            strides: [8, 4, 0, 0],
        }
    }

    #[test]
    fn the_header_survives_its_bytes() {
        let h = header();
        let bytes = header_bytes(&h);
        assert_eq!(header_from(&bytes), Some(h));
        assert_eq!(&bytes[56..60], &48_000u32.to_le_bytes());
        assert_eq!(&bytes[64..68], &480u32.to_le_bytes());
        assert_eq!(&bytes[84..88], &4u32.to_le_bytes());
        assert_eq!(header_from(&bytes[..50]), None);
    }

    #[test]
    fn old_recordings_read_with_the_new_fields_zero() {
        let h = header();
        let short = &header_bytes(&h)[..SHORT_HEADER_BYTES];
        let old = FrameHeader {
            rate: 0,
            ndim: 0,
            shape: [0; 4],
            strides: [0; 4],
            ..h
        };
        assert_eq!(header_from(short), Some(old));
        let mut message = short.to_vec();
        message.extend(b"xyz");
        assert_eq!(
            decode(Layout::ShortFrame, &message).unwrap(),
            (old, &b"xyz"[..])
        );
        // A video message of an old recording: field 15 of 56 bytes.
        let mut image = vec![0x32, 1, 9, 0x7a, 56];
        image.extend(short);
        assert_eq!(
            decode(Layout::RawImage("rgba8"), &image).unwrap(),
            (old, &[9u8][..])
        );
        assert_eq!(Layout::of_frame_channel(None), Some(Layout::ShortFrame));
        assert_eq!(Layout::of_frame_channel(Some("96")), Some(Layout::Frame));
        assert_eq!(Layout::of_frame_channel(Some("7")), None);
    }

    /// The bytes protobuf's own serializer gives for this RawImage
    /// (`foxglove_schemas_protobuf`, `SerializeToString`), then field 15.
    #[test]
    fn a_raw_image_is_what_protobuf_writes() {
        let h = header();
        let data: Vec<u8> = (0..8).collect();
        let mut out = Vec::new();
        encode(
            Layout::RawImage("rgba8"),
            &h,
            &data,
            1_000_000_005,
            &mut out,
        );
        let mut want = vec![0x0a, 0x04, 0x08, 0x01, 0x10, 0x05];
        want.extend([0x15, 2, 0, 0, 0, 0x1d, 1, 0, 0, 0]);
        want.extend([0x22, 0x05]);
        want.extend(b"rgba8");
        want.extend([0x2d, 8, 0, 0, 0, 0x32, 0x08]);
        want.extend(0..8);
        want.extend([0x7a, 96]);
        want.extend(header_bytes(&h));
        assert_eq!(out, want);
        let (back, payload) = decode(Layout::RawImage("rgba8"), &out).unwrap();
        assert_eq!((back, payload), (h, &data[..]));
    }

    /// What protobuf writes for a CompressedImage, then field 15.
    #[test]
    fn a_compressed_image_is_what_protobuf_writes() {
        let h = header();
        let mut out = Vec::new();
        encode(
            Layout::CompressedImage(Codec::Png),
            &h,
            b"PNG!",
            0,
            &mut out,
        );
        let mut want = vec![0x0a, 0x00, 0x12, 0x04];
        want.extend(b"PNG!");
        want.extend([0x1a, 0x03]);
        want.extend(b"png");
        want.extend([0x7a, 96]);
        want.extend(header_bytes(&h));
        assert_eq!(out, want);
        let layout = Layout::CompressedImage(Codec::Png);
        assert_eq!(decode(layout, &out).unwrap(), (h, &b"PNG!"[..]));
        assert_eq!(Codec::from_format("jpeg"), Some(Codec::Jpeg));
        assert_eq!(Codec::from_format("webp"), None);
    }

    #[test]
    fn other_frames_are_header_then_payload() {
        let h = FrameHeader {
            schema: SchemaId::Bytes.code(),
            ..header()
        };
        let mut out = Vec::new();
        encode(Layout::Frame, &h, b"abc", 0, &mut out);
        assert_eq!(out.len(), HEADER_BYTES + 3);
        assert_eq!(decode(Layout::Frame, &out).unwrap(), (h, &b"abc"[..]));
        assert_eq!(
            decode(Layout::Frame, &out[..10]),
            Err(DecodeError::HeaderSize(10))
        );
    }

    #[test]
    fn hostile_messages_are_refused() {
        let mut out = Vec::new();
        encode(Layout::RawImage("rgba8"), &header(), &[1; 8], 5, &mut out);
        for cut in 0..out.len() {
            assert!(
                decode(Layout::RawImage("rgba8"), &out[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let image = Layout::RawImage("rgba8");
        assert_eq!(
            decode(image, &[0x32, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(decode(image, &[0x0b]), Err(DecodeError::WireType(3)));
        assert_eq!(
            decode(image, &[0x7a, 1, 0, 0x32, 0]),
            Err(DecodeError::HeaderSize(1))
        );
        assert_eq!(decode(image, &[0xff; 11]), Err(DecodeError::Truncated));
    }
}
