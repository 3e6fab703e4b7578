//! Running a plan: spawn the workers, take them through hello, configure and
//! start, let frames flow until the run is over, then stop them upstream
//! first so every worker drains what it was sent, and leave nothing behind.

mod apply;
pub mod check;
mod control;
pub mod detach;
mod events;
mod handover;
mod health;
pub mod hosts;
mod id;
mod launch;
mod link;
mod live_config;
mod pause;
mod recipe;
mod recorder;
mod recovery;
mod requests;
mod signals;
mod spawn;
mod stats;
pub mod summary;
mod supervise;
mod swap;
mod usage;
mod watched;
mod worker;

use live_config::LiveConfig;
use recorder::Recorder;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bus::files::RuntimeFiles;
use bus::Bus;
use ipc_schemas::{Command, EventKind, ExitStatus, Names, ProcessorStats, Role, WorkerConfig};

pub use id::new_runtime_id;
pub use launch::Launcher;
pub use spawn::{reap, wait_for_exit};
use supervise::{RunPhase, StopCause, Supervisor, Wake};
use watched::Watched;
use worker::{WorkerHandle, WorkerState};

use crate::error::UserError;
use crate::journal::{self, prune::Retention, Journal, RunInfo};
use crate::language::Lang;
use crate::load::plan::Plan;
use crate::load::record::RecordPlan;

/// How long a worker may take for each lifecycle step, beside the time its
/// processors' setup may take (`load::deadlines`).
const STEP_DEADLINE: Duration = Duration::from_secs(10);
/// How long a worker may take to drain and stop before it is killed.
pub const STOP_DEADLINE: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct RunOptions {
    /// Stop after the sources produced this many frames each.
    pub frames: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// The runtime id a detached run's starter chose; a new one if `None`.
    pub runtime_id: Option<String>,
    /// Told once every worker runs (`plexus run -d` waits for it).
    pub ready: Option<detach::Ready>,
    /// Swap workers for their packages' code as it changes (`--watch`).
    pub watch: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// Ran to its end, but processors raised errors on some frames.
    CompletedWithErrors,
    Stopped,
    Failed,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::CompletedWithErrors => "completed_with_errors",
            Outcome::Stopped => "stopped",
            Outcome::Failed => "failed",
        }
    }
}

/// What a run did, for the summary.
#[derive(Debug)]
pub struct RunReport {
    pub runtime_id: String,
    pub outcome: Outcome,
    pub elapsed: Duration,
    pub workers: Vec<WorkerReport>,
    /// Why the run stopped early: a critical worker was given up, or
    /// `/dev/shm` ran out.
    pub halt: Option<String>,
    pub stats: BTreeMap<String, ProcessorStats>,
    /// Per processor a user paused, how long it was paused in all.
    pub paused: BTreeMap<String, Duration>,
    /// What ran at the end: the pipeline's plan as `plexus apply` left it.
    pub plan: Plan,
    /// What the other hosts did, when processors ran there (§16).
    pub hosts: Option<hosts::HostsReport>,
}

#[derive(Debug)]
pub struct WorkerReport {
    pub name: String,
    pub language: Lang,
    pub restarts: u32,
    pub last_exit: Option<ExitStatus>,
    pub state: &'static str,
    pub failure: Option<String>,
}

/// Removes the runtime's shared-memory files when dropped, after every
/// process and port of the runtime is gone, on success, error or panic.
struct FilesGuard(RuntimeFiles);

impl Drop for FilesGuard {
    fn drop(&mut self) {
        self.0.remove_all();
    }
}

pub fn run(plan: &Plan, launcher: &Launcher, options: &RunOptions) -> Result<RunReport> {
    check_sandbox_support(plan)?;
    RuntimeFiles::remove_abandoned();
    let runtime_id = options.runtime_id.clone().unwrap_or_else(new_runtime_id);
    let names = Names::new(&runtime_id)?;
    let files = RuntimeFiles::new(&names);
    files
        .claim(std::process::id())
        .context("recording the runtime in /dev/shm")?;
    spawn::start_reaper(&runtime_id)?;
    // After the claim, so that the journal never shows a run as over
    // while it starts.
    let journal = open_journal(plan, &runtime_id);
    let _files = FilesGuard(files);
    let started = Instant::now();
    let mut sup = Supervisor::new(
        plan.clone(),
        Bus::join(names, "supervisor")?,
        runtime_id.clone(),
        plan.name.clone(),
    )?;
    if let Some(journal) = &journal {
        sup.events.keep_in(journal.clone());
    }
    sup.picture_plan();
    sup.events.emit(EventKind::RuntimeStarted {
        runtime: runtime_id.clone(),
        pipeline: plan.name.clone(),
    });

    spawn_all(&mut sup, plan, launcher)?;
    let recorder = start(&mut sup, plan, options)?;
    if let Some(ready) = &options.ready {
        ready.tell(&runtime_id);
    }
    // Ends with the run, before its files are removed (`_files`).
    let _watch = options
        .watch
        .then(|| crate::watch::start(plan, &runtime_id))
        .flatten();
    let cause = flow(&mut sup, options)?;
    sup.phase = RunPhase::Draining(cause);
    let asked = matches!(cause, StopCause::Interrupted | StopCause::Requested);
    if !asked {
        // A user's stop is never a failure; a run that ends on its own with
        // a worker down did not complete.
        sup.give_up_on_the_down();
    }
    if cause == StopCause::SourcesDone {
        // What the sources sent may still be on its way through other hosts.
        sup.settle_hosts()?;
    }
    sup.events.emit(EventKind::RuntimeStopping {
        reason: cause.reason().to_string(),
    });
    stop(&mut sup)?;
    sup.stop_hosts()?;
    if let Some(recorder) = recorder {
        recorder.finish();
    }

    let failed = sup.workers.iter().any(|w| w.failure().is_some())
        || matches!(sup.halt, Some(supervise::Halt::HostLost(_)));
    let outcome = match cause {
        _ if failed => Outcome::Failed,
        _ if asked => Outcome::Stopped,
        _ if sup.raised_errors() => Outcome::CompletedWithErrors,
        _ => Outcome::Completed,
    };
    sup.events.emit(EventKind::RuntimeStopped {
        outcome: outcome.name().to_string(),
    });
    // What ran at the end, as `plexus apply` left it.
    let report = report(&sup, runtime_id, outcome, started.elapsed());
    if let Some(journal) = journal {
        journal.finish(&summary::Summary::of(&report.plan, &report).to_json());
    }
    Ok(report)
}

/// Starts the run's journal, and prunes what the journal no longer keeps.
/// A run goes on without one it cannot write (a read-only home, say).
fn open_journal(plan: &Plan, runtime_id: &str) -> Option<Arc<Journal>> {
    match try_open_journal(plan, runtime_id) {
        Ok(journal) => Some(journal),
        Err(e) => {
            tracing::warn!("this run keeps no journal: {e:#}");
            None
        }
    }
}

fn try_open_journal(plan: &Plan, runtime_id: &str) -> Result<Arc<Journal>> {
    let runs = journal::runs_dir()?;
    let retention = Retention::from_env()?;
    let info = RunInfo {
        runtime: runtime_id.to_string(),
        pipeline: plan.name.clone(),
        file: std::path::absolute(&plan.path).unwrap_or_else(|_| plan.path.clone()),
        pid: std::process::id(),
        start_time_ns: journal::now_ns(),
        // Other hosts' workers too: their lines come over the link (§16).
        workers: plan
            .workers
            .iter()
            .map(|w| w.name.clone())
            .chain(plan.remote.iter().map(|p| p.worker.clone()))
            .fold(Vec::new(), |mut all, w| {
                if !all.contains(&w) {
                    all.push(w);
                }
                all
            }),
    };
    let journal = Journal::create(&runs, &info)?;
    let pruned = journal::prune::prune(&runs, retention, info.start_time_ns);
    if pruned > 0 {
        tracing::debug!("pruned {pruned} old runs from the run journal");
    }
    Ok(Arc::new(journal))
}

/// Says what this kernel cannot enforce of the plan's sandboxes, if any
/// worker has one.
fn check_sandbox_support(plan: &Plan) -> Result<()> {
    if plan
        .workers
        .iter()
        .all(|w| w.sandbox.mode == ipc_schemas::SandboxMode::Off)
    {
        return Ok(());
    }
    let support = crate::sandbox::probe::Support::probe();
    crate::sandbox::probe::gate(&support, &plan.name, plan.sandbox_unavailable)?;
    Ok(())
}

/// Spawns every planned worker, each with its control channel open first.
fn spawn_all(sup: &mut Supervisor, plan: &Plan, launcher: &Launcher) -> Result<()> {
    let dir = plan.dir();
    for planned in &plan.workers {
        let recipe = launcher.recipe(plan, planned)?;
        let channel = WorkerHandle::open_channel(&sup.bus, &planned.name)?;
        let watched = plan
            .processors
            .iter()
            .filter(|p| p.worker == planned.name)
            .map(|p| Watched::open(sup.bus.names(), p))
            .collect::<Result<_>>()?;
        let output = spawn::Output {
            sink: sup.events.worker_log(&planned.name),
            generation: 0,
        };
        let child = spawn::spawn(&recipe, &sup.runtime_id, &planned.name, &dir, output)?;
        let handle = WorkerHandle::new(planned, recipe, dir.clone(), child, channel, watched)?;
        sup.events.emit(EventKind::WorkerSpawned {
            worker: handle.name.clone(),
            pid: handle.pid,
        });
        sup.workers.push(handle);
    }
    Ok(())
}

/// Lets frames flow until the run is over; returns why it is.
fn flow(sup: &mut Supervisor, options: &RunOptions) -> Result<StopCause> {
    let deadline = options.duration.map(|d| Instant::now() + d);
    let frames = options.frames.is_some();
    let wake = sup.wait_until(deadline, |s| {
        let all_finished = s.workers.iter().all(|w| w.finished());
        matches!(s.phase, RunPhase::Draining(_))
            || s.halt.is_some()
            || all_finished
            || (frames && sources_done(s))
            || sources_finished(s)
    })?;
    Ok(match (wake, sup.phase) {
        (Wake::Done, _) if sup.halt.is_some() => sup.halt.as_ref().expect("checked").cause(),
        (Wake::Done, RunPhase::Draining(cause)) => cause,
        (Wake::Done, _) if frames || sources_finished(sup) => StopCause::SourcesDone,
        (Wake::Done, _) => StopCause::WorkersEnded,
        (Wake::Deadline, _) => StopCause::Duration,
        (Wake::Interrupted, _) => StopCause::Interrupted,
    })
}

/// What the run did, for the summary.
fn report(sup: &Supervisor, runtime_id: String, outcome: Outcome, elapsed: Duration) -> RunReport {
    let plan = &sup.plan;
    RunReport {
        plan: plan.clone(),
        runtime_id,
        outcome,
        elapsed,
        workers: sup
            .workers
            .iter()
            .map(|w| WorkerReport {
                name: w.name.clone(),
                language: w.language,
                restarts: w.restarts,
                last_exit: w.last_exit,
                state: w.state_name(),
                failure: w.failure().map(str::to_string),
            })
            .collect(),
        halt: sup.halt.as_ref().map(|h| h.message().to_string()),
        hosts: sup.hosts_report(),
        paused: plan
            .processors
            .iter()
            .map(|p| {
                (
                    p.spec.id.clone(),
                    sup.pauses.total(&p.spec.id, Instant::now()),
                )
            })
            .filter(|(_, paused)| !paused.is_zero())
            .collect(),
        stats: plan
            .processors
            .iter()
            .filter_map(|p| {
                let last = sup
                    .workers
                    .iter()
                    .flat_map(|w| &w.stats)
                    .find(|s| s.processor == p.spec.id);
                Some((p.spec.id.clone(), sup.live.totals(&p.spec.id, last)?))
            })
            .collect(),
    }
}

impl Supervisor {
    /// Makes the runtime's picture of itself its plan's: the inputs each
    /// worker feeds, the counters its stats read, and the config schemas
    /// `plexus set` checks. At start, and after each `plexus apply`.
    fn picture_plan(&mut self) {
        self.downstream = downstream_of(&self.plan);
        let specs = self.plan.processors.iter().map(|p| p.spec.clone());
        self.live.wire(self.bus.names(), specs);
        self.live_config = LiveConfig::new(
            self.plan
                .processors
                .iter()
                .map(|p| (p.spec.id.clone(), p.config_schema.clone()))
                .collect(),
        );
    }
}

/// Per worker, the inputs of other workers' processors it feeds.
fn downstream_of(plan: &Plan) -> BTreeMap<String, Vec<(String, String)>> {
    let worker_of: BTreeMap<&str, &str> = plan
        .processors
        .iter()
        .map(|p| (p.spec.id.as_str(), p.worker.as_str()))
        .collect();
    let mut downstream: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for p in &plan.processors {
        for input in &p.spec.inputs {
            // Frames from another host come through the link (§16).
            let Some(&upstream) = worker_of.get(input.from_processor.as_str()) else {
                continue;
            };
            if upstream != p.worker {
                downstream
                    .entry(upstream.to_string())
                    .or_default()
                    .push((p.spec.id.clone(), input.port.clone()));
            }
        }
    }
    downstream
}

/// Every source said it sent its last frame (a file source at the end of
/// its file), with or without `--frames`: the run ends once they drained.
fn sources_finished(s: &Supervisor) -> bool {
    let mut sources = s
        .plan
        .processors
        .iter()
        .filter(|p| p.is_source())
        .peekable();
    sources.peek().is_some() && sources.all(|p| s.finished_sources.contains(&p.spec.id))
}

/// A source is done when it reported its last frame or its worker is gone.
fn sources_done(s: &Supervisor) -> bool {
    s.plan.processors.iter().filter(|p| p.is_source()).all(|p| {
        s.finished_sources.contains(&p.spec.id)
            || s.workers.iter().any(|w| w.name == p.worker && w.finished())
    })
}

/// hello → configured → running for every worker, each step with a
/// deadline. A worker that crashes meanwhile comes back by its policy and
/// takes the steps on its own, so it needs its configuration from the start.
fn start(sup: &mut Supervisor, plan: &Plan, options: &RunOptions) -> Result<Option<Recorder>> {
    for w in &mut sup.workers {
        let processors = plan
            .processors
            .iter()
            .filter(|p| p.worker == w.name)
            .map(|p| {
                let mut spec = p.spec.clone();
                if p.is_source() {
                    spec.frame_limit = options.frames;
                }
                spec
            })
            .collect();
        // Nothing is paused yet: pauses are refused until the run flows.
        w.config = Some(WorkerConfig {
            processors,
            paused: Vec::new(),
            role: Role::Serving,
            latency: plan.latency_of(&w.name),
        });
    }
    await_all(sup, WorkerState::Greeted)?;
    send_first(sup, "configure", |w| {
        w.config.clone().map(Command::Configure)
    });
    await_all(sup, WorkerState::Configured)?;
    // The run stops before it starts (`flow` tells why): no source runs.
    if sup.halt.is_some() {
        return Ok(None);
    }
    let recorder = match &plan.record {
        Some(record) => Some(start_recorder(sup, record)?),
        None => None,
    };
    // Before any source runs, so that no frame is sent before the other
    // hosts take it.
    if let Some(hosts) = &plan.hosts {
        hosts::start_link(sup, hosts, options.frames)?;
    }
    send_first(sup, "start", |_| Some(Command::Start));
    // Sources produce as soon as they run, so a worker may crash on its
    // first frames before the others even report running. A stop asked
    // meanwhile stands.
    if sup.phase == RunPhase::Starting {
        sup.phase = RunPhase::Flowing;
    }
    await_all(sup, WorkerState::Running)?;
    Ok(recorder)
}

/// Starts the run's recorder and waits until it holds its ports; the
/// supervisor keeps answering meanwhile, since the recorder asks it what
/// the runtime has.
fn start_recorder(sup: &mut Supervisor, record: &RecordPlan) -> Result<Recorder> {
    let recorder = Recorder::spawn(record, &sup.runtime_id)?;
    let wake = sup.wait_until(Some(Instant::now() + recorder::READY_WITHIN), |_| {
        recorder.started().is_some()
    })?;
    match (wake, recorder.started()) {
        (_, Some(true)) => Ok(recorder),
        (Wake::Interrupted, _) => bail!(UserError::Plain("interrupted while starting".into())),
        _ => bail!(UserError::Plain(format!(
            "the run's recorder could not start: {}",
            recorder.last_line()
        ))),
    }
}

/// Asks each worker still on its first process for the handshake step
/// `stage` with the command `make` gives.
fn send_first(
    sup: &mut Supervisor,
    stage: &'static str,
    make: impl Fn(&WorkerHandle) -> Option<Command>,
) {
    // A worker given up on meanwhile (no room in /dev/shm) stays failed.
    let due = |w: &&mut WorkerHandle| w.on_first_process() && w.failure().is_none();
    for w in sup.workers.iter_mut().filter(due) {
        if let Some(command) = make(w) {
            w.ask(&command, stage);
        }
    }
}

/// Waits until every worker still on its first process reached `state`. A
/// worker that misses its step's deadline is killed and handled by its
/// restart policy like any crash (`Supervisor::tick`); a refusal ends the
/// run with its reason, and a critical failure moves on to the stop.
fn await_all(sup: &mut Supervisor, state: WorkerState) -> Result<()> {
    let behind = |w: &WorkerHandle| w.on_first_process() && w.state < state;
    let wake = sup.wait_until(None, |s| {
        s.refusal.is_some() || s.halt.is_some() || !s.workers.iter().any(behind)
    })?;
    if let Some(refusal) = &sup.refusal {
        bail!(UserError::Plain(refusal.clone()));
    }
    match wake {
        Wake::Interrupted => bail!(UserError::Plain("interrupted while starting".into())),
        Wake::Done | Wake::Deadline => Ok(()),
    }
}

/// Stops workers upstream first, each draining before the next is asked,
/// then lets them all exit. A second Ctrl-C kills what is left at once.
fn stop(sup: &mut Supervisor) -> Result<()> {
    sup.abort_swaps();
    for w in &mut sup.workers {
        w.settle();
    }
    for i in 0..sup.workers.len() {
        if !sup.workers[i].alive() {
            continue;
        }
        if sup.workers[i].state < WorkerState::Running {
            // Still coming back from a restart: there is nothing to drain,
            // and ending it is part of the stop, not a failure.
            if let Some(status) = sup.workers[i].kill() {
                sup.handle_exit(i, status, WorkerState::Stopped);
            }
            continue;
        }
        sup.workers[i].send(&Command::Stop)?;
        let wake = sup.wait_until(Some(Instant::now() + STOP_DEADLINE), |s| {
            let w = &s.workers[i];
            !w.alive() || w.state >= WorkerState::Stopped
        })?;
        match wake {
            Wake::Done => {}
            Wake::Deadline => sup.kill(i, "stop"),
            Wake::Interrupted => return kill_all(sup),
        }
    }
    sup.send_all(&Command::Exit)?;
    match sup.wait_until(Some(Instant::now() + STOP_DEADLINE), |s| {
        s.workers.iter().all(|w| !w.alive())
    })? {
        Wake::Done => Ok(()),
        Wake::Deadline | Wake::Interrupted => kill_all(sup),
    }
}

fn kill_all(sup: &mut Supervisor) -> Result<()> {
    for i in 0..sup.workers.len() {
        sup.kill(i, "exit");
    }
    Ok(())
}
