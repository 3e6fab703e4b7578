//! From the files a user wrote to a plan that can run: the pipeline file,
//! the processor types it may use (the catalog of builtins and listed
//! packages), restart settings, deadlines and input synchronisation, the plan, and
//! the check of config changes while a processor runs (`live_config`) — every check `validate`
//! makes, before any process exists.

pub mod catalog;
pub mod deadlines;
pub mod diff;
pub mod hosts;
pub mod live_config;
pub mod permissions;
pub mod pipeline;
pub mod plan;
pub mod port_schemas;
pub mod record;
pub mod restart;

use std::path::Path;

use crate::error::UserError;
use catalog::Catalog;
use pipeline::Pipeline;
use plan::Plan;

/// Loads, resolves and checks a pipeline.
pub fn load_plan(path: &Path) -> Result<Plan, UserError> {
    plan_pipeline(&Pipeline::load(path)?)
}

/// Resolves and checks a loaded pipeline.
pub fn plan_pipeline(pipeline: &Pipeline) -> Result<Plan, UserError> {
    let catalog = Catalog::for_pipeline(pipeline)?;
    plan::plan(pipeline, &catalog)
}
