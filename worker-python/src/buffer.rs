//! The buffer-protocol plumbing that input frames and output buffers share:
//! shared-memory bytes handed to Python without a copy, and the count of
//! views still exported, which decides how long those bytes must stay valid.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::prelude::*;
use pyo3::{ffi, PyErr};

/// Bytes in shared memory that Python may view, with their open exports.
pub struct ExportedBytes {
    ptr: *mut u8,
    len: usize,
    exports: AtomicUsize,
}

// SAFETY: the pointer is only handed to Python (holding the GIL) while the
// owner guarantees the bytes are mapped; the count is atomic. Views of
// shared memory may be read from any thread, which is the point of letting
// Python threads work on frames.
unsafe impl Send for ExportedBytes {}
// SAFETY: shared references only read the pointer and length, which never
// change, and the atomic count; what Python does with the bytes through its
// views is the buffer protocol's business, as for `Send` above.
unsafe impl Sync for ExportedBytes {}

impl ExportedBytes {
    pub fn new(ptr: *mut u8, len: usize) -> Self {
        Self {
            ptr,
            len,
            exports: AtomicUsize::new(0),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Views exported and not yet released.
    pub fn exports(&self) -> usize {
        self.exports.load(Ordering::Acquire)
    }

    /// Fills `view` with these bytes on behalf of `owner` and counts it.
    ///
    /// # Safety
    /// `view` comes from Python's `bf_getbuffer` call, and the bytes stay
    /// mapped until this export is released.
    pub unsafe fn export(
        &self,
        owner: &Bound<'_, PyAny>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
        readonly: bool,
    ) -> PyResult<()> {
        // A slice longer than isize::MAX cannot exist, so the cast is exact.
        let len = self.len as ffi::Py_ssize_t;
        // SAFETY: the caller passes the view Python asked us to fill.
        let filled = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                owner.as_ptr(),
                self.ptr.cast::<c_void>(),
                len,
                c_int::from(readonly),
                flags,
            )
        };
        if filled != 0 {
            return Err(PyErr::fetch(owner.py()));
        }
        self.exports.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Counts a released view. Returns true when it was the last one.
    pub fn release(&self) -> bool {
        self.exports.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

/// Refuses a `bf_getbuffer` request with `err`, leaving the view empty as
/// the protocol asks of a failed export.
///
/// # Safety
/// `view` comes from Python's `bf_getbuffer` call.
pub unsafe fn refuse(view: *mut ffi::Py_buffer, err: PyErr) -> PyResult<()> {
    // SAFETY: Python passes a writable Py_buffer.
    unsafe { (*view).obj = std::ptr::null_mut() };
    Err(err)
}
