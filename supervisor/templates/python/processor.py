"""{{name}}: a plexus processor that brightens RGBA8 video.

Each red, green and blue byte becomes ``min(255, byte + amount)``; alpha is
kept. It needs nothing beyond Python itself; for heavier work, list numpy in
a ``requirements.txt`` next to this file and view frames with
``np.frombuffer(frame, np.uint8)``, which does not copy.
"""


class {{class}}:
    def setup(self, ctx):
        # ctx.config: the pipeline's `config:`, with plexus.yaml's defaults
        # filled in and checked against its ranges.
        amount = ctx.config["amount"]
        self.table = bytes(min(255, v + amount) for v in range(256))

    def process(self, ctx, inputs):
        frame = inputs["in"]  # a read-only view of shared memory
        out = ctx.outputs["out"].loan(len(frame))
        dst = memoryview(out)  # writes go straight into shared memory
        dst[:] = frame.data.tobytes().translate(self.table)
        dst[3::4] = frame.data[3::4]  # keep alpha
        out.send(frame)  # header (size, sequence number, …) copied from `frame`

    # Optional: `plexus set <id> amount=80` while it runs hands the changed
    # keys here between frames; without it, the worker restarts to take them.
    # def on_config(self, changes):
    #     self.table = bytes(min(255, v + changes["amount"]) for v in range(256))

    def teardown(self):
        pass
