//! `plexus record` and `plexus recording info` against live runtimes, with
//! the files read back by Foxglove's own Python readers: every frame of
//! the ports named is in the file, in order, pixel for pixel; a recorder
//! killed outright leaves a file readable up to its last flush; the
//! runtime's end finishes the file; mistakes are one sentence.

use std::path::Path;
use std::time::{Duration, Instant};

use integration_tests::expect::{inverted, pattern_rgba, read_png, sepia_of};
use integration_tests::mcap_reader;
use integration_tests::process::Running;
use integration_tests::{assert_no_residue, pipeline, plexus, spawn_plexus, PlexusRun};
use serde_json::Value;

const START: Duration = Duration::from_secs(60);

/// One test at a time: each runs a pipeline and a recorder, and the
/// recorder must not miss frames because the others share the two cores.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads a recording with the standard readers and checks every pixel of
/// every frame against the test pattern (`cam.out`) or its grayscale
/// (`relay.out`, `example.grayscale`). `finished` files are read through
/// their summary; others from the start, up to where they end.
const READ: &str = r#"
import json, struct, sys
from mcap.reader import make_reader, NonSeekingReader
from mcap.exceptions import McapError
from mcap_protobuf.decoder import DecoderFactory

path, finished = sys.argv[1], sys.argv[2] == "finished"

def rgba(seq, x, y):
    return ((x + seq) % 256, (y + 2 * seq) % 256, (x ^ y) % 256, 255)

def expected(encoding, seq, width, height):
    out = bytearray()
    for y in range(height):
        for x in range(width):
            r, g, b, a = rgba(seq, x, y)
            if encoding == "rgba8":
                out += bytes((r, g, b, a))
            else:
                out.append((77 * r + 150 * g + 29 * b) >> 8)
    return bytes(out)

topics, cut, counts = {}, None, None

def check(schema, channel, message, image):
    t = topics.setdefault(channel.topic, {
        "schema": schema.name, "encoding": image.encoding, "width": image.width,
        "height": image.height, "frames": 0, "seqs": [], "wrong_frames": 0,
        "log_ns": [], "metadata": dict(channel.metadata)})
    t["frames"] += 1
    t["seqs"].append(message.sequence)
    t["log_ns"].append(message.log_time)
    rows = [image.data[y * image.step:][:len(image.data) // image.height] for y in range(image.height)]
    bpp = 4 if image.encoding == "rgba8" else 1
    got = b"".join(row[:image.width * bpp] for row in rows)
    if got != expected(image.encoding, message.sequence, image.width, image.height):
        t["wrong_frames"] += 1

with open(path, "rb") as f:
    if finished:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        summary = reader.get_summary()
        counts = {summary.channels[c].topic: n
                  for c, n in summary.statistics.channel_message_counts.items()}
        for item in reader.iter_decoded_messages():
            check(*item)
    else:
        try:
            for item in NonSeekingReader(f, decoder_factories=[DecoderFactory()]) \
                    .iter_decoded_messages(log_time_order=False):
                check(*item)
        except (McapError, struct.error) as e:
            cut = repr(e)
for t in topics.values():
    seqs = t.pop("seqs")
    t["first_seq"] = seqs[0]
    t["in_order"] = all(b == a + 1 for a, b in zip(seqs, seqs[1:]))
print(json.dumps({"topics": topics, "cut": cut, "counts": counts}))
"#;

fn read(file: &Path, finished: bool) -> Value {
    let mode = if finished { "finished" } else { "cut" };
    mcap_reader::read(READ, &[file.to_str().unwrap(), mode])
}

fn info(cwd: &Path, file: &Path) -> Value {
    let run = plexus(
        &["recording", "info", file.to_str().unwrap(), "--json"],
        cwd,
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let info = run.json();
    integration_tests::assert_matches_schema("recording-info", &info);
    info
}

/// `watched.yaml` (`cam` at 100 fps → `relay`, grayscale → `sink`),
/// running with `args`, its processors started; returns it and its id.
fn start(tmp: &Path, path: &Path, args: &[&str]) -> (Running, String) {
    let mut all = vec!["run", path.to_str().unwrap()];
    all.extend(args);
    let mut running = spawn_plexus(&all, tmp);
    let id = running.runtime_id();
    running.wait_for("processor relay started", START);
    (running, id)
}

/// `plexus record ARGS -o FILE --runtime ID`, to its end.
fn record(cwd: &Path, id: &str, file: &Path, args: &[&str]) -> PlexusRun {
    let mut all = vec!["record"];
    all.extend(args);
    all.extend(["-o", file.to_str().unwrap(), "--runtime", id]);
    plexus(&all, cwd)
}

/// Records 300 frames of `cam.out` and `relay.out` of `watched.yaml`, then
/// stops the run; returns its directory, the file and the runtime's id.
fn record_two_ports() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let (tmp, path) = pipeline("watched.yaml", &[]);
    let (running, id) = start(tmp.path(), &path, &[]);
    let file = tmp.path().join("two.mcap");
    let recorded = record(
        tmp.path(),
        &id,
        &file,
        &["cam.out", "relay.out", "--frames", "300"],
    );
    assert_eq!(recorded.code, Some(0), "{}", recorded.stderr);
    assert!(
        recorded
            .stderr
            .contains("cam.out 300 frames, 0 missed; relay.out 300 frames, 0 missed"),
        "{}",
        recorded.stderr
    );
    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_no_residue(&id);
    (tmp, file, id)
}

/// Counts each channel's messages with the standard reader and checks
/// their order, without decoding them.
const COUNT: &str = r#"
import json, sys
from mcap.reader import make_reader
seqs = {}
with open(sys.argv[1], "rb") as f:
    for schema, channel, message in make_reader(f).iter_messages():
        seqs.setdefault(channel.topic, []).append(message.sequence)
print(json.dumps({topic: {"frames": len(s), "in_order": all(b == a + 1 for a, b in zip(s, s[1:]))}
                  for topic, s in seqs.items()}))
"#;

/// The flagship demo at its own 60 fps: 600 frames of its capture and of
/// the output of its Python effect (after the Rust one), each frame, read
/// back in Rust, pixel for pixel what the effects make of the pattern.
#[test]
fn the_flagship_records_600_frames_of_two_ports_pixel_for_pixel() {
    let _one = serial();
    let tmp = tempfile::tempdir().unwrap();
    let path = integration_tests::example_in(tmp.path(), "mixed");
    let (running, id) = {
        let mut running = spawn_plexus(&["run", path.to_str().unwrap()], tmp.path());
        let id = running.runtime_id();
        running.wait_for("processor bar started", START);
        (running, id)
    };
    // 2 × 74 MB/s is more than this machine's disk takes (about 97 MB/s):
    // the recording goes to memory, a disk that keeps up, or where this
    // user may not mount one, is compressed to about half.
    let ram = SmallDisk::mount(&tmp.path().join("ram"), "2g");
    let (file, compression) = match &ram {
        Some(disk) => (disk.0.join("mixed.mcap"), "none"),
        None => (tmp.path().join("mixed.mcap"), "lz4"),
    };
    let recorded = record(
        tmp.path(),
        &id,
        &file,
        &[
            "camera.out",
            "invert.out",
            "--frames",
            "600",
            "--compression",
            compression,
        ],
    );
    running.signal(libc::SIGINT);
    assert_eq!(running.finish().code, Some(0));
    assert_no_residue(&id);
    assert_eq!(recorded.code, Some(0), "{}", recorded.stderr);
    assert!(
        recorded
            .stderr
            .contains("camera.out 600 frames, 0 missed; invert.out 600 frames, 0 missed"),
        "{}",
        recorded.stderr
    );
    let counted = mcap_reader::read(COUNT, &[file.to_str().unwrap()]);
    for topic in ["/camera/out", "/invert/out"] {
        assert_eq!(counted[topic]["frames"], 600, "{counted:#}");
        assert_eq!(counted[topic]["in_order"], true, "{topic}");
    }

    let mut checked = 0;
    integration_tests::recorded::each_frame(&file, |topic, frame, pixels| {
        let effect = |rgba| match topic {
            "/camera/out" => rgba,
            _ => inverted(sepia_of(rgba)),
        };
        for y in 0..frame.height {
            for x in 0..frame.width {
                let at = (y * frame.stride + x * 4) as usize;
                let want = effect(pattern_rgba(frame.seq, x, y));
                assert_eq!(
                    pixels[at..at + 4],
                    want,
                    "{topic} frame {} ({x}, {y})",
                    frame.seq
                );
            }
        }
        checked += 1;
    });
    assert_eq!(checked, 1200);
}

#[test]
fn a_recording_holds_every_frame_of_two_ports_in_order() {
    let _one = serial();
    let (tmp, file, id) = record_two_ports();

    let read = read(&file, true);
    for (topic, encoding) in [("/cam/out", "rgba8"), ("/relay/out", "mono8")] {
        let t = &read["topics"][topic];
        assert_eq!(t["frames"], 300, "{topic}: {read:#}");
        assert_eq!(read["counts"][topic], 300, "{read:#}");
        assert_eq!(t["schema"], "foxglove.RawImage");
        assert_eq!(t["encoding"], encoding);
        assert_eq!((&t["width"], &t["height"]), (&64.into(), &48.into()));
        assert_eq!(t["in_order"], true, "{topic}");
        assert_eq!(t["wrong_frames"], 0, "{topic}");
    }
    assert_eq!(
        read["topics"]["/relay/out"]["metadata"]["schema"],
        "video/gray8"
    );

    let info = info(tmp.path(), &file);
    assert_eq!(info["complete"], true, "{info:#}");
    assert_eq!(info["frames"], 600);
    assert_eq!(info["runtime"], id.as_str());
    assert_eq!(info["pipeline"], "watched");
    for channel in info["channels"].as_array().unwrap() {
        assert_eq!(channel["frames"], 300, "{info:#}");
        assert_eq!(channel["gaps"], 0);
        assert_eq!(channel["unreadable"], 0);
    }
}

/// A replay of `file`'s `cam.out` into a PNG sink, to its end.
fn replay_pipeline(tmp: &Path, file: &Path, channel: &str) -> std::path::PathBuf {
    let path = tmp.join("replay.yaml");
    let yaml = format!(
        "name: replay\nprocessors:\n  cam: {{ type: builtin.replay, config: {{ path: {}, channel: {channel} }} }}\n  png: {{ type: builtin.png_sink, config: {{ dir: {}, every: 50 }} }}\nconnections: [cam.out -> png.in]\n",
        file.display(),
        tmp.join("png").display()
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn a_recording_replays_byte_for_byte_at_its_own_pace() {
    let _one = serial();
    let (tmp, file, _) = record_two_ports();
    let original = &read(&file, true)["topics"]["/cam/out"];
    let first_seq = original["first_seq"].as_u64().unwrap();

    let replay = replay_pipeline(tmp.path(), &file, "cam.out");
    let mut replaying = spawn_plexus(&["run", replay.to_str().unwrap(), "--json"], tmp.path());
    let replay_id = replaying.runtime_id();
    replaying.wait_for("processor cam started", START);
    let tapped = plexus(
        &[
            "tap",
            "cam.out",
            "--runtime",
            &replay_id,
            "--count",
            "100",
            "--json",
        ],
        tmp.path(),
    );
    assert_eq!(tapped.code, Some(0), "{}", tapped.stderr);
    let run = replaying.finish();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_no_residue(&replay_id);
    let png = &run.json()["processors"]["png"];
    assert_eq!(png["frames_in"], 300, "{png:#}");
    assert_eq!(png["gaps"], 0);

    // Frame k of the replay is frame k of the recording, byte for byte.
    for k in (0..300).step_by(50) {
        let image = read_png(&tmp.path().join(format!("png/png-{k:06}.png")));
        for y in 0..image.height {
            for x in 0..image.width {
                let i = ((y * image.width + x) * 4) as usize;
                assert_eq!(
                    image.pixels[i..i + 4],
                    pattern_rgba(first_seq + k, x, y),
                    "frame {k}, pixel ({x}, {y})"
                );
            }
        }
    }

    // At speed 1 the frames keep the recording's spacing.
    let logged: Vec<u64> = original["log_ns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let frames = tapped.json_lines();
    let mut errors_us: Vec<u64> = frames
        .windows(2)
        .filter_map(|pair| {
            let (a, b) = (pair[0]["seq"].as_u64()?, pair[1]["seq"].as_u64()?);
            let replayed = pair[1]["capture_ns"].as_u64()? - pair[0]["capture_ns"].as_u64()?;
            let recorded = logged[b as usize] - logged[a as usize];
            Some(replayed.abs_diff(recorded) / 1000)
        })
        .collect();
    errors_us.sort_unstable();
    assert!(
        errors_us.len() >= 50,
        "{} spacings compared",
        errors_us.len()
    );
    let median = errors_us[errors_us.len() / 2];
    assert!(
        median <= 2000,
        "median spacing error {median} µs: {errors_us:?}"
    );

    // `plexus replay` puts the recording in the place of a pipeline's source.
    let watched = tmp.path().join("watched.yaml");
    std::fs::write(
        &watched,
        integration_tests::pipeline_text("watched.yaml", &[]),
    )
    .unwrap();
    let args = |replace: &'static str| {
        [
            "replay",
            file.to_str().unwrap(),
            "--into",
            watched.to_str().unwrap(),
            "--replace",
            replace,
            "--channel",
            "/cam/out",
            "--speed",
            "2",
            "--json",
        ]
    };
    let run = plexus(&args("cam"), tmp.path());
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["processors"]["cam"]["type"], "builtin.replay");
    assert_eq!(
        summary["processors"]["sink"]["frames_in"], 300,
        "{summary:#}"
    );
    assert_eq!(summary["processors"]["sink"]["gaps"], 0);
    let line = plexus(&args("ghost"), tmp.path()).refusal().to_string();
    assert!(
        line.ends_with("has no processor `ghost` to replace (its processors: cam, relay, sink)"),
        "{line}"
    );

    // What cannot be replayed is refused in one sentence.
    let text = tmp.path().join("notes.txt");
    std::fs::write(&text, "not a recording").unwrap();
    let cases = [
        (
            file.clone(),
            "relay.out",
            format!(
                "channel `/relay/out` of `{}` holds video/gray8 frames",
                file.display()
            ),
        ),
        (
            file.clone(),
            "cam.nope",
            format!(
                "`{}` has no channel `cam.nope` (its channels: /",
                file.display()
            ),
        ),
        (
            text.clone(),
            "cam.out",
            format!("`{}` is not an MCAP recording", text.display()),
        ),
        (
            tmp.path().join("absent.mcap"),
            "cam.out",
            "cannot open `".to_string(),
        ),
    ];
    for (file, channel, needle) in cases {
        let replay = replay_pipeline(tmp.path(), &file, channel);
        let run = plexus(&["run", replay.to_str().unwrap()], tmp.path());
        let line = run.refusal();
        assert!(line.contains("processor `cam`: "), "{line}");
        assert!(line.contains(&needle), "`{needle}` not in: {line}");
    }
}

/// A recording split by size (compressed with zstd) and one split by time
/// (lz4): every file is whole, and together they hold every frame once.
#[test]
fn split_recordings_hold_every_frame_once() {
    let _one = serial();
    let (tmp, path) = pipeline("watched.yaml", &[]);
    let (running, id) = start(tmp.path(), &path, &[]);
    let splits: [(&str, &[&str]); 2] = [
        (
            "by-size.mcap",
            &[
                "--split-mb",
                "1",
                "--compression",
                "zstd",
                "--frames",
                "300",
            ],
        ),
        (
            "by-time.mcap",
            &[
                "--split-s",
                "1",
                "--compression",
                "lz4",
                "--duration",
                "3.5",
            ],
        ),
    ];
    for (name, args) in splits {
        let mut all = vec!["cam.out"];
        all.extend(args);
        let recorded = record(tmp.path(), &id, &tmp.path().join(name), &all);
        assert_eq!(recorded.code, Some(0), "{}", recorded.stderr);
        let stem = name.trim_end_matches(".mcap");
        let mut files: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with(&format!("{stem}-"))
            })
            .collect();
        files.sort();
        assert!(files.len() >= 3, "{name}: {files:?}\n{}", recorded.stderr);
        let mut total = 0;
        let mut next_seq = None;
        for file in &files {
            let info = info(tmp.path(), file);
            assert_eq!(info["complete"], true, "{info:#}");
            let read = read(file, true);
            let cam = &read["topics"]["/cam/out"];
            assert_eq!(cam["in_order"], true, "{}", file.display());
            assert_eq!(cam["wrong_frames"], 0);
            let first = cam["first_seq"].as_u64().unwrap();
            if let Some(expected) = next_seq {
                assert_eq!(first, expected, "{} follows on", file.display());
            }
            let frames = cam["frames"].as_u64().unwrap();
            next_seq = Some(first + frames);
            total += frames;
        }
        assert!(
            recorded
                .stderr
                .contains(&format!("cam.out {total} frames, 0 missed")),
            "{total}: {}",
            recorded.stderr
        );
    }
    running.signal(libc::SIGINT);
    assert_eq!(running.finish().code, Some(0));
    assert_no_residue(&id);
}

/// A recording of `cam.out` its recorder did not finish: `recording info`
/// says so, and the standard reader reads as many frames as it counts, in
/// order, each the pattern. Returns the info and its frame count.
fn unfinished_cam_recording(cwd: &Path, file: &Path) -> (Value, u64) {
    let info = info(cwd, file);
    assert_eq!(info["complete"], false, "{info:#}");
    let frames = info["frames"].as_u64().unwrap();
    let read = read(file, false);
    let cam = &read["topics"]["/cam/out"];
    assert_eq!(cam["frames"], frames, "{read:#}");
    assert_eq!(cam["in_order"], true);
    assert_eq!(cam["wrong_frames"], 0);
    (info, frames)
}

#[test]
fn a_killed_recorder_leaves_a_file_readable_to_its_last_flush() {
    let _one = serial();
    let (tmp, path) = pipeline("watched.yaml", &[]);
    let (running, id) = start(tmp.path(), &path, &[]);
    let file = tmp.path().join("killed.mcap");
    let mut recorder = spawn_plexus(
        &[
            "record",
            "cam.out",
            "-o",
            file.to_str().unwrap(),
            "--runtime",
            &id,
        ],
        tmp.path(),
    );
    recorder.wait_for("plexus: recording cam.out", START);
    // The file is flushed every second; wait until it holds 150 frames.
    let deadline = Instant::now() + START;
    let held = loop {
        let frames = info(tmp.path(), &file)["frames"].as_u64().unwrap();
        if frames >= 150 || Instant::now() > deadline {
            break frames;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(held >= 150, "the file held {held} frames");
    recorder.signal(libc::SIGKILL);
    recorder.finish();
    running.signal(libc::SIGINT);
    assert_eq!(running.finish().code, Some(0));
    assert_no_residue(&id);

    let (info, frames) = unfinished_cam_recording(tmp.path(), &file);
    assert!(frames >= held, "{info:#}");
    assert_eq!(info["channels"][0]["gaps"], 0);
}

#[test]
fn the_runtimes_end_finishes_the_recording() {
    let _one = serial();
    let (tmp, path) = pipeline("watched.yaml", &[]);
    let (running, id) = start(tmp.path(), &path, &["--frames", "300"]);
    let file = tmp.path().join("ended.mcap");
    let recorded = record(tmp.path(), &id, &file, &["relay.out"]);
    assert_eq!(recorded.code, Some(0), "{}", recorded.stderr);
    assert!(
        recorded.stderr.contains("the runtime ended"),
        "{}",
        recorded.stderr
    );
    assert_eq!(running.finish().code, Some(0));
    assert_no_residue(&id);
    let info = info(tmp.path(), &file);
    assert_eq!(info["complete"], true, "{info:#}");
    let frames = info["frames"].as_u64().unwrap();
    assert!(frames > 0 && frames <= 300, "{info:#}");
    let read = read(&file, true);
    let relay = &read["topics"]["/relay/out"];
    assert_eq!(relay["frames"], frames);
    assert_eq!(relay["in_order"], true);
    assert_eq!(relay["wrong_frames"], 0);
}

/// `cam → sink` at 100 fps recording itself, as `record:` in the file says.
fn self_recording(record: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    integration_tests::write_pipeline(&format!(
        "name: self\nrecord: {record}\nprocessors:\n  cam: {{ type: builtin.test_pattern, config: {{ width: 64, height: 48, fps: 100 }} }}\n  sink: {{ type: builtin.stats_sink }}\nconnections: [cam.out -> sink.in]\n"
    ))
}

#[test]
fn a_run_records_itself_from_its_first_frame_to_its_last() {
    let _one = serial();
    // Ended by its frame count: every frame, from sequence number 0.
    let (tmp, path) = self_recording("{ file: self.mcap, ports: [cam.out] }");
    let run = plexus(
        &["run", path.to_str().unwrap(), "--frames", "300", "--json"],
        tmp.path(),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("cam.out 300 frames, 0 missed"),
        "{}",
        run.stderr
    );
    assert_no_residue(&run.runtime_id().unwrap());
    let file = tmp.path().join("self.mcap");
    let cam = &read(&file, true)["topics"]["/cam/out"];
    assert_eq!(cam["frames"], 300, "{cam:#}");
    assert_eq!(cam["first_seq"], 0);
    assert_eq!(cam["in_order"], true);
    assert_eq!(cam["wrong_frames"], 0);

    // Ended by Ctrl-C: every frame the camera sent.
    std::fs::remove_file(&file).unwrap();
    let mut running = spawn_plexus(&["run", path.to_str().unwrap(), "--json"], tmp.path());
    let id = running.runtime_id();
    running.wait_for("plexus: recording cam.out", START);
    running.wait_for("processor sink started", START);
    let deadline = Instant::now() + START;
    while info(tmp.path(), &file)["frames"].as_u64().unwrap() < 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_no_residue(&id);
    let sent = run.json()["processors"]["cam"]["frames_out"]
        .as_u64()
        .unwrap();
    let info = info(tmp.path(), &file);
    assert_eq!(info["complete"], true, "{info:#}");
    assert_eq!(info["frames"], sent, "{info:#}");
    assert_eq!(info["channels"][0]["gaps"], 0);
}

#[test]
fn a_record_section_that_cannot_work_is_one_sentence() {
    let _one = serial();
    let (tmp, path) = self_recording("{ file: self.mcap, ports: [cam.nope] }");
    let line = plexus(&["validate", path.to_str().unwrap()], tmp.path())
        .refusal()
        .to_string();
    assert!(
        line.ends_with(
            "`record.ports` names `cam.nope`, which is no output of a processor of this pipeline"
        ),
        "{line}"
    );
    let (tmp, path) =
        self_recording("{ file: self.mcap, ports: [cam.out], split_mb: 1, split_s: 2 }");
    let line = plexus(&["validate", path.to_str().unwrap()], tmp.path())
        .refusal()
        .to_string();
    assert!(
        line.ends_with("`record` takes `split_mb` or `split_s`, not both"),
        "{line}"
    );
    let (tmp, path) = self_recording("{ file: taken.mcap, ports: [cam.out] }");
    std::fs::write(tmp.path().join("taken.mcap"), "mine").unwrap();
    let run = plexus(
        &["run", path.to_str().unwrap(), "--frames", "10"],
        tmp.path(),
    );
    let line = run.refusal();
    assert!(
        line.contains("the run's recorder could not start: cannot create `"),
        "{line}"
    );
    assert!(
        line.ends_with("(File exists (os error 17)); remove it or record to another file"),
        "{line}"
    );
    assert_no_residue(&run.runtime_id().unwrap());
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("taken.mcap")).unwrap(),
        "mine"
    );
}

/// Reads a recording of compressed video with the standard readers: per
/// channel its schema, formats, frames, order, and how many images start
/// as their format says.
const READ_COMPRESSED: &str = r#"
import json, sys
from mcap.reader import make_reader
from mcap_protobuf.decoder import DecoderFactory

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff"}
topics = {}
with open(sys.argv[1], "rb") as f:
    for schema, channel, message, image in make_reader(
            f, decoder_factories=[DecoderFactory()]).iter_decoded_messages():
        t = topics.setdefault(channel.topic, {"schema": schema.name, "formats": [], "frames": 0,
                                              "seqs": [], "whole_images": 0})
        t["frames"] += 1
        t["seqs"].append(message.sequence)
        if image.format not in t["formats"]:
            t["formats"].append(image.format)
        t["whole_images"] += image.data.startswith(MAGIC.get(image.format, b"?"))
for t in topics.values():
    seqs = t.pop("seqs")
    t["first_seq"] = seqs[0]
    t["in_order"] = all(b == a + 1 for a, b in zip(seqs, seqs[1:]))
print(json.dumps(topics))
"#;

/// PNG keeps every pixel; JPEG keeps the picture. Both play back.
#[test]
fn video_recorded_as_png_or_jpeg_plays_back() {
    let _one = serial();
    let (tmp, path) = pipeline("watched.yaml", &[]);
    let (running, id) = start(tmp.path(), &path, &[]);
    let mut files = Vec::new();
    for codec in ["png", "jpeg"] {
        let file = tmp.path().join(format!("{codec}.mcap"));
        let recorded = record(
            tmp.path(),
            &id,
            &file,
            &["cam.out", "--frames", "100", "--video-codec", codec],
        );
        assert_eq!(recorded.code, Some(0), "{}", recorded.stderr);
        let read = mcap_reader::read(READ_COMPRESSED, &[file.to_str().unwrap()]);
        let cam = &read["/cam/out"];
        assert_eq!(cam["schema"], "foxglove.CompressedImage", "{read:#}");
        assert_eq!(cam["formats"], serde_json::json!([codec]));
        assert_eq!(cam["frames"], 100);
        assert_eq!(cam["whole_images"], 100);
        assert_eq!(cam["in_order"], true);
        files.push((codec, file, cam["first_seq"].as_u64().unwrap()));
    }
    running.signal(libc::SIGINT);
    assert_eq!(running.finish().code, Some(0));
    assert_no_residue(&id);

    for (codec, file, first_seq) in files {
        let _ = std::fs::remove_dir_all(tmp.path().join("png"));
        let replay = replay_pipeline(tmp.path(), &file, "cam.out");
        let run = plexus(&["run", replay.to_str().unwrap(), "--json"], tmp.path());
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert_eq!(run.json()["processors"]["png"]["frames_in"], 100, "{codec}");
        for k in [0u64, 50] {
            let image = read_png(&tmp.path().join(format!("png/png-{k:06}.png")));
            let mut squares = 0.0;
            for y in 0..image.height {
                for x in 0..image.width {
                    let i = ((y * image.width + x) * 4) as usize;
                    let want = pattern_rgba(first_seq + k, x, y);
                    for (got, want) in image.pixels[i..i + 3].iter().zip(want) {
                        squares += (f64::from(*got) - f64::from(want)).powi(2);
                    }
                }
            }
            let mse = squares / f64::from(image.width * image.height * 3);
            match codec {
                "png" => assert_eq!(mse, 0.0, "PNG frame {k} is not exact"),
                _ => {
                    let psnr = 10.0 * (255.0f64 * 255.0 / mse).log10();
                    assert!(psnr >= 30.0, "JPEG frame {k}: PSNR {psnr:.1} dB");
                }
            }
        }
    }
}

/// A small tmpfs, unmounted when dropped, even when the test fails.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    /// Mounts a tmpfs of `size` at `dir`; `None` where this user may not.
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        mounted.then(|| Self(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_ends_the_recording_with_a_readable_file() {
    let _one = serial();
    let (tmp, path) = pipeline("watched.yaml", &[]);
    let Some(disk) = SmallDisk::mount(&tmp.path().join("small"), "2m") else {
        eprintln!("skipped: this user cannot mount a tmpfs to fill");
        return;
    };
    let (running, id) = start(tmp.path(), &path, &[]);
    let file = disk.0.join("full.mcap");
    let recorded = record(tmp.path(), &id, &file, &["cam.out"]);
    running.signal(libc::SIGINT);
    assert_eq!(running.finish().code, Some(0));
    assert_no_residue(&id);
    let line = recorded.refusal();
    assert!(
        line.contains(&format!("cannot write `{}`", file.display()))
            && line.contains("No space left on device")
            && line.ends_with("the file holds the frames written up to its last complete chunk"),
        "{line}"
    );
    let (info, frames) = unfinished_cam_recording(tmp.path(), &file);
    // 2 MiB of 12 KiB frames, less what the last chunk held.
    assert!(frames >= 50, "{info:#}");
}

#[test]
fn recording_mistakes_are_one_sentence() {
    let _one = serial();
    let (tmp, path) = pipeline("watched.yaml", &[]);
    let (running, id) = start(tmp.path(), &path, &[]);
    let taken = tmp.path().join("taken.mcap");
    std::fs::write(&taken, "mine").unwrap();
    let missing_dir = tmp.path().join("no/such/dir/x.mcap");
    let cases: [(Vec<&str>, String); 5] = [
        (
            vec!["cam.nope"],
            "processor `cam` has no output `nope` (its outputs: out)".into(),
        ),
        (
            vec!["ghost.out"],
            "has no processor `ghost` (its processors: ".into(),
        ),
        (vec!["camout"], "`camout` is not PROCESSOR.PORT".into()),
        (
            vec!["cam.out", "-o", taken.to_str().unwrap()],
            format!("cannot create `{}` (", taken.display()),
        ),
        (
            vec!["cam.out", "-o", missing_dir.to_str().unwrap()],
            format!(
                "cannot create `{}` (No such file or directory",
                missing_dir.display()
            ),
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["record", "--runtime", &id];
        all.extend(args);
        let run = plexus(&all, tmp.path());
        let line = run.refusal();
        assert!(line.contains(&needle), "`{needle}` not in: {line}");
    }
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "mine");
    running.signal(libc::SIGINT);
    assert_eq!(running.finish().code, Some(0));
    assert_no_residue(&id);

    let text = tmp.path().join("notes.txt");
    std::fs::write(&text, "not a recording").unwrap();
    let absent = tmp.path().join("absent.mcap");
    for (file, needle) in [
        (
            &text,
            format!("`{}` is not an MCAP recording", text.display()),
        ),
        (
            &absent,
            format!("cannot open `{}` (No such file", absent.display()),
        ),
    ] {
        let run = plexus(&["recording", "info", file.to_str().unwrap()], tmp.path());
        let line = run.refusal();
        assert!(line.contains(&needle), "`{needle}` not in: {line}");
    }
}
