//! The schemas packages define, as `plexus schemas list|describe` print
//! them (found by `codegen::lookup`): with their fields, offsets, sizes and
//! descriptions.

use serde_json::{json, Value};

use crate::load::catalog::SchemaDef;
use crate::package::manifest::schemas::RecordLayout;
use crate::table::render;

fn record_json(record: &RecordLayout) -> Value {
    record
        .fields
        .iter()
        .map(|f| {
            json!({
                "name": f.name,
                "type": f.type_name(),
                "offset": f.offset,
                "size": f.size(),
                "description": f.description,
            })
        })
        .collect()
}

/// One schema as JSON (docs/json/package-schema.schema.json).
pub fn to_json(def: &SchemaDef) -> Value {
    let l = &def.layout;
    json!({
        "id": l.id.to_string(),
        "name": l.id.name,
        "version": l.id.version.to_string(),
        "package": def.package,
        "description": l.description,
        "size": l.fixed.size,
        "align": l.align(),
        "fields": record_json(&l.fixed),
        "items": l.items.as_ref().map(|i| json!({
            "name": i.name,
            "description": i.description,
            "offset": i.offset,
            "size": i.record.size,
            "align": i.record.align,
            "fields": record_json(&i.record),
        })),
    })
}

fn fields_rows(record: &RecordLayout, rows: &mut Vec<Vec<String>>, prefix: &str) {
    for f in &record.fields {
        rows.push(vec![
            format!("{prefix}{}", f.name),
            f.type_name(),
            f.offset.to_string(),
            f.size().to_string(),
            f.description.clone(),
        ]);
    }
}

/// One schema as text: what it is, its layout, a row per field.
pub fn describe_text(def: &SchemaDef) -> String {
    let l = &def.layout;
    let mut rows = vec![["FIELD", "TYPE", "OFFSET", "SIZE", "DESCRIPTION"]
        .map(String::from)
        .to_vec()];
    fields_rows(&l.fixed, &mut rows, "");
    let items = match &l.items {
        Some(i) => {
            let prefix = format!("{}[].", i.name);
            fields_rows(&i.record, &mut rows, &prefix);
            format!(
                "; then `{}`, items of {} bytes from offset {} to the end of the payload{}",
                i.name,
                i.record.size,
                i.offset,
                i.description
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            )
        }
        None => String::new(),
    };
    format!(
        "{} (from {}, sent as `record`): {}\npayload: a fixed part of {} bytes{items}; little-endian, aligned to {}\n\n{}",
        l.id,
        def.package,
        l.description.as_deref().unwrap_or("-"),
        l.fixed.size,
        l.align(),
        render(&rows)
    )
}

/// The list's rows for package schemas, after the builtins'.
pub fn list_rows(known: &[SchemaDef]) -> Vec<Vec<String>> {
    unique(known)
        .into_iter()
        .map(|d| {
            vec![
                d.layout.id.to_string(),
                format!(
                    "{} (package {})",
                    d.layout.description.as_deref().unwrap_or("-"),
                    d.package
                ),
            ]
        })
        .collect()
}

/// Each definition once, however many ways it was found.
pub fn unique(known: &[SchemaDef]) -> Vec<&SchemaDef> {
    let mut seen = std::collections::BTreeSet::new();
    known
        .iter()
        .filter(|d| seen.insert((d.layout.id.clone(), d.package.clone())))
        .collect()
}

/// Whether `id` names a package schema (`name@M.m`) rather than a builtin.
pub fn is_package_id(id: &str) -> bool {
    id.contains('@')
}
