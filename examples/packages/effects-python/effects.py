"""Example Python processors for plexus.

Frames arrive as ``plexus.Frame`` objects over shared memory; numpy views
them without copying, and writes go straight into a loaned output buffer.
"""

import numpy as np


class Invert:
    """Inverts the colour channels of RGBA frames: out = 255 - in.

    With ``keep_alpha`` (the default) the alpha channel passes through
    unchanged.
    """

    def setup(self, ctx):
        self.keep_alpha = bool(ctx.config.get("keep_alpha", True))

    def process(self, ctx, inputs):
        frame = inputs["in"]
        src = np.frombuffer(frame, dtype=np.uint8)
        out = ctx.outputs["out"].loan(len(frame))
        dst = np.frombuffer(out, dtype=np.uint8)
        np.subtract(255, src, out=dst)
        if self.keep_alpha:
            dst[3::4] = src[3::4]
        out.send(frame)

    def teardown(self):
        pass

