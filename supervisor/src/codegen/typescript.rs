//! TypeScript code for a package schema: a class per record over a
//! `DataView` of the frame's bytes (getters and setters per field, little-
//! endian, nothing copied), with the item accessor and `byteLength(n)`.

use std::fmt::Write;

use super::{banner, class_name};
use crate::package::manifest::schemas::{FieldLayout, RecordLayout, Scalar, SchemaLayout};

/// The DataView accessor suffix and the TypeScript type of a scalar.
fn accessor(scalar: Scalar) -> (&'static str, &'static str) {
    match scalar {
        Scalar::U8 => ("Uint8", "number"),
        Scalar::I8 => ("Int8", "number"),
        Scalar::U16 => ("Uint16", "number"),
        Scalar::I16 => ("Int16", "number"),
        Scalar::U32 => ("Uint32", "number"),
        Scalar::I32 => ("Int32", "number"),
        Scalar::U64 => ("BigUint64", "bigint"),
        Scalar::I64 => ("BigInt64", "bigint"),
        Scalar::F32 => ("Float32", "number"),
        Scalar::F64 => ("Float64", "number"),
    }
}

/// The getter and setter of one field, relative to `this.offset`.
fn field(f: &FieldLayout) -> String {
    let (method, ty) = accessor(f.scalar);
    let little = if f.scalar.size() > 1 { ", true" } else { "" };
    let about = f.description.replace("*/", "* /");
    match f.count {
        None => format!(
            "  /** {about} ({ty_name}) */\n  get {name}(): {ty} {{\n    return this.#view.get{method}(this.#offset + {off}{little});\n  }}\n  set {name}(value: {ty}) {{\n    this.#view.set{method}(this.#offset + {off}, value{little});\n  }}\n",
            name = f.name,
            ty_name = f.type_name(),
            off = f.offset,
        ),
        Some(n) => format!(
            "  /** {about} ({ty_name}); read as a copy, written element by element */\n  get {name}(): {ty}[] {{\n    const out: {ty}[] = [];\n    for (let i = 0; i < {n}; i++) out.push(this.#view.get{method}(this.#offset + {off} + i * {size}{little}));\n    return out;\n  }}\n  set {name}(value: ArrayLike<{ty}>) {{\n    if (value.length !== {n}) throw new RangeError(\"{name} takes {n} values, not \" + value.length);\n    for (let i = 0; i < {n}; i++) this.#view.set{method}(this.#offset + {off} + i * {size}, value[i]{little});\n  }}\n",
            name = f.name,
            ty_name = f.type_name(),
            off = f.offset,
            size = f.scalar.size(),
        ),
    }
}

/// A class viewing one record at `offset` of a DataView.
fn record_class(name: &str, about: &str, record: &RecordLayout, extra: &str) -> String {
    let mut out = format!(
        "/** {about} */\nexport class {name} {{\n  /** Bytes of one record, padding included. */\n  static readonly SIZE = {size};\n\n  readonly #view: DataView;\n  readonly #offset: number;\n\n  constructor(view: DataView, offset = 0) {{\n    this.#view = view;\n    this.#offset = offset;\n  }}\n\n",
        size = record.size,
        about = about.replace("*/", "* /"),
    );
    for f in &record.fields {
        out.push_str(&field(f));
    }
    out.push_str(extra);
    out.push_str("}\n");
    out
}

pub fn generate(layout: &SchemaLayout) -> String {
    let class = class_name(layout);
    let mut out = banner(layout, "//");
    let _ = write!(
        out,
        "// {}@{}: {}\n\nexport const NAME = \"{}\";\nexport const VERSION = [{}, {}] as const;\nexport const FIXED_SIZE = {};\nexport const ALIGN = {};\n\n",
        layout.id.name,
        layout.id.version,
        layout.description.as_deref().unwrap_or("a package schema"),
        layout.id.name,
        layout.id.version.major,
        layout.id.version.minor,
        layout.fixed.size,
        layout.align(),
    );
    let whole = match &layout.items {
        Some(items) => {
            let item_class = format!("{class}Item");
            out.push_str(&record_class(
                &item_class,
                items.description.as_deref().unwrap_or("One item."),
                &items.record,
                "",
            ));
            let _ = write!(
                out,
                "\nexport const ITEMS_OFFSET = {};\nexport const ITEM_SIZE = {};\n\n",
                items.offset, items.record.size
            );
            format!(
                r#"
  /** Bytes of a frame with `n` items. */
  static byteLength(n: number): number {{
    return ITEMS_OFFSET + n * ITEM_SIZE;
  }}

  /** Views a frame's bytes without copying; throws when the length is not
   * the fixed part and a whole number of items. */
  static from(bytes: Uint8Array): {class} {{
    const extra = bytes.byteLength - ITEMS_OFFSET;
    if (extra < 0 || extra % ITEM_SIZE !== 0) {{
      throw new RangeError(`${{NAME}}@${{VERSION[0]}}.${{VERSION[1]}}: ${{bytes.byteLength}} bytes are not ${{ITEMS_OFFSET}} + a whole number of ${{ITEM_SIZE}}-byte items`);
    }}
    return new {class}(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }}

  /** Zeroes `bytes` (a loaned buffer of `byteLength(n)` bytes) and views it
   * for filling in. */
  static writer(bytes: Uint8Array): {class} {{
    bytes.fill(0);
    return {class}.from(bytes);
  }}

  /** How many `{items}` the frame holds. */
  get itemCount(): number {{
    return (this.#view.byteLength - ITEMS_OFFSET) / ITEM_SIZE;
  }}

  /** Item `i` of `{items}`, a view. */
  item(i: number): {class}Item {{
    if (!(i >= 0 && i < this.itemCount)) throw new RangeError(`item ${{i}} of ${{this.itemCount}}`);
    return new {class}Item(this.#view, ITEMS_OFFSET + i * ITEM_SIZE);
  }}

  /** {about} Every item, as views. */
  get {items}(): {class}Item[] {{
    return Array.from({{ length: this.itemCount }}, (_, i) => this.item(i));
  }}
"#,
                items = items.name,
                about = items
                    .description
                    .as_deref()
                    .unwrap_or("")
                    .replace("*/", "* /"),
            )
        }
        None => format!(
            r#"
  /** Bytes of a frame. */
  static byteLength(_n = 0): number {{
    return FIXED_SIZE;
  }}

  /** Views a frame's bytes without copying; throws when they are too few. */
  static from(bytes: Uint8Array): {class} {{
    if (bytes.byteLength < FIXED_SIZE) {{
      throw new RangeError(`${{NAME}}@${{VERSION[0]}}.${{VERSION[1]}}: ${{bytes.byteLength}} bytes, fewer than ${{FIXED_SIZE}}`);
    }}
    return new {class}(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }}

  /** Zeroes `bytes` (a loaned buffer of `byteLength()` bytes) and views it
   * for filling in. */
  static writer(bytes: Uint8Array): {class} {{
    bytes.fill(0);
    return {class}.from(bytes);
  }}
"#
        ),
    };
    out.push('\n');
    out.push_str(&record_class(
        &class,
        layout
            .description
            .as_deref()
            .unwrap_or("A frame's fixed part."),
        &layout.fixed,
        &whole,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_use_the_layouts_offsets() {
        let text = generate(&crate::codegen::tests::sample());
        assert!(
            text.contains("this.#view.getBigInt64(this.#offset + 24, true)"),
            "{text}"
        );
        assert!(
            text.contains("this.#view.getInt8(this.#offset + 40)"),
            "{text}"
        );
        assert!(text.contains("export const ITEMS_OFFSET = 48;"), "{text}");
        assert!(text.contains("get boxes(): DetectionsItem[]"), "{text}");
    }
}
