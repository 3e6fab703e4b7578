//! Watching and steering a running runtime from another process
//! (docs/ARCHITECTURE.md §8): `plexus events`, `ps`, `top` and `tap` join the runtime's bus
//! as guests and never change what it does; `stop`, `restart` and `set`
//! (config changes) ask it through its control service (`client`).
//! `runs`, `summary`, `logs`, `attach` and `wait` read the run journal, so
//! they work on runs that ended too.

pub mod client;
mod events;
mod logs;
mod ps;
mod runs;
pub mod set;
mod tap;
mod top;
mod waiting;

pub use events::{watch, WatchOptions};
pub use logs::{attach, logs, LogsOptions};
pub use ps::ps;
pub use runs::{runs, runs_json, summary, summary_json, wait};
pub use tap::{check_port, subscribe, tap, TapOptions};
pub use top::top;
pub use waiting::{Waiter, Woken};
