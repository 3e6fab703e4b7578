//! One home per language a processor can be written in. Everything that
//! differs between Rust, Python and TypeScript — the form of a manifest
//! `entry:`, what a worker is told to load, what must be installed before
//! it starts and how it is started, what `pack` takes and an installed
//! archive must hold, the `plexus new` template — is a method of
//! [`Language`], implemented once per language in this folder. The rest of
//! plexus asks the registry, [`ALL`], and never matches on a language.

// The lockfile names Python requirements and the deno version, so
// `lockfile` asks these two for them.
pub(crate) mod deno;
#[cfg(test)]
mod echo;
pub(crate) mod python;
mod rust;

use std::path::{Path, PathBuf};
use std::process::Command;

use ipc_schemas::{Entry, Permissions, ProcessorSpec};

use crate::error::UserError;
use crate::lockfile::LockedPackage;

/// Every language plexus runs, by the name manifests give it. Adding a
/// language is one module in this folder and one line here.
pub static ALL: &[&dyn Language] = &[
    &rust::Rust,
    &python::Python,
    &deno::Deno,
    #[cfg(test)]
    &echo::Echo,
];

/// A language, as the registry hands it out.
pub type Lang = &'static dyn Language;

/// The language manifests call `name`.
pub fn by_name(name: &str) -> Option<Lang> {
    ALL.iter().copied().find(|l| l.name() == name)
}

/// The names of every language, for messages and `--lang`.
pub fn names() -> Vec<&'static str> {
    ALL.iter().map(|l| l.name()).collect()
}

/// A processor type as its package declares it, for [`Language::resolve`].
pub struct Declared<'a> {
    pub type_name: &'a str,
    pub entry: &'a str,
    /// The package's directory.
    pub dir: &'a Path,
    /// Packed or installed: runs only what is inside `dir`.
    pub sealed: bool,
}

/// A processor of the plan, as its language provisions it.
pub struct Hosted<'a> {
    /// The package that declares its type, for messages.
    pub package: &'a str,
    pub entry: &'a mut Entry,
    /// The lockfile's entry for that package, when the run is locked.
    pub locked: Option<&'a LockedPackage>,
}

/// How processors written in one language are checked, provisioned,
/// started, packed and scaffolded.
pub trait Language: Sync {
    /// The name manifests, `ps`, summaries and JSON use: `rust`, `python`,
    /// `deno`.
    fn name(&self) -> &'static str;

    /// Whether a manifest `entry:` has this language's form.
    fn entry_fits(&self, entry: &str) -> bool;

    /// That form, for the message when an entry does not fit.
    fn entry_form(&self) -> &'static str;

    /// What a worker is told to load for `declared`, or one sentence on why
    /// it cannot be loaded.
    fn resolve(&self, declared: &Declared) -> Result<Entry, String>;

    /// Installs or finds what workers of this language need before any
    /// starts, completing the entries of the `processors` they will host;
    /// returns how to start those workers.
    fn provision(&self, processors: &mut [Hosted]) -> anyhow::Result<Box<dyn Launch>>;

    /// Whether `plexus pack` takes the package file at archive path `name`
    /// (the manifest and top-level documents are always taken).
    fn packs(&self, name: &str) -> bool;

    /// A built file `plexus pack` must add for `entry`, as (archive path,
    /// file), such as a Rust plugin library; most languages build nothing.
    fn built_file(
        &self,
        _dir: &Path,
        _entry: &str,
    ) -> Result<Option<(String, PathBuf)>, UserError> {
        Ok(None)
    }

    /// Whether an unpacked archive in `dir` holds what `entry` names.
    fn archive_holds(&self, dir: &Path, entry: &str) -> bool;

    /// What `plexus new --lang <name>` writes.
    fn template(&self) -> Template;
}

/// How to start the workers of one language, once provisioned.
pub trait Launch {
    /// The command that starts a worker hosting processors with `entries`,
    /// which may do `permissions` (`None`: no sandbox); the caller adds
    /// identity, pipes and process hygiene.
    fn command(
        &self,
        entries: &[&Entry],
        permissions: Option<&Permissions>,
    ) -> anyhow::Result<Command>;

    /// What a worker hosting processors with `entries` reads to start and
    /// load them (its interpreter, libraries, packages), beyond the system
    /// files every worker reads: its sandbox lets it read these (§15).
    fn needs(&self, entries: &[&Entry]) -> Vec<PathBuf>;

    /// How the worker's runtime writes its shared memory.
    fn shared_memory(&self) -> SharedMemory;

    /// What a worker started with `--check` reads on stdin (`validate
    /// --deep`): the processors to load short of their setup, as the JSON
    /// array of their specs, unless the language's worker wants them told
    /// otherwise.
    fn check_input(&self, specs: &[&ProcessorSpec]) -> anyhow::Result<String> {
        Ok(serde_json::to_string(specs)?)
    }
}

/// How a worker writes its files in `/dev/shm`, which decides what its
/// sandbox lets it do there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedMemory {
    /// It opens them itself: read-write in its sandbox. Deno workers, whose
    /// JavaScript cannot reach `/dev/shm`, and native and Python workers
    /// until the shared-memory keeper serves them.
    Direct,
    /// The supervisor's keeper opens them for it: read-only in its sandbox.
    Keeper,
}

/// Starts a worker binary shipped beside `plexus`, whatever it hosts.
pub struct WorkerBinary(pub PathBuf);

impl Launch for WorkerBinary {
    fn command(
        &self,
        _entries: &[&Entry],
        _permissions: Option<&Permissions>,
    ) -> anyhow::Result<Command> {
        Ok(Command::new(&self.0))
    }

    fn needs(&self, entries: &[&Entry]) -> Vec<PathBuf> {
        entry_paths(entries)
    }

    fn shared_memory(&self) -> SharedMemory {
        SharedMemory::Direct
    }
}

/// What the processors of `entries` are loaded from: their packages'
/// directories, their Python environments, the directories of their plugin
/// libraries.
pub fn entry_paths(entries: &[&Entry]) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = entries
        .iter()
        .flat_map(|entry| match entry {
            Entry::Builtin => Vec::new(),
            Entry::Dylib { path } => Path::new(path)
                .parent()
                .map(Path::to_path_buf)
                .into_iter()
                .collect(),
            Entry::Python {
                package_dir,
                site_packages,
                ..
            } => std::iter::once(package_dir)
                .chain(site_packages)
                .map(PathBuf::from)
                .collect(),
            Entry::Deno { package_dir, .. } => vec![PathBuf::from(package_dir)],
        })
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// The files of a new package in one language. Texts may hold `{{name}}`,
/// `{{class}}`, `{{crate}}`, `{{library}}`, `{{language}}`, `{{entry}}` and the
/// other keys `plexus new` fills in.
pub struct Template {
    /// How a README names the language.
    pub title: &'static str,
    /// The manifest `entry:` of the new processor.
    pub entry: &'static str,
    /// What to run before the package can run, if anything.
    pub build: Option<&'static str>,
    /// The processor's own file.
    pub processor: ProcessorFile,
    /// Other files rendered with the package's names, as (path, text).
    pub files: &'static [(&'static str, &'static str)],
    /// Files written as they are, such as a vendored SDK.
    pub verbatim: fn() -> Vec<(String, String)>,
    /// Library names the language's own tools refuse.
    pub reserved_names: &'static [&'static str],
}

/// The file of a new package's processor, in each kind `plexus new` makes.
pub struct ProcessorFile {
    pub path: &'static str,
    /// A reactive processor (it brightens video).
    pub effect: &'static str,
    /// A manual source (it makes video of its own).
    pub source: &'static str,
}

/// No verbatim files.
pub fn nothing_verbatim() -> Vec<(String, String)> {
    Vec::new()
}

impl std::fmt::Debug for dyn Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq for dyn Language {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

/// A path that stays inside the directory it is relative to.
pub fn relative_path(path: &str) -> bool {
    !path.is_empty()
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains('\\'))
}

/// The package directory as workers see it: absolute, symlinks resolved.
fn canonical(dir: &Path) -> PathBuf {
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())
}
