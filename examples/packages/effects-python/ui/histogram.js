// A live luminance histogram of the frames a processor sees: the example of
// a package panel (docs/panels.md). It runs in the dashboard's sandboxed
// frame and gets its frames only through the `plexus` object it is given.

const BINS = 256;

export default function mount(root, plexus) {
  const label = document.createElement("div");
  label.textContent = `${plexus.processor}.${plexus.ports[0]}: waiting for frames`;
  const canvas = document.createElement("canvas");
  canvas.width = BINS;
  canvas.height = 100;
  canvas.style.width = "100%";
  canvas.style.background = "#111";
  root.append(label, canvas);
  const ctx = canvas.getContext("2d");
  const counts = new Uint32Array(BINS);
  let frames = 0;

  plexus.subscribe(plexus.ports[0], (frame) => {
    counts.fill(0);
    const rgba = frame.rgba;
    let sum = 0;
    for (let i = 0; i < rgba.length; i += 4) {
      // Rec. 601 luma, in integers: (77 R + 150 G + 29 B) / 256.
      const luma = (77 * rgba[i] + 150 * rgba[i + 1] + 29 * rgba[i + 2]) >> 8;
      counts[luma] += 1;
      sum += luma;
    }
    const pixels = rgba.length / 4;
    const mean = pixels > 0 ? sum / pixels : 0;
    frames += 1;
    draw(ctx, counts);
    label.textContent =
      `${plexus.processor}.${frame.port}: frame ${frame.seq}, ` +
      `${frame.width}×${frame.height}, mean luma ${mean.toFixed(1)}`;
    plexus.report("frames", frames);
    plexus.report("mean", Number(mean.toFixed(2)));
  });
}

// Bars scaled to the fullest bin, one per luma value.
function draw(ctx, counts) {
  const { width, height } = ctx.canvas;
  const peak = Math.max(1, ...counts);
  ctx.clearRect(0, 0, width, height);
  ctx.fillStyle = "#7fd1ff";
  for (let bin = 0; bin < counts.length; bin++) {
    const bar = Math.round((counts[bin] / peak) * height);
    ctx.fillRect(bin, height - bar, 1, bar);
  }
}
