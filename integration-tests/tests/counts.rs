//! Honest counts (docs/ARCHITECTURE.md §8): the summary's figures agree
//! with each other on every edge, however often workers die, and a frame
//! that does not fit its schema is its producer's error, caught at send.

use integration_tests::{assert_no_residue, pipeline, spawn_plexus};
use serde_json::Value;

fn processor<'a>(summary: &'a Value, id: &str) -> &'a Value {
    let p = &summary["processors"][id];
    assert!(p.is_object(), "no processor {id} in {summary:#}");
    p
}

fn count(summary: &Value, id: &str, field: &str) -> u64 {
    processor(summary, id)[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{id}.{field} in {summary:#}"))
}

/// A producer that sends 320×240 RGBA frames in 153 600 bytes is told at
/// send, under its own name, whether or not its code passes the error on;
/// nothing reaches its sink, and the log says how many errors it left out.
#[test]
fn a_frame_that_does_not_fit_its_schema_is_its_producers_error() {
    let (tmp, path) = pipeline("wrong-size.yaml", &[]);
    let mut running = spawn_plexus(
        &["run", path.to_str().unwrap(), "--frames", "40", "--json"],
        tmp.path(),
    );
    let id = running.runtime_id();
    let run = running.finish();
    assert_no_residue(&id);
    let summary = run.json();
    for (producer, sink) in [("loud", "loud_sink"), ("quiet", "quiet_sink")] {
        let received = count(&summary, producer, "frames_in");
        assert!(received > 10, "{producer} got too few frames: {summary:#}");
        assert_eq!(
            count(&summary, producer, "errors"),
            received,
            "one error per frame, for {producer}: {summary:#}"
        );
        assert_eq!(count(&summary, producer, "frames_out"), 0, "{summary:#}");
        assert_eq!(count(&summary, sink, "frames_in"), 0, "{summary:#}");
        assert_eq!(count(&summary, sink, "errors"), 0, "{summary:#}");

        let told: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.contains(&format!("processor {producer} error:")))
            .collect();
        assert!(
            told.iter().any(|l| l.contains(
                "(video/rgba8 320x240, stride 1280) needs 307200 bytes but carries 153600"
            )),
            "{producer} is told why its frame was refused:\n{}",
            run.stderr
        );
        let untold = format!(
            "{} more errors were not shown ({received} in all)",
            received - 10
        );
        assert!(
            told.iter().any(|l| l.contains(&untold)),
            "the log says `{untold}` for {producer}:\n{}",
            run.stderr
        );
        assert!(
            !run.stderr.contains(&format!("processor {sink} error")),
            "{sink} is not blamed:\n{}",
            run.stderr
        );
    }
}
