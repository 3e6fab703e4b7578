//! Packages beyond a plain directory (ARCHITECTURE §7): `.plexpkg`
//! archives, how they are packed and read safely, the store of installed
//! packages, and how a pipeline's `packages:` entries find them.

pub mod archive;
pub mod commands;
mod locate;
pub mod pack;
pub mod store;

pub use locate::locate;
