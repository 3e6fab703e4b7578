//! `plexus new`: a processor package in Rust, Python or TypeScript that
//! builds, packs and runs in its generated pipeline as it is, so a plugin
//! author starts from something that works: an effect, or with `--source` a
//! source that produces on its own. The files come from
//! `supervisor/templates/`, embedded when plexus is built; what differs per
//! language is the language's [`Template`](crate::language::Template).

use std::path::{Path, PathBuf};

use crate::error::UserError;
use crate::language::Lang;
use crate::package::manifest::{self, is_package_name};

/// What kind of processor a new package holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A reactive processor between the test pattern and a sink.
    Effect,
    /// A manual source that produces on its own, into a sink.
    Source,
}

impl Kind {
    /// The manifest, pipeline and README every language shares.
    fn shared(self) -> [(&'static str, &'static str); 3] {
        match self {
            Kind::Effect => [
                (
                    manifest::MANIFEST_FILE,
                    include_str!("../../templates/plexus.yaml"),
                ),
                (PIPELINE_FILE, include_str!("../../templates/pipeline.yaml")),
                ("README.md", include_str!("../../templates/README.md")),
            ],
            Kind::Source => [
                (
                    manifest::MANIFEST_FILE,
                    include_str!("../../templates/source/plexus.yaml"),
                ),
                (
                    PIPELINE_FILE,
                    include_str!("../../templates/source/pipeline.yaml"),
                ),
                (
                    "README.md",
                    include_str!("../../templates/source/README.md"),
                ),
            ],
        }
    }
}

/// The file a new package's pipeline is written to.
pub const PIPELINE_FILE: &str = "pipeline.yaml";

/// Creates package `name` in `parent/name` and returns its directory. The
/// files are written into a hidden sibling first and renamed into place, so
/// a failure leaves no half-made package.
pub fn create(lang: Lang, kind: Kind, name: &str, parent: &Path) -> Result<PathBuf, UserError> {
    let names = Names::of(lang, name)?;
    if !parent.is_dir() {
        return Err(UserError::in_file(
            parent,
            "is not a directory to create the package in",
        ));
    }
    let dir = parent.join(name);
    if dir.symlink_metadata().is_ok() {
        return Err(UserError::in_file(
            &dir,
            "already exists; plexus new never overwrites, so choose another name or --dir",
        ));
    }
    let staging = parent.join(format!(".{name}.new-{}", std::process::id()));
    // Left by an earlier plexus with the same pid that was killed half-way.
    let _ = std::fs::remove_dir_all(&staging);
    let written = write_all(&staging, &files(lang, kind, &names))
        .and_then(|()| std::fs::rename(&staging, &dir));
    written.map_err(|e| {
        // Best effort: the staging directory is ours and only half made.
        let _ = std::fs::remove_dir_all(&staging);
        UserError::in_file(&dir, format!("cannot create the package: {e}"))
    })?;
    Ok(dir)
}

/// What to do next, for the message `plexus new` prints.
pub fn next_steps(lang: Lang, dir: &Path) -> String {
    let build = lang
        .template()
        .build
        .map_or(String::new(), |b| format!("{b} && "));
    format!(
        "cd {} && {build}plexus run {PIPELINE_FILE} --frames 100",
        dir.display()
    )
}

/// The names a package's files use, derived from its package name.
#[derive(Debug)]
struct Names {
    package: String,
    /// The processor's class or struct: `acme.edge-glow` gives `EdgeGlow`.
    class: String,
    /// The Cargo package (Rust only).
    crate_name: String,
    /// The library file the crate builds (Rust only).
    library: String,
}

impl Names {
    fn of(lang: Lang, package: &str) -> Result<Names, UserError> {
        if !is_package_name(package) {
            return Err(UserError::Plain(format!(
                "`{package}` is not a package name: use lowercase words of letters, digits, `_` or `-`, joined by dots, e.g. `acme.brighten`"
            )));
        }
        let crate_name = package.replace('.', "-");
        let lib = crate_name.replace('-', "_");
        if lang.template().reserved_names.contains(&lib.as_str()) {
            return Err(UserError::Plain(format!(
                "`{package}` cannot name a {} library (`{lib}` is reserved in {}); add a prefix such as `acme.{package}`",
                lang.template().title,
                lang.template().title
            )));
        }
        let last = package.rsplit('.').next().unwrap_or(package);
        let mut class: String = last
            .split(['-', '_'])
            .map(|word| {
                let mut chars = word.chars();
                chars.next().map_or(String::new(), |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect();
        // Capitalised words that are keywords in Python or Rust.
        if ["None", "True", "False", "Self"].contains(&class.as_str()) {
            class.push_str("Processor");
        }
        Ok(Names {
            package: package.to_string(),
            class,
            library: format!("lib{lib}.so"),
            crate_name,
        })
    }
}

/// Every file of a new package, by path inside it.
fn files(lang: Lang, kind: Kind, names: &Names) -> Vec<(String, String)> {
    let plexus = manifest::PLEXUS_VERSION;
    let plexus_minor = plexus.rsplit_once('.').map_or(plexus, |(minor, _)| minor);
    let template = lang.template();
    let build = template.build.map_or(String::new(), |b| {
        format!("{b:<45}# builds the plugin library\n")
    });
    let mut vars: Vec<(&str, &str)> = vec![
        ("name", &names.package),
        ("class", &names.class),
        ("crate", &names.crate_name),
        ("library", &names.library),
        ("language", lang.name()),
        ("title", template.title),
        ("plexus_minor", plexus_minor),
        ("build", &build),
    ];
    let entry = fill(template.entry, &vars);
    vars.push(("entry", &entry));
    let render = |text: &str| fill(text, &vars);
    let processor = match kind {
        Kind::Effect => template.processor.effect,
        Kind::Source => template.processor.source,
    };
    let mut files: Vec<(String, String)> = kind
        .shared()
        .into_iter()
        .chain([(template.processor.path, processor)])
        .map(|(path, text)| (path.to_string(), render(text)))
        .collect();
    files.extend(
        template
            .files
            .iter()
            .map(|(path, text)| (path.to_string(), render(text))),
    );
    files.extend((template.verbatim)());
    files
}

/// Replaces each `{{key}}` in `template`.
fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    vars.iter()
        .fold(template.to_string(), |text, (key, value)| {
            text.replace(&format!("{{{{{key}}}}}"), value)
        })
}

fn write_all(root: &Path, files: &[(String, String)]) -> std::io::Result<()> {
    for (path, text) in files {
        let path = root.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
