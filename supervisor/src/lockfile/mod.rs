//! `plexus.lock` (docs/ARCHITECTURE.md §7): what a pipeline ran with when
//! `plexus lock` wrote it, so that `plexus run --locked` on another machine,
//! or later, runs the same or refuses. It pins every package the pipeline
//! uses (listed and dependencies) by version and sha256, each Python
//! package's requirements as pip resolved them with their hashes, and the
//! deno version when TypeScript runs. `make` writes it, `drift` compares a
//! pipeline with it.
//!
//! This file holds the format alone and imports nothing above `error` and
//! `yaml`: the languages read a locked run's entries, and `make` and
//! `drift` build on the languages.

pub mod drift;
pub mod make;

use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{excerpt, UserError};
use crate::yaml;

/// The lockfile's name, beside the pipeline.
pub const LOCK_FILE: &str = "plexus.lock";

/// The format this plexus writes and reads.
pub const LOCK_VERSION: u32 = 1;

/// The first line of every lockfile.
const HEADER: &str = "# written by `plexus lock`; `plexus run --locked` refuses any drift\n";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    pub lock_version: u32,
    /// The plexus that wrote it.
    pub plexus: String,
    /// The deno version, when the pipeline runs TypeScript.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deno: Option<String>,
    /// By name.
    pub packages: Vec<LockedPackage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    pub name: String,
    #[serde(serialize_with = "as_text", deserialize_with = "version")]
    pub version: semver::Version,
    /// Of the archive it was installed from (store), of the `.plexpkg` file
    /// (a listed archive), or of the archive `plexus pack` makes of it (a
    /// listed directory): in each case, what `pkg install` of that archive
    /// would record.
    pub sha256: String,
    pub source: LockedSource,
    /// Its Python requirements as pip resolved them, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub python: Vec<LockedRequirement>,
}

/// Where a locked package comes from: `store`, or `path: ENTRY` with the
/// pipeline's `packages:` entry (a directory or a `.plexpkg` file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SourceText", into = "SourceText")]
pub enum LockedSource {
    Store,
    Path(String),
}

/// How a [`LockedSource`] is written.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum SourceText {
    Word(String),
    Path { path: String },
}

impl TryFrom<SourceText> for LockedSource {
    type Error = String;

    fn try_from(text: SourceText) -> Result<Self, String> {
        match text {
            SourceText::Word(w) if w == "store" => Ok(LockedSource::Store),
            SourceText::Word(w) => Err(format!(
                "source `{}` is neither `store` nor `path: …`",
                excerpt(&w)
            )),
            SourceText::Path { path } => Ok(LockedSource::Path(path)),
        }
    }
}

impl From<LockedSource> for SourceText {
    fn from(source: LockedSource) -> Self {
        match source {
            LockedSource::Store => SourceText::Word("store".into()),
            LockedSource::Path(path) => SourceText::Path { path },
        }
    }
}

impl std::fmt::Display for LockedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockedSource::Store => f.write_str("the store"),
            LockedSource::Path(path) => write!(f, "`{path}`"),
        }
    }
}

/// One Python distribution a package's requirements resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedRequirement {
    pub name: String,
    /// As the distribution states it (PEP 440, not semver).
    pub version: String,
    /// The sha256 of each file pip may install it from.
    pub sha256: Vec<String>,
}

impl Lockfile {
    /// Reads and checks a lockfile; every mistake is one sentence naming
    /// the file.
    pub fn read(path: &Path) -> Result<Lockfile, UserError> {
        let lock: Lockfile = yaml::parse(path, &yaml::read(path, "lockfile")?)?;
        lock.check().map_err(|m| UserError::in_file(path, m))?;
        Ok(lock)
    }

    /// The entry of package `name`.
    pub fn package(&self, name: &str) -> Option<&LockedPackage> {
        self.packages.iter().find(|p| p.name == name)
    }

    fn check(&self) -> Result<(), String> {
        if self.lock_version != LOCK_VERSION {
            return Err(format!(
                "lock_version {} is not one this plexus reads ({LOCK_VERSION})",
                self.lock_version
            ));
        }
        for (index, p) in self.packages.iter().enumerate() {
            let at = format!("packages[{index}]");
            // A name is compared with the packages' own, never used as a
            // path: one no package has is told as drift.
            if self.packages[..index].iter().any(|q| q.name == p.name) {
                return Err(format!(
                    "{at}: package `{}` is locked twice",
                    excerpt(&p.name)
                ));
            }
            if !is_sha256(&p.sha256) {
                return Err(format!("{at}.sha256 is not 64 lowercase hex digits"));
            }
            for (r, req) in p.python.iter().enumerate() {
                if req.sha256.is_empty() || !req.sha256.iter().all(|h| is_sha256(h)) {
                    return Err(format!(
                        "{at}.python[{r}] (`{}`): sha256 must list 64-hex-digit hashes",
                        excerpt(&req.name)
                    ));
                }
                if !pip_word(&req.name) || !pip_word(&req.version) {
                    return Err(format!(
                        "{at}.python[{r}]: `{}=={}` is not a distribution name and version",
                        excerpt(&req.name),
                        excerpt(&req.version)
                    ));
                }
            }
        }
        Ok(())
    }

    /// The lockfile's text: a comment line, then YAML. Packages come by
    /// name and every list is sorted, so the same pipeline and packages
    /// always give the same bytes.
    pub fn to_text(&self) -> String {
        let yaml = serde_yaml_ng::to_string(self).expect("a lockfile serialises");
        format!("{HEADER}{yaml}")
    }

    /// Writes it to `path`, whole or not at all (a hidden sibling renamed
    /// into place).
    pub fn write(&self, path: &Path) -> Result<(), UserError> {
        let partial = path.with_file_name(format!(".{LOCK_FILE}.{}", std::process::id()));
        std::fs::write(&partial, self.to_text())
            .and_then(|()| std::fs::rename(&partial, path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&partial);
                UserError::in_file(path, format!("cannot write the lockfile: {e}"))
            })
    }
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A distribution name or version as pip reports them: what a requirement
/// line may hold without quoting (`numpy`, `2.2.6`, `1.0rc1+local`).
fn pip_word(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+!".contains(&b))
}

fn as_text<S: Serializer>(version: &semver::Version, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(version)
}

fn version<'de, D: Deserializer<'de>>(d: D) -> Result<semver::Version, D::Error> {
    let text = String::deserialize(d)?;
    semver::Version::parse(&text).map_err(|_| {
        serde::de::Error::custom(format!(
            "version `{}` is not a version like 1.2.0",
            excerpt(&text)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lockfile {
        Lockfile {
            lock_version: 1,
            plexus: "0.1.0".into(),
            deno: Some("2.5.6".into()),
            packages: vec![
                LockedPackage {
                    name: "example.effects".into(),
                    version: semver::Version::new(1, 2, 0),
                    sha256: "ab".repeat(32),
                    source: LockedSource::Path("../packages/effects-python".into()),
                    python: vec![LockedRequirement {
                        name: "numpy".into(),
                        version: "2.10".into(),
                        sha256: vec!["cd".repeat(32)],
                    }],
                },
                LockedPackage {
                    name: "example.overlay".into(),
                    version: semver::Version::new(0, 1, 0),
                    sha256: "ef".repeat(32),
                    source: LockedSource::Store,
                    python: vec![],
                },
            ],
        }
    }

    #[test]
    fn a_lockfile_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        sample().write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(HEADER), "{text}");
        assert!(text.contains("source: store"), "{text}");
        assert!(text.contains("path: ../packages/effects-python"), "{text}");
        // A version YAML would read as a number stays text.
        assert!(
            text.contains("'2.10'") || text.contains("\"2.10\""),
            "{text}"
        );
        assert_eq!(Lockfile::read(&path).unwrap(), sample());
    }

    #[test]
    fn each_mistake_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        let good = sample().to_text();
        let cases = [
            (
                good.replace("lock_version: 1", "lock_version: 9"),
                "lock_version 9",
            ),
            (good.replace(&"ab".repeat(32), "abc"), "packages[0].sha256"),
            (good.replace("source: store", "source: web"), "source `web`"),
            (
                good.replace("version: 0.1.0", "version: one"),
                "version `one`",
            ),
            (
                good.replace("name: numpy", "name: 'numpy; rm'"),
                "python[0]",
            ),
            (format!("{good}extra: 1\n"), "unknown field `extra`"),
        ];
        for (text, expected) in cases {
            std::fs::write(&path, &text).unwrap();
            let err = Lockfile::read(&path).unwrap_err().to_string();
            assert!(
                err.starts_with(&path.display().to_string()) && err.contains(expected),
                "{expected}: {err}"
            );
        }
    }
}
