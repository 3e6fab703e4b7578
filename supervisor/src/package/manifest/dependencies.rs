//! A manifest's `dependencies:`: the other packages, by name and semver
//! requirement, that must be installed beside this one (their schemas or
//! processors are what it works with). Checked when the manifest is read;
//! resolved against the store by `package::resolve`.

use std::collections::BTreeSet;

use semver::VersionReq;
use serde::Deserialize;

use super::check::is_package_name;
use crate::error::excerpt;

/// One `dependencies:` entry: `{ name: acme.filters, version: "^1.2" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    pub name: String,
    /// A semver requirement (`^1.2`, `>=1.0, <2`, `=1.4.0`); YAML may read
    /// `1` as a number, which is taken as text so the check can name it.
    #[serde(deserialize_with = "super::text")]
    pub version: String,
}

impl Dependency {
    /// The requirement; valid, as every loaded manifest was checked.
    pub fn requirement(&self) -> VersionReq {
        VersionReq::parse(&self.version).expect("checked when the manifest was read")
    }
}

/// Each name a package name, other than the package's own and given once;
/// each version a semver requirement.
pub fn check(package: &str, dependencies: &[Dependency]) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for (index, dep) in dependencies.iter().enumerate() {
        let at = format!("dependencies[{index}]");
        if !is_package_name(&dep.name) {
            return Err(format!(
                "{at}.name `{}` is not a package name",
                excerpt(&dep.name)
            ));
        }
        if dep.name == package {
            return Err(format!("{at}: package `{package}` cannot depend on itself"));
        }
        if !seen.insert(dep.name.as_str()) {
            return Err(format!("{at}: `{}` is named twice", dep.name));
        }
        VersionReq::parse(&dep.version).map_err(|e| {
            format!(
                "{at}.version `{}` is not a version requirement like \"^1.2\" ({e})",
                excerpt(&dep.version)
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn refusal(dependencies: &str) -> String {
        let text = format!(
            "package: {{ name: acme.fx, version: 1.0.0 }}\ndependencies: {dependencies}\nprocessors:\n  - {{ name: acme.blur, language: python, entry: m:C, mode: reactive, inputs: [{{ name: in, schema: any }}] }}\n"
        );
        super::super::parse(Path::new("plexus.yaml"), &text)
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn good_dependencies_pass() {
        assert_eq!(
            refusal("[{ name: acme.base, version: \"^1.2\" }, { name: acme.io, version: 2 }]"),
            ""
        );
        assert_eq!(refusal("[]"), "");
    }

    #[test]
    fn each_mistake_is_named() {
        let cases = [
            (
                "[{ name: Acme, version: \"^1\" }]",
                "dependencies[0].name `Acme`",
            ),
            (
                "[{ name: acme.fx, version: \"^1\" }]",
                "cannot depend on itself",
            ),
            (
                "[{ name: a.b, version: \"^1\" }, { name: a.b, version: \"^2\" }]",
                "dependencies[1]: `a.b` is named twice",
            ),
            (
                "[{ name: a.b, version: soon }]",
                "dependencies[0].version `soon`",
            ),
            ("[{ name: a.b }]", "missing field `version`"),
            (
                "[{ name: a.b, version: \"1\", optional: true }]",
                "unknown field `optional`",
            ),
        ];
        for (deps, expected) in cases {
            let err = refusal(deps);
            assert!(
                err.starts_with("plexus.yaml: ") && err.contains(expected),
                "{deps}: {err}"
            );
        }
    }
}
