//! Shared memory of the flagship at 1080p: per producing port, what its
//! segment holds in `/dev/shm` and what its frames wrote, beside the
//! minimum, the port's peak of frames in flight times the frame size
//! (docs/ARCHITECTURE.md §3). The figures are the run's own summary.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::target::Target;
use crate::Result;

/// 1920 × 1080 RGBA.
const FRAME: u64 = 1920 * 1080 * 4;
/// A slot of iceoryx2's segment: the power of two above frame and headers.
const SLOT: u64 = (FRAME + 256).next_power_of_two();
/// The producers of `examples/mixed/pipeline.yaml`.
const PRODUCERS: [&str; 4] = ["camera", "sepia", "invert", "bar"];
/// Reserved ÷ minimum the issue asks for at most.
const TARGET_RATIO: f64 = 2.0;

/// One output port's shared memory at the end of the run.
pub struct PortShm {
    pub processor: &'static str,
    pub reserved: u64,
    pub touched: u64,
}

impl PortShm {
    /// Its peak of frames in flight: iceoryx2 fills slots from the first,
    /// so the span written is that many slots, the last one partly.
    fn in_flight(&self) -> u64 {
        self.touched.div_ceil(SLOT)
    }

    fn minimum(&self) -> u64 {
        self.in_flight() * FRAME
    }
}

pub struct Shm {
    pub frames: u64,
    pub ports: Vec<PortShm>,
}

impl Shm {
    fn ratio(&self) -> f64 {
        let sum = |f: fn(&PortShm) -> u64| self.ports.iter().map(f).sum::<u64>() as f64;
        sum(|p| p.reserved) / sum(PortShm::minimum).max(1.0)
    }
}

pub fn measure(plexus: &Path, scratch: &Path, quick: bool) -> Result<Shm> {
    let frames: u64 = if quick { 60 } else { 600 };
    let dir = scratch.join("shm");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let pipeline = integration_tests::example_in(&dir, "mixed");
    let text = std::fs::read_to_string(&pipeline).map_err(|e| e.to_string())?;
    let full_hd = text.replace("width: 640, height: 480", "width: 1920, height: 1080");
    if full_hd == text {
        return Err("the mixed example's camera is no longer 640×480".into());
    }
    std::fs::write(&pipeline, full_hd).map_err(|e| e.to_string())?;
    eprintln!("report: shared memory of the mixed pipeline at 1080p, {frames} frames");
    let run = Command::new(plexus)
        .arg("run")
        .arg(&pipeline)
        .args(["--frames", &frames.to_string(), "--json"])
        .current_dir(&dir)
        .output()
        .map_err(|e| format!("running plexus: {e}"))?;
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).map_err(|e| {
        format!(
            "the mixed run printed no summary ({e}):\n{}",
            String::from_utf8_lossy(&run.stderr)
        )
    })?;
    let ports = PRODUCERS
        .into_iter()
        .map(|processor| {
            let line = &summary["processors"][processor];
            let bytes = |field: &str| {
                line[field]
                    .as_u64()
                    .ok_or_else(|| format!("{processor} has no {field} in {summary}"))
            };
            Ok(PortShm {
                processor,
                reserved: bytes("shm_reserved_bytes")?,
                touched: bytes("shm_touched_bytes")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Shm { frames, ports })
}

pub fn target(shm: &Shm) -> Target {
    let ratio = shm.ratio();
    Target::new(
        "shared memory".into(),
        format!(
            "mixed pipeline at 1080p: reserved ≤ {TARGET_RATIO}× frames in flight × frame size"
        ),
        Some((format!("{ratio:.2}×"), ratio <= TARGET_RATIO)),
    )
}

pub fn render(out: &mut String, shm: &Shm) {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let _ = writeln!(
        out,
        "## Shared memory\n\n\
         `examples/mixed/pipeline.yaml` with a 1920×1080 camera, {} frames at 60 fps, \
         per output port from the run's summary, in MiB. **reserved**: pages of \
         `/dev/shm` its segment holds; **touched**: the span its frames wrote; \
         **in flight**: its peak of frames loaned or queued at once (touched in \
         {:.0} MiB slots); **minimum**: in flight × the frame ({:.1} MiB). Before plexus \
         reserved as frames use it, every port held a slot for all its subscribers \
         could hold: 42–52 slots, 1504 MiB for these four.\n",
        shm.frames,
        mib(SLOT),
        mib(FRAME)
    );
    let _ = writeln!(
        out,
        "| port | reserved | touched | in flight | minimum | reserved ÷ minimum |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for p in &shm.ports {
        let _ = writeln!(
            out,
            "| {}.out | {:.1} | {:.1} | {} | {:.1} | {:.2}× |",
            p.processor,
            mib(p.reserved),
            mib(p.touched),
            p.in_flight(),
            mib(p.minimum()),
            p.reserved as f64 / p.minimum().max(1) as f64
        );
    }
    let sum = |f: fn(&PortShm) -> u64| shm.ports.iter().map(f).sum::<u64>();
    let _ = writeln!(
        out,
        "| **all** | {:.1} | {:.1} | {} | {:.1} | {:.2}× |\n",
        mib(sum(|p| p.reserved)),
        mib(sum(|p| p.touched)),
        sum(PortShm::in_flight),
        mib(sum(PortShm::minimum)),
        shm.ratio()
    );
}
