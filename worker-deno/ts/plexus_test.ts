// Tests of the SDK's lifetime rules without the bridge library: a fake Bridge
// stands in for host.ts. Run: deno test --no-config worker-deno/ts/plexus_test.ts
import {
  CallScope,
  Context,
  Frame,
  FRAME_CLOSED,
  type FrameHeader,
  type MemorySource,
  type Bridge,
} from "./plexus.ts";

function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new Error(message);
}

function throws(f: () => unknown, text: string): void {
  try {
    f();
  } catch (e) {
    assert((e as Error).message.includes(text), `"${(e as Error).message}" lacks "${text}"`);
    return;
  }
  throw new Error(`did not throw "${text}"`);
}

/** A length the type checker does not narrow across calls. */
const length = (view: Uint8Array): number => view.length;

const header: FrameHeader = {
  schema: 1,
  format: 0,
  seq: 42n,
  captureNs: 7n,
  width: 2,
  height: 1,
  stride: 8,
  ptsNs: null,
  durationNs: 0n,
  rate: 0,
  ndim: 0,
  shape: [],
  strides: [],
};

/** Memory like host.ts hands out: a fresh ArrayBuffer per view. */
function memory(bytes: number): MemorySource {
  return { byteLength: bytes, view: () => new Uint8Array(new ArrayBuffer(bytes)) };
}

Deno.test("a frame's data ends with its call, and kept views read as empty", () => {
  const frame = new Frame(header, "video/rgba8", memory(8));
  const kept = frame.data;
  assert(length(kept) === 8 && frame.data === kept);
  assert(frame.seq === 42 && frame.captureNs === 7n && frame.width === 2);
  frame.close();
  throws(() => frame.data, FRAME_CLOSED);
  assert(length(kept) === 0, "the kept view is detached");
  assert(frame.header.seq === 42n, "the header stays readable");
});

Deno.test("plain bytes given to a frame are not detached", () => {
  const bytes = new Uint8Array(4);
  const frame = new Frame(header, "bytes", bytes);
  frame.close();
  assert(length(bytes) === 4);
});

Deno.test("outputs: loan, replace, send with overrides, end of call", () => {
  const sent: [number, FrameHeader][] = [];
  const bridge: Bridge = {
    loan: (_port, n) => memory(n),
    send: (port, h) => void sent.push([port, h]),
    finish: () => {
      throw new Error("finish() is for a manual source");
    },
  };
  const scope = new CallScope();
  const ctx = new Context("p", "t.p", { k: 1 }, [{ name: "out", schema: "video/rgba8" }], scope);
  assert(ctx.config.k === 1 && Object.isFrozen(ctx.outputs));
  throws(
    () => ctx.outputs.out.loan(4),
    "outputs can only be used inside process() or produce(), or between start() and stop()",
  );

  scope.enter(bridge, header);
  const first = ctx.outputs.out.loan(4);
  const second = ctx.outputs.out.loan(8);
  throws(() => first.data, "replaced by a later loan on output `out`");
  const view = second.data;
  second.send(undefined, { seq: 5, width: 3 });
  assert(sent.length === 1 && sent[0][0] === 0);
  assert(sent[0][1].seq === 5n && sent[0][1].width === 3 && sent[0][1].captureNs === 7n);
  throws(() => second.send(), "was already sent");
  assert(length(view) === 0, "a sent buffer's view is detached");
  throws(() => ctx.outputs.out.loan(4).send(undefined, { width: -1 }), "must be a u32");
  const unsent = ctx.outputs.out.loan(4);
  scope.leave();
  throws(() => unsent.data, "used after process() returned");
});

/** A bridge that keeps what is sent, over `memory`. */
function recorder(sent: [number, FrameHeader][]): Bridge {
  return {
    loan: (_port, n) => memory(n),
    send: (port, h) => void sent.push([port, h]),
    finish: () => {},
  };
}

Deno.test("a samples/f32 frame reads as floats with its shape and rate, zero-copy", () => {
  const bytes = new Uint8Array(2 * 3 * 4);
  new Float32Array(bytes.buffer).set([0, 1, 2, 10, 11, 12]);
  const samples: FrameHeader = { ...header, schema: 5, rate: 250, ndim: 2, shape: [2, 3], strides: [12, 4] };
  const frame = new Frame(samples, "samples/f32", bytes);
  assert(frame.rate === 250 && frame.shape.join() === "2,3" && frame.strides.join() === "12,4");
  const f32 = frame.f32;
  assert(f32.length === 6 && f32[1 * 3 + 2] === 12 && f32.buffer === bytes.buffer, "a view, not a copy");
  const video = new Frame(header, "video/rgba8", memory(8));
  assert(video.shape.join() === "1,2,4" && video.strides.join() === "8,4,1");
  throws(() => video.f32, "frame.f32 is for f32 schemas (audio/f32, samples/f32, tensor/f32), not video/rgba8");
  frame.close();
  throws(() => frame.f32, FRAME_CLOSED);
});

Deno.test("loanArray: packed shapes in the header, floats or bytes by the port's schema", () => {
  const sent: [number, FrameHeader][] = [];
  const scope = new CallScope();
  const ctx = new Context("p", "t.p", {}, [
    { name: "power", schema: "tensor/f32" },
    { name: "flags", schema: "tensor/u8" },
    { name: "block", schema: "samples/f32" },
    { name: "video", schema: "video/rgba8" },
  ], scope);
  scope.enter(recorder(sent), { ...header, rate: 250 });
  const power = ctx.outputs.power.loanArray([8]);
  assert(power.byteLength === 32 && power.f32.length === 8);
  power.f32.set([1, 2, 3, 4, 5, 6, 7, 8]);
  power.send();
  const [, h] = sent[0];
  assert(h.ndim === 1 && h.shape.join() === "8" && h.strides.join() === "4");
  assert(h.rate === 0, "a tensor has no rate");
  const flags = ctx.outputs.flags.loanArray([2, 4]);
  throws(() => flags.f32, "output `flags` carries tensor/u8, whose elements are not f32: fill `data`");
  flags.send();
  assert(sent[1][1].shape.join() === "2,4" && sent[1][1].strides.join() === "4,1");
  ctx.outputs.block.loanArray([8, 25]).send(undefined, { rate: 500 });
  assert(sent[2][1].rate === 500 && sent[2][1].strides.join() === "100,4");
  ctx.outputs.video.loanArray([3, 2, 4]).send();
  const v = sent[3][1];
  assert(v.width === 2 && v.height === 3 && v.stride === 8 && v.ndim === 0);
  scope.leave();
});

Deno.test("a bad loanArray throws one sentence naming the port", () => {
  const scope = new CallScope();
  const ctx = new Context("p", "t.p", {}, [
    { name: "power", schema: "tensor/f32" },
    { name: "block", schema: "samples/f32" },
    { name: "raw", schema: "bytes" },
  ], scope);
  scope.enter(recorder([]), header);
  throws(
    () => ctx.outputs.power.loanArray([1, 2, 3, 4, 5]),
    "cannot loan an array on output `power` (tensor/f32): a shape has 1 to 4 dimensions, not 5 (1, 2, 3, 4, 5)",
  );
  throws(
    () => ctx.outputs.block.loanArray([8]),
    "cannot loan an array on output `block` (samples/f32): it takes a shape (channels, samples), not (8)",
  );
  throws(() => ctx.outputs.power.loanArray([2.5]), "extents are 0 to 4294967295, not 2.5 in (2.5)");
  throws(() => ctx.outputs.raw.loanArray([4]), "bytes frames have no array shape");
  throws(() => ctx.outputs.power.loanArray([2, 65536, 65536]), "is too large for a frame");
  scope.leave();
});
