//! A Python processor's state across a live swap (`plexus upgrade`): its
//! optional `snapshot()` gives bytes for its successor, whose optional
//! `restore(state)` takes them before its first frame.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use worker_lifecycle::{check_state_size, NO_RESTORE};

use crate::traceback::describe;

/// Calls `snapshot()` of `instance`, processor `id`: `None` when the class
/// has no such method. It may return bytes, a bytearray or any other
/// object with the buffer protocol; the state is copied out of it.
pub fn snapshot(
    py: Python<'_>,
    instance: &Bound<'_, PyAny>,
    id: &str,
) -> Result<Option<Vec<u8>>, String> {
    let Some(hook) = method(instance, intern!(py, "snapshot"), id)? else {
        return Ok(None);
    };
    let state = hook
        .call0()
        .map_err(|e| format!("snapshot() of `{id}` raised {}", describe(py, &e)))?;
    if let Ok(bytes) = state.cast::<PyBytes>() {
        check_state_size(id, bytes.as_bytes().len())?;
        return Ok(Some(bytes.as_bytes().to_vec()));
    }
    let not_bytes = || {
        let type_name = state
            .get_type()
            .name()
            .map_or_else(|_| "an unknown type".to_owned(), |n| n.to_string());
        format!("snapshot() of `{id}` returned {type_name}, not bytes")
    };
    // A memoryview takes any buffer; its size is checked before the copy.
    let view = py
        .import(intern!(py, "builtins"))
        .and_then(|builtins| builtins.getattr(intern!(py, "memoryview")))
        .and_then(|memoryview| memoryview.call1((&state,)))
        .map_err(|_| not_bytes())?;
    let len: usize = view
        .getattr(intern!(py, "nbytes"))
        .and_then(|n| n.extract())
        .map_err(|e| format!("cannot size the snapshot of `{id}`: {}", describe(py, &e)))?;
    check_state_size(id, len)?;
    let copied = view
        .call_method0(intern!(py, "tobytes"))
        .map_err(|e| format!("cannot copy the snapshot of `{id}`: {}", describe(py, &e)))?;
    let copied = copied.cast::<PyBytes>().map_err(|_| not_bytes())?;
    Ok(Some(copied.as_bytes().to_vec()))
}

/// Calls `restore(state)` of `instance`, processor `id`, with `state` as
/// `bytes`; a class without the method cannot take its predecessor's state.
pub fn restore(
    py: Python<'_>,
    instance: &Bound<'_, PyAny>,
    id: &str,
    state: &[u8],
) -> Result<(), String> {
    let Some(hook) = method(instance, intern!(py, "restore"), id)? else {
        return Err(NO_RESTORE.to_owned());
    };
    hook.call1((PyBytes::new(py, state),))
        .map(drop)
        .map_err(|e| format!("restore() of `{id}` raised {}", describe(py, &e)))
}

/// The callable attribute `name` of `instance`, if it has one.
fn method<'py>(
    instance: &Bound<'py, PyAny>,
    name: &Bound<'py, pyo3::types::PyString>,
    id: &str,
) -> Result<Option<Bound<'py, PyAny>>, String> {
    match instance.getattr_opt(name) {
        Ok(found) => Ok(found.filter(|m| m.is_callable())),
        Err(e) => Err(format!(
            "cannot look up {name}() of `{id}`: {}",
            describe(instance.py(), &e)
        )),
    }
}

#[cfg(test)]
mod tests {
    use pyo3::types::PyDict;

    use super::*;
    use crate::testing::{run, with_python};

    /// An instance of class `C` defined by `code`.
    fn instance<'py>(py: Python<'py>, code: &str) -> Bound<'py, PyAny> {
        let locals = PyDict::new(py);
        run(py, code, &locals).unwrap();
        locals.get_item("C").unwrap().unwrap().call0().unwrap()
    }

    const COUNTER: &str = "class C:\n    count = 0\n    def snapshot(self):\n        return self.count.to_bytes(8, 'little')\n    def restore(self, state):\n        if len(state) != 8: raise ValueError(f'{len(state)} bytes')\n        self.count = int.from_bytes(state, 'little')\n";

    #[test]
    fn state_goes_from_snapshot_to_restore() {
        with_python(|py| {
            let old = instance(py, COUNTER);
            old.setattr("count", 41).unwrap();
            let state = snapshot(py, &old, "c").unwrap().unwrap();
            assert_eq!(state, 41_u64.to_le_bytes());
            let new = instance(py, COUNTER);
            restore(py, &new, "c", &state).unwrap();
            let count: u64 = new.getattr("count").unwrap().extract().unwrap();
            assert_eq!(count, 41);
            let refused = restore(py, &new, "c", &[1, 2]).unwrap_err();
            let mut lines = refused.lines();
            assert_eq!(
                lines.next().unwrap(),
                "restore() of `c` raised ValueError: 2 bytes"
            );
            assert_eq!(lines.next().unwrap(), "Traceback (most recent call last):");
        });
    }

    #[test]
    fn any_buffer_is_state_and_anything_else_is_refused() {
        with_python(|py| {
            let code = "class C:\n    value = bytearray(b'ab')\n    def snapshot(self): return self.value\n";
            let processor = instance(py, code);
            assert_eq!(snapshot(py, &processor, "c"), Ok(Some(b"ab".to_vec())));
            let words = py
                .eval(c"__import__('array').array('H', [1, 2])", None, None)
                .unwrap();
            processor.setattr("value", words).unwrap();
            assert_eq!(snapshot(py, &processor, "c"), Ok(Some(vec![1, 0, 2, 0])));
            processor.setattr("value", 7).unwrap();
            assert_eq!(
                snapshot(py, &processor, "c"),
                Err("snapshot() of `c` returned int, not bytes".into())
            );
            processor.setattr("value", py.None()).unwrap();
            assert_eq!(
                snapshot(py, &processor, "c"),
                Err("snapshot() of `c` returned NoneType, not bytes".into())
            );
        });
    }

    #[test]
    fn without_hooks_there_is_no_state_and_none_is_taken() {
        with_python(|py| {
            let processor = instance(py, "class C:\n    def process(self, ctx, inputs): pass\n");
            assert_eq!(snapshot(py, &processor, "c"), Ok(None));
            assert_eq!(restore(py, &processor, "c", b"x"), Err(NO_RESTORE.into()));
        });
    }

    #[test]
    fn a_snapshot_over_the_bound_is_refused_with_its_size() {
        with_python(|py| {
            let code = format!(
                "class C:\n    def snapshot(self): return bytes({})\n",
                ipc_schemas::control::MAX_STATE_BYTES + 1
            );
            let message = snapshot(py, &instance(py, &code), "big").unwrap_err();
            assert!(
                message.starts_with(&format!(
                    "the snapshot of `big` is {} bytes",
                    ipc_schemas::control::MAX_STATE_BYTES + 1
                )),
                "{message}"
            );
            let raises = "class C:\n    def snapshot(self): raise KeyError('gone')\n";
            let message = snapshot(py, &instance(py, raises), "c").unwrap_err();
            assert!(
                message.starts_with("snapshot() of `c` raised KeyError: 'gone'\nTraceback"),
                "{message}"
            );
        });
    }
}
