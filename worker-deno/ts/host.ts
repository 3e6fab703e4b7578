// The Deno worker's entry point, run by the supervisor as
//   deno run --no-prompt --no-remote --allow-ffi=<lib> \
//     --allow-read=<lib>,<this dir>,<package dirs> host.ts <lib>
// (plus flags that keep config files and lock files out of it), where <lib>
// is libplexus_deno.so, with PLEXUS_RUNTIME and PLEXUS_WORKER in the
// environment (read by the library, so no --allow-env). The library runs the plexus worker
// lifecycle on its own thread, which owns the iceoryx2 objects; this script
// waits for its events and turns each into a call on a TypeScript processor
// (whose loans and sends run on this thread while that thread waits).
// The FFI contract is documented in worker-deno/src/ffi.rs. The same library
// is loaded a second time as a Node-API addon for zero-copy views of shared
// memory (worker-deno/src/views.rs): Deno's own pointer views would need an
// unrestricted --allow-ffi.

import nodeProcess from "node:process";
import {
  CallScope,
  Context,
  Frame,
  type FrameHeader,
  type MemorySource,
  type Processor,
  type Bridge,
} from "./plexus.ts";

const ABI_VERSION = 6;
const EVENT_CREATE = 1;
const EVENT_PROCESS = 2;
const EVENT_TEARDOWN = 3;
const EVENT_EXIT = 4;
const EVENT_PRODUCE = 5;
const EVENT_START = 6;
const EVENT_STOP = 7;
const EVENT_PAUSE = 8;
const EVENT_RESUME = 9;
const EVENT_CONFIG = 10;
const EVENT_SNAPSHOT = 11;
const EVENT_RESTORE = 12;
/** `plexus_deno_done`'s answers (src/ffi.rs). */
const DONE_FAILED = 0;
const DONE_OK = 1;
const DONE_NO_HOOK = 2;
const DONE_STATE = 3;
/** Size of `FrameHeader` (ipc-schemas/frame/src/frame.rs). */
const HEADER = 96;
/** Entries of `shape` and `strides` in the header. */
const MAX_DIMS = 4;
/** Size of `FrameInfo` (src/bridge.rs): processor u32, port u32, len u64,
 * FrameHeader, frames u32, reserved u32. */
const FRAME_INFO = 16 + HEADER + 8;

const SYMBOLS = {
  plexus_deno_abi_version: { parameters: [], result: "u32" },
  plexus_deno_start: { parameters: [], result: "pointer" },
  plexus_deno_next: { parameters: ["pointer"], result: "i32", nonblocking: true },
  plexus_deno_event_json: { parameters: ["pointer", "buffer", "u32"], result: "i32" },
  plexus_deno_event_state: { parameters: ["pointer", "buffer", "u32"], result: "i32" },
  plexus_deno_event_frame: { parameters: ["pointer", "u32", "buffer", "u32"], result: "i32" },
  plexus_deno_loan: { parameters: ["pointer", "u32", "u32", "usize"], result: "i32" },
  plexus_deno_send: { parameters: ["pointer", "u32", "u32", "buffer", "u32"], result: "i32" },
  plexus_deno_next_header: { parameters: ["pointer", "u32", "buffer", "u32"], result: "i32" },
  plexus_deno_finish: { parameters: ["pointer", "u32"], result: "i32" },
  plexus_deno_done: { parameters: ["pointer", "u8", "buffer", "u32"], result: "i32" },
  plexus_deno_error: { parameters: ["buffer", "u32"], result: "i32" },
  plexus_deno_close: { parameters: ["pointer"], result: "void" },
} as const;

/** The Node-API part of the library: external ArrayBuffers over the memory
 * of the open call, which the library finds itself. */
interface Views {
  frame(index: number): ArrayBuffer;
  loan(processor: number, port: number): ArrayBuffer;
}

/** What create events describe: the Rust type `ipc_schemas::DenoCreate`
 * (ipc-schemas/src/worker_info.rs), which src/host.rs `create_json` fills.
 * Keep the two in step; `package_dir` is sent but not needed here. */
interface CreateSpec {
  index: number;
  id: string;
  type: string;
  file: string;
  export: string;
  label: string;
  config: Record<string, unknown>;
  inputs: string[];
  outputs: { name: string; schema: string }[];
  schemas: Record<string, string>;
  /** What makes it run besides its inputs: `produce` calls (continuous),
   * or its own `start` to `stop` (manual). */
  drive: "reactive" | "continuous" | "manual";
}

/** A created processor. */
interface Slot {
  spec: CreateSpec;
  instance: Processor;
  context: Context;
  scope: CallScope;
  /** Its outputs' way to the library. */
  bridge: Bridge;
}

function fatal(message: string): never {
  console.error(`plexus deno host: ${message}`);
  Deno.exit(1);
}

/** An error with its stack, without the frames of this host script. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const text = error.stack ?? `${error.name}: ${error.message}`;
  return text
    .split("\n")
    .filter((line) => !(line.trimStart().startsWith("at ") && line.includes(import.meta.url)))
    .join("\n");
}

/** An import failure; the first line also says where (Deno puts the
 * location of a syntax error at the end of its message). */
function describeImport(error: unknown): string {
  const [first, ...rest] = describe(error).split("\n");
  const at = rest.map((line) => line.trim()).find((line) => line.startsWith("at "));
  return [at ? `${first} (${at})` : first, ...rest].join("\n");
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === "function";
}

function fileUrl(path: string): string {
  return "file://" + path.split("/").map(encodeURIComponent).join("/");
}

const libPath = Deno.args[0];
if (!libPath) fatal("usage: deno run … host.ts <path of libplexus_deno.so>");
const lib = Deno.dlopen(libPath, SYMBOLS);
const ffi = lib.symbols;
if (ffi.plexus_deno_abi_version() !== ABI_VERSION) {
  fatal(`${libPath} speaks ABI ${ffi.plexus_deno_abi_version()}, this host.ts ${ABI_VERSION}`);
}
const addon = { exports: {} as Views };
nodeProcess.dlopen(addon, libPath);
const views = addon.exports;

const decoder = new TextDecoder();
const encoder = new TextEncoder();
let textBuffer = new Uint8Array(64 * 1024);

/** Reads a text the library copies out (`fill` returns its full length). */
function readText(fill: (buf: Uint8Array, cap: number) => number, what: string): string {
  let len = fill(textBuffer, textBuffer.length);
  if (len > textBuffer.length) {
    textBuffer = new Uint8Array(len);
    len = fill(textBuffer, len);
  }
  if (len < 0) fatal(`cannot read ${what}: ${lastError()}`);
  return decoder.decode(textBuffer.subarray(0, len));
}

function lastError(): string {
  const buf = new Uint8Array(4096);
  const len = ffi.plexus_deno_error(buf, buf.length);
  return len < 0 ? "(no message)" : decoder.decode(buf.subarray(0, Math.min(len, buf.length)));
}

// `--check SPECS` (`plexus validate --deep`): load each processor as a run
// would, without its setup(), and say what failed, one JSON line each.
if (Deno.args[1] === "--check") {
  const specs = JSON.parse(await new Response(Deno.stdin.readable).text()) as CreateSpec[];
  for (const spec of specs) {
    const loaded = await load(spec);
    if (typeof loaded === "string") console.log(JSON.stringify({ processor: spec.id, message: loaded }));
  }
  Deno.exit(0);
}

const handle = ffi.plexus_deno_start();
if (handle === null) fatal(`cannot start: ${lastError()}`);

function eventJson(): unknown {
  return JSON.parse(
    readText((buf, cap) => ffi.plexus_deno_event_json(handle, buf, cap), "an event"),
  );
}

/** Zero-copy views of `len` bytes, made by `view` while the call is open. */
function memory(len: number, view: () => ArrayBuffer): MemorySource {
  return {
    byteLength: len,
    view: () => (len === 0 ? new Uint8Array(0) : new Uint8Array(view())),
  };
}

const NO_PTS = -(2n ** 63n);
const headerBytes = new Uint8Array(HEADER);
const headerView = new DataView(headerBytes.buffer);

/** Reads a `FrameHeader` laid out at `at` in `view`. */
function readHeader(view: DataView, at: number): FrameHeader {
  const pts = view.getBigInt64(at + 40, true);
  const ndim = view.getUint32(at + 60, true);
  // The used entries only; a header claiming more than there are is read
  // as far as there are (the worker refuses such frames before sending).
  const dims = (from: number) =>
    Array.from({ length: Math.min(ndim, MAX_DIMS) }, (_, d) => view.getUint32(from + 4 * d, true));
  return {
    schema: view.getUint32(at, true),
    format: view.getUint32(at + 4, true),
    seq: view.getBigUint64(at + 8, true),
    captureNs: view.getBigUint64(at + 16, true),
    width: view.getUint32(at + 24, true),
    height: view.getUint32(at + 28, true),
    stride: view.getUint32(at + 32, true),
    ptsNs: pts === NO_PTS ? null : pts,
    durationNs: view.getBigUint64(at + 48, true),
    rate: view.getUint32(at + 56, true),
    ndim,
    shape: dims(at + 64),
    strides: dims(at + 80),
  };
}

/** Lays `h` out in `headerBytes`. */
function writeHeader(h: FrameHeader): Uint8Array {
  headerView.setUint32(0, h.schema, true);
  headerView.setUint32(4, h.format, true);
  headerView.setBigUint64(8, h.seq, true);
  headerView.setBigUint64(16, h.captureNs, true);
  headerView.setUint32(24, h.width, true);
  headerView.setUint32(28, h.height, true);
  headerView.setUint32(32, h.stride, true);
  headerView.setUint32(36, 0, true);
  headerView.setBigInt64(40, h.ptsNs ?? NO_PTS, true);
  headerView.setBigUint64(48, h.durationNs, true);
  headerView.setUint32(56, h.rate, true);
  headerView.setUint32(60, h.ndim, true);
  for (let d = 0; d < MAX_DIMS; d++) {
    headerView.setUint32(64 + 4 * d, h.shape[d] ?? 0, true);
    headerView.setUint32(80 + 4 * d, h.strides[d] ?? 0, true);
  }
  return headerBytes;
}

/** The outputs of processor `index`, through the library. */
function bridgeOf(index: number): Bridge {
  return {
    loan(port, byteLength) {
      if (ffi.plexus_deno_loan(handle, index, port, BigInt(byteLength)) !== 0) {
        throw new Error(lastError());
      }
      return memory(byteLength, () => views.loan(index, port));
    },
    send(port, h) {
      if (ffi.plexus_deno_send(handle, index, port, writeHeader(h), HEADER) !== 0) {
        throw new Error(lastError());
      }
    },
    finish() {
      if (ffi.plexus_deno_finish(handle, index) !== 0) throw new Error(lastError());
    },
  };
}

/** The header a manual processor's next frame carries by default. */
function nextHeader(index: number): FrameHeader {
  if (ffi.plexus_deno_next_header(handle, index, headerBytes, HEADER) !== 0) {
    throw new Error(lastError());
  }
  return readHeader(headerView, 0);
}

const slots = new Map<number, Slot>();

/**
 * Imports a processor's module and constructs its class, checking what its
 * mode needs: all that comes before its setup(). The error is the sentence
 * the worker reports.
 */
async function load(spec: CreateSpec): Promise<Processor | string> {
  let module: Record<string, unknown>;
  try {
    module = await import(fileUrl(spec.file));
  } catch (e) {
    return `cannot import \`${spec.file}\`: ${describeImport(e)}`;
  }
  const Class = module[spec.export];
  if (Class === undefined) return `module \`${spec.file}\` has no export \`${spec.export}\``;
  if (typeof Class !== "function") {
    return `export \`${spec.export}\` of \`${spec.file}\` is not a class`;
  }
  let instance: Processor;
  try {
    instance = new (Class as new () => Processor)();
  } catch (e) {
    return `cannot construct \`${spec.label}\`: ${describe(e)}`;
  }
  if (spec.inputs.length > 0 && typeof instance?.process !== "function") {
    return `class \`${spec.export}\` of \`${spec.file}\` has no process() method, which a processor with inputs needs`;
  }
  if (spec.drive === "continuous" && typeof instance?.produce !== "function") {
    return `class \`${spec.export}\` of \`${spec.file}\` has no produce() method, which mode continuous needs`;
  }
  if (spec.drive === "manual" && typeof instance?.start !== "function") {
    return `class \`${spec.export}\` of \`${spec.file}\` has no start() method, which mode manual needs`;
  }
  return instance;
}

async function create(spec: CreateSpec): Promise<string | null> {
  const instance = await load(spec);
  if (typeof instance === "string") return instance;
  const scope = new CallScope();
  const context = new Context(spec.id, spec.type, spec.config, spec.outputs, scope);
  if (typeof instance.setup === "function") {
    try {
      await instance.setup(context);
    } catch (e) {
      return `setup() of \`${spec.label}\` threw ${describe(e)}`;
    }
  }
  slots.set(spec.index, { spec, instance, context, scope, bridge: bridgeOf(spec.index) });
  return null;
}

const info = new Uint8Array(FRAME_INFO);
const infoView = new DataView(info.buffer);

/** Frame `index` of the open call: its processor, input port, data
 * length and header, and how many frames the call has. */
function readFrameInfo(
  index = 0,
): { slot: Slot; port: number; len: number; header: FrameHeader; frames: number } {
  if (ffi.plexus_deno_event_frame(handle, index, info, info.length) !== 0) {
    fatal(`cannot read a frame event: ${lastError()}`);
  }
  const slot = slots.get(infoView.getUint32(0, true));
  if (slot === undefined) fatal(`a call for unknown processor ${infoView.getUint32(0, true)}`);
  return {
    slot,
    port: infoView.getUint32(4, true),
    len: Number(infoView.getBigUint64(8, true)),
    header: readHeader(infoView, 16),
    frames: infoView.getUint32(16 + HEADER, true),
  };
}

/** One `produce(ctx)` call; sends default to the header the worker gave. */
async function produceFrame(): Promise<string | null> {
  const { slot, header } = readFrameInfo();
  slot.scope.enter(slot.bridge, header);
  try {
    const result = slot.instance.produce?.(slot.context);
    if (isThenable(result)) await result;
    return null;
  } catch (e) {
    return `produce() of \`${slot.spec.label}\` threw ${describe(e)}`;
  } finally {
    slot.scope.leave();
  }
}

/** One `process(ctx, inputs)` call, with a frame of one input, or of
 * every input when they are synchronised. */
async function processFrame(): Promise<string | null> {
  const first = readFrameInfo(0);
  const slot = first.slot;
  if (slot.instance.process === undefined) {
    return `\`${slot.spec.label}\` has no process() method`;
  }
  const inputs: Record<string, Frame> = {};
  const frames: Frame[] = [];
  for (let i = 0; i < first.frames; i++) {
    const { port, len, header } = i === 0 ? first : readFrameInfo(i);
    const schema = slot.spec.schemas[header.schema] ?? `unknown schema ${header.schema}`;
    const frame = new Frame(header, schema, memory(len, () => views.frame(i)));
    inputs[slot.spec.inputs[port]] = frame;
    frames.push(frame);
  }
  slot.scope.enter(slot.bridge, first.header);
  try {
    const result = slot.instance.process!(slot.context, inputs);
    if (isThenable(result)) await result;
    return null;
  } catch (e) {
    return `process() of \`${slot.spec.label}\` threw ${describe(e)}`;
  } finally {
    for (const frame of frames) frame.close();
    slot.scope.leave();
  }
}

/** A manual processor's `start(ctx)`: its outputs stay open until `stop`. */
async function start(): Promise<string | null> {
  const { processor } = eventJson() as { processor: number };
  const slot = slots.get(processor);
  if (slot === undefined) return `start of unknown processor ${processor}`;
  slot.scope.enter(slot.bridge, () => nextHeader(processor));
  try {
    await slot.instance.start?.(slot.context);
    return null;
  } catch (e) {
    slot.scope.leave();
    return `start() of \`${slot.spec.label}\` threw ${describe(e)}`;
  }
}

/** Calls the optional method `name` of the processor the current event
 * names; `teardown` also forgets the processor, and after `stop` its
 * outputs close, so that sends from its timers are refused. */
async function hook(name: "onPause" | "onResume" | "stop" | "teardown"): Promise<string | null> {
  const { processor } = eventJson() as { processor: number };
  const slot = slots.get(processor);
  if (slot === undefined) return null;
  if (name === "teardown") slots.delete(processor);
  try {
    await slot.instance[name]?.();
    return null;
  } catch (e) {
    return `${name}() of \`${slot.spec.label}\` threw ${describe(e)}`;
  } finally {
    if (name === "stop") slot.scope.leave();
  }
}

/** Hands the processor the current event names the config changes a user
 * made, through its optional `onConfig`; `ctx.config` shows them once it
 * took them. Answers whether it has the hook. */
async function configure(): Promise<{ error: string | null; noHook: boolean }> {
  const { processor, changes } = eventJson() as {
    processor: number;
    changes: Record<string, unknown>;
  };
  const slot = slots.get(processor);
  if (slot === undefined) return { error: `config of unknown processor ${processor}`, noHook: false };
  if (typeof slot.instance.onConfig !== "function") return { error: null, noHook: true };
  try {
    // A copy: what the hook does to it cannot change what ctx.config takes.
    await slot.instance.onConfig({ ...changes });
    slot.context.tookConfig(changes);
    return { error: null, noHook: false };
  } catch (e) {
    // Its first line, the error's name and message: the sentence the user reads.
    const [thrown] = describe(e).split("\n");
    return { error: `onConfig() of \`${slot.spec.label}\` threw ${thrown}`, noHook: false };
  }
}

/** The processor the current snapshot or restore event names. */
function stateSlot(): Slot {
  const { processor } = eventJson() as { processor: number };
  const slot = slots.get(processor);
  if (slot === undefined) fatal(`a state event for unknown processor ${processor}`);
  return slot;
}

/** A live swap's `snapshot()`: the state it returns goes back as the
 * call's bytes; a processor without it keeps no state. */
async function snapshot(): Promise<void> {
  const slot = stateSlot();
  if (typeof slot.instance.snapshot !== "function") return done(null, true);
  let state: unknown;
  try {
    state = await slot.instance.snapshot();
  } catch (e) {
    return done(`snapshot() of \`${slot.spec.id}\` threw ${describe(e)}`);
  }
  if (!(state instanceof Uint8Array)) {
    const type = state === null ? "null" : (state as object)?.constructor?.name ?? typeof state;
    return done(`snapshot() of \`${slot.spec.id}\` returned ${type}, not a Uint8Array`);
  }
  // An empty array is still a state; `buffer` parameters may pass it as null.
  const status = ffi.plexus_deno_done(handle, DONE_STATE, state, state.length);
  if (status !== 0) fatal(`cannot end the call: ${lastError()}`);
}

/** A live swap's `restore(state)`, with the state the library copies out;
 * a processor without it cannot take its predecessor's state. */
async function restore(): Promise<void> {
  const slot = stateSlot();
  if (typeof slot.instance.restore !== "function") return done(null, true);
  const len = ffi.plexus_deno_event_state(handle, null, 0);
  if (len < 0) fatal(`cannot read the state: ${lastError()}`);
  const state = new Uint8Array(len);
  if (ffi.plexus_deno_event_state(handle, state, len) !== len) {
    fatal(`cannot read the state: ${lastError()}`);
  }
  try {
    await slot.instance.restore(state);
    done(null);
  } catch (e) {
    done(`restore() of \`${slot.spec.id}\` threw ${describe(e)}`);
  }
}

function done(error: string | null, noHook = false): void {
  const message = error === null ? null : encoder.encode(error);
  const answer = error !== null ? DONE_FAILED : noHook ? DONE_NO_HOOK : DONE_OK;
  const status = ffi.plexus_deno_done(handle, answer, message, message?.length ?? 0);
  if (status !== 0) fatal(`cannot end the call: ${lastError()}`);
}

// Processor code that escapes its calls (a timer, an unawaited promise) must
// not end the worker; it is logged instead.
globalThis.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  console.error(`plexus: a promise rejected and nothing caught it: ${describe(event.reason)}`);
});
globalThis.addEventListener("error", (event) => {
  event.preventDefault();
  console.error(`plexus: uncaught ${describe(event.error)}`);
});

/** Serves events until the library reports the lifecycle's end. */
async function serve(): Promise<never> {
  for (;;) {
    const kind = await ffi.plexus_deno_next(handle);
    switch (kind) {
      case EVENT_CREATE:
        done(await create(eventJson() as CreateSpec));
        break;
      case EVENT_PROCESS:
        done(await processFrame());
        break;
      case EVENT_PRODUCE:
        done(await produceFrame());
        break;
      case EVENT_TEARDOWN:
        done(await hook("teardown"));
        break;
      case EVENT_PAUSE:
        done(await hook("onPause"));
        break;
      case EVENT_RESUME:
        done(await hook("onResume"));
        break;
      case EVENT_CONFIG: {
        const { error, noHook } = await configure();
        done(error, noHook);
        break;
      }
      case EVENT_START:
        done(await start());
        break;
      case EVENT_SNAPSHOT:
        await snapshot();
        break;
      case EVENT_RESTORE:
        await restore();
        break;
      case EVENT_STOP:
        done(await hook("stop"));
        break;
      case EVENT_EXIT: {
        const { code } = eventJson() as { code: number; message: string };
        // The library logged any failure. It is not unloaded (Rust
        // libraries never are); the process simply ends.
        ffi.plexus_deno_close(handle);
        Deno.exit(code);
        break;
      }
      default:
        fatal(`waiting for the next event failed: ${lastError()}`);
    }
  }
}

// A failure of this script itself must end the worker, never leave the
// lifecycle thread waiting for an answer.
serve().catch((e) => fatal(`the host failed: ${describe(e)}`));
