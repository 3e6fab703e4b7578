//! Frame schemas: what the bytes of a frame mean. Ports declare one; a
//! connection is valid only when both ends agree.

use serde::{Deserialize, Serialize};

/// A frame schema known to this plexus version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

/// What an input port accepts: one schema, a family (`video/*`) or anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Accepts {
    Exactly(SchemaId),
    AnyVideo,
    Any,
}

impl Accepts {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "any" => Some(Accepts::Any),
            "video/*" => Some(Accepts::AnyVideo),
            other => SchemaId::from_name(other).map(Accepts::Exactly),
        }
    }

    pub fn admits(self, schema: SchemaId) -> bool {
        match self {
            Accepts::Exactly(s) => s == schema,
            Accepts::AnyVideo => schema.bytes_per_pixel().is_some(),
            Accepts::Any => true,
        }
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
    fn wildcards_admit_their_family_only() {
        assert!(Accepts::parse("video/*")
            .unwrap()
            .admits(SchemaId::VideoGray8));
        assert!(!Accepts::parse("video/*").unwrap().admits(SchemaId::Bytes));
        assert!(Accepts::parse("any").unwrap().admits(SchemaId::Bytes));
        assert!(!Accepts::parse("video/gray8")
            .unwrap()
            .admits(SchemaId::VideoRgba8));
    }
}
