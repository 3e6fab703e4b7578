//! The plexus supervisor: everything behind the `plexus` command. It reads
//! pipelines and manifests, plans workers, runs them and reports; it never
//! runs processor code itself. Its rooms follow the command line: `load`
//! (pipeline → plan), `language` (one home per language), `provision`
//! (caches, installers, binaries), `run` (a runtime and its summary),
//! `observe` (commands that watch or steer a live runtime), `watch` (`run --watch`), `package`,
//! `lockfile` (`plexus lock`, `--locked`), `scaffold` (`plexus new`), `describe` and `graph` (`plexus graph`), `sandbox` (confining workers). The map is docs/ARCHITECTURE.md.

pub mod cli;
pub mod codegen;
pub mod describe;
pub mod digest;
pub mod error;
pub mod graph;
pub mod journal;
pub mod language;
pub mod load;
pub mod lockfile;
pub mod observe;
pub mod package;
pub mod provision;
pub mod record;
pub mod run;
pub mod sandbox;
pub mod scaffold;
pub mod table;
pub mod watch;
pub mod yaml;
