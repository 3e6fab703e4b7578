//! Least privilege as the user sees it (docs/ARCHITECTURE.md §15): a Python
//! and a Rust processor (the `sandbox-probe-*` fixtures) try, on their
//! first two frames, what their permissions forbid: reading /etc/passwd,
//! writing outside their paths, connecting to a listener of the test's,
//! listening on an undeclared port, starting /bin/sh and opening another
//! worker's frame segment for writing. Each is refused, and told once as a
//! `sandbox_violation` event in the one sentence that names the processor
//! and what it lacked; what they declared (a read path, a write path, a
//! listen port) works, and the pipeline around them loses no frame.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Mutex;

use integration_tests::detached::Data;
use integration_tests::{assert_matches_schema, assert_no_residue, fixture, write_pipeline};
use serde_json::Value;

const FRAMES: u64 = 120;

/// The probes' declared listen ports are fixed in their manifests, so two
/// runs at once would take each other's: one run at a time (which is also
/// kinder to a loaded machine, where every frame must arrive).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A probe fixture.
struct Probe {
    package: &'static str,
    type_name: &'static str,
}

const PYTHON: Probe = Probe {
    package: "sandbox-probe-python",
    type_name: "test.py_sandbox_probe",
};

const RUST: Probe = Probe {
    package: "sandbox-probe-rust",
    type_name: "test.rs_sandbox_probe",
};

/// What a probe's run left: its summary, the runtime's events, what the
/// probe wrote of its two rounds of attempts, and the places it was given.
struct Probed {
    summary: Value,
    events: Vec<Value>,
    rounds: [Value; 2],
    tmp: tempfile::TempDir,
    outside: PathBuf,
    connect: u16,
    forbidden_listen: u16,
}

/// A TCP port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `cam → probe → sink` for [`FRAMES`] frames under `sandbox: mode`
/// and collects what it left.
fn run_probe(probe: &Probe, mode: &str) -> Probed {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (tmp.path().join("in"), tmp.path().join("out"));
    std::fs::create_dir(&input).unwrap();
    std::fs::create_dir(&output).unwrap();
    std::fs::write(input.join("message.txt"), "read through the sandbox").unwrap();
    let outside = tmp.path().join("escaped.txt");
    // A listener the probe may not reach; nothing is ever accepted from it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let connect = listener.local_addr().unwrap().port();
    let forbidden_listen = free_port();
    let yaml = format!(
        r#"name: sandbox
sandbox: {mode}
packages: [{package}]
processors:
  cam: {{ type: builtin.test_pattern, config: {{ width: 64, height: 48, fps: 60 }} }}
  probe:
    type: {type_name}
    config:
      input: {input}
      output: {output}
      outside: {outside}
      connect: {connect}
      forbidden_listen: {forbidden_listen}
  sink: {{ type: builtin.stats_sink }}
connections: [cam.out -> probe.in, probe.out -> sink.in]
"#,
        package = fixture(probe.package).display(),
        type_name = probe.type_name,
        input = input.display(),
        output = output.display(),
        outside = outside.display(),
    );
    let (_dir, path) = write_pipeline(&yaml);
    let data = Data::new();
    let frames = FRAMES.to_string();
    let run = data.plexus(
        &["run", path.to_str().unwrap(), "--frames", &frames, "--json"],
        tmp.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    let id = summary["runtime"].as_str().unwrap().to_string();
    assert_no_residue(&id);
    let events = data.plexus(&["events", "--runtime", &id, "--json"], tmp.path());
    assert_eq!(events.code, Some(0), "{}", events.stderr);
    let events = events.json_lines();
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the probe reached the test's listener"
    );
    let round = |n: u32| -> Value {
        let path = output.join(format!("round-{n}.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), run.stderr));
        serde_json::from_str(&text).unwrap()
    };
    Probed {
        rounds: [round(1), round(2)],
        summary,
        events,
        tmp,
        outside,
        connect,
        forbidden_listen,
    }
}

impl Probed {
    /// Checks what holds in every mode: the run completed without loss,
    /// the declared operations worked, each forbidden one failed, and only
    /// the probe committed violations, each matching the events schema.
    /// Returns the violation events.
    fn common_checks(&self) -> Vec<&Value> {
        let p = &self.summary["processors"];
        assert_eq!(self.summary["outcome"], "completed", "{:#}", self.summary);
        assert_eq!(p["probe"]["frames_in"], FRAMES, "{:#}", self.summary);
        assert_eq!(p["probe"]["frames_out"], FRAMES, "{:#}", self.summary);
        assert_eq!(p["probe"]["errors"], 0, "{:#}", self.summary);
        assert_eq!(p["sink"]["frames_in"], FRAMES, "{:#}", self.summary);
        assert_eq!(p["sink"]["gaps"], 0, "{:#}", self.summary);
        assert_eq!(p["cam"]["dropped"], 0, "{:#}", self.summary);

        for round in &self.rounds {
            for declared in ["read_declared", "write_declared", "listen_declared"] {
                assert_eq!(round[declared], "ok", "{declared}: {round:#}");
            }
            for forbidden in [
                "read_passwd",
                "write_outside",
                "connect",
                "listen",
                "spawn",
                "shm",
            ] {
                let outcome = round[forbidden].as_str().unwrap();
                assert_ne!(outcome, "ok", "{forbidden}: {round:#}");
                assert_ne!(
                    outcome, "no other worker's segment found",
                    "{forbidden}: {round:#}"
                );
            }
            // The segment it tried is another process's.
            let segment = round["shm_path"].as_str().unwrap();
            let port: u128 = segment
                .trim_end_matches("__0.data")
                .rsplit('_')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert_ne!(Some((port >> 64) as u32 as u64), round["pid"].as_u64());
        }
        assert_ne!(self.rounds[1]["read_group"], "ok", "{:#}", self.rounds[1]);
        let copied = std::fs::read_to_string(self.tmp.path().join("out/copy.txt")).unwrap();
        assert_eq!(copied, "read through the sandbox");
        assert!(!self.outside.exists(), "the probe wrote outside its paths");

        // What the worker's interpreter is refused while it starts, before
        // any processor code runs, is not a processor's doing and is not
        // told: every violation here is the probe's.
        let violations: Vec<&Value> = self
            .events
            .iter()
            .filter(|e| e["kind"] == "sandbox_violation")
            .collect();
        for v in &violations {
            assert_matches_schema("events", v);
            assert_eq!(v["processor"], "probe", "only the probe trespasses: {v}");
        }
        violations
    }

    /// The sentences of the violations the probe's first round commits,
    /// by permission, as `strict` tells them.
    fn first_round(&self) -> Vec<(&'static str, String)> {
        let segment = self.rounds[0]["shm_path"].as_str().unwrap();
        vec![
            (
                "read",
                "processor `probe` may not open /etc/passwd for reading: not in its permissions"
                    .to_string(),
            ),
            (
                "write",
                format!(
                    "processor `probe` may not open {} for writing: not in its permissions",
                    self.outside.display()
                ),
            ),
            (
                "connect",
                format!(
                    "processor `probe` may not connect to 127.0.0.1:{}: not in its permissions",
                    self.connect
                ),
            ),
            (
                "listen",
                format!(
                    "processor `probe` may not listen on port {}: not in its permissions",
                    self.forbidden_listen
                ),
            ),
            (
                "spawn",
                "processor `probe` may not start /bin/sh: spawning processes is not in its permissions"
                    .to_string(),
            ),
            (
                "shared_memory",
                format!(
                    "processor `probe` may not open {segment} for writing: it is another worker's shared memory"
                ),
            ),
        ]
    }
}

/// Under `strict`, each distinct violation is told once, as denied: the
/// second round's repeats are not told again, its new target is.
fn strict(probe: &Probe) {
    let probed = run_probe(probe, "strict");
    let violations = probed.common_checks();
    let mut expected: BTreeSet<String> = probed
        .first_round()
        .into_iter()
        .map(|(_, sentence)| sentence)
        .collect();
    expected.insert(
        "processor `probe` may not open /etc/group for reading: not in its permissions".into(),
    );
    let told: Vec<&str> = violations
        .iter()
        .map(|v| v["message"].as_str().unwrap())
        .collect();
    assert_eq!(told.len(), expected.len(), "each once: {told:#?}");
    assert_eq!(
        told.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
        expected
    );
    assert!(violations.iter().all(|v| v["action"] == "denied"));
}

/// Under `declared`, the first violation of each kind is a warning and
/// the rest of that kind is not told.
fn declared(probe: &Probe) {
    let probed = run_probe(probe, "declared");
    let violations = probed.common_checks();
    let expected: Vec<(String, String)> = probed
        .first_round()
        .into_iter()
        .map(|(permission, sentence)| {
            (
                permission.to_string(),
                format!("{sentence} (sandbox: declared, so only this first one is reported)"),
            )
        })
        .collect();
    let told: Vec<(String, String)> = violations
        .iter()
        .map(|v| {
            assert_eq!(v["action"], "warned", "{v}");
            (
                v["permission"].as_str().unwrap().to_string(),
                v["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(told, expected);
}

#[test]
fn a_python_processor_is_told_what_it_may_not_do_and_does_what_it_declared() {
    strict(&PYTHON);
}

#[test]
fn a_rust_processor_is_told_what_it_may_not_do_and_does_what_it_declared() {
    strict(&RUST);
}

#[test]
fn under_declared_a_python_processor_is_warned_once_per_kind() {
    declared(&PYTHON);
}

#[test]
fn under_declared_a_rust_processor_is_warned_once_per_kind() {
    declared(&RUST);
}
