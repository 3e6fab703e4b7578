//! One pipeline across two hosts (issue 23), with real processes on a real
//! network stack: two network namespaces joined by a veth pair stand for
//! the machines, `plexus agent` runs in B and `plexus run` in A. The
//! capture on A feeds a Rust effect on B, whose frames come back to a
//! Python effect on A; sinks count on both hosts, and a sink on A is fed
//! straight from the capture.
//!
//! - unimpaired, every sink counts every frame, with no gap;
//! - B's agent killed with SIGKILL: the capture branch loses nothing, a
//!   watcher in A sees `host_lost`, and the agent started again brings
//!   `host_recovered` and frames end to end again;
//! - 20 ms delay and 1 % loss on the link (as `tc netem` would add; see
//!   `integration_tests::delay_line`): the run goes on,
//!   the link's latency and drops are reported, nothing local suffers;
//! - an unreachable host, an agent bound to loopback, a wrong token and a
//!   host missing a package are each one sentence, within seconds.
//!
//! Needs root and iproute2 (CI has both); elsewhere each test prints why it
//! skips.

use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use integration_tests::hosts::{write_private, TwoHosts};
use integration_tests::{assert_no_residue, example_package, plexus, write_pipeline};
use serde_json::Value;

/// Each test runs six workers over two hosts; one at a time keeps a
/// 2-core machine from dropping frames because of another test.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Time a run across hosts gets to start (a Python worker on first use).
const START: Duration = Duration::from_secs(90);
/// Time a misconfiguration may take to be told.
const TOLD_WITHIN: Duration = Duration::from_secs(10);

/// The pipeline: `camera` (A) → `sepia` (B, Rust) → `invert` (A, Python)
/// → `stats` (A); `sepia` → `stats_b` (B); `camera` → `capture_stats` (A).
/// `host_fields` and `link_fields` are added to B's `hosts:` entry and to
/// `link:`.
fn pipeline_yaml(hosts: &TwoHosts, fps: u32, host_fields: &str, link_fields: &str) -> String {
    format!(
        "name: across-hosts\n\
         hosts:\n  \
           b: {{ endpoint: \"{endpoint}\"{host_fields} }}\n\
         link: {{ token_file: link.token{link_fields} }}\n\
         packages: [{rust}, {python}]\n\
         processors:\n  \
           camera:        {{ type: builtin.test_pattern, config: {{ width: 160, height: 120, fps: {fps} }} }}\n  \
           capture_stats: {{ type: builtin.stats_sink }}\n  \
           sepia:         {{ type: example.sepia, host: b }}\n  \
           stats_b:       {{ type: builtin.stats_sink, host: b }}\n  \
           invert:        {{ type: example.invert }}\n  \
           stats:         {{ type: builtin.stats_sink }}\n\
         connections:\n  \
           - camera.out -> capture_stats.in\n  \
           - camera.out -> sepia.in\n  \
           - sepia.out -> stats_b.in\n  \
           - sepia.out -> invert.in\n  \
           - invert.out -> stats.in\n",
        endpoint = hosts.endpoint(),
        rust = example_package("grayscale-rust").display(),
        python = example_package("effects-python").display(),
    )
}

/// Makes the Python effect's environment (numpy) once, from the machine's
/// own network namespace: the test namespaces reach no package index.
/// Runs in them find it in the tests' shared cache.
fn python_provisioned() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let (tmp, path) = write_pipeline(&format!(
            "name: provision
\
             packages: [{}]
\
             processors:
  \
               camera: {{ type: builtin.test_pattern }}
  \
               invert: {{ type: example.invert }}
  \
               sink:   {{ type: builtin.stats_sink }}
\
             connections:
  \
               - camera.out -> invert.in
  \
               - invert.out -> sink.in
",
            example_package("effects-python").display()
        ));
        let deep = plexus(&["validate", "--deep", path.to_str().unwrap()], tmp.path());
        assert_eq!(deep.code, Some(0), "{}", deep.stderr);
    });
}

/// A processor's line in a run's summary: the coordinator's own, or in
/// the summary of the host it ran on (`hosts.<host>`), failing the test if
/// it is in neither.
fn processor<'a>(summary: &'a Value, name: &str) -> &'a Value {
    let local = &summary["processors"][name];
    if local.is_object() {
        return local;
    }
    summary["hosts"]
        .as_object()
        .into_iter()
        .flat_map(|hosts| hosts.values())
        .map(|host| &host["processors"][name])
        .find(|p| p.is_object())
        .unwrap_or_else(|| panic!("no processor {name} in {summary:#}"))
}

/// Frames the input of processor `name` took so far, as `ps --json` in A
/// shows it (B's processors through B's reports).
fn ps_frames_in(hosts: &TwoHosts, runtime: &str, name: &str) -> Option<u64> {
    let listed = hosts.ps(runtime);
    listed["workers"]
        .as_array()?
        .iter()
        .flat_map(|w| w["processors"].as_array().cloned().unwrap_or_default())
        .find(|p| p["processor"] == name)?["inputs"][0]["frames"]
        .as_u64()
}

/// Waits until `ps --json` shows `name`'s input above `above` frames;
/// returns the count. B's counts reach A about once a second, so this
/// asks about as often.
fn frames_rise_above(hosts: &TwoHosts, runtime: &str, name: &str, above: u64) -> u64 {
    let end = Instant::now() + START;
    loop {
        if let Some(n) = ps_frames_in(hosts, runtime, name).filter(|&n| n > above) {
            return n;
        }
        assert!(
            Instant::now() < end,
            "{name} took no more than {above} frames within {START:?}: {:#}",
            hosts.ps(runtime)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The sequence numbers of the next `count` frames leaving `port` in A,
/// as `plexus tap` there shows them.
fn tapped(hosts: &TwoHosts, runtime: &str, port: &str, count: u64) -> Vec<u64> {
    let count = count.to_string();
    let tap = hosts.plexus_in_a(&[
        "tap",
        port,
        "--runtime",
        runtime,
        "--count",
        &count,
        "--json",
    ]);
    assert_eq!(tap.code, Some(0), "{}", tap.stderr);
    tap.json_lines()
        .iter()
        .map(|f| f["seq"].as_u64().unwrap())
        .collect()
}

#[test]
fn every_frame_crosses_both_hosts_and_every_sink_counts_it() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(hosts) = TwoHosts::create("every_frame_crosses_both_hosts_and_every_sink_counts_it")
    else {
        return;
    };
    python_provisioned();
    const FRAMES: u64 = 240;
    let _agent = hosts.start_agent();
    let path = hosts.pipeline(&pipeline_yaml(&hosts, 30, "", ""));
    let frames = FRAMES.to_string();
    let run = hosts
        .spawn_in_a(&["run", path.to_str().unwrap(), "--frames", &frames, "--json"])
        .finish();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    if let Some(id) = run.runtime_id() {
        assert_no_residue(&id);
    }
    let summary = run.json();
    assert_eq!(
        summary["outcome"], "completed",
        "{summary:#}\n{}",
        run.stderr
    );
    let expected = [
        ("camera", 0, FRAMES),
        ("capture_stats", FRAMES, 0),
        ("sepia", FRAMES, FRAMES),
        ("stats_b", FRAMES, 0),
        ("invert", FRAMES, FRAMES),
        ("stats", FRAMES, 0),
    ];
    let counted: Vec<(&str, u64, u64, u64, u64)> = expected
        .iter()
        .map(|(name, _, _)| {
            let p = processor(&summary, name);
            let n = |k: &str| p[k].as_u64().unwrap_or(u64::MAX);
            (
                *name,
                n("frames_in"),
                n("frames_out"),
                n("dropped"),
                n("gaps"),
            )
        })
        .collect();
    let wanted: Vec<(&str, u64, u64, u64, u64)> = expected
        .iter()
        .map(|&(name, i, o)| (name, i, o, 0, 0))
        .collect();
    assert_eq!(
        counted, wanted,
        "(processor, in, out, dropped, gaps)\n{summary:#}"
    );
}

#[test]
fn a_lost_agent_costs_the_capture_nothing_and_its_return_brings_frames_back() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(hosts) = TwoHosts::create(
        "a_lost_agent_costs_the_capture_nothing_and_its_return_brings_frames_back",
    ) else {
        return;
    };
    python_provisioned();
    let agent = hosts.start_agent();
    let yaml = pipeline_yaml(&hosts, 30, ", on_lost: wait, lost_timeout_s: 60", "");
    let path = hosts.pipeline(&yaml);
    let mut run = hosts.spawn_in_a(&["run", path.to_str().unwrap(), "--json"]);
    let id = run.runtime_id();
    let mut watcher = hosts.watch_events(&id);
    watcher.wait_for_event("host_connected", Some("b"), START);

    // Frames go A → B → A, and B's own sink counts.
    let before = *tapped(&hosts, &id, "invert.out", 3).last().unwrap();
    frames_rise_above(&hosts, &id, "stats_b", 0);

    // SAFETY: kill(2) of the agent this test started (`plexus agent`
    // execs the link process in place, so its pid is the agent's).
    assert_eq!(unsafe { libc::kill(agent.pid() as i32, libc::SIGKILL) }, 0);
    let lost = watcher.wait_for_event("host_lost", Some("b"), Duration::from_secs(30));
    drop(agent);
    // The capture branch runs on while B is gone, whose workers `ps` shows
    // lost.
    let at_loss = ps_frames_in(&hosts, &id, "capture_stats").unwrap_or(0);
    let captured_while_lost = frames_rise_above(&hosts, &id, "capture_stats", at_loss);
    let listed = hosts.ps(&id);
    let remote: Vec<(&str, &str)> = listed["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .filter(|w| w["host"] == "b")
        .map(|w| (w["worker"].as_str().unwrap(), w["state"].as_str().unwrap()))
        .collect();
    assert!(
        !remote.is_empty() && remote.iter().all(|(_, state)| *state == "lost"),
        "B's workers while B is lost: {remote:?}"
    );

    let _agent = hosts.start_agent();
    let recovered = watcher.wait_for_event("host_recovered", Some("b"), START);
    assert!(
        recovered["seq"].as_u64() > lost["seq"].as_u64(),
        "{lost}\n{recovered}"
    );
    assert!(recovered["outage_ms"].as_u64().is_some(), "{recovered}");
    // Frames go end to end again: newer ones leave the Python effect on A,
    // and B's sink counts again.
    let after = tapped(&hosts, &id, "invert.out", 3);
    assert!(
        after.iter().all(|&s| s > before),
        "after the outage {after:?}, before it {before}"
    );
    // Counts read now, whatever B's part restarted from, then rising.
    for sink in ["stats_b", "stats"] {
        let now = ps_frames_in(&hosts, &id, sink).unwrap_or(0);
        frames_rise_above(&hosts, &id, sink, now);
    }
    frames_rise_above(&hosts, &id, "capture_stats", captured_while_lost);

    let stop = hosts.plexus_in_a(&["stop", "--runtime", &id]);
    assert_eq!(stop.code, Some(0), "{}", stop.stderr);
    let run = run.finish();
    let events = watcher.finish(Duration::from_secs(30));
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "stopped", "{summary:#}");
    // The capture branch lost nothing to the outage.
    let captured = processor(&summary, "camera")["frames_out"]
        .as_u64()
        .unwrap();
    let capture_stats = processor(&summary, "capture_stats");
    assert_eq!(capture_stats["frames_in"], captured, "{summary:#}");
    assert_eq!(capture_stats["dropped"], 0, "{summary:#}");
    assert_eq!(capture_stats["gaps"], 0, "{summary:#}");
    // Downstream of B, the outage is counted as frames that never came,
    // and the summary says how long B was away.
    let stats = processor(&summary, "stats");
    assert!(stats["gaps"].as_u64().unwrap() > 0, "{summary:#}");
    let outages = summary["outages"]
        .as_array()
        .expect("outages in the summary");
    assert_eq!(outages.len(), 1, "{summary:#}");
    assert_eq!(outages[0]["host"], "b", "{summary:#}");
    assert_eq!(
        outages[0]["outage_ms"], recovered["outage_ms"],
        "{summary:#}"
    );
    // The story of the host, in order.
    let story: Vec<&str> = events
        .iter()
        .filter(|e| e["host"] == "b")
        .filter_map(|e| e["kind"].as_str())
        .filter(|k| k.starts_with("host_"))
        .collect();
    assert_eq!(
        story,
        ["host_connected", "host_lost", "host_recovered"],
        "{events:#?}"
    );
}

#[test]
fn an_impaired_link_is_reported_and_nothing_local_suffers() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(hosts) = TwoHosts::create("an_impaired_link_is_reported_and_nothing_local_suffers")
    else {
        return;
    };
    python_provisioned();
    const FRAMES: u64 = 450;
    let _agent = hosts.start_agent();
    let yaml = pipeline_yaml(
        &hosts,
        30,
        "",
        ", degraded: { loss_percent: 50, latency_ms: 15 }",
    );
    let path = hosts.pipeline(&yaml);
    let frames = FRAMES.to_string();
    let mut run = hosts.spawn_in_a(&["run", path.to_str().unwrap(), "--frames", &frames, "--json"]);
    let id = run.runtime_id();
    let mut watcher = hosts.watch_events(&id);
    watcher.wait_for_event("host_connected", Some("b"), START);
    tapped(&hosts, &id, "invert.out", 1);

    // Each direction is delayed 20 ms and loses 1 % of its packets.
    hosts.pair.impair(Duration::from_millis(20), 1.0);
    let degraded = watcher.wait_for_event("link_degraded", None, Duration::from_secs(30));
    assert!(
        degraded["latency_p99_us"].as_u64().unwrap() >= 20_000,
        "{degraded}"
    );
    // The link's own figures say so too, in A's `ps --json`, once a
    // second's figures were taken under the delay.
    let slow = link_slower_than(&hosts, &id, 20_000);
    assert!(slow["dropped"].as_u64().is_some(), "{slow:#}");
    // And frames still go end to end.
    let before = *tapped(&hosts, &id, "invert.out", 1).last().unwrap();
    let after = tapped(&hosts, &id, "invert.out", 1);
    assert!(after[0] > before, "{after:?} after {before}");

    let run = run.finish();
    watcher.finish(Duration::from_secs(30));
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "completed", "{summary:#}");
    // Nothing local suffered: the capture branch has every frame.
    assert_eq!(
        processor(&summary, "camera")["frames_out"],
        FRAMES,
        "{summary:#}"
    );
    let capture_stats = processor(&summary, "capture_stats");
    assert_eq!(capture_stats["frames_in"], FRAMES, "{summary:#}");
    assert_eq!(capture_stats["dropped"], 0, "{summary:#}");
    assert_eq!(capture_stats["gaps"], 0, "{summary:#}");
    // The links' counts add up: what arrived and what the link lost is no
    // more than what was sent.
    let links = summary["links"].as_array().expect("links in the summary");
    assert_eq!(
        links.len(),
        2,
        "camera.out to b, sepia.out to local: {summary:#}"
    );
    for link in links {
        let n = |k: &str| link[k].as_u64().unwrap_or_else(|| panic!("no {k}: {link}"));
        assert!(n("received") > 0, "{link}");
        assert!(n("received") + n("dropped") <= n("sent"), "{link}");
    }
}

/// A link in A's `ps --json` whose p50 is at least `us`, waited for: the
/// links' figures are taken over a second and reach A about once a second.
fn link_slower_than(hosts: &TwoHosts, runtime: &str, us: u64) -> Value {
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let links = hosts.ps(runtime)["links"].clone();
        let slow = links
            .as_array()
            .unwrap_or_else(|| panic!("no links in ps: {links:#}"))
            .iter()
            .find(|l| l["latency_us"]["p50"].as_u64().is_some_and(|p| p >= us))
            .cloned();
        if let Some(slow) = slow {
            return slow;
        }
        assert!(
            Instant::now() < end,
            "no link reports p50 ≥ {us} µs: {links:#}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Runs `yaml` in A and checks it is refused within [`TOLD_WITHIN`] with
/// one sentence containing each of `words`; returns that sentence.
fn refused(hosts: &TwoHosts, yaml: &str, words: &[&str]) -> String {
    let path = hosts.pipeline(yaml);
    let start = Instant::now();
    let run = hosts
        .spawn_in_a(&["run", path.to_str().unwrap(), "--frames", "30"])
        .finish_within(TOLD_WITHIN * 3);
    let took = start.elapsed();
    assert_ne!(
        run.code,
        Some(0),
        "the run should have failed:\n{}",
        run.stderr
    );
    assert!(took <= TOLD_WITHIN, "told after {took:?}:\n{}", run.stderr);
    let line = run.error_line().to_string();
    for word in words {
        assert!(
            line.contains(word),
            "`{word}` not in `{line}`\n{}",
            run.stderr
        );
    }
    let sentence = line.trim_start_matches("plexus: error: ");
    assert_eq!(
        sentence.matches(". ").count(),
        0,
        "more than one sentence: `{line}`"
    );
    if let Some(id) = run.runtime_id() {
        assert_no_residue(&id);
    }
    line
}

#[test]
fn an_unreachable_host_is_one_sentence() {
    let Some(hosts) = TwoHosts::create("an_unreachable_host_is_one_sentence") else {
        return;
    };
    python_provisioned();
    // No agent runs in B.
    let endpoint = hosts.endpoint();
    refused(
        &hosts,
        &pipeline_yaml(&hosts, 30, "", ""),
        &["`b`", &endpoint, "no plexus agent answers"],
    );
}

#[test]
fn an_agent_bound_to_loopback_says_so_and_the_run_is_one_sentence() {
    let Some(hosts) =
        TwoHosts::create("an_agent_bound_to_loopback_says_so_and_the_run_is_one_sentence")
    else {
        return;
    };
    python_provisioned();
    let loopback = format!("tcp/127.0.0.1:{}", integration_tests::hosts::AGENT_PORT);
    let mut agent = hosts.spawn_agent(&["--listen", &loopback]);
    let warning = agent.wait_for("loopback", Duration::from_secs(30));
    assert!(warning.contains("127.0.0.1"), "{warning}");
    agent.wait_for("` ready", Duration::from_secs(30));
    refused(
        &hosts,
        &pipeline_yaml(&hosts, 30, "", ""),
        &["`b`", &hosts.endpoint(), "loopback"],
    );
}

#[test]
fn a_wrong_token_is_one_sentence() {
    let Some(hosts) = TwoHosts::create("a_wrong_token_is_one_sentence") else {
        return;
    };
    python_provisioned();
    let _agent = hosts.start_agent();
    write_private(
        &hosts.dir.path().join("other.token"),
        "not-the-agent's-token",
    );
    let yaml = pipeline_yaml(&hosts, 30, "", "").replace("link.token", "other.token");
    refused(&hosts, &yaml, &["`b`", "wrong token"]);
}

#[test]
fn a_host_missing_a_package_is_one_sentence_naming_it() {
    let Some(hosts) = TwoHosts::create("a_host_missing_a_package_is_one_sentence_naming_it") else {
        return;
    };
    let _agent = hosts.start_agent();
    // The Python package sits beside the pipeline on A, by a relative
    // path: B's agent, whose relative paths start at its own directory,
    // has no such package.
    let copied = hosts.dir.path().join("effects-python");
    copy_dir(&example_package("effects-python"), &copied);
    let python = example_package("effects-python").display().to_string();
    let yaml = pipeline_yaml(&hosts, 30, "", "")
        .replace(&python, "effects-python")
        .replace(
            "invert:        { type: example.invert }",
            "invert:        { type: example.invert, host: b }",
        );
    assert!(yaml.contains("example.invert, host: b"), "{yaml}");
    refused(&hosts, &yaml, &["`b`", "effects-python"]);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
