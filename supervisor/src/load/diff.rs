//! What `plexus apply` changes (docs/ARCHITECTURE.md §14): the difference
//! between the running plan and a new one, processor by processor and
//! worker by worker, and the changes a running runtime cannot take, each
//! refused in one sentence before anything starts.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::load::plan::{Plan, PlannedProcessor};

/// What the new plan adds, removes and changes. Serialized, it is the
/// `diff` of the `graph_changed` event.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct PlanDiff {
    pub processors_added: Vec<String>,
    pub processors_removed: Vec<String>,
    pub processors_changed: Vec<Changed>,
    pub connections_added: Vec<String>,
    pub connections_removed: Vec<String>,
    #[serde(skip)]
    pub workers: WorkerChanges,
}

/// One processor both plans have, and what differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changed {
    pub processor: String,
    /// Among `type`, `code` (another package version or file), `config`,
    /// `inputs`, `mode` and `sync`.
    pub what: Vec<&'static str>,
}

/// What happens to each worker.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WorkerChanges {
    /// Started, in the new plan's order.
    pub added: Vec<String>,
    /// Swapped for a successor with the new processors (§14).
    pub swapped: Vec<String>,
    /// Stopped and gone.
    pub removed: Vec<String>,
}

impl PlanDiff {
    pub fn is_empty(&self) -> bool {
        self.processors_added.is_empty()
            && self.processors_removed.is_empty()
            && self.processors_changed.is_empty()
            && self.connections_added.is_empty()
            && self.connections_removed.is_empty()
    }

    /// The plan as `apply` prints it, one line per change.
    pub fn lines(&self, new: &Plan) -> Vec<String> {
        let type_of = |id: &str| {
            new.processors
                .iter()
                .find(|p| p.spec.id == id)
                .map_or(String::new(), |p| format!(" ({})", p.spec.type_name))
        };
        let mut lines = Vec::new();
        lines.extend(
            self.processors_added
                .iter()
                .map(|p| format!("+ processor {p}{}", type_of(p))),
        );
        lines.extend(
            self.processors_removed
                .iter()
                .map(|p| format!("- processor {p}")),
        );
        lines.extend(
            self.processors_changed
                .iter()
                .map(|c| format!("~ processor {}: {}", c.processor, c.what.join(", "))),
        );
        lines.extend(
            self.connections_added
                .iter()
                .map(|c| format!("+ connection {c}")),
        );
        lines.extend(
            self.connections_removed
                .iter()
                .map(|c| format!("- connection {c}")),
        );
        let w = &self.workers;
        for (verb, workers) in [
            ("start", &w.added),
            ("swap", &w.swapped),
            ("stop", &w.removed),
        ] {
            if !workers.is_empty() {
                lines.push(format!("{verb} worker {}", workers.join(", ")));
            }
        }
        lines
    }
}

/// Compares the running plan `old` with `new`, and sizes `new`'s ports that
/// run already as they were made (a service keeps the size its creator
/// gave it). The error is the one sentence saying what a running runtime
/// cannot take.
pub fn diff(old: &Plan, new: &mut Plan) -> Result<PlanDiff, String> {
    if old.record.as_ref().map(|r| &r.args) != new.record.as_ref().map(|r| &r.args) {
        return Err(
            "`record:` differs from the running pipeline's; a running recorder cannot change: stop the run and start the new file".into(),
        );
    }
    let old_by_id: BTreeMap<&str, &PlannedProcessor> = old
        .processors
        .iter()
        .map(|p| (p.spec.id.as_str(), p))
        .collect();
    let new_by_id: BTreeMap<&str, &PlannedProcessor> = new
        .processors
        .iter()
        .map(|p| (p.spec.id.as_str(), p))
        .collect();
    let mut diff = PlanDiff::default();
    for (id, p) in &new_by_id {
        match old_by_id.get(id) {
            None => diff.processors_added.push(id.to_string()),
            Some(before) => {
                if before.worker != p.worker {
                    return Err(format!(
                        "processor `{id}` would move from worker `{}` to worker `{}`; a running processor keeps its worker",
                        before.worker, p.worker
                    ));
                }
                let ports = |p: &PlannedProcessor| (p.spec.inputs.len(), p.spec.outputs.len());
                if ports(before) != ports(p) {
                    let (i, o) = ports(p);
                    return Err(format!(
                        "processor `{id}` would have {i} inputs and {o} outputs instead of {} and {}; its counters are laid out for the running ones (give the new processor another id)",
                        before.spec.inputs.len(),
                        before.spec.outputs.len()
                    ));
                }
                let what = changes(before, p);
                if !what.is_empty() {
                    diff.processors_changed.push(Changed {
                        processor: id.to_string(),
                        what,
                    });
                }
            }
        }
    }
    diff.processors_removed = old_by_id
        .keys()
        .filter(|id| !new_by_id.contains_key(*id))
        .map(|id| id.to_string())
        .collect();
    let (old_edges, new_edges) = (connections(old), connections(new));
    diff.connections_added = new_edges.difference(&old_edges).cloned().collect();
    diff.connections_removed = old_edges.difference(&new_edges).cloned().collect();
    diff.workers = workers(old, new, &diff)?;
    keep_port_sizes(old, new)?;
    Ok(diff)
}

/// What differs between two plannings of one processor.
fn changes(old: &PlannedProcessor, new: &PlannedProcessor) -> Vec<&'static str> {
    let (a, b) = (&old.spec, &new.spec);
    let wiring = |s: &ipc_schemas::ProcessorSpec| {
        s.inputs
            .iter()
            .map(|i| {
                (
                    i.port.clone(),
                    i.from_processor.clone(),
                    i.from_port.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    [
        ("type", a.type_name != b.type_name),
        ("code", a.entry != b.entry || old.package != new.package),
        ("config", a.config_json != b.config_json),
        ("inputs", wiring(a) != wiring(b)),
        ("mode", a.mode != b.mode),
        ("sync", a.sync != b.sync),
        ("permissions", old.sandbox != new.sandbox),
    ]
    .into_iter()
    .filter_map(|(what, differs)| differs.then_some(what))
    .collect()
}

/// Every connection of a plan, as `a.out -> b.in`.
fn connections(plan: &Plan) -> BTreeSet<String> {
    plan.processors
        .iter()
        .flat_map(|p| {
            p.spec.inputs.iter().map(|i| {
                format!(
                    "{}.{} -> {}.{}",
                    i.from_processor, i.from_port, p.spec.id, i.port
                )
            })
        })
        .collect()
}

/// Which workers start, are swapped and stop. A worker keeps its
/// processors: one that would host others is refused.
fn workers(old: &Plan, new: &Plan, diff: &PlanDiff) -> Result<WorkerChanges, String> {
    let changed: BTreeSet<&str> = diff
        .processors_changed
        .iter()
        .map(|c| c.processor.as_str())
        .collect();
    let mut changes = WorkerChanges::default();
    for worker in &new.workers {
        match old.workers.iter().find(|w| w.name == worker.name) {
            None => changes.added.push(worker.name.clone()),
            Some(before) if before.processors != worker.processors => {
                return Err(format!(
                    "worker `{}` would host {} instead of {}; a running worker keeps its processors (give the new ones a worker of their own)",
                    worker.name,
                    worker.processors.join(", "),
                    before.processors.join(", ")
                ))
            }
            Some(_) if worker.processors.iter().any(|p| changed.contains(p.as_str())) => {
                changes.swapped.push(worker.name.clone())
            }
            Some(_) => {}
        }
    }
    changes.removed = old
        .workers
        .iter()
        .filter(|w| !new.workers.iter().any(|n| n.name == w.name))
        .map(|w| w.name.clone())
        .collect();
    Ok(changes)
}

/// Gives every port of `new` that runs already the size it was made with,
/// refusing one whose new consumers it has no room for. A new consumer
/// may take an observer slot; the live swap's slot stays free.
fn keep_port_sizes(old: &Plan, new: &mut Plan) -> Result<(), String> {
    let running: BTreeMap<(String, String), u32> = old
        .processors
        .iter()
        .flat_map(|p| {
            p.spec
                .outputs
                .iter()
                .map(|o| ((p.spec.id.clone(), o.port.clone()), o.subscribers))
        })
        .collect();
    let mut consumers: BTreeMap<(String, String), usize> = BTreeMap::new();
    for input in new.processors.iter().flat_map(|p| &p.spec.inputs) {
        *consumers
            .entry((input.from_processor.clone(), input.from_port.clone()))
            .or_default() += 1;
    }
    for ((processor, port), size) in &running {
        let wanted = consumers
            .get(&(processor.clone(), port.clone()))
            .copied()
            .unwrap_or(0);
        if wanted + bus::settings::SWAP_SUBSCRIBERS > *size as usize {
            return Err(format!(
                "output `{processor}.{port}` was made with room for {size} subscribers, fewer than its {wanted} consumers and a live swap's slot need; stop the run and start the new file (with more `observers:` to leave room for later applies)"
            ));
        }
    }
    for p in &mut new.processors {
        for output in &mut p.spec.outputs {
            if let Some(size) = running.get(&(p.spec.id.clone(), output.port.clone())) {
                output.subscribers = *size;
            }
        }
        for input in &mut p.spec.inputs {
            if let Some(size) =
                running.get(&(input.from_processor.clone(), input.from_port.clone()))
            {
                input.subscribers = *size;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::load::pipeline::Pipeline;
    use crate::load::plan_pipeline;

    /// A plan of builtins from the lines under `processors:` and the
    /// connections, with `observers`.
    fn plan(processors: &str, connections: &str, observers: usize) -> Plan {
        let text = format!(
            "name: diff\nobservers: {observers}\nprocessors:\n{processors}connections: [{connections}]\n"
        );
        plan_pipeline(&Pipeline::parse(Path::new("/tmp/diff.yaml"), &text).unwrap()).unwrap()
    }

    const CAPTURE: &str =
        "  cam: { type: builtin.test_pattern }\n  sink: { type: builtin.stats_sink }\n";

    #[test]
    fn a_branch_added_and_a_config_changed_are_told_worker_by_worker() {
        let old = plan(CAPTURE, "cam.out -> sink.in", 2);
        let mut new = plan(
            &format!("{CAPTURE}  more: {{ type: builtin.stats_sink }}\n").replace(
                "builtin.test_pattern }",
                "builtin.test_pattern, config: { fps: 10 } }",
            ),
            "cam.out -> sink.in, cam.out -> more.in",
            2,
        );
        let diff = diff(&old, &mut new).unwrap();
        assert_eq!(diff.processors_added, ["more"]);
        assert_eq!(diff.connections_added, ["cam.out -> more.in"]);
        assert_eq!(
            diff.processors_changed,
            [Changed {
                processor: "cam".into(),
                what: vec!["config"]
            }]
        );
        assert_eq!(diff.workers.added, ["more"]);
        assert_eq!(diff.workers.swapped, ["cam"]);
        assert!(diff.workers.removed.is_empty());
        // The running port keeps its size: one consumer, two observers and
        // the swap's slot, now with two consumers among them.
        let size = |p: &Plan| p.processors[0].spec.outputs[0].subscribers;
        assert_eq!((size(&old), size(&new)), (4, 4));
        assert!(new
            .processors
            .iter()
            .flat_map(|p| &p.spec.inputs)
            .all(|i| i.subscribers == 4));
    }

    #[test]
    fn what_a_running_runtime_cannot_take_is_refused() {
        let old = plan(CAPTURE, "cam.out -> sink.in", 0);
        let mut full = plan(
            &format!("{CAPTURE}  more: {{ type: builtin.stats_sink }}\n"),
            "cam.out -> sink.in, cam.out -> more.in",
            0,
        );
        let refused = diff(&old, &mut full).unwrap_err();
        assert!(
            refused.contains("output `cam.out` was made with room for 2 subscribers"),
            "{refused}"
        );
        let mut moved = plan(
            &CAPTURE.replace("builtin.stats_sink }", "builtin.stats_sink, worker: w }"),
            "cam.out -> sink.in",
            0,
        );
        let refused = diff(&old, &mut moved).unwrap_err();
        assert!(
            refused.contains("processor `sink` would move from worker `sink` to worker `w`"),
            "{refused}"
        );
        let mut same = plan(CAPTURE, "cam.out -> sink.in", 0);
        assert!(diff(&old, &mut same).unwrap().is_empty());
    }
}
