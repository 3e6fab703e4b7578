//! What a worker process applies to itself before any processor code runs
//! (docs/ARCHITECTURE.md §15).

pub mod interpose;
pub mod violations;
