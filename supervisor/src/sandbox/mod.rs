//! Confining workers (docs/ARCHITECTURE.md §15).

pub mod keeper;
