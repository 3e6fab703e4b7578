//! The flagship pipeline as a newcomer meets it: `examples/mixed` sends every
//! captured frame through a Rust plugin, a Python effect and a TypeScript
//! overlay without losing one, the PNG shows all four stages exactly, and the
//! demo command the README gives is the one that runs it.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use integration_tests::expect::{
    inverted, pattern_rgba, read_png, sepia_of, with_counter_bar, Image,
};
use integration_tests::{example_in, plexus_checked, spawn_program, workspace};
use serde_json::Value;

/// Both tests run seven workers; one at a time keeps a 2-core machine from
/// dropping frames because of the other test rather than plexus.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const FRAMES: u64 = 600;

/// The processors of `examples/mixed/pipeline.yaml`, by worker runtime.
const PROCESSORS: [(&str, &str); 7] = [
    ("camera", "native"),
    ("capture_stats", "native"),
    ("sepia", "native"),
    ("invert", "python"),
    ("bar", "deno"),
    ("stats", "native"),
    ("png", "native"),
];

#[test]
fn every_frame_crosses_all_four_stages_and_the_png_shows_each_of_them() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let path = example_in(tmp.path(), "mixed");
    // Half the demo's rate: the test must not lose frames on a loaded CI
    // machine with two cores for seven workers, CPython and deno.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("fps: 60"), "{text}");
    std::fs::write(&path, text.replace("fps: 60", "fps: 30")).unwrap();

    let frames = FRAMES.to_string();
    let run = plexus_checked(
        &["run", path.to_str().unwrap(), "--frames", &frames, "--json"],
        tmp.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["outcome"], "completed", "{summary:#}");
    assert_runs_the_mixed_pipeline(&summary);
    let p = &summary["processors"];
    assert_eq!(p["camera"]["frames_out"], FRAMES);
    for stage in ["sepia", "invert", "bar"] {
        assert_eq!(p[stage]["frames_in"], FRAMES, "{stage}");
        assert_eq!(p[stage]["frames_out"], FRAMES, "{stage}");
        assert_eq!(p[stage]["errors"], 0, "{stage}");
    }
    for sink in ["capture_stats", "stats", "png"] {
        assert_eq!(p[sink]["frames_in"], FRAMES, "{sink}");
        assert_eq!(p[sink]["dropped"], 0, "{sink}");
        assert_eq!(p[sink]["seq_gaps"], 0, "{sink}");
    }

    // The sink writes every 100th frame: 500 is the last, and latest.png.
    let last = FRAMES - 100;
    let image = read_png(&tmp.path().join(format!("png/png-{last:06}.png")));
    assert_is_frame(&image, last);
    assert_eq!(
        read_png(&tmp.path().join("png/latest.png")).pixels,
        image.pixels
    );
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
    // already (scripts/test), so this costs a cargo up-to-date check.
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

/// The summary is of `examples/mixed/pipeline.yaml`: its processors, each in
/// a worker of the right runtime.
fn assert_runs_the_mixed_pipeline(summary: &Value) {
    let mut names: Vec<&str> = summary["processors"]
        .as_object()
        .expect("processors")
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    let mut expected: Vec<&str> = PROCESSORS.iter().map(|(name, _)| *name).collect();
    expected.sort_unstable();
    assert_eq!(names, expected, "{summary:#}");
    for (name, runtime) in PROCESSORS {
        assert_eq!(summary["workers"][name]["runtime"], runtime, "{name}");
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
