//! `builtin.png_sink`: lets a person see what flows through a pipeline. It
//! writes every Nth frame as `<dir>/<prefix>-<seq:06>.png` and keeps
//! `<dir>/latest.png` pointing at the newest one, replaced atomically so an
//! image viewer watching it never shows a half-written file.

use std::borrow::Cow;
use std::fs;
use std::path::{Path, PathBuf};

use ipc_schemas::{FrameHeader, ProcessorSpec, SchemaId};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use worker_lifecycle::{Input, Outputs, Processor};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(deserialize_with = "dir")]
    dir: PathBuf,
    #[serde(default = "default_every", deserialize_with = "every")]
    every: u64,
    #[serde(default, deserialize_with = "prefix")]
    prefix: Option<String>,
}

fn default_every() -> u64 {
    1
}

fn dir<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    super::string(d, "dir").map(PathBuf::from)
}

fn every<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    super::integer(d, "every", 1, u64::MAX)
}

/// The prefix becomes part of a file name, so it must not lead elsewhere.
fn prefix<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let prefix = super::string(d, "prefix")?;
    if prefix.contains(['/', '\0']) || prefix == "." || prefix == ".." {
        return Err(D::Error::custom(format!(
            "`prefix` must be a plain file name, not `{prefix}`"
        )));
    }
    Ok(Some(prefix))
}

pub(super) struct PngSink {
    id: String,
    dir: PathBuf,
    every: u64,
    prefix: String,
}

impl PngSink {
    pub(super) fn new(spec: &ProcessorSpec) -> Result<Self, String> {
        let config: Config = super::parse_config(spec)?;
        fs::create_dir_all(&config.dir).map_err(|e| {
            format!(
                "processor `{}`: cannot create output directory `{}`: {e}",
                spec.id,
                config.dir.display()
            )
        })?;
        Ok(Self {
            id: spec.id.clone(),
            dir: config.dir,
            every: config.every,
            prefix: config.prefix.unwrap_or_else(|| spec.id.clone()),
        })
    }

    fn write_frame(&self, header: &FrameHeader, data: &[u8]) -> Result<(), String> {
        if !header.seq.is_multiple_of(self.every) {
            return Ok(());
        }
        let path = self
            .dir
            .join(format!("{}-{:06}.png", self.prefix, header.seq));
        let fail = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
            format!(
                "processor `{}`: cannot {what} `{}`: {e}",
                self.id,
                path.display()
            )
        };
        let (color, bpp) = match SchemaId::from_code(header.schema) {
            Some(SchemaId::VideoRgba8) => (png::ColorType::Rgba, 4),
            Some(SchemaId::VideoGray8) => (png::ColorType::Grayscale, 1),
            other => {
                let name = other.map_or("unknown", SchemaId::name);
                let e = format!(
                    "frame {} has schema {name}, not video/rgba8 or video/gray8",
                    header.seq
                );
                return Err(fail("write", &path, &e));
            }
        };
        super::check_video(header, data.len()).map_err(|e| fail("write", &path, &e))?;
        let encoded = encode(header, data, color, bpp).map_err(|e| fail("encode", &path, &e))?;
        fs::write(&path, &encoded).map_err(|e| fail("write", &path, &e))?;

        // The temp file lives in the same directory so the rename stays on one
        // file system and is atomic; the prefix keeps sinks sharing a
        // directory from writing the same temp file.
        let temp = self.dir.join(format!(".{}-latest.png.tmp", self.prefix));
        let latest = self.dir.join("latest.png");
        fs::write(&temp, &encoded).map_err(|e| fail("write", &temp, &e))?;
        fs::rename(&temp, &latest).map_err(|e| fail("replace", &latest, &e))
    }
}

impl Processor for PngSink {
    fn process(&mut self, input: &Input<'_>, _outputs: &mut Outputs<'_>) -> Result<(), String> {
        self.write_frame(input.header, input.data)
    }
}

/// Encodes once into memory, as the same bytes go to two files. The payload
/// must already have passed `check_video`.
fn encode(
    header: &FrameHeader,
    data: &[u8],
    color: png::ColorType,
    bpp: usize,
) -> Result<Vec<u8>, png::EncodingError> {
    let (height, stride) = (header.height as usize, header.stride as usize);
    let row = header.width as usize * bpp;
    let pixels = if stride == row {
        Cow::Borrowed(&data[..row * height])
    } else {
        let mut packed = Vec::with_capacity(row * height);
        for line in data.chunks_exact(stride).take(height) {
            packed.extend_from_slice(&line[..row]);
        }
        Cow::Owned(packed)
    };
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, header.width, header.height);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    // A sink must keep up with the stream; smaller files are not worth
    // stalling the worker for.
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory per test under the system temp dir.
    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("plexus-png-sink-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn sink(dir: &Path, extra: &str) -> PngSink {
        let json = format!(r#"{{"dir": {:?}{extra}}}"#, dir.to_str().unwrap());
        PngSink::new(&crate::builtins::tests::spec("builtin.png_sink", &json)).unwrap()
    }

    fn header(schema: SchemaId, seq: u64, width: u32, height: u32, stride: u32) -> FrameHeader {
        FrameHeader {
            schema: schema.code(),
            seq,
            width,
            height,
            stride,
            ..FrameHeader::default()
        }
    }

    /// Lays `rows` out with `stride` bytes per row, padding with junk.
    fn padded(rows: &[&[u8]], stride: usize) -> Vec<u8> {
        let mut data = Vec::new();
        for row in rows {
            data.extend_from_slice(row);
            data.resize(data.len() + stride - row.len(), 0xEE);
        }
        data
    }

    fn decode(path: &Path) -> (png::OutputInfo, Vec<u8>) {
        let file = std::io::BufReader::new(fs::File::open(path).unwrap());
        let mut reader = png::Decoder::new(file).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info, buf)
    }

    #[test]
    fn rgba_with_stride_padding_round_trips() {
        let dir = temp_dir("rgba").join("nested");
        let sink = sink(&dir, "");
        let rows: [&[u8]; 2] = [&[1, 2, 3, 4, 5, 6, 7, 8], &[9, 10, 11, 12, 13, 14, 15, 16]];
        sink.write_frame(
            &header(SchemaId::VideoRgba8, 7, 2, 2, 12),
            &padded(&rows, 12),
        )
        .unwrap();

        for path in [dir.join("cam-000007.png"), dir.join("latest.png")] {
            let (info, pixels) = decode(&path);
            assert_eq!((info.width, info.height), (2, 2));
            assert_eq!(
                (info.color_type, info.bit_depth),
                (png::ColorType::Rgba, png::BitDepth::Eight)
            );
            assert_eq!(pixels, rows.concat());
        }
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temp file is left behind: {names:?}");
        fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn gray_with_stride_padding_round_trips() {
        let dir = temp_dir("gray");
        let sink = sink(&dir, r#", "prefix": "g""#);
        let rows: [&[u8]; 3] = [&[0, 50, 100], &[150, 200, 250], &[1, 2, 3]];
        sink.write_frame(
            &header(SchemaId::VideoGray8, 12, 3, 3, 5),
            &padded(&rows, 5),
        )
        .unwrap();

        let (info, pixels) = decode(&dir.join("g-000012.png"));
        assert_eq!((info.width, info.height), (3, 3));
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        assert_eq!(pixels, rows.concat());
        assert_eq!(decode(&dir.join("latest.png")).1, rows.concat());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn writes_only_every_nth_frame_and_latest_follows() {
        let dir = temp_dir("every");
        let sink = sink(&dir, r#", "every": 3"#);
        for seq in 0..7u8 {
            let frame = [seq; 4];
            sink.write_frame(&header(SchemaId::VideoGray8, seq.into(), 2, 2, 2), &frame)
                .unwrap();
        }
        let mut names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "cam-000000.png",
                "cam-000003.png",
                "cam-000006.png",
                "latest.png"
            ]
        );
        assert_eq!(decode(&dir.join("latest.png")).1, [6; 4]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_frames_are_errors_naming_processor_and_path() {
        let dir = temp_dir("bad");
        let sink = sink(&dir, "");
        let expected_path = format!("`{}`", dir.join("cam-000001.png").display());
        let short = sink
            .write_frame(&header(SchemaId::VideoRgba8, 1, 2, 2, 8), &[0; 15])
            .unwrap_err();
        let bytes = sink
            .write_frame(&header(SchemaId::Bytes, 1, 0, 0, 0), &[0; 4])
            .unwrap_err();
        for e in [short, bytes] {
            assert!(e.starts_with("processor `cam`: cannot write "), "{e}");
            assert!(e.contains(&expected_path), "{e}");
        }
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unwritable_directory_is_a_config_error() {
        let file = temp_dir("file");
        fs::write(&file, b"not a directory").unwrap();
        let json = format!(r#"{{"dir": {:?}}}"#, file.join("sub").to_str().unwrap());
        let e = match PngSink::new(&crate::builtins::tests::spec("builtin.png_sink", &json)) {
            Ok(_) => panic!("a directory under a file was accepted"),
            Err(e) => e,
        };
        assert!(
            e.starts_with("processor `cam`: cannot create output directory `"),
            "{e}"
        );
        fs::remove_file(&file).unwrap();
    }
}
