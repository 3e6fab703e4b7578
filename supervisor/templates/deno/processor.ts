// {{name}}: a plexus processor that brightens RGBA8 video. Each red, green
// and blue byte becomes min(255, byte + amount); alpha is kept.
//
// Only types come from the SDK ("plexus", mapped by the worker), so this
// import vanishes at run time.
import type { Context, Frame, Processor } from "plexus";

export class {{class}} implements Processor {
  private amount = 40;

  setup(ctx: Context): void {
    // The pipeline's `config:`, with plexus.yaml's defaults filled in and
    // checked against its ranges.
    this.amount = Number(ctx.config.amount);
  }

  // Optional: `plexus set <id> amount=80` while it runs hands the changed
  // keys here between frames; without it, the worker restarts to take them.
  // onConfig(changes: Record<string, unknown>): void {
  //   this.amount = Number(changes.amount);
  // }

  process(ctx: Context, inputs: Record<string, Frame>): void {
    const frame = inputs.in;
    const src = frame.data; // a view of shared memory, valid during process()
    const out = ctx.outputs.out.loan(src.length);
    const dst = out.data;
    for (let i = 0; i < src.length; i += 4) {
      dst[i] = Math.min(255, src[i] + this.amount);
      dst[i + 1] = Math.min(255, src[i + 1] + this.amount);
      dst[i + 2] = Math.min(255, src[i + 2] + this.amount);
      dst[i + 3] = src[i + 3];
    }
    out.send(frame); // header (size, sequence number, …) copied from `frame`
  }
}
