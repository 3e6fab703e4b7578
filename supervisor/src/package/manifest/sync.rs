//! How a processor with several inputs is called (`sync:`, docs/ARCHITECTURE.md
//! §7): written in a pipeline entry, or as a default in the package
//! manifest, and checked against the processor's inputs before anything runs.

use ipc_schemas::SyncPolicy;
use serde::Deserialize;
use serde_json::Value;

use super::PortDecl;

/// The most a capture-time tolerance may be: frames further apart are not
/// one moment.
pub const MAX_TOLERANCE_MS: u64 = 60_000;

const SHAPE: &str = "`sync` is `any`, `all` or `latest`, or a mapping such as \
`{ policy: all, tolerance_ms: 20 }` or `{ policy: latest, trigger: <input> }`";

/// `sync:` as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Value")]
pub struct SyncDecl {
    policy: Policy,
    tolerance_ms: Option<u64>,
    trigger: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    Any,
    All,
    Latest,
}

impl Policy {
    fn named(name: &str) -> Result<Self, String> {
        match name {
            "any" => Ok(Policy::Any),
            "all" => Ok(Policy::All),
            "latest" => Ok(Policy::Latest),
            other => Err(format!(
                "`sync` policy `{}` is not one of any, all, latest",
                crate::error::excerpt(other)
            )),
        }
    }
}

impl TryFrom<Value> for SyncDecl {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, String> {
        let (policy, tolerance_ms, trigger) = match value {
            Value::String(name) => (name, None, None),
            Value::Object(mut fields) => {
                let policy = match fields.remove("policy") {
                    Some(Value::String(name)) => name,
                    _ => return Err(SHAPE.to_owned()),
                };
                let tolerance_ms = match fields.remove("tolerance_ms") {
                    None => None,
                    Some(v) => Some(v.as_u64().ok_or("`tolerance_ms` must be a whole number")?),
                };
                let trigger = match fields.remove("trigger") {
                    None => None,
                    Some(Value::String(input)) => Some(input),
                    Some(_) => return Err("`trigger` must name an input".to_owned()),
                };
                if let Some(unknown) = fields.keys().next() {
                    return Err(format!(
                        "`sync` has no field `{}` (it takes policy, tolerance_ms, trigger)",
                        crate::error::excerpt(unknown)
                    ));
                }
                (policy, tolerance_ms, trigger)
            }
            _ => return Err(SHAPE.to_owned()),
        };
        Ok(Self {
            policy: Policy::named(&policy)?,
            tolerance_ms,
            trigger,
        })
    }
}

/// The policy of a processor with `inputs`: the pipeline entry's `sync`, else
/// the manifest's, else `any`; or one sentence about what does not fit.
pub fn resolve(
    entry: Option<&SyncDecl>,
    default: Option<&SyncDecl>,
    inputs: &[PortDecl],
) -> Result<SyncPolicy, String> {
    let Some(decl) = entry.or(default) else {
        return Ok(SyncPolicy::Any);
    };
    let needs_two = |name| {
        (inputs.len() < 2).then(|| {
            format!(
                "`sync: {name}` needs at least two inputs; it has {}",
                inputs.len()
            )
        })
    };
    match (decl.policy, decl.tolerance_ms, &decl.trigger) {
        (Policy::Any, None, None) => Ok(SyncPolicy::Any),
        (Policy::All, tolerance_ms, None) => {
            if let Some(problem) = needs_two("all") {
                return Err(problem);
            }
            if let Some(ms) = tolerance_ms.filter(|ms| *ms > MAX_TOLERANCE_MS) {
                return Err(format!(
                    "`tolerance_ms` is {ms}, outside the allowed 0..={MAX_TOLERANCE_MS}"
                ));
            }
            Ok(SyncPolicy::All { tolerance_ms })
        }
        (Policy::Latest, None, trigger) => {
            if let Some(problem) = needs_two("latest") {
                return Err(problem);
            }
            let trigger = match trigger {
                None => 0,
                Some(name) => inputs.iter().position(|i| &i.name == name).ok_or_else(|| {
                    format!(
                        "`trigger` `{}` is not an input (inputs: {})",
                        crate::error::excerpt(name),
                        inputs
                            .iter()
                            .map(|i| i.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?,
            };
            Ok(SyncPolicy::Latest { trigger })
        }
        (_, Some(_), _) => Err("`tolerance_ms` applies to `sync: all` only".to_owned()),
        (_, _, Some(_)) => Err("`trigger` applies to `sync: latest` only".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(text: &str) -> Result<SyncDecl, String> {
        let value: Value = serde_yaml_ng::from_str(text).unwrap();
        SyncDecl::try_from(value)
    }

    fn ports(names: &[&str]) -> Vec<PortDecl> {
        names
            .iter()
            .map(|n| PortDecl {
                name: n.to_string(),
                schema: "any".into(),
            })
            .collect()
    }

    fn policy(text: &str, inputs: &[&str]) -> Result<SyncPolicy, String> {
        resolve(Some(&decl(text)?), None, &ports(inputs))
    }

    #[test]
    fn policies_resolve_against_the_inputs() {
        assert_eq!(resolve(None, None, &ports(&["a"])), Ok(SyncPolicy::Any));
        assert_eq!(
            policy("all", &["a", "b"]),
            Ok(SyncPolicy::All { tolerance_ms: None })
        );
        assert_eq!(
            policy("{ policy: all, tolerance_ms: 20 }", &["a", "b"]),
            Ok(SyncPolicy::All {
                tolerance_ms: Some(20)
            })
        );
        assert_eq!(
            policy("latest", &["a", "b"]),
            Ok(SyncPolicy::Latest { trigger: 0 })
        );
        assert_eq!(
            policy("{ policy: latest, trigger: b }", &["a", "b"]),
            Ok(SyncPolicy::Latest { trigger: 1 })
        );
        let default = decl("all").unwrap();
        let entry = decl("any").unwrap();
        assert_eq!(
            resolve(Some(&entry), Some(&default), &ports(&["a", "b"])),
            Ok(SyncPolicy::Any),
            "the pipeline's entry wins over the manifest's default"
        );
    }

    #[test]
    fn mistakes_are_one_sentence() {
        let cases = [
            (
                "every",
                &["a", "b"][..],
                "`sync` policy `every` is not one of",
            ),
            ("3", &["a", "b"], "`sync` is `any`, `all` or `latest`"),
            (
                "all",
                &["a"],
                "`sync: all` needs at least two inputs; it has 1",
            ),
            (
                "latest",
                &[],
                "`sync: latest` needs at least two inputs; it has 0",
            ),
            (
                "{ policy: all, tolerance_ms: 70000 }",
                &["a", "b"],
                "outside the allowed 0..=60000",
            ),
            (
                "{ policy: all, tolerance_ms: -1 }",
                &["a", "b"],
                "must be a whole number",
            ),
            (
                "{ policy: latest, trigger: c }",
                &["a", "b"],
                "`trigger` `c` is not an input (inputs: a, b)",
            ),
            (
                "{ policy: all, trigger: a }",
                &["a", "b"],
                "`trigger` applies to `sync: latest` only",
            ),
            (
                "{ policy: latest, tolerance_ms: 5 }",
                &["a", "b"],
                "`tolerance_ms` applies to `sync: all` only",
            ),
            (
                "{ policy: all, window: 5 }",
                &["a", "b"],
                "`sync` has no field `window`",
            ),
            (
                "{ tolerance_ms: 5 }",
                &["a", "b"],
                "`sync` is `any`, `all` or `latest`",
            ),
        ];
        for (text, inputs, expected) in cases {
            let message = policy(text, inputs).unwrap_err();
            assert!(message.contains(expected), "{text}: {message}");
        }
    }
}
