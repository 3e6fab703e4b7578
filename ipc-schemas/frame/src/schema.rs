//! Frame schemas: what the bytes of a frame mean. Ports declare one; a
//! connection is valid only when both ends agree. A processor reads its
//! input's schema from the header's code.

/// A frame schema known to this plexus version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SchemaId {
    /// 8-bit RGBA, 4 bytes per pixel.
    VideoRgba8,
    /// 8-bit luminance, 1 byte per pixel.
    VideoGray8,
    /// Opaque bytes.
    Bytes,
    /// Interleaved f32 audio samples: shape [frames, channels], with a rate.
    AudioF32,
    /// A block of multichannel sensor samples, f32: shape [channels,
    /// samples], with a rate.
    SamplesF32,
    /// An f32 tensor of 1 to 4 dimensions.
    TensorF32,
    /// A u8 tensor of 1 to 4 dimensions.
    TensorU8,
    /// A record whose layout a package defines; the supervisor checks its
    /// name and version, the wire carries only this code.
    Record,
}

impl SchemaId {
    pub const ALL: [SchemaId; 8] = [
        SchemaId::VideoRgba8,
        SchemaId::VideoGray8,
        SchemaId::Bytes,
        SchemaId::AudioF32,
        SchemaId::SamplesF32,
        SchemaId::TensorF32,
        SchemaId::TensorU8,
        SchemaId::Record,
    ];

    /// The name manifests use, e.g. `video/rgba8`.
    pub fn name(self) -> &'static str {
        match self {
            SchemaId::VideoRgba8 => "video/rgba8",
            SchemaId::VideoGray8 => "video/gray8",
            SchemaId::Bytes => "bytes",
            SchemaId::AudioF32 => "audio/f32",
            SchemaId::SamplesF32 => "samples/f32",
            SchemaId::TensorF32 => "tensor/f32",
            SchemaId::TensorU8 => "tensor/u8",
            SchemaId::Record => "record",
        }
    }

    /// The number carried in `FrameHeader::schema`.
    pub fn code(self) -> u32 {
        match self {
            SchemaId::VideoRgba8 => 1,
            SchemaId::VideoGray8 => 2,
            SchemaId::Bytes => 3,
            SchemaId::AudioF32 => 4,
            SchemaId::SamplesF32 => 5,
            SchemaId::TensorF32 => 6,
            SchemaId::TensorU8 => 7,
            SchemaId::Record => 8,
        }
    }

    /// The schema a port may name: `record` is none, since a port names
    /// the package schema its records follow, and only the wire says
    /// `record`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == name && *s != SchemaId::Record)
    }

    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Bytes per pixel for video schemas, `None` for the others.
    pub fn bytes_per_pixel(self) -> Option<u32> {
        match self {
            SchemaId::VideoRgba8 => Some(4),
            SchemaId::VideoGray8 => Some(1),
            _ => None,
        }
    }

    /// Bytes per element for shaped schemas (those whose frames carry
    /// `ndim`, `shape` and `strides`), `None` for the others.
    pub fn element_bytes(self) -> Option<u32> {
        match self {
            SchemaId::AudioF32 | SchemaId::SamplesF32 | SchemaId::TensorF32 => Some(4),
            SchemaId::TensorU8 => Some(1),
            _ => None,
        }
    }

    /// Whether frames of this schema carry a sample rate (`rate`).
    pub fn has_rate(self) -> bool {
        matches!(self, SchemaId::AudioF32 | SchemaId::SamplesF32)
    }
}

/// What one `FrameHeader` field means for frames of a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderField {
    /// The field's name in `FrameHeader` (and in the Python and Deno SDKs).
    pub name: &'static str,
    pub meaning: &'static str,
}

const fn field(name: &'static str, meaning: &'static str) -> HeaderField {
    HeaderField { name, meaning }
}

/// The fields every schema uses the same way.
const COMMON_FIELDS: [HeaderField; 5] = [
    field(
        "schema",
        "the schema's numeric code, set by the output port",
    ),
    field(
        "seq",
        "sequence number given by the source; processors pass it on unchanged",
    ),
    field(
        "capture_ns",
        "when the source captured the frame, CLOCK_MONOTONIC in nanoseconds",
    ),
    field(
        "pts_ns",
        "presentation time on the source's media clock in nanoseconds, if it has one (a file's timestamps); absent (-2^63) otherwise",
    ),
    field(
        "duration_ns",
        "how long the frame is presented, in nanoseconds; 0 when unknown",
    ),
];

/// The fields video schemas add.
const VIDEO_FIELDS: [HeaderField; 4] = [
    field("width", "pixels per row"),
    field("height", "rows"),
    field(
        "stride",
        "bytes from the start of one row to the next, at least width × bytes per pixel; 0 means tightly packed",
    ),
    field("format", "pixel layout variant; 0, the only layout so far"),
];

/// The fields every shaped schema (audio, samples, tensors) adds.
const SHAPE_FIELDS: [HeaderField; 3] = [
    field("ndim", "dimensions used in shape and strides, 1 to 4"),
    field(
        "shape",
        "extent of each dimension, outermost first; entries past ndim are 0",
    ),
    field(
        "strides",
        "bytes from one element to the next along each dimension, multiples of the element size; entries past ndim are 0",
    ),
];

/// The field the sampled schemas (audio, samples) add.
const RATE_FIELD: HeaderField = field("rate", "samples per second per channel");

impl SchemaId {
    /// One line saying what frames of this schema are.
    pub fn description(self) -> &'static str {
        match self {
            SchemaId::VideoRgba8 => "video frames, 8-bit red, green, blue and alpha per pixel",
            SchemaId::VideoGray8 => "video frames, 8-bit luminance per pixel",
            SchemaId::Bytes => "opaque bytes whose meaning processors agree on",
            SchemaId::AudioF32 => "audio, 32-bit float samples interleaved by channel",
            SchemaId::SamplesF32 => {
                "blocks of multichannel sensor samples, 32-bit float, one row per channel"
            }
            SchemaId::TensorF32 => "tensors of 32-bit floats, 1 to 4 dimensions",
            SchemaId::TensorU8 => "tensors of bytes, 1 to 4 dimensions",
            SchemaId::Record => {
                "records whose layout a package defines; ports name the package schema (name@MAJOR.MINOR), never `record`"
            }
        }
    }

    /// What the payload bytes hold.
    pub fn payload(self) -> &'static str {
        match self {
            SchemaId::VideoRgba8 => {
                "height rows of stride bytes; each pixel is 4 bytes: R, G, B, A"
            }
            SchemaId::VideoGray8 => {
                "height rows of stride bytes; each pixel is 1 byte of luminance"
            }
            SchemaId::Bytes => "any bytes, of any length",
            SchemaId::AudioF32 => {
                "little-endian f32 samples interleaved: shape [frames, channels], strides [4 × channels, 4]"
            }
            SchemaId::SamplesF32 => {
                "little-endian f32 samples, one row per channel: shape [channels, samples], strides [4 × samples, 4]"
            }
            SchemaId::TensorF32 => {
                "little-endian f32 elements; element (i0, i1, …) at byte i0 × strides[0] + i1 × strides[1] + …"
            }
            SchemaId::TensorU8 => {
                "u8 elements; element (i0, i1, …) at byte i0 × strides[0] + i1 × strides[1] + …"
            }
            SchemaId::Record => {
                "the package schema's fixed fields in C layout, little-endian, then its trailing array of items if it has one"
            }
        }
    }

    /// The header fields frames of this schema set; the other fields are 0.
    pub fn header_fields(self) -> Vec<HeaderField> {
        let mut fields = COMMON_FIELDS.to_vec();
        if self.bytes_per_pixel().is_some() {
            fields.extend(VIDEO_FIELDS);
        }
        if self.has_rate() {
            fields.push(RATE_FIELD);
        }
        if self.element_bytes().is_some() {
            fields.extend(SHAPE_FIELDS);
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for s in SchemaId::ALL {
            assert_eq!(SchemaId::from_code(s.code()), Some(s));
            if s != SchemaId::Record {
                assert_eq!(SchemaId::from_name(s.name()), Some(s));
            }
        }
        assert_eq!(SchemaId::from_name("video/rgb"), None);
        assert_eq!(SchemaId::from_name("record"), None);
    }

    #[test]
    fn described_fields_are_header_fields() {
        for s in SchemaId::ALL {
            assert!(!s.description().is_empty() && !s.payload().is_empty());
            for f in s.header_fields() {
                assert!(
                    crate::FrameHeader::FIELDS.contains(&f.name),
                    "{} describes `{}`, which FrameHeader lacks",
                    s.name(),
                    f.name
                );
            }
        }
        let video: Vec<_> = SchemaId::VideoRgba8
            .header_fields()
            .iter()
            .map(|f| f.name)
            .collect();
        assert!(video.contains(&"stride") && video.contains(&"width"));
        assert!(!SchemaId::Bytes
            .header_fields()
            .iter()
            .any(|f| f.name == "width"));
        let audio: Vec<_> = SchemaId::AudioF32
            .header_fields()
            .iter()
            .map(|f| f.name)
            .collect();
        for name in ["rate", "ndim", "shape", "strides"] {
            assert!(audio.contains(&name), "audio/f32 lacks {name}");
        }
        let tensor: Vec<_> = SchemaId::TensorU8
            .header_fields()
            .iter()
            .map(|f| f.name)
            .collect();
        assert!(tensor.contains(&"shape") && !tensor.contains(&"rate"));
    }

    #[test]
    fn codes_are_the_wire_contract() {
        let codes: Vec<(&str, u32)> = SchemaId::ALL.iter().map(|s| (s.name(), s.code())).collect();
        assert_eq!(
            codes,
            [
                ("video/rgba8", 1),
                ("video/gray8", 2),
                ("bytes", 3),
                ("audio/f32", 4),
                ("samples/f32", 5),
                ("tensor/f32", 6),
                ("tensor/u8", 7),
                ("record", 8),
            ]
        );
        assert_eq!(SchemaId::TensorU8.element_bytes(), Some(1));
        assert_eq!(SchemaId::Record.element_bytes(), None);
    }
}
