//! `plexus dashboard` over plain HTTP, against a real runtime: its security
//! (the token beyond localhost, Host and Origin checks, nothing served
//! from outside the binary), the JSON routes in the CLI's shapes, previews
//! that decode, actions, /metrics read by Prometheus's own parser and
//! agreeing with the run's summary, and installs by upload that refuse a
//! hostile archive or a clash and leave the store as it was.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use integration_tests::dashboard::Dashboard;
use integration_tests::detached::{start_detached, Data};
use integration_tests::http::{Request, Response};
use integration_tests::store::{path_arg, Scratch};
use integration_tests::{assert_matches_schema, assert_no_residue, example_package, pipeline};
use serde_json::{json, Value};

/// How long the dashboard may take to show what the runtime does.
const SHOWN: Duration = Duration::from_secs(30);

/// Polls `request` until `done` says its answer is the one awaited.
fn poll(
    dashboard: &Dashboard,
    request: impl Fn() -> Request<'static>,
    done: impl Fn(&Response) -> bool,
) -> Response {
    let end = Instant::now() + SHOWN;
    loop {
        let response = request().send(dashboard.addr);
        if done(&response) {
            return response;
        }
        assert!(
            Instant::now() < end,
            "not within {SHOWN:?}: {} {}",
            response.status,
            response.text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn get(dashboard: &Dashboard, path: &str) -> Response {
    Request::get(path).send(dashboard.addr)
}

/// The token a page opened at `path` is given in its meta tag.
fn page_token(dashboard: &Dashboard, path: &str) -> String {
    get(dashboard, path)
        .text()
        .split(r#"<meta name="plexus-token" content=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the token's meta tag")
        .to_string()
}

/// Every processor's counts, from a status (`top --json`).
fn counts(status: &Value) -> BTreeMap<String, (u64, u64)> {
    status["workers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["processors"].as_array().unwrap())
        .map(|p| {
            let id = p["processor"].as_str().unwrap().to_string();
            (
                id,
                (
                    p["frames_in"].as_u64().unwrap(),
                    p["frames_out"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

#[test]
fn a_live_runtime_is_served_safely_in_the_clis_shapes_and_its_metrics_agree_with_its_summary() {
    let data = Data::new();
    let (tmp, path) = pipeline("dashboard.yaml", &[]);
    let run = start_detached(&data, &path, tmp.path(), &[]);
    // Named, since other tests' runtimes may run beside it.
    let mut dashboard = Dashboard::start(
        data.path(),
        &["--runtime", &run.id, "--listen", "127.0.0.1:0"],
        tmp.path(),
    );
    assert!(
        dashboard
            .line
            .contains(&format!("dashboard for runtime {}", run.id)),
        "{}",
        dashboard.line
    );
    let port = dashboard.addr.port();

    // The page and its policy; its token only for whoever opened the address
    // printed at start: on the loopback anyone may read, only they may act.
    let page = get(&dashboard, "/");
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(
        page_token(&dashboard, "/"),
        "",
        "a reader is not given the token"
    );
    let token = page_token(&dashboard, &format!("/?token={}", dashboard.token));
    assert_eq!(token, dashboard.token);
    assert_eq!(token.len(), 32, "{token}");
    let csp = page.header("content-security-policy").unwrap_or("");
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    for asset in [
        "/assets/app.js",
        "/assets/style.css",
        "/assets/panel-frame.js",
    ] {
        assert_eq!(get(&dashboard, asset).status, 200, "{asset}");
    }
    for outside in [
        "/assets/../Cargo.toml",
        "/assets/%2e%2e/Cargo.toml",
        "/../../etc/passwd",
        "/Cargo.toml",
        "/assets/index.html",
        "/assets/nothing.js",
    ] {
        let response = get(&dashboard, outside);
        assert_eq!(response.status, 404, "{outside}: {}", response.text());
        assert!(response.json()["error"].is_string(), "{outside}");
    }
    // DNS rebinding: a request for another host name is refused.
    let rebound = Request::get("/api/status")
        .header("Host", format!("evil.example:{port}"))
        .send(dashboard.addr);
    assert_eq!(rebound.status, 403, "{}", rebound.text());

    // WebSockets: another origin is refused, our own gets the feed.
    let (status, _) = Request::get("/api/live")
        .header("Origin", "http://evil.example")
        .upgrade(dashboard.addr);
    assert_eq!(status, 403);
    let (status, hello) = Request::get("/api/live")
        .header("Origin", format!("http://{}", dashboard.addr))
        .upgrade(dashboard.addr);
    assert_eq!(status, 101);
    assert_eq!(
        hello,
        Some(json!({"kind": "hello", "runtime": run.id, "others": [], "token_required": false}))
    );

    // Actions need the token, from our own origin.
    let pause = || Request::post("/api/pause", b"{\"processor\": \"cam\"}");
    assert_eq!(pause().send(dashboard.addr).status, 401);
    let wrong = pause()
        .header("X-Plexus-Token", "0".repeat(32))
        .send(dashboard.addr);
    assert_eq!(wrong.status, 401);
    let foreign = pause()
        .header("X-Plexus-Token", token.clone())
        .header("Origin", "http://evil.example")
        .send(dashboard.addr);
    assert_eq!(foreign.status, 403);

    // The JSON routes answer in the CLI's shapes.
    let status = poll(
        &dashboard,
        || Request::get("/api/status"),
        |r| {
            r.status == 200
                && r.json()["workers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|w| w["processors"].as_array().unwrap())
                    .all(|p| p["fps_in"].as_f64() > Some(0.0) || p["fps_out"].as_f64() > Some(0.0))
        },
    )
    .json();
    assert_matches_schema("top", &status);
    assert_eq!(status["runtime"], run.id.as_str());
    let runs = get(&dashboard, "/api/runs").json();
    assert_matches_schema("runs", &runs);
    assert_eq!(runs["runs"][0]["runtime"], run.id.as_str());
    assert_eq!(runs["runs"][0]["state"], "running");
    let graph = get(&dashboard, "/api/graph").json();
    assert_matches_schema("graph", &graph);
    assert_eq!(graph["edges"].as_array().unwrap().len(), 3, "{graph:#}");
    let events = get(&dashboard, "/api/events").json();
    let events = events.as_array().expect("an array of events");
    assert!(
        events.iter().any(|e| e["kind"] == "runtime_started"),
        "{events:?}"
    );
    for event in events {
        assert_matches_schema("events", event);
    }
    let logs = get(&dashboard, "/api/logs/tick");
    assert_eq!(logs.status, 200, "{}", logs.text());
    for line in logs.json().as_array().unwrap() {
        assert_matches_schema("logs", line);
    }
    let unknown = get(&dashboard, "/api/logs/nobody");
    assert_eq!(unknown.status, 404);
    assert!(unknown.json()["error"]
        .as_str()
        .unwrap()
        .contains("no worker `nobody`"));
    assert_eq!(get(&dashboard, "/api/runs/0badc0de/summary").status, 404);
    assert_eq!(
        get(&dashboard, "/api/runs/..%2f..%2fetc/summary").status,
        404
    );

    // Previews: a JPEG of the right size that decodes, raw RGBA, and the
    // ports that have none.
    let jpeg = poll(
        &dashboard,
        || Request::get("/api/preview/cam/out?max_width=160"),
        |r| r.status != 503,
    );
    assert_eq!(jpeg.status, 200, "{}", jpeg.text());
    assert_eq!(jpeg.header("content-type"), Some("image/jpeg"));
    assert_eq!(jpeg.header("cache-control"), Some("no-store"));
    assert!(jpeg.header("x-plexus-seq").is_some());
    let mut decoder = zune_jpeg::JpegDecoder::new(zune_jpeg::zune_core::bytestream::ZCursor::new(
        &jpeg.body[..],
    ));
    let pixels = decoder.decode().expect("the preview decodes");
    assert_eq!(decoder.dimensions(), Some((160, 120)));
    assert!(
        pixels.iter().any(|&p| p != pixels[0]),
        "a picture, not a blank"
    );
    let rgba = get(&dashboard, "/api/preview/cam/out?max_width=64&format=rgba");
    assert_eq!(rgba.status, 200, "{}", rgba.text());
    assert_eq!(
        (
            rgba.header("x-plexus-width"),
            rgba.header("x-plexus-height")
        ),
        (Some("64"), Some("48"))
    );
    assert_eq!(rgba.body.len(), 64 * 48 * 4);
    let no_processor = get(&dashboard, "/api/preview/nobody/out");
    assert_eq!(no_processor.status, 404);
    assert!(no_processor.json()["error"]
        .as_str()
        .unwrap()
        .contains("has no processor `nobody`"));
    let no_port = get(&dashboard, "/api/preview/cam/nothing");
    assert_eq!(no_port.status, 404);
    assert!(no_port.json()["error"]
        .as_str()
        .unwrap()
        .contains("has no output `nothing`"));
    let bytes = poll(
        &dashboard,
        || Request::get("/api/preview/tick/out"),
        |r| r.status != 503,
    );
    assert_eq!(bytes.status, 415, "{}", bytes.text());
    assert_eq!(
        get(&dashboard, "/api/preview/cam/out?format=gif").status,
        400
    );

    // Pause everything through the dashboard, so the counts stand still,
    // then stop the run: /metrics, from the last status the dashboard
    // kept, agrees with the summary.
    let paused = Request::post("/api/pause", b"")
        .header("X-Plexus-Token", token.clone())
        .header("Origin", format!("http://{}", dashboard.addr))
        .send(dashboard.addr);
    assert_eq!((paused.status, paused.json()), (200, json!({"ok": true})));
    let refused = Request::post("/api/pause", b"{\"processor\": \"nobody\"}")
        .header("X-Plexus-Token", token.clone())
        .send(dashboard.addr);
    assert_eq!(refused.status, 400, "{}", refused.text());
    let mut last = counts(&get(&dashboard, "/api/status").json());
    let end = Instant::now() + SHOWN;
    loop {
        std::thread::sleep(Duration::from_millis(2500));
        let now = counts(&get(&dashboard, "/api/status").json());
        if now == last {
            break;
        }
        assert!(
            Instant::now() < end,
            "the counts never stood still: {now:?}"
        );
        last = now;
    }
    // Ctrl-C, as a user ends a run (its summary says `stopped`).
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(data.run_dir(&run.id).join("run.json")).unwrap(),
    )
    .unwrap();
    // SAFETY: kill(2) of the run's own supervisor.
    unsafe { libc::kill(info["pid"].as_u64().unwrap() as i32, libc::SIGINT) };
    let summary = data.plexus(&["wait", &run.id, "--json"], tmp.path()).json();
    assert_eq!(summary["outcome"], "stopped", "{summary:#}");
    dashboard.wait_for(
        &format!("runtime {} ended; the dashboard keeps showing it", run.id),
        SHOWN,
    );
    let metrics = get(&dashboard, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    match prometheus_samples(&metrics.text()) {
        None => eprintln!("note: Python's prometheus_client is not installed (scripts/test installs it): the parse check skips"),
        Some(samples) => agree_with_summary(&samples, &summary, &run.id),
    }
    let ended = dashboard.stop();
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    drop(run);
    assert_no_residue_of_dashboard(&ended.stderr);
}

/// The dashboard left none of its own files in /dev/shm: the runtime's
/// files are all gone.
fn assert_no_residue_of_dashboard(log: &str) {
    let id = log
        .split("dashboard for runtime ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the start line");
    assert_no_residue(id);
}

/// Every sample of a Prometheus text page as Prometheus's own Python
/// parser reads it: (name, labels, value); `None` without the parser.
fn prometheus_samples(text: &str) -> Option<Vec<Sample>> {
    let installed = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        return None;
    }
    let script = "import sys, json\n\
from prometheus_client.parser import text_string_to_metric_families\n\
print(json.dumps([[s.name, s.labels, s.value] for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]))\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "Prometheus's parser refused the page: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<Sample> = serde_json::from_slice(&out.stdout).unwrap();
    Some(parsed)
}

/// A sample's name, labels and value.
type Sample = (String, BTreeMap<String, String>, f64);
type Samples = [Sample];

fn agree_with_summary(samples: &Samples, summary: &Value, runtime: &str) {
    let sum = |name: &str, processor: &str, direction: Option<&str>| -> u64 {
        samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && l["processor"] == processor
                    && l["runtime"] == runtime
                    && direction.is_none_or(|d| l["direction"] == d)
            })
            .map(|(_, _, v)| *v as u64)
            .sum()
    };
    let processors = summary["processors"].as_object().unwrap();
    assert_eq!(processors.len(), 4, "{summary:#}");
    for (id, p) in processors {
        let frames_in = sum("plexus_port_frames_total", id, Some("in"));
        let frames_out = sum("plexus_port_frames_total", id, Some("out"));
        assert_eq!(
            (frames_in, frames_out),
            (
                p["frames_in"].as_u64().unwrap(),
                p["frames_out"].as_u64().unwrap()
            ),
            "{id}: /metrics against the summary"
        );
        assert_eq!(
            sum("plexus_port_gaps_total", id, None),
            p["gaps"].as_u64().unwrap(),
            "{id}"
        );
        assert_eq!(
            sum("plexus_processor_errors_total", id, None),
            p["errors"].as_u64().unwrap(),
            "{id}"
        );
    }
    assert!(sum("plexus_port_frames_total", "cam", Some("out")) > 0);
    let names: std::collections::BTreeSet<&str> =
        samples.iter().map(|(n, _, _)| n.as_str()).collect();
    for name in [
        "plexus_port_dropped_total",
        "plexus_port_latency_seconds_bucket",
        "plexus_port_latency_seconds_count",
        "plexus_worker_restarts_total",
        "plexus_worker_cpu_seconds_total",
        "plexus_worker_rss_bytes",
        "plexus_runtime_uptime_seconds",
        "plexus_events_total",
    ] {
        assert!(names.contains(name), "no {name} in {names:?}");
    }
    // The latency histogram has counted the sink's frames, and the workers
    // have used CPU.
    let latency_count = samples
        .iter()
        .find(|(n, l, _)| n == "plexus_port_latency_seconds_count" && l["processor"] == "sink")
        .map(|(_, _, v)| *v as u64);
    assert!(latency_count > Some(0), "{latency_count:?}");
    let cpu: f64 = samples
        .iter()
        .filter(|(n, _, _)| n == "plexus_worker_cpu_seconds_total")
        .map(|(_, _, v)| v)
        .sum();
    assert!(cpu > 0.0, "no CPU time in /metrics");
    let started = samples
        .iter()
        .find(|(n, l, _)| n == "plexus_events_total" && l["kind"] == "runtime_started");
    assert_eq!(started.map(|(_, _, v)| *v), Some(1.0));
}

#[test]
fn beyond_localhost_every_request_needs_the_token() {
    let data = Data::new();
    let tmp = tempfile::tempdir().unwrap();
    let dashboard = Dashboard::start(data.path(), &["--listen", "0.0.0.0:0"], tmp.path());
    let token = dashboard.token.clone();
    assert_eq!(token.len(), 32);
    for path in ["/", "/api/runs", "/metrics", "/assets/app.js", "/nothing"] {
        assert_eq!(get(&dashboard, path).status, 401, "{path}");
    }
    let (status, _) = Request::get("/api/live")
        .header("Origin", format!("http://{}", dashboard.addr))
        .upgrade(dashboard.addr);
    assert_eq!(status, 401);
    let wrong = Request::get("/api/runs")
        .header("X-Plexus-Token", "f".repeat(32))
        .send(dashboard.addr);
    assert_eq!(wrong.status, 401);
    // The token as the start line gives it sets the cookie the page uses.
    let first = get(&dashboard, &format!("/?token={token}"));
    assert_eq!(first.status, 200);
    let cookie = first.header("set-cookie").expect("a cookie").to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_string();
    let with_cookie = Request::get("/api/runs")
        .header("Cookie", cookie)
        .send(dashboard.addr);
    assert_eq!(with_cookie.status, 200, "{}", with_cookie.text());
    let bearer = Request::get("/metrics")
        .header("Authorization", format!("Bearer {token}"))
        .send(dashboard.addr);
    assert_eq!(bearer.status, 200);
    // Past the token: a status, or 503 while no runtime runs on the machine.
    let status = Request::get("/api/status")
        .header("X-Plexus-Token", token.clone())
        .send(dashboard.addr);
    assert!(matches!(status.status, 200 | 503), "{}", status.text());
    let ended = dashboard.stop();
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);

    // A token of one's own must be one.
    let short = data.plexus(
        &["dashboard", "--listen", "0.0.0.0:0", "--token", "abc"],
        tmp.path(),
    );
    assert_eq!(short.code, Some(2));
    assert!(
        short.stderr.contains("--token must be 16 to 128"),
        "{}",
        short.stderr
    );
}

/// Copies the files and folders of `from` into a new `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// `plexus pack DIR` in the scratch directory; the archive's bytes.
fn packed(s: &Scratch, dir: &Path, name: &str) -> Vec<u8> {
    let out = s.path().join(name);
    s.ok(&["pack", path_arg(dir), "-o", path_arg(&out)]);
    std::fs::read(out).unwrap()
}

#[test]
fn uploads_install_as_pkg_install_does_and_refusals_leave_the_store_alone() {
    let s = Scratch::new();
    s.ok(&["pkg", "install", path_arg(&example_package("overlay-deno"))]);
    let deno = packed(&s, &example_package("overlay-deno"), "deno.plexpkg");
    let python = packed(&s, &example_package("effects-python"), "python.plexpkg");
    // The Python example renamed: a package of its own declaring a type
    // another installed package declares.
    let twin = s.path().join("twin");
    copy_dir(&example_package("effects-python"), &twin);
    let manifest = std::fs::read_to_string(twin.join("plexus.yaml")).unwrap();
    let renamed = manifest.replacen("name: example.effects", "name: example.twin", 1);
    assert_ne!(
        renamed, manifest,
        "the example's package name moved:\n{manifest}"
    );
    std::fs::write(twin.join("plexus.yaml"), renamed).unwrap();

    let dashboard = Dashboard::start(&s.data(), &["--listen", "127.0.0.1:0"], s.path());
    let addr = dashboard.addr;
    let token = dashboard.token.clone();
    let upload = |path: &'static str, body: &[u8]| {
        Request::post(path, body)
            .header("X-Plexus-Token", token.clone())
            .header("Content-Type", "application/octet-stream")
            .send(addr)
    };

    let before = s.snapshot();
    let hostile = integration_tests::store::escaping_archive();
    for path in ["/api/packages/inspect", "/api/packages"] {
        let refused = upload(path, &hostile);
        assert_eq!(refused.status, 400, "{path}: {}", refused.text());
        let error = refused.json()["error"].as_str().unwrap().to_string();
        assert!(
            error.contains("../../escaped.py") && error.contains("unsafe path"),
            "{error}"
        );
    }
    let again = upload("/api/packages", &deno);
    assert_eq!(again.status, 409, "{}", again.text());
    assert!(again.json()["error"]
        .as_str()
        .unwrap()
        .contains("already installed"));
    let garbage = upload("/api/packages", b"not a zip at all");
    assert_eq!(garbage.status, 400, "{}", garbage.text());
    assert!(garbage.json()["error"]
        .as_str()
        .unwrap()
        .starts_with("uploaded package: "));
    assert_eq!(upload("/api/packages", b"").status, 400);
    assert_eq!(s.snapshot(), before, "a refused upload changed the store");

    // The page shows what a package asks for before it is installed.
    let inspected = upload("/api/packages/inspect", &python);
    assert_eq!(inspected.status, 200, "{}", inspected.text());
    assert_matches_schema("package", &inspected.json());
    assert_eq!(inspected.json()["name"], "example.effects");
    let installed = upload("/api/packages", &python);
    assert_eq!(installed.status, 201, "{}", installed.text());
    assert_eq!(installed.json()["installed"]["package"], "example.effects");
    let listed = s.plexus(&["pkg", "list", "--json"]).json();
    let names: Vec<&str> = listed["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"example.effects"), "{names:?}");

    // A package of its own declaring a type an installed one declares.
    let twin = packed(&s, &twin, "twin.plexpkg");
    let before_twin = s.snapshot();
    let clash = upload("/api/packages", &twin);
    assert_eq!(clash.status, 409, "{}", clash.text());
    assert!(clash.json()["error"]
        .as_str()
        .unwrap()
        .contains("both declare processor type"));
    assert_eq!(
        s.snapshot(),
        before_twin,
        "a refused upload changed the store"
    );
    let ended = dashboard.stop();
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
}
