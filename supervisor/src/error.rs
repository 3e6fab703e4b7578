//! Mistakes in what a user gave plexus (a pipeline, a manifest, a flag),
//! each told in one sentence that names the file and the item at fault.

use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum UserError {
    #[error("{}: {message}", path.display())]
    InFile { path: PathBuf, message: String },
    #[error("{0}")]
    Plain(String),
}

impl UserError {
    pub fn in_file(path: &Path, message: impl Into<String>) -> Self {
        UserError::InFile {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// A YAML error with its line and column when the parser knows them.
    pub fn yaml(path: &Path, error: &serde_yaml_ng::Error) -> Self {
        let detail = error.to_string();
        let detail = match error.location() {
            Some(loc) if !detail.contains("line ") => {
                format!("line {}, column {}: {detail}", loc.line(), loc.column())
            }
            _ => detail,
        };
        Self::in_file(path, detail)
    }
}
