//! How each worker process is started: every language the plan uses is
//! provisioned (Python environments, the deno executable and its host)
//! before any worker starts, so a missing piece is an error before anything
//! runs; then each worker's command comes from its language.

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::Result;
use ipc_schemas::{Entry, ProcessorSpec};

use crate::language::{self, Hosted, Launch};
use crate::load::plan::{Plan, PlannedWorker};

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

    /// The command that starts `worker`; the caller adds identity, pipes and
    /// process hygiene.
    pub fn command(&self, plan: &Plan, worker: &PlannedWorker) -> Result<Command> {
        let entries: Vec<&Entry> = plan
            .processors
            .iter()
            .filter(|p| p.worker == worker.name)
            .map(|p| &p.spec.entry)
            .collect();
        self.launch(worker).command(&entries)
    }
}
