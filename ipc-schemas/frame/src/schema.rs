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
}

impl SchemaId {
    pub const ALL: [SchemaId; 3] = [SchemaId::VideoRgba8, SchemaId::VideoGray8, SchemaId::Bytes];

    /// The name manifests use, e.g. `video/rgba8`.
    pub fn name(self) -> &'static str {
        match self {
            SchemaId::VideoRgba8 => "video/rgba8",
            SchemaId::VideoGray8 => "video/gray8",
            SchemaId::Bytes => "bytes",
        }
    }

    /// The number carried in `FrameHeader::schema`.
    pub fn code(self) -> u32 {
        match self {
            SchemaId::VideoRgba8 => 1,
            SchemaId::VideoGray8 => 2,
            SchemaId::Bytes => 3,
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Bytes per pixel for video schemas, `None` for the others.
    pub fn bytes_per_pixel(self) -> Option<u32> {
        match self {
            SchemaId::VideoRgba8 => Some(4),
            SchemaId::VideoGray8 => Some(1),
            SchemaId::Bytes => None,
        }
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

impl SchemaId {
    /// One line saying what frames of this schema are.
    pub fn description(self) -> &'static str {
        match self {
            SchemaId::VideoRgba8 => "video frames, 8-bit red, green, blue and alpha per pixel",
            SchemaId::VideoGray8 => "video frames, 8-bit luminance per pixel",
            SchemaId::Bytes => "opaque bytes whose meaning processors agree on",
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
        }
    }

    /// The header fields frames of this schema set; the other fields are 0.
    pub fn header_fields(self) -> Vec<HeaderField> {
        let mut fields = COMMON_FIELDS.to_vec();
        if self.bytes_per_pixel().is_some() {
            fields.extend(VIDEO_FIELDS);
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
            assert_eq!(SchemaId::from_name(s.name()), Some(s));
            assert_eq!(SchemaId::from_code(s.code()), Some(s));
        }
        assert_eq!(SchemaId::from_name("video/rgb"), None);
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
    }
}
