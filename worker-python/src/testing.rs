//! Helpers for the unit tests: a started interpreter and Python snippets
//! run against Rust-made objects.

use std::ffi::CString;

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Runs `test` attached to the interpreter, starting it first.
pub fn with_python<R>(test: impl for<'py> FnOnce(Python<'py>) -> R) -> R {
    crate::interpreter::start().expect("the embedded interpreter starts");
    Python::attach(test)
}

/// Runs `code` with `locals` as its namespace.
pub fn run(py: Python<'_>, code: &str, locals: &Bound<'_, PyDict>) -> PyResult<()> {
    let code = CString::new(code).expect("no NUL in test code");
    py.run(&code, Some(locals), None)
}

/// The message of the exception `code` raises, as `Type: message`.
pub fn raised(py: Python<'_>, code: &str, locals: &Bound<'_, PyDict>) -> String {
    match run(py, code, locals) {
        Ok(()) => panic!("`{code}` raised nothing"),
        Err(e) => {
            let ty = e.get_type(py).name().unwrap().to_string();
            format!("{ty}: {}", e.value(py))
        }
    }
}
