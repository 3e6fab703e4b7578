//! Rust code for a package schema: `#[repr(C)]` structs whose padding is
//! spelled out as fields (so every byte is a field and every bit pattern is
//! a value), compile-time checks of their size and offsets against the
//! layout, a view of a frame's bytes that checks length and alignment
//! before it casts, and a writer into a loaned `&mut [u8]`.

use std::fmt::Write;

use super::{banner, class_name};
use crate::package::manifest::schemas::{RecordLayout, SchemaLayout};

/// Rust keywords a field may be named, written as raw identifiers.
const KEYWORDS: [&str; 38] = [
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true",
];
const MORE_KEYWORDS: [&str; 10] = [
    "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

fn ident(name: &str) -> String {
    if KEYWORDS.contains(&name) || MORE_KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_string()
    }
}

/// A `#[repr(C)]` struct with explicit padding, and its layout asserts.
fn record_struct(name: &str, about: &str, record: &RecordLayout) -> String {
    let mut fields = String::new();
    let mut asserts = String::new();
    let mut at = 0;
    let mut pads = 0;
    let mut pad = |fields: &mut String, at: &mut usize, to: usize| {
        if to > *at {
            let _ = writeln!(
                fields,
                "    /// Padding; always 0.\n    pub _pad{pads}: [u8; {}],",
                to - *at
            );
            pads += 1;
            *at = to;
        }
    };
    for f in &record.fields {
        pad(&mut fields, &mut at, f.offset);
        let ty = match f.count {
            None => f.scalar.name().to_string(),
            Some(n) => format!("[{}; {n}]", f.scalar.name()),
        };
        let _ = writeln!(
            fields,
            "    /// {} ({})\n    pub {}: {ty},",
            f.description.replace('\n', " "),
            f.type_name(),
            ident(&f.name)
        );
        let _ = writeln!(
            asserts,
            "    assert!(core::mem::offset_of!({name}, {}) == {});",
            ident(&f.name),
            f.offset
        );
        at = f.offset + f.size();
    }
    pad(&mut fields, &mut at, record.size);
    format!(
        "/// {about}\n#[repr(C)]\n#[derive(Debug, Clone, Copy, PartialEq)]\npub struct {name} {{\n{fields}}}\n\n// The layout plexus computed; the build fails if Rust lays it out otherwise.\nconst _: () = {{\n    assert!(core::mem::size_of::<{name}>() == {size});\n    assert!(core::mem::align_of::<{name}>() == {align});\n{asserts}}};\n\nimpl {name} {{\n    /// The record's bytes, as they travel.\n    pub fn as_bytes(&self) -> &[u8] {{\n        // SAFETY: `{name}` is `repr(C)` with every byte a field (padding\n        // included, checked above), so all its bytes are initialised; the\n        // slice borrows `self` and covers exactly its size.\n        unsafe {{ core::slice::from_raw_parts((self as *const Self).cast::<u8>(), core::mem::size_of::<Self>()) }}\n    }}\n}}\n",
        about = about.replace('\n', " "),
        size = record.size,
        align = record.align,
    )
}

pub fn generate(layout: &SchemaLayout) -> String {
    let class = class_name(layout);
    let mut out = banner(layout, "//");
    let _ = write!(
        out,
        r#"//! {id}: {about}
//!
//! Little-endian, as plexus frames are; the structs are read in place, so
//! this code builds only for little-endian targets.
#![allow(dead_code)]

#[cfg(target_endian = "big")]
compile_error!("plexus records are little-endian");

pub const NAME: &str = "{name}";
pub const VERSION: (u32, u32) = ({major}, {minor});
/// The alignment a frame's bytes need to be viewed in place.
pub const ALIGN: usize = {align};

/// Why bytes are not a frame of this schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaError {{
    /// The length does not fit the layout.
    Length {{ len: usize }},
    /// The bytes do not start at a multiple of `ALIGN`.
    Misaligned,
}}

impl core::fmt::Display for SchemaError {{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {{
        match self {{
            SchemaError::Length {{ len }} => write!(f, "{name}@{version}: {{len}} bytes do not fit the layout"),
            SchemaError::Misaligned => write!(f, "{name}@{version}: the bytes are not aligned to {{ALIGN}}"),
        }}
    }}
}}

impl std::error::Error for SchemaError {{}}

/// Casts the start of `bytes` to `&[T]` of `n` records.
///
/// # Safety
/// `T` must be one of this file's structs (`repr(C)`, every byte a field of
/// an integer or float type, so every bit pattern is a value), `bytes` must
/// start at a multiple of `align_of::<T>()` and hold `n * size_of::<T>()`
/// bytes.
unsafe fn cast<T>(bytes: &[u8], n: usize) -> &[T] {{
    debug_assert!(bytes.len() >= n * core::mem::size_of::<T>());
    // SAFETY: the caller keeps the promises above; the result borrows `bytes`.
    unsafe {{ core::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), n) }}
}}

/// As `cast`, mutably.
///
/// # Safety
/// As for `cast`.
unsafe fn cast_mut<T>(bytes: &mut [u8], n: usize) -> &mut [T] {{
    debug_assert!(bytes.len() >= n * core::mem::size_of::<T>());
    // SAFETY: as for `cast`; the result borrows `bytes` mutably, alone.
    unsafe {{ core::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<T>(), n) }}
}}

"#,
        id = layout.id,
        name = layout.id.name,
        version = layout.id.version,
        major = layout.id.version.major,
        minor = layout.id.version.minor,
        align = layout.align(),
        about = layout.description.as_deref().unwrap_or("a package schema"),
    );
    out.push_str(&record_struct(
        &class,
        layout
            .description
            .as_deref()
            .unwrap_or("A frame's fixed part."),
        &layout.fixed,
    ));
    match &layout.items {
        Some(items) => {
            let item = format!("{class}Item");
            out.push('\n');
            out.push_str(&record_struct(
                &item,
                items.description.as_deref().unwrap_or("One item."),
                &items.record,
            ));
            let _ = write!(
                out,
                r#"
/// Where the items (`{items}`) start.
pub const ITEMS_OFFSET: usize = {offset};

impl {class} {{
    /// Bytes of a frame with `n` items.
    pub const fn size(n: usize) -> usize {{
        ITEMS_OFFSET + n * core::mem::size_of::<{item}>()
    }}

    /// How many items `len` bytes hold, when they are a frame's length.
    fn items_in(bytes: &[u8]) -> Result<usize, SchemaError> {{
        let len = bytes.len();
        let item = core::mem::size_of::<{item}>();
        if len < ITEMS_OFFSET || !(len - ITEMS_OFFSET).is_multiple_of(item) {{
            return Err(SchemaError::Length {{ len }});
        }}
        if !(bytes.as_ptr() as usize).is_multiple_of(ALIGN) {{
            return Err(SchemaError::Misaligned);
        }}
        Ok((len - ITEMS_OFFSET) / item)
    }}

    /// Views a frame's bytes in place: the fixed part and the items.
    pub fn from_bytes(bytes: &[u8]) -> Result<(&{class}, &[{item}]), SchemaError> {{
        let n = Self::items_in(bytes)?;
        let (fixed, rest) = bytes.split_at(ITEMS_OFFSET);
        // SAFETY: both are this file's structs; `items_in` checked that the
        // bytes start at a multiple of ALIGN (the largest alignment of both;
        // ITEMS_OFFSET is a multiple of the items' alignment) and hold the
        // fixed part and `n` items.
        let (fixed, items) = unsafe {{ (&cast::<{class}>(fixed, 1)[0], cast::<{item}>(rest, n)) }};
        Ok((fixed, items))
    }}

    /// Views a frame's bytes in place, for writing.
    pub fn from_bytes_mut(bytes: &mut [u8]) -> Result<(&mut {class}, &mut [{item}]), SchemaError> {{
        let n = Self::items_in(bytes)?;
        let (fixed, rest) = bytes.split_at_mut(ITEMS_OFFSET);
        // SAFETY: as in `from_bytes`; the two slices do not overlap.
        let (fixed, items) = unsafe {{ (&mut cast_mut::<{class}>(fixed, 1)[0], cast_mut::<{item}>(rest, n)) }};
        Ok((fixed, items))
    }}

    /// Writes a whole frame into `bytes` (a loaned buffer of `size(items.len())`
    /// bytes, any alignment): the fixed part, zeros up to the items, the items.
    pub fn write(bytes: &mut [u8], fixed: &{class}, items: &[{item}]) -> Result<(), SchemaError> {{
        if bytes.len() != Self::size(items.len()) {{
            return Err(SchemaError::Length {{ len: bytes.len() }});
        }}
        let (head, rest) = bytes.split_at_mut(ITEMS_OFFSET);
        let fixed = fixed.as_bytes();
        head[..fixed.len()].copy_from_slice(fixed);
        head[fixed.len()..].fill(0);
        for (chunk, item) in rest.chunks_exact_mut(core::mem::size_of::<{item}>()).zip(items) {{
            chunk.copy_from_slice(item.as_bytes());
        }}
        Ok(())
    }}
}}
"#,
                items = items.name,
                offset = items.offset,
            );
        }
        None => {
            let _ = write!(
                out,
                r#"
impl {class} {{
    /// Bytes of a frame.
    pub const fn size() -> usize {{
        core::mem::size_of::<{class}>()
    }}

    /// Views a frame's bytes in place (bytes beyond the fixed part, from a
    /// newer minor version, are left unread).
    pub fn from_bytes(bytes: &[u8]) -> Result<&{class}, SchemaError> {{
        if bytes.len() < Self::size() {{
            return Err(SchemaError::Length {{ len: bytes.len() }});
        }}
        if !(bytes.as_ptr() as usize).is_multiple_of(ALIGN) {{
            return Err(SchemaError::Misaligned);
        }}
        // SAFETY: this file's struct; length and alignment checked above.
        Ok(unsafe {{ &cast::<{class}>(bytes, 1)[0] }})
    }}

    /// Writes the frame into `bytes` (a loaned buffer of `size()` bytes).
    pub fn write(bytes: &mut [u8], fixed: &{class}) -> Result<(), SchemaError> {{
        if bytes.len() != Self::size() {{
            return Err(SchemaError::Length {{ len: bytes.len() }});
        }}
        bytes.copy_from_slice(fixed.as_bytes());
        Ok(())
    }}

    /// As `from_bytes`, for writing.
    pub fn from_bytes_mut(bytes: &mut [u8]) -> Result<&mut {class}, SchemaError> {{
        if bytes.len() < Self::size() {{
            return Err(SchemaError::Length {{ len: bytes.len() }});
        }}
        if !(bytes.as_ptr() as usize).is_multiple_of(ALIGN) {{
            return Err(SchemaError::Misaligned);
        }}
        // SAFETY: as in `from_bytes`.
        Ok(unsafe {{ &mut cast_mut::<{class}>(bytes, 1)[0] }})
    }}
}}
"#
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_spelled_out_and_checked() {
        let text = generate(&crate::codegen::tests::sample());
        // count (u16 at 8) leaves 2 bytes before scores at 12.
        assert!(text.contains("pub _pad0: [u8; 2],"), "{text}");
        assert!(
            text.contains("assert!(core::mem::size_of::<Detections>() == 48);"),
            "{text}"
        );
        assert!(
            text.contains("assert!(core::mem::offset_of!(DetectionsItem, corners) == 6);"),
            "{text}"
        );
        assert!(
            text.contains("pub const ITEMS_OFFSET: usize = 48;"),
            "{text}"
        );
    }
}
