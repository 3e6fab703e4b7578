//! The source scenario every language shares (issue 15): a continuous
//! source drawing `expect::gradient` into a PNG sink and a stats sink
//! (`pipelines/source.yaml`) produces exactly 300 frames, in order, each
//! pixel as the independent computation says.

use crate::crasher::run_frames;
use crate::expect::{gradient, read_png};
use crate::pipeline;

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
        assert_eq!(summary["processors"][sink]["seq_gaps"], 0, "{summary:#}");
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
