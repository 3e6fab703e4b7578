"""A capture written in Python: a manual source with a thread of its own.

It stands in for a camera. Frame `seq` is the same picture
`builtin.test_pattern` draws for it, so the rest of a pipeline sees no
difference: pixel (x, y) is R = (x + seq) mod 256, G = (y + 2 seq) mod 256,
B = (x xor y) mod 256, A = 255, written with numpy straight into the loaned
shared memory.
"""

import threading
import time

import numpy as np


class Capture:
    def setup(self, ctx):
        self.width = ctx.config["width"]
        self.height = ctx.config["height"]
        self.period = 1 / ctx.config["fps"]
        ys, xs = np.mgrid[0 : self.height, 0 : self.width].astype(np.uint32)
        self.xs, self.ys = xs, ys
        self.blue = ((xs ^ ys) & 255).astype(np.uint8)
        self.stopping = threading.Event()

    def start(self, ctx):
        # Returns at once: the frames come from this thread.
        self.thread = threading.Thread(target=self.capture, args=(ctx.outputs["out"],), daemon=True)
        self.thread.start()

    def capture(self, out):
        due = time.monotonic()
        while not self.stopping.is_set():
            buf = out.loan(self.width * self.height * 4)
            self.draw(np.frombuffer(buf, np.uint8).reshape(self.height, self.width, 4), buf.seq)
            # Sequence number and capture time: the loan's, given by plexus,
            # so a restarted capture goes on where it left off.
            buf.send(width=self.width, height=self.height, stride=self.width * 4)
            due += self.period
            self.stopping.wait(max(0.0, due - time.monotonic()))

    def draw(self, frame, seq):
        frame[..., 0] = (self.xs + seq) & 255
        frame[..., 1] = (self.ys + 2 * seq) & 255
        frame[..., 2] = self.blue
        frame[..., 3] = 255

    def stop(self):
        self.stopping.set()
        self.thread.join()
