//! The C ABI between the native worker and plugin libraries, version 1.1
//! (1.1 added [`ProcessorVTable::produce`]; the host still loads 1.0 plugins).
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

pub const ABI_MAJOR: u32 = 1;
pub const ABI_MINOR: u32 = 1;

/// The exported entry point; the ABI major is part of the name so that a
/// library of another major fails with "symbol not found", not with UB.
pub const ENTRY_SYMBOL: &str = "plexus_plugin_entry_v1";

pub type EntryFn = unsafe extern "C" fn() -> *const PluginDescriptor;

pub const STATUS_OK: i32 = 0;
pub const STATUS_ERROR: i32 = 1;
pub const STATUS_PANIC: i32 = 2;

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
/// Handles one input frame; returns a `STATUS_*` and fills `error` unless OK.
pub type ProcessFn = unsafe extern "C" fn(
    instance: *mut c_void,
    input: *const FrameIn,
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

/// One processor type of a plugin. A plugin's table is an array of these;
/// its stride is `struct_size`, which an ABI 1.0 plugin sets to the size
/// of the fields before `produce`.
#[repr(C)]
pub struct ProcessorVTable {
    pub struct_size: u32,
    /// NUL-terminated processor type name, e.g. `example.grayscale`.
    pub type_name: *const c_char,
    pub create: CreateFn,
    pub process: ProcessFn,
    pub destroy: DestroyFn,
    /// Since ABI 1.1.
    pub produce: ProduceFn,
}

/// The size of an ABI 1.0 [`ProcessorVTable`]: everything before `produce`.
pub const VTABLE_1_0_SIZE: usize = std::mem::offset_of!(ProcessorVTable, produce);

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

/// The host's output ports, valid only during the `process` call.
#[repr(C)]
pub struct HostOutputs {
    pub struct_size: u32,
    pub count: u32,
    pub ctx: *mut c_void,
    /// Loans `len` writable bytes on output `port`; null on failure. The
    /// memory holds stale bytes: the plugin must write all it sends.
    pub loan: unsafe extern "C" fn(ctx: *mut c_void, port: u32, len: usize) -> *mut u8,
    /// Sends the buffer loaned on `port`; returns a `STATUS_*`.
    pub send: unsafe extern "C" fn(ctx: *mut c_void, port: u32, header: *const FrameHeader) -> i32,
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
