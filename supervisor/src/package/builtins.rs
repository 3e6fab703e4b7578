//! The builtin processors, which `plexus-worker-native` compiles in,
//! described as a package named `builtin` so pipelines are checked against
//! them like against any package, without starting a worker.

use std::path::Path;

use super::manifest::{self, Manifest};

/// The name pipelines and the store reserve for the builtins.
pub const PACKAGE: &str = "builtin";

/// The builtins' manifest, shipped with the native worker that implements them.
const MANIFEST: &str = include_str!("../../../worker-native/builtins.yaml");

/// The builtins' manifest.
pub fn manifest() -> Manifest {
    manifest::parse(Path::new("builtins.yaml"), MANIFEST).expect("the builtins' manifest is valid")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_builtins_manifest_is_valid() {
        assert!(super::manifest()
            .processors
            .iter()
            .any(|p| p.name == "builtin.test_pattern"));
    }
}
