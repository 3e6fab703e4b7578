//! Watching a running runtime from another process (ARCHITECTURE §8):
//! `plexus events`, `plexus ps` and `plexus tap`. Each joins the runtime's
//! bus as a guest and never changes what the runtime does.

mod events;
mod ps;
mod tap;
mod waiting;

pub use events::{watch, WatchOptions};
pub use ps::ps;
pub use tap::{tap, TapOptions};
