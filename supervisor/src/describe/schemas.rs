//! `plexus schemas list|describe`: the frame schemas this plexus knows, so
//! a package author can see what a port's `schema:` may name and which
//! header fields frames of it carry. The facts live in `ipc-schemas`; this
//! module only prints them.

use std::path::PathBuf;

use clap::Subcommand;
use ipc_schemas::SchemaId;
use serde_json::{json, Value};

use super::package_schemas;
use crate::codegen::{self, lookup, Target};
use crate::error::UserError;
use crate::package::manifest::schemas::SchemaRef;
use crate::table::render;

#[derive(Debug, Subcommand)]
pub enum SchemasCommand {
    /// List the frame schemas, one line each, then the schemas installed
    /// packages (and --pipeline's, --package's) define.
    List {
        /// Print them as one JSON object.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        from: PackageSchemas,
    },
    /// Describe one schema: its payload and the header fields it sets; for
    /// a package schema (NAME@MAJOR.MINOR) its fields, offsets and sizes.
    Describe {
        /// The schema, e.g. video/rgba8 or acme.detections@1.2.
        id: String,
        /// Print it as one JSON object.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        from: PackageSchemas,
    },
    /// Write typed, zero-copy code for package schemas: numpy dtypes and a
    /// class (Python), a DataView class (TypeScript), repr(C) structs with
    /// a checked view (Rust). One file per schema, named after it.
    Codegen {
        /// The schemas, as NAME@MAJOR.MINOR.
        #[arg(required = true)]
        schemas: Vec<String>,
        /// The language.
        #[arg(long, value_enum)]
        lang: Target,
        /// The directory to write into (created if missing).
        #[arg(short, long)]
        output: PathBuf,
        /// A package directory that defines the schemas (else the installed
        /// packages); may be given more than once.
        #[arg(long)]
        package: Vec<PathBuf>,
    },
}

/// Where package schemas are looked for, besides the installed packages.
#[derive(Debug, clap::Args)]
pub struct PackageSchemas {
    /// Also the schemas of the packages this pipeline lists.
    #[arg(long)]
    pipeline: Option<PathBuf>,
    /// Also the schemas of this package directory; may be repeated.
    #[arg(long)]
    package: Vec<PathBuf>,
}

/// What input ports may name besides a schema.
const WILDCARDS: &str = "Input ports may also accept `video/*` (any video schema) or `any`.";

pub fn run(command: SchemasCommand) -> anyhow::Result<i32> {
    match command {
        SchemasCommand::List { json: true, from } => {
            let all: Vec<Value> = SchemaId::ALL.into_iter().map(to_json).collect();
            let known = lookup::known(&from.package, from.pipeline.as_deref())?;
            let defined: Vec<Value> = package_schemas::unique(&known)
                .into_iter()
                .map(package_schemas::to_json)
                .collect();
            println!("{}", json!({ "schemas": all, "package_schemas": defined }));
        }
        SchemasCommand::List { json: false, from } => {
            print!("{}", list_text());
            let known = lookup::known(&from.package, from.pipeline.as_deref())?;
            let mut rows = vec![vec![
                "PACKAGE SCHEMA".to_string(),
                "DESCRIPTION".to_string(),
            ]];
            rows.extend(package_schemas::list_rows(&known));
            if rows.len() > 1 {
                print!("\n{}", render(&rows));
            }
        }
        SchemasCommand::Describe { id, json, from } if package_schemas::is_package_id(&id) => {
            let wanted =
                SchemaRef::parse(&id).map_err(|m| UserError::Plain(format!("the argument {m}")))?;
            let known = lookup::known(&from.package, from.pipeline.as_deref())?;
            let def = lookup::find(&known, &wanted)?;
            match json {
                true => println!("{}", package_schemas::to_json(def)),
                false => print!("{}", package_schemas::describe_text(def)),
            }
        }
        SchemasCommand::Codegen {
            schemas,
            lang,
            output,
            package,
        } => return codegen::command(&schemas, lang, &output, &package),
        SchemasCommand::Describe { id, json, .. } => {
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
