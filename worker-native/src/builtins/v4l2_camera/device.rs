//! Finding a V4L2 camera, opening it and agreeing on a format with it, so
//! that each way this can fail is one sentence before the run starts, not a
//! failure in the middle of it.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use v4l::capability::Flags;
use v4l::video::capture::Parameters;
use v4l::video::Capture;
use v4l::{Device, Format, FourCC};

use super::convert::Pixels;

/// The pixel format a pipeline asks the camera for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Wanted {
    /// YUYV when the camera offers it (no decoding), MJPEG otherwise.
    Auto,
    Yuyv,
    Mjpeg,
}

const YUYV: FourCC = FourCC { repr: *b"YUYV" };
const MJPEG: FourCC = FourCC { repr: *b"MJPG" };

/// What the pipeline asked of the camera.
pub struct Request<'a> {
    pub id: &'a str,
    pub path: &'a str,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub format: Wanted,
}

/// A camera set to a format plexus converts, not yet streaming.
pub struct Camera {
    pub device: Device,
    pub pixels: Pixels,
    pub width: u32,
    pub height: u32,
    /// The time between two frames the camera agreed to, in nanoseconds.
    pub interval_ns: u64,
}

/// Opens the camera at `request.path` and negotiates its format.
pub fn open(request: &Request<'_>) -> Result<Camera, String> {
    let Request { id, path, .. } = *request;
    let at = format!("processor `{id}`: `{path}`");
    // Only a Video4Linux device is opened: opening another device can do
    // something by itself (a watchdog starts counting down), and a FIFO
    // would block.
    match std::fs::metadata(path) {
        Ok(meta) if meta.file_type().is_char_device() && major(meta.rdev()) == V4L_MAJOR => {}
        Ok(_) => return Err(format!("{at} is not a video device (found: {})", found())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "processor `{id}`: there is no camera at `{path}` (found: {})",
                found()
            ))
        }
        Err(e) => return Err(format!("{at} cannot be read ({e})")),
    }
    let device = Device::with_path(path).map_err(|e| format!("{at} cannot be opened ({e})"))?;
    let caps = device
        .query_caps()
        .map_err(|e| format!("{at} is not a V4L2 device ({e})"))?;
    let at = format!("{at} ({})", caps.card);
    if !caps
        .capabilities
        .contains(Flags::VIDEO_CAPTURE | Flags::STREAMING)
    {
        return Err(format!("{at} does not stream video captures"));
    }
    let offered: Vec<FourCC> = device
        .enum_formats()
        .map_err(|e| format!("{at} does not list its formats ({e})"))?
        .into_iter()
        .map(|d| d.fourcc)
        .collect();
    let fourcc = choose(request.format, &offered).ok_or_else(|| {
        let asked = match request.format {
            Wanted::Auto => "neither YUYV nor MJPEG",
            Wanted::Yuyv => "no YUYV",
            Wanted::Mjpeg => "no MJPEG",
        };
        format!("{at} offers {asked} (it offers: {})", names(&offered))
    })?;
    let format = device
        .set_format(&Format::new(request.width, request.height, fourcc))
        .map_err(|e| format!("{at} refused the format {fourcc} ({e})"))?;
    if format.fourcc != fourcc {
        return Err(format!(
            "{at} was asked for {fourcc} and chose {} instead",
            format.fourcc
        ));
    }
    if format.width != request.width || format.height != request.height {
        tracing::info!(
            "processor `{id}`: {path} captures {}x{}, the nearest it has to {}x{}",
            format.width,
            format.height,
            request.width,
            request.height
        );
    }
    let pixels = if fourcc == YUYV {
        Pixels::Yuyv {
            stride: (format.stride as usize).max(format.width as usize * 2),
        }
    } else {
        Pixels::Mjpeg
    };
    Ok(Camera {
        interval_ns: interval_ns(&device, request),
        device,
        pixels,
        width: format.width,
        height: format.height,
    })
}

/// The device number Linux gives every Video4Linux device
/// (`Documentation/admin-guide/devices.txt`).
const V4L_MAJOR: u64 = 81;

/// The major number of a device number, as glibc's `major()` splits it.
fn major(rdev: u64) -> u64 {
    ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff)
}

/// The format to ask for, among those the camera offers.
fn choose(wanted: Wanted, offered: &[FourCC]) -> Option<FourCC> {
    let preference: &[FourCC] = match wanted {
        Wanted::Auto => &[YUYV, MJPEG],
        Wanted::Yuyv => &[YUYV],
        Wanted::Mjpeg => &[MJPEG],
    };
    preference.iter().copied().find(|f| offered.contains(f))
}

/// Asks for the frame rate; a camera that will not say what it chose is
/// taken to run at the rate asked for.
fn interval_ns(device: &Device, request: &Request<'_>) -> u64 {
    let asked = 1_000_000_000 / u64::from(request.fps);
    match device.set_params(&Parameters::with_fps(request.fps)) {
        Ok(params) if params.interval.denominator > 0 => {
            u64::from(params.interval.numerator) * 1_000_000_000
                / u64::from(params.interval.denominator)
        }
        Ok(_) => asked,
        Err(e) => {
            tracing::info!(
                "processor `{}`: {} keeps its own frame rate ({e})",
                request.id,
                request.path
            );
            asked
        }
    }
}

fn names(formats: &[FourCC]) -> String {
    if formats.is_empty() {
        return "nothing".into();
    }
    formats
        .iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The video devices under `/dev`, for the message that names none of them.
fn found() -> String {
    let devices = video_devices(Path::new("/dev"));
    if devices.is_empty() {
        "none".into()
    } else {
        devices.join(", ")
    }
}

/// `dir/videoN` for every N present, in numeric order.
fn video_devices(dir: &Path) -> Vec<String> {
    let mut numbers: Vec<u32> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            entry
                .file_name()
                .to_str()?
                .strip_prefix("video")?
                .parse()
                .ok()
        })
        .collect();
    numbers.sort_unstable();
    numbers
        .into_iter()
        .map(|n| dir.join(format!("video{n}")).display().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefers_yuyv_and_falls_back_to_mjpeg() {
        let h264 = FourCC::new(b"H264");
        assert_eq!(choose(Wanted::Auto, &[MJPEG, YUYV]), Some(YUYV));
        assert_eq!(choose(Wanted::Auto, &[h264, MJPEG]), Some(MJPEG));
        assert_eq!(choose(Wanted::Auto, &[h264]), None);
        assert_eq!(choose(Wanted::Mjpeg, &[YUYV, MJPEG]), Some(MJPEG));
        assert_eq!(choose(Wanted::Yuyv, &[MJPEG]), None);
        assert_eq!(names(&[h264, MJPEG]), "H264, MJPG");
        assert_eq!(names(&[]), "nothing");
    }

    #[test]
    fn major_numbers_are_split_as_glibc_does() {
        use std::os::unix::fs::MetadataExt;
        // /dev/null is 1:3 on every Linux.
        assert_eq!(major(std::fs::metadata("/dev/null").unwrap().rdev()), 1);
        assert_eq!(major(81 << 8), V4L_MAJOR);
        // A major above 4095 keeps its low 12 bits in bits 8–19 and the
        // rest from bit 44 up.
        assert_eq!(major((0x12000 << 32) | (0x345 << 8) | 0xff), 0x12345);
    }

    #[test]
    fn devices_are_listed_in_numeric_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["video10", "video2", "video0", "videox", "vbi0", "video"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let shown: Vec<String> = video_devices(dir.path())
            .into_iter()
            .map(|p| p.rsplit('/').next().unwrap().to_string())
            .collect();
        assert_eq!(shown, ["video0", "video2", "video10"]);
        assert!(video_devices(&dir.path().join("absent")).is_empty());
    }
}
