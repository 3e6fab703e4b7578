//! Python code for a package schema: numpy structured dtypes with the
//! layout's explicit offsets and item size, and a class that views a frame's
//! bytes without copying (`from_buffer`) or fills a loaned buffer (`writer`).

use std::fmt::Write;

use super::{banner, class_name};
use crate::package::manifest::schemas::{RecordLayout, Scalar, SchemaLayout};

/// numpy's little-endian type code.
fn dtype_code(scalar: Scalar) -> &'static str {
    match scalar {
        Scalar::U8 => "u1",
        Scalar::I8 => "i1",
        Scalar::U16 => "<u2",
        Scalar::I16 => "<i2",
        Scalar::U32 => "<u4",
        Scalar::I32 => "<i4",
        Scalar::U64 => "<u8",
        Scalar::I64 => "<i8",
        Scalar::F32 => "<f4",
        Scalar::F64 => "<f8",
    }
}

/// `np.dtype({...})` for a record, offsets and size as laid out.
fn dtype(record: &RecordLayout) -> String {
    let names: Vec<String> = record
        .fields
        .iter()
        .map(|f| format!("{:?}", f.name))
        .collect();
    let formats: Vec<String> = record
        .fields
        .iter()
        .map(|f| match f.count {
            None => format!("{:?}", dtype_code(f.scalar)),
            Some(n) => format!("({:?}, ({n},))", dtype_code(f.scalar)),
        })
        .collect();
    let offsets: Vec<String> = record.fields.iter().map(|f| f.offset.to_string()).collect();
    format!(
        "np.dtype({{\n    \"names\": [{}],\n    \"formats\": [{}],\n    \"offsets\": [{}],\n    \"itemsize\": {},\n}})",
        names.join(", "),
        formats.join(", "),
        offsets.join(", "),
        record.size
    )
}

pub fn generate(layout: &SchemaLayout) -> String {
    let class = class_name(layout);
    let mut out = banner(layout, "#");
    let about = layout.description.as_deref().unwrap_or("A package schema.");
    let _ = write!(
        out,
        r#""""{name}@{version}: {about}

Frames of this schema carry the fixed part at offset 0{items_doc}, little-endian.
"""

import numpy as np

NAME = "{name}"
VERSION = ({major}, {minor})
FIXED_SIZE = {fixed_size}
ALIGN = {align}

FIXED_DTYPE = {fixed_dtype}
"#,
        name = layout.id.name,
        version = layout.id.version,
        major = layout.id.version.major,
        minor = layout.id.version.minor,
        fixed_size = layout.fixed.size,
        align = layout.align(),
        fixed_dtype = dtype(&layout.fixed),
        items_doc = match &layout.items {
            Some(i) => format!(
                " and `{}` (a run of {}-byte items) from offset {}",
                i.name, i.record.size, i.offset
            ),
            None => String::new(),
        },
    );
    if let Some(items) = &layout.items {
        let _ = write!(
            out,
            "ITEM_DTYPE = {}\nITEMS_OFFSET = {}\nITEM_SIZE = {}\n",
            dtype(&items.record),
            items.offset,
            items.record.size
        );
    }
    let (size_sig, size_body, count_check) = match &layout.items {
        Some(_) => (
            "n_items: int",
            "ITEMS_OFFSET + n_items * ITEM_SIZE",
            "        extra = len(view) - ITEMS_OFFSET\n        if extra < 0 or extra % ITEM_SIZE:\n            raise ValueError(\n                f\"{NAME}@{VERSION[0]}.{VERSION[1]}: {len(view)} bytes are not \"\n                f\"{ITEMS_OFFSET} + a whole number of {ITEM_SIZE}-byte items\"\n            )\n        items = np.frombuffer(view, ITEM_DTYPE, count=extra // ITEM_SIZE, offset=ITEMS_OFFSET)\n",
        ),
        None => (
            "n_items: int = 0",
            "FIXED_SIZE",
            "        if len(view) < FIXED_SIZE:\n            raise ValueError(\n                f\"{NAME}@{VERSION[0]}.{VERSION[1]}: {len(view)} bytes, fewer than {FIXED_SIZE}\"\n            )\n        items = None\n",
        ),
    };
    let fixed_view = match layout.fixed.fields.is_empty() {
        true => "None",
        false => "np.frombuffer(view, FIXED_DTYPE, count=1)",
    };
    let _ = write!(
        out,
        r#"

class {class}:
    """A view of one {name} frame's bytes; nothing is copied. Scalar fields
    read as Python numbers, arrays as numpy views; assigning writes through
    to the bytes (when they are writable)."""

    __slots__ = ("_fixed", "_items")

    def __init__(self, fixed, items):
        self._fixed = fixed
        self._items = items

    @staticmethod
    def size({size_sig}) -> int:
        """Bytes of a frame{with_items}."""
        return {size_body}

    @classmethod
    def from_buffer(cls, buffer) -> "{class}":
        """Views `buffer` (a frame, a loaned buffer, bytes, a memoryview)
        without copying; raises ValueError when its length does not fit."""
        view = memoryview(buffer).cast("B")
{count_check}        return cls({fixed_view}, items)

    @classmethod
    def writer(cls, buffer) -> "{class}":
        """Zeroes `buffer` (a loaned output buffer of `size(...)` bytes) and
        views it for filling in."""
        view = memoryview(buffer).cast("B")
        view[:] = bytes(len(view))
        return cls.from_buffer(view)
"#,
        name = layout.id,
        with_items = match &layout.items {
            Some(_) => " with `n_items` items",
            None => "",
        },
    );
    for f in &layout.fixed.fields {
        let element = format!("self._fixed[\"{}\"][0]", f.name);
        let (read, ret) = match (f.count, f.scalar.is_float()) {
            (Some(_), _) => (element, " -> np.ndarray"),
            (None, true) => (format!("float({element})"), " -> float"),
            (None, false) => (format!("int({element})"), " -> int"),
        };
        let _ = write!(
            out,
            r#"
    @property
    def {name}(self){ret}:
        """{ty}: {about}"""
        return {read}

    @{name}.setter
    def {name}(self, value) -> None:
        self._fixed["{name}"][0] = value
"#,
            name = f.name,
            ty = f.type_name(),
            about = f.description.replace('"', "'"),
        );
    }
    if let Some(items) = &layout.items {
        let fields: Vec<String> = items
            .record
            .fields
            .iter()
            .map(|f| format!("`{}` ({}): {}", f.name, f.type_name(), f.description))
            .collect();
        let _ = write!(
            out,
            r#"
    @property
    def {name}(self) -> np.ndarray:
        """{about}: a numpy structured array over the frame's bytes, one
        record per item with fields {fields}."""
        return self._items
"#,
            name = items.name,
            about = items
                .description
                .as_deref()
                .unwrap_or("The items")
                .replace('"', "'"),
            fields = fields.join("; ").replace('"', "'"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dtype_has_the_layouts_offsets() {
        let layout = crate::codegen::tests::sample();
        let text = generate(&layout);
        assert!(
            text.contains("\"offsets\": [0, 8, 12, 24, 32, 40]"),
            "{text}"
        );
        assert!(text.contains("\"itemsize\": 48"), "{text}");
        assert!(text.contains("ITEMS_OFFSET = 48"), "{text}");
        assert!(text.contains("(\"<i2\", (4,))"), "{text}");
    }
}
