//! The byte layout of a package schema, computed once: C rules (each field
//! aligned to its scalar's size, a record padded to its largest
//! alignment), little-endian; the items start at the fixed part's size
//! rounded up to the item alignment, and their count is what is left of
//! the payload divided by the item size. Validation, `plexus schemas
//! describe` and every code generator read these numbers, never their own.

use super::SchemaRef;

/// A fixed-width scalar type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
}

impl Scalar {
    pub const ALL: [Scalar; 10] = [
        Scalar::U8,
        Scalar::I8,
        Scalar::U16,
        Scalar::I16,
        Scalar::U32,
        Scalar::I32,
        Scalar::U64,
        Scalar::I64,
        Scalar::F32,
        Scalar::F64,
    ];

    /// The name manifests use, which is also Rust's.
    pub fn name(self) -> &'static str {
        match self {
            Scalar::U8 => "u8",
            Scalar::I8 => "i8",
            Scalar::U16 => "u16",
            Scalar::I16 => "i16",
            Scalar::U32 => "u32",
            Scalar::I32 => "i32",
            Scalar::U64 => "u64",
            Scalar::I64 => "i64",
            Scalar::F32 => "f32",
            Scalar::F64 => "f64",
        }
    }

    /// Bytes, which is also the alignment.
    pub fn size(self) -> usize {
        match self {
            Scalar::U8 | Scalar::I8 => 1,
            Scalar::U16 | Scalar::I16 => 2,
            Scalar::U32 | Scalar::I32 | Scalar::F32 => 4,
            Scalar::U64 | Scalar::I64 | Scalar::F64 => 8,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, Scalar::F32 | Scalar::F64)
    }

    pub fn is_signed(self) -> bool {
        matches!(self, Scalar::I8 | Scalar::I16 | Scalar::I32 | Scalar::I64)
    }
}

/// One field at its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldLayout {
    pub name: String,
    pub scalar: Scalar,
    /// The length of a fixed array, `None` for a scalar.
    pub count: Option<u32>,
    pub offset: usize,
    pub description: String,
}

impl FieldLayout {
    /// Bytes the field takes.
    pub fn size(&self) -> usize {
        self.scalar.size() * self.count.unwrap_or(1) as usize
    }

    /// The type as the manifest writes it: `f32` or `f32[4]`.
    pub fn type_name(&self) -> String {
        match self.count {
            None => self.scalar.name().to_string(),
            Some(n) => format!("{}[{n}]", self.scalar.name()),
        }
    }
}

/// A record: the fixed part, or one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLayout {
    pub fields: Vec<FieldLayout>,
    /// Bytes, padding included: a multiple of `align`.
    pub size: usize,
    pub align: usize,
}

impl RecordLayout {
    /// Lays out `(name, scalar, array length, description)` in order.
    pub fn new(fields: Vec<(String, Scalar, Option<u32>, String)>) -> Self {
        let mut offset = 0;
        let mut align = 1;
        let fields = fields
            .into_iter()
            .map(|(name, scalar, count, description)| {
                offset = round_up(offset, scalar.size());
                align = align.max(scalar.size());
                let field = FieldLayout {
                    name,
                    scalar,
                    count,
                    offset,
                    description,
                };
                offset += field.size();
                field
            })
            .collect();
        Self {
            fields,
            size: round_up(offset, align),
            align,
        }
    }
}

/// The trailing array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemsLayout {
    pub name: String,
    pub description: Option<String>,
    /// Where the first item starts in the payload.
    pub offset: usize,
    pub record: RecordLayout,
}

/// A whole schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaLayout {
    pub id: SchemaRef,
    pub description: Option<String>,
    pub fixed: RecordLayout,
    pub items: Option<ItemsLayout>,
}

impl SchemaLayout {
    pub fn new(
        id: SchemaRef,
        description: Option<String>,
        fixed: RecordLayout,
        items: Option<(String, Option<String>, RecordLayout)>,
    ) -> Self {
        let items = items.map(|(name, description, record)| ItemsLayout {
            name,
            description,
            offset: round_up(fixed.size, record.align),
            record,
        });
        Self {
            id,
            description,
            fixed,
            items,
        }
    }

    /// The alignment a payload must have to be read in place.
    pub fn align(&self) -> usize {
        self.items
            .as_ref()
            .map_or(self.fixed.align, |i| i.record.align.max(self.fixed.align))
    }

    /// Payload bytes of a frame with `n` items (without items: the fixed size).
    pub fn size(&self, n: usize) -> usize {
        match &self.items {
            Some(items) => items.offset + n * items.record.size,
            None => self.fixed.size,
        }
    }

    /// Two definitions lay bytes out alike: the same fields, types and
    /// places (descriptions may differ).
    pub fn same_bytes(&self, other: &SchemaLayout) -> bool {
        let shape = |r: &RecordLayout| -> Vec<(String, Scalar, Option<u32>, usize)> {
            r.fields
                .iter()
                .map(|f| (f.name.clone(), f.scalar, f.count, f.offset))
                .collect()
        };
        let items = |l: &SchemaLayout| {
            l.items
                .as_ref()
                .map(|i| (i.name.clone(), i.offset, shape(&i.record)))
        };
        shape(&self.fixed) == shape(&other.fixed) && items(self) == items(other)
    }
}

fn round_up(n: usize, align: usize) -> usize {
    n.div_ceil(align) * align
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(
        name: &str,
        scalar: Scalar,
        count: Option<u32>,
    ) -> (String, Scalar, Option<u32>, String) {
        (name.into(), scalar, count, "d".into())
    }

    #[test]
    fn fields_align_to_their_size_and_records_pad_to_their_largest() {
        let r = RecordLayout::new(vec![
            field("a", Scalar::U8, None),
            field("b", Scalar::U32, None),
            field("c", Scalar::U16, Some(3)),
            field("d", Scalar::F64, None),
            field("e", Scalar::I8, None),
        ]);
        let offsets: Vec<usize> = r.fields.iter().map(|f| f.offset).collect();
        assert_eq!(offsets, [0, 4, 8, 16, 24]);
        assert_eq!((r.size, r.align), (32, 8));
    }

    #[test]
    fn items_start_at_the_fixed_size_rounded_to_their_alignment() {
        let fixed = RecordLayout::new(vec![field("n", Scalar::U8, Some(5))]);
        let item = RecordLayout::new(vec![field("x", Scalar::F64, None)]);
        let id = SchemaRef::parse("a.b@1.0").unwrap();
        let l = SchemaLayout::new(id, None, fixed, Some(("items".into(), None, item)));
        let items = l.items.as_ref().unwrap();
        assert_eq!((l.fixed.size, items.offset), (5, 8));
        assert_eq!((l.size(0), l.size(3), l.align()), (8, 32, 8));
    }
}
