//! The plexus supervisor: everything behind the `plexus` command. It reads
//! pipelines and manifests, plans workers, runs them and reports; it never
//! runs processor code itself.

pub mod catalog;
pub mod cli;
pub mod client;
pub mod deno;
pub mod dylib;
pub mod error;
pub mod installer;
pub mod launch;
pub mod manifest;
pub mod observe;
pub mod package;
pub mod pipeline;
pub mod plan;
pub mod python_env;
pub mod restart;
pub mod runtime;
pub mod scaffold;
pub mod schemas;
pub mod summary;
