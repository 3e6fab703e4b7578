//! What a Python processor writes with, and when it may. `ctx.outputs[port]`
//! is an [`Output`], whose `loan(n)` (bytes) or `loan_array(shape)` (an
//! array of the port's schema) gives an [`OutBuffer`] over shared memory,
//! and `send()` publishes it. The runtime's outputs are open only while a
//! call runs or, for a manual processor, between `start` and `stop`, so
//! these objects reach them through a [`CallScope`] that says which. A
//! manual processor's own Python threads use them too, so everything here
//! is shared under locks (the GIL already makes the threads take turns; the
//! locks make that explicit to Rust).

use std::ffi::c_int;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ipc_schemas::{FrameHeader, SchemaId};
use pyo3::exceptions::{PyBufferError, PyRuntimeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use worker_lifecycle::{Outputs, Ports, Producer};

use crate::arrays::{ArrayLoan, Element, Layout};
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
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The runtime's outputs while they are open, shared by every `Output` of
/// one processor.
pub struct CallScope {
    open: Mutex<Open>,
    /// Buffers loaned and not yet sent, ended when the scope closes.
    pub(crate) loans: Mutex<Vec<Py<OutBuffer>>>,
    /// Per output port, the last buffer loaned and not sent. The runtime
    /// keeps its memory until the next loan on the port gives it back.
    pub(crate) unsent: Mutex<Vec<Option<Py<OutBuffer>>>>,
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
    pub(crate) fn finish(&self) -> PyResult<()> {
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
    pub(crate) fn check_open(&self) -> PyResult<()> {
        self.with_outputs(|_| ())
    }

    /// The header `send()` starts from when it is given no `like`.
    pub(crate) fn base(&self) -> PyResult<FrameHeader> {
        match &*lock(&self.open) {
            Open::Closed => Err(PyRuntimeError::new_err(OUTSIDE_PROCESS)),
            Open::Call { input, .. } => Ok(*input),
            Open::Manual(producer) => Ok(producer.next_header()),
        }
    }

    /// Runs `f` on the open outputs, with the lock held throughout.
    pub(crate) fn with_outputs<R>(&self, f: impl FnOnce(&mut dyn Ports) -> R) -> PyResult<R> {
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

/// One output port of the processor.
#[pyclass(module = "plexus", frozen)]
pub struct Output {
    port: usize,
    #[pyo3(get)]
    pub(crate) name: String,
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
        Self::lend(slf, len, None)
    }

    /// Loans a packed array of `shape` (elements of the port's schema;
    /// `dtype`, if given, must name them) to fill through `buf.array` and
    /// `send()` with the header's shape filled in.
    #[pyo3(signature = (shape, dtype=None))]
    fn loan_array<'py>(
        slf: &Bound<'py, Self>,
        shape: &Bound<'py, PyAny>,
        dtype: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, OutBuffer>> {
        let this = slf.get();
        let refused = |why: String| {
            PyValueError::new_err(format!(
                "cannot loan an array on output `{}` ({}): {why}",
                this.name,
                this.schema.name()
            ))
        };
        let shape = extents(shape).map_err(refused)?;
        let dtype = dtype.map(dtype_name).transpose()?;
        let loan = ArrayLoan::plan(this.schema, &shape, dtype.as_deref()).map_err(refused)?;
        Self::lend(slf, loan.len, Some(loan))
    }

    fn __repr__(&self) -> String {
        format!("<plexus.Output {} {}>", self.name, self.schema.name())
    }
}

impl Output {
    pub(crate) fn new(port: usize, name: String, schema: SchemaId, scope: Arc<CallScope>) -> Self {
        Self {
            port,
            name,
            schema,
            scope,
        }
    }

    /// Loans `len` bytes on the port, for `loan` and `loan_array` alike.
    fn lend<'py>(
        slf: &Bound<'py, Self>,
        len: usize,
        shaped: Option<ArrayLoan>,
    ) -> PyResult<Bound<'py, OutBuffer>> {
        let py = slf.py();
        let this = slf.get();
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
                shaped,
            },
        )?;
        lock(&scope.unsent)[this.port] = Some(buffer.clone().unbind());
        lock(&scope.loans).push(buffer.clone().unbind());
        Ok(buffer)
    }
}

/// The extents `loan_array` is given: an int, or a sequence of ints.
fn extents(shape: &Bound<'_, PyAny>) -> Result<Vec<i64>, String> {
    if let Ok(one) = shape.extract::<i64>() {
        return Ok(vec![one]);
    }
    shape
        .extract::<Vec<i64>>()
        .map_err(|_| format!("its shape is an int or a sequence of ints, not {shape:?}"))
}

/// The name numpy gives `dtype` (a string such as "float32", or anything
/// `numpy.dtype` takes: `np.float32`, `np.dtype("<f4")`).
fn dtype_name(dtype: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(name) = dtype.extract::<String>() {
        if [Element::F32, Element::U8].iter().any(|e| e.name() == name) {
            return Ok(name);
        }
    }
    let numpy = dtype.py().import("numpy")?;
    numpy
        .call_method1("dtype", (dtype,))?
        .getattr("name")?
        .extract()
}

/// Writable, not yet sent.
pub(crate) const OPEN: u8 = 0;
const SENT: u8 = 1;
/// Given back to the bus by a newer loan on the same port.
const SUPERSEDED: u8 = 2;
/// Not sent before `process` returned.
pub(crate) const ENDED: u8 = 3;

/// Shared memory loaned on an output, writable until sent.
#[pyclass(module = "plexus", frozen)]
pub struct OutBuffer {
    pub(crate) bytes: ExportedBytes,
    pub(crate) output: Py<Output>,
    pub(crate) state: AtomicU8,
    /// The header `send()` starts from when given no `like`, taken when
    /// the buffer was loaned: in a manual processor, its sequence number
    /// and capture time are those of the loan.
    base: FrameHeader,
    /// The array `loan_array` loaned, which `array` shows and `send()`
    /// describes in the header; none for `loan(len)`.
    shaped: Option<ArrayLoan>,
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

    /// A writable numpy array over the loaned memory: the shape
    /// `loan_array` was given, or the bytes of `loan(len)`. Made anew on
    /// each access; like any view of the buffer, it must not outlive the
    /// call.
    #[getter]
    fn array<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let this = slf.get();
        let bytes = Layout {
            element: Element::U8,
            shape: vec![this.bytes.len()],
            strides: vec![1],
        };
        let layout = this.shaped.as_ref().map_or(&bytes, |loan| &loan.layout);
        layout.ndarray(slf.as_any())
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
    /// keywords; the schema is always the port's, and a buffer of
    /// `loan_array` says its shape.
    #[pyo3(signature = (like=None, *, seq=None, capture_ns=None, width=None, height=None, stride=None, format=None, pts_ns=None, duration_ns=None, rate=None))]
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
        rate: Option<u32>,
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
        let mut header = FrameHeader {
            seq: seq.unwrap_or(base.seq),
            capture_ns: capture_ns.unwrap_or(base.capture_ns),
            width: width.unwrap_or(base.width),
            height: height.unwrap_or(base.height),
            stride: stride.unwrap_or(base.stride),
            format: format.unwrap_or(base.format),
            pts_ns: pts_ns.unwrap_or(base.pts_ns),
            duration_ns: duration_ns.unwrap_or(base.duration_ns),
            rate: rate.unwrap_or(base.rate),
            ..base
        };
        if let Some(loan) = &this.shaped {
            loan.describe(&mut header);
        }
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

#[cfg(test)]
mod tests {
    use pyo3::types::PyDict;

    use super::*;
    use crate::context::Context;
    use crate::testing::{raised, run, with_python};

    /// A processor's `ctx` with a few outputs, outside any call.
    fn namespace(py: Python<'_>) -> Bound<'_, PyDict> {
        let ports = [
            ("power".to_string(), SchemaId::TensorF32),
            ("block".to_string(), SchemaId::SamplesF32),
            ("raw".to_string(), SchemaId::Bytes),
        ];
        let scope = CallScope::new(ports.len());
        let ctx = Context::new(py, "p", PyDict::new(py).into_any(), &ports, &scope).unwrap();
        let locals = PyDict::new(py);
        locals
            .set_item("ctx", Bound::new(py, ctx).unwrap())
            .unwrap();
        locals
    }

    /// A bad shaped loan is one sentence naming the port and the reason,
    /// before anything is loaned (so here, outside a call, it is that
    /// sentence and not "outputs can only be used inside process()").
    #[test]
    fn a_bad_loan_array_names_the_port_and_why() {
        with_python(|py| {
            let locals = namespace(py);
            let cases = [
                (
                    "ctx.outputs['power'].loan_array((1, 2, 3, 4, 5))",
                    "ValueError: cannot loan an array on output `power` (tensor/f32): a shape has 1 to 4 dimensions, not 5 (1, 2, 3, 4, 5)",
                ),
                (
                    "ctx.outputs['power'].loan_array(8, dtype='uint8')",
                    "ValueError: cannot loan an array on output `power` (tensor/f32): its elements are float32, not uint8",
                ),
                (
                    "ctx.outputs['block'].loan_array([8])",
                    "ValueError: cannot loan an array on output `block` (samples/f32): it takes a shape (channels, samples), not (8)",
                ),
                (
                    "ctx.outputs['raw'].loan_array((4,))",
                    "ValueError: cannot loan an array on output `raw` (bytes): bytes frames have no array shape: loan(len) them as bytes",
                ),
                (
                    "ctx.outputs['power'].loan_array('8')",
                    "ValueError: cannot loan an array on output `power` (tensor/f32): its shape is an int or a sequence of ints, not '8'",
                ),
            ];
            for (code, error) in cases {
                assert_eq!(raised(py, code, &locals), error, "{code}");
            }
            // A good one gets as far as the closed outputs.
            assert!(raised(
                py,
                "ctx.outputs['block'].loan_array((8, 25), dtype='float32')",
                &locals
            )
            .starts_with("RuntimeError: outputs can only be used inside process()"));
            run(
                py,
                "assert ctx.outputs['power'].schema == 'tensor/f32'",
                &locals,
            )
            .unwrap();
        });
    }
}
