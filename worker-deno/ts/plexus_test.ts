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
