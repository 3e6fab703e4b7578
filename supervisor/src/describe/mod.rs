//! Commands that describe what plexus knows without running anything: the
//! frame schemas ports may name, and the processor types pipelines may use.

pub mod package_schemas;
pub mod schemas;
pub mod types;
