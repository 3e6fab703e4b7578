//! `record:` in a pipeline file: the run records these ports from its
//! first frame, with `plexus record` as an observer process of its own.
//! Checked here with the rest of the pipeline; the run starts the recorder.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::excerpt;

/// The section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordSection {
    /// The file, relative to the pipeline file; it must not exist.
    pub file: String,
    /// `PROCESSOR.PORT`s.
    pub ports: Vec<String>,
    /// `none` (the default), `lz4` or `zstd`.
    pub compression: Option<String>,
    pub split_mb: Option<u64>,
    pub split_s: Option<f64>,
    /// `none` (the default), `jpeg` or `png`.
    pub video_codec: Option<String>,
}

/// The recorder the run starts: `plexus record` with these arguments.
#[derive(Debug, Clone)]
pub struct RecordPlan {
    pub file: PathBuf,
    pub args: Vec<String>,
}

/// Checks the section against the pipeline, whose outputs `is_output`
/// (processor, port) knows.
pub fn plan_record(
    section: &RecordSection,
    dir: &Path,
    is_output: impl Fn(&str, &str) -> bool,
) -> Result<RecordPlan, String> {
    if section.file.trim().is_empty() {
        return Err("`record.file` must name a file".into());
    }
    if section.ports.is_empty() {
        return Err("`record.ports` lists no port".into());
    }
    let mut args = vec!["record".to_string()];
    for (i, target) in section.ports.iter().enumerate() {
        let known = target
            .split_once('.')
            .is_some_and(|(processor, port)| is_output(processor, port));
        if !known {
            return Err(format!(
                "`record.ports` names `{}`, which is no output of a processor of this pipeline",
                excerpt(target)
            ));
        }
        if section.ports[..i].contains(target) {
            return Err(format!("`record.ports` names `{}` twice", excerpt(target)));
        }
        args.push(target.clone());
    }
    let file = dir.join(&section.file);
    args.extend(["-o".to_string(), file.display().to_string()]);
    for (key, flag, value, allowed) in [
        (
            "compression",
            "--compression",
            &section.compression,
            ["none", "lz4", "zstd"],
        ),
        (
            "video_codec",
            "--video-codec",
            &section.video_codec,
            ["none", "jpeg", "png"],
        ),
    ] {
        let Some(value) = value else { continue };
        if !allowed.contains(&value.as_str()) {
            return Err(format!(
                "`record.{key}` is `{}`; it must be {}",
                excerpt(value),
                allowed.join(", ")
            ));
        }
        args.extend([flag.to_string(), value.clone()]);
    }
    match (section.split_mb, section.split_s) {
        (Some(_), Some(_)) => {
            return Err("`record` takes `split_mb` or `split_s`, not both".into());
        }
        (Some(0), _) => return Err("`record.split_mb` must be at least 1".into()),
        (Some(mb), None) => args.extend(["--split-mb".to_string(), mb.to_string()]),
        (None, Some(s)) if !(s > 0.0 && s.is_finite()) => {
            return Err("`record.split_s` must be a positive number of seconds".into());
        }
        (None, Some(s)) => args.extend(["--split-s".to_string(), s.to_string()]),
        (None, None) => {}
    }
    Ok(RecordPlan { file, args })
}
