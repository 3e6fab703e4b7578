//! numpy arrays with a frame's shape, over the frame's own shared memory:
//! what `frame.array` and `Output.loan_array` agree on. A header says how
//! its payload is laid out (video rows, or a shaped schema's `ndim`,
//! `shape` and `strides`); this module turns that into the arguments of
//! `numpy.ndarray`, and a shape a processor asks for into the header fields
//! its output sends with, so that neither side copies a byte or works out
//! strides by hand.

use ipc_schemas::frame::MAX_DIMS;
use ipc_schemas::{FrameHeader, SchemaId};
use pyo3::exceptions::PyImportError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// The element types frames carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    F32,
    U8,
}

impl Element {
    /// The elements of frames of `schema`; none for bytes and records,
    /// which have no shape.
    pub fn of(schema: SchemaId) -> Option<Self> {
        if schema.bytes_per_pixel().is_some() {
            return Some(Element::U8);
        }
        match schema.element_bytes()? {
            4 => Some(Element::F32),
            _ => Some(Element::U8),
        }
    }

    /// numpy's name for it, as `dtype.name` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Element::F32 => "float32",
            Element::U8 => "uint8",
        }
    }

    /// The numpy type string: little-endian, as the wire is.
    fn numpy(self) -> &'static str {
        match self {
            Element::F32 => "<f4",
            Element::U8 => "u1",
        }
    }

    fn size(self) -> usize {
        match self {
            Element::F32 => 4,
            Element::U8 => 1,
        }
    }
}

/// How numpy sees a payload: element type, shape and strides in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub element: Element,
    pub shape: Vec<usize>,
    pub strides: Vec<usize>,
}

impl Layout {
    /// The layout of a received frame of `len` bytes, from its header:
    /// video as (height, width, channels) rows of `stride` bytes (gray as
    /// (height, width)), shaped schemas as their header says, bytes as one
    /// dimension. A header that claims more than its payload holds is
    /// refused (workers never send one; a sink must not trust that).
    pub fn of_frame(header: &FrameHeader, len: usize) -> Result<Self, String> {
        let schema = SchemaId::from_code(header.schema).ok_or_else(|| {
            format!(
                "frame {} has schema code {}, which this worker does not know",
                header.seq, header.schema
            )
        })?;
        if let Some(bpp) = schema.bytes_per_pixel() {
            worker_lifecycle::check_video(header, len)?;
            let (height, width, stride) = (
                header.height as usize,
                header.width as usize,
                header.stride as usize,
            );
            let (shape, strides) = match bpp as usize {
                1 => (vec![height, width], vec![stride, 1]),
                bpp => (vec![height, width, bpp], vec![stride, bpp, 1]),
            };
            return Ok(Layout {
                element: Element::U8,
                shape,
                strides,
            });
        }
        let Some(element) = Element::of(schema) else {
            return match schema {
                SchemaId::Bytes => Ok(Layout {
                    element: Element::U8,
                    shape: vec![len],
                    strides: vec![1],
                }),
                _ => Err(format!(
                    "frames of {} have no array shape; read them with the code `plexus schemas codegen` writes for their schema",
                    schema.name()
                )),
            };
        };
        worker_lifecycle::check_shape(header, len)?;
        let ndim = header.ndim as usize;
        let widen = |dims: &[u32]| dims.iter().map(|&d| d as usize).collect();
        Ok(Layout {
            element,
            shape: widen(&header.shape[..ndim]),
            strides: widen(&header.strides[..ndim]),
        })
    }

    /// Makes the numpy array with this layout over `owner`'s buffer. It is
    /// made from `numpy.frombuffer`, whose memoryview holds the buffer's
    /// export for as long as the array (or any view of it) lives: the
    /// export count is what keeps shared memory valid (`buffer.rs`), and
    /// `numpy.ndarray(buffer=…)` alone would give its export back at once.
    pub fn ndarray<'py>(&self, owner: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = owner.py();
        let numpy = py.import("numpy").map_err(|_| {
            PyImportError::new_err(
                "frame arrays need numpy: add it to the package's requirements.txt",
            )
        })?;
        let bytes = numpy.call_method1("frombuffer", (owner, "u1"))?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("shape", PyTuple::new(py, &self.shape)?)?;
        kwargs.set_item("dtype", self.element.numpy())?;
        kwargs.set_item("buffer", bytes)?;
        kwargs.set_item("strides", PyTuple::new(py, &self.strides)?)?;
        numpy.getattr("ndarray")?.call((), Some(&kwargs))
    }
}

/// A shaped loan: the bytes to loan, the array over them and the header
/// fields the frame is sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayLoan {
    pub schema: SchemaId,
    pub layout: Layout,
    /// Bytes to loan: the packed array.
    pub len: usize,
}

impl ArrayLoan {
    /// Plans a loan of a packed, row-major array of `shape` on an output
    /// of `schema`; `dtype`, when given, must be the schema's element type.
    /// The error is the reason only; the caller names the port.
    pub fn plan(schema: SchemaId, shape: &[i64], dtype: Option<&str>) -> Result<Self, String> {
        let element = Element::of(schema).ok_or_else(|| {
            format!(
                "{} frames have no array shape: loan(len) them as bytes",
                schema.name()
            )
        })?;
        if let Some(dtype) = dtype.filter(|&d| d != element.name()) {
            return Err(format!("its elements are {}, not {dtype}", element.name()));
        }
        let shown = || {
            format!(
                "({})",
                shape
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        if shape.is_empty() || shape.len() > MAX_DIMS {
            return Err(format!(
                "a shape has 1 to {MAX_DIMS} dimensions, not {} {}",
                shape.len(),
                shown()
            ));
        }
        if let Some(wanted) = dimensions_of(schema) {
            if !wanted.fits(shape) {
                return Err(format!("it takes a shape {}, not {}", wanted.text, shown()));
            }
        }
        let too_large = || format!("the shape {} is too large for a frame", shown());
        let mut extents = Vec::with_capacity(shape.len());
        for &extent in shape {
            let fits = u32::try_from(extent).map_err(|_| {
                format!("extents are 0 to {}, not {extent} in {}", u32::MAX, shown())
            })?;
            extents.push(u64::from(fits));
        }
        // Packed row-major: each stride is the size of what lies inside it,
        // and the header keeps each in a u32.
        let mut strides = vec![0; extents.len()];
        let mut step = element.size() as u64;
        for (d, &extent) in extents.iter().enumerate().rev() {
            strides[d] = step;
            step = step.checked_mul(extent).ok_or_else(too_large)?;
        }
        let narrow = |v: u64| usize::try_from(v).map_err(|_| too_large());
        if strides.iter().any(|&s| u32::try_from(s).is_err()) {
            return Err(too_large());
        }
        let len = narrow(step)?;
        let extents = extents.into_iter().map(narrow).collect::<Result<_, _>>()?;
        let strides = strides.into_iter().map(narrow).collect::<Result<_, _>>()?;
        Ok(ArrayLoan {
            schema,
            layout: Layout {
                element,
                shape: extents,
                strides,
            },
            len,
        })
    }

    /// Sets the fields of `header` that say the frame's shape: width,
    /// height and stride for video; ndim, shape and strides otherwise. A
    /// schema without a rate sends 0 there.
    pub fn describe(&self, header: &mut FrameHeader) {
        let Layout { shape, strides, .. } = &self.layout;
        let narrow = |v: usize| u32::try_from(v).expect("planned to fit a u32");
        if self.schema.bytes_per_pixel().is_some() {
            header.height = narrow(shape[0]);
            header.width = narrow(shape[1]);
            header.stride = narrow(strides[0]);
            return;
        }
        header.ndim = narrow(shape.len());
        header.shape = [0; MAX_DIMS];
        header.strides = [0; MAX_DIMS];
        for (d, (&extent, &stride)) in shape.iter().zip(strides).enumerate() {
            header.shape[d] = narrow(extent);
            header.strides[d] = narrow(stride);
        }
        if !self.schema.has_rate() {
            header.rate = 0;
        }
    }
}

/// The shapes a schema takes, when it fixes their dimensions.
struct Dimensions {
    /// How many; video's last one, its channels, fixed too.
    ndim: usize,
    channels: Option<i64>,
    text: &'static str,
}

impl Dimensions {
    fn fits(&self, shape: &[i64]) -> bool {
        shape.len() == self.ndim && self.channels.is_none_or(|c| shape.last() == Some(&c))
    }
}

fn dimensions_of(schema: SchemaId) -> Option<Dimensions> {
    let (ndim, channels, text) = match schema {
        SchemaId::VideoRgba8 => (3, Some(4), "(height, width, 4)"),
        SchemaId::VideoGray8 => (2, None, "(height, width)"),
        SchemaId::AudioF32 => (2, None, "(frames, channels)"),
        SchemaId::SamplesF32 => (2, None, "(channels, samples)"),
        _ => return None,
    };
    Some(Dimensions {
        ndim,
        channels,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loans_are_packed_row_major() {
        let loan = ArrayLoan::plan(SchemaId::SamplesF32, &[8, 25], None).unwrap();
        assert_eq!(loan.len, 8 * 25 * 4);
        assert_eq!(loan.layout.strides, [100, 4]);
        let mut header = FrameHeader {
            rate: 250,
            ..FrameHeader::default()
        };
        loan.describe(&mut header);
        assert_eq!((header.ndim, header.rate), (2, 250));
        assert_eq!(header.shape, [8, 25, 0, 0]);
        assert_eq!(header.strides, [100, 4, 0, 0]);
        // What is sent is what a receiver reads back.
        let read = Layout::of_frame(
            &FrameHeader {
                schema: SchemaId::SamplesF32.code(),
                ..header
            },
            loan.len,
        )
        .unwrap();
        assert_eq!(read, loan.layout);

        let flags = ArrayLoan::plan(SchemaId::TensorU8, &[8], Some("uint8")).unwrap();
        let mut header = FrameHeader {
            rate: 250,
            ..FrameHeader::default()
        };
        flags.describe(&mut header);
        assert_eq!((header.ndim, header.shape[0], header.strides[0]), (1, 8, 1));
        assert_eq!(header.rate, 0, "a tensor has no rate");
    }

    #[test]
    fn video_loans_fill_width_height_and_stride() {
        let loan = ArrayLoan::plan(SchemaId::VideoRgba8, &[480, 640, 4], None).unwrap();
        let mut header = FrameHeader::default();
        loan.describe(&mut header);
        assert_eq!(
            (header.width, header.height, header.stride),
            (640, 480, 2560)
        );
        assert_eq!(header.ndim, 0);
        assert_eq!(loan.len, 480 * 2560);
    }

    #[test]
    fn bad_loans_say_why() {
        let refused =
            |schema, shape: &[i64], dtype| ArrayLoan::plan(schema, shape, dtype).unwrap_err();
        assert_eq!(
            refused(SchemaId::TensorF32, &[1, 2, 3, 4, 5], None),
            "a shape has 1 to 4 dimensions, not 5 (1, 2, 3, 4, 5)"
        );
        assert_eq!(
            refused(SchemaId::TensorF32, &[8], Some("uint8")),
            "its elements are float32, not uint8"
        );
        assert_eq!(
            refused(SchemaId::SamplesF32, &[8], None),
            "it takes a shape (channels, samples), not (8)"
        );
        assert_eq!(
            refused(SchemaId::VideoRgba8, &[4, 4, 3], None),
            "it takes a shape (height, width, 4), not (4, 4, 3)"
        );
        assert_eq!(
            refused(SchemaId::TensorU8, &[-1], None),
            "extents are 0 to 4294967295, not -1 in (-1)"
        );
        assert_eq!(
            refused(SchemaId::Bytes, &[8], None),
            "bytes frames have no array shape: loan(len) them as bytes"
        );
        assert!(refused(SchemaId::TensorU8, &[2, 65536, 65536], None).contains("too large"));
    }

    #[test]
    fn received_frames_are_checked_against_their_payload() {
        let header = FrameHeader {
            schema: SchemaId::TensorF32.code(),
            ndim: 2,
            shape: [2, 3, 0, 0],
            strides: [12, 4, 0, 0],
            ..FrameHeader::default()
        };
        assert_eq!(
            Layout::of_frame(&header, 24).unwrap().shape,
            [2, 3],
            "a header that fits"
        );
        assert!(Layout::of_frame(&header, 23).is_err(), "one byte short");
        let video = FrameHeader {
            schema: SchemaId::VideoGray8.code(),
            width: 3,
            height: 2,
            stride: 4,
            ..FrameHeader::default()
        };
        let layout = Layout::of_frame(&video, 8).unwrap();
        assert_eq!((layout.shape, layout.strides), (vec![2, 3], vec![4, 1]));
    }
}
