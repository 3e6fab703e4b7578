//! Commands that describe what plexus knows without running anything: the
//! frame schemas ports may name.

pub mod schemas;
