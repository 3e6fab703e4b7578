//! Packages (docs/ARCHITECTURE.md §7): the manifest that describes one, the
//! builtin package, `.plexpkg` archives and how they are packed and read
//! safely, the store of installed packages, how a pipeline's `packages:`
//! entries find them, which packages a pipeline runs with once their
//! dependencies are resolved, the panels a pipeline's packages offer, and
//! installing from a URL or an index, signed or not.

pub mod archive;
mod asks;
pub mod builtins;
pub mod commands;
pub mod fetch;
mod locate;
pub mod manifest;
pub mod pack;
pub mod panels;
pub mod resolve;
pub mod store;

pub use locate::locate;
