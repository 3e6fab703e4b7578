//! Which file changes are edits of a package: a build's output, Python's
//! bytecode cache, version control, installed dependencies, hidden files
//! and the files editors write beside the one being saved are not, and
//! reloading for them would swap workers over nothing (or forever: a new
//! Python worker writes `__pycache__`, a build writes `target/`).

use std::path::{Component, Path};

use notify::event::{MetadataKind, ModifyKind};
use notify::EventKind;

/// Directories whose contents are made by tools, never edited.
const GENERATED_DIRS: [&str; 4] = ["target", "__pycache__", ".git", "node_modules"];

/// Whether a change at `relative`, a path inside a package directory, is
/// no edit of the package.
pub fn ignored(relative: &Path) -> bool {
    let mut names = relative.components().filter_map(|c| match c {
        Component::Normal(name) => Some(name.to_string_lossy()),
        _ => None,
    });
    names.any(|name| {
        GENERATED_DIRS.contains(&name.as_ref()) || name.starts_with('.') || editor_temp(&name)
    })
}

/// A file an editor writes while saving another: Emacs and others keep the
/// previous text as `name~`, Vim swaps through `.name.swp` and probes
/// whether it may write a directory with a file named `4913`.
fn editor_temp(name: &str) -> bool {
    name.ends_with('~') || name.ends_with(".swp") || name == "4913"
}

/// Whether an event says a file's contents, name or presence changed;
/// reading a file (which a new worker does with every module it imports)
/// does not, and closing a written file follows its writes, which count.
pub fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, RemoveKind, RenameMode};

    use super::*;

    #[test]
    fn sources_and_manifests_are_edits() {
        for path in [
            "marker.py",
            "plexus.yaml",
            "src/lib.rs",
            "Cargo.toml",
            "lib/deep/mod.ts",
            // Names that merely contain an ignored word are still sources.
            "targets.py",
            "my_target/x.py",
            "swp.py",
        ] {
            assert!(!ignored(Path::new(path)), "{path}");
        }
    }

    #[test]
    fn generated_hidden_and_editor_files_are_not() {
        for path in [
            "target/release/libx.so",
            "__pycache__/marker.cpython-312.pyc",
            "sub/__pycache__/x.pyc",
            ".git/index",
            "node_modules/x/index.js",
            ".hidden.py",
            "sub/.env",
            "marker.py~",
            ".marker.py.swp",
            "marker.py.swp",
            "4913",
            "sub/4913",
        ] {
            assert!(ignored(Path::new(path)), "{path}");
        }
    }

    #[test]
    fn writes_count_and_reads_do_not() {
        assert!(is_change(&EventKind::Create(CreateKind::File)));
        assert!(is_change(&EventKind::Remove(RemoveKind::File)));
        assert!(is_change(&EventKind::Modify(ModifyKind::Data(
            DataChange::Content
        ))));
        assert!(is_change(&EventKind::Modify(ModifyKind::Name(
            RenameMode::To
        ))));
        assert!(is_change(&EventKind::Modify(ModifyKind::Metadata(
            MetadataKind::Any
        ))));
        assert!(!is_change(&EventKind::Access(AccessKind::Open(
            AccessMode::Read
        ))));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(!is_change(&EventKind::Modify(ModifyKind::Metadata(
            MetadataKind::AccessTime
        ))));
        assert!(!is_change(&EventKind::Other));
    }
}
