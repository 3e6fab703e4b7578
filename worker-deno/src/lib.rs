//! `libplexus_deno`: the native half of the Deno worker. The `deno` CLI runs
//! `ts/host.ts`, which opens this library with `Deno.dlopen` and calls
//! [`ffi::plexus_deno_start`]. That starts one Rust thread running the shared
//! worker lifecycle ([`worker_lifecycle::run_worker`]), so every iceoryx2 object
//! lives and dies on that thread. Each processor call the lifecycle makes
//! becomes an event JavaScript fetches with `plexus_deno_next` (a
//! `nonblocking` FFI call); while the lifecycle thread waits for JavaScript to
//! say it is done, it lends the call's output ports to the JavaScript
//! thread, whose synchronous FFI calls loan and send on them directly (see
//! [`bridge`]).
//!
//! The exported symbols and their contract are listed in [`ffi`]. The same
//! library is also a small Node-API addon ([`views`]) that gives JavaScript
//! zero-copy views of frames and loaned buffers.

pub mod bridge;
pub mod ffi;
mod host;
pub mod views;
