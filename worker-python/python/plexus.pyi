"""Type stubs for `plexus`, the module built into plexus-worker-python.

A processor is a plain class::

    import numpy as np

    class Invert:
        def setup(self, ctx: plexus.Context) -> None: ...          # optional
        def process(self, ctx: plexus.Context, inputs: dict[str, plexus.Frame]) -> None:
            frame = inputs["in"]
            src = np.frombuffer(frame, np.uint8)                   # no copy
            out = ctx.outputs["out"].loan(len(frame))
            np.subtract(255, src, out=np.frombuffer(out, np.uint8))  # writes shared memory
            out.send(frame)
        def teardown(self) -> None: ...                             # optional

Frames of audio, sensor samples and tensors (`audio/f32`, `samples/f32`,
`tensor/f32`, `tensor/u8`) carry their shape in the header: `frame.array` is
a numpy array over shared memory with that shape, and `loan_array` loans one
to fill, whose `send()` writes the shape into the header::

    class BandPower:
        def process(self, ctx, inputs):
            block = inputs["in"]                                   # samples/f32
            x = block.array                                        # (channels, samples) float32, no copy
            out = ctx.outputs["out"].loan_array((x.shape[0],))     # tensor/f32 of shape (channels,)
            np.mean(np.square(x), axis=1, out=out.array)           # writes shared memory
            out.send(block)

A source (`mode: continuous` with `interval_ms` in its manifest) has no
inputs and a `produce(ctx)` method instead, which the worker calls every
`interval_ms`::

    class Gradient:
        def produce(self, ctx: plexus.Context) -> None:
            out = ctx.outputs["out"].loan(32 * 24 * 4)
            ...                                                    # fill it in place
            out.send(width=32, height=24, stride=32 * 4)           # seq, capture time: this call's

A manual source (`mode: manual`) owns its timing: `start(ctx)` starts a
thread of its own that loans and sends whenever it has a frame, and
`stop()` ends it; the worker's loop goes on meanwhile::

    class Camera:
        def start(self, ctx: plexus.Context) -> None:
            self.running = True
            self.thread = threading.Thread(target=self.run, args=(ctx.outputs["out"],))
            self.thread.start()                                    # return promptly
        def run(self, out: plexus.Output) -> None:
            while self.running:
                buf = out.loan(32 * 24 * 4)
                ...                                                # fill it in place
                buf.send(width=32, height=24, stride=32 * 4)       # seq, capture time: the loan's
        def stop(self) -> None:
            self.running = False
            self.thread.join()

A manual processor that sends nothing for `frame_timeout_ms` (a deadlocked
thread) is taken for stuck and restarted; one whose `start` raises ends its
worker as a crash would.

Frames and output buffers are views of shared memory that are valid only
while `process` (or `produce`) runs, or a manual processor's buffer until it
is sent: keep copies (`bytes(frame)`, `arr.copy()`), not views, across calls.

Two more methods are optional: `on_pause(self)`, called when the processor
is paused (`plexus pause`, or after `setup` when its worker restarted while
it was paused), and `on_resume(self)`, called when it is resumed. In
between, neither `process` nor `produce` is called, and a manual source's
frames are dropped; a source might release its device in `on_pause`. An exception in either is logged::

    class Camera:
        def on_pause(self) -> None: ...                            # optional
        def on_resume(self) -> None: ...                           # optional

`on_config(self, changes)` is optional too: when a user changes config keys
while the processor runs (`plexus set PROC key=value…`), it gets a dict of
the changed keys and their new values, already checked against the
manifest's schema, between two calls (never during `process`). Take them,
and the next frame is made with them; `ctx.config` shows them once it
returned. A class without it has its worker restarted with the new config.
An exception keeps the old config and tells the user (a `plexus.ConfigError`
by its message alone)::

    class Invert:
        def on_config(self, changes: dict[str, Any]) -> None:      # optional
            self.amount = changes.get("amount", self.amount)

`snapshot(self)` and `restore(self, state)` are optional as well: they carry
a processor's state across a live swap (`plexus upgrade`), when a new worker
takes over from the old one without a frame lost. The old instance's
`snapshot` is called once, after the last frame it handles, and returns the
state as bytes (a bytearray or any other buffer will do; at most 16 MiB);
the new instance's `restore` gets those bytes once, after its `setup` and
before its first frame. A class without `snapshot` carries no state; one
without `restore` cannot take its predecessor's state, so the swap fails
and the old version keeps serving. An exception in either fails the swap
the same way::

    class Counter:
        def snapshot(self) -> bytes:                               # optional
            return self.count.to_bytes(8, "little")
        def restore(self, state: bytes) -> None:                   # optional
            self.count = int.from_bytes(state, "little")
"""

from collections.abc import Mapping, Sequence
from typing import Any, final

import numpy
import numpy.typing
from typing_extensions import Buffer

@final
class Frame(Buffer):
    """One input frame: a read-only buffer over the frame's bytes in shared
    memory, valid until `process` returns.

    `memoryview(frame)` and `numpy.frombuffer(frame, numpy.uint8)` view the
    bytes without copying. When `process` returns, the frame is closed:
    `frame.data` is released (using a kept reference to it raises
    "operation forbidden on released memoryview object"), and new views
    raise `ValueError("plexus.Frame used after process() returned")`.
    Views taken before that (a numpy array stored on `self`) stay valid and
    keep the frame's shared memory borrowed until they are released; an
    input lends only two frames at once, so a processor that keeps views of
    two frames stops its input.

    Header fields stay readable after the frame is closed.
    """

    @property
    def data(self) -> memoryview:
        """A read-only memoryview of the bytes, made once per frame."""
    @property
    def seq(self) -> int:
        """Sequence number given by the source."""
    @property
    def capture_ns(self) -> int:
        """When the source captured the frame, CLOCK_MONOTONIC in ns."""
    @property
    def width(self) -> int:
        """Width in pixels (video schemas)."""
    @property
    def height(self) -> int:
        """Height in pixels (video schemas)."""
    @property
    def stride(self) -> int:
        """Bytes per row (video schemas)."""
    @property
    def format(self) -> int:
        """Pixel format detail, for schemas with several layouts."""
    @property
    def pts_ns(self) -> int | None:
        """Presentation time on the source's media clock, in nanoseconds;
        None when the source has none."""
    @property
    def duration_ns(self) -> int:
        """How long the frame is presented, in nanoseconds; 0 if unknown."""
    @property
    def schema(self) -> str | None:
        """The schema name, e.g. "video/rgba8"; None if unknown to this worker."""
    @property
    def array(self) -> numpy.ndarray:
        """A read-only numpy array over the frame's bytes, no copy, shaped as
        the header says: for `audio/f32`, `samples/f32` and `tensor/f32` a
        float32 array, for `tensor/u8` a uint8 one, with the header's shape
        and strides (a `samples/f32` block is (channels, samples)); for
        `video/rgba8` uint8 (height, width, 4) and for `video/gray8`
        (height, width), rows `stride` bytes apart; for `bytes` one
        dimension of uint8.

        Made anew on each access (take it once). Like any view of the frame
        it must not be kept past `process`. Raises ImportError without
        numpy, ValueError when the header claims more than the payload
        holds or for a package-defined schema (use its generated code)."""
    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of `array`, without numpy, e.g. (8, 25)."""
    @property
    def strides(self) -> tuple[int, ...]:
        """The strides of `array` in bytes, outermost first."""
    @property
    def rate(self) -> int:
        """Samples per second per channel (`audio/f32`, `samples/f32`); 0
        for other schemas."""
    def __len__(self) -> int:
        """Payload size in bytes."""
    def __buffer__(self, flags: int, /) -> memoryview: ...

@final
class OutBuffer(Buffer):
    """Writable shared memory loaned on an output by `Output.loan`.

    Fill every byte (it holds an earlier frame's bytes), then `send()`.
    Views of it refuse to be made after `send()`, after a newer loan on the
    same output and after `process` returns; views that outlive `process`
    are reported as an error. A buffer not sent is dropped when `process`
    returns.
    """

    def send(
        self,
        like: Frame | None = None,
        *,
        seq: int | None = None,
        capture_ns: int | None = None,
        width: int | None = None,
        height: int | None = None,
        stride: int | None = None,
        format: int | None = None,
        pts_ns: int | None = None,
        duration_ns: int | None = None,
        rate: int | None = None,
    ) -> None:
        """Publishes the buffer on its output.

        The header is copied from `like` (by default the frame being
        processed; in `produce` and a manual processor, the next sequence
        number and the time of the loan) and then overridden by the keywords given.
        `pts_ns` and `duration_ns` carry media time (a file's timestamps);
        `rate` the samples per second of `audio/f32` and `samples/f32`. A
        buffer of `loan_array` puts its shape in the header (ndim, shape and
        strides; width, height and stride for video), and sends rate 0 on
        a schema without one.
        The schema is always the output port's. Raises RuntimeError if the
        buffer was already sent, was superseded by a newer loan, or when the
        outputs are closed. A paused manual processor's frame is dropped.
        """
    @property
    def seq(self) -> int:
        """The sequence number `send()` gives the frame unless told
        otherwise: in a source, the next one (it goes on across restarts),
        so the source can draw frame `seq`."""
    @property
    def array(self) -> numpy.ndarray:
        """A writable numpy array over the loaned memory, no copy: the
        shape and element type of `loan_array`, or one dimension of uint8
        after `loan(len)`. Made anew on each access; the rules of views of
        the buffer apply to it. Raises ImportError without numpy."""
    def __len__(self) -> int:
        """Loaned size in bytes."""
    def __buffer__(self, flags: int, /) -> memoryview: ...

@final
class Output:
    """One output port of the processor, from `ctx.outputs[name]`. It may
    be kept (e.g. on `self` in `setup`), and used inside `process` and
    `produce` or, in a manual processor, from any thread between `start`
    and `stop` (one thread per output at a time)."""

    @property
    def name(self) -> str:
        """The port name."""
    @property
    def schema(self) -> str:
        """The port's schema name, e.g. "video/rgba8"."""
    def loan(self, len: int) -> OutBuffer:
        """Loans `len` bytes of shared memory to fill and send.

        Raises RuntimeError("outputs can only be used inside process() …")
        while the outputs are closed, and BufferError while views of an
        earlier unsent buffer on this output are alive.
        """
    def loan_array(
        self,
        shape: int | Sequence[int],
        dtype: str | numpy.typing.DTypeLike | None = None,
    ) -> OutBuffer:
        """Loans a packed, row-major array of `shape` to fill through
        `buf.array` and send; `send()` puts the shape in the header.

        The elements are the port's schema's: float32 for `audio/f32`
        ((frames, channels)), `samples/f32` ((channels, samples)) and
        `tensor/f32` (1 to 4 dimensions); uint8 for `tensor/u8` and for
        video, whose shape is (height, width, 4) for `video/rgba8` and
        (height, width) for `video/gray8`. `dtype`, if given, must be that
        type. A shape or dtype the port cannot take raises ValueError in one
        sentence naming the port, e.g. "cannot loan an array on output
        `power` (tensor/f32): a shape has 1 to 4 dimensions, not 5 (…)";
        `bytes` ports have no array shape. Otherwise as `loan`.
        """

@final
class Context:
    """What `setup(ctx)` and `process(ctx, inputs)` receive; the same object
    for the processor's whole life."""

    @property
    def config(self) -> dict[str, Any]:
        """The processor's `config:` from the pipeline, with the changes its
        `on_config` took since (`plexus set`)."""
    @property
    def processor(self) -> str:
        """The processor's id in the pipeline."""
    @property
    def outputs(self) -> Mapping[str, Output]:
        """Output port name → Output (read-only)."""
    def finish(self) -> None:
        """A manual source says it has sent its last frame (the end of its
        file): the run can end once downstream has drained its frames, as
        at `--frames`. Frames sent after are dropped. Raises RuntimeError
        outside a manual source's start() … stop()."""

class ConfigError(ValueError):
    """Raise it for a user's mistake in the processor's config or
    surroundings (a file that does not exist, a directory that cannot be
    written). Raised from `setup`, its message is what the user reads, as
    one sentence after the processor's name, without a traceback; any other
    exception is shown with its traceback, as a bug in the processor."""
