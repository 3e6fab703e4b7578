"""Video files in and out of a plexus pipeline, on PyAV (FFmpeg bundled in the
`av` wheel, so nothing needs a system FFmpeg).

- `VideoSource` (media.video_source) decodes a file on a thread of its own, at
  the file's pace (`speed`) or as fast as it can, and sends RGBA frames
  carrying the file's timestamps (`pts_ns`, `duration_ns`); at the end of
  the file it finishes, so a run ends when its frames are drained.
- `VideoRecorder` (media.video_recorder) encodes what it receives into MP4
  segments, `<name>-0001.mp4`, …, a new one every `rolling_s` seconds of
  video if that is set. A restarted recorder starts a new segment,
  and segments are fragmented, a fragment per frame, with an encoder that
  holds no frames back (x264's zerolatency), so a crash costs the frame
  being written, never the file written so far.
"""

import os
import re
import sys
import threading
import time

import av
import numpy as np
from plexus import ConfigError

NS = 1_000_000_000


def open_video(path):
    """Opens `path` for decoding, or raises the user's mistake in one
    sentence naming it."""
    if not os.path.exists(path):
        raise ConfigError(f"video file `{path}` does not exist")
    try:
        container = av.open(path)
    except av.error.EOFError:
        raise ConfigError(
            f"`{path}` is cut short: it ends before FFmpeg could read its header"
        ) from None
    except av.error.FFmpegError as e:
        raise ConfigError(
            f"`{path}` is not a video file FFmpeg can read ({e.strerror or e})"
        ) from None
    except OSError as e:
        raise ConfigError(f"cannot open video file `{path}`: {e.strerror or e}") from None
    if not container.streams.video:
        container.close()
        raise ConfigError(f"`{path}` has no video stream")
    return container


class VideoSource:
    def setup(self, ctx):
        self.path = ctx.config["path"]
        self.speed = ctx.config["speed"]
        self.loop = ctx.config["loop"]
        # Opened once here, so that a file that cannot be read fails the
        # setup, naming the file, before the pipeline runs.
        open_video(self.path).close()
        self.stopping = threading.Event()

    def start(self, ctx):
        self.thread = threading.Thread(target=self.run, args=(ctx,), daemon=True)
        self.thread.start()

    def run(self, ctx):
        out = ctx.outputs["out"]
        offset_ns = 0  # media time already played, when looping
        while not self.stopping.is_set():
            with open_video(self.path) as container:
                played = self.play(container, out, offset_ns)
            if played is None or not self.loop:
                break
            offset_ns += played
        if not self.stopping.is_set():
            # The end of the file (or of what could be decoded of it): the
            # run may end once the frames are drained.
            ctx.finish()

    def play(self, container, out, offset_ns):
        """Sends every frame of `container`; returns the media time played,
        or None when stopped or when the file is damaged."""
        stream = container.streams.video[0]
        # Slice threads, not frame threads: with frame threading FFmpeg
        # swallows the error at a damaged packet, and a cut file would look
        # whole.
        stream.thread_type = "SLICE"
        base = stream.time_base
        rate = stream.average_rate or 30
        default_ns = int(NS / rate)
        first_ns = None
        started = time.monotonic()
        end_ns = 0
        frames = 0
        try:
            for frame in container.decode(stream):
                if self.stopping.is_set():
                    return None
                pts_ns = int(frame.pts * base * NS) if frame.pts is not None else end_ns
                duration = getattr(frame, "duration", None)
                duration_ns = int(duration * base * NS) if duration else default_ns
                if first_ns is None:
                    first_ns = pts_ns
                if self.speed > 0:
                    due = started + (pts_ns - first_ns) / NS / self.speed
                    self.stopping.wait(max(0.0, due - time.monotonic()))
                self.send(out, frame, offset_ns + pts_ns - first_ns, duration_ns)
                end_ns = pts_ns - first_ns + duration_ns
                frames += 1
        except av.error.FFmpegError as e:
            print(
                f"media.video_source: `{self.path}` is damaged after frame {frames}; "
                f"the {frames} frames before were sent ({e})",
                file=sys.stderr,
                flush=True,
            )
            return None
        return end_ns

    def send(self, out, frame, pts_ns, duration_ns):
        rgba = frame.to_ndarray(format="rgba")
        height, width = rgba.shape[:2]
        buf = out.loan(width * height * 4)
        np.copyto(np.frombuffer(buf, np.uint8).reshape(height, width, 4), rgba)
        buf.send(
            width=width,
            height=height,
            stride=width * 4,
            pts_ns=pts_ns,
            duration_ns=duration_ns,
        )

    def stop(self):
        self.stopping.set()
        self.thread.join()


class VideoRecorder:
    def setup(self, ctx):
        c = ctx.config
        self.dir = c["dir"]
        self.name = c["name"]
        self.fps = c["fps"]
        self.codec = c["codec"]
        self.crf = c["crf"]
        self.preset = c["preset"]
        # Frames per segment when segments roll (every `rolling_s`), else 0.
        self.rolling = c["rolling_s"] * self.fps
        try:
            os.makedirs(self.dir, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"cannot create the recording directory `{self.dir}`: {e.strerror}") from None
        if not os.access(self.dir, os.W_OK | os.X_OK):
            raise ConfigError(f"cannot write segments into `{self.dir}`: permission denied")
        try:
            av.codec.Codec(self.codec, "w")
        except Exception:
            raise ConfigError(f"this FFmpeg has no encoder `{self.codec}`") from None
        self.container = None
        self.frames = 0

    def next_segment(self):
        """The path of the next segment: one past the highest there is, so a
        restarted recorder never writes over a finished one."""
        pattern = re.compile(re.escape(self.name) + r"-(\d{4,})\.mp4$")
        taken = [int(m.group(1)) for f in os.listdir(self.dir) if (m := pattern.match(f))]
        return os.path.join(self.dir, f"{self.name}-{max(taken, default=0) + 1:04d}.mp4")

    def open(self, width, height):
        if width % 2 or height % 2:
            raise ConfigError(f"frames of {width}x{height} cannot be encoded: width and height must be even")
        self.path = self.next_segment()
        # Fragmented MP4, a fragment per frame, each written out at once
        # (flush_packets): a killed recorder leaves a file that plays up to
        # its last whole fragment.
        self.container = av.open(
            self.path,
            "w",
            options={
                "movflags": "frag_every_frame+empty_moov+default_base_moof",
                "flush_packets": "1",
            },
        )
        self.stream = self.container.add_stream(self.codec, rate=self.fps)
        self.stream.width = width
        self.stream.height = height
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.gop_size = self.fps
        if self.codec in ("libx264", "libx265"):
            self.stream.options = {
                "crf": str(self.crf),
                "preset": self.preset,
                # No lookahead and no B-frames: each frame is written as it
                # comes, so none waits in the encoder when the worker dies.
                "tune": "zerolatency",
            }

    def process(self, ctx, inputs):
        frame = inputs["in"]
        width, height, stride = frame.width, frame.height, frame.stride
        if self.rolling and self.frames == self.rolling:
            self.close()
        if self.container is None:
            self.open(width, height)
        rows = np.frombuffer(frame, np.uint8).reshape(height, stride)
        rgba = np.ascontiguousarray(rows[:, : width * 4]).reshape(height, width, 4)
        del rows
        video = av.VideoFrame.from_ndarray(rgba, format="rgba")
        video.pts = self.frames
        self.frames += 1
        for packet in self.stream.encode(video):
            self.container.mux(packet)

    def teardown(self):
        self.close()

    def close(self):
        """Finishes the segment being written: the encoder's last packets,
        then the file's trailer."""
        if self.container is None:
            return
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()
        self.container = None
        self.frames = 0
