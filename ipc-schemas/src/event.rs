//! Runtime events (docs/ARCHITECTURE.md §6): everything the supervisor observes, as
//! one enum, so that the log, the summary and watchers agree on what happened.

use serde::{Deserialize, Serialize};

use crate::LatencyUs;

/// One event with its place in the runtime's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeEvent {
    /// Increases by one per event within a runtime.
    pub seq: u64,
    /// Wall-clock time, ns since the Unix epoch.
    pub time_ns: u64,
    /// `CLOCK_MONOTONIC`, ns, comparable with frame capture stamps.
    pub mono_ns: u64,
    /// The host it happened on, in a pipeline across hosts (§16): `None`
    /// for the host running `plexus run`, whose supervisor published it.
    pub host: Option<String>,
    pub kind: EventKind,
}

/// How a worker process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "exit code {c}"),
            ExitStatus::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EventKind {
    RuntimeStarted {
        runtime: String,
        pipeline: String,
    },
    RuntimeStopping {
        reason: String,
    },
    RuntimeStopped {
        outcome: String,
    },
    WorkerSpawned {
        worker: String,
        pid: u32,
    },
    WorkerReady {
        worker: String,
    },
    WorkerExited {
        worker: String,
        exit: ExitStatus,
    },
    WorkerRestarting {
        worker: String,
        attempt: u32,
        delay_ms: u64,
    },
    WorkerRestarted {
        worker: String,
        generation: u32,
        pid: u32,
    },
    /// `plexus restart` asked: process `pid` is ended and the worker comes
    /// back at once. Not a crash: no `worker_exited`, no `worker_restarting`,
    /// and the restart budget is left untouched.
    RestartRequested {
        worker: String,
        pid: u32,
    },
    WorkerUnresponsive {
        worker: String,
        stage: String,
    },
    WorkerFailed {
        worker: String,
        reason: String,
    },
    ProcessorStarted {
        processor: String,
    },
    ProcessorStopped {
        processor: String,
    },
    ProcessorError {
        processor: String,
        message: String,
    },
    /// Its worker stopped driving it (`plexus pause`): a source produces
    /// nothing, a processor with inputs has what arrives dropped. Told
    /// again when a restarted worker brings it back paused.
    ProcessorPaused {
        processor: String,
    },
    /// Its worker drives it again (`plexus resume`).
    ProcessorResumed {
        processor: String,
    },
    /// One frame has kept the processor busy past its `frame_timeout_ms`:
    /// its worker is killed next, as stuck.
    SlowFrame {
        processor: String,
        elapsed_ms: u64,
        frame_timeout_ms: u64,
    },
    /// A manual processor has sent no frame for longer than its
    /// `frame_timeout_ms`: its worker is killed next, as stuck.
    SourceSilent {
        processor: String,
        elapsed_ms: u64,
        frame_timeout_ms: u64,
    },
    /// The worker feeding this input is gone; frames for it are dropped.
    InputClosed {
        processor: String,
        input: String,
    },
    /// The worker feeding this input is back.
    InputRecovered {
        processor: String,
        input: String,
    },
    /// A user changed config keys of the processor (`plexus set`), and
    /// they are in effect: taken in place by its `on_config` hook, or by
    /// restarting its worker with the new config.
    ConfigChanged {
        processor: String,
        /// The keys changed and their new values, as a JSON object's text.
        changes: String,
        applied: ConfigApplied,
    },
    /// A live swap of the worker hosting `processor` began (`plexus
    /// upgrade`, `apply`, `run --watch`): its successor is being started
    /// while it still serves.
    UpgradeStarted {
        processor: String,
        worker: String,
        /// What the successor runs: the package and version, or `reload`.
        to: String,
    },
    /// The successor serves: `from_seq` is the sequence number of the
    /// first frame it handled (or, for a source, sent); every frame before
    /// it was the predecessor's. `elapsed_ms` counts from the request.
    UpgradeCompleted {
        processor: String,
        worker: String,
        from_seq: u64,
        elapsed_ms: u64,
    },
    /// The swap did not happen, for `reason`; the predecessor serves on.
    UpgradeFailed {
        processor: String,
        worker: String,
        reason: String,
    },
    /// `plexus apply` changed the running graph; `diff` is the JSON text of
    /// what it added, removed and changed.
    GraphChanged {
        diff: String,
    },
    /// A processor tried something outside its permissions (§15).
    /// `permission` and `action` are the words of [`crate::Denied`] and
    /// [`crate::ViolationAction`]; `message` is the sentence.
    SandboxViolation {
        processor: String,
        permission: String,
        target: String,
        action: String,
        message: String,
    },
    /// The coordinator reached host `host`'s agent, which took the run's
    /// token (§16). `clock_offset_us` is the host's monotonic clock minus
    /// the coordinator's, measured over `rtt_us`.
    HostConnected {
        host: String,
        endpoint: String,
        clock_offset_us: i64,
        rtt_us: u64,
    },
    /// Host `host` is out of reach: its agent or the link went away. Its
    /// processors' frames stop arriving here; ours go on.
    HostLost {
        host: String,
        reason: String,
    },
    /// Host `host`'s agent is back and runs its part again.
    HostRecovered {
        host: String,
        outage_ms: u64,
    },
    /// A bridged port lost more frames, or took longer, than the run's
    /// `link:` thresholds over the last second.
    LinkDegraded {
        processor: String,
        port: String,
        from_host: String,
        to_host: String,
        dropped_percent: f64,
        latency_p99_us: u64,
    },
    /// Periodic counters of one processor's ports.
    ProcessorStats {
        processor: String,
        ports: Vec<PortRate>,
        errors: u64,
        /// Capture-to-input latency since the worker started.
        latency_us: Option<LatencyUs>,
    },
}

/// How a [`EventKind::ConfigChanged`] took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigApplied {
    /// The processor's `on_config` hook took the change between two frames.
    InPlace,
    /// The processor has no hook: its worker was restarted with the new config.
    Restart,
}

/// One port in a [`EventKind::ProcessorStats`] event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortRate {
    pub port: String,
    /// `in` or `out`.
    pub direction: String,
    /// Since the worker's current process started.
    pub frames: u64,
    /// Over the last stats interval.
    pub fps: f64,
    /// Inputs: sequence numbers never seen, since the worker started.
    pub gaps: u64,
}

impl EventKind {
    /// The snake_case name scripts see in `events --json`.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::RuntimeStarted { .. } => "runtime_started",
            EventKind::RuntimeStopping { .. } => "runtime_stopping",
            EventKind::RuntimeStopped { .. } => "runtime_stopped",
            EventKind::WorkerSpawned { .. } => "worker_spawned",
            EventKind::WorkerReady { .. } => "worker_ready",
            EventKind::WorkerExited { .. } => "worker_exited",
            EventKind::WorkerRestarting { .. } => "worker_restarting",
            EventKind::WorkerRestarted { .. } => "worker_restarted",
            EventKind::RestartRequested { .. } => "restart_requested",
            EventKind::WorkerUnresponsive { .. } => "worker_unresponsive",
            EventKind::WorkerFailed { .. } => "worker_failed",
            EventKind::ProcessorStarted { .. } => "processor_started",
            EventKind::ProcessorStopped { .. } => "processor_stopped",
            EventKind::ProcessorError { .. } => "processor_error",
            EventKind::ProcessorPaused { .. } => "processor_paused",
            EventKind::ProcessorResumed { .. } => "processor_resumed",
            EventKind::SlowFrame { .. } => "slow_frame",
            EventKind::SourceSilent { .. } => "source_silent",
            EventKind::InputClosed { .. } => "input_closed",
            EventKind::InputRecovered { .. } => "input_recovered",
            EventKind::ProcessorStats { .. } => "processor_stats",
            EventKind::ConfigChanged { .. } => "config_changed",
            EventKind::UpgradeStarted { .. } => "upgrade_started",
            EventKind::UpgradeCompleted { .. } => "upgrade_completed",
            EventKind::UpgradeFailed { .. } => "upgrade_failed",
            EventKind::GraphChanged { .. } => "graph_changed",
            EventKind::SandboxViolation { .. } => "sandbox_violation",
            EventKind::HostConnected { .. } => "host_connected",
            EventKind::HostLost { .. } => "host_lost",
            EventKind::HostRecovered { .. } => "host_recovered",
            EventKind::LinkDegraded { .. } => "link_degraded",
        }
    }
}

/// `input `in`: 1247 frames, 48.0 fps, 12 gaps`.
impl std::fmt::Display for PortRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let direction = match self.direction.as_str() {
            "in" => "input",
            _ => "output",
        };
        write!(
            f,
            "{direction} `{}`: {} frames, {:.1} fps",
            self.port, self.frames, self.fps
        )?;
        match self.gaps {
            0 => Ok(()),
            gaps => write!(f, ", {gaps} gaps"),
        }
    }
}

impl RuntimeEvent {
    /// `{"seq", "time_ns", "mono_ns", "kind", …the event's own fields}`:
    /// the object `events --json` prints and the run journal keeps.
    pub fn to_json(&self) -> serde_json::Value {
        let mut object = serde_json::Map::new();
        object.insert("seq".into(), self.seq.into());
        object.insert("time_ns".into(), self.time_ns.into());
        object.insert("mono_ns".into(), self.mono_ns.into());
        object.insert("kind".into(), self.kind.name().into());
        object.insert("host".into(), self.host.clone().into());
        if let Ok(serde_json::Value::Object(outer)) = serde_json::to_value(&self.kind) {
            for (_, inner) in outer {
                if let serde_json::Value::Object(fields) = inner {
                    object.extend(fields);
                }
            }
        }
        serde_json::Value::Object(object)
    }

    /// The event [`RuntimeEvent::to_json`] made this object from; `None`
    /// for an object it could not have made.
    pub fn from_json(value: &serde_json::Value) -> Option<Self> {
        let object = value.as_object()?;
        let kind = object.get("kind")?.as_str()?;
        let variant: String = kind
            .split('_')
            .map(|word| {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect();
        let fields: serde_json::Map<String, serde_json::Value> = object
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "seq" | "time_ns" | "mono_ns" | "kind"))
            .filter(|(k, _)| k.as_str() != "host" || kind.starts_with("host_"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let kind: EventKind =
            serde_json::from_value(serde_json::json!({ variant: fields })).ok()?;
        Some(RuntimeEvent {
            seq: object.get("seq")?.as_u64()?,
            time_ns: object.get("time_ns")?.as_u64()?,
            mono_ns: object.get("mono_ns")?.as_u64()?,
            host: object
                .get("host")
                .and_then(|h| h.as_str())
                .map(str::to_string),
            kind,
        })
    }
}

/// One human line per event, as the log and `plexus events` print it.
impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = match self {
            EventKind::RuntimeStarted { runtime, pipeline } => {
                format!("runtime {runtime} started: {pipeline}")
            }
            EventKind::RuntimeStopping { reason } => format!("runtime stopping: {reason}"),
            EventKind::RuntimeStopped { outcome } => format!("runtime stopped: {outcome}"),
            EventKind::WorkerSpawned { worker, pid } => {
                format!("worker {worker} spawned (pid {pid})")
            }
            EventKind::WorkerReady { worker } => format!("worker {worker} ready"),
            EventKind::WorkerExited { worker, exit } => {
                format!("worker {worker} exited ({exit})")
            }
            EventKind::WorkerUnresponsive { worker, stage } => {
                format!("worker {worker} missed its {stage} deadline")
            }
            EventKind::WorkerFailed { worker, reason } => {
                format!("worker {worker} failed: {reason}")
            }
            EventKind::ProcessorStarted { processor } => format!("processor {processor} started"),
            EventKind::ProcessorStopped { processor } => format!("processor {processor} stopped"),
            EventKind::ProcessorPaused { processor } => format!("processor {processor} paused"),
            EventKind::ProcessorResumed { processor } => format!("processor {processor} resumed"),
            EventKind::WorkerRestarting {
                worker,
                attempt,
                delay_ms,
            } => {
                format!("worker {worker} restarting (attempt {attempt}, in {delay_ms} ms)")
            }
            EventKind::WorkerRestarted {
                worker,
                generation,
                pid,
            } => {
                format!("worker {worker} restarted (generation {generation}, pid {pid})")
            }
            EventKind::RestartRequested { worker, pid } => {
                format!(
                    "restart of worker {worker} requested (pid {pid}): not a crash, its restart budget is untouched"
                )
            }
            EventKind::SlowFrame {
                processor,
                elapsed_ms,
                frame_timeout_ms,
            } => format!(
                "processor {processor} has spent {elapsed_ms} ms on one frame, past its frame_timeout_ms of {frame_timeout_ms}"
            ),
            EventKind::SourceSilent {
                processor,
                elapsed_ms,
                frame_timeout_ms,
            } => format!(
                "processor {processor} has sent no frame for {elapsed_ms} ms, past its frame_timeout_ms of {frame_timeout_ms}"
            ),
            EventKind::InputClosed { processor, input } => {
                format!("input {processor}.{input} closed")
            }
            EventKind::InputRecovered { processor, input } => {
                format!("input {processor}.{input} recovered")
            }
            EventKind::ProcessorError { processor, message } => {
                format!("processor {processor} error: {message}")
            }
            EventKind::ConfigChanged {
                processor,
                changes,
                applied,
            } => match applied {
                ConfigApplied::InPlace => {
                    format!("processor {processor} took config {changes} in place")
                }
                ConfigApplied::Restart => format!(
                    "processor {processor} takes config {changes} with a restart of its worker"
                ),
            },
            EventKind::UpgradeStarted {
                processor,
                worker,
                to,
            } => format!("upgrading processor {processor} (worker {worker}) to {to}"),
            EventKind::UpgradeCompleted {
                processor,
                worker,
                from_seq,
                elapsed_ms,
            } => format!(
                "processor {processor} upgraded: worker {worker}'s successor serves from frame {from_seq} on ({elapsed_ms} ms)"
            ),
            EventKind::UpgradeFailed {
                processor,
                worker,
                reason,
            } => format!(
                "upgrade of processor {processor} failed: {reason}; worker {worker} serves on as it was"
            ),
            EventKind::GraphChanged { diff } => format!("the graph changed: {diff}"),
            EventKind::SandboxViolation { message, .. } => message.clone(),
            EventKind::HostConnected {
                host,
                endpoint,
                clock_offset_us,
                rtt_us,
            } => format!(
                "host {host} connected at {endpoint} (clock offset {clock_offset_us} µs, round trip {rtt_us} µs)"
            ),
            EventKind::HostLost { host, reason } => format!("host {host} lost: {reason}"),
            EventKind::HostRecovered { host, outage_ms } => {
                format!("host {host} recovered after {outage_ms} ms")
            }
            EventKind::LinkDegraded {
                processor,
                port,
                from_host,
                to_host,
                dropped_percent,
                latency_p99_us,
            } => format!(
                "link {processor}.{port} from {from_host} to {to_host} degraded: {dropped_percent:.1} % dropped, p99 {latency_p99_us} µs"
            ),
            EventKind::ProcessorStats {
                processor,
                ports,
                errors,
                latency_us,
            } => {
                let ports: Vec<String> = ports.iter().map(PortRate::to_string).collect();
                let mut line = format!("processor {processor}: {}", ports.join("; "));
                if *errors > 0 {
                    line += &format!("; {errors} errors");
                }
                if let Some(latency) = latency_us {
                    line += &format!("; latency p50 {} µs, p99 {} µs", latency.p50, latency.p99);
                }
                line
            }
        };
        f.write_str(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind) -> RuntimeEvent {
        RuntimeEvent {
            seq: 7,
            time_ns: 1,
            mono_ns: 2,
            host: None,
            kind,
        }
    }

    #[test]
    fn a_remote_event_keeps_its_host_and_a_host_event_its_own() {
        let mut exited = event(EventKind::WorkerExited {
            worker: "gray".into(),
            exit: ExitStatus::Code(1),
        });
        exited.host = Some("b".into());
        let json = exited.to_json();
        assert_eq!(json["host"], "b");
        assert_eq!(RuntimeEvent::from_json(&json), Some(exited));
        let mut lost = event(EventKind::HostLost {
            host: "b".into(),
            reason: "its agent went away".into(),
        });
        lost.host = Some("b".into());
        assert_eq!(RuntimeEvent::from_json(&lost.to_json()), Some(lost));
    }

    #[test]
    fn json_flattens_the_event_fields_next_to_its_kind_and_reads_back() {
        let exited = event(EventKind::WorkerExited {
            worker: "gray".into(),
            exit: ExitStatus::Signal(9),
        });
        let json = exited.to_json();
        assert_eq!(json["seq"], 7);
        assert_eq!(json["kind"], "worker_exited");
        assert_eq!(json["worker"], "gray");
        assert_eq!(json["exit"]["signal"], 9);
        assert_eq!(RuntimeEvent::from_json(&json), Some(exited));
        assert_eq!(exited_line(), "worker gray exited (signal 9)");
    }

    fn exited_line() -> String {
        EventKind::WorkerExited {
            worker: "gray".into(),
            exit: ExitStatus::Signal(9),
        }
        .to_string()
    }

    #[test]
    fn stats_read_as_sentences_and_read_back() {
        let stats = event(EventKind::ProcessorStats {
            processor: "sink".into(),
            ports: vec![PortRate {
                port: "in".into(),
                direction: "in".into(),
                frames: 1247,
                fps: 48.0,
                gaps: 12,
            }],
            errors: 0,
            latency_us: Some(LatencyUs { p50: 80, p99: 310 }),
        });
        assert_eq!(
            stats.kind.to_string(),
            "processor sink: input `in`: 1247 frames, 48.0 fps, 12 gaps; latency p50 80 µs, p99 310 µs"
        );
        let json = stats.to_json();
        assert_eq!(json["latency_us"]["p99"], 310);
        assert_eq!(RuntimeEvent::from_json(&json), Some(stats));
    }

    #[test]
    fn an_object_no_event_makes_is_refused() {
        let odd =
            serde_json::json!({"seq": 1, "time_ns": 1, "mono_ns": 1, "kind": "no_such_event"});
        assert_eq!(RuntimeEvent::from_json(&odd), None);
        assert_eq!(RuntimeEvent::from_json(&serde_json::json!([1])), None);
    }
}
