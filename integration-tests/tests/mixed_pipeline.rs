//! The flagship pipeline as a newcomer meets it: `examples/mixed` sends every
//! captured frame through a Rust plugin, a Python effect and a TypeScript
//! overlay without losing one, and the PNG shows all four stages exactly;
//! killed effects come back while capture runs on, as another terminal sees;
//! and the demo command the README gives is the one that runs it. Its twin
//! `examples/python-capture` has the capture written in Python (a manual
//! source): an effect killed, the capture loses nothing; the capture killed,
//! it comes back and its sequence goes on.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use integration_tests::expect::{
    inverted, pattern_rgba, read_png, sepia_of, with_counter_bar, Image,
};
use integration_tests::{
    assert_no_residue, example_at_half_rate, example_in, plexus, plexus_checked, ps_worker,
    spawn_plexus, spawn_program, tapped_seqs, worker_language, workspace, MIXED_PROCESSORS,
};
use serde_json::Value;

/// Each test runs seven workers; one at a time keeps a 2-core machine from
/// dropping frames because of another test rather than plexus.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const FRAMES: u64 = 600;

#[test]
fn every_frame_crosses_all_four_stages_and_the_png_shows_each_of_them() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (tmp, path) = mixed_example();
    let frames = FRAMES.to_string();
    let run = plexus_checked(
        &["run", path.to_str().unwrap(), "--frames", &frames, "--json"],
        tmp.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "completed", "{summary:#}");
    assert_runs_the_mixed_pipeline(&summary);
    // Every count at once, so a loss shows where it happened.
    let counts: Vec<(&str, &Value)> = MIXED_PROCESSORS
        .iter()
        .map(|(name, _)| (*name, &summary["processors"][name]))
        .collect();
    let handled_all = |name: &str, p: &Value| {
        let expected_in = if name == "camera" { 0 } else { FRAMES };
        let expected_out = match name {
            "capture_stats" | "stats" | "png" => 0,
            _ => FRAMES,
        };
        p["frames_in"] == expected_in
            && p["frames_out"] == expected_out
            && p["dropped"] == 0
            && p["gaps"] == 0
            && p["errors"] == 0
    };
    assert!(
        counts.iter().all(|(name, p)| handled_all(name, p)),
        "every processor handles all {FRAMES} frames: {counts:#?}\n{}",
        run.stderr
    );

    // The sink writes every 100th frame: 500 is the last, and latest.png.
    let last = FRAMES - 100;
    let image = read_png(&tmp.path().join(format!("png/png-{last:06}.png")));
    assert_is_frame(&image, last);
    assert_eq!(
        read_png(&tmp.path().join("png/latest.png")).pixels,
        image.pixels
    );
}

/// The crash journey (issue 8, "Must show" 2 and 3): while the pipeline
/// runs, the Python, then the Deno, then the Rust plugin worker is killed
/// with SIGKILL, found by its pid in `plexus ps --json`. Each comes back and
/// frames flow through the whole main branch again, the capture branch loses
/// nothing, a separate `plexus events --follow --json` sees the three crashes
/// and restarts in order, and `plexus stop` from a third process ends the run
/// with exit 0.
#[test]
fn killed_effects_come_back_capture_loses_nothing_and_a_watcher_sees_it_all() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (tmp, path) = mixed_example();
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    let id = running.runtime_id();
    for (name, _) in MIXED_PROCESSORS {
        running.wait_for(&format!("processor {name} started"), START);
    }
    let mut watcher = spawn_plexus(
        &["events", "--follow", "--json", "--runtime", &id],
        tmp.path(),
    );
    watcher.wait_for(&format!("following runtime {id}"), START);

    let victims = [("invert", "python"), ("bar", "deno"), ("sepia", "rust")];
    for (victim, language) in victims {
        let before = ps_worker(tmp.path(), &id, victim);
        assert_eq!(worker_language(&before), language, "{before:#}");
        assert_eq!(before["state"], "running", "{before:#}");
        assert_eq!(before["restarts"], 0, "{before:#}");
        let last_seen = *tapped_seqs(tmp.path(), &id, LAST_EFFECT, 1).last().unwrap();
        let pid = before["pid"].as_u64().unwrap() as i32;
        // SAFETY: kill(2) of a worker of our own run.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);

        running.wait_for(&format!("worker {victim} restarted (generation 1"), START);
        let after = ps_worker(tmp.path(), &id, victim);
        assert_ne!(after["pid"], pid, "{after:#}");
        assert_eq!(after["restarts"], 1, "{after:#}");
        // Frames leave the last effect again, newer than any before the kill.
        let seqs = tapped_seqs(tmp.path(), &id, LAST_EFFECT, 3);
        assert!(
            seqs.iter().all(|&s| s > last_seen),
            "after {victim} restarted: {seqs:?}, before: {last_seen}"
        );
    }

    let stop = plexus(&["stop", "--runtime", &id], tmp.path());
    assert_eq!(stop.code, Some(0), "{}", stop.stderr);
    let run = running.finish();
    let watched = watcher.finish();
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "stopped", "{summary:#}");
    let p = &summary["processors"];
    let captured = p["camera"]["frames_out"].as_u64().unwrap();
    assert!(captured > 0, "{summary:#}");
    assert_eq!(p["capture_stats"]["frames_in"], captured, "{summary:#}");
    assert_eq!(p["capture_stats"]["dropped"], 0, "{summary:#}");
    assert_eq!(p["capture_stats"]["gaps"], 0, "{summary:#}");
    for (victim, _) in victims {
        assert_eq!(summary["workers"][victim]["restarts"], 1, "{summary:#}");
    }

    assert_eq!(watched.code, Some(0), "{}", watched.stderr);
    let events = watched.json_lines();
    assert_eq!(events[0]["kind"], "runtime_started");
    assert_eq!(events[0]["runtime"], id.as_str());
    // The workers' story: the three crashes and restarts, in the order of
    // the kills, and no other worker leaving before the stop.
    let story: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| {
            matches!(
                e["kind"].as_str(),
                Some(
                    "worker_exited" | "worker_restarting" | "worker_restarted" | "runtime_stopping"
                )
            )
        })
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["worker"].as_str().unwrap_or(""),
            )
        })
        .take_while(|(kind, _)| *kind != "runtime_stopping")
        .collect();
    let expected: Vec<(&str, &str)> = victims
        .iter()
        .flat_map(|(victim, _)| {
            [
                ("worker_exited", *victim),
                ("worker_restarting", *victim),
                ("worker_restarted", *victim),
            ]
        })
        .collect();
    assert_eq!(story, expected, "{}", watched.stdout);
    for exited in events
        .iter()
        .filter(|e| e["kind"] == "worker_exited")
        .take(3)
    {
        assert_eq!(exited["exit"]["signal"], libc::SIGKILL, "{exited:#}");
    }
    assert_eq!(events.last().unwrap()["kind"], "runtime_stopped");
}

/// `examples/python-capture` runs 600 frames while its Python effect is
/// killed: the Python capture's own sink gets every frame, in order, and the
/// PNG shows a frame of the Python capture through all four stages.
#[test]
fn a_python_capture_loses_nothing_while_an_effect_is_killed() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let path = example_in(tmp.path(), "python-capture");
    let frames = FRAMES.to_string();
    let mut running = spawn_plexus(
        &["run", path.to_str().unwrap(), "--frames", &frames, "--json"],
        tmp.path(),
    );
    let id = running.runtime_id();
    running.wait_for("processor invert started", START);
    let victim = ps_worker(tmp.path(), &id, "invert");
    assert_eq!(worker_language(&victim), "python", "{victim:#}");
    let pid = victim["pid"].as_u64().unwrap() as i32;
    // SAFETY: kill(2) of a worker of our own run.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    running.wait_for("worker invert restarted (generation 1", START);
    let run = running.finish();
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    let p = &summary["processors"];
    assert_eq!(worker_language(&summary["workers"]["camera"]), "python");
    assert_eq!(p["camera"]["frames_out"], FRAMES, "{summary:#}");
    for counter in ["dropped", "gaps", "errors"] {
        assert_eq!(p["capture_stats"][counter], 0, "{counter}: {summary:#}");
    }
    assert_eq!(p["capture_stats"]["frames_in"], FRAMES, "{summary:#}");
    let last = FRAMES - 100;
    assert_is_frame(
        &read_png(&tmp.path().join(format!("png/png-{last:06}.png"))),
        last,
    );
}

/// `examples/python-capture` with its capture killed: it is restarted, the
/// frames it sends then go on after the last sequence number sent before,
/// and its consumers are told the input closed and recovered.
#[test]
fn a_killed_python_capture_comes_back_and_its_sequence_goes_on() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let path = example_in(tmp.path(), "python-capture");
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    let id = running.runtime_id();
    for (name, _) in MIXED_PROCESSORS {
        running.wait_for(&format!("processor {name} started"), START);
    }
    let before = *tapped_seqs(tmp.path(), &id, "camera.out", 5)
        .last()
        .unwrap();
    let pid = ps_worker(tmp.path(), &id, "camera")["pid"]
        .as_u64()
        .unwrap() as i32;
    // SAFETY: kill(2) of a worker of our own run.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    running.wait_for("worker camera restarted (generation 1", START);
    for consumer in ["capture_stats", "sepia"] {
        running.wait_for(&format!("input {consumer}.in closed"), START);
        running.wait_for(&format!("input {consumer}.in recovered"), START);
    }
    let after = tapped_seqs(tmp.path(), &id, "camera.out", 5);
    assert!(
        after.iter().all(|&seq| seq > before),
        "after the restart: {after:?}, before: {before}"
    );
    let stop = plexus(&["stop", "--runtime", &id], tmp.path());
    assert_eq!(stop.code, Some(0), "{}", stop.stderr);
    let run = running.finish();
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["workers"]["camera"]["restarts"], 1);
}

#[test]
fn the_demo_command_in_the_readme_runs_the_mixed_pipeline() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let root = workspace();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let commands = first_sh_block(&readme);
    assert_eq!(
        commands,
        ["./scripts/demo", "./scripts/test"],
        "the README opens with exactly the two commands"
    );

    // The script builds the release binaries first; CI has built them
    // already (scripts/test), so this costs a cargo up-to-date check. Like a
    // user's run, it writes its PNGs to the repository's plexus-out/.
    let started = SystemTime::now();
    let demo = spawn_program(
        &root.join(&commands[0]),
        &["--frames", "60", "--json"],
        &root,
        &[],
    );
    let run = demo.finish_within(Duration::from_secs(20 * 60)).checked();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "completed", "{summary:#}");
    assert_runs_the_mixed_pipeline(&summary);
    for sink in ["capture_stats", "stats", "png"] {
        assert_eq!(summary["processors"][sink]["frames_in"], 60, "{sink}");
    }
    // Shared memory is reserved as frames use it: each output holds the
    // slots its frames wrote and at most three more (docs/ARCHITECTURE.md
    // §3), not a slot for all its subscribers could hold (52 here).
    const FRAME: u64 = 640 * 480 * 4;
    const SLOT: u64 = 2 << 20;
    for producer in ["camera", "sepia", "invert", "bar"] {
        let line = &summary["processors"][producer];
        let touched = line["shm_touched_bytes"].as_u64().unwrap();
        let reserved = line["shm_reserved_bytes"].as_u64().unwrap();
        assert!(touched >= FRAME, "{producer}: {line}");
        assert!(
            reserved >= touched && reserved <= touched + 4 * SLOT,
            "{producer}: {line}"
        );
    }

    let out = root.join("plexus-out/mixed-demo");
    let told = format!("are in {}/", out.display());
    assert!(
        run.stderr.contains(&told),
        "the demo says where the PNGs are (`{told}`):\n{}",
        run.stderr
    );
    let latest = std::fs::metadata(out.join("latest.png")).expect("latest.png");
    assert!(
        latest.modified().unwrap() >= started,
        "latest.png was written by this run"
    );
}

/// `examples/mixed/pipeline.yaml` copied into a temporary directory, at half
/// the demo's rate.
fn mixed_example() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let path = example_at_half_rate(tmp.path(), "mixed");
    (tmp, path)
}

/// The summary is of `examples/mixed/pipeline.yaml`: its processors, each in
/// a worker of the right language.
fn assert_runs_the_mixed_pipeline(summary: &Value) {
    let mut names: Vec<&str> = summary["processors"]
        .as_object()
        .expect("processors")
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    let mut expected: Vec<&str> = MIXED_PROCESSORS.iter().map(|(name, _)| *name).collect();
    expected.sort_unstable();
    assert_eq!(names, expected, "{summary:#}");
    for (name, language) in MIXED_PROCESSORS {
        assert_eq!(
            worker_language(&summary["workers"][name]),
            language,
            "{name}"
        );
    }
}

/// `image` is frame `n` of the test pattern, toned sepia, inverted, with the
/// frame-counter bar on top, pixel for pixel.
fn assert_is_frame(image: &Image, n: u64) {
    assert_eq!((image.width, image.height), (640, 480));
    assert_eq!(image.color, png::ColorType::Rgba);
    for y in 0..image.height {
        for x in 0..image.width {
            let expected = with_counter_bar(
                n,
                image.width,
                x,
                y,
                inverted(sepia_of(pattern_rgba(n, x, y))),
            );
            let i = ((y * image.width + x) * 4) as usize;
            assert_eq!(
                image.pixels[i..i + 4],
                expected,
                "frame {n}, pixel ({x}, {y})"
            );
        }
    }
}

/// How long a runtime may take to start, or a worker to come back, on a
/// loaded machine (the first start may install numpy and deno).
const START: Duration = Duration::from_secs(60);

/// The port of the last effect, where frames leave the main branch.
const LAST_EFFECT: &str = "bar.out";

/// The commands of the first ```sh block of a Markdown text, without their
/// comments.
fn first_sh_block(markdown: &str) -> Vec<String> {
    let start = markdown.find("```sh\n").expect("a ```sh block") + "```sh\n".len();
    let block = &markdown[start..];
    let block = &block[..block.find("```").expect("the block ends")];
    block
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim().to_string())
        .filter(|command| !command.is_empty())
        .collect()
}

#[test]
fn commands_are_read_from_the_first_sh_block() {
    let text = "# x\n```yaml\na: 1\n```\n```sh\n./a --b   # does a\n\n./c\n```\n```sh\n./d\n```\n";
    assert_eq!(first_sh_block(text), ["./a --b", "./c"]);
}
