//! When a Python processor's outputs are open, and its `ctx`. The runtime's
//! outputs are open only while a call runs or, for a manual processor,
//! between `start` and `stop`, so the Python objects that loan and send on
//! them (`loans.rs`) reach them through a [`CallScope`] that says which. A manual processor's own Python threads
//! use them too, so everything here is shared under locks (the GIL already
//! makes the threads take turns; the locks make that explicit to Rust).

use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use ipc_schemas::{FrameHeader, SchemaId};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use worker_lifecycle::{Outputs, Ports, Producer};

use crate::loans::{OutBuffer, Output, ENDED, OPEN};

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
            let output = Output::new(port, name.clone(), *schema, Arc::clone(scope));
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
