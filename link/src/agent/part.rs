//! One part of a run on this host, from its start to its stop: the part
//! file in the agent's directory, the nested `plexus run`, the bridges,
//! what is forwarded to the coordinator, and the watch on the coordinator's
//! liveliness. Stopping takes them down in the reverse order, so the
//! bridges leave the runtime's shared memory before the run removes it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use ipc_schemas::link::{host_key, Part, LOCAL_HOST};
use zenoh::pubsub::Subscriber;
use zenoh::sample::SampleKind;
use zenoh::{Session, Wait};

use super::forward::{self, Forwarding, Watched};
use super::nested::{NestedRun, Plexus};
use super::work::Work;
use crate::bridge::{BridgeSet, Plan};
use crate::clock::Clocks;

/// How long a part's workers may take to start (provisioning included).
pub const START_TIMEOUT: Duration = Duration::from_secs(110);
const PART_PREFIX: &str = ".plexus-part-";

/// What every part of this agent shares.
pub struct Agent<'a> {
    pub session: &'a Session,
    pub plexus: &'a Plexus,
    pub name: &'a str,
    pub work: &'a Sender<Work>,
}

pub struct RunningPart {
    /// The coordinator's runtime id.
    pub runtime: String,
    nested_runtime: String,
    file: PathBuf,
    summary: zenoh::pubsub::Publisher<'static>,
    // Dropped in this order: forwarding, bridges, the watch, the run.
    forwarding: Option<Forwarding>,
    bridges: Option<Arc<BridgeSet>>,
    _watch: Option<Subscriber<()>>,
    nested: Option<NestedRun>,
}

/// The file a part of run `runtime` is written to.
pub fn part_file(dir: &Path, runtime: &str, host: &str) -> PathBuf {
    dir.join(format!("{PART_PREFIX}{runtime}-{host}.yaml"))
}

/// Removes part files a killed agent left in `dir`.
pub fn remove_stale_parts(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(PART_PREFIX) && name.ends_with(".yaml") {
            tracing::info!("removing stale part file {name}");
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Checks the part as `plexus validate` would run it here.
pub fn check(agent: &Agent, part: &Part) -> Result<(), String> {
    refuse_foreign(agent, part)?;
    let file = write_part(agent.plexus.dir(), part)?;
    let checked = agent.plexus.validate(&file);
    let _ = std::fs::remove_file(&file);
    checked
}

fn refuse_foreign(agent: &Agent, part: &Part) -> Result<(), String> {
    match part.host == agent.name {
        true => ipc_schemas::names::validate_id(&part.runtime).map_err(|e| e.to_string()),
        false => Err(format!(
            "this agent is `{}`, not `{}`: start it with --name {}",
            agent.name, part.host, part.host
        )),
    }
}

fn write_part(dir: &Path, part: &Part) -> Result<PathBuf, String> {
    let file = part_file(dir, &part.runtime, &part.host);
    std::fs::write(&file, &part.pipeline_yaml)
        .map_err(|e| format!("writing {}: {e}", file.display()))?;
    Ok(file)
}

impl RunningPart {
    /// Starts the part; returns once its workers run, or the sentence
    /// saying why they do not.
    pub fn start(agent: &Agent, part: &Part) -> Result<Self, String> {
        refuse_foreign(agent, part)?;
        let nested_runtime = new_runtime_id()?;
        let summary = forward::publisher(agent.session, &part.runtime, &part.host, "summary")?;
        let log = forward::publisher(agent.session, &part.runtime, &part.host, "log")?;
        let mut running = Self {
            runtime: part.runtime.clone(),
            nested_runtime: nested_runtime.clone(),
            file: write_part(agent.plexus.dir(), part)?,
            summary,
            forwarding: None,
            bridges: None,
            _watch: None,
            nested: None,
        };
        let sink = Box::new(move |worker: &str, line: &str| {
            forward::publish(&log, &serde_json::json!({ "worker": worker, "line": line }));
        });
        running.nested = Some(
            agent
                .plexus
                .run(&running.file, &nested_runtime, part.frames, sink)
                .map_err(|e| e.to_string())?,
        );
        running.wait_for_workers(agent.plexus)?;
        let bridges = BridgeSet::start(
            agent.session,
            Plan {
                link_runtime: &part.runtime,
                bus_runtime: &nested_runtime,
                this_host: &part.host,
                bridges: &part.bridges,
                settings: &part.link,
                clocks: Clocks::new(part.clock_offsets_ns.clone()),
            },
        )
        .map_err(|e| format!("starting the link's bridges: {e}"))?;
        let bridges = Arc::new(bridges);
        running.bridges = Some(bridges.clone());
        running._watch = Some(watch_coordinator(agent, &part.runtime)?);
        running.forwarding = Some(Forwarding::start(Watched {
            session: agent.session,
            plexus: agent.plexus.clone(),
            runtime: &part.runtime,
            host: &part.host,
            nested_runtime: &nested_runtime,
            bridges,
        })?);
        tracing::info!(
            "running part of run {} as runtime {nested_runtime}",
            part.runtime
        );
        Ok(running)
    }

    fn wait_for_workers(&mut self, plexus: &Plexus) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let nested = self.nested.as_mut().ok_or("the run is gone")?;
            if nested.has_exited() {
                std::thread::sleep(Duration::from_millis(100));
                return Err(nested
                    .last_sentence()
                    .unwrap_or_else(|| "its `plexus run` ended before its workers ran".into()));
            }
            if let Some(status) = plexus.status(&self.nested_runtime) {
                if !status.workers.is_empty() && status.workers.iter().all(|w| w.state == "running")
                {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "its workers did not all run within {} s",
                    START_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn restart_worker(&self, plexus: &Plexus, worker: &str) -> Result<(), String> {
        plexus.restart(worker, &self.nested_runtime)
    }

    /// True once the nested run ended by itself.
    pub fn has_ended(&mut self) -> bool {
        self.nested.as_mut().is_none_or(NestedRun::has_exited)
    }

    /// Stops the part and publishes the nested run's summary.
    pub fn stop(mut self) {
        let summary = self.halt();
        let summary = summary.unwrap_or_else(|| serde_json::json!({}));
        forward::publish(&self.summary, &summary);
        tracing::info!("stopped part of run {}", self.runtime);
    }

    fn halt(&mut self) -> Option<serde_json::Value> {
        self.forwarding = None;
        self.bridges = None;
        self._watch = None;
        let summary = self.nested.take().and_then(NestedRun::stop);
        let _ = std::fs::remove_file(&self.file);
        summary
    }
}

impl Drop for RunningPart {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Tells the working thread when the coordinator of `runtime` goes away,
/// or that it already went while the part was starting.
fn watch_coordinator(agent: &Agent, runtime: &str) -> Result<Subscriber<()>, String> {
    let key = host_key(runtime, LOCAL_HOST, "alive");
    let (work, gone) = (agent.work.clone(), runtime.to_string());
    let tell = move || {
        let runtime = gone.clone();
        let _ = work.try_send(Work::CoordinatorGone { runtime });
    };
    let on_delete = tell.clone();
    let watch = (agent.session.liveliness().declare_subscriber(&key))
        .callback(move |sample| {
            if sample.kind() == SampleKind::Delete {
                on_delete();
            }
        })
        .wait()
        .map_err(|e| format!("watching the coordinator: {e}"))?;
    let present = (agent.session.liveliness().get(&key))
        .timeout(Duration::from_secs(1))
        .wait()
        .map_err(|e| format!("looking for the coordinator: {e}"))?;
    if present.recv().is_err() {
        tell();
    }
    Ok(watch)
}

/// A fresh runtime id: 8 hex digits, as `plexus run` makes them.
fn new_runtime_id() -> Result<String, String> {
    let mut bytes = [0u8; 4];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(|e| format!("reading /dev/urandom: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
