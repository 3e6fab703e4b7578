//! Real video through plexus beside FFmpeg in one process (issue 16): an
//! H.264 file decoded by `media.video_source`, passed through a Rust, a
//! Python and a Deno worker that copy every frame (the availability chain's
//! effects) and encoded again by `media.video_recorder`, against the same
//! decode and encode, with the same codec settings and the same RGBA
//! conversions, in one PyAV process.
//!
//! - **The clip**: [`Plan`]'s frames of `builtin.test_pattern` recorded by
//!   `media.video_recorder` (H.264, its defaults), made first, which also
//!   has plexus build the media package's Python environment.
//! - **One process**: [`SINGLE`] transcodes the clip with PyAV in that
//!   environment, [`Plan::rounds`] times; frames/s over its wall time and
//!   its CPU time per frame (all threads), the median.
//! - **Decode alone**: `media.video_source` at `speed: 0` (as fast as it
//!   decodes), looping, into `builtin.stats_sink`: frames/s over a window.
//! - **Through plexus**: plexus has no back-pressure, so a source faster
//!   than its slowest stage loses frames there. The chain is run with the
//!   source paced at rising multiples of the one-process rate ([`RATES`]),
//!   looping the clip, until a run loses a frame (a sequence gap at the
//!   recorder); its throughput is the highest rate delivered without loss.
//!   Each run measures, over one window after a warm-up, the frames the
//!   recorder took per second and the CPU time per frame of every worker.
//! - **plexus's own cost at the hops**: the chain once more at the
//!   one-process rate with relays in place of the pass-throughs ([`RELAYS`]:
//!   they send a loaned buffer of the frame's size unwritten), so their
//!   workers' CPU per frame is receiving, calling in, loaning and sending,
//!   without the copy an effect makes. The encoder then encodes stale
//!   buffers, which cost it less than real frames: only the hops' figures
//!   of this run count.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bus::counters::Counters;
use ipc_schemas::Names;

use crate::availability::EFFECTS;
use crate::live::{runtime_pids, yaml_path, Plexus};
use crate::throughput::{Window, POLL, STARTUP};
use crate::Result;
use integration_tests::bench::cpu_ns;

/// The relays of the same languages, in the same places as [`EFFECTS`].
const RELAYS: [(&str, &str, &str); 3] = [
    (EFFECTS[0].0, "test.rs_relay", EFFECTS[0].2),
    (EFFECTS[1].0, "test.py_relay", EFFECTS[1].2),
    (EFFECTS[2].0, "test.ts_relay", EFFECTS[2].2),
];

/// The clip's frame rate, which `speed` multiplies.
const CLIP_FPS: f64 = 30.0;

/// The source is paced at these multiples of the one-process rate, in
/// turn, until a run loses a frame.
const RATES: [f64; 6] = [1.0, 1.2, 1.4, 1.6, 1.8, 2.0];

/// Decodes the clip and encodes it again as `media.video_recorder` does
/// (its default codec settings, fragmented MP4), with the same RGBA
/// conversions the plexus chain makes; prints frames, wall and CPU seconds.
const SINGLE: &str = r#"
import json, sys, time
import av

src, dst = sys.argv[1], sys.argv[2]
wall, cpu = time.monotonic(), time.process_time()
frames = 0
with av.open(src) as inp, av.open(dst, "w", options={
        "movflags": "frag_every_frame+empty_moov+default_base_moof",
        "flush_packets": "1"}) as out:
    video = inp.streams.video[0]
    video.thread_type = "SLICE"
    enc = None
    for frame in inp.decode(video):
        rgba = frame.to_ndarray(format="rgba")
        if enc is None:
            enc = out.add_stream("libx264", rate=30)
            enc.width, enc.height = rgba.shape[1], rgba.shape[0]
            enc.pix_fmt = "yuv420p"
            enc.codec_context.gop_size = 30
            enc.options = {"crf": "18", "preset": "veryfast", "tune": "zerolatency"}
        again = av.VideoFrame.from_ndarray(rgba, format="rgba")
        again.pts = frames
        frames += 1
        for packet in enc.encode(again):
            out.mux(packet)
    for packet in enc.encode(None):
        out.mux(packet)
print(json.dumps({"frames": frames, "seconds": time.monotonic() - wall,
                  "cpu_seconds": time.process_time() - cpu}))
"#;

/// The size and length of the clip and how long each case runs.
#[derive(Clone, Copy)]
pub struct Plan {
    pub label: &'static str,
    width: u32,
    height: u32,
    frames: u64,
    pub rounds: usize,
    pub window: Window,
    rates: &'static [f64],
}

impl Plan {
    /// 10 s of 1080p, the one-process transcode three times, every rate;
    /// or, quick, one second of 320x240 once at the first rate, which only
    /// proves the harness.
    pub fn new(quick: bool) -> Self {
        match quick {
            true => Self {
                label: "320x240",
                width: 320,
                height: 240,
                frames: 30,
                rounds: 1,
                window: Window::new(true),
                rates: &RATES[..1],
            },
            false => Self {
                label: "1080p",
                width: 1920,
                height: 1080,
                frames: 300,
                rounds: 3,
                window: Window {
                    warmup: Duration::from_secs(3),
                    measure: Duration::from_secs(10),
                },
                rates: &RATES,
            },
        }
    }
}

/// The one-process transcode.
pub struct Single {
    pub fps: f64,
    /// CPU time per frame, all threads, in ms.
    pub cpu_ms: f64,
}

/// One run of the chain with the source paced at `asked_fps`.
pub struct ChainRun {
    pub asked_fps: f64,
    /// Frames the recorder took per second in the window.
    pub fps: f64,
    /// Frames missing at the recorder in the window.
    pub lost: u64,
    /// CPU time per frame of each worker of [`CHAIN`], in ms.
    pub cpu_ms: Vec<f64>,
}

/// Everything the media section measured.
pub struct Media {
    pub plan: Plan,
    pub single: Single,
    /// `media.video_source` alone into a sink, frames/s.
    pub decode_fps: f64,
    /// In the order run; the last may be the first that lost frames.
    pub chain: Vec<ChainRun>,
    /// The chain with [`RELAYS`], at the one-process rate.
    pub relays: ChainRun,
}

impl Media {
    /// The fastest run without loss.
    pub fn best(&self) -> Option<&ChainRun> {
        self.chain
            .iter()
            .filter(|run| run.lost == 0)
            .max_by(|a, b| a.fps.total_cmp(&b.fps))
    }
}

/// The workers of the chain in frame order: the source, the effects, the
/// recorder.
pub const CHAIN: [&str; 5] = ["src", EFFECTS[0].0, EFFECTS[1].0, EFFECTS[2].0, "rec"];

pub fn measure(plexus: &Path, scratch: &Path, quick: bool) -> Result<Media> {
    let plan = Plan::new(quick);
    let dir = scratch.join("media");
    let clip = make_clip(plexus, &dir, plan)?;
    let env = media_env()?;
    let mut single = (0..plan.rounds)
        .map(|round| {
            eprintln!(
                "report: media, one-process transcode of {} frames of {}, round {} of {}",
                plan.frames,
                plan.label,
                round + 1,
                plan.rounds
            );
            transcode_alone(&env, &clip, &dir.join("single.mp4"))
        })
        .collect::<Result<Vec<_>>>()?;
    single.sort_by(|a, b| a.fps.total_cmp(&b.fps));
    let single = single.swap_remove(single.len() / 2);

    eprintln!("report: media, decode alone");
    let decode_fps = decode_alone(plexus, &dir, &clip, plan.window)?;

    let mut chain = Vec::new();
    for &rate in plan.rates {
        let asked_fps = rate * single.fps;
        eprintln!("report: media, the chain paced at {asked_fps:.1} frames/s");
        let run = chain_run(plexus, &dir, &clip, &EFFECTS, asked_fps, plan.window)?;
        let lost = run.lost;
        chain.push(run);
        if lost > 0 {
            break;
        }
    }
    eprintln!("report: media, the chain with relays");
    let relays = chain_run(plexus, &dir, &clip, &RELAYS, single.fps, plan.window)?;
    Ok(Media {
        plan,
        single,
        decode_fps,
        chain,
        relays,
    })
}

/// Records the clip with plexus; returns its path.
fn make_clip(plexus: &Path, dir: &Path, plan: Plan) -> Result<PathBuf> {
    // A recorder starts a segment after those it finds: start empty.
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let yaml = format!(
        "# Written by the media benchmark: its clip.\n\
         name: media-clip\n\
         packages: [{}]\n\
         processors:\n  \
           camera: {{ type: builtin.test_pattern, config: {{ width: {}, height: {}, fps: 30 }} }}\n  \
           rec: {{ type: media.video_recorder, config: {{ dir: {}, name: clip }} }}\n\
         connections: [camera.out -> rec.in]\n",
        yaml_path(&media_package()),
        plan.width,
        plan.height,
        yaml_path(dir),
    );
    let pipeline = dir.join("clip.yaml");
    std::fs::write(&pipeline, yaml).map_err(|e| format!("writing {}: {e}", pipeline.display()))?;
    eprintln!(
        "report: media, recording a clip of {} frames of {}",
        plan.frames, plan.label
    );
    let out = Command::new(plexus)
        .arg("run")
        .arg(&pipeline)
        .args(["--frames", &plan.frames.to_string()])
        .current_dir(dir)
        .output()
        .map_err(|e| format!("running {}: {e}", plexus.display()))?;
    let clip = dir.join("clip-0001.mp4");
    if !out.status.success() || !clip.is_file() {
        return Err(format!(
            "recording the clip failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(clip)
}

fn media_package() -> PathBuf {
    integration_tests::example_package("media-python")
}

/// The Python environment plexus built for the media package: the one of
/// its cache (as `plexus` finds it) with PyAV in it.
fn media_env() -> Result<PathBuf> {
    let cache = match std::env::var_os("PLEXUS_CACHE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir)
            .join("plexus"),
    };
    let envs = cache.join("python-envs");
    std::fs::read_dir(&envs)
        .map_err(|e| format!("{}: {e}", envs.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|env| env.join("av").is_dir())
        .ok_or_else(|| format!("no environment in {} has PyAV", envs.display()))
}

/// [`SINGLE`] on the clip.
fn transcode_alone(env: &Path, clip: &Path, out: &Path) -> Result<Single> {
    let run = Command::new("python3")
        .args(["-c", SINGLE])
        .arg(clip)
        .arg(out)
        .env("PYTHONPATH", env)
        .output()
        .map_err(|e| format!("running python3: {e}"))?;
    if !run.status.success() {
        return Err(format!(
            "the one-process transcode failed: {}",
            String::from_utf8_lossy(&run.stderr)
        ));
    }
    let json: serde_json::Value = serde_json::from_slice(&run.stdout)
        .map_err(|e| format!("the one-process transcode printed no JSON ({e})"))?;
    let number = |key: &str| json[key].as_f64().ok_or(format!("no `{key}` in {json}"));
    let frames = number("frames")?;
    Ok(Single {
        fps: frames / number("seconds")?,
        cpu_ms: number("cpu_seconds")? * 1000.0 / frames,
    })
}

/// The source's processor line: the clip, looping, at `speed`.
fn source_yaml(clip: &Path, speed: f64) -> String {
    format!(
        "src: {{ type: media.video_source, config: {{ path: {}, speed: {speed:.4}, loop: true }} }}",
        yaml_path(clip)
    )
}

/// Frames/s of the source decoding as fast as it can into a sink.
fn decode_alone(plexus: &Path, dir: &Path, clip: &Path, window: Window) -> Result<f64> {
    let yaml = format!(
        "# Written by the media benchmark: decoding alone.\n\
         name: media-decode\n\
         packages: [{}]\n\
         processors:\n  \
           {}\n  \
           sink: {{ type: builtin.stats_sink }}\n\
         connections: [src.out -> sink.in]\n",
        yaml_path(&media_package()),
        source_yaml(clip, 0.0),
    );
    let measured = run_window(plexus, dir, "decode", &yaml, "sink", &["src"], window)?;
    Ok(measured.fps)
}

/// The chain with `effects` (processor, type, fixture) between source and
/// recorder, its source paced at `asked_fps`.
fn chain_run(
    plexus: &Path,
    dir: &Path,
    clip: &Path,
    effects: &[(&str, &str, &str); 3],
    asked_fps: f64,
    window: Window,
) -> Result<ChainRun> {
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(&out);
    let packages: Vec<String> = std::iter::once(media_package())
        .chain(effects.iter().map(|e| integration_tests::fixture(e.2)))
        .map(|p| yaml_path(&p))
        .collect();
    let effects: String = effects
        .iter()
        .map(|(id, type_name, _)| format!("  {id}: {{ type: {type_name} }}\n"))
        .collect();
    let yaml = format!(
        "# Written by the media benchmark: a transcode through three workers.\n\
         name: media-chain\n\
         packages: [{}]\n\
         processors:\n  \
           {}\n\
         {effects}  \
           rec: {{ type: media.video_recorder, config: {{ dir: {}, name: out }} }}\n\
         connections: [{}]\n",
        packages.join(", "),
        source_yaml(clip, asked_fps / CLIP_FPS),
        yaml_path(&out),
        CHAIN
            .windows(2)
            .map(|pair| format!("{}.out -> {}.in", pair[0], pair[1]))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let measured = run_window(plexus, dir, "chain", &yaml, "rec", &CHAIN, window)?;
    let _ = std::fs::remove_dir_all(&out);
    Ok(ChainRun {
        asked_fps,
        fps: measured.fps,
        lost: measured.lost,
        cpu_ms: measured.cpu_ms,
    })
}

/// What one window saw at the last processor.
struct Seen {
    fps: f64,
    lost: u64,
    cpu_ms: Vec<f64>,
}

/// Runs `yaml`, waits for frames at `last` (one input) and the warm-up,
/// then measures over the window the frames `last` took per second, the
/// sequence gaps it saw and the CPU per frame of each of `workers`.
fn run_window(
    plexus: &Path,
    dir: &Path,
    name: &str,
    yaml: &str,
    last: &str,
    workers: &[&str],
    window: Window,
) -> Result<Seen> {
    let pipeline = dir.join(format!("{name}.yaml"));
    std::fs::write(&pipeline, yaml).map_err(|e| format!("writing {}: {e}", pipeline.display()))?;
    let mut run = Plexus::start(plexus, &pipeline, dir)?;
    let runtime = run.wait_for_runtime(STARTUP)?;
    let measured = measure_window(&mut run, &runtime, last, workers, window)
        .map_err(|e| format!("{name}: {e}\nlog so far:\n{}", run.log()))?;
    run.stop()?;
    Ok(measured)
}

fn measure_window(
    run: &mut Plexus,
    runtime: &str,
    last: &str,
    workers: &[&str],
    window: Window,
) -> Result<Seen> {
    run.wait_for_processor(last, STARTUP)?;
    let names = Names::new(runtime).map_err(|e| format!("runtime id `{runtime}`: {e}"))?;
    let input = Counters::open(&names, last, 1, 0)
        .map_err(|e| e.to_string())?
        .input(0);
    let deadline = Instant::now() + STARTUP;
    while input.frames.get() == 0 {
        if Instant::now() >= deadline {
            return Err(format!("no frame reached {last} within {STARTUP:?}"));
        }
        run.watch(POLL)?;
    }
    run.watch(window.warmup)?;
    let pids = workers
        .iter()
        .map(
            |worker| match runtime_pids(runtime, Some(worker)).as_slice() {
                [pid] => Ok(*pid),
                found => Err(format!(
                    "worker {worker}: expected one process, found {found:?}"
                )),
            },
        )
        .collect::<Result<Vec<u32>>>()?;
    let cpu = || -> Result<Vec<u64>> {
        pids.iter()
            .map(|&pid| cpu_ns(pid).ok_or(format!("worker pid {pid} is gone")))
            .collect()
    };
    let (cpu_before, frames_before, gaps_before) =
        (cpu()?, input.frames.get(), input.seq_gaps.get());
    let start = Instant::now();
    run.watch(window.measure)?;
    let (cpu_after, frames_after, gaps_after) = (cpu()?, input.frames.get(), input.seq_gaps.get());
    let seconds = start.elapsed().as_secs_f64();
    let frames = frames_after - frames_before;
    if frames == 0 {
        return Err(format!("no frame reached {last} in the measured window"));
    }
    Ok(Seen {
        fps: frames as f64 / seconds,
        lost: gaps_after - gaps_before,
        cpu_ms: cpu_before
            .iter()
            .zip(&cpu_after)
            .map(|(b, a)| a.saturating_sub(*b) as f64 / 1e6 / frames as f64)
            .collect(),
    })
}
