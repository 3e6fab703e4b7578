//! What a Python processor writes with: `ctx.outputs[port].loan(n)` gives a
//! writable buffer over shared memory, `send()` publishes it. The runtime's
//! [`Outputs`] exist only while a call runs, so the Python objects reach them
//! through a [`CallScope`] that is open only for the duration of `process`.

use std::cell::{Cell, RefCell};
use std::ffi::c_int;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, Ordering};

use ipc_schemas::{FrameHeader, SchemaId};
use pyo3::exceptions::{PyBufferError, PyRuntimeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use worker_lifecycle::Outputs;

use crate::buffer::{refuse, ExportedBytes};
use crate::frame::Frame;

const OUTSIDE_PROCESS: &str = "outputs can only be used inside process()";

/// The runtime's outputs while a call runs, shared by every `Output` of one
/// processor.
pub struct CallScope {
    /// The `Outputs` of the running call, its lifetime erased; `None`
    /// between calls. Only [`CallScope::enter`] sets it, and its guard
    /// clears it before the borrow it came from ends.
    outputs: Cell<Option<NonNull<Outputs<'static>>>>,
    /// The header of the frame being processed: what `send()` copies when
    /// it is given no `like`.
    input: Cell<FrameHeader>,
    /// Buffers loaned during the running call, ended when it returns.
    loans: RefCell<Vec<Py<OutBuffer>>>,
    /// Per output port, the last buffer loaned and not sent. The runtime
    /// keeps its memory until the next loan on the port gives it back.
    unsent: RefCell<Vec<Option<Py<OutBuffer>>>>,
}

impl CallScope {
    pub fn new(ports: usize) -> Rc<Self> {
        Rc::new(Self {
            outputs: Cell::new(None),
            input: Cell::new(FrameHeader::default()),
            loans: RefCell::new(Vec::new()),
            unsent: RefCell::new((0..ports).map(|_| None).collect()),
        })
    }

    /// Opens the scope for one call on `input` with `outputs`.
    pub fn enter<'a, 'py>(
        &'a self,
        py: Python<'py>,
        outputs: &'a mut Outputs<'_>,
        input: FrameHeader,
    ) -> CallGuard<'a, 'py> {
        self.outputs
            .set(Some(NonNull::from(outputs).cast::<Outputs<'static>>()));
        self.input.set(input);
        CallGuard { scope: self, py }
    }

    /// Refuses use outside a call.
    fn check_open(&self) -> PyResult<()> {
        self.with_outputs(|_| ())
    }

    /// Runs `f` on the running call's outputs.
    fn with_outputs<R>(&self, f: impl FnOnce(&mut Outputs<'_>) -> R) -> PyResult<R> {
        let outputs = self
            .outputs
            .get()
            .ok_or_else(|| PyRuntimeError::new_err(OUTSIDE_PROCESS))?;
        // SAFETY: set only while `enter`'s exclusive borrow is alive (the
        // guard clears it), used only on the worker's thread (`Output` is
        // unsendable), and `f` is runtime code that calls no Python, so no
        // two of these references ever overlap.
        Ok(f(unsafe { &mut *outputs.as_ptr() }))
    }

    /// Ends the buffers loaned in this call and names the ports of those
    /// whose views are still alive.
    fn end_loans(&self, py: Python<'_>) -> Vec<String> {
        let loans = std::mem::take(&mut *self.loans.borrow_mut());
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
        let escaped = self.scope.end_loans(self.py);
        if escaped.is_empty() {
            return Ok(());
        }
        Err(format!(
            "views of buffers loaned on output {} outlived process(); keep memoryviews and arrays of output buffers local to process()",
            escaped
                .iter()
                .map(|port| format!("`{port}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

impl Drop for CallGuard<'_, '_> {
    fn drop(&mut self) {
        self.scope.outputs.set(None);
        self.scope.end_loans(self.py);
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
}

impl Context {
    /// A context with the processor's outputs, by name, in port order.
    pub fn new(
        py: Python<'_>,
        processor: &str,
        config: Bound<'_, PyAny>,
        ports: &[(String, SchemaId)],
        scope: &Rc<CallScope>,
    ) -> PyResult<Self> {
        let outputs = PyDict::new(py);
        for (port, (name, schema)) in ports.iter().enumerate() {
            let output = Output {
                port,
                name: name.clone(),
                schema: *schema,
                scope: Rc::clone(scope),
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
        })
    }
}

/// One output port of the processor.
#[pyclass(module = "plexus", frozen, unsendable)]
pub struct Output {
    port: usize,
    #[pyo3(get)]
    name: String,
    schema: SchemaId,
    scope: Rc<CallScope>,
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
        let previous = scope.unsent.borrow_mut()[this.port].take();
        if let Some(previous) = previous {
            if previous.get().bytes.exports() > 0 {
                scope.unsent.borrow_mut()[this.port] = Some(previous);
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
            },
        )?;
        scope.unsent.borrow_mut()[this.port] = Some(buffer.clone().unbind());
        scope.loans.borrow_mut().push(buffer.clone().unbind());
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

    /// Sends the buffer. The header is copied from `like` (by default the
    /// frame being processed), then overridden by the keywords; the schema
    /// is always the port's.
    #[pyo3(signature = (like=None, *, seq=None, capture_ns=None, width=None, height=None, stride=None, format=None))]
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
        let base = like.map_or_else(|| scope.input.get(), |frame| frame.get().header());
        let header = FrameHeader {
            seq: seq.unwrap_or(base.seq),
            capture_ns: capture_ns.unwrap_or(base.capture_ns),
            width: width.unwrap_or(base.width),
            height: height.unwrap_or(base.height),
            stride: stride.unwrap_or(base.stride),
            format: format.unwrap_or(base.format),
            ..base
        };
        scope
            .with_outputs(|outputs| outputs.send(output.port, &header))?
            .map_err(|e| {
                PyRuntimeError::new_err(format!("cannot send on output `{}`: {e}", output.name))
            })?;
        this.state.store(SENT, Ordering::Release);
        scope.unsent.borrow_mut()[output.port] = None;
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
