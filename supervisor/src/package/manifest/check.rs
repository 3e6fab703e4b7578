//! What a manifest says that parsing alone cannot check: name formats, the
//! version and the plexus range, entries that fit their language, known
//! schemas, modes and config schemas. Each failure is one sentence naming
//! the field; the caller adds the file.

use std::collections::BTreeSet;

use ipc_schemas::names::{validate_id, NameError};

use crate::error::excerpt;

use super::schemas::{self, PortSchema, SchemaLayout};
use super::{config, Manifest, Mode, PortDecl, ProcessorDecl, PLEXUS_VERSION};

const NAME_RULE: &str =
    "lowercase words of letters, digits, `_` or `-`, joined by dots, e.g. `acme.filters`";

/// A package or processor type name: dot-separated lowercase words, each
/// starting with a letter. Such a name is also safe as a directory name.
pub fn is_package_name(name: &str) -> bool {
    name.len() <= 64
        && name.split('.').all(|word| {
            let mut bytes = word.bytes();
            bytes.next().is_some_and(|b| b.is_ascii_lowercase())
                && bytes
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
}

pub fn manifest(m: &Manifest) -> Result<(), String> {
    let info = &m.package;
    if !is_package_name(&info.name) {
        return Err(format!(
            "package.name `{}` is not a package name ({NAME_RULE})",
            excerpt(&info.name)
        ));
    }
    semver::Version::parse(&info.version).map_err(|e| {
        format!(
            "package.version `{}` is not a semantic version like 1.2.0 ({e})",
            excerpt(&info.version)
        )
    })?;
    if let Some(range) = &info.plexus {
        let req = semver::VersionReq::parse(range).map_err(|e| {
            format!(
                "package.plexus `{}` is not a version range like \">=0.1\" ({e})",
                excerpt(range)
            )
        })?;
        let this = semver::Version::parse(PLEXUS_VERSION).expect("cargo versions are semver");
        if !req.matches(&this) {
            return Err(format!(
                "package `{}` needs plexus {range}, but this is plexus {PLEXUS_VERSION}",
                info.name
            ));
        }
    }
    let own = schemas::check(&m.schemas)?;
    if m.processors.is_empty() && own.is_empty() {
        return Err("the package declares no processors and no schemas".to_string());
    }
    let mut names = BTreeSet::new();
    for decl in &m.processors {
        if !names.insert(decl.name.as_str()) {
            return Err(format!(
                "processor `{}` is declared twice",
                excerpt(&decl.name)
            ));
        }
        processor(decl, &own).map_err(|m| format!("processor `{}`: {m}", excerpt(&decl.name)))?;
    }
    super::panels::check(m)
}

fn processor(decl: &ProcessorDecl, own: &[SchemaLayout]) -> Result<(), String> {
    if !is_package_name(&decl.name) {
        return Err(format!(
            "the name is not a processor type name ({NAME_RULE})"
        ));
    }
    entry(decl)?;
    match (decl.mode, decl.interval_ms) {
        (Mode::Reactive, _) if decl.inputs.is_empty() => {
            return Err("mode reactive needs at least one input to react to".to_string())
        }
        (Mode::Manual, _) if !decl.inputs.is_empty() => {
            return Err(
                "mode manual produces on its own and takes no inputs (mode continuous may read inputs too)"
                    .to_string(),
            )
        }
        (Mode::Continuous, Some(0)) => return Err("interval_ms must be at least 1".to_string()),
        (Mode::Reactive | Mode::Manual, Some(_)) => {
            return Err(format!(
                "interval_ms applies to mode continuous, not {}",
                decl.mode.name()
            ))
        }
        _ => {}
    }
    ports("input", &decl.inputs, PortSchema::input, own)?;
    super::sync::resolve(None, decl.sync.as_ref(), &decl.inputs)?;
    ports("output", &decl.outputs, PortSchema::output, own)?;
    for (key, field) in &decl.config {
        validate_id(key).map_err(|_| format!("config key {}", NameError::Invalid(excerpt(key))))?;
        config::check_field(key, field)?;
    }
    decl.permissions.check(
        "permissions",
        super::permissions::Scope::Manifest(&decl.config),
    )
}

/// Checks a port list: names, and schemas `parse` reads; a schema of this
/// package's own (`own`) must be one it defines, at that version or older.
fn ports(
    kind: &str,
    list: &[PortDecl],
    parse: fn(&str) -> Result<PortSchema, String>,
    own: &[SchemaLayout],
) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for port in list {
        validate_id(&port.name)
            .map_err(|_| format!("{kind} port {}", NameError::Invalid(excerpt(&port.name))))?;
        if !seen.insert(port.name.as_str()) {
            return Err(format!("{kind} `{}` is declared twice", port.name));
        }
        let schema = parse(&port.schema).map_err(|m| format!("{kind} `{}` {m}", port.name))?;
        let PortSchema::Package(wanted) = schema else {
            continue;
        };
        if let Some(defined) = own.iter().find(|l| l.id.name == wanted.name) {
            defined.id.serves(&wanted).map_err(|why| {
                format!(
                    "{kind} `{}` names {wanted}, but this package defines {}; {why}",
                    port.name, defined.id
                )
            })?;
        }
    }
    Ok(())
}

fn entry(decl: &ProcessorDecl) -> Result<(), String> {
    if decl.language.entry_fits(&decl.entry) {
        return Ok(());
    }
    Err(format!(
        "entry `{}` does not fit language {}; it is {}",
        excerpt(&decl.entry),
        decl.language.name(),
        decl.language.entry_form()
    ))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn refusal(package: &str, processor: &str) -> String {
        let text = format!("package: {{ {package} }}\nprocessors:\n  - {{ {processor} }}\n");
        super::super::parse(Path::new("plexus.yaml"), &text)
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string())
    }

    const PKG: &str = "name: acme.fx, version: 1.0.0";
    const PROC: &str = "name: acme.blur, language: python, entry: m:C, mode: reactive, inputs: [{ name: in, schema: any }]";

    #[test]
    fn a_good_manifest_passes() {
        assert_eq!(refusal(PKG, PROC), "");
        assert_eq!(refusal(&format!("{PKG}, plexus: \">=0.1\""), PROC), "");
    }

    #[test]
    fn each_mistake_is_named() {
        let cases = [
            ("name: Acme, version: 1.0.0", PROC, "package.name `Acme`"),
            ("name: ../x, version: 1.0.0", PROC, "package.name `../x`"),
            ("name: acme, version: 1.0", PROC, "package.version `1.0`"),
            ("name: acme, version: one", PROC, "package.version `one`"),
            (
                "name: acme, version: 1.0.0, plexus: \">=99\"",
                PROC,
                "needs plexus >=99, but this is plexus",
            ),
            ("name: acme, version: 1.0.0, plexus: soon", PROC, "package.plexus `soon`"),
            (PKG, "name: acme.blur, language: python, entry: m.py, mode: manual", "entry `m.py` does not fit language python"),
            (PKG, "name: acme.blur, language: deno, entry: ../x.ts#X, mode: manual", "entry `../x.ts#X`"),
            (PKG, "name: acme.blur, language: rust, entry: /lib/x.so, mode: manual", "entry `/lib/x.so`"),
            (PKG, "name: acme.blur, language: python, entry: m:C, mode: reactive", "mode reactive needs at least one input"),
            (PKG, "name: acme.blur, language: python, entry: m:C, mode: manual, interval_ms: 5", "interval_ms applies to mode continuous"),
            (PKG, "name: acme.blur, language: python, entry: m:C, mode: manual, inputs: [{ name: in, schema: any }]", "mode manual produces on its own and takes no inputs"),
            (PKG, "name: acme.blur, language: python, entry: m:C, mode: manual, outputs: [{ name: out, schema: video/rgb565 }]", "output `out` has unknown schema `video/rgb565`"),
            (PKG, "name: acme.blur, language: python, entry: m:C, mode: manual, config: { k: { type: integer, default: x } }", "processor `acme.blur`: default: config `k` must be of type integer"),
            (PKG, "name: acme.blur, language: python, entry: m:C, mode: sometimes", "unknown variant `sometimes`"),
            (PKG, "name: acme.blur, language: python, entry: m:C, mode: manual, permissions: { read: [../x] }", "processor `acme.blur`: permissions.read `../x` leaves the package directory"),
            (PKG, "name: acme.blur, language: python, entry: m:C, mode: manual, permissions: { network: { listen: [0] } }", "processor `acme.blur`: permissions.network.listen port 0"),
            (PKG, "name: acme.blur, language: python, entry: m:C, mode: manual, permissions: { exec: true }", "unknown field `exec`"),
        ];
        for (package, processor, expected) in cases {
            let err = refusal(package, processor);
            assert!(
                err.starts_with("plexus.yaml: ") && err.contains(expected),
                "{package} / {processor}: {err}"
            );
        }
    }
}
