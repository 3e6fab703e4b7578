//! The C ABI `ts/host.ts` opens with `Deno.dlopen`. Every function catches
//! panics and refuses a null handle; failures return `-1` (or a null
//! pointer) and leave a message for [`plexus_deno_error`].
//!
//! | symbol | Deno signature | does |
//! |---|---|---|
//! | `plexus_deno_abi_version` | `() -> u32` | [`ABI_VERSION`], checked by host.ts |
//! | `plexus_deno_start` | `() -> pointer` | starts the lifecycle thread; the handle |
//! | `plexus_deno_next` | `(pointer) -> i32`, **nonblocking** | waits for the next event, returns its kind (1 create, 2 process, 3 teardown, 4 exit, 5 produce, 6 start, 7 stop, 8 pause, 9 resume, 10 config, 11 snapshot, 12 restore) |
//! | `plexus_deno_event_json` | `(pointer, buffer, u32) -> i32` | JSON of a create/teardown/start/stop/pause/resume/config/snapshot/restore/exit event (config: `{processor, changes}`): copies up to `cap` bytes, returns the full length |
//! | `plexus_deno_event_state` | `(pointer, buffer, u32) -> i32` | the state a restore event carries, copied like `event_json` |
//! | `plexus_deno_event_frame` | `(pointer, u32, buffer, u32) -> i32` | writes the [`FrameInfo`] (120 bytes) of frame `index` of a process event, which says how many frames the event has (one per input when they are synchronised); for a produce event, the processor and the default header, with no data |
//! | `plexus_deno_loan` | `(pointer, u32, u32, usize) -> i32` | loans `len` bytes on a processor's output port, on the calling thread (inside its process or produce call, or between its start and stop) |
//! | `plexus_deno_send` | `(pointer, u32, u32, buffer, u32) -> i32` | sends the port's loan with the given `FrameHeader` (96 bytes), on the calling thread |
//! | `plexus_deno_next_header` | `(pointer, u32, buffer, u32) -> i32` | writes the `FrameHeader` a manual processor's next frame defaults to |
//! | `plexus_deno_finish` | `(pointer, u32) -> i32` | a manual processor has sent its last frame |
//! | `plexus_deno_done` | `(pointer, u8, buffer, u32) -> i32` | ends the open call: 1 ok, 0 failed with the error message, 2 the processor has no hook for the event (config, snapshot, restore), 3 ok with the state `snapshot` returned as the bytes |
//! | `plexus_deno_error` | `(buffer, u32) -> i32` | the last failure's message, like `event_json` |
//! | `plexus_deno_close` | `(pointer) -> void` | frees the handle (joins the thread if it ended) |
//!
//! The memory of frames and loans is not handed out here: Deno can only view
//! a raw pointer with an unrestricted `--allow-ffi`, so [`crate::views`]
//! makes the views through Node-API instead, which a path-scoped grant
//! allows. One process runs one handle at a time.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use ipc_schemas::FrameHeader;

use crate::bridge::{self, Answer, FrameInfo, JsEnd};
use crate::host::{self, panic_text};

/// Bumped whenever a signature or an event kind above changes; host.ts
/// refuses another.
pub const ABI_VERSION: u32 = 6;

/// `plexus_deno_done`'s `ok` when the processor has no hook for the event.
pub const DONE_NO_HOOK: u8 = 2;
/// `plexus_deno_done`'s `ok` for a snapshot: the bytes are the state.
pub const DONE_STATE: u8 = 3;

/// What `plexus_deno_start` returns to JavaScript.
pub struct Handle {
    js: Arc<JsEnd>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

static LAST_ERROR: Mutex<String> = Mutex::new(String::new());

/// The started handle's end, for the Node-API views.
static ACTIVE: Mutex<Option<Arc<JsEnd>>> = Mutex::new(None);

/// The end of the handle started in this process.
pub(crate) fn active() -> Result<Arc<JsEnd>, String> {
    ACTIVE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| "plexus_deno is not started".into())
}

fn set_error(message: impl Into<String>) {
    *LAST_ERROR.lock().unwrap_or_else(|e| e.into_inner()) = message.into();
}

/// Runs `f`, turning an `Err` or a panic into `fallback` plus a message.
fn guard<T>(fallback: T, f: impl FnOnce() -> Result<T, String>) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => value,
        Ok(Err(message)) => {
            set_error(message);
            fallback
        }
        Err(panic) => {
            set_error(format!("libplexus_deno panicked: {}", panic_text(&panic)));
            fallback
        }
    }
}

/// # Safety
/// `handle` is null or came from `plexus_deno_start` and was not closed.
unsafe fn handle<'a>(handle: *const Handle) -> Result<&'a Handle, String> {
    // SAFETY: per this function's contract.
    unsafe { handle.as_ref() }.ok_or_else(|| "the plexus_deno handle is null".into())
}

/// Copies as much of `text` as fits into `buf`; returns the full length.
///
/// # Safety
/// `buf` is null or valid for writes of `cap` bytes.
unsafe fn copy_out(text: &[u8], buf: *mut u8, cap: u32) -> i32 {
    let n = text.len().min(cap as usize);
    if !buf.is_null() && n > 0 {
        // SAFETY: `buf` holds `cap` ≥ `n` bytes and cannot overlap `text`,
        // which Rust owns.
        unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), buf, n) };
    }
    i32::try_from(text.len()).unwrap_or(i32::MAX)
}

/// The `len` bytes JavaScript passed at `data`; none for a null pointer.
///
/// # Safety
/// `data` is null or holds `len` readable bytes for `'a`.
unsafe fn copy_in<'a>(data: *const u8, len: u32) -> &'a [u8] {
    if data.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: not null, and `len` readable bytes, per the contract.
    unsafe { std::slice::from_raw_parts(data, len as usize) }
}

#[no_mangle]
pub extern "C" fn plexus_deno_abi_version() -> u32 {
    ABI_VERSION
}

/// Enters the worker's sandbox (host.ts calls this before it imports any
/// processor module), then starts the lifecycle thread, which reads
/// `PLEXUS_RUNTIME` and `PLEXUS_WORKER` and runs the worker lifecycle.
/// Null on failure.
#[no_mangle]
pub extern "C" fn plexus_deno_start() -> *mut Handle {
    guard(std::ptr::null_mut(), || {
        worker_sandbox::enter(worker_sandbox::WorkerKind::Deno)
            .map_err(|e| format!("cannot enter the worker's sandbox: {e}"))?;
        let mut active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
        if active.is_some() {
            return Err("plexus_deno is already started in this process".into());
        }
        let (runtime, js) = bridge::pair();
        let js = Arc::new(js);
        let thread = std::thread::Builder::new()
            .name("plexus-runtime".into())
            .spawn(move || host::run(runtime))
            .map_err(|e| format!("cannot start the lifecycle thread: {e}"))?;
        *active = Some(Arc::clone(&js));
        Ok(Box::into_raw(Box::new(Handle {
            js,
            thread: Mutex::new(Some(thread)),
        })))
    })
}

/// Blocks until the next event; its kind, or -1.
///
/// # Safety
/// `handle` is null or a live handle.
#[no_mangle]
pub unsafe extern "C" fn plexus_deno_next(handle: *const Handle) -> i32 {
    // SAFETY: `handle` is null or live, per this function's contract.
    guard(-1, || unsafe { self::handle(handle) }?.js.next())
}

/// # Safety
/// `handle` is null or a live handle; `buf` is null or holds `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn plexus_deno_event_json(
    handle: *const Handle,
    buf: *mut u8,
    cap: u32,
) -> i32 {
    guard(-1, || {
        // SAFETY: `handle` is null or live, per this function's contract.
        let json = unsafe { self::handle(handle) }?.js.event_json()?;
        // SAFETY: `buf` is null or holds `cap` bytes, per the contract.
        Ok(unsafe { copy_out(json.as_bytes(), buf, cap) })
    })
}

/// Copies the state of the current restore event, like
/// [`plexus_deno_event_json`].
///
/// # Safety
/// `handle` is null or a live handle; `buf` is null or holds `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn plexus_deno_event_state(
    handle: *const Handle,
    buf: *mut u8,
    cap: u32,
) -> i32 {
    guard(-1, || {
        // SAFETY: `handle` is null or live, per this function's contract.
        let js = &unsafe { self::handle(handle) }?.js;
        // SAFETY: `buf` is null or holds `cap` bytes, per the contract.
        js.with_event_state(|state| unsafe { copy_out(state, buf, cap) })
    })
}

/// Writes the [`FrameInfo`] of frame `index` of the open call.
///
/// # Safety
/// `handle` is null or a live handle; `info` is null or holds `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn plexus_deno_event_frame(
    handle: *const Handle,
    index: u32,
    info: *mut u8,
    cap: u32,
) -> i32 {
    guard(-1, || {
        // SAFETY: `handle` is null or live, per this function's contract.
        let frame = unsafe { self::handle(handle) }?
            .js
            .event_frame(index as usize)?;
        if info.is_null() || (cap as usize) < std::mem::size_of::<FrameInfo>() {
            return Err(format!(
                "the frame info buffer needs {} bytes",
                std::mem::size_of::<FrameInfo>()
            ));
        }
        // SAFETY: `info` holds at least a `FrameInfo`; a JS buffer need not
        // be aligned.
        unsafe { info.cast::<FrameInfo>().write_unaligned(frame) };
        Ok(0)
    })
}

/// Loans `len` bytes on output `port` of `processor` (the one being
/// called, or a started manual one); the Node-API `loan(processor, port)`
/// views them.
///
/// # Safety
/// `handle` is null or a live handle.
#[no_mangle]
pub unsafe extern "C" fn plexus_deno_loan(
    handle: *const Handle,
    processor: u32,
    port: u32,
    len: usize,
) -> i32 {
    guard(-1, || {
        // SAFETY: `handle` is null or live, per this function's contract.
        unsafe { self::handle(handle) }?
            .js
            .loan(processor, port as usize, len)?;
        Ok(0)
    })
}

/// Reads a frame header JavaScript wrote: `len` bytes, which must be a
/// whole header.
///
/// # Safety
/// `header` is null or holds `len` readable bytes.
unsafe fn read_header(header: *const u8, len: u32) -> Result<FrameHeader, String> {
    let size = std::mem::size_of::<FrameHeader>();
    if header.is_null() || len as usize != size {
        return Err(format!("a frame header is {size} bytes, not {len}"));
    }
    // SAFETY: `size` readable bytes, as checked; every bit pattern is a
    // valid header (integers only).
    Ok(unsafe { header.cast::<FrameHeader>().read_unaligned() })
}

/// Sends the buffer loaned on `port` of `processor` with the header in
/// `header` (`len` bytes, laid out as `FrameHeader`); the schema comes from
/// the port.
///
/// # Safety
/// `handle` is null or a live handle; `header` is null or holds `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn plexus_deno_send(
    handle: *const Handle,
    processor: u32,
    port: u32,
    header: *const u8,
    len: u32,
) -> i32 {
    guard(-1, || {
        // SAFETY: per this function's contract.
        let header = unsafe { read_header(header, len) }?;
        // SAFETY: `handle` is null or live, per this function's contract.
        unsafe { self::handle(handle) }?
            .js
            .send(processor, port as usize, header)?;
        Ok(0)
    })
}

/// Manual processor `processor` has sent its last frame.
///
/// # Safety
/// `handle` is null or a live handle.
#[no_mangle]
pub unsafe extern "C" fn plexus_deno_finish(handle: *const Handle, processor: u32) -> i32 {
    guard(-1, || {
        // SAFETY: `handle` is null or live, per this function's contract.
        unsafe { self::handle(handle) }?.js.finish(processor)?;
        Ok(0)
    })
}

/// Writes the header manual processor `processor`'s next frame carries by
/// default (its next sequence number, the time now) into `buf`, which holds
/// `cap` bytes.
///
/// # Safety
/// `handle` is null or a live handle; `buf` is null or holds `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn plexus_deno_next_header(
    handle: *const Handle,
    processor: u32,
    buf: *mut u8,
    cap: u32,
) -> i32 {
    guard(-1, || {
        let size = std::mem::size_of::<FrameHeader>();
        if buf.is_null() || (cap as usize) < size {
            return Err(format!("the header buffer needs {size} bytes"));
        }
        // SAFETY: `handle` is null or live, per this function's contract.
        let header = unsafe { self::handle(handle) }?.js.next_header(processor)?;
        // SAFETY: `buf` holds at least `size` bytes, as checked.
        unsafe { buf.cast::<FrameHeader>().write_unaligned(header) };
        Ok(0)
    })
}

/// Ends the open call: `ok` [`DONE_NO_HOOK`] when the processor has no hook
/// for the event, [`DONE_STATE`] for a snapshot whose state is `message`
/// (`len` bytes, any), any other non-zero value for success, otherwise
/// `message` (UTF-8, `len` bytes) is the processor's error.
///
/// # Safety
/// `handle` is null or a live handle; `message` is null or holds `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn plexus_deno_done(
    handle: *const Handle,
    ok: u8,
    message: *const u8,
    len: u32,
) -> i32 {
    guard(-1, || {
        // SAFETY: `handle` is null or live, per this function's contract.
        let handle = unsafe { self::handle(handle) }?;
        let result = if ok == DONE_NO_HOOK {
            Ok(Answer::NoHook)
        } else if ok == DONE_STATE {
            // SAFETY: `message` is null or holds `len` bytes, per the contract.
            Ok(Answer::State(unsafe { copy_in(message, len) }.to_vec()))
        } else if ok != 0 {
            Ok(Answer::Done)
        } else if message.is_null() || len == 0 {
            Err("the processor failed without a message".into())
        } else {
            // SAFETY: `message` holds `len` bytes, per the contract.
            Err(String::from_utf8_lossy(unsafe { copy_in(message, len) }).into_owned())
        };
        handle.js.answer(result)?;
        Ok(0)
    })
}

/// The message of the last failure, copied like `plexus_deno_event_json`.
///
/// # Safety
/// `buf` is null or holds `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn plexus_deno_error(buf: *mut u8, cap: u32) -> i32 {
    guard(-1, || {
        let message = LAST_ERROR.lock().unwrap_or_else(|e| e.into_inner()).clone();
        // SAFETY: `buf` is null or holds `cap` bytes, per the contract.
        Ok(unsafe { copy_out(message.as_bytes(), buf, cap) })
    })
}

/// Frees the handle. The lifecycle thread is joined once it reported its
/// exit; before that it is left to end on its own.
///
/// # Safety
/// `handle` is null or a live handle, not used again afterwards.
#[no_mangle]
pub unsafe extern "C" fn plexus_deno_close(handle: *mut Handle) {
    guard((), || {
        if handle.is_null() {
            return Err("the plexus_deno handle is null".into());
        }
        // SAFETY: a live handle made by `Box::into_raw` in `plexus_deno_start`.
        let handle = unsafe { Box::from_raw(handle) };
        let mut active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
        if active.as_ref().is_some_and(|a| Arc::ptr_eq(a, &handle.js)) {
            *active = None;
        }
        drop(active);
        let thread = handle
            .thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let (true, Some(thread)) = (handle.js.exited(), thread) {
            thread.join().map_err(|panic| {
                format!("the lifecycle thread panicked: {}", panic_text(&panic))
            })?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tests that read the shared error message or start the one handle.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn last_error() -> String {
        let mut buf = [0u8; 256];
        // SAFETY: `buf` holds the bytes the call is told of.
        let len = unsafe { plexus_deno_error(buf.as_mut_ptr(), buf.len() as u32) };
        String::from_utf8_lossy(&buf[..len as usize]).into_owned()
    }

    #[test]
    fn null_handles_are_errors_not_crashes() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let null = std::ptr::null();
        let mut buf = [0u8; 64];
        // SAFETY: null handles are allowed, and refused; `buf` holds 64 bytes.
        unsafe {
            assert_eq!(plexus_deno_next(null), -1);
            assert_eq!(plexus_deno_event_json(null, buf.as_mut_ptr(), 64), -1);
            assert_eq!(plexus_deno_event_state(null, buf.as_mut_ptr(), 64), -1);
            assert_eq!(plexus_deno_event_frame(null, 0, buf.as_mut_ptr(), 64), -1);
            assert_eq!(plexus_deno_loan(null, 0, 0, 16), -1);
            assert_eq!(plexus_deno_send(null, 0, 0, buf.as_ptr(), 96), -1);
            assert_eq!(plexus_deno_next_header(null, 0, buf.as_mut_ptr(), 64), -1);
            assert_eq!(plexus_deno_done(null, 1, std::ptr::null(), 0), -1);
            plexus_deno_close(std::ptr::null_mut());
        }
        assert_eq!(last_error(), "the plexus_deno handle is null");
    }

    #[test]
    fn copy_out_truncates_and_reports_the_full_length() {
        let mut buf = [0u8; 4];
        // SAFETY: `buf` holds 4 bytes.
        assert_eq!(unsafe { copy_out(b"abcdef", buf.as_mut_ptr(), 4) }, 6);
        assert_eq!(&buf, b"abcd");
        // SAFETY: a null buffer is allowed.
        assert_eq!(unsafe { copy_out(b"abcdef", std::ptr::null_mut(), 0) }, 6);
    }

    /// Without a supervisor the lifecycle fails at once; the failure arrives
    /// as an exit event, and the handle closes cleanly.
    #[test]
    fn a_failed_lifecycle_is_an_exit_event() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        std::env::remove_var(ipc_schemas::env::RUNTIME);
        let handle = plexus_deno_start();
        assert!(!handle.is_null());
        assert!(plexus_deno_start().is_null(), "one handle per process");
        assert!(last_error().contains("already started"));
        // SAFETY: `handle` is live until the close at the end, and every
        // buffer holds the bytes its call is told of.
        unsafe {
            assert_eq!(plexus_deno_next(handle), bridge::EVENT_EXIT);
            let mut buf = vec![0u8; 8];
            let len = plexus_deno_event_json(handle, buf.as_mut_ptr(), 8);
            assert!(len > 8);
            buf.resize(len as usize, 0);
            assert_eq!(
                plexus_deno_event_json(handle, buf.as_mut_ptr(), len as u32),
                len
            );
            let exit: serde_json::Value = serde_json::from_slice(&buf).unwrap();
            assert_eq!(exit["code"], 1);
            let message = exit["message"].as_str().unwrap();
            assert!(message.contains("PLEXUS_RUNTIME is not set"), "{message}");
            // Calls that need an open call are refused, with a reason.
            assert_eq!(plexus_deno_loan(handle, 0, 0, 4), -1);
            let header = [0u8; 96];
            assert_eq!(plexus_deno_send(handle, 0, 0, header.as_ptr(), 40), -1);
            assert_eq!(last_error(), "a frame header is 96 bytes, not 40");
            assert!(active().unwrap().frame_memory(0).is_err());
            assert_eq!(plexus_deno_done(handle, 1, std::ptr::null(), 0), -1);
            // `next` after the exit keeps saying so instead of blocking.
            assert_eq!(plexus_deno_next(handle), bridge::EVENT_EXIT);
            plexus_deno_close(handle);
        }
        assert!(active().is_err(), "closing ends the active handle");
    }
}
