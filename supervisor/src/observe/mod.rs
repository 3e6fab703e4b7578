//! Watching and steering a running runtime from another process
//! (docs/ARCHITECTURE.md §8): `plexus events`, `ps` and `tap` join the runtime's bus
//! as guests and never change what it does; `stop`, `restart` and `set`
//! (`set`: config changes) ask it through its control service (`client`).

pub mod client;
mod events;
mod ps;
pub mod set;
mod tap;
mod waiting;

pub use events::{watch, WatchOptions};
pub use ps::ps;
pub(crate) use tap::subscribe;
pub use tap::{tap, TapOptions};
pub(crate) use waiting::{Waiter, Woken};
