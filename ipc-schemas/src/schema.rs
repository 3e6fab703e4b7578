//! Frame schemas and what an input port accepts of them. The schemas live in
//! `plexus-frame`, which the plugin SDK shares, and are re-exported here with
//! the rest of the contract; `Accepts` is for manifests and plans only.

use serde::{Deserialize, Serialize};

pub use plexus_frame::{HeaderField, SchemaId};

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
