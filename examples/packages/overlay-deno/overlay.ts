// example.frame_counter_bar: a TypeScript processor for plexus. It copies
// each RGBA frame into a loaned output buffer and draws a white bar whose
// length follows the frame number, so any saved frame shows that the Deno
// worker ran, and on which frame.
//
// Exact output, for a frame with sequence number n, width w and height h:
//   pixel (x, y) = (255, 255, 255, 255)   if y < min(8, h) and x < min(w, n mod w)
//   pixel (x, y) = input pixel (x, y)      otherwise
// (integration-tests/src/expect.rs `with_counter_bar` recomputes it.)
//
// Only types come from the SDK, so this import vanishes at run time.
import type { Context, Frame, Processor } from "../../../worker-deno/ts/plexus.ts";

const WHITE = 255;
const BAR_ROWS = 8;

export class FrameCounterBar implements Processor {
  process(ctx: Context, inputs: Record<string, Frame>): void {
    const frame = inputs.in;
    const src = frame.data;
    const out = ctx.outputs.out.loan(src.length);
    const dst = out.data;
    dst.set(src);
    const { width, height } = frame;
    const stride = frame.stride || width * 4;
    if (width > 0) {
      const bar = Math.min(width, Number(frame.header.seq % BigInt(width)));
      for (let y = 0; y < Math.min(BAR_ROWS, height); y++) {
        dst.fill(WHITE, y * stride, y * stride + bar * 4);
      }
    }
    out.send(frame);
  }
}
