// Flags the channels of a tensor/f32 whose value exceeds `threshold`: the
// output is a tensor/u8 of the same length, 1 where above, else 0. Frames
// are read and written in place in shared memory, as typed arrays.
import type { Context, Frame, Processor } from "plexus";

export class Threshold implements Processor {
  #threshold = 0.5;

  setup(ctx: Context): void {
    this.#threshold = Number(ctx.config.threshold);
  }

  /** `plexus set gate threshold=0.7` takes effect at the next frame. */
  onConfig(changes: Record<string, unknown>): void {
    if ("threshold" in changes) this.#threshold = Number(changes.threshold);
  }

  process(ctx: Context, inputs: Record<string, Frame>): void {
    const power = inputs.in;
    const values = power.f32; // Float32Array over shared memory
    const out = ctx.outputs.out.loanArray([values.length]);
    const flags = out.data;
    for (let c = 0; c < values.length; c++) flags[c] = values[c] > this.#threshold ? 1 : 0;
    out.send(power); // seq and times of the block
  }
}
