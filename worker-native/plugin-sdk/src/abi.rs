//! The C ABI between the native worker and plugin libraries, version 3.1.
//! Version 3.1 appended `snapshot` and `restore` to the processor table,
//! which carry a processor's state across a live swap (`plexus upgrade`);
//! the host gives a 3.0 table, which ends before them, the defaults (no
//! state kept, none taken). Version 3 grew the frame header from 56 to 96 bytes (a rate, and the
//! shape and strides of audio, sample and tensor frames); its tables are
//! those of 2.1, `configure` included. Version 2 gave frame headers a
//! presentation time and duration, let one `process` call take a frame of
//! every input, and added manual processors (`start`/`stop`, sending from
//! their own threads), pause hooks and (2.1) `configure` for live config.
//! The host refuses plugins of an older major by name: they read and write
//! headers of another size, and must be rebuilt.
//!
//! Only `#[repr(C)]` data, raw pointers with a documented owner and
//! `extern "C"` functions cross it; no Rust type with an unstable layout and
//! no allocation is ever freed on the other side. Rules:
//! - The library exports [`ENTRY_SYMBOL`], an `extern "C" fn() -> *const PluginDescriptor`
//!   whose result lives as long as the library (it is never unloaded).
//! - The host refuses a descriptor whose `abi_major` differs from
//!   [`ABI_MAJOR`] or whose `abi_minor` is above [`ABI_MINOR`]; `struct_size`
//!   fields let later minors append fields.
//! - Errors are written by the plugin into the host's [`ErrorBuf`]
//!   (truncated to its capacity); no string is handed back to be freed.
//! - No call may unwind across the boundary: the SDK wraps each one in
//!   `catch_unwind` and turns a panic into [`STATUS_PANIC`].

use std::ffi::{c_char, c_void};

pub use plexus_frame::FrameHeader;

pub const ABI_MAJOR: u32 = 3;
pub const ABI_MINOR: u32 = 1;

/// The exported entry point; the ABI major is part of the name so that a
/// library of another major fails with "symbol not found", not with UB.
pub const ENTRY_SYMBOL: &str = "plexus_plugin_entry_v3";

pub type EntryFn = unsafe extern "C" fn() -> *const PluginDescriptor;

pub const STATUS_OK: i32 = 0;
pub const STATUS_ERROR: i32 = 1;
pub const STATUS_PANIC: i32 = 2;
/// `configure`: the processor has no `on_config` hook, or cannot take
/// these keys in place; the host restarts its worker with the new config.
/// `snapshot` (3.1): the processor keeps no state.
pub const STATUS_NO_HOOK: i32 = 3;

/// What a plugin library offers.
#[repr(C)]
pub struct PluginDescriptor {
    pub struct_size: u32,
    pub abi_major: u32,
    pub abi_minor: u32,
    /// NUL-terminated SDK version, informational.
    pub sdk_version: *const c_char,
    pub processor_count: u32,
    /// `processor_count` entries.
    pub processors: *const ProcessorVTable,
}

// SAFETY: descriptors are immutable statics of the plugin.
unsafe impl Sync for PluginDescriptor {}

/// Creates an instance from the pipeline config (JSON text, not
/// NUL-terminated). Returns null and fills `error` on failure.
pub type CreateFn = unsafe extern "C" fn(
    config_json: *const u8,
    config_len: usize,
    error: *mut ErrorBuf,
) -> *mut c_void;
/// Handles input frames: one (`count` 1), or one of every input at once
/// for a processor whose inputs are synchronised (`sync: all` or
/// `latest`). Returns a `STATUS_*` and fills `error` unless OK.
pub type ProcessFn = unsafe extern "C" fn(
    instance: *mut c_void,
    inputs: *const FrameIn,
    count: u32,
    outputs: *const HostOutputs,
    error: *mut ErrorBuf,
) -> i32;
/// Tears the instance down and frees it.
pub type DestroyFn = unsafe extern "C" fn(instance: *mut c_void);
/// One production step of a continuous processor (a source): `next` is the
/// header its frames default to (the next sequence number, this call's
/// capture time). Returns a `STATUS_*` and fills `error` unless OK.
pub type ProduceFn = unsafe extern "C" fn(
    instance: *mut c_void,
    next: *const FrameHeader,
    outputs: *const HostOutputs,
    error: *mut ErrorBuf,
) -> i32;

/// Starts a manual processor: it sends through `outputs`, from threads of
/// its own, until `stop` returns; `outputs` stays valid until then and its
/// callbacks may be called from any thread (one thread per port at a time).
/// Returns a `STATUS_*` and fills `error` unless OK.
pub type StartFn = unsafe extern "C" fn(
    instance: *mut c_void,
    outputs: *const HostOutputs,
    error: *mut ErrorBuf,
) -> i32;
/// A call with nothing but the instance: `stop`, and the pause hooks.
/// Returns a `STATUS_*` and fills `error` unless OK.
pub type HookFn = unsafe extern "C" fn(instance: *mut c_void, error: *mut ErrorBuf) -> i32;

/// Hands a running instance config changes (ABI 2.1): a JSON object of the
/// changed keys and their new values (not NUL-terminated), checked against
/// the processor's schema. Returns `STATUS_OK` when the instance took them,
/// [`STATUS_NO_HOOK`] when it cannot take them in place, else a `STATUS_*`
/// with `error` filled, and the instance keeps its old config.
pub type ConfigFn = unsafe extern "C" fn(
    instance: *mut c_void,
    changes_json: *const u8,
    changes_len: usize,
    error: *mut ErrorBuf,
) -> i32;

/// Takes a running instance's state for its successor (ABI 3.1), after the
/// last frame it handles: the plugin writes the state through `sink`,
/// which the host owns and which is valid for this call only, and returns
/// `STATUS_OK`; [`STATUS_NO_HOOK`] when it keeps no state; else a
/// `STATUS_*` with `error` filled.
pub type SnapshotFn = unsafe extern "C" fn(
    instance: *mut c_void,
    sink: *const StateSink,
    error: *mut ErrorBuf,
) -> i32;

/// Hands a new instance its predecessor's state (ABI 3.1), after `create`
/// and before its first frame: `len` bytes at `state`, the host's, valid
/// for this call only. Returns a `STATUS_*` and fills `error` unless OK.
pub type RestoreFn = unsafe extern "C" fn(
    instance: *mut c_void,
    state: *const u8,
    len: usize,
    error: *mut ErrorBuf,
) -> i32;

/// Where a plugin's `snapshot` writes the state: the host copies each
/// chunk `write` is given, in order, into memory of its own.
#[repr(C)]
pub struct StateSink {
    pub struct_size: u32,
    pub ctx: *mut c_void,
    /// Appends `len` bytes at `data` to the state; returns a `STATUS_*`:
    /// an error once the state would be larger than the host carries.
    pub write: unsafe extern "C" fn(ctx: *mut c_void, data: *const u8, len: usize) -> i32,
}

/// One processor type of a plugin. A plugin's table is an array of these;
/// its stride is `struct_size`, so later minors may append entries.
#[repr(C)]
pub struct ProcessorVTable {
    pub struct_size: u32,
    /// NUL-terminated processor type name, e.g. `example.grayscale`.
    pub type_name: *const c_char,
    pub create: CreateFn,
    pub process: ProcessFn,
    pub destroy: DestroyFn,
    pub produce: ProduceFn,
    pub start: StartFn,
    /// Ends what `start` began; returns once the plugin's threads no longer
    /// send.
    pub stop: HookFn,
    /// The operator paused the processor (`plexus pause`).
    pub pause: HookFn,
    /// The operator resumed it.
    pub resume: HookFn,
    /// Config changes while it runs (`plexus set`); `None` is no hook.
    pub configure: Option<ConfigFn>,
    /// 3.1: the instance's state for its successor; `None` keeps none. A
    /// 3.0 table ends before this field ([`VTABLE_3_0_SIZE`]).
    pub snapshot: Option<SnapshotFn>,
    /// 3.1: takes its predecessor's state; `None` cannot.
    pub restore: Option<RestoreFn>,
}

/// The size of a processor table of ABI 3.0, which has neither `snapshot`
/// nor `restore`: the smallest table of this major.
pub const VTABLE_3_0_SIZE: usize = std::mem::offset_of!(ProcessorVTable, snapshot);

// SAFETY: vtables are immutable statics of the plugin.
unsafe impl Sync for ProcessorVTable {}

/// An input frame, valid only during the `process` call.
#[repr(C)]
pub struct FrameIn {
    pub port: u32,
    pub header: FrameHeader,
    pub data: *const u8,
    pub len: usize,
}

/// The host's output ports: valid during the call they are passed to, or,
/// given to `start`, until `stop` returns.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct HostOutputs {
    pub struct_size: u32,
    pub count: u32,
    pub ctx: *mut c_void,
    /// Loans `len` writable bytes on output `port`; null on failure. The
    /// memory holds stale bytes: the plugin must write all it sends.
    pub loan: unsafe extern "C" fn(ctx: *mut c_void, port: u32, len: usize) -> *mut u8,
    /// Sends the buffer loaned on `port`; returns a `STATUS_*`. A paused
    /// manual processor's frame is dropped, which is `STATUS_OK`.
    pub send: unsafe extern "C" fn(ctx: *mut c_void, port: u32, header: *const FrameHeader) -> i32,
    /// Writes the header the next frame carries unless the plugin knows
    /// better: the frame being processed, the `next` of `produce`, or, for
    /// a manual processor, the next sequence number and the time now.
    pub next: unsafe extern "C" fn(ctx: *mut c_void, header: *mut FrameHeader),
    /// A manual processor has sent its last frame (the end of its file);
    /// returns a `STATUS_*`: an error for the outputs of a call.
    pub finish: unsafe extern "C" fn(ctx: *mut c_void) -> i32,
}

/// A host-owned buffer the plugin writes an error message into.
#[repr(C)]
pub struct ErrorBuf {
    pub ptr: *mut u8,
    pub cap: usize,
    pub len: usize,
}

impl ErrorBuf {
    /// Writes `message`, truncated to the capacity at a char boundary.
    ///
    /// # Safety
    /// `self.ptr` must point to `self.cap` writable bytes.
    pub unsafe fn write(&mut self, message: &str) {
        let mut n = message.len().min(self.cap);
        while !message.is_char_boundary(n) {
            n -= 1;
        }
        // SAFETY: `n <= self.cap`, so the copy stays inside the writable
        // buffer the caller vouches for, which the borrowed `message` cannot
        // overlap.
        unsafe { std::ptr::copy_nonoverlapping(message.as_ptr(), self.ptr, n) };
        self.len = n;
    }
}
