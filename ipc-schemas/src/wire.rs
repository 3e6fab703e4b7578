//! The one encoding of control messages and events: bincode 2 with its
//! standard configuration.

use serde::{de::DeserializeOwned, Serialize};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum WireError {
    #[error("could not encode message: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    #[error("could not decode message: {0}")]
    Decode(#[from] bincode::error::DecodeError),
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, WireError> {
    Ok(bincode::serde::encode_to_vec(
        value,
        bincode::config::standard(),
    )?)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    let (value, _) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::*;
    use crate::schema::{Accepts, SchemaId};

    #[test]
    fn control_messages_round_trip() {
        let cmd = Command::Configure(WorkerConfig {
            processors: vec![ProcessorSpec {
                id: "gray".into(),
                type_name: "example.grayscale".into(),
                entry: Entry::Dylib {
                    path: "/x/libg.so".into(),
                },
                config_json: r#"{"a":1}"#.into(),
                inputs: vec![InputSpec {
                    port: "in".into(),
                    accepts: Accepts::Exactly(SchemaId::VideoRgba8),
                    from_processor: "camera".into(),
                    from_port: "out".into(),
                    subscribers: 3,
                }],
                outputs: vec![OutputSpec {
                    port: "out".into(),
                    schema: SchemaId::VideoGray8,
                    subscribers: 3,
                }],
                frame_limit: Some(3),
                mode: crate::Mode::Reactive,
                sync: crate::SyncPolicy::All {
                    tolerance_ms: Some(5),
                },
            }],
            paused: vec!["gray".into()],
            role: Role::Successor,
            latency: [("gray".to_string(), vec![LatencyMode::Low])].into(),
        });
        let back: Command = decode(&encode(&cmd).unwrap()).unwrap();
        assert_eq!(back, cmd);
        let rep = Report::Hello {
            protocol: 7,
            pid: 42,
        };
        assert_eq!(decode::<Report>(&encode(&rep).unwrap()).unwrap(), rep);
    }

    #[test]
    fn swap_messages_round_trip() {
        let states = vec![ProcessorState {
            processor: "count".into(),
            state: Some(vec![7, 0, 0, 0, 0, 0, 0, 0]),
            seq: 1234,
        }];
        let command = Command::TakeOver {
            states: states.clone(),
        };
        assert_eq!(
            decode::<Command>(&encode(&command).unwrap()).unwrap(),
            command
        );
        let report = Report::HandedOver { states };
        assert_eq!(decode::<Report>(&encode(&report).unwrap()).unwrap(), report);
    }

    #[test]
    fn live_config_messages_round_trip() {
        let request = ControlRequest::SetConfig {
            processor: "fx".into(),
            changes_json: r#"{"amount":0.5,"label":"hello"}"#.into(),
            reply_to: "cli-7".into(),
        };
        assert_eq!(
            decode::<ControlRequest>(&encode(&request).unwrap()).unwrap(),
            request
        );
        let command = Command::Reconfigure {
            processor: "fx".into(),
            changes_json: r#"{"amount":0.5}"#.into(),
        };
        assert_eq!(
            decode::<Command>(&encode(&command).unwrap()).unwrap(),
            command
        );
        for outcome in [
            ConfigOutcome::Applied,
            ConfigOutcome::NoHook,
            ConfigOutcome::Failed {
                message: "amount 0.5 is too dim".into(),
            },
        ] {
            let report = Report::Reconfigured {
                processor: "fx".into(),
                outcome,
            };
            assert_eq!(decode::<Report>(&encode(&report).unwrap()).unwrap(), report);
        }
        let event = crate::EventKind::ConfigChanged {
            processor: "fx".into(),
            changes: r#"{"amount":0.5}"#.into(),
            applied: crate::ConfigApplied::InPlace,
        };
        assert_eq!(
            decode::<crate::EventKind>(&encode(&event).unwrap()).unwrap(),
            event
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode::<Command>(&[0xff, 0xff, 0xff]).is_err());
    }
}
