//! The write paths a run creates before its workers start: the kernel
//! grants rights on files that exist, so a directory a processor may write
//! in must be there first.

use crate::error::UserError;
use crate::load::plan::Plan;

/// Creates the write paths of a plan's processors that do not exist yet,
/// as directories, so the kernel has a file to grant them on. Called by
/// what starts workers (`run`, `apply`), never by `validate`.
pub fn make_write_dirs(plan: &Plan) -> Result<(), UserError> {
    for p in &plan.processors {
        for dir in &p.sandbox.permissions.write {
            if dir.exists() {
                continue;
            }
            std::fs::create_dir_all(dir).map_err(|e| {
                UserError::in_file(
                    &plan.path,
                    format!(
                        "processor `{}` may write {}, which does not exist and cannot be created: {e}",
                        p.spec.id,
                        dir.display()
                    ),
                )
            })?;
            tracing::debug!(
                "created {} for processor `{}` to write in",
                dir.display(),
                p.spec.id
            );
        }
    }
    Ok(())
}
