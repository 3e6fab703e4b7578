//! What a package's processors ask for, shown before it is installed from
//! anywhere (a directory, an archive, a URL, an index), as a package
//! manager shows it.

use crate::package::manifest::permissions::asks_for;
use crate::package::manifest::Manifest;

/// What each processor of a package about to be installed asks for, as a
/// package manager shows it before it installs: `example.invert asks for:
/// read models/; connect api.example.com:443`.
pub fn show_asks(manifest: &Manifest) {
    for p in &manifest.processors {
        match p.permissions.items() {
            items if items.is_empty() => println!("{} asks for no permissions", p.name),
            items => println!("{} asks for: {}", p.name, asks_for(&items)),
        }
    }
}
