//! `builtin.v4l2_camera` against what this machine has: every way of naming
//! no usable camera is refused in one sentence before the run starts, and
//! where `/dev/video*` exists a real camera's frames reach a sink.

use integration_tests::{pipeline, plexus_checked, spawn_plexus};

/// The video devices under `/dev`, as the camera's refusal lists them.
fn video_devices() -> Vec<String> {
    let mut numbers: Vec<u32> = std::fs::read_dir("/dev")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("video")?.parse().ok())
        .collect();
    numbers.sort_unstable();
    numbers.iter().map(|n| format!("/dev/video{n}")).collect()
}

/// The `plexus: error:` line of a run of the camera on `device`.
fn refusal(device: &str) -> String {
    let (tmp, path) = pipeline("camera.yaml", &[("device", device)]);
    let run = spawn_plexus(
        &["run", path.to_str().unwrap(), "--frames", "5"],
        tmp.path(),
    )
    .finish();
    let line = run.refusal().to_string();
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    line
}

#[test]
fn no_usable_camera_is_one_sentence_naming_processor_and_path() {
    let devices = video_devices();
    let found = if devices.is_empty() {
        "none".to_string()
    } else {
        devices.join(", ")
    };
    let absent = "/dev/video-plexus-absent";
    assert_eq!(
        refusal(absent),
        format!(
            "plexus: error: processor `cam`: there is no camera at `{absent}` (found: {found})"
        )
    );

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("video0");
    std::fs::write(&file, "not a device").unwrap();
    let file = file.to_str().unwrap();
    assert_eq!(
        refusal(file),
        format!("plexus: error: processor `cam`: `{file}` is not a video device (found: {found})")
    );

    // Other devices are not even opened: opening one may act by itself.
    for device in ["/dev/null", "/dev/zero"] {
        assert_eq!(
            refusal(device),
            format!(
                "plexus: error: processor `cam`: `{device}` is not a video device (found: {found})"
            )
        );
    }
}

#[test]
fn a_camera_config_mistake_names_the_key() {
    let (tmp, path) = pipeline("camera.yaml", &[("device", "/dev/video0")]);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("fps: 30", "fps: 30, format: h264");
    std::fs::write(&path, text).unwrap();
    let run = spawn_plexus(&["validate", path.to_str().unwrap()], tmp.path()).finish();
    let line = run.refusal();
    assert!(line.contains("`cam`") && line.contains("format"), "{line}");
}

/// Runs only where this machine has a camera: 30 frames of it reach the
/// sink as RGBA at the size the camera agreed to.
#[test]
fn a_real_camera_delivers_frames() {
    let Some(device) = video_devices().into_iter().next() else {
        eprintln!("skipped: this machine has no /dev/video* to capture from");
        return;
    };
    let (tmp, path) = pipeline("camera.yaml", &[("device", &device)]);
    let run = plexus_checked(
        &["run", path.to_str().unwrap(), "--frames", "30", "--json"],
        tmp.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(
        summary["processors"]["sink"]["frames_in"], 30,
        "{summary:#}"
    );
    assert_eq!(summary["processors"]["sink"]["gaps"], 0, "{summary:#}");
}
