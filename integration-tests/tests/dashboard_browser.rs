//! `plexus dashboard` in a real browser: headless Chromium, driven by
//! `integration-tests/browser/dashboard.mjs` (playwright-core), looks at the
//! mixed example while it runs — every processor, frames moving on each edge,
//! a preview that changes, a killed worker's restart count rising, a restart
//! asked for in the page and confirmed, the package panels (one of them
//! hostile and kept in its sandbox) — and installs packages by upload. The
//! script prints what it saw as JSON lines; this test asserts on them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integration_tests::http::Request;
use integration_tests::store::Scratch;
use integration_tests::{
    assert_matches_schema, assert_no_residue, bin_dir, binary, example_in, example_package,
    fixture, mixed_processor_ids, spawn_program, workspace,
};
use serde_json::{json, Value};

/// Starting takes provisioning Python and deno when the cache is cold.
const START: Duration = Duration::from_secs(180);
/// The whole browser session.
const SESSION: Duration = Duration::from_secs(400);
/// The processor the test adds to the mixed example for the hostile panel.
const HOSTILE: &str = "hostile";
/// The example packages uploaded through the page.
const UPLOADED: [&str; 3] = ["grayscale-rust", "effects-python", "overlay-deno"];

#[test]
fn the_dashboard_shows_the_mixed_example_live_keeps_panels_sandboxed_and_installs_uploads() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let scratch = Scratch::new();
    let pipeline = mixed_with_hostile_panel(scratch.path());
    let mut processors: Vec<&str> = mixed_processor_ids().to_vec();
    processors.push(HOSTILE);

    let mut run = scratch.spawn(&["run", pipeline.to_str().unwrap(), "--json"]);
    let id = run.runtime_id();
    for processor in &processors {
        run.wait_for(&format!("processor {processor} started"), START);
    }
    let mut dashboard = scratch.spawn(&["dashboard", "--runtime", &id, "--listen", "127.0.0.1:0"]);
    let started = dashboard.wait_for("plexus: dashboard for runtime", START);
    assert!(started.contains(&id), "{started}");
    let url = started[started.find("http://").expect("a URL in the start line")..]
        .trim()
        .to_string();

    let archives = scratch.path().join("archives");
    std::fs::create_dir(&archives).unwrap();
    let packages: Vec<PathBuf> = UPLOADED
        .iter()
        .map(|name| {
            let out = archives.join(format!("{name}.plexpkg"));
            let package = example_package(name);
            scratch.ok(&[
                "pack",
                package.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ]);
            out
        })
        .collect();
    let hostile_archive = archives.join("escaping.plexpkg");
    std::fs::write(
        &hostile_archive,
        integration_tests::store::escaping_archive(),
    )
    .unwrap();

    let artifacts = bin_dir()
        .parent()
        .expect("target/")
        .join("test-artifacts/dashboard");
    let setup = json!({
        "url": url,
        "chromium": browser.chromium,
        "plexus": binary("plexus"),
        "runtime": id,
        "cwd": scratch.path(),
        "env": {
            "PLEXUS_DATA_DIR": scratch.data(),
            "PLEXUS_CACHE_DIR": bin_dir().join("plexus-test-cache"),
        },
        "data_dir": scratch.data(),
        "artifacts": artifacts,
        "processors": processors,
        "preview_edge": "sepia.out->invert.in",
        "kill_worker": "sepia",
        "restart_worker": "bar",
        "packages": packages,
        "hostile_archive": hostile_archive,
        "panels": [
            // The example package's histogram of what reaches invert.
            { "processor": "invert", "reports": ["frames", "mean"] },
            { "processor": HOSTILE, "reports": ["api", "outside", "parent"] },
        ],
    });
    let script = workspace().join("integration-tests/browser/dashboard.mjs");
    let session = spawn_program(
        &browser.node,
        &[script.to_str().unwrap(), &setup.to_string()],
        scratch.path(),
        &[],
    )
    .finish_within(SESSION);
    let seen: Vec<Value> = session
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("`{l}` is not JSON: {e}")))
        .collect();
    let report = format!("{}\n{}", session.stdout, session.stderr);
    let observed = |check: &str| -> &Value {
        let found = seen
            .iter()
            .find(|o| o["check"] == check)
            .unwrap_or_else(|| panic!("no `{check}` observation:\n{report}"));
        assert_eq!(found["ok"], true, "{check} failed: {found:#}\n{report}");
        found
    };

    let shown = observed("processors");
    for processor in &processors {
        assert!(
            shown["found"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p == processor),
            "{processor} is not on the page: {shown:#}"
        );
    }
    let edges = observed("edges_move")["edges"].as_array().unwrap().clone();
    assert_eq!(
        edges.len(),
        7,
        "the 6 connections and the hostile one: {edges:#?}"
    );
    assert!(
        edges.iter().all(|e| e["fps"].as_f64().unwrap() > 0.0),
        "{edges:#?}"
    );
    let preview = observed("preview_changes");
    assert_eq!(preview["label"], "sepia.out", "{preview:#}");
    let killed = observed("killed_worker_restart_shown");
    assert_eq!(killed["node_restarts"], 1, "{killed:#}");
    let restarted = observed("restart_from_page");
    assert!(
        restarted["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "worker_ready"),
        "{restarted:#}"
    );
    let upload = observed("upload");
    assert_eq!(upload["store_unchanged"], true, "{upload:#}");
    assert!(
        upload["hostile"]["text"].as_str().unwrap().contains(".."),
        "the refusal names the entry: {upload:#}"
    );
    let histogram = &observed("panel_invert")["attributes"];
    let frames: u64 = histogram["data-report-frames"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(frames > 0, "the histogram saw frames: {histogram:#}");
    let hostile = &observed(&format!("panel_{HOSTILE}"))["attributes"];
    for attempt in ["api", "outside", "parent"] {
        let said = &hostile[format!("data-report-{attempt}")];
        assert_eq!(said, "blocked", "{attempt} ({hostile:#})");
    }
    assert_eq!(session.code, Some(0), "{report}");

    // What the page installed is what the CLI lists.
    let listed: Value = serde_json::from_str(&scratch.ok(&["pkg", "list", "--json"])).unwrap();
    let mut names: Vec<&str> = listed["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["example.effects", "example.grayscale", "example.overlay"],
        "{listed:#}"
    );
    for shot in ["preview-1", "preview-2", "confirm", "upload", "dashboard"] {
        assert!(
            artifacts.join(format!("{shot}.png")).is_file(),
            "{shot}.png"
        );
    }

    panels_are_listed_and_served_sandboxed(&url);

    let stop = scratch.plexus(&["stop", "--runtime", &id]);
    assert_eq!(stop.code, Some(0), "{}", stop.stderr);
    assert_eq!(run.finish().code, Some(0));
    dashboard.signal(libc::SIGTERM);
    let ended = dashboard.finish();
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert_no_residue(&id);
}

/// `/api/panels` lists both panels beside their processors, with their
/// configs, as its schema says; a panel's document comes with the policy
/// that sandboxes it, and a package the pipeline lacks has none.
fn panels_are_listed_and_served_sandboxed(url: &str) {
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {url}"));
    let listed = Request::get("/api/panels").send(addr);
    assert_eq!(listed.status, 200, "{}", listed.text());
    let listed = listed.json();
    assert_matches_schema("dashboard-panels", &listed);
    let panels = listed["panels"].as_array().unwrap();
    let beside = |processor: &str| {
        panels
            .iter()
            .find(|p| {
                p["processors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|q| q == processor)
            })
            .unwrap_or_else(|| panic!("no panel beside {processor}: {listed:#}"))
    };
    let histogram = beside("invert");
    assert_eq!(histogram["package"], "example.effects", "{histogram:#}");
    assert!(histogram["configs"]["invert"].is_object(), "{histogram:#}");
    beside(HOSTILE);

    let frame_url = histogram["url"].as_str().unwrap();
    let frame = Request::get(frame_url).send(addr);
    assert_eq!(frame.status, 200, "{}", frame.text());
    let policy = frame.header("content-security-policy").unwrap_or_default();
    assert!(policy.starts_with("sandbox allow-scripts;"), "{policy}");
    assert!(policy.contains("connect-src 'none'"), "{policy}");
    assert!(
        frame.text().contains("id=\"plexus-panel\""),
        "{}",
        frame.text()
    );
    let absent = Request::get("/panels/acme.absent/1.0.0/frame.html").send(addr);
    assert_eq!(absent.status, 404, "{}", absent.text());
}

/// Node and Chromium, or the reason the test skips.
struct Browser {
    node: PathBuf,
    chromium: PathBuf,
}

impl Browser {
    fn find() -> Option<Browser> {
        let chromium = std::env::var_os("PLEXUS_CHROMIUM")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
        if !chromium.is_file() {
            eprintln!(
                "note: skipped: {} is not installed (scripts/test installs Debian's chromium)",
                chromium.display()
            );
            return None;
        }
        let node = PathBuf::from("node");
        if Command::new(&node).arg("--version").output().is_err() {
            eprintln!("note: skipped: node is not installed (scripts/test installs it)");
            return None;
        }
        let modules = workspace().join("integration-tests/browser/node_modules/playwright-core");
        assert!(
            modules.is_dir(),
            "playwright-core is missing: run `npm ci --prefix integration-tests/browser`"
        );
        Some(Browser { node, chromium })
    }
}

/// The mixed example with one more processor, fed by the camera, whose
/// package ships the hostile panel.
fn mixed_with_hostile_panel(dir: &Path) -> PathBuf {
    let path = example_in(dir, "mixed");
    let text = std::fs::read_to_string(&path).unwrap();
    let hostile = fixture("panel-hostile");
    let text: String = text
        .lines()
        .map(|line| {
            if line.starts_with("packages: [") {
                line.replace(']', &format!(", {}]", hostile.display()))
            } else if line == "processors:" {
                format!("{line}\n  {HOSTILE}: {{ type: test.hostile_pass }}")
            } else if line == "connections:" {
                format!("{line}\n  - camera.out -> {HOSTILE}.in")
            } else {
                line.to_string()
            }
        })
        .map(|line| line + "\n")
        .collect();
    assert!(text.contains("test.hostile_pass"), "{text}");
    std::fs::write(&path, text).unwrap();
    path
}
