//! The `extern "C"` shims behind each exported processor type. They are the
//! only code the worker calls in a plugin, so they are where panics are caught
//! and where raw ABI pointers become the safe types of [`crate::frames`].

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use crate::abi::{
    ErrorBuf, FrameHeader, FrameIn, HostOutputs, ProcessorVTable, StateSink, STATUS_ERROR,
    STATUS_NO_HOOK, STATUS_OK, STATUS_PANIC,
};
use crate::frames::{raw_slice, InputFrame, OutputPorts, Producer};
use crate::{ConfigError, Processor};

/// Builds the vtable of processor type `P`; used by [`crate::export_plugin!`].
///
/// `type_name` must end with a NUL and contain no other; this is checked at
/// compile time when the vtable is built in a `static`.
pub const fn vtable<P: Processor>(type_name: &'static str) -> ProcessorVTable {
    let type_name = match CStr::from_bytes_with_nul(type_name.as_bytes()) {
        Ok(name) => name,
        Err(_) => panic!("a processor type name must end with one NUL and contain no other"),
    };
    ProcessorVTable {
        struct_size: std::mem::size_of::<ProcessorVTable>() as u32,
        type_name: type_name.as_ptr(),
        create: create::<P>,
        process: process::<P>,
        destroy: destroy::<P>,
        produce: produce::<P>,
        start: start::<P>,
        stop: stop::<P>,
        pause: pause::<P>,
        resume: resume::<P>,
        configure: Some(configure::<P>),
        snapshot: Some(snapshot::<P>),
        restore: Some(restore::<P>),
    }
}

/// Why a call failed, before it is written into the host's [`ErrorBuf`].
struct Failure {
    status: i32,
    message: String,
}

thread_local! {
    /// True while a shim runs plugin code, whose panics the shim reports.
    static IN_GUARD: Cell<bool> = const { Cell::new(false) };
    /// Where the last guarded panic happened.
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A panic caught by a shim becomes an error report with its location;
/// printing it (and, with `RUST_BACKTRACE`, a backtrace) to stderr as well
/// would only slow the worker down on every bad frame. Panics outside a
/// shim keep the previous behaviour.
fn quiet_guarded_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_GUARD.with(Cell::get) {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                PANIC_AT.with(|p| *p.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, turning both an `Err` and a panic into a [`Failure`].
fn guard<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, Failure> {
    quiet_guarded_panics();
    let outer = IN_GUARD.with(|g| g.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_GUARD.with(|g| g.set(outer));
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(message)) => Err(Failure {
            status: STATUS_ERROR,
            message,
        }),
        Err(payload) => Err(Failure {
            status: STATUS_PANIC,
            message: panic_message(payload),
        }),
    }
}

/// The text of a panic. The payload is dropped under its own guard because a
/// payload whose destructor panics would otherwise unwind out of the shim.
fn panic_message(payload: Box<dyn Any + Send>) -> String {
    let message = if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-text payload".to_owned()
    };
    let message = match PANIC_AT.with(|p| p.borrow_mut().take()) {
        Some(at) => format!("{message} (at {at})"),
        None => message,
    };
    if let Err(nested) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(nested);
    }
    message
}

/// Writes `message` into the host's buffer, if the host gave one.
///
/// # Safety
/// `error` is null or points to an [`ErrorBuf`] whose `ptr` is null or valid
/// for `cap` bytes.
unsafe fn report(error: *mut ErrorBuf, message: &str) {
    // SAFETY: the caller passes null or an `ErrorBuf` the host lends
    // this call alone.
    if let Some(error) = unsafe { error.as_mut() } {
        if error.ptr.is_null() {
            error.len = 0;
        } else {
            // SAFETY: a non-null `ptr` is valid for `cap` bytes, as the
            // caller promises.
            unsafe { error.write(message) };
        }
    }
}

/// The `STATUS_*` a call ends with, its failure written into `error`.
///
/// # Safety
/// As for [`report`].
unsafe fn status(result: Result<(), Failure>, error: *mut ErrorBuf) -> i32 {
    match result {
        Ok(()) => STATUS_OK,
        Err(failure) => {
            // SAFETY: the caller's promise is `report`'s.
            unsafe { report(error, &failure.message) };
            failure.status
        }
    }
}

/// Parses the pipeline config; no config at all means an empty object.
fn parse_config(text: &[u8]) -> Result<serde_json::Value, String> {
    let text =
        std::str::from_utf8(text).map_err(|e| format!("the processor config is not UTF-8: {e}"))?;
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Object(serde_json::Map::new()));
    }
    serde_json::from_str(text).map_err(|e| format!("the processor config is not valid JSON: {e}"))
}

unsafe extern "C" fn create<P: Processor>(
    config_json: *const u8,
    config_len: usize,
    error: *mut ErrorBuf,
) -> *mut c_void {
    let created = guard(|| {
        // SAFETY: the host passes `config_len` readable bytes at `config_json`.
        let config = parse_config(unsafe { raw_slice(config_json, config_len) })?;
        P::setup(&config).map(|instance| Box::into_raw(Box::new(instance)).cast::<c_void>())
    });
    match created {
        Ok(instance) => instance,
        Err(failure) => {
            // `create` has no status to tell a panic from an error, so the
            // message says it.
            let message = if failure.status == STATUS_PANIC {
                format!("panicked: {}", failure.message)
            } else {
                failure.message
            };
            // SAFETY: the ABI has the host pass null or an `ErrorBuf` of its
            // own, valid for this call.
            unsafe { report(error, &message) };
            std::ptr::null_mut()
        }
    }
}

unsafe extern "C" fn process<P: Processor>(
    instance: *mut c_void,
    inputs: *const FrameIn,
    count: u32,
    outputs: *const HostOutputs,
    error: *mut ErrorBuf,
) -> i32 {
    let result = guard(|| {
        // SAFETY: the host passes the instance `create` returned and `count`
        // inputs and outputs that are valid for the duration of this call.
        let (instance, outputs) = unsafe { (instance.cast::<P>().as_mut(), outputs.as_ref()) };
        let (Some(instance), Some(outputs), false) = (instance, outputs, inputs.is_null()) else {
            return Err("the host passed a null instance, inputs or outputs pointer".to_owned());
        };
        // SAFETY: not null, and `count` entries long, as the host promises.
        let inputs = unsafe { std::slice::from_raw_parts(inputs, count as usize) };
        let frames: Vec<InputFrame<'_>> = inputs
            .iter()
            .map(|input| InputFrame {
                port: input.port as usize,
                header: input.header,
                // SAFETY: the host guarantees `len` readable bytes at `data`.
                data: unsafe { raw_slice(input.data, input.len) },
            })
            .collect();
        let mut out = OutputPorts::new(outputs);
        match frames.as_slice() {
            [frame] => instance.process(frame, &mut out),
            frames => instance.process_synced(frames, &mut out),
        }
    });
    // SAFETY: the ABI has the host pass null or an `ErrorBuf` of its own,
    // valid for this call.
    unsafe { status(result, error) }
}

unsafe extern "C" fn produce<P: Processor>(
    instance: *mut c_void,
    next: *const FrameHeader,
    outputs: *const HostOutputs,
    error: *mut ErrorBuf,
) -> i32 {
    let result = guard(|| {
        // SAFETY: the host passes the instance `create` returned, and a
        // header and outputs that are valid for the duration of this call.
        let (instance, next, outputs) = unsafe {
            (
                instance.cast::<P>().as_mut(),
                next.as_ref(),
                outputs.as_ref(),
            )
        };
        let (Some(instance), Some(next), Some(outputs)) = (instance, next, outputs) else {
            return Err("the host passed a null instance, header or outputs pointer".to_owned());
        };
        instance.produce(next, &mut OutputPorts::new(outputs))
    });
    // SAFETY: the ABI has the host pass null or an `ErrorBuf` of its own,
    // valid for this call.
    unsafe { status(result, error) }
}

unsafe extern "C" fn start<P: Processor>(
    instance: *mut c_void,
    outputs: *const HostOutputs,
    error: *mut ErrorBuf,
) -> i32 {
    let result = guard(|| {
        // SAFETY: the host passes the instance `create` returned and outputs
        // that stay valid until `stop` returns.
        let (instance, outputs) = unsafe { (instance.cast::<P>().as_mut(), outputs.as_ref()) };
        let (Some(instance), Some(outputs)) = (instance, outputs) else {
            return Err("the host passed a null instance or outputs pointer".to_owned());
        };
        // SAFETY: these are the outputs `start` was given.
        instance.start(unsafe { Producer::new(outputs) })
    });
    // SAFETY: the ABI has the host pass null or an `ErrorBuf` of its own,
    // valid for this call.
    unsafe { status(result, error) }
}

/// The shim of a call that takes nothing but the instance.
///
/// # Safety
/// `instance` is null or what `create` returned; `error` as for [`report`].
unsafe fn hook<P: Processor>(
    instance: *mut c_void,
    error: *mut ErrorBuf,
    call: impl FnOnce(&mut P) -> Result<(), String>,
) -> i32 {
    let result = guard(|| {
        // SAFETY: the host passes the instance `create` returned.
        match unsafe { instance.cast::<P>().as_mut() } {
            Some(instance) => call(instance),
            None => Err("the host passed a null instance".to_owned()),
        }
    });
    // SAFETY: the caller's promise.
    unsafe { status(result, error) }
}

unsafe extern "C" fn stop<P: Processor>(instance: *mut c_void, error: *mut ErrorBuf) -> i32 {
    // SAFETY: the host keeps the ABI's promises for every call.
    unsafe { hook::<P>(instance, error, P::stop) }
}

unsafe extern "C" fn pause<P: Processor>(instance: *mut c_void, error: *mut ErrorBuf) -> i32 {
    // SAFETY: as for `stop`.
    unsafe {
        hook::<P>(instance, error, |p| {
            p.on_pause();
            Ok(())
        })
    }
}

unsafe extern "C" fn resume<P: Processor>(instance: *mut c_void, error: *mut ErrorBuf) -> i32 {
    // SAFETY: as for `stop`.
    unsafe {
        hook::<P>(instance, error, |p| {
            p.on_resume();
            Ok(())
        })
    }
}

unsafe extern "C" fn configure<P: Processor>(
    instance: *mut c_void,
    changes_json: *const u8,
    changes_len: usize,
    error: *mut ErrorBuf,
) -> i32 {
    // SAFETY: the host passes `changes_len` readable bytes at
    // `changes_json`, unchanged for the duration of the call.
    let text = unsafe { raw_slice(changes_json, changes_len) };
    let mut no_hook = false;
    // SAFETY: as for `stop`.
    let status = unsafe {
        hook::<P>(instance, error, |p| {
            let changes = parse_config(text)?;
            match p.on_config(&changes) {
                Ok(()) => Ok(()),
                Err(ConfigError::NoHook) => {
                    no_hook = true;
                    Ok(())
                }
                Err(ConfigError::Refused(reason)) => Err(reason),
            }
        })
    };
    match (status, no_hook) {
        (STATUS_OK, true) => STATUS_NO_HOOK,
        (status, _) => status,
    }
}

unsafe extern "C" fn snapshot<P: Processor>(
    instance: *mut c_void,
    sink: *const StateSink,
    error: *mut ErrorBuf,
) -> i32 {
    let mut kept = true;
    let take = |p: &mut P| {
        // SAFETY: the host passes null or a sink valid for this call.
        let Some(sink) = (unsafe { sink.as_ref() }) else {
            return Err("the host passed a null state sink".to_owned());
        };
        let Some(state) = p.snapshot()? else {
            kept = false;
            return Ok(());
        };
        // SAFETY: the sink's context and function are the host's, for this
        // call; `state` is readable for `len` bytes.
        match unsafe { (sink.write)(sink.ctx, state.as_ptr(), state.len()) } {
            STATUS_OK => Ok(()),
            _ => Err(format!(
                "the worker refused a state of {} bytes",
                state.len()
            )),
        }
    };
    // SAFETY: as for `stop`.
    let status = unsafe { hook::<P>(instance, error, take) };
    match (status, kept) {
        (STATUS_OK, false) => STATUS_NO_HOOK,
        (status, _) => status,
    }
}

unsafe extern "C" fn restore<P: Processor>(
    instance: *mut c_void,
    state: *const u8,
    len: usize,
    error: *mut ErrorBuf,
) -> i32 {
    // SAFETY: the host passes `len` readable bytes at `state`, unchanged
    // for the duration of the call.
    let state = unsafe { raw_slice(state, len) };
    // SAFETY: as for `stop`.
    unsafe { hook::<P>(instance, error, |p| p.restore(state)) }
}

unsafe extern "C" fn destroy<P: Processor>(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    // SAFETY: `instance` came from `Box::into_raw` in `create` and the host
    // destroys it once.
    let mut instance = unsafe { Box::from_raw(instance.cast::<P>()) };
    // Nothing can be reported from here; the panic hook has already printed
    // the message on the worker's stderr, which the supervisor logs.
    let _ = guard(|| {
        instance.teardown();
        Ok(())
    });
    let _ = guard(move || {
        drop(instance);
        Ok(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{PluginDescriptor, ABI_MAJOR, ABI_MINOR};
    use crate::FrameHeader;
    use std::cell::RefCell;

    // Records teardown and drop so the tests can see each happen once.
    thread_local! {
        static EVENTS: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
    }

    fn events() -> Vec<&'static str> {
        EVENTS.with(|e| e.borrow_mut().drain(..).collect())
    }

    struct Echo {
        fail_on: u64,
    }

    impl Processor for Echo {
        fn setup(config: &serde_json::Value) -> Result<Self, String> {
            if config.get("refuse").is_some() {
                return Err("`refuse` is set".to_owned());
            }
            if config.get("explode").is_some() {
                panic!("setup exploded");
            }
            let fail_on = config
                .get("fail_on")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(u64::MAX);
            Ok(Echo { fail_on })
        }

        fn process(
            &mut self,
            input: &InputFrame<'_>,
            out: &mut OutputPorts<'_>,
        ) -> Result<(), String> {
            match input.header.seq {
                seq if seq == self.fail_on => Err(format!("frame {seq} is refused")),
                7 => panic!("frame 7 is cursed"),
                5 => {
                    out.loan(0, 0)?;
                    out.send(0, &out.next_header())
                }
                _ => {
                    out.loan(0, input.data.len())?.copy_from_slice(input.data);
                    out.send(0, &input.header)
                }
            }
        }

        fn teardown(&mut self) {
            EVENTS.with(|e| e.borrow_mut().push("teardown"));
        }
    }

    impl Drop for Echo {
        fn drop(&mut self) {
            EVENTS.with(|e| e.borrow_mut().push("drop"));
        }
    }

    struct Panicky;

    impl Processor for Panicky {
        fn setup(_config: &serde_json::Value) -> Result<Self, String> {
            Ok(Panicky)
        }

        fn process(
            &mut self,
            _input: &InputFrame<'_>,
            _out: &mut OutputPorts<'_>,
        ) -> Result<(), String> {
            std::panic::panic_any(42_u32)
        }

        fn teardown(&mut self) {
            panic!("teardown exploded");
        }
    }

    impl Drop for Panicky {
        fn drop(&mut self) {
            EVENTS.with(|e| e.borrow_mut().push("panicky drop"));
        }
    }

    crate::export_plugin!(Echo => "test.echo", Panicky => "test.panicky");

    /// A stand-in for the worker's output ports: one port, one buffer.
    #[derive(Default)]
    struct FakeHost {
        buffer: Vec<u8>,
        sent: Vec<(FrameHeader, Vec<u8>)>,
    }

    unsafe extern "C" fn fake_loan(ctx: *mut c_void, port: u32, len: usize) -> *mut u8 {
        // SAFETY: `ctx` is the harness's boxed `FakeHost`, which nothing
        // else touches while the shim runs.
        let host = unsafe { &mut *ctx.cast::<FakeHost>() };
        if port != 0 {
            return std::ptr::null_mut();
        }
        host.buffer = vec![0xAA; len];
        host.buffer.as_mut_ptr()
    }

    unsafe extern "C" fn fake_send(ctx: *mut c_void, port: u32, header: *const FrameHeader) -> i32 {
        // SAFETY: as in `fake_loan`.
        let host = unsafe { &mut *ctx.cast::<FakeHost>() };
        if port != 0 {
            return STATUS_ERROR;
        }
        let data = std::mem::take(&mut host.buffer);
        // SAFETY: the SDK passes a reference to the processor's header.
        host.sent.push((unsafe { *header }, data));
        STATUS_OK
    }

    unsafe extern "C" fn fake_finish(_ctx: *mut c_void) -> i32 {
        STATUS_ERROR
    }

    unsafe extern "C" fn fake_next(_ctx: *mut c_void, header: *mut FrameHeader) {
        // SAFETY: the SDK passes a header of its own to fill.
        unsafe { (*header).seq = 99 };
    }

    struct Harness {
        vtable: &'static ProcessorVTable,
        instance: *mut c_void,
        host: Box<FakeHost>,
        message: Vec<u8>,
    }

    impl Harness {
        fn processor(type_name: &str) -> &'static ProcessorVTable {
            // SAFETY: the entry returns a pointer to a static descriptor.
            let descriptor: &PluginDescriptor = unsafe { &*plexus_plugin_entry_v3() };
            // SAFETY: the descriptor points to `processor_count` static vtables.
            let vtables = unsafe {
                std::slice::from_raw_parts(
                    descriptor.processors,
                    descriptor.processor_count as usize,
                )
            };
            vtables
                .iter()
                // SAFETY: type names are static NUL-terminated strings.
                .find(|v| unsafe { CStr::from_ptr(v.type_name) }.to_str() == Ok(type_name))
                .expect("the type is exported")
        }

        fn create(type_name: &str, config: &str, cap: usize) -> Result<Harness, String> {
            let vtable = Self::processor(type_name);
            let mut message = vec![0_u8; cap];
            let mut error = ErrorBuf {
                ptr: message.as_mut_ptr(),
                cap,
                len: 0,
            };
            // SAFETY: `config` and `message` (behind `error`) outlive the call.
            let instance = unsafe { (vtable.create)(config.as_ptr(), config.len(), &mut error) };
            if instance.is_null() {
                return Err(String::from_utf8(message[..error.len].to_vec()).unwrap());
            }
            Ok(Harness {
                vtable,
                instance,
                host: Box::default(),
                message,
            })
        }

        fn process(&mut self, seq: u64, data: &[u8]) -> (i32, String) {
            let header = FrameHeader {
                seq,
                width: 2,
                height: 1,
                stride: 8,
                ..FrameHeader::default()
            };
            let input = FrameIn {
                port: 0,
                header,
                data: data.as_ptr(),
                len: data.len(),
            };
            let outputs = HostOutputs {
                struct_size: std::mem::size_of::<HostOutputs>() as u32,
                count: 1,
                ctx: (&mut *self.host as *mut FakeHost).cast(),
                loan: fake_loan,
                send: fake_send,
                next: fake_next,
                finish: fake_finish,
            };
            let mut error = ErrorBuf {
                ptr: self.message.as_mut_ptr(),
                cap: self.message.len(),
                len: 0,
            };
            // SAFETY: `instance` came from this vtable's `create` and is
            // live; the input, outputs, host and message outlive the call.
            let status =
                unsafe { (self.vtable.process)(self.instance, &input, 1, &outputs, &mut error) };
            (
                status,
                String::from_utf8(self.message[..error.len].to_vec()).unwrap(),
            )
        }
    }

    impl Drop for Harness {
        fn drop(&mut self) {
            // SAFETY: `instance` came from this vtable's `create`, and the
            // harness destroys it once, here.
            unsafe { (self.vtable.destroy)(self.instance) };
        }
    }

    #[test]
    fn descriptor_describes_the_exported_types() {
        // SAFETY: the entry returns a pointer to a static descriptor.
        let descriptor = unsafe { &*plexus_plugin_entry_v3() };
        assert_eq!(
            descriptor.struct_size as usize,
            std::mem::size_of::<PluginDescriptor>()
        );
        assert_eq!(
            (descriptor.abi_major, descriptor.abi_minor),
            (ABI_MAJOR, ABI_MINOR)
        );
        assert_eq!(
            // SAFETY: the version is a static NUL-terminated string.
            unsafe { CStr::from_ptr(descriptor.sdk_version) }.to_str(),
            Ok(env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(descriptor.processor_count, 2);
        let echo = Harness::processor("test.echo");
        assert_eq!(
            echo.struct_size as usize,
            std::mem::size_of::<ProcessorVTable>()
        );
        Harness::processor("test.panicky");
    }

    #[test]
    fn frames_pass_through_the_shims() {
        let mut echo = Harness::create("test.echo", "", 256).unwrap();
        assert_eq!(
            echo.process(1, &[1, 2, 3, 4, 5, 6, 7, 8]),
            (STATUS_OK, String::new())
        );
        let (header, data) = &echo.host.sent[0];
        assert_eq!((header.seq, header.stride), (1, 8));
        assert_eq!(data, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(echo.process(5, &[]).0, STATUS_OK);
        assert_eq!(echo.host.sent[1].0.seq, 99, "the host's next header");
        drop(echo);
        assert_eq!(events(), ["teardown", "drop"]);
    }

    #[test]
    fn errors_are_reported_with_their_message() {
        let mut echo = Harness::create("test.echo", r#"{"fail_on": 3}"#, 256).unwrap();
        assert_eq!(
            echo.process(3, &[0; 8]),
            (STATUS_ERROR, "frame 3 is refused".to_owned())
        );
        assert_eq!(echo.process(4, &[0; 8]).0, STATUS_OK);
        assert_eq!(
            Harness::create("test.echo", r#"{"refuse": true}"#, 256)
                .err()
                .unwrap(),
            "`refuse` is set"
        );
        let bad = Harness::create("test.echo", "{", 256).err().unwrap();
        assert!(
            bad.starts_with("the processor config is not valid JSON"),
            "{bad}"
        );
    }

    #[test]
    fn panics_become_statuses_and_the_instance_lives_on() {
        let mut echo = Harness::create("test.echo", "{}", 256).unwrap();
        let (status, message) = echo.process(7, &[0; 8]);
        assert_eq!(status, STATUS_PANIC);
        assert!(
            message.starts_with("frame 7 is cursed (at ") && message.contains("export.rs:"),
            "{message}"
        );
        assert_eq!(echo.process(8, &[0; 8]).0, STATUS_OK);
        assert_eq!(echo.host.sent.len(), 1);

        let created = Harness::create("test.echo", r#"{"explode": 1}"#, 256);
        let created = created.err().unwrap();
        assert!(
            created.starts_with("panicked: setup exploded (at "),
            "{created}"
        );

        let mut panicky = Harness::create("test.panicky", "{}", 256).unwrap();
        let (status, message) = panicky.process(1, &[]);
        assert_eq!(status, STATUS_PANIC);
        assert!(
            message.starts_with("a panic with a non-text payload (at "),
            "{message}"
        );
        drop(panicky);
        let seen = events();
        assert!(
            seen.contains(&"panicky drop"),
            "a panicking teardown still drops: {seen:?}"
        );
    }

    unsafe extern "C" fn refuse_state(_ctx: *mut c_void, _data: *const u8, _len: usize) -> i32 {
        STATUS_ERROR
    }

    #[test]
    fn without_state_hooks_a_processor_keeps_no_state_and_takes_none() {
        let mut echo = Harness::create("test.echo", "", 256).unwrap();
        let sink = StateSink {
            struct_size: std::mem::size_of::<StateSink>() as u32,
            ctx: std::ptr::null_mut(),
            write: refuse_state,
        };
        let mut error = ErrorBuf {
            ptr: echo.message.as_mut_ptr(),
            cap: echo.message.len(),
            len: 0,
        };
        let (snapshot, restore) = (echo.vtable.snapshot.unwrap(), echo.vtable.restore.unwrap());
        // SAFETY: `instance` is live; the sink and error buffer outlive the
        // calls, and the state is one readable byte.
        let (kept, taken) = unsafe {
            (
                snapshot(echo.instance, &sink, &mut error),
                restore(echo.instance, b"x".as_ptr(), 1, &mut error),
            )
        };
        assert_eq!(kept, STATUS_NO_HOOK);
        assert_eq!(taken, STATUS_ERROR);
        assert_eq!(&echo.message[..error.len], crate::NO_RESTORE.as_bytes());
    }

    #[test]
    fn messages_are_truncated_to_the_host_buffer() {
        let mut echo = Harness::create("test.echo", r#"{"fail_on": 3}"#, 7).unwrap();
        assert_eq!(
            echo.process(3, &[0; 8]),
            (STATUS_ERROR, "frame 3".to_owned())
        );
    }

    #[test]
    fn a_missing_error_buffer_is_tolerated() {
        let vtable = Harness::processor("test.echo");
        let config = br#"{"refuse": true}"#;
        // SAFETY: `config` outlives the call; a null error buffer is allowed.
        let instance =
            unsafe { (vtable.create)(config.as_ptr(), config.len(), std::ptr::null_mut()) };
        assert!(instance.is_null());
        let mut error = ErrorBuf {
            ptr: std::ptr::null_mut(),
            cap: 0,
            len: 5,
        };
        // SAFETY: `config` outlives the call; the buffer's null `ptr` is
        // allowed.
        let instance = unsafe { (vtable.create)(config.as_ptr(), config.len(), &mut error) };
        assert!(instance.is_null());
        assert_eq!(error.len, 0);
    }

    #[test]
    fn null_pointers_from_the_host_are_an_error_not_a_crash() {
        let vtable = Harness::processor("test.echo");
        let mut message = vec![0_u8; 128];
        let mut error = ErrorBuf {
            ptr: message.as_mut_ptr(),
            cap: message.len(),
            len: 0,
        };
        // SAFETY: the shims check for null pointers, which is what is tested;
        // `message` outlives the call.
        let status = unsafe {
            (vtable.process)(
                std::ptr::null_mut(),
                std::ptr::null(),
                1,
                std::ptr::null(),
                &mut error,
            )
        };
        assert_eq!(status, STATUS_ERROR);
        assert!(error.len > 0);
        // SAFETY: `destroy` ignores a null instance.
        unsafe { (vtable.destroy)(std::ptr::null_mut()) };
    }
}
