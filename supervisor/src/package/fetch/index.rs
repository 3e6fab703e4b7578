//! A package index: a directory (or its http(s) URL) holding `.plexpkg`
//! archives and an `index.json` that lists what each holds, its sha256 and
//! size, and its signature file (docs/json/index.schema.json). `plexus pkg
//! index DIR` writes it; `pkg search` reads it; `pkg install NAME --index`
//! picks from it and checks the download against it. An index comes from
//! elsewhere, so it is read as hostile: bounded in size, every name and
//! hash checked before one is used.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use semver::Version;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::download::{Fetcher, Location, MAX_ARCHIVE_BYTES};
use super::signature::SIGNATURE_SUFFIX;
use crate::digest::hex;
use crate::error::{excerpt, UserError};
use crate::package::archive::Archive;
use crate::package::locate::ARCHIVE_EXTENSION;
use crate::package::manifest::is_package_name;
use crate::package::store::Spec;

pub const INDEX_FILE: &str = "index.json";
/// The largest index read: some hundred thousand entries.
pub const MAX_INDEX_BYTES: u64 = 16 << 20;
/// The `index_version` this plexus writes and reads.
const INDEX_VERSION: u32 = 1;
/// Where an index is when `--index` is not given.
pub const INDEX_VAR: &str = "PLEXUS_INDEX";

#[derive(Debug, Serialize, Deserialize)]
pub struct Index {
    pub index_version: u32,
    pub packages: Vec<Entry>,
}

/// One archive of the index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub processors: Vec<Processor>,
    /// Schemas the package defines, `{name, version}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<Named>,
    /// Packages it depends on, `{name, version}` (a semver range).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Named>,
    /// The archive's file name in the index's directory.
    pub file: String,
    pub sha256: String,
    pub size: u64,
    /// The `.minisig` file's name beside the archive, when it is signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Processor {
    pub name: String,
    pub language: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Named {
    pub name: String,
    pub version: String,
}

impl Entry {
    /// The entry's version; valid, as every loaded index was checked.
    pub fn version(&self) -> Version {
        Version::parse(&self.version).expect("checked when the index was read")
    }

    /// Whether `text` (lower case) is in its name, description or
    /// processor names.
    fn mentions(&self, text: &str) -> bool {
        let has = |s: &str| s.to_lowercase().contains(text);
        has(&self.name)
            || self.description.as_deref().is_some_and(has)
            || self.processors.iter().any(|p| has(&p.name))
    }
}

/// The index's location: `--index`, else `$PLEXUS_INDEX`, if either.
pub fn configured(flag: Option<&str>) -> Option<Location> {
    flag.map(str::to_string)
        .or_else(|| std::env::var(INDEX_VAR).ok().filter(|v| !v.is_empty()))
        .map(|loc| Location::parse(&loc))
}

impl Index {
    /// Reads and checks the index at `at` (a directory or its URL).
    pub fn load(fetcher: &Fetcher, at: &Location) -> Result<Self, UserError> {
        let file = at.join(INDEX_FILE);
        let label = file.label();
        let bytes = fetcher.small(&file, MAX_INDEX_BYTES)?.ok_or_else(|| {
            UserError::in_file(
                &label,
                "there is no package index here (`plexus pkg index DIR` writes one)",
            )
        })?;
        let index: Index = serde_json::from_slice(&bytes).map_err(|e| {
            UserError::in_file(
                &label,
                format!(
                    "not a package index (docs/json/index.schema.json): {:?} error at line {}, column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                )
                .to_lowercase(),
            )
        })?;
        index.check().map_err(|m| UserError::in_file(&label, m))?;
        Ok(index)
    }

    /// Every field plexus later relies on: names, versions, hashes, sizes,
    /// and file names that cannot leave the index's directory.
    fn check(&self) -> Result<(), String> {
        if self.index_version != INDEX_VERSION {
            return Err(format!(
                "index_version {} is not one this plexus reads ({INDEX_VERSION})",
                self.index_version
            ));
        }
        for (n, e) in self.packages.iter().enumerate() {
            let at = |field: &str, value: &str, what: &str| {
                format!("packages[{n}].{field} `{}` {what}", excerpt(value))
            };
            if !is_package_name(&e.name) {
                return Err(at("name", &e.name, "is not a package name"));
            }
            if Version::parse(&e.version).is_err() {
                return Err(at("version", &e.version, "is not a version like 1.2.0"));
            }
            if e.sha256.len() != 64 || !e.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(at("sha256", &e.sha256, "is not 64 hex digits"));
            }
            if !plain_file_name(&e.file, &format!(".{ARCHIVE_EXTENSION}")) {
                return Err(at(
                    "file",
                    &e.file,
                    "is not a plain .plexpkg file name in the index's directory",
                ));
            }
            if let Some(signature) = &e.signature {
                if !plain_file_name(signature, SIGNATURE_SUFFIX) {
                    return Err(at(
                        "signature",
                        signature,
                        "is not a plain .minisig file name in the index's directory",
                    ));
                }
            }
            if e.size > MAX_ARCHIVE_BYTES {
                return Err(format!(
                    "packages[{n}].size {} is more than the {MAX_ARCHIVE_BYTES} bytes an archive may have",
                    e.size
                ));
            }
        }
        Ok(())
    }

    /// The entries that mention `text`, by name then newest version first.
    pub fn search(&self, text: &str) -> Vec<&Entry> {
        let text = text.to_lowercase();
        let mut found: Vec<&Entry> = self.packages.iter().filter(|e| e.mentions(&text)).collect();
        found.sort_by(|a, b| a.name.cmp(&b.name).then(b.version().cmp(&a.version())));
        found
    }

    /// The entry `spec` names: that version, or the highest.
    pub fn pick(&self, spec: &Spec) -> Result<&Entry, String> {
        let mut versions: Vec<&Entry> = self
            .packages
            .iter()
            .filter(|e| e.name == spec.name)
            .collect();
        versions.sort_by_key(|e| e.version());
        let wanted = match &spec.version {
            Some(v) => versions.iter().find(|e| &e.version() == v),
            None => versions.last(),
        };
        wanted.copied().ok_or_else(|| {
            let listed: Vec<String> = versions.iter().map(|e| e.version.clone()).collect();
            if listed.is_empty() {
                format!("the index has no package `{}`", spec.name)
            } else {
                format!(
                    "the index has no `{spec}` (it has versions {})",
                    listed.join(", ")
                )
            }
        })
    }
}

/// A file name alone, with `suffix`: no directory part, nothing hidden.
fn plain_file_name(name: &str, suffix: &str) -> bool {
    name.len() > suffix.len()
        && name.len() <= 255
        && name.ends_with(suffix)
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(crate::error::is_hidden)
}

/// `plexus pkg index DIR`: lists every `*.plexpkg` in `dir` (each verified
/// whole) in `dir/index.json`. Returns the index's path and the count.
pub fn write(dir: &Path) -> Result<(PathBuf, usize), UserError> {
    let read_dir = |e: std::io::Error| UserError::in_file(dir, format!("cannot read: {e}"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ARCHIVE_EXTENSION) && p.is_file())
        .collect();
    files.sort();
    let mut packages = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for path in &files {
        let entry = describe(path)?;
        let id = format!("{}@{}", entry.name, entry.version);
        if let Some(first) = seen.insert(id.clone(), entry.file.clone()) {
            return Err(UserError::in_file(
                dir,
                format!("`{first}` and `{}` both hold {id}", entry.file),
            ));
        }
        packages.push(entry);
    }
    let index = Index {
        index_version: INDEX_VERSION,
        packages,
    };
    let dest = dir.join(INDEX_FILE);
    let text = serde_json::to_string_pretty(&index).expect("an index serialises") + "\n";
    // Written aside and renamed, so a server never hands out half of it.
    let partial = dir.join(format!(".{INDEX_FILE}.partial-{}", std::process::id()));
    std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, &dest))
        .map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            UserError::in_file(&dest, format!("cannot write: {e}"))
        })?;
    Ok((dest, index.packages.len()))
}

/// One archive's entry: what its manifest says, verified against every
/// checksum, with the file's own sha256 and size.
fn describe(path: &Path) -> Result<Entry, UserError> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| plain_file_name(n, &format!(".{ARCHIVE_EXTENSION}")))
        .ok_or_else(|| {
            UserError::in_file(
                path,
                "the file name is not plain UTF-8 text an index can list",
            )
        })?
        .to_string();
    let cannot = |e: std::io::Error| UserError::in_file(path, format!("cannot read: {e}"));
    let mut file = File::open(path).map_err(cannot)?;
    let mut hash = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    while size <= MAX_ARCHIVE_BYTES {
        let n = file.read(&mut buf).map_err(cannot)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        size += n as u64;
    }
    if size > MAX_ARCHIVE_BYTES {
        return Err(UserError::in_file(
            path,
            format!("is larger than the {MAX_ARCHIVE_BYTES} bytes an archive may have"),
        ));
    }
    let mut archive = Archive::open(BufReader::new(File::open(path).map_err(cannot)?), path)?;
    let manifest = archive.manifest()?;
    archive.verify()?;
    let signature = format!("{file_name}{SIGNATURE_SUFFIX}");
    Ok(Entry {
        name: manifest.package.name.clone(),
        version: manifest.version().to_string(),
        description: manifest.package.description.clone(),
        processors: manifest
            .processors
            .iter()
            .map(|d| Processor {
                name: d.name.clone(),
                language: d.language.name().to_string(),
            })
            .collect(),
        schemas: manifest
            .schemas
            .iter()
            .map(|s| Named {
                name: s.name.clone(),
                version: s.version.clone(),
            })
            .collect(),
        dependencies: manifest
            .dependencies
            .iter()
            .map(|d| Named {
                name: d.name.clone(),
                version: d.version.clone(),
            })
            .collect(),
        sha256: hex(&hash.finalize()),
        size,
        signature: path
            .with_file_name(&signature)
            .is_file()
            .then_some(signature),
        file: file_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(file: &str) -> Entry {
        Entry {
            name: "acme.fx".into(),
            version: "1.0.0".into(),
            description: Some("Blurs frames".into()),
            processors: vec![Processor {
                name: "acme.blur".into(),
                language: "python".into(),
            }],
            schemas: Vec::new(),
            dependencies: Vec::new(),
            file: file.into(),
            sha256: "a".repeat(64),
            size: 10,
            signature: None,
        }
    }

    #[test]
    fn file_names_that_leave_the_directory_are_refused() {
        for bad in [
            "../x.plexpkg",
            "a/x.plexpkg",
            ".plexpkg",
            ".x.plexpkg",
            "x.zip",
            "x\u{202e}.plexpkg",
        ] {
            let index = Index {
                index_version: 1,
                packages: vec![entry(bad)],
            };
            let error = index.check().unwrap_err();
            assert!(error.starts_with("packages[0].file"), "{bad}: {error}");
        }
        let index = Index {
            index_version: 1,
            packages: vec![entry("x.plexpkg")],
        };
        assert!(index.check().is_ok());
    }

    #[test]
    fn search_and_pick_find_the_highest_version() {
        let mut newer = entry("b.plexpkg");
        newer.version = "1.10.0".into();
        let index = Index {
            index_version: 1,
            packages: vec![entry("a.plexpkg"), newer],
        };
        assert_eq!(index.search("BLUR").len(), 2);
        assert!(index.search("sharpen").is_empty());
        let spec = Spec::parse("acme.fx").unwrap();
        assert_eq!(index.pick(&spec).unwrap().version, "1.10.0");
        let missing = Spec::parse("acme.fx@2.0.0").unwrap();
        assert_eq!(
            index.pick(&missing).unwrap_err(),
            "the index has no `acme.fx@2.0.0` (it has versions 1.0.0, 1.10.0)"
        );
    }
}
