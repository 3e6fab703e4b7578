//! What a Python processor writes with: `ctx.outputs[port].loan(n)` gives a
//! writable buffer over shared memory, `send()` publishes it. The runtime's
//! outputs are open only while a call runs or, for a manual processor,
//! between `start` and `stop`, so the Python objects reach them through a
//! [`CallScope`] that says which. A manual processor's own Python threads
//! use them too, so everything here is shared under locks (the GIL already
//! makes the threads take turns; the locks make that explicit to Rust).

use std::ffi::c_int;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ipc_schemas::{FrameHeader, SchemaId};
use pyo3::exceptions::{PyBufferError, PyRuntimeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use worker_lifecycle::{Outputs, Ports, Producer};

use crate::buffer::{refuse, ExportedBytes};
use crate::frame::Frame;

const OUTSIDE_PROCESS: &str =
    "outputs can only be used inside process() or produce(), or between start() and stop()";

/// The `Outputs` of a running call, their lifetime erased.
struct Lent(NonNull<Outputs<'static>>);

// SAFETY: the pointer is only dereferenced with the scope's lock held and
// while the call it came from is running (its guard takes it out under the
// lock before the borrow ends), so whichever thread uses it, no two uses
// overlap and none outlives the borrow; the ports behind it are
// thread-safe (`bus::Ipc`).
unsafe impl Send for Lent {}

/// Whether, and how, the outputs are open.
enum Open {
    Closed,
    /// A call runs; `input` is the header `send()` copies when given no
    /// `like`: the frame being processed, or `produce`'s next.
    Call {
        outputs: Lent,
        input: FrameHeader,
    },
    /// A manual processor runs: sends default to its next header.
    Manual(Producer),
}

/// A poisoned lock only means Python code panicked through Rust while
/// holding it; what it guards stays valid.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The runtime's outputs while they are open, shared by every `Output` of
/// one processor.
pub struct CallScope {
    open: Mutex<Open>,
    /// Buffers loaned and not yet sent, ended when the scope closes.
    loans: Mutex<Vec<Py<OutBuffer>>>,
    /// Per output port, the last buffer loaned and not sent. The runtime
    /// keeps its memory until the next loan on the port gives it back.
    unsent: Mutex<Vec<Option<Py<OutBuffer>>>>,
}

impl CallScope {
    pub fn new(ports: usize) -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::new(Open::Closed),
            loans: Mutex::new(Vec::new()),
            unsent: Mutex::new((0..ports).map(|_| None).collect()),
        })
    }

    /// Opens the scope for one call on `input` with `outputs`.
    pub fn enter<'a, 'py>(
        &'a self,
        py: Python<'py>,
        outputs: &'a mut Outputs<'_>,
        input: FrameHeader,
    ) -> CallGuard<'a, 'py> {
        let outputs = Lent(NonNull::from(outputs).cast::<Outputs<'static>>());
        *lock(&self.open) = Open::Call { outputs, input };
        CallGuard { scope: self, py }
    }

    /// Opens the scope for a manual processor, until [`CallScope::close`].
    pub fn open_manual(&self, producer: Producer) {
        *lock(&self.open) = Open::Manual(producer);
    }

    /// Closes the scope, ending the buffers still loaned; returns the
    /// ports of those whose views are still alive.
    pub fn close(&self, py: Python<'_>) -> Vec<String> {
        *lock(&self.open) = Open::Closed;
        self.end_loans(py)
    }

    /// A manual source has sent its last frame.
    fn finish(&self) -> PyResult<()> {
        match &*lock(&self.open) {
            Open::Manual(producer) => {
                producer.finish();
                Ok(())
            }
            _ => Err(PyRuntimeError::new_err(
                "finish() is for a manual source, between start() and stop()",
            )),
        }
    }

    /// Refuses use outside a call.
    fn check_open(&self) -> PyResult<()> {
        self.with_outputs(|_| ())
    }

    /// The header `send()` starts from when it is given no `like`.
    fn base(&self) -> PyResult<FrameHeader> {
        match &*lock(&self.open) {
            Open::Closed => Err(PyRuntimeError::new_err(OUTSIDE_PROCESS)),
            Open::Call { input, .. } => Ok(*input),
            Open::Manual(producer) => Ok(producer.next_header()),
        }
    }

    /// Runs `f` on the open outputs, with the lock held throughout.
    fn with_outputs<R>(&self, f: impl FnOnce(&mut dyn Ports) -> R) -> PyResult<R> {
        match &mut *lock(&self.open) {
            Open::Closed => Err(PyRuntimeError::new_err(OUTSIDE_PROCESS)),
            // SAFETY: in the scope only while `enter`'s exclusive borrow is
            // alive (the guard takes it out under this lock), and `f` is
            // runtime code that calls no Python, so no two of these
            // references ever overlap.
            Open::Call { outputs, .. } => Ok(f(unsafe { &mut *outputs.0.as_ptr() })),
            Open::Manual(producer) => Ok(f(producer)),
        }
    }

    /// Ends the buffers loaned and names the ports of those whose views are
    /// still alive.
    fn end_loans(&self, py: Python<'_>) -> Vec<String> {
        let loans = std::mem::take(&mut *lock(&self.loans));
        let mut escaped = Vec::new();
        for loan in loans {
            let buffer = loan.get();
            let _ = buffer
                .state
                .compare_exchange(OPEN, ENDED, Ordering::AcqRel, Ordering::Acquire);
            if buffer.bytes.exports() > 0 {
                let name = buffer.output.bind(py).borrow().name.clone();
                if !escaped.contains(&name) {
                    escaped.push(name);
                }
            }
        }
        escaped
    }
}

/// An open [`CallScope`]: outputs are usable until it is finished or dropped.
pub struct CallGuard<'a, 'py> {
    scope: &'a CallScope,
    py: Python<'py>,
}

impl CallGuard<'_, '_> {
    /// Closes the scope. Views of output buffers that outlive the call let
    /// the processor write into frames already sent, or block the next loan
    /// on their port; either is reported as an error.
    pub fn finish(self) -> Result<(), String> {
        match outlived(&self.scope.end_loans(self.py), "process()") {
            None => Ok(()),
            Some(error) => Err(format!(
                "{error}; keep memoryviews and arrays of output buffers local to process()"
            )),
        }
    }
}

/// The error for views of output buffers still alive `when` the outputs
/// closed (a call returned, a manual processor stopped), naming the ports
/// of `escaped`; none when there are none.
pub fn outlived(escaped: &[String], when: &str) -> Option<String> {
    (!escaped.is_empty()).then(|| {
        let ports: Vec<String> = escaped.iter().map(|port| format!("`{port}`")).collect();
        format!(
            "views of buffers loaned on output {} outlived {when}",
            ports.join(", ")
        )
    })
}

impl Drop for CallGuard<'_, '_> {
    fn drop(&mut self) {
        self.scope.close(self.py);
    }
}

/// What a processor gets as `ctx` in `setup` and `process`.
#[pyclass(module = "plexus", frozen)]
pub struct Context {
    /// The processor's `config:` from the pipeline.
    #[pyo3(get)]
    config: Py<PyAny>,
    /// The processor's id in the pipeline.
    #[pyo3(get)]
    processor: Py<PyString>,
    /// Output port name → `Output`, read-only.
    #[pyo3(get)]
    outputs: Py<PyAny>,
    scope: Arc<CallScope>,
}

impl Context {
    /// A context with the processor's outputs, by name, in port order.
    pub fn new(
        py: Python<'_>,
        processor: &str,
        config: Bound<'_, PyAny>,
        ports: &[(String, SchemaId)],
        scope: &Arc<CallScope>,
    ) -> PyResult<Self> {
        let outputs = PyDict::new(py);
        for (port, (name, schema)) in ports.iter().enumerate() {
            let output = Output {
                port,
                name: name.clone(),
                schema: *schema,
                scope: Arc::clone(scope),
            };
            outputs.set_item(name, Bound::new(py, output)?)?;
        }
        let read_only = py
            .import("types")?
            .getattr("MappingProxyType")?
            .call1((outputs,))?;
        Ok(Self {
            config: config.unbind(),
            processor: PyString::new(py, processor).unbind(),
            outputs: read_only.unbind(),
            scope: Arc::clone(scope),
        })
    }

    /// The processor's config as `ctx.config` shows it.
    pub fn config<'py>(&self, py: Python<'py>) -> &Bound<'py, PyAny> {
        self.config.bind(py)
    }
}

#[pymethods]
impl Context {
    /// A manual source says it has sent its last frame (the end of its
    /// file): its run can end once downstream has drained its frames, as
    /// when it reaches `--frames`. Frames sent after are dropped.
    fn finish(&self) -> PyResult<()> {
        self.scope.finish()
    }
}

/// One output port of the processor.
#[pyclass(module = "plexus", frozen)]
pub struct Output {
    port: usize,
    #[pyo3(get)]
    name: String,
    schema: SchemaId,
    scope: Arc<CallScope>,
}

#[pymethods]
impl Output {
    /// The port's schema name, e.g. `video/rgba8`.
    #[getter]
    fn schema(&self) -> &'static str {
        self.schema.name()
    }

    /// Loans `len` bytes of shared memory to fill and `send()`.
    fn loan<'py>(slf: &Bound<'py, Self>, len: usize) -> PyResult<Bound<'py, OutBuffer>> {
        let py = slf.py();
        let this = slf.borrow();
        let scope = &this.scope;
        scope.check_open()?;
        // The runtime gives the previous unsent buffer of the port back to
        // the bus on a new loan; its memory must no longer be in view.
        let previous = lock(&scope.unsent)[this.port].take();
        if let Some(previous) = previous {
            if previous.get().bytes.exports() > 0 {
                lock(&scope.unsent)[this.port] = Some(previous);
                return Err(PyBufferError::new_err(format!(
                    "views of the unsent buffer loaned earlier on output `{}` are still alive; release them before loaning again",
                    this.name
                )));
            }
            previous.get().state.store(SUPERSEDED, Ordering::Release);
        }
        let (ptr, loaned) = scope
            .with_outputs(|outputs| {
                outputs
                    .loan(this.port, len)
                    .map(|bytes| (bytes.as_mut_ptr(), bytes.len()))
            })?
            .map_err(|e| {
                PyRuntimeError::new_err(format!(
                    "cannot loan {len} bytes on output `{}`: {e}",
                    this.name
                ))
            })?;
        let bytes = ExportedBytes::new(ptr, loaned);
        let buffer = Bound::new(
            py,
            OutBuffer {
                bytes,
                output: slf.clone().unbind(),
                state: AtomicU8::new(OPEN),
                base: scope.base()?,
            },
        )?;
        lock(&scope.unsent)[this.port] = Some(buffer.clone().unbind());
        lock(&scope.loans).push(buffer.clone().unbind());
        Ok(buffer)
    }

    fn __repr__(&self) -> String {
        format!("<plexus.Output {} {}>", self.name, self.schema.name())
    }
}

/// Writable, not yet sent.
const OPEN: u8 = 0;
const SENT: u8 = 1;
/// Given back to the bus by a newer loan on the same port.
const SUPERSEDED: u8 = 2;
/// Not sent before `process` returned.
const ENDED: u8 = 3;

/// Shared memory loaned on an output, writable until sent.
#[pyclass(module = "plexus", frozen)]
pub struct OutBuffer {
    bytes: ExportedBytes,
    output: Py<Output>,
    state: AtomicU8,
    /// The header `send()` starts from when given no `like`, taken when
    /// the buffer was loaned: in a manual processor, its sequence number
    /// and capture time are those of the loan.
    base: FrameHeader,
}

#[pymethods]
impl OutBuffer {
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let this = slf.get();
        let refused = match this.state.load(Ordering::Acquire) {
            OPEN => None,
            SENT => Some("plexus.OutBuffer used after send()"),
            SUPERSEDED => Some("plexus.OutBuffer used after a newer loan on its output"),
            _ => Some("plexus.OutBuffer used after process() returned"),
        };
        if let Some(message) = refused {
            // SAFETY: `view` is the one Python asked us to fill.
            return unsafe { refuse(view, PyValueError::new_err(message)) };
        }
        // SAFETY: an open buffer is the runtime's pending loan, mapped until
        // it is sent or given back; views that outlive the call are
        // reported, and a newer loan is refused while they are alive.
        unsafe { this.bytes.export(slf.as_any(), view, flags, false) }
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        self.bytes.release();
    }

    fn __len__(&self) -> usize {
        self.bytes.len()
    }

    /// The sequence number `send()` gives the frame unless told otherwise:
    /// in a source, the next one, so it can draw frame `seq`.
    #[getter]
    fn seq(&self) -> u64 {
        self.base.seq
    }

    /// Sends the buffer. The header is copied from `like` (by default the
    /// frame being processed; in `produce()` and a manual processor, the
    /// next sequence number and the time of the loan), then overridden by the
    /// keywords; the schema is always the port's.
    #[pyo3(signature = (like=None, *, seq=None, capture_ns=None, width=None, height=None, stride=None, format=None, pts_ns=None, duration_ns=None))]
    #[allow(clippy::too_many_arguments)]
    fn send(
        slf: &Bound<'_, Self>,
        like: Option<&Bound<'_, Frame>>,
        seq: Option<u64>,
        capture_ns: Option<u64>,
        width: Option<u32>,
        height: Option<u32>,
        stride: Option<u32>,
        format: Option<u32>,
        pts_ns: Option<i64>,
        duration_ns: Option<u64>,
    ) -> PyResult<()> {
        let this = slf.get();
        let output = this.output.bind(slf.py()).borrow();
        let scope = &output.scope;
        scope.check_open()?;
        match this.state.load(Ordering::Acquire) {
            OPEN => {}
            SENT => return Err(PyRuntimeError::new_err("this buffer was already sent")),
            SUPERSEDED => {
                return Err(PyRuntimeError::new_err(format!(
                    "a newer buffer was loaned on output `{}`, so this one can no longer be sent",
                    output.name
                )))
            }
            _ => return Err(PyRuntimeError::new_err(
                "this buffer was loaned in an earlier call of process() and can no longer be sent",
            )),
        }
        let base = like.map_or(this.base, |frame| frame.get().header());
        if pts_ns == Some(ipc_schemas::frame::NO_PTS) {
            return Err(PyValueError::new_err(
                "pts_ns must be above -2**63, which means \"no pts\"; leave it out instead",
            ));
        }
        let header = FrameHeader {
            seq: seq.unwrap_or(base.seq),
            capture_ns: capture_ns.unwrap_or(base.capture_ns),
            width: width.unwrap_or(base.width),
            height: height.unwrap_or(base.height),
            stride: stride.unwrap_or(base.stride),
            format: format.unwrap_or(base.format),
            pts_ns: pts_ns.unwrap_or(base.pts_ns),
            duration_ns: duration_ns.unwrap_or(base.duration_ns),
            ..base
        };
        scope
            .with_outputs(|outputs| outputs.send(output.port, &header))?
            .map_err(|e| {
                PyRuntimeError::new_err(format!("cannot send on output `{}`: {e}", output.name))
            })?;
        this.state.store(SENT, Ordering::Release);
        lock(&scope.unsent)[output.port] = None;
        lock(&scope.loans).retain(|loan| !loan.is(slf));
        Ok(())
    }

    fn __repr__(&self) -> String {
        let state = match self.state.load(Ordering::Acquire) {
            OPEN => "open",
            SENT => "sent",
            SUPERSEDED => "superseded",
            _ => "ended",
        };
        format!("<plexus.OutBuffer {} bytes, {state}>", self.bytes.len())
    }
}
