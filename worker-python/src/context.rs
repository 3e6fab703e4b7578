//! What a Python processor gets as `ctx`: its config, its id and its
//! outputs by name.

use std::sync::Arc;

use ipc_schemas::SchemaId;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::outputs::{CallScope, Output};

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
