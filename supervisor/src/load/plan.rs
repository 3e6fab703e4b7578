//! Turns a loaded pipeline into a plan: every processor resolved to a type,
//! every connection checked, processors grouped into workers, and the order
//! in which workers start draining. Everything `validate` reports is found
//! here, before any process exists.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use ipc_schemas::names::{validate_id, NameError};
use ipc_schemas::{Entry, InputSpec, LatencyMode, OutputSpec, ProcessorSpec, WorkerSandbox};

use crate::error::{excerpt, is_hidden, UserError};
use crate::language::{Declared, Lang};
use crate::load::catalog::{Catalog, Origin, TypeInfo};
use crate::load::deadlines::Deadlines;
use crate::load::hosts::{self, HostsPlan};
use crate::load::live_config::ConfigSchema;
use crate::load::permissions::granted::{Granted, SandboxUnavailable};
use crate::load::permissions::{self};
use crate::load::pipeline::{Pipeline, PipelineFile, ProcessorEntry};
use crate::load::port_schemas::{self, End};
use crate::load::record::{plan_record, RecordPlan};
use crate::load::restart::RestartSpec;
use crate::lockfile::Lockfile;
use crate::package::manifest::sync;
use crate::package::manifest::{config as config_schema, Mode, PortDecl};

#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub path: PathBuf,
    /// This host's, in pipeline order.
    pub processors: Vec<PlannedProcessor>,
    /// Those other hosts run (§16), in pipeline order: a part's `remote:`
    /// processors, or the coordinator's processors with a `host:`.
    pub remote: Vec<PlannedProcessor>,
    /// What each other host runs and which ports cross, when any does.
    pub hosts: Option<HostsPlan>,
    /// Upstream before downstream: the order in which workers are stopped so
    /// that every worker drains what its upstream sent before it goes.
    pub workers: Vec<PlannedWorker>,
    /// The run's own recorder (`record:`).
    pub record: Option<RecordPlan>,
    /// The lockfile a `--locked` run was checked against, which its Python
    /// environments are built from.
    pub lock: Option<Lockfile>,
    /// What a run does when the kernel cannot enforce part of a sandbox.
    pub sandbox_unavailable: SandboxUnavailable,
}

#[derive(Debug, Clone)]
pub struct PlannedProcessor {
    pub spec: ProcessorSpec,
    pub worker: String,
    /// The package that declares the processor's type.
    pub package: String,
    /// Where that package is, its version and its panels.
    pub origin: Origin,
    pub deadlines: Deadlines,
    /// Its type's config keys, which `plexus set` changes are checked against.
    pub config_schema: ConfigSchema,
    /// What it may do, and how strictly (`load::permissions`).
    pub sandbox: Granted,
    /// The host it runs on, `None` for this one.
    pub host: Option<String>,
    /// How each of its inputs waits for frames, in `spec.inputs` order.
    pub latency: Vec<LatencyMode>,
}

impl Plan {
    /// The pipeline's directory, absolute, where workers run.
    pub fn dir(&self) -> PathBuf {
        crate::load::pipeline::absolute_dir(&self.path)
    }

    /// How the inputs of `worker`'s processors wait for frames, for its
    /// `WorkerConfig`: only processors with a `low` input are listed.
    pub fn latency_of(&self, worker: &str) -> BTreeMap<String, Vec<LatencyMode>> {
        self.processors
            .iter()
            .filter(|p| p.worker == worker && p.latency.contains(&LatencyMode::Low))
            .map(|p| (p.spec.id.clone(), p.latency.clone()))
            .collect()
    }
}

impl PlannedProcessor {
    pub fn is_source(&self) -> bool {
        self.spec.inputs.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct PlannedWorker {
    pub name: String,
    /// What its processors are written in: a worker hosts one language.
    pub language: Lang,
    pub processors: Vec<String>,
    pub restart: RestartSpec,
    /// The processor whose `restart:` block set `restart`, if any did.
    pub restart_from: Option<String>,
    /// Giving up on this worker stops the pipeline.
    pub critical: bool,
    /// What its processors may do, and how strictly (§15).
    pub sandbox: WorkerSandbox,
}

/// One parsed `a.out -> b.in` line, and how its input waits for frames.
struct Connection {
    from: (String, String),
    to: (String, String),
    latency: LatencyMode,
}

/// The processor types a pipeline's processors name, by processor id.
type Types<'a> = BTreeMap<&'a str, &'a TypeInfo>;

pub fn plan(pipeline: &Pipeline, catalog: &Catalog) -> Result<Plan, UserError> {
    let file = &pipeline.file;
    let err = |message: String| UserError::in_file(&pipeline.path, message);
    check_name(&file.name).map_err(err)?;
    if file.processors.is_empty() {
        return Err(err("the pipeline has no processors".into()));
    }
    check_worker_count(file).map_err(err)?;
    let types = resolve_types(file, catalog).map_err(err)?;
    let connections = file
        .connections
        .iter()
        .map(|c| {
            parse_connection(&c.line, c.latency.unwrap_or(file.latency)).ok_or_else(|| {
                err(format!(
                    "connection `{}` is not of the form `a.out -> b.in`",
                    excerpt(&c.line)
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let inputs = wire_inputs(&connections, &types).map_err(err)?;
    if let Some(cycle) = find_cycle(
        file.processors.iter().map(|(id, _)| id.as_str()),
        &connections,
    ) {
        return Err(err(format!(
            "the connections form a cycle through `{cycle}`"
        )));
    }
    let dir = crate::load::pipeline::absolute_dir(&pipeline.path);
    let mut processors = plan_processors(file, &types, inputs, catalog, &dir).map_err(err)?;
    size_ports(&mut processors, file.observers).map_err(err)?;
    let hosts = split_hosts(pipeline, &types, &processors, &connections, &dir).map_err(err)?;
    let (processors, remote): (Vec<_>, Vec<_>) =
        processors.into_iter().partition(|p| p.host.is_none());
    if let Some(r) = remote
        .iter()
        .find(|r| processors.iter().any(|l| l.worker == r.worker))
    {
        return Err(err(format!(
            "worker `{}` has processors on more than one host; a worker runs on one host",
            r.worker
        )));
    }
    let workers = plan_workers(&processors, &types, file).map_err(err)?;
    let record = file
        .record
        .as_ref()
        .map(|section| {
            plan_record(section, pipeline.dir(), |processor, port| {
                processors.iter().any(|p| {
                    p.spec.id == processor && p.spec.outputs.iter().any(|o| o.port == port)
                })
            })
        })
        .transpose()
        .map_err(err)?;
    Ok(Plan {
        name: file.name.clone(),
        path: pipeline.path.clone(),
        processors,
        remote,
        hosts,
        workers,
        record,
        lock: None,
        sandbox_unavailable: file.sandbox_unavailable,
    })
}

/// What each other host runs, from the planned processors and connections.
fn split_hosts(
    pipeline: &Pipeline,
    types: &Types,
    processors: &[PlannedProcessor],
    connections: &[Connection],
    dir: &std::path::Path,
) -> Result<Option<HostsPlan>, String> {
    let placed: Vec<hosts::Placed> = processors
        .iter()
        .map(|p| hosts::Placed {
            id: &p.spec.id,
            host: p.host.as_deref(),
            info: types[p.spec.id.as_str()],
        })
        .collect();
    let edges: Vec<hosts::Edge> = connections
        .iter()
        .map(|c| hosts::Edge {
            from: (&c.from.0, &c.from.1),
            to: (&c.to.0, &c.to.1),
            latency: c.latency,
        })
        .collect();
    hosts::split(pipeline, dir, &placed, &edges)
}

/// The longest pipeline name, in characters.
const MAX_NAME_CHARS: usize = 128;

/// A pipeline's name is printed in summaries, events and `ps`: it must be
/// there, short, and read as it is stored.
fn check_name(name: &str) -> Result<(), String> {
    let length = name.chars().count();
    if length == 0 || length > MAX_NAME_CHARS || name.chars().any(is_hidden) || name.trim() != name
    {
        return Err(format!(
            "the pipeline name `{}` is not a valid name: use 1 to {MAX_NAME_CHARS} printable characters, with no control, bidi or invisible characters and no space at either end",
            excerpt(name)
        ));
    }
    Ok(())
}

/// The environment variable that lowers the number of workers a runtime
/// may start.
pub const MAX_WORKERS_VAR: &str = "PLEXUS_MAX_WORKERS";

/// The most workers a runtime may start: `$PLEXUS_MAX_WORKERS`, else the
/// bus's own ceiling (how many workers may wake the supervisor), which the
/// variable cannot raise.
pub fn max_workers() -> Result<usize, String> {
    let ceiling = bus::settings::MAX_WORKERS;
    let Some(value) = std::env::var_os(MAX_WORKERS_VAR) else {
        return Ok(ceiling);
    };
    value
        .to_str()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| (1..=ceiling).contains(n))
        .ok_or_else(|| {
            format!(
                "{MAX_WORKERS_VAR} is `{}`; set it to a number from 1 to {ceiling}",
                excerpt(&value.to_string_lossy())
            )
        })
}

/// Refuses a pipeline that would start more worker processes than a
/// runtime may, before anything costs in proportion to its size.
fn check_worker_count(file: &PipelineFile) -> Result<(), String> {
    let workers: HashSet<&str> = file
        .processors
        .iter()
        .map(|(id, entry)| entry.worker.as_deref().unwrap_or(id))
        .collect();
    let max = max_workers()?;
    if workers.len() > max {
        return Err(format!(
            "the pipeline would start {} workers, more than the {max} a runtime may ({MAX_WORKERS_VAR} lowers the limit; processors that share a `worker:` share a process)",
            workers.len()
        ));
    }
    Ok(())
}

/// Checks an id that becomes part of service names, quoting an excerpt of
/// it when it is refused.
fn check_id(id: &str) -> Result<(), NameError> {
    validate_id(id).map_err(|_| NameError::Invalid(excerpt(id)))
}

/// Finds each processor's type in the catalog.
fn resolve_types<'a>(file: &'a PipelineFile, catalog: &'a Catalog) -> Result<Types<'a>, String> {
    let mut types = Types::new();
    for (id, entry) in file.processors.iter() {
        check_id(id).map_err(|e| format!("processor id {e}"))?;
        let info = catalog.get(&entry.type_name).ok_or_else(|| {
            format!(
                "processor `{id}` has unknown type `{}`{}",
                excerpt(&entry.type_name),
                suggestion(catalog, &entry.type_name)
            )
        })?;
        types.insert(id, info);
    }
    Ok(types)
}

/// The inputs of one processor, each with how it waits for frames.
type Wired = Vec<(InputSpec, LatencyMode)>;

/// Checks every connection against the ports and schemas its ends declare,
/// and returns the inputs it makes, by processor.
fn wire_inputs<'a>(
    connections: &'a [Connection],
    types: &Types,
) -> Result<BTreeMap<&'a str, Wired>, String> {
    let mut inputs: BTreeMap<&str, Wired> = BTreeMap::new();
    let mut seen_inputs = BTreeSet::new();
    for c in connections {
        let (from_id, from_port) = (&c.from.0, &c.from.1);
        let (to_id, to_port) = (&c.to.0, &c.to.1);
        let named = format!(
            "connection `{}`",
            excerpt(&format!("{from_id}.{from_port} -> {to_id}.{to_port}"))
        );
        let from_type = types
            .get(from_id.as_str())
            .ok_or_else(|| format!("{named} names unknown processor `{}`", excerpt(from_id)))?;
        let to_type = types
            .get(to_id.as_str())
            .ok_or_else(|| format!("{named} names unknown processor `{}`", excerpt(to_id)))?;
        if from_id == to_id {
            return Err(format!("processor `{from_id}` is connected to itself"));
        }
        let out = find_port(&from_type.decl.outputs, from_port).ok_or_else(|| {
            format!(
                "processor `{from_id}` ({}) has no output `{}`{}",
                from_type.decl.name,
                excerpt(from_port),
                port_list(&from_type.decl.outputs)
            )
        })?;
        let input = find_port(&to_type.decl.inputs, to_port).ok_or_else(|| {
            format!(
                "processor `{to_id}` ({}) has no input `{}`{}",
                to_type.decl.name,
                excerpt(to_port),
                port_list(&to_type.decl.inputs)
            )
        })?;
        let accepts = port_schemas::connect(
            &named,
            &End {
                id: from_id,
                info: from_type,
                port: out,
            },
            &End {
                id: to_id,
                info: to_type,
                port: input,
            },
        )?;
        if !seen_inputs.insert((to_id.clone(), to_port.clone())) {
            return Err(format!(
                "input `{to_id}.{to_port}` is connected more than once"
            ));
        }
        let input = InputSpec {
            port: to_port.clone(),
            accepts,
            from_processor: from_id.clone(),
            from_port: from_port.clone(),
            // Known once every connection is wired: see `size_ports`.
            subscribers: 0,
        };
        inputs.entry(to_id).or_default().push((input, c.latency));
    }
    Ok(inputs)
}

fn find_port<'a>(ports: &'a [PortDecl], name: &str) -> Option<&'a PortDecl> {
    ports.iter().find(|p| p.name == name)
}

/// Each processor with its wired inputs, checked config and worker, in
/// pipeline order.
fn plan_processors(
    file: &PipelineFile,
    types: &Types,
    mut inputs: BTreeMap<&str, Wired>,
    catalog: &Catalog,
    dir: &std::path::Path,
) -> Result<Vec<PlannedProcessor>, String> {
    let mut processors = Vec::new();
    for (id, entry) in file.processors.iter() {
        let info = types[id.as_str()];
        let decl = &info.decl;
        let mut wired = inputs.remove(id.as_str()).unwrap_or_default();
        if let Some(missing) = decl
            .inputs
            .iter()
            .find(|p| !wired.iter().any(|(i, _)| i.port == p.name))
        {
            return Err(format!("input `{id}.{}` is not connected", missing.name));
        }
        for port in &decl.inputs {
            port_schemas::resolve(catalog, id, info, "input", port)?;
        }
        let outputs = decl
            .outputs
            .iter()
            .map(|p| {
                Ok(OutputSpec {
                    port: p.name.clone(),
                    schema: port_schemas::output(catalog, id, info, p)?,
                    subscribers: 0,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        // Keep the manifest's port order: processors address inputs by index.
        wired.sort_by_key(|(i, _)| decl.inputs.iter().position(|p| p.name == i.port));
        let (spec_inputs, latency): (Vec<_>, Vec<_>) = wired.into_iter().unzip();
        let config = config_schema::apply(&decl.config, &entry.config)
            .map_err(|m| format!("processor `{id}`: {m}"))?;
        let worker = entry.worker.clone().unwrap_or_else(|| id.clone());
        check_id(&worker).map_err(|e| format!("processor `{id}`: worker {e}"))?;
        let deadlines = Deadlines::from_fields(entry.setup_timeout_s, entry.frame_timeout_ms)
            .map_err(|m| format!("processor `{id}`: {m}"))?;
        let sync = sync::resolve(entry.sync.as_ref(), decl.sync.as_ref(), &decl.inputs)
            .map_err(|m| format!("processor `{id}`: {m}"))?;
        let sandbox = permissions::grant(&permissions::Request {
            id,
            info,
            entry,
            pipeline_mode: file.sandbox,
            config: &config,
            pipeline_dir: dir,
        })
        .map_err(|m| format!("processor `{id}`: {m}"))?;
        processors.push(PlannedProcessor {
            host: entry
                .host
                .clone()
                .filter(|h| h.as_str() != file.this_host()),
            latency,
            sandbox,
            package: info.package().to_string(),
            origin: info.origin.clone(),
            deadlines,
            config_schema: ConfigSchema::new(decl.config.clone()),
            spec: ProcessorSpec {
                id: id.clone(),
                type_name: decl.name.clone(),
                entry: entry_of(info).map_err(|m| format!("processor `{id}`: {m}"))?,
                config_json: serde_json::Value::Object(config).to_string(),
                inputs: spec_inputs,
                outputs,
                frame_limit: None,
                mode: match decl.mode {
                    Mode::Reactive => ipc_schemas::Mode::Reactive,
                    Mode::Continuous => ipc_schemas::Mode::Continuous {
                        interval_ms: decl.interval_ms,
                    },
                    Mode::Manual => ipc_schemas::Mode::Manual,
                },
                sync,
            },
            worker,
        });
    }
    Ok(processors)
}

/// Sizes every output port for its consumers plus `observers` slots, and
/// tells each consumer the same number (the first opener creates the port).
/// Refuses a port that would need more subscribers than a port may have,
/// before any process starts.
fn size_ports(processors: &mut [PlannedProcessor], observers: usize) -> Result<(), String> {
    let max = bus::settings::MAX_PORT_SUBSCRIBERS;
    if observers + bus::settings::SWAP_SUBSCRIBERS > max {
        return Err(format!(
            "`observers: {observers}` asks for more than the {max} subscribers a port may have"
        ));
    }
    // A port's service here is sized for the consumers on this host; a
    // port other hosts read has one more, the link process's (§16).
    let host_of: HashMap<&str, Option<&str>> = processors
        .iter()
        .map(|p| (p.spec.id.as_str(), p.host.as_deref()))
        .collect();
    let mut consumers: HashMap<(String, String), usize> = HashMap::new();
    let mut exported: HashSet<(String, String)> = HashSet::new();
    for p in processors.iter() {
        for input in &p.spec.inputs {
            let port = (input.from_processor.clone(), input.from_port.clone());
            match (
                p.host.is_none(),
                host_of[input.from_processor.as_str()].is_none(),
            ) {
                (true, _) => *consumers.entry(port).or_default() += 1,
                (false, true) => {
                    exported.insert(port);
                }
                (false, false) => {}
            }
        }
    }
    for port in exported {
        *consumers.entry(port).or_default() += 1;
    }
    let subscribers = |processor: &str, port: &str| -> Result<u32, String> {
        let n = consumers
            .get(&(processor.to_string(), port.to_string()))
            .copied()
            .unwrap_or(0);
        let beside = observers + bus::settings::SWAP_SUBSCRIBERS;
        if n + beside > max {
            return Err(format!(
                "output `{processor}.{port}` has {n} consumers, more than the {} a port may have beside `observers: {observers}` and a live swap's slot (a port takes at most {max} subscribers, consumers, observer slots and that one together)",
                max.saturating_sub(beside)
            ));
        }
        Ok((n + beside) as u32)
    };
    for p in processors.iter_mut() {
        for output in &mut p.spec.outputs {
            output.subscribers = subscribers(&p.spec.id, &output.port)?;
        }
        for input in &mut p.spec.inputs {
            input.subscribers = subscribers(&input.from_processor, &input.from_port)?;
        }
    }
    Ok(())
}

/// What the worker is told to load for a processor of type `info`.
fn entry_of(info: &TypeInfo) -> Result<Entry, String> {
    match &info.origin {
        // A remote processor is never given to a worker here.
        Origin::Builtin | Origin::Remote { .. } => Ok(Entry::Builtin),
        Origin::Package { dir, sealed, .. } => info.decl.language.resolve(&Declared {
            type_name: &info.decl.name,
            entry: &info.decl.entry,
            dir,
            sealed: *sealed,
        }),
    }
}

/// Groups processors into workers and orders the workers upstream first.
fn plan_workers(
    processors: &[PlannedProcessor],
    types: &Types,
    file: &PipelineFile,
) -> Result<Vec<PlannedWorker>, String> {
    let mut workers: Vec<PlannedWorker> = Vec::new();
    // Lookups by index, not searches: a pipeline may be large, and planning
    // must stay linear in its size.
    let mut index: HashMap<&str, usize> = HashMap::new();
    let entries: HashMap<&str, &ProcessorEntry> = file
        .processors
        .iter()
        .map(|(id, entry)| (id.as_str(), entry))
        .collect();
    for p in processors {
        let entry = entries[p.spec.id.as_str()];
        let language = types[p.spec.id.as_str()].decl.language;
        match index.get(p.worker.as_str()).map(|&i| &mut workers[i]) {
            Some(w) if w.language != language => {
                return Err(format!(
                    "worker `{}` mixes the {} and {} languages; a worker hosts one language",
                    w.name,
                    w.language.name(),
                    language.name()
                ))
            }
            Some(w) => {
                // Processors sharing a worker share its fate: their restart
                // settings must not contradict each other.
                if let Some(restart) = entry.restart {
                    if w.restart_from.is_some() && w.restart != restart {
                        return Err(format!(
                            "worker `{}`: processors `{}` and `{}` ask for different restart settings",
                            w.name,
                            w.restart_from.as_deref().unwrap_or_default(),
                            p.spec.id
                        ));
                    }
                    w.restart = restart;
                    w.restart_from = Some(p.spec.id.clone());
                }
                w.critical |= entry.critical;
                w.processors.push(p.spec.id.clone());
                // One process: the strictest of its processors' modes.
                w.sandbox.mode = w.sandbox.mode.min(p.sandbox.mode);
                w.sandbox
                    .processors
                    .insert(p.spec.id.clone(), p.sandbox.permissions.clone());
            }
            None => {
                index.insert(&p.worker, workers.len());
                workers.push(PlannedWorker {
                    name: p.worker.clone(),
                    language,
                    processors: vec![p.spec.id.clone()],
                    restart: entry.restart.unwrap_or(RestartSpec::NEVER),
                    restart_from: entry.restart.map(|_| p.spec.id.clone()),
                    critical: entry.critical,
                    sandbox: WorkerSandbox {
                        mode: p.sandbox.mode,
                        processors: [(p.spec.id.clone(), p.sandbox.permissions.clone())].into(),
                    },
                })
            }
        }
    }
    let worker_of: BTreeMap<&str, &str> = processors
        .iter()
        .map(|p| (p.spec.id.as_str(), p.worker.as_str()))
        .collect();
    let worker_of = &worker_of;
    // Frames from another host come through the link, not a worker here.
    let edges: Vec<(String, String)> = processors
        .iter()
        .flat_map(|p| {
            p.spec.inputs.iter().filter_map(move |i| {
                Some((
                    worker_of.get(i.from_processor.as_str())?.to_string(),
                    p.worker.clone(),
                ))
            })
        })
        .filter(|(a, b)| a != b)
        .collect();
    let order = topological(workers.iter().map(|w| w.name.as_str()), &edges).map_err(|w| {
        format!("worker `{w}` would be both upstream and downstream of another worker; regroup its processors")
    })?;
    let position: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, name)| (name.as_str(), i))
        .collect();
    workers.sort_by_key(|w| position[w.name.as_str()]);
    Ok(workers)
}

fn find_cycle<'a>(
    nodes: impl Iterator<Item = &'a str>,
    connections: &[Connection],
) -> Option<String> {
    let edges: Vec<(String, String)> = connections
        .iter()
        .map(|c| (c.from.0.clone(), c.to.0.clone()))
        .collect();
    topological(nodes, &edges).err()
}

/// Kahn's algorithm; on a cycle, returns a node on it.
fn topological<'a>(
    nodes: impl Iterator<Item = &'a str>,
    edges: &[(String, String)],
) -> Result<Vec<String>, String> {
    let nodes: Vec<String> = nodes.map(str::to_string).collect();
    let mut indegree: BTreeMap<&str, usize> = nodes.iter().map(|n| (n.as_str(), 0)).collect();
    let mut downstream: HashMap<&str, Vec<&str>> = HashMap::new();
    for (from, to) in edges {
        *indegree
            .get_mut(to.as_str())
            .expect("edges join known nodes") += 1;
        downstream.entry(from).or_default().push(to);
    }
    let mut ready: Vec<&str> = nodes
        .iter()
        .map(String::as_str)
        .filter(|n| indegree[n] == 0)
        .collect();
    let mut order = Vec::new();
    while let Some(n) = ready.pop() {
        order.push(n.to_string());
        for to in downstream.get(n).into_iter().flatten() {
            let d = indegree.get_mut(to).expect("known");
            *d -= 1;
            if *d == 0 {
                ready.push(to);
            }
        }
    }
    match nodes.iter().find(|n| indegree[n.as_str()] > 0) {
        Some(stuck) => Err(stuck.clone()),
        None => Ok(order),
    }
}

fn parse_connection(line: &str, latency: LatencyMode) -> Option<Connection> {
    let (from, to) = line.split_once("->")?;
    let endpoint = |s: &str| {
        let (p, port) = s.trim().split_once('.')?;
        (!p.is_empty() && !port.is_empty()).then(|| (p.to_string(), port.to_string()))
    };
    Some(Connection {
        from: endpoint(from)?,
        to: endpoint(to)?,
        latency,
    })
}

fn port_list(ports: &[PortDecl]) -> String {
    if ports.is_empty() {
        return " (it has none)".to_string();
    }
    format!(
        " (it has: {})",
        ports
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn suggestion(catalog: &Catalog, wanted: &str) -> String {
    let close: Vec<&str> = catalog
        .names()
        .filter(|n| n.ends_with(wanted.rsplit('.').next().unwrap_or(wanted)))
        .collect();
    if close.is_empty() {
        format!(
            "; known types: {}",
            catalog.names().collect::<Vec<_>>().join(", ")
        )
    } else {
        format!("; did you mean `{}`?", close.join("` or `"))
    }
}
