//! Confining workers (docs/ARCHITECTURE.md §15). The supervisor's share of
//! a worker's sandbox: its Landlock ruleset, built here from the worker's
//! permissions and needs and applied between fork and exec by
//! `run::spawn`, and the probe of what this kernel can enforce at all. The
//! worker adds its seccomp filter itself (crate `worker-sandbox`). The
//! shared-memory keeper opens `/dev/shm` files for the workers whose
//! sandbox leaves it read-only.

pub mod keeper;
pub mod landlock;
pub mod probe;
