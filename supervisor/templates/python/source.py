"""{{name}}: a plexus source that produces RGBA8 video from a thread of its own.

Every frame is one colour, cycling through the hues; replace `fill` with
your camera, file reader or sensor. It needs nothing beyond Python itself.
"""

import colorsys
import threading
import time


class {{class}}:
    def setup(self, ctx):
        # ctx.config: the pipeline's `config:`, with plexus.yaml's defaults
        # filled in and checked against its ranges.
        self.width = ctx.config["width"]
        self.height = ctx.config["height"]
        self.period = 1 / ctx.config["fps"]
        self.stopping = threading.Event()

    def start(self, ctx):
        # Return promptly: the frames come from this thread.
        self.thread = threading.Thread(target=self.run, args=(ctx.outputs["out"],), daemon=True)
        self.thread.start()

    def run(self, out):
        n = 0
        due = time.monotonic()
        while not self.stopping.is_set():
            buf = out.loan(self.width * self.height * 4)  # shared memory, filled in place
            self.fill(memoryview(buf), n)
            # The sequence number and capture time are filled in by plexus.
            buf.send(width=self.width, height=self.height, stride=self.width * 4)
            n += 1
            due += self.period
            self.stopping.wait(max(0.0, due - time.monotonic()))

    def fill(self, pixels, n):
        r, g, b = colorsys.hsv_to_rgb((n % 360) / 360, 1.0, 1.0)
        pixels[:] = bytes((int(r * 255), int(g * 255), int(b * 255), 255)) * (len(pixels) // 4)

    def stop(self):
        self.stopping.set()
        self.thread.join()
