//! JSON in Zenoh payloads, both ways: what a peer sends is bounded in size
//! and parsed without trust, so a garbled or hostile payload is one error,
//! never a panic or an unbounded buffer.

use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;
use zenoh::bytes::ZBytes;

/// The largest JSON payload read: a part's pipeline file is a few KiB.
pub const MAX_JSON: usize = 1 << 20;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WireError {
    #[error("a message of {0} bytes is larger than the {MAX_JSON} a link message may have")]
    TooLarge(usize),
    #[error("a message is not what plexus-link expects: {0}")]
    Garbled(String),
    #[error("a message has no payload")]
    Missing,
}

pub fn decode<T: DeserializeOwned>(payload: Option<&ZBytes>) -> Result<T, WireError> {
    let payload = payload.ok_or(WireError::Missing)?;
    if payload.len() > MAX_JSON {
        return Err(WireError::TooLarge(payload.len()));
    }
    decode_bytes(&payload.to_bytes())
}

pub fn decode_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    if bytes.len() > MAX_JSON {
        return Err(WireError::TooLarge(bytes.len()));
    }
    serde_json::from_slice(bytes).map_err(|e| WireError::Garbled(e.to_string()))
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain data structures to JSON cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipc_schemas::link::AgentReply;

    #[test]
    fn garbled_large_and_missing_payloads_are_errors() {
        let reply = AgentReply::Done;
        assert_eq!(decode_bytes::<AgentReply>(&encode(&reply)), Ok(reply));
        assert!(matches!(
            decode_bytes::<AgentReply>(b"{\"done"),
            Err(WireError::Garbled(_))
        ));
        let huge = vec![b' '; MAX_JSON + 1];
        assert_eq!(
            decode_bytes::<AgentReply>(&huge),
            Err(WireError::TooLarge(MAX_JSON + 1))
        );
        assert_eq!(decode::<AgentReply>(None), Err(WireError::Missing));
    }
}
