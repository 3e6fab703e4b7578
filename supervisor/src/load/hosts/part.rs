//! Splitting a pipeline by host: the pipeline file each other host's agent
//! runs (its processors as the user wrote them, and a `remote:` section
//! for the ports it reads from elsewhere), and the ports each host's link
//! process carries. Also the types a part's `remote:` section stands for.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_yaml_ng::{Mapping, Value};

use ipc_schemas::link::{Bridges, Import, PortRef, LOCAL_HOST};
use ipc_schemas::LatencyMode;

use super::{link_settings, on_lost, HostPart, HostsPlan};
use crate::load::catalog::{Origin, TypeInfo};
use crate::load::pipeline::{Pipeline, PipelineFile};
use crate::package::manifest::schemas::PortSchema;
use crate::package::manifest::{Mode, PermissionsDecl, PortDecl, ProcessorDecl};

/// A type per entry of `remote:`: outputs only, run elsewhere.
pub fn remote_types(file: &PipelineFile) -> Result<Vec<TypeInfo>, String> {
    file.remote
        .iter()
        .map(|(id, entry)| {
            let language = crate::language::by_name(&entry.language).ok_or_else(|| {
                format!(
                    "remote processor `{id}` has unknown language `{}`",
                    crate::error::excerpt(&entry.language)
                )
            })?;
            let outputs = entry
                .outputs
                .iter()
                .map(|(port, schema)| {
                    ipc_schemas::names::validate_id(port)
                        .map_err(|e| format!("remote processor `{id}`: output {e}"))?;
                    PortSchema::output(schema)
                        .map_err(|why| format!("remote processor `{id}` output `{port}`: {why}"))?;
                    Ok(PortDecl {
                        name: port.clone(),
                        schema: schema.clone(),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(TypeInfo {
                decl: ProcessorDecl {
                    name: crate::load::pipeline::remote_type_name(id),
                    language,
                    entry: String::new(),
                    mode: Mode::Manual,
                    interval_ms: None,
                    inputs: Vec::new(),
                    outputs,
                    config: BTreeMap::new(),
                    sync: None,
                    permissions: PermissionsDecl::default(),
                },
                origin: Origin::Remote {
                    host: entry.host.clone(),
                },
            })
        })
        .collect()
}

/// One connection of the plan, by processor and port at both ends.
pub struct Edge<'a> {
    pub from: (&'a str, &'a str),
    pub to: (&'a str, &'a str),
    /// How the input waits, resolved from the connection and the pipeline.
    pub latency: LatencyMode,
}

/// What the plan knows of one processor, for splitting.
pub struct Placed<'a> {
    pub id: &'a str,
    /// Where it runs, `None` for this host.
    pub host: Option<&'a str>,
    pub info: &'a TypeInfo,
}

/// Splits the pipeline by host; `None` when it all runs here.
pub fn split(
    pipeline: &Pipeline,
    dir: &Path,
    placed: &[Placed],
    edges: &[Edge],
) -> Result<Option<HostsPlan>, String> {
    let (file, raw) = (&pipeline.file, &pipeline.raw);
    let here = file.this_host();
    let host_by_id: BTreeMap<&str, &str> = placed
        .iter()
        .map(|p| (p.id, p.host.unwrap_or(here)))
        .collect();
    let crossing: Vec<&Edge> = edges
        .iter()
        .filter(|e| host_by_id[e.from.0] != host_by_id[e.to.0])
        .collect();
    let elsewhere: BTreeSet<&str> = placed.iter().filter_map(|p| p.host).collect();
    if elsewhere.is_empty() || file.host.is_some() {
        // A part runs its own processors; its link is the agent's.
        return Ok(None);
    }
    // Agents reach the coordinator, not each other.
    if let Some(e) = crossing
        .iter()
        .find(|e| host_by_id[e.from.0] != here && host_by_id[e.to.0] != here)
    {
        return Err(format!(
            "connection `{}.{} -> {}.{}` joins hosts {} and {}: a connection between hosts must have this host at one end (add a processor here between them)",
            e.from.0, e.from.1, e.to.0, e.to.1, host_by_id[e.from.0], host_by_id[e.to.0]
        ));
    }
    let link = file
        .link
        .as_ref()
        .expect("checked: other hosts need `link:`");
    let (token_file, link) = link_settings(link, dir);
    let mut parts = Vec::new();
    for host in elsewhere {
        let entry = file
            .hosts
            .get(host)
            .expect("checked: every host named is listed");
        let mine: Vec<&Placed> = placed.iter().filter(|p| p.host == Some(host)).collect();
        let packages = packages_of(pipeline, &mine);
        parts.push(HostPart {
            host: host.to_string(),
            endpoint: entry.endpoint.clone(),
            on_lost: on_lost(entry),
            pipeline_yaml: part_yaml(raw, host, &packages, &mine, placed, edges, &host_by_id)?,
            bridges: bridges_of(host, &crossing, &host_by_id),
            has_sources: mine.iter().any(|p| p.info.decl.inputs.is_empty()),
        });
    }
    Ok(Some(HostsPlan {
        token_file,
        link,
        bridges: bridges_of(LOCAL_HOST, &crossing, &host_by_id),
        parts,
    }))
}

/// The pipeline's `packages:` entries that declare the types of `mine`:
/// a host needs only its own processors' packages.
fn packages_of(pipeline: &Pipeline, mine: &[&Placed]) -> Vec<String> {
    let needed: BTreeSet<&str> = mine.iter().map(|p| p.info.package()).collect();
    pipeline
        .file
        .packages
        .iter()
        .filter(|entry| {
            crate::package::locate(&pipeline.path, pipeline.dir(), entry)
                .is_ok_and(|p| needed.contains(p.manifest.package.name.as_str()))
        })
        .cloned()
        .collect()
}

/// The ports crossing into or out of `host`.
fn bridges_of(host: &str, crossing: &[&Edge], host_by_id: &BTreeMap<&str, &str>) -> Bridges {
    let port = |(processor, port): (&str, &str)| PortRef {
        processor: processor.to_string(),
        port: port.to_string(),
    };
    let exports: BTreeSet<PortRef> = crossing
        .iter()
        .filter(|e| host_by_id[e.from.0] == host)
        .map(|e| port(e.from))
        .collect();
    let imports: BTreeSet<(String, PortRef)> = crossing
        .iter()
        .filter(|e| host_by_id[e.to.0] == host)
        .map(|e| (host_by_id[e.from.0].to_string(), port(e.from)))
        .collect();
    Bridges {
        exports: exports.into_iter().collect(),
        imports: imports
            .into_iter()
            .map(|(from_host, port)| Import { from_host, port })
            .collect(),
    }
}

/// The pipeline file host `host` runs: the pipeline's settings, its own
/// processors as written (without `host:`), the connections into them,
/// and a `remote:` section for the other hosts' ports they read.
fn part_yaml(
    raw: &Value,
    host: &str,
    packages: &[String],
    mine: &[&Placed],
    placed: &[Placed],
    edges: &[Edge],
    host_by_id: &BTreeMap<&str, &str>,
) -> Result<String, String> {
    let key = |k: &str| Value::String(k.to_string());
    let mut part = Mapping::new();
    part.insert(
        key("packages"),
        Value::Sequence(packages.iter().map(|p| key(p)).collect()),
    );
    for field in ["name", "observers", "sandbox", "sandbox_unavailable"] {
        if let Some(v) = raw.get(field) {
            part.insert(key(field), v.clone());
        }
    }
    part.insert(key("host"), key(host));
    let raw_processors = raw.get("processors");
    let mut processors = Mapping::new();
    for p in mine {
        let mut entry = raw_processors
            .and_then(|all| all.get(p.id))
            .cloned()
            .unwrap_or(Value::Mapping(Mapping::new()));
        if let Value::Mapping(m) = &mut entry {
            m.remove("host");
        }
        processors.insert(key(p.id), entry);
    }
    let into_mine: Vec<&Edge> = edges
        .iter()
        .filter(|e| host_by_id[e.to.0] == host)
        .collect();
    let mut remote: BTreeMap<&str, (&str, &TypeInfo, Mapping)> = BTreeMap::new();
    for e in into_mine.iter().filter(|e| host_by_id[e.from.0] != host) {
        let from = placed
            .iter()
            .find(|p| p.id == e.from.0)
            .expect("edges join planned processors");
        let schema = from
            .info
            .decl
            .outputs
            .iter()
            .find(|o| o.name == e.from.1)
            .map(|o| o.schema.clone())
            .expect("connections were checked against the ports");
        remote
            .entry(from.id)
            .or_insert_with(|| (host_by_id[from.id], from.info, Mapping::new()))
            .2
            .insert(key(e.from.1), Value::String(schema));
    }
    let mut remote_section = Mapping::new();
    for (id, (from_host, info, outputs)) in remote {
        let mut entry = Mapping::new();
        entry.insert(key("host"), key(from_host));
        entry.insert(key("language"), key(info.decl.language.name()));
        entry.insert(key("outputs"), Value::Mapping(outputs));
        remote_section.insert(key(id), Value::Mapping(entry));
    }
    if !remote_section.is_empty() {
        part.insert(key("remote"), Value::Mapping(remote_section));
    }
    part.insert(key("processors"), Value::Mapping(processors));
    let connections: Vec<Value> = into_mine
        .iter()
        .map(|e| {
            let (from, to) = (
                format!("{}.{}", e.from.0, e.from.1),
                format!("{}.{}", e.to.0, e.to.1),
            );
            // Resolved already: the part needs no `latency:` of its own.
            match e.latency {
                LatencyMode::Efficient => Value::String(format!("{from} -> {to}")),
                LatencyMode::Low => Value::Mapping(
                    [("from", from), ("to", to), ("latency", "low".into())]
                        .into_iter()
                        .map(|(k, v)| (key(k), Value::String(v)))
                        .collect(),
                ),
            }
        })
        .collect();
    part.insert(key("connections"), Value::Sequence(connections));
    serde_yaml_ng::to_string(&Value::Mapping(part))
        .map_err(|e| format!("writing host `{host}`'s part: {e}"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::load::pipeline::Pipeline;
    use crate::load::plan_pipeline;

    const ACROSS: &str = "name: across
hosts: { b: { endpoint: tcp/10.0.0.2:7447, on_lost: fail } }
link: { token_file: secret }
processors:
  camera: { type: builtin.test_pattern, config: { fps: 5 } }
  near: { type: builtin.stats_sink }
  far: { type: builtin.stats_sink, host: b }
connections:
  - camera.out -> near.in
  - camera.out -> far.in
";

    #[test]
    fn a_host_gets_its_processors_and_the_ports_it_reads() {
        let plan =
            plan_pipeline(&Pipeline::parse(Path::new("/p/across.yaml"), ACROSS).unwrap()).unwrap();
        let ids = |ps: &[crate::load::plan::PlannedProcessor]| {
            ps.iter().map(|p| p.spec.id.clone()).collect::<Vec<_>>()
        };
        assert_eq!(ids(&plan.processors), ["camera", "near"]);
        assert_eq!(ids(&plan.remote), ["far"]);
        assert_eq!(plan.workers.len(), 2, "no worker here for `far`");
        let camera_out = &plan.processors[0].spec.outputs[0];
        // `near`, the link's subscription, and the observer and swap slots.
        assert_eq!(
            camera_out.subscribers as usize,
            2 + bus::settings::DEFAULT_OBSERVERS + 1
        );
        let hosts = plan.hosts.expect("a part runs elsewhere");
        assert_eq!(hosts.token_file, Path::new("/p/secret"));
        assert_eq!(hosts.bridges.exports.len(), 1);
        assert!(hosts.bridges.imports.is_empty());
        let [part] = hosts.parts.as_slice() else {
            panic!("one other host")
        };
        assert_eq!(part.host, "b");
        assert!(!part.has_sources);
        assert_eq!(part.bridges.imports[0].from_host, "local");
        let there = plan_pipeline(
            &Pipeline::parse(Path::new("/agent/part.yaml"), &part.pipeline_yaml).unwrap(),
        )
        .unwrap();
        assert_eq!(ids(&there.processors), ["far"]);
        assert_eq!(ids(&there.remote), ["camera"]);
        assert!(there.hosts.is_none(), "a part's link is its agent's");
        assert_eq!(there.processors[0].spec.inputs[0].from_processor, "camera");
    }

    #[test]
    fn a_host_is_given_only_the_packages_of_its_processors() {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/packages");
        let text = format!(
            "name: x\nhosts: {{ b: {{ endpoint: tcp/10.0.0.2:7447 }} }}\nlink: {{ token_file: t }}\npackages: [{0}/grayscale-rust, {0}/effects-python]\nprocessors:\n  cam: {{ type: builtin.test_pattern }}\n  sepia: {{ type: example.sepia, host: b }}\n  invert: {{ type: example.invert }}\nconnections: [cam.out -> sepia.in, sepia.out -> invert.in]\n",
            examples.display()
        );
        let plan = plan_pipeline(&Pipeline::parse(Path::new("/p/x.yaml"), &text).unwrap()).unwrap();
        let part = &plan.hosts.expect("b runs sepia").parts[0];
        let there = Pipeline::parse(Path::new("/agent/part.yaml"), &part.pipeline_yaml).unwrap();
        assert_eq!(
            there.file.packages,
            [format!("{}/grayscale-rust", examples.display())]
        );
    }

    #[test]
    fn a_remote_output_with_a_bad_schema_is_named() {
        let part = "name: x\nhost: b\nremote: { cam: { host: local, language: rust, outputs: { out: video/nothing } } }\nprocessors:\n  s: { type: builtin.stats_sink }\nconnections: [cam.out -> s.in]\n";
        let err = plan_pipeline(&Pipeline::parse(Path::new("p.yaml"), part).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("remote processor `cam` output `out`"), "{err}");
    }
}
