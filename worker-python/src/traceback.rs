//! Turns a Python exception into the text of a plexus error: the exception's
//! type and message on the first line, then the traceback as Python prints
//! it, chained exceptions included; or, for a user's mistake a processor
//! reports as `plexus.ConfigError`, the message alone.

use pyo3::prelude::*;

pyo3::create_exception!(
    plexus,
    ConfigError,
    pyo3::exceptions::PyValueError,
    "A mistake in the processor's config or surroundings (a file that does not exist, a directory that cannot be written): its message is shown alone, as one sentence, without a traceback."
);

/// The message of a `plexus.ConfigError`: the user's mistake in one
/// sentence; `None` for any other exception.
pub fn user_mistake(py: Python<'_>, err: &PyErr) -> Option<String> {
    err.is_instance_of::<ConfigError>(py)
        .then(|| err.value(py).str().map(|m| m.to_string()).ok())
        .flatten()
}

/// `Type: message`, then the formatted traceback on the following lines.
pub fn describe(py: Python<'_>, err: &PyErr) -> String {
    let summary = summary(py, err);
    match formatted(py, err) {
        Ok(traceback) => format!("{summary}\n{}", traceback.trim_end()),
        Err(_) => summary,
    }
}

/// The exception's last line as Python words it: the type qualified by its
/// module unless it is a builtin, and the message if there is one.
fn summary(py: Python<'_>, err: &PyErr) -> String {
    let ty = err.get_type(py);
    let name = ty
        .fully_qualified_name()
        .map_or_else(|_| "<unknown exception>".to_owned(), |n| n.to_string());
    let message = err
        .value(py)
        .str()
        .map_or_else(|_| String::new(), |m| m.to_string());
    if message.is_empty() {
        name
    } else {
        format!("{name}: {message}")
    }
}

fn formatted(py: Python<'_>, err: &PyErr) -> PyResult<String> {
    // The traceback is passed explicitly: on Python 3.11 an exception
    // fetched from C does not always carry it in `__traceback__`.
    let lines = py
        .import("traceback")?
        .getattr("format_exception")?
        .call1((err.get_type(py), err.value(py), err.traceback(py)))?;
    Ok(lines.extract::<Vec<String>>()?.concat())
}

#[cfg(test)]
mod tests {
    use pyo3::types::PyDict;

    use super::*;
    use crate::testing::{run, with_python};

    #[test]
    fn describes_type_message_and_chained_traceback() {
        with_python(|py| {
            let code = "def inner():\n    raise KeyError('k')\ntry:\n    inner()\nexcept KeyError as e:\n    raise RuntimeError('outer') from e\n";
            let err = run(py, code, &PyDict::new(py)).unwrap_err();
            let text = describe(py, &err);
            let mut lines = text.lines();
            assert_eq!(lines.next().unwrap(), "RuntimeError: outer");
            assert_eq!(lines.next().unwrap(), "Traceback (most recent call last):");
            assert!(text.contains("in inner"), "the cause's traceback: {text}");
            assert!(text.contains("The above exception was the direct cause"));
            assert!(text.ends_with("RuntimeError: outer"), "{text}");
        });
    }

    #[test]
    fn qualifies_non_builtin_types_and_omits_empty_messages() {
        with_python(|py| {
            let code = "class Oops(Exception): pass\nOops.__module__ = 'mine'\nraise Oops()\n";
            let err = run(py, code, &PyDict::new(py)).unwrap_err();
            assert_eq!(describe(py, &err).lines().next().unwrap(), "mine.Oops");
        });
    }
}
