// {{name}}: a plexus source that produces RGBA8 video from a timer of its
// own. Every frame is one colour, cycling through the hues; replace `fill`
// with your camera, file reader or sensor.
//
// Only types come from the SDK ("plexus", mapped by the worker), so this
// import vanishes at run time.
import type { Context, Output, Processor } from "plexus";

export class {{class}} implements Processor {
  private width = 320;
  private height = 240;
  private fps = 30;
  private n = 0;
  private timer: ReturnType<typeof setInterval> | undefined;

  setup(ctx: Context): void {
    // The pipeline's `config:`, with plexus.yaml's defaults filled in and
    // checked against its ranges.
    this.width = Number(ctx.config.width);
    this.height = Number(ctx.config.height);
    this.fps = Number(ctx.config.fps);
  }

  start(ctx: Context): void {
    // Return promptly: the frames come from this timer.
    const out = ctx.outputs.out;
    this.timer = setInterval(() => this.produce(out), 1000 / this.fps);
  }

  private produce(out: Output): void {
    const buf = out.loan(this.width * this.height * 4); // shared memory, filled in place
    fill(buf.data, this.n++);
    // The sequence number and capture time are filled in by plexus.
    buf.send(undefined, { width: this.width, height: this.height, stride: this.width * 4 });
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** One colour for frame `n`, cycling through the hues. */
function fill(pixels: Uint8Array, n: number): void {
  const hue = (n % 360) / 60;
  const x = Math.round(255 * (1 - Math.abs((hue % 2) - 1)));
  const [r, g, b] = [[255, x, 0], [x, 255, 0], [0, 255, x], [0, x, 255], [x, 0, 255], [255, 0, x]][
    Math.floor(hue)
  ];
  for (let i = 0; i < pixels.length; i += 4) {
    pixels[i] = r;
    pixels[i + 1] = g;
    pixels[i + 2] = b;
    pixels[i + 3] = 255;
  }
}
