//! `plexus schemas list|describe`: the frame schemas this plexus knows, so
//! a package author can see what a port's `schema:` may name and which
//! header fields frames of it carry. The facts live in `ipc-schemas`; this
//! module only prints them.

use clap::Subcommand;
use ipc_schemas::SchemaId;
use serde_json::{json, Value};

use crate::error::UserError;
use crate::table::render;

#[derive(Debug, Subcommand)]
pub enum SchemasCommand {
    /// List the frame schemas, one line each.
    List {
        /// Print them as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Describe one schema: its payload and the header fields it sets.
    Describe {
        /// The schema, e.g. video/rgba8.
        id: String,
        /// Print it as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// What input ports may name besides a schema.
const WILDCARDS: &str = "Input ports may also accept `video/*` (any video schema) or `any`.";

pub fn run(command: SchemasCommand) -> Result<i32, UserError> {
    match command {
        SchemasCommand::List { json: true } => {
            let all: Vec<Value> = SchemaId::ALL.into_iter().map(to_json).collect();
            println!("{}", json!({ "schemas": all }));
        }
        SchemasCommand::List { json: false } => print!("{}", list_text()),
        SchemasCommand::Describe { id, json } => {
            let schema = find(&id)?;
            if json {
                println!("{}", to_json(schema));
            } else {
                print!("{}", describe_text(schema));
            }
        }
    }
    Ok(0)
}

/// The schema named `id`, or one sentence listing the known ones.
pub fn find(id: &str) -> Result<SchemaId, UserError> {
    // Every schema is described, `record` too, though ports never name it.
    SchemaId::ALL
        .into_iter()
        .find(|s| s.name() == id)
        .ok_or_else(|| {
            let known: Vec<&str> = SchemaId::ALL.iter().map(|s| s.name()).collect();
            UserError::Plain(format!(
                "unknown schema `{id}`; the known schemas are {}",
                known.join(", ")
            ))
        })
}

fn list_text() -> String {
    let mut rows = vec![vec!["SCHEMA".to_string(), "DESCRIPTION".to_string()]];
    rows.extend(
        SchemaId::ALL
            .into_iter()
            .map(|s| vec![s.name().to_string(), s.description().to_string()]),
    );
    format!("{}\n{WILDCARDS}\n", render(&rows))
}

fn describe_text(schema: SchemaId) -> String {
    let mut rows = vec![vec!["FIELD".to_string(), "MEANING".to_string()]];
    rows.extend(
        schema
            .header_fields()
            .into_iter()
            .map(|f| vec![f.name.to_string(), f.meaning.to_string()]),
    );
    format!(
        "{} (code {}): {}\npayload: {}\n\n{}\nThe other header fields are 0.\n",
        schema.name(),
        schema.code(),
        schema.description(),
        schema.payload(),
        render(&rows)
    )
}

fn to_json(schema: SchemaId) -> Value {
    let fields: Vec<Value> = schema
        .header_fields()
        .into_iter()
        .map(|f| json!({ "name": f.name, "meaning": f.meaning }))
        .collect();
    json!({
        "id": schema.name(),
        "code": schema.code(),
        "description": schema.description(),
        "payload": schema.payload(),
        "bytes_per_pixel": schema.bytes_per_pixel(),
        "header_fields": fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_names_every_schema() {
        let text = list_text();
        for s in SchemaId::ALL {
            assert!(
                text.contains(s.name()) && text.contains(s.description()),
                "{text}"
            );
        }
    }

    #[test]
    fn a_video_schema_is_described_with_its_geometry() {
        let text = describe_text(SchemaId::VideoRgba8);
        for field in [
            "width",
            "height",
            "stride",
            "format",
            "seq",
            "capture_ns",
            "pts_ns",
            "duration_ns",
        ] {
            assert!(text.lines().any(|l| l.starts_with(field)), "{text}");
        }
        let json = to_json(SchemaId::VideoRgba8);
        assert_eq!(json["bytes_per_pixel"], 4);
        assert_eq!(json["header_fields"].as_array().unwrap().len(), 9);
    }

    #[test]
    fn an_unknown_id_lists_the_known_ones() {
        let err = find("video/rgb").unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown schema `video/rgb`; the known schemas are video/rgba8, video/gray8, bytes, audio/f32, samples/f32, tensor/f32, tensor/u8, record"
        );
    }
}
