//! One processor instance of a plugin library as the worker calls it: its
//! entry points, the host's output callbacks the plugin loans and sends
//! through (during a call, or from a manual processor's own threads), and how
//! a call's status and message become its outcome.

use std::ffi::c_void;
use std::sync::Mutex;

use ipc_schemas::ConfigOutcome;
use ipc_schemas::FrameHeader;
use plexus_plugin_sdk::abi::{
    ConfigFn, CreateFn, DestroyFn, ErrorBuf, FrameIn, HookFn, HostOutputs, ProcessFn,
    ProcessorVTable, ProduceFn, RestoreFn, SnapshotFn, StartFn, STATUS_ERROR, STATUS_NO_HOOK,
    STATUS_OK, STATUS_PANIC,
};
use worker_lifecycle::{Input, Outputs, Ports, Processor, Producer, NO_RESTORE};

use super::callback::caught;
use super::state::StateBuf;

/// The message a plugin wrote, tolerating a length beyond the buffer.
pub(super) fn error_text(message: &[u8], error: &ErrorBuf) -> String {
    String::from_utf8_lossy(&message[..error.len.min(message.len())]).into_owned()
}

/// A processor type's entry points, as read from its table.
#[derive(Clone, Copy)]
pub(super) struct Calls {
    pub create: CreateFn,
    process: ProcessFn,
    destroy: DestroyFn,
    produce: ProduceFn,
    start: StartFn,
    stop: HookFn,
    pause: HookFn,
    resume: HookFn,
    /// `None` for a plugin without the hook.
    configure: Option<ConfigFn>,
    /// `None` for a plugin without the hook, or of ABI 3.0.
    snapshot: Option<SnapshotFn>,
    restore: Option<RestoreFn>,
}

impl Calls {
    /// Reads the entry points of the table at `table`, which is `size`
    /// bytes: the entries a 3.0 table lacks are `None`.
    ///
    /// # Safety
    /// `table` points to `size` readable bytes, aligned for a
    /// [`ProcessorVTable`], of a table of this major: at least
    /// [`VTABLE_3_0_SIZE`](plexus_plugin_sdk::abi::VTABLE_3_0_SIZE).
    pub(super) unsafe fn read(table: *const ProcessorVTable, size: usize) -> Self {
        let has = |end: usize| size >= end;
        let (snapshot_end, restore_end) = (
            std::mem::offset_of!(ProcessorVTable, snapshot) + 8,
            std::mem::offset_of!(ProcessorVTable, restore) + 8,
        );
        // SAFETY: every field read here lies within the table's `size`
        // bytes, which the caller vouches for: the 3.0 ones always, the
        // later ones only when `size` reaches their end.
        unsafe {
            Self {
                create: (&raw const (*table).create).read(),
                process: (&raw const (*table).process).read(),
                destroy: (&raw const (*table).destroy).read(),
                produce: (&raw const (*table).produce).read(),
                start: (&raw const (*table).start).read(),
                stop: (&raw const (*table).stop).read(),
                pause: (&raw const (*table).pause).read(),
                resume: (&raw const (*table).resume).read(),
                configure: (&raw const (*table).configure).read(),
                snapshot: match has(snapshot_end) {
                    true => (&raw const (*table).snapshot).read(),
                    false => None,
                },
                restore: match has(restore_end) {
                    true => (&raw const (*table).restore).read(),
                    false => None,
                },
            }
        }
    }
}

/// One processor instance living in a plugin library.
pub(super) struct PluginProcessor {
    /// Its id in the pipeline, which messages about its state name.
    id: String,
    calls: Calls,
    /// Null once destroyed.
    instance: *mut c_void,
    /// The buffer the plugin writes errors into, reused for every call.
    message: Vec<u8>,
    /// A manual processor's outputs, which its threads reach through the
    /// context pointer they were given; kept until the instance is gone so
    /// that a thread that outlives `stop` is refused, not a dangling read.
    manual: Option<Box<Mutex<Producer>>>,
}

impl PluginProcessor {
    /// Takes over `instance`, which `calls.create` made; `message` is the
    /// buffer its errors are written into.
    pub(super) fn new(id: &str, calls: Calls, instance: *mut c_void, message: Vec<u8>) -> Self {
        Self {
            id: id.to_owned(),
            calls,
            instance,
            message,
            manual: None,
        }
    }

    fn destroy(&mut self) {
        let instance = std::mem::replace(&mut self.instance, std::ptr::null_mut());
        if !instance.is_null() {
            // SAFETY: `instance` came from this vtable's `create` and is
            // destroyed once, since the field is now null.
            unsafe { (self.calls.destroy)(instance) };
        }
    }

    /// Calls into the plugin with the outputs open: `invoke` gets the
    /// instance, the host's outputs and the error buffer, and returns the
    /// plugin's status, which becomes the call's outcome. `base` is the
    /// header the plugin's frames default to.
    fn call(
        &mut self,
        outputs: &mut Outputs<'_>,
        base: FrameHeader,
        invoke: impl FnOnce(*mut c_void, &HostOutputs, &mut ErrorBuf) -> i32,
    ) -> Result<(), String> {
        let count = outputs.len() as u32;
        let mut ctx = HostCtx {
            outputs,
            base,
            failure: None,
        };
        let host = HostOutputs {
            struct_size: std::mem::size_of::<HostOutputs>() as u32,
            count,
            ctx: (&mut ctx as *mut HostCtx<'_, '_>).cast(),
            loan: loan::<InCall>,
            send: send::<InCall>,
            next: next::<InCall>,
            finish: finish::<InCall>,
        };
        let outcome = self.invoke(|instance, error| invoke(instance, &host, error));
        match (outcome, ctx.failure) {
            (Err(message), Some(failure)) => {
                Err(format!("{message} (the worker reported: {failure})"))
            }
            (outcome, _) => outcome,
        }
    }

    /// Calls one of the plugin's entry points that take only the instance.
    fn hook(&mut self, hook: HookFn) -> Result<(), String> {
        // SAFETY: the instance is live (checked by `invoke`), and the error
        // buffer is ours for the call.
        self.invoke(|instance, error| unsafe { hook(instance, error) })
    }

    /// One `process` call with `inputs` (the SDK hands a single frame to
    /// the processor's `process`, several to its `process_synced`); sends
    /// default to the first frame's header.
    fn process_frames(
        &mut self,
        inputs: &[Input<'_>],
        outputs: &mut Outputs<'_>,
    ) -> Result<(), String> {
        let frames = inputs
            .iter()
            .map(|input| {
                Ok(FrameIn {
                    port: u32::try_from(input.port)
                        .map_err(|_| format!("input port {} is out of range", input.port))?,
                    header: *input.header,
                    data: input.data.as_ptr(),
                    len: input.data.len(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let base = inputs
            .first()
            .map_or_else(FrameHeader::default, |i| *i.header);
        let process = self.calls.process;
        // SAFETY: every pointer passed stays valid until the call returns, and
        // the outputs' context is only used by the callbacks during it.
        self.call(outputs, base, |instance, host, error| unsafe {
            process(instance, frames.as_ptr(), frames.len() as u32, host, error)
        })
    }

    /// Calls into the plugin: `invoke` gets the instance and the error
    /// buffer and returns the plugin's status, which becomes the outcome.
    fn invoke(
        &mut self,
        invoke: impl FnOnce(*mut c_void, &mut ErrorBuf) -> i32,
    ) -> Result<(), String> {
        if self.instance.is_null() {
            return Err("the processor was already torn down".to_owned());
        }
        let mut error = ErrorBuf {
            ptr: self.message.as_mut_ptr(),
            cap: self.message.len(),
            len: 0,
        };
        let status = invoke(self.instance, &mut error);
        if status == STATUS_OK {
            return Ok(());
        }
        let mut message = error_text(&self.message, &error);
        if message.is_empty() {
            message = "the plugin gave no reason".to_owned();
        }
        match status {
            STATUS_PANIC => Err(format!("panicked: {message}")),
            STATUS_ERROR => Err(message),
            other => Err(format!("{message} (unknown plugin status {other})")),
        }
    }
}

impl Processor for PluginProcessor {
    fn process(&mut self, input: &Input<'_>, outputs: &mut Outputs<'_>) -> Result<(), String> {
        self.process_frames(std::slice::from_ref(input), outputs)
    }

    fn process_synced(
        &mut self,
        inputs: &[Input<'_>],
        outputs: &mut Outputs<'_>,
    ) -> Result<(), String> {
        self.process_frames(inputs, outputs)
    }

    /// One production step; the plugin is handed `next` to build its
    /// frames' headers from.
    fn produce(&mut self, next: &FrameHeader, outputs: &mut Outputs<'_>) -> Result<(), String> {
        let produce = self.calls.produce;
        // SAFETY: as for `process`.
        self.call(outputs, *next, |instance, host, error| unsafe {
            produce(instance, next, host, error)
        })
    }

    /// Hands the plugin outputs its threads may use until `stop` returns.
    fn start(&mut self, producer: Producer) -> Result<(), String> {
        let count = producer.len() as u32;
        let manual = self.manual.insert(Box::new(Mutex::new(producer)));
        let host = HostOutputs {
            struct_size: std::mem::size_of::<HostOutputs>() as u32,
            count,
            ctx: (&**manual as *const Mutex<Producer>).cast_mut().cast(),
            loan: loan::<Manual>,
            send: send::<Manual>,
            next: next::<Manual>,
            finish: finish::<Manual>,
        };
        let start = self.calls.start;
        // SAFETY: `host` outlives the call (the plugin copies it), and its
        // context, boxed in `self.manual`, outlives the instance.
        self.invoke(|instance, error| unsafe { start(instance, &host, error) })
    }

    fn stop(&mut self) -> Result<(), String> {
        self.hook(self.calls.stop)
    }

    /// A hook cannot fail the processor; what it says is logged.
    fn on_pause(&mut self) {
        if let Err(message) = self.hook(self.calls.pause) {
            tracing::error!("on_pause failed: {message}");
        }
    }

    fn on_resume(&mut self) {
        if let Err(message) = self.hook(self.calls.resume) {
            tracing::error!("on_resume failed: {message}");
        }
    }

    /// The plugin's `on_config`, through the table's `configure`.
    fn on_config(&mut self, changes_json: &str) -> ConfigOutcome {
        let Some(configure) = self.calls.configure else {
            return ConfigOutcome::NoHook;
        };
        let mut no_hook = false;
        let result = self.invoke(|instance, error| {
            // SAFETY: the instance is live (checked by `invoke`), the changes
            // stay readable for the call, and the error buffer is ours for it.
            let status =
                unsafe { configure(instance, changes_json.as_ptr(), changes_json.len(), error) };
            no_hook = status == STATUS_NO_HOOK;
            if no_hook {
                STATUS_OK
            } else {
                status
            }
        });
        match (result, no_hook) {
            (Ok(()), true) => ConfigOutcome::NoHook,
            (Ok(()), false) => ConfigOutcome::Applied,
            (Err(message), _) => ConfigOutcome::Failed { message },
        }
    }

    /// The plugin's `snapshot`, written through a sink into memory of the
    /// worker's, refused past `MAX_STATE_BYTES` as it grows.
    fn snapshot(&mut self) -> Result<Option<Vec<u8>>, String> {
        let Some(snapshot) = self.calls.snapshot else {
            return Ok(None);
        };
        let mut state = StateBuf::default();
        let sink = state.sink();
        let mut kept = true;
        let result = self.invoke(|instance, error| {
            // SAFETY: the instance is live (checked by `invoke`); the sink
            // and its context outlive the call, and the error buffer is
            // ours for it.
            let status = unsafe { snapshot(instance, &sink, error) };
            kept = status != STATUS_NO_HOOK;
            if kept {
                status
            } else {
                STATUS_OK
            }
        });
        state.check(&self.id)?;
        result?;
        Ok(kept.then(|| state.into_bytes()))
    }

    /// The plugin's `restore`; a 3.0 plugin has none.
    fn restore(&mut self, saved: &[u8]) -> Result<(), String> {
        let Some(restore) = self.calls.restore else {
            return Err(NO_RESTORE.to_owned());
        };
        // SAFETY: the instance is live (checked by `invoke`), the state
        // stays readable for the call, and the error buffer is ours for it.
        self.invoke(|instance, error| unsafe {
            restore(instance, saved.as_ptr(), saved.len(), error)
        })
    }

    fn teardown(&mut self) {
        self.destroy();
    }
}

impl Drop for PluginProcessor {
    fn drop(&mut self) {
        self.destroy();
    }
}

/// What the loan and send callbacks reach through `HostOutputs::ctx`.
struct HostCtx<'o, 'a> {
    outputs: &'o mut Outputs<'a>,
    /// What `next` answers.
    base: FrameHeader,
    /// The last output failure, which the plugin only sees as null or a
    /// status, kept to explain the plugin's error.
    failure: Option<String>,
}

/// How a callback's context pointer reaches the output ports: those of the
/// call in progress, or a manual processor's, which its threads share.
trait Reach {
    /// Runs `f` on the ports; `None` when it failed (or panicked).
    ///
    /// # Safety
    /// `ctx` is the context of `HostOutputs` of this kind, while it is
    /// valid.
    unsafe fn with<T>(
        ctx: *mut c_void,
        f: impl FnOnce(&mut dyn Ports) -> Result<T, String>,
    ) -> Option<T>;

    /// The header the next frame defaults to.
    ///
    /// # Safety
    /// As for [`Reach::with`].
    unsafe fn next(ctx: *mut c_void) -> Option<FrameHeader>;

    /// Finishes a manual source; false for the outputs of a call.
    ///
    /// # Safety
    /// As for [`Reach::with`].
    unsafe fn finish(ctx: *mut c_void) -> bool;
}

/// The ports of the `process` or `produce` call in progress (`HostCtx`).
struct InCall;

impl Reach for InCall {
    unsafe fn with<T>(
        ctx: *mut c_void,
        f: impl FnOnce(&mut dyn Ports) -> Result<T, String>,
    ) -> Option<T> {
        // SAFETY: the `HostCtx` lives in the frame of the call, which is
        // blocked in the plugin and touches it only after the plugin
        // returns; callbacks come one at a time (the SDK's output ports are
        // `&mut`), and each makes its reference anew and drops it before
        // returning.
        let ctx = unsafe { &mut *ctx.cast::<HostCtx<'_, '_>>() };
        caught(|| f(ctx.outputs))
            .map_err(|failure| ctx.failure = Some(failure))
            .ok()
    }

    unsafe fn next(ctx: *mut c_void) -> Option<FrameHeader> {
        // SAFETY: as in `with`.
        Some(unsafe { &*ctx.cast::<HostCtx<'_, '_>>() }.base)
    }

    unsafe fn finish(_ctx: *mut c_void) -> bool {
        false
    }
}

/// A manual processor's ports, which the instance keeps alive. The plugin
/// sees a failure only as null or a status; what matters to the pipeline
/// (a refused frame, a full `/dev/shm`) the producer reports itself.
struct Manual;

impl Reach for Manual {
    unsafe fn with<T>(
        ctx: *mut c_void,
        f: impl FnOnce(&mut dyn Ports) -> Result<T, String>,
    ) -> Option<T> {
        // SAFETY: the caller's promise; the mutex makes the threads take
        // turns.
        let manual = unsafe { &*ctx.cast::<Mutex<Producer>>() };
        let mut producer = manual.lock().unwrap_or_else(|e| e.into_inner());
        caught(|| f(&mut *producer)).ok()
    }

    unsafe fn next(ctx: *mut c_void) -> Option<FrameHeader> {
        // SAFETY: as in `with`.
        let manual = unsafe { &*ctx.cast::<Mutex<Producer>>() };
        let producer = manual.lock().unwrap_or_else(|e| e.into_inner());
        Some(producer.next_header())
    }

    unsafe fn finish(ctx: *mut c_void) -> bool {
        // SAFETY: as in `with`.
        let manual = unsafe { &*ctx.cast::<Mutex<Producer>>() };
        manual.lock().unwrap_or_else(|e| e.into_inner()).finish();
        true
    }
}

/// `HostOutputs::loan` for ports reached as `R` says.
unsafe extern "C" fn loan<R: Reach>(ctx: *mut c_void, port: u32, len: usize) -> *mut u8 {
    // SAFETY: the plugin calls back with the `ctx` of the `HostOutputs` it
    // was handed, while they are valid.
    let loaned = unsafe {
        R::with(ctx, |ports| {
            ports
                .loan(port as usize, len)
                .map(|buffer| buffer.as_mut_ptr())
                .map_err(|e| e.to_string())
        })
    };
    loaned.unwrap_or(std::ptr::null_mut())
}

/// `HostOutputs::send`; a frame dropped because its manual processor is
/// paused is no failure.
unsafe extern "C" fn send<R: Reach>(
    ctx: *mut c_void,
    port: u32,
    header: *const FrameHeader,
) -> i32 {
    // SAFETY: the plugin passes null or a header it owns for this call.
    let Some(header) = (unsafe { header.as_ref() }) else {
        return STATUS_ERROR;
    };
    // SAFETY: as in `loan`.
    let sent = unsafe {
        R::with(ctx, |ports| {
            ports.send(port as usize, header).map_err(|e| e.to_string())
        })
    };
    sent.map_or(STATUS_ERROR, |_| STATUS_OK)
}

/// `HostOutputs::next`.
unsafe extern "C" fn next<R: Reach>(ctx: *mut c_void, header: *mut FrameHeader) {
    // SAFETY: as in `loan`; the plugin passes null or a header of its own
    // to fill.
    unsafe {
        if let (Some(next), Some(header)) = (R::next(ctx), header.as_mut()) {
            *header = next;
        }
    }
}

/// `HostOutputs::finish`.
unsafe extern "C" fn finish<R: Reach>(ctx: *mut c_void) -> i32 {
    // SAFETY: as in `loan`.
    match unsafe { R::finish(ctx) } {
        true => STATUS_OK,
        false => STATUS_ERROR,
    }
}
