//! `plexus.Frame`: an input frame as a Python processor sees it, a read-only
//! buffer directly over the shared-memory bytes (so `memoryview(frame)` and
//! `np.frombuffer(frame, np.uint8)` copy nothing), plus its header fields.
//!
//! The bytes belong to a sample the runtime drops when `process` returns.
//! Python cannot be made to give back a buffer it was handed, so when the
//! call ends the worker *closes* the frame: the `data` memoryview is
//! released, new views are refused, and if views are still out (an escaped
//! numpy array) the sample is retained until the last one is released.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use ipc_schemas::{FrameHeader, SchemaId};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyMemoryView, PyTuple};
use pyo3::{ffi, intern};

use crate::arrays::Layout;
use crate::buffer::{refuse, ExportedBytes};

/// Whatever keeps a closed frame's bytes mapped: the input's sample.
pub type KeepAlive = Box<dyn Any>;

const USED_AFTER_RETURN: &str = "plexus.Frame used after process() returned";

thread_local! {
    /// Closed frames that still had views out, with what keeps their bytes
    /// valid. Samples are bound to the worker's thread, which closes every
    /// frame, so they live here and are only ever dropped on that thread;
    /// a view released on another Python thread is picked up by the next
    /// sweep on the worker's thread.
    static RETAINED: RefCell<Vec<(Py<Frame>, KeepAlive)>> = const { RefCell::new(Vec::new()) };
}

/// Drops what keeps the bytes of closed frames alive once their last view is
/// gone. Cheap when nothing is retained, so it runs before every call.
pub fn sweep_retained() {
    let released = RETAINED.with_borrow_mut(|retained| {
        if retained.is_empty() {
            return Vec::new();
        }
        let (released, kept) = std::mem::take(retained)
            .into_iter()
            .partition(|(frame, _)| frame.get().bytes.exports() == 0);
        *retained = kept;
        released
    });
    // Dropped outside the borrow: releasing a frame may run Python code.
    drop(released);
}

/// Drops what keeps the bytes of every closed frame alive, views or not.
/// Called once the processor's code has run for the last time: the samples
/// go back while their subscriber still exists and the GIL is held, rather
/// than from a thread-local destructor at exit, where neither is true and
/// the worker would abort instead of exiting cleanly.
pub fn release_retained() {
    let all = RETAINED.with_borrow_mut(std::mem::take);
    drop(all);
}

/// One input frame, valid for the duration of a `process` call.
#[pyclass(module = "plexus", frozen)]
pub struct Frame {
    bytes: ExportedBytes,
    header: FrameHeader,
    closed: AtomicBool,
    /// The memoryview behind `data`, made on first use. It is also the
    /// frame's lock: closing and caching happen under it.
    data: Mutex<Option<Py<PyMemoryView>>>,
}

impl Frame {
    /// A frame over `data`, which the caller keeps valid until it calls
    /// [`Frame::close`] (and longer if close asks it to retain them).
    pub fn new(header: FrameHeader, data: &[u8]) -> Self {
        Self {
            bytes: ExportedBytes::new(data.as_ptr().cast_mut(), data.len()),
            header,
            closed: AtomicBool::new(false),
            data: Mutex::new(None),
        }
    }

    pub fn header(&self) -> FrameHeader {
        self.header
    }

    /// How `array` lays the bytes out.
    fn layout(&self) -> PyResult<Layout> {
        Layout::of_frame(&self.header, self.bytes.len()).map_err(PyValueError::new_err)
    }

    /// Views of the frame's bytes still exported; after close, a frame with
    /// views left is one whose sample is retained.
    pub fn views(&self) -> usize {
        self.bytes.exports()
    }

    /// Ends the frame's validity: releases the cached `data` memoryview,
    /// refuses new views, and if views are still exported calls `retain`
    /// and keeps what it returns until the last of them is released.
    pub fn close(slf: &Bound<'_, Self>, retain: impl FnOnce() -> Option<KeepAlive>) {
        let this = slf.get();
        let cached = {
            let mut data = lock(&this.data);
            this.closed.store(true, Ordering::Release);
            data.take()
        };
        if let Some(view) = cached {
            // Fails with BufferError while an array made from the memoryview
            // is alive; its export then stays counted and retains the sample.
            let _ = view
                .bind(slf.py())
                .call_method0(intern!(slf.py(), "release"));
        }
        if this.bytes.exports() > 0 {
            if let Some(keep) = retain() {
                RETAINED.with_borrow_mut(|retained| retained.push((slf.clone().unbind(), keep)));
            }
        }
    }
}

#[pymethods]
impl Frame {
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let this = slf.get();
        if this.closed.load(Ordering::Acquire) {
            // SAFETY: `view` is the one Python asked us to fill.
            return unsafe { refuse(view, PyValueError::new_err(USED_AFTER_RETURN)) };
        }
        // SAFETY: not closed, so the runtime still holds the sample; once
        // closed with this export open, the sample is retained until
        // `__releasebuffer__` has seen the last export go.
        unsafe { this.bytes.export(slf.as_any(), view, flags, true) }
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        if self.bytes.release() && self.closed.load(Ordering::Acquire) {
            sweep_retained();
        }
    }

    fn __len__(&self) -> usize {
        self.bytes.len()
    }

    /// A memoryview over the frame's bytes, made once per frame.
    #[getter]
    fn data<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyMemoryView>> {
        let py = slf.py();
        let this = slf.get();
        if let Some(view) = lock(&this.data).as_ref() {
            return Ok(view.bind(py).clone());
        }
        // Made without the lock held: making it runs Python code.
        let view = PyMemoryView::from(slf.as_any())?;
        let mut cached = lock(&this.data);
        if let Some(first) = cached.as_ref() {
            return Ok(first.bind(py).clone());
        }
        // A frame closed meanwhile must not cache the view: close would
        // never release it, and the frame and the view would keep each
        // other alive.
        if !this.closed.load(Ordering::Acquire) {
            *cached = Some(view.clone().unbind());
        }
        Ok(view)
    }

    #[getter]
    fn seq(&self) -> u64 {
        self.header.seq
    }

    #[getter]
    fn capture_ns(&self) -> u64 {
        self.header.capture_ns
    }

    #[getter]
    fn width(&self) -> u32 {
        self.header.width
    }

    #[getter]
    fn height(&self) -> u32 {
        self.header.height
    }

    #[getter]
    fn stride(&self) -> u32 {
        self.header.stride
    }

    #[getter]
    fn format(&self) -> u32 {
        self.header.format
    }

    /// Presentation time on the source's media clock, in nanoseconds; None
    /// when the source has none.
    #[getter]
    fn pts_ns(&self) -> Option<i64> {
        self.header.pts()
    }

    /// How long the frame is presented, in nanoseconds; 0 when unknown.
    #[getter]
    fn duration_ns(&self) -> u64 {
        self.header.duration_ns
    }

    /// A read-only numpy array over the frame's bytes, shaped as the header
    /// says: (height, width, 4) rows of `stride` bytes for `video/rgba8`,
    /// (height, width) for `video/gray8`, the header's shape and strides
    /// for audio, samples and tensors (float32 or uint8), one dimension of
    /// bytes for `bytes`. Made anew on each access; like any view of the
    /// frame, it keeps the frame's shared memory borrowed while it lives.
    #[getter]
    fn array<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.get().layout()?.ndarray(slf.as_any())
    }

    /// The shape of `array`, without numpy: e.g. (8, 25) for a block of
    /// 8 channels of 25 samples.
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.layout()?.shape)
    }

    /// The strides of `array` in bytes, outermost first.
    #[getter]
    fn strides<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.layout()?.strides)
    }

    /// Samples per second per channel (`audio/f32`, `samples/f32`); 0 for
    /// the other schemas.
    #[getter]
    fn rate(&self) -> u32 {
        self.header.rate
    }

    /// The schema's name, e.g. `video/rgba8`; None for a code this worker
    /// does not know.
    #[getter]
    fn schema(&self) -> Option<&'static str> {
        SchemaId::from_code(self.header.schema).map(SchemaId::name)
    }

    fn __repr__(&self) -> String {
        let h = &self.header;
        let schema = self.schema().unwrap_or("unknown schema");
        format!(
            "<plexus.Frame seq={} {}x{} {schema}, {} bytes>",
            h.seq,
            h.width,
            h.height,
            self.bytes.len()
        )
    }
}

/// Locks `mutex`; a panic while it was held left nothing half-done.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use pyo3::types::PyDict;

    use super::*;
    use crate::testing::{raised, run, with_python};

    fn header() -> FrameHeader {
        FrameHeader {
            schema: SchemaId::VideoRgba8.code(),
            seq: 7,
            capture_ns: 123,
            width: 2,
            height: 1,
            stride: 8,
            ..FrameHeader::default()
        }
    }

    /// A frame over `data` in a namespace as `frame`.
    fn namespace<'py>(py: Python<'py>, data: &[u8]) -> (Bound<'py, Frame>, Bound<'py, PyDict>) {
        let frame = Bound::new(py, Frame::new(header(), data)).unwrap();
        let locals = PyDict::new(py);
        locals.set_item("frame", &frame).unwrap();
        (frame, locals)
    }

    #[test]
    fn views_are_read_only_and_copy_nothing() {
        with_python(|py| {
            let mut data = vec![1_u8, 2, 3, 4, 5, 6, 7, 8];
            let (frame, locals) = namespace(py, &data);
            run(
                py,
                "v = memoryview(frame)\n\
                 assert v.readonly and v.format == 'B' and len(frame) == 8\n\
                 assert frame.data.tobytes() == bytes(range(1, 9))\n\
                 assert frame.data is frame.data\n\
                 assert (frame.seq, frame.capture_ns, frame.width, frame.height, frame.stride, frame.format) == (7, 123, 2, 1, 8, 0)\n\
                 assert frame.schema == 'video/rgba8'",
                &locals,
            )
            .unwrap();
            assert!(raised(py, "v[0] = 9", &locals).starts_with("TypeError"));
            // The view reads the bytes in place: a change shows through.
            data[0] = 42;
            run(
                py,
                "assert v[0] == 42 and frame.data[0] == 42\ndel v",
                &locals,
            )
            .unwrap();
            Frame::close(&frame, || panic!("no view is left, nothing to retain"));
        });
    }

    #[test]
    fn a_closed_frame_refuses_views_and_releases_its_data_view() {
        with_python(|py| {
            let data = vec![0_u8; 4];
            let (frame, locals) = namespace(py, &data);
            run(py, "kept = frame.data", &locals).unwrap();
            Frame::close(&frame, || {
                panic!("the data view is released, nothing to retain")
            });
            assert_eq!(
                raised(py, "kept[0]", &locals),
                "ValueError: operation forbidden on released memoryview object"
            );
            for code in ["memoryview(frame)", "frame.data"] {
                assert_eq!(
                    raised(py, code, &locals),
                    "ValueError: plexus.Frame used after process() returned"
                );
            }
            run(py, "assert frame.seq == 7 and len(frame) == 4", &locals).unwrap();
        });
    }

    /// A shaped frame tells its shape, strides and rate from its header, and
    /// one whose header reaches past its payload is refused in a sentence.
    #[test]
    fn shaped_frames_tell_their_shape_and_rate() {
        with_python(|py| {
            let data = vec![0_u8; 2 * 3 * 4];
            let samples = FrameHeader {
                schema: SchemaId::SamplesF32.code(),
                seq: 4,
                rate: 250,
                ndim: 2,
                shape: [2, 3, 0, 0],
                strides: [12, 4, 0, 0],
                ..FrameHeader::default()
            };
            let locals = PyDict::new(py);
            let frame = Bound::new(py, Frame::new(samples, &data)).unwrap();
            locals.set_item("frame", &frame).unwrap();
            run(
                py,
                "assert (frame.shape, frame.strides, frame.rate) == ((2, 3), (12, 4), 250)\n\
                 assert frame.schema == 'samples/f32'",
                &locals,
            )
            .unwrap();
            let lying = FrameHeader {
                shape: [3, 3, 0, 0],
                ..samples
            };
            locals
                .set_item("lying", Bound::new(py, Frame::new(lying, &data)).unwrap())
                .unwrap();
            assert_eq!(
                raised(py, "lying.shape", &locals),
                "ValueError: frame 4 (samples/f32 shape [3, 3], strides [12, 4]) needs 36 bytes but carries 24"
            );
            let (video, _) = namespace(py, &[0; 8]);
            locals.set_item("video", video).unwrap();
            run(
                py,
                "assert video.shape == (1, 2, 4) and video.rate == 0",
                &locals,
            )
            .unwrap();
        });
    }

    /// An escaped export (what `np.frombuffer` leaves behind) keeps the
    /// sample until it is released, then the sample is dropped.
    #[test]
    fn an_escaped_view_retains_the_sample_until_released() {
        with_python(|py| {
            let data = vec![9_u8; 4];
            let (frame, locals) = namespace(py, &data);
            let sample = Rc::new(());
            run(py, "escaped = memoryview(frame)", &locals).unwrap();
            let kept = Rc::clone(&sample);
            Frame::close(&frame, move || Some(Box::new(kept)));
            assert_eq!(
                Rc::strong_count(&sample),
                2,
                "retained while the view lives"
            );
            run(
                py,
                "assert memoryview(escaped)[3] == 9\ndel escaped",
                &locals,
            )
            .unwrap();
            assert_eq!(Rc::strong_count(&sample), 1, "dropped with the last view");
        });
    }

    /// `frame.data` with a nested export cannot be released; the frame then
    /// retains the sample, and the memoryview keeps working.
    #[test]
    fn a_data_view_with_nested_exports_retains_the_sample() {
        with_python(|py| {
            let data = vec![5_u8; 4];
            let (frame, locals) = namespace(py, &data);
            let sample = Rc::new(());
            run(
                py,
                "import pickle\nnested = pickle.PickleBuffer(frame.data)",
                &locals,
            )
            .unwrap();
            let kept = Rc::clone(&sample);
            Frame::close(&frame, move || Some(Box::new(kept)));
            assert_eq!(Rc::strong_count(&sample), 2);
            run(py, "assert memoryview(nested)[0] == 5\ndel nested", &locals).unwrap();
            assert_eq!(Rc::strong_count(&sample), 1);
        });
    }

    /// Python threads may take views of a frame; one released on another
    /// thread leaves the sample to the next sweep on the worker's thread,
    /// which drops it there.
    #[test]
    fn views_work_on_other_threads_and_their_release_is_swept_here() {
        with_python(|py| {
            let data = vec![3_u8; 4];
            let (frame, locals) = namespace(py, &data);
            let sample = Rc::new(());
            run(
                py,
                "import threading\n\
                 box = []\n\
                 t = threading.Thread(target=lambda: box.append(memoryview(frame)))\n\
                 t.start(); t.join()\n\
                 assert box[0][0] == 3",
                &locals,
            )
            .unwrap();
            let kept = Rc::clone(&sample);
            Frame::close(&frame, move || Some(Box::new(kept)));
            run(
                py,
                "t = threading.Thread(target=box.clear)\nt.start(); t.join()",
                &locals,
            )
            .unwrap();
            assert_eq!(Rc::strong_count(&sample), 2, "not dropped off its thread");
            sweep_retained();
            assert_eq!(Rc::strong_count(&sample), 1);
        });
    }
}
