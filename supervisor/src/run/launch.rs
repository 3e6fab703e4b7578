//! How each worker process is started: every language the plan uses is
//! provisioned (Python environments, the deno executable and its host)
//! before any worker starts, so a missing piece is an error before anything
//! runs; then each worker's command comes from its language.

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::Result;
use ipc_schemas::{Entry, ProcessorSpec, SandboxMode};

use super::recipe::Recipe;
use crate::language::{self, Hosted, Launch};
use crate::load::plan::{Plan, PlannedWorker};
use crate::sandbox::landlock::Policy;

pub struct Launcher {
    /// By language name, for the languages the plan uses.
    launches: BTreeMap<&'static str, Box<dyn Launch>>,
}

impl Launcher {
    /// Provisions every language `plan`'s workers use, completing the
    /// processors' entries (Python environments, for one), from the plan's
    /// lockfile when it has one.
    pub fn prepare(plan: &mut Plan) -> Result<Self> {
        let mut launches = BTreeMap::new();
        for &language in language::ALL {
            let workers: Vec<&str> = plan
                .workers
                .iter()
                .filter(|w| w.language == language)
                .map(|w| w.name.as_str())
                .collect();
            if workers.is_empty() {
                continue;
            }
            let lock = plan.lock.as_ref();
            let mut hosted: Vec<Hosted> = plan
                .processors
                .iter_mut()
                .filter(|p| workers.contains(&p.worker.as_str()))
                .map(|p| Hosted {
                    package: &p.package,
                    entry: &mut p.spec.entry,
                    locked: lock.and_then(|l| l.package(&p.package)),
                })
                .collect();
            launches.insert(language.name(), language.provision(&mut hosted)?);
        }
        Ok(Self { launches })
    }

    /// What `worker` reads on stdin when started with `--check`.
    pub fn check_input(&self, worker: &PlannedWorker, specs: &[&ProcessorSpec]) -> Result<String> {
        self.launch(worker).check_input(specs)
    }

    fn launch(&self, worker: &PlannedWorker) -> &dyn Launch {
        self.launches
            .get(worker.language.name())
            .expect("prepare() provisions every language of the plan")
            .as_ref()
    }

    /// The command that starts `worker` unconfined (`validate --deep`); the
    /// caller adds identity, pipes and process hygiene.
    pub fn command(&self, plan: &Plan, worker: &PlannedWorker) -> Result<Command> {
        self.launch(worker).command(&entries(plan, worker), None)
    }

    /// How to start `worker` for a run: its command and, unless its sandbox
    /// is off, its Landlock policy and its sandbox in the environment.
    pub fn recipe(&self, plan: &Plan, worker: &PlannedWorker) -> Result<Recipe> {
        let entries = entries(plan, worker);
        let launch = self.launch(worker);
        if worker.sandbox.mode == SandboxMode::Off {
            return Ok(Recipe::of(&launch.command(&entries, None)?, None));
        }
        let permissions = worker.sandbox.permissions();
        let mut command = launch.command(&entries, Some(&permissions))?;
        command.env(ipc_schemas::sandbox::env::SANDBOX, worker.sandbox.to_json());
        let policy = Policy::of(
            std::path::Path::new(command.get_program()),
            &permissions,
            launch.needs(&entries),
            launch.shared_memory(),
        );
        Ok(Recipe::of(&command, Some(policy)))
    }
}

/// The entries of `worker`'s processors.
fn entries<'a>(plan: &'a Plan, worker: &PlannedWorker) -> Vec<&'a Entry> {
    plan.processors
        .iter()
        .filter(|p| p.worker == worker.name)
        .map(|p| &p.spec.entry)
        .collect()
}
