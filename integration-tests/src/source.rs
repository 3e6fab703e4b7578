//! The source scenarios every language shares (issue 15): a continuous or
//! manual source drawing `expect::gradient` into a PNG sink and a stats sink
//! (`pipelines/source.yaml`) produces exactly 300 frames, in order, each
//! pixel as the independent computation says; killed, it comes back and
//! its sequence goes on where it left off; stuck, it is caught by its
//! deadline and restarted (`pipelines/stuck-source.yaml`).

use std::time::Duration;

use crate::crasher::run_frames;
use crate::expect::{gradient, read_png};
use crate::{assert_no_residue, pipeline, ps_worker, spawn_plexus, tapped_seqs};

/// Time a run gets to start (a first run may install numpy or deno).
const START: Duration = Duration::from_secs(180);

/// Runs the source `kind` of the fixture `package` for 300 frames and
/// checks counts, order and pixels.
pub fn produces_exact_gradient(package: &str, kind: &str) {
    const FRAMES: u64 = 300;
    let pipeline = pipeline("source.yaml", &[("package", package), ("type", kind)]);
    let run = run_frames(&pipeline, FRAMES);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "completed", "{summary:#}");
    assert_eq!(summary["processors"]["src"]["frames_out"], FRAMES);
    for sink in ["png", "sink"] {
        assert_eq!(
            summary["processors"][sink]["frames_in"], FRAMES,
            "{summary:#}"
        );
        assert_eq!(summary["processors"][sink]["gaps"], 0, "{summary:#}");
    }
    for n in [0, 1, FRAMES / 2, FRAMES - 1] {
        let image = read_png(&pipeline.0.path().join(format!("png/png-{n:06}.png")));
        assert_eq!((image.width, image.height), (32, 24));
        for (i, pixel) in image.pixels.chunks(4).enumerate() {
            let (x, y) = (i as u32 % 32, i as u32 / 32);
            assert_eq!(pixel, gradient(n, x, y), "frame {n}, pixel ({x}, {y})");
        }
    }
}

/// SIGKILLs the running source `kind` of the fixture `package`: it is
/// restarted, and the frames it sends then carry sequence numbers after
/// the last one sent before the kill.
pub fn resumes_its_sequence_after_a_kill(package: &str, kind: &str) {
    let (tmp, path) = pipeline("source.yaml", &[("package", package), ("type", kind)]);
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    let id = running.runtime_id();
    running.wait_for("processor sink started", START);
    running.wait_for("processor src started", START);
    let before = *tapped_seqs(tmp.path(), &id, "src.out", 5).last().unwrap();
    let pid = ps_worker(tmp.path(), &id, "src")["pid"].as_u64().unwrap() as i32;
    // SAFETY: kill(2) of a worker of our own run.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    running.wait_for("worker src restarted (generation 1", START);
    let after = tapped_seqs(tmp.path(), &id, "src.out", 5);
    assert!(
        after.iter().all(|&seq| seq > before),
        "after the restart: {after:?}, before: {before}"
    );
    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

/// Runs the source `kind` of the fixture `package` with `config`, which
/// makes it get stuck, and the pipeline setting `deadline`: the supervisor
/// kills it for `reason` and restarts it.
pub fn a_stuck_source_is_restarted(
    package: &str,
    kind: &str,
    config: &str,
    deadline: &str,
    reason: &str,
) {
    let (tmp, path) = pipeline(
        "stuck-source.yaml",
        &[
            ("package", package),
            ("type", kind),
            ("config", config),
            ("deadline", deadline),
        ],
    );
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    let id = running.runtime_id();
    running.wait_for(reason, START);
    running.wait_for("worker src restarted (generation 1", START);
    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_no_residue(&id);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}
