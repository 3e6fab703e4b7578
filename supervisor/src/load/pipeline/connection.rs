//! One entry of a pipeline's `connections:`, as written: the line
//! `a.out -> b.in`, or the mapping `{ from: a.out, to: b.in, latency: low }`
//! for a connection with settings of its own.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use ipc_schemas::LatencyMode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionDecl {
    /// `a.out -> b.in`, as the plan parses it.
    pub line: String,
    /// How the input waits for frames; the pipeline's `latency:` otherwise.
    pub latency: Option<LatencyMode>,
}

/// The mapping form; unknown keys are refused, as everywhere.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Mapped {
    from: String,
    to: String,
    latency: Option<LatencyMode>,
}

impl<'de> Deserialize<'de> for ConnectionDecl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = ConnectionDecl;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`a.out -> b.in` or `{ from: a.out, to: b.in, latency: low }`")
            }

            fn visit_str<E: serde::de::Error>(self, line: &str) -> Result<Self::Value, E> {
                Ok(ConnectionDecl {
                    line: line.to_string(),
                    latency: None,
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let m = Mapped::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(ConnectionDecl {
                    line: format!("{} -> {}", m.from, m.to),
                    latency: m.latency,
                })
            }
        }
        deserializer.deserialize_any(Either)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<ConnectionDecl>, String> {
        serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_line_and_a_mapping_are_both_connections() {
        let both = parse("- a.out -> b.in\n- { from: b.out, to: c.in, latency: low }\n").unwrap();
        assert_eq!(
            both,
            [
                ConnectionDecl {
                    line: "a.out -> b.in".into(),
                    latency: None
                },
                ConnectionDecl {
                    line: "b.out -> c.in".into(),
                    latency: Some(LatencyMode::Low)
                },
            ]
        );
    }

    #[test]
    fn a_bad_latency_names_the_field_and_the_words_it_takes() {
        let bad = parse("- { from: a.out, to: b.in, latency: fast }\n").unwrap_err();
        assert!(bad.contains("latency"), "{bad}");
        assert!(bad.contains("unknown variant `fast`"), "{bad}");
        assert!(bad.contains("expected `efficient` or `low`"), "{bad}");
    }
}
