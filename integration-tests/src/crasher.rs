//! The supervision scenario that the supervision tests and the language
//! conformance suite share (docs/ARCHITECTURE.md §5): a camera fans out to a plain
//! sink `a` and to a `crasher` that feeds a second sink `b`
//! (`pipelines/fan-out.yaml`). The crasher dies or hangs again and again;
//! each time it is restarted and frames flow through it again, while `a`
//! loses nothing.

use serde_json::Value;

use crate::process::{spawn_plexus, PlexusRun};
use crate::{assert_no_residue, fixture, pipeline};

/// The fan-out pipeline, its crasher of `kind` from the fixture `package`
/// with config `config` (the inside of a YAML map), the supervision
/// `settings` (its `restart:` block and deadlines, as YAML map entries) and
/// the `critical` flag.
pub fn fan_out(
    package: &str,
    kind: &str,
    config: &str,
    settings: &str,
    critical: bool,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let package = fixture(package).display().to_string();
    let critical = critical.to_string();
    pipeline(
        "fan-out.yaml",
        &[
            ("package", &package),
            ("type", kind),
            ("config", config),
            ("settings", settings),
            ("critical", &critical),
        ],
    )
}

/// Runs `pipeline` for `frames` frames with `--json` and checks that the
/// run left nothing behind.
pub fn run_frames(pipeline: &(tempfile::TempDir, std::path::PathBuf), frames: u64) -> PlexusRun {
    let (tmp, path) = pipeline;
    let frames = frames.to_string();
    let run = spawn_plexus(
        &["run", path.to_str().unwrap(), "--frames", &frames, "--json"],
        tmp.path(),
    )
    .finish();
    assert_no_residue(&run.runtime_id().expect("the run started"));
    run
}

/// `a`, fed straight from the camera, saw every frame the camera sent, in
/// order: a crash elsewhere costs the capture nothing.
pub fn a_saw_everything(summary: &Value) {
    let sent = summary["processors"]["cam"]["frames_out"].as_u64().unwrap();
    assert_eq!(summary["processors"]["a"]["frames_in"], sent, "{summary:#}");
    assert_eq!(summary["processors"]["a"]["gaps"], 0, "{summary:#}");
}

/// One way for a worker to die, in one language.
pub struct Crash {
    pub fixture: &'static str,
    pub kind: &'static str,
    /// The crasher fails on every `every`-th frame.
    pub every: u64,
    pub frames: u64,
    /// How the log tells the death, e.g. `exited (signal 11)`.
    pub exit: &'static str,
    /// The worker hangs rather than dies: its frame deadline must kill it.
    pub hangs: bool,
}

/// Dies on its 40th frame and every 40th after; 300 frames take 3 s, room
/// for at most seven deaths (within the budget of ten) and several restarts
/// even on a loaded machine, where a restart may take a second rather than
/// 0.1 s. The frame count must not be a multiple of 40: the crasher would
/// die on the very last frame, as the run stops, and a crash during the stop
/// is final (and fails the run) whatever the policy.
const DIES: (u64, u64) = (40, 300);

/// Hangs on its 400th frame and every 400th after. Its frame deadline
/// ([`HUNG_AFTER_MS`]) kills a hung worker 2–2.1 s into the frame, i.e.
/// about 200 frames at 100 fps, fewer than
/// 400, so each generation hangs at the next multiple: frames 399 (gen 0)
/// and 799 (gen 1) are fatal; gen 2 comes up at ~frame 1050 and the run ends
/// at frame 1159, before 1199, so it never ends with a hung worker (which
/// would miss its stop deadline and fail the run). ~12 s.
const HANGS: (u64, u64) = (400, 1160);

/// The hanging crasher's `frame_timeout_ms`.
const HUNG_AFTER_MS: u64 = 2000;

/// The crasher `kind` of `fixture` dies of itself, as `exit` tells.
pub fn dies(fixture: &'static str, kind: &'static str, exit: &'static str) -> Crash {
    Crash {
        fixture,
        kind,
        every: DIES.0,
        frames: DIES.1,
        exit,
        hangs: false,
    }
}

/// The crasher `kind` of `fixture` hangs in `process`.
pub fn hangs(fixture: &'static str, kind: &'static str) -> Crash {
    Crash {
        fixture,
        kind,
        every: HANGS.0,
        frames: HANGS.1,
        exit: "exited (signal 9)",
        hangs: true,
    }
}

/// The crasher dies (or hangs) again and again, is restarted each time, and
/// passes frames between its deaths, while `a` loses nothing.
pub fn restarts_and_recovers(crash: Crash) {
    let Crash {
        fixture,
        kind,
        every,
        frames,
        exit,
        hangs,
    } = crash;
    assert_ne!(
        frames % every,
        0,
        "the last frame would kill the crasher while the run stops"
    );
    let restart = "restart: { policy: on-failure, max_restarts: 10, backoff_ms: 0 }";
    let settings = match hangs {
        true => format!("{restart}, frame_timeout_ms: {HUNG_AFTER_MS}"),
        false => restart.to_string(),
    };
    let pipeline = fan_out(fixture, kind, &format!("every: {every}"), &settings, false);
    let run = run_frames(&pipeline, frames);
    let log = &run.stderr;
    assert_eq!(run.code, Some(0), "{log}");
    let summary = run.json();
    assert_eq!(summary["outcome"], "completed", "{summary:#}\n{log}");
    assert_eq!(summary["processors"]["cam"]["frames_out"], frames);
    a_saw_everything(&summary);

    let crasher = &summary["workers"]["crasher"];
    assert!(
        crasher["restarts"].as_u64().unwrap() >= 2,
        "{crasher}\n{log}"
    );
    assert_eq!(crasher["failure"], Value::Null, "{crasher}");
    assert_ne!(crasher["state"], "failed", "{crasher}");
    assert!(
        log.contains(&format!("worker crasher {exit}")),
        "the log tells how the crasher died (`{exit}`):\n{log}"
    );
    if hangs {
        // Told as a slow frame first, then acted on.
        let slow = log
            .find("processor crasher has spent ")
            .unwrap_or_else(|| panic!("no slow frame told:\n{log}"));
        assert!(
            log[slow..].contains(&format!("past its frame_timeout_ms of {HUNG_AFTER_MS}")),
            "{log}"
        );
        let killed = log
            .find("worker crasher missed its frame deadline")
            .unwrap_or_else(|| panic!("no kill for the frame deadline:\n{log}"));
        assert!(slow < killed, "{log}");
    }
    for line in [
        "input b.in closed",
        "worker crasher restarting (attempt 1, in 0 ms)",
        "worker crasher restarted (generation 1, pid ",
        "input b.in recovered",
    ] {
        assert!(log.contains(line), "no `{line}` in the log:\n{log}");
    }

    // One generation passes at most `every - 1` frames before it dies: `b`
    // got more, so frames flowed again after a restart.
    let through = summary["processors"]["b"]["frames_in"].as_u64().unwrap();
    assert!(
        through > every - 1,
        "b got {through} frames, no more than the first crasher could pass:\n{summary:#}\n{log}"
    );
}
