//! Schemas a package defines (`schemas:` in its manifest, docs/packages.md):
//! fixed-layout records with an optional trailing array of item records,
//! named in reverse-DNS with a MAJOR.MINOR version, and the `name@M.m`
//! references ports make to them. Everything is checked when the manifest
//! is read; the byte layout is computed in one place, `layout`, which
//! validation, `plexus schemas describe` and the code generators share.

pub mod layout;

use std::collections::BTreeSet;
use std::fmt;

use ipc_schemas::{Accepts, SchemaId};
use serde::Deserialize;

use crate::error::excerpt;
pub use layout::{FieldLayout, RecordLayout, Scalar, SchemaLayout};

/// One schema of `schemas:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaDecl {
    pub name: String,
    /// `MAJOR.MINOR`; YAML may read `1.2` as a number, which is taken as
    /// the text it was written as.
    pub version: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The fixed part, in order.
    #[serde(default)]
    pub fields: Vec<FieldDecl>,
    /// The one trailing variable-length array of records.
    #[serde(default)]
    pub items: Option<ItemsDecl>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDecl {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemsDecl {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub fields: Vec<FieldDecl>,
}

/// A schema's version: a minor version adds to a major one, a major one
/// breaks with the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SchemaVersion {
    pub major: u32,
    pub minor: u32,
}

impl SchemaVersion {
    pub fn parse(text: &str) -> Option<Self> {
        let (major, minor) = text.split_once('.')?;
        let number = |s: &str| {
            (!s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        Some(Self {
            major: number(major)?,
            minor: number(minor)?,
        })
    }
}

impl fmt::Display for SchemaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A port's `schema: name@MAJOR.MINOR`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchemaRef {
    pub name: String,
    pub version: SchemaVersion,
}

impl fmt::Display for SchemaRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

impl SchemaRef {
    /// `name@MAJOR.MINOR`, or what is wrong with it as the rest of a
    /// sentence whose subject names where it was written ("input `in` …").
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some((name, version)) = text.split_once('@') else {
            return Err(format!(
                "names schema `{}` without a version; write `{}@MAJOR.MINOR`",
                excerpt(text),
                excerpt(text)
            ));
        };
        if !is_schema_name(name) {
            return Err(format!(
                "names schema `{}`, whose name is not reverse-DNS ({NAME_RULE})",
                excerpt(text)
            ));
        }
        let version = SchemaVersion::parse(version).ok_or_else(|| {
            format!(
                "names schema `{}`, whose version `{}` is not MAJOR.MINOR like 1.2",
                excerpt(text),
                excerpt(version)
            )
        })?;
        Ok(Self {
            name: name.to_string(),
            version,
        })
    }

    /// Whether frames of `self` (a producer's) may go to a consumer taking
    /// `wanted`: the same name, the same major version and a minor version
    /// at least as new. Otherwise, why not.
    pub fn serves(&self, wanted: &SchemaRef) -> Result<(), &'static str> {
        if self.name != wanted.name {
            Err("the schemas differ")
        } else if self.version.major != wanted.version.major {
            Err("a major version differs")
        } else if self.version.minor < wanted.version.minor {
            Err("the producer's minor version is older than the consumer's")
        } else {
            Ok(())
        }
    }
}

/// What a port's `schema:` names: a builtin schema (or, for inputs, a
/// family of them) or a package's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSchema {
    Builtin(Accepts),
    Package(SchemaRef),
}

impl PortSchema {
    /// An input's `schema:`: a builtin schema, `video/*`, `any` or `name@M.m`.
    pub fn input(text: &str) -> Result<Self, String> {
        refuse_wire_code(text)?;
        match Accepts::parse(text) {
            Some(accepts) => Ok(Self::Builtin(accepts)),
            None => Self::package(text),
        }
    }

    /// An output's `schema:`: a builtin schema or `name@M.m`.
    pub fn output(text: &str) -> Result<Self, String> {
        refuse_wire_code(text)?;
        match SchemaId::from_name(text) {
            Some(schema) => Ok(Self::Builtin(Accepts::Exactly(schema))),
            None => Self::package(text),
        }
    }

    fn package(text: &str) -> Result<Self, String> {
        // A builtin-looking name (`video/…`) is an unknown builtin, not a
        // package schema without a version.
        if text.contains('/') || !text.contains('.') {
            // `record` is the wire code of package schemas, not a name
            // a port may use.
            let names: Vec<&str> = SchemaId::ALL
                .iter()
                .filter(|s| **s != SchemaId::Record)
                .map(|s| s.name())
                .collect();
            return Err(format!(
                "has unknown schema `{}` (known: {}, or a package's schema as name@MAJOR.MINOR)",
                excerpt(text),
                names.join(", ")
            ));
        }
        SchemaRef::parse(text).map(Self::Package)
    }

    /// The schema code on the wire: a package schema travels as `record`.
    pub fn wire(&self) -> Accepts {
        match self {
            Self::Builtin(accepts) => *accepts,
            Self::Package(_) => Accepts::Exactly(SchemaId::Record),
        }
    }
}

/// `record` is the wire code of every package schema; a port names which.
fn refuse_wire_code(text: &str) -> Result<(), String> {
    match text == SchemaId::Record.name() {
        true => Err(format!(
            "names `{text}`, the wire code of package schemas; name the schema itself as name@MAJOR.MINOR"
        )),
        false => Ok(()),
    }
}

const NAME_RULE: &str = "lowercase words of letters, digits or `_`, each starting with a letter, joined by dots, at least two words, e.g. `acme.detections`";

/// A schema name: reverse-DNS, at least two words.
fn is_schema_name(name: &str) -> bool {
    let word = |w: &str| {
        let mut bytes = w.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_lowercase())
            && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    name.len() <= 128 && name.split('.').count() >= 2 && name.split('.').all(word)
}

/// Most fields a record (the fixed part or an item) may have.
const MAX_FIELDS: usize = 1024;

/// Checks every schema of a manifest and returns their layouts.
pub fn check(decls: &[SchemaDecl]) -> Result<Vec<SchemaLayout>, String> {
    let mut names = BTreeSet::new();
    let mut layouts = Vec::new();
    for (index, decl) in decls.iter().enumerate() {
        if !is_schema_name(&decl.name) {
            return Err(format!(
                "schemas[{index}]: name `{}` is not reverse-DNS ({NAME_RULE})",
                excerpt(&decl.name)
            ));
        }
        if !names.insert(decl.name.as_str()) {
            return Err(format!("schema `{}` is defined twice", decl.name));
        }
        let layout = schema(decl).map_err(|m| format!("schema `{}`: {m}", decl.name))?;
        layouts.push(layout);
    }
    Ok(layouts)
}

fn schema(decl: &SchemaDecl) -> Result<SchemaLayout, String> {
    let version = SchemaVersion::parse(&decl.version).ok_or_else(|| {
        format!(
            "version `{}` is not MAJOR.MINOR like 1.2",
            excerpt(&decl.version)
        )
    })?;
    if decl.fields.is_empty() && decl.items.is_none() {
        return Err("it has neither fields nor items".to_string());
    }
    let fixed = record(&decl.fields, "field")?;
    let items = match &decl.items {
        None => None,
        Some(items) => {
            if let Some(problem) = field_name_problem(&items.name) {
                return Err(format!("items name `{}` {problem}", excerpt(&items.name)));
            }
            if items.fields.is_empty() {
                return Err(format!("items `{}` has no fields", items.name));
            }
            if decl.fields.iter().any(|f| f.name == items.name) {
                return Err(format!("items `{}` has the name of a field", items.name));
            }
            let record = record(&items.fields, &format!("items `{}` field", items.name))?;
            Some((items.name.clone(), items.description.clone(), record))
        }
    };
    Ok(SchemaLayout::new(
        SchemaRef {
            name: decl.name.clone(),
            version,
        },
        decl.description.clone(),
        fixed,
        items,
    ))
}

/// Names generated code cannot give a field: Python keywords, Rust names
/// that cannot be raw identifiers, and the generated classes' own members.
const RESERVED: [&str; 42] = [
    "False",
    "None",
    "True",
    "and",
    "as",
    "assert",
    "async",
    "await",
    "break",
    "class",
    "continue",
    "def",
    "del",
    "elif",
    "else",
    "except",
    "finally",
    "for",
    "from",
    "global",
    "if",
    "import",
    "in",
    "is",
    "lambda",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "return",
    "try",
    "while",
    "with",
    "yield",
    "self",
    "super",
    "crate",
    "Self",
    "constructor",
    "from_buffer",
    "writer",
];

/// Why a field or items name cannot be used, if it cannot.
fn field_name_problem(name: &str) -> Option<&'static str> {
    if !is_identifier(name) {
        Some("is not an identifier (letters, digits and `_`, starting with a letter)")
    } else if RESERVED.contains(&name)
        || ["size", "item", "itemCount", "byteLength", "SIZE"].contains(&name)
    {
        Some("is reserved: generated code uses it (or it is a Python keyword)")
    } else {
        None
    }
}

fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= 64
}

/// The layout of one record's fields; `what` names a field in messages.
fn record(fields: &[FieldDecl], what: &str) -> Result<RecordLayout, String> {
    if fields.len() > MAX_FIELDS {
        return Err(format!(
            "it has {} {what}s, more than the {MAX_FIELDS} a record may have",
            fields.len()
        ));
    }
    let mut seen = BTreeSet::new();
    let mut typed = Vec::new();
    for field in fields {
        if let Some(problem) = field_name_problem(&field.name) {
            return Err(format!("{what} `{}` {problem}", excerpt(&field.name)));
        }
        if !seen.insert(field.name.as_str()) {
            return Err(format!("{what} `{}` is declared twice", field.name));
        }
        let (scalar, count) =
            parse_type(&field.type_name).map_err(|m| format!("{what} `{}` {m}", field.name))?;
        let description = field
            .description
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .ok_or_else(|| format!("{what} `{}` has no description", field.name))?;
        typed.push((field.name.clone(), scalar, count, description.to_string()));
    }
    Ok(RecordLayout::new(typed))
}

/// The longest fixed array.
const MAX_ARRAY: u32 = 65536;

/// `T` or `T[N]`: the scalar and, for an array, its length.
fn parse_type(text: &str) -> Result<(Scalar, Option<u32>), String> {
    let unknown = || {
        format!(
            "has unknown type `{}` (types: {}, or a fixed array such as `f32[4]`)",
            excerpt(text),
            Scalar::ALL.map(Scalar::name).join(", ")
        )
    };
    let (base, count) = match text.split_once('[') {
        None => (text, None),
        Some((base, rest)) => {
            let inner = rest.strip_suffix(']').ok_or_else(unknown)?;
            if inner.trim().is_empty() {
                return Err(format!(
                    "has type `{}`: a variable-length array must be the schema's last member (`items`)",
                    excerpt(text)
                ));
            }
            let count: u32 = inner
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=MAX_ARRAY).contains(n))
                .ok_or_else(|| {
                    format!(
                        "has type `{}`: an array's length must be from 1 to {MAX_ARRAY}",
                        excerpt(text)
                    )
                })?;
            (base, Some(count))
        }
    };
    let scalar = Scalar::ALL
        .into_iter()
        .find(|s| s.name() == base.trim())
        .ok_or_else(unknown)?;
    Ok((scalar, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(yaml: &str) -> String {
        let decls: Vec<SchemaDecl> = serde_yaml_ng::from_str(yaml).unwrap();
        check(&decls).err().unwrap_or_default()
    }

    const GOOD: &str = r#"
- name: acme.detections
  version: 1.2
  description: objects in a frame
  fields:
    - { name: frame_seq, type: u64, description: the frame }
    - { name: count, type: u16, description: how many }
    - { name: scores, type: "f32[3]", description: best scores }
  items:
    name: boxes
    fields:
      - { name: x, type: f32, description: left }
      - { name: label, type: u8, description: class }
"#;

    #[test]
    fn a_good_schema_is_laid_out() {
        let decls: Vec<SchemaDecl> = serde_yaml_ng::from_str(GOOD).unwrap();
        let layouts = check(&decls).unwrap();
        let l = &layouts[0];
        assert_eq!(l.id.to_string(), "acme.detections@1.2");
        let offsets: Vec<usize> = l.fixed.fields.iter().map(|f| f.offset).collect();
        assert_eq!(offsets, [0, 8, 12]);
        assert_eq!((l.fixed.size, l.fixed.align), (24, 8));
        let items = l.items.as_ref().unwrap();
        assert_eq!(
            (items.offset, items.record.size, items.record.align),
            (24, 8, 4)
        );
    }

    #[test]
    fn a_version_written_as_a_number_keeps_its_digits() {
        let decls: Vec<SchemaDecl> =
            serde_yaml_ng::from_str(&GOOD.replace("version: 1.2", "version: 1.10")).unwrap();
        assert_eq!(check(&decls).unwrap()[0].id.version.minor, 10);
    }

    #[test]
    fn each_mistake_is_one_sentence() {
        let cases = [
            (
                "type: u64,",
                "type: u128,",
                "field `frame_seq` has unknown type `u128`",
            ),
            (
                "\"f32[3]\"",
                "\"f32[]\"",
                "a variable-length array must be the schema's last member (`items`)",
            ),
            (
                "\"f32[3]\"",
                "\"f32[0]\"",
                "an array's length must be from 1 to 65536",
            ),
            (
                "name: count,",
                "name: frame_seq,",
                "field `frame_seq` is declared twice",
            ),
            (
                "version: 1.2",
                "version: 1",
                "version `1` is not MAJOR.MINOR",
            ),
            (
                "name: acme.detections",
                "name: detections",
                "schemas[0]: name `detections` is not reverse-DNS",
            ),
            (
                "name: acme.detections",
                "name: Acme.x",
                "name `Acme.x` is not reverse-DNS",
            ),
            (
                ", description: the frame",
                "",
                "field `frame_seq` has no description",
            ),
            (
                "{ name: x, type: f32,",
                "{ name: x, type: f33,",
                "items `boxes` field `x` has unknown type `f33`",
            ),
        ];
        for (from, to, expected) in cases {
            let err = refusal(&GOOD.replacen(from, to, 1));
            assert!(err.contains(expected), "{to}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn references_and_compatibility() {
        let r = |s: &str| SchemaRef::parse(s).unwrap();
        assert!(r("acme.d@1.3").serves(&r("acme.d@1.2")).is_ok());
        assert_eq!(
            r("acme.d@2.0").serves(&r("acme.d@1.2")),
            Err("a major version differs")
        );
        assert!(r("acme.d@1.1").serves(&r("acme.d@1.2")).is_err());
        let err = PortSchema::output("acme.detections").unwrap_err();
        assert!(
            err.starts_with("names schema `acme.detections` without a version"),
            "{err}"
        );
        assert!(PortSchema::input("record")
            .unwrap_err()
            .contains("wire code"));
        let err = PortSchema::output("video/rgb565").unwrap_err();
        assert!(
            err.starts_with("has unknown schema `video/rgb565`"),
            "{err}"
        );
        assert_eq!(
            PortSchema::input("acme.d@1.2").unwrap().wire(),
            Accepts::Exactly(SchemaId::Record)
        );
    }
}
