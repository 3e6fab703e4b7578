//! How each worker process is started: which program with which arguments,
//! and what must exist first — Python environments, the deno executable and
//! the TypeScript host. All of it is prepared before any worker starts, so a
//! missing piece is an error before anything runs.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Result;
use ipc_schemas::Entry;

use crate::deno::DenoSetup;
use crate::manifest::Runtime;
use crate::plan::{Plan, PlannedWorker};
use crate::python_env;
use crate::runtime::worker_binary;

pub struct Launcher {
    deno: Option<DenoSetup>,
}

impl Launcher {
    /// Prepares what `plan`'s workers need; fills in Python environments.
    pub fn prepare(plan: &mut Plan) -> Result<Self> {
        python_env::prepare(plan)?;
        let needs_deno = plan.workers.iter().any(|w| w.runtime == Runtime::Deno);
        let deno = if needs_deno {
            Some(DenoSetup::prepare()?)
        } else {
            None
        };
        Ok(Self { deno })
    }

    /// The command that starts `worker`; the caller adds identity, pipes and
    /// process hygiene.
    pub fn command(&self, plan: &Plan, worker: &PlannedWorker) -> Result<Command> {
        match (worker.runtime, &self.deno) {
            (Runtime::Deno, Some(deno)) => {
                let package_dirs: Vec<PathBuf> = plan
                    .processors
                    .iter()
                    .filter(|p| p.worker == worker.name)
                    .filter_map(|p| match &p.spec.entry {
                        Entry::Deno { package_dir, .. } => Some(PathBuf::from(package_dir)),
                        _ => None,
                    })
                    .collect();
                Ok(deno.command(&package_dirs))
            }
            (Runtime::Deno, None) => {
                unreachable!("prepare() sets deno up for every plan with a deno worker")
            }
            (runtime, _) => Ok(Command::new(worker_binary(runtime)?)),
        }
    }
}
