// The plexus SDK for TypeScript processors: the types a processor is written
// against. host.ts builds these objects around shared memory and calls the
// processor; a processor only reads frames and fills loaned output buffers.
//
// A processor needs only types from here, so it can import them with
// `import type` and load nothing at run time.
//
// Memory rules (the views are zero-copy views of shared memory):
// - `frame.data` is valid only during the `process()` call that received the
//   frame. Afterwards the getter throws, and views handed out earlier are
//   detached (length 0): never keep them, copy what you need
//   (`frame.data.slice()`). The memory behind them is reused for later frames.
// - `frame.data` is read-only: the input is mapped read-only from another
//   process, and writing to it crashes the worker (SIGSEGV; the supervisor
//   then treats it as any crashed worker). Write into a loaned output buffer.
// - `out.data` is valid from `loan()` until `send()`, a later `loan()` on the
//   same output, or the end of the call (for a manual processor, `stop()`),
//   whichever comes first.
// - `frame.f32` and `out.f32` are Float32Arrays over the same memory as
//   `data`, under the same rules.

import { type ArrayLoan, describeLoan, f32View, isF32, layoutOf, planLoan } from "./shapes.ts";

/** A processor: a class exported from a module, named in the package's
 * `plexus.yaml` as `entry: file.ts#ClassName`, constructed without arguments. */
export interface Processor {
  /** Called once before any frame, with the processor's context. A throw
   * (or rejection) fails the pipeline's start, naming this processor. */
  setup?(ctx: Context): void | Promise<void>;
  /** Called for each input frame; `inputs` maps the input port's name to
   * the frame. A throw is reported as a processor error and the next frame
   * is processed as usual. A source (no inputs) need not have it. */
  process?(ctx: Context, inputs: Record<string, Frame>): void | Promise<void>;
  /** Sources (`mode: continuous` with `interval_ms` in the manifest): called
   * every `interval_ms` to produce the next frame(s). `send()` without a
   * frame uses the call's sequence number and capture time; give `width`,
   * `height` and `stride` for video. */
  produce?(ctx: Context): void | Promise<void>;
  /** Manual processors (`mode: manual`): start producing on your own, with
   * a timer or an async loop that loans and sends on `ctx.outputs` until
   * `stop()`; `send()` without a frame gives each frame the next sequence
   * number and the time of sending. Return promptly: it is held to the
   * setup deadline. A throw ends the worker like a crash. */
  start?(ctx: Context): void | Promise<void>;
  /** Manual processors: stop the timers and loops `start()` began; sends
   * after it returns throw. */
  stop?(): void | Promise<void>;
  /** Called when the processor is paused (`plexus pause`), and after
   * `setup` when it begins paused (its worker restarted while it was
   * paused). Until `onResume`, neither `process` nor `produce` is called;
   * a source might release its device here. A throw is logged. */
  onPause?(): void | Promise<void>;
  /** Called when the processor is resumed (`plexus resume`). */
  onResume?(): void | Promise<void>;
  /** Called when a user changes config keys while the processor runs
   * (`plexus set PROC key=value…`), between two calls (never during
   * `process`), with the changed keys and their new values, checked
   * against the manifest's schema. Take them and the next frame is made
   * with them; `ctx.config` shows them once it returned. Without it, the
   * worker is restarted with the new config. A throw keeps the old config
   * and tells the user. */
  onConfig?(changes: Record<string, unknown>): void | Promise<void>;
  /** Live swap (`plexus upgrade`): the state to carry to this processor's
   * successor, called once after the last frame it handles here (never
   * during another call); at most 16 MiB. Without it, no state is kept. A
   * throw fails the swap and the old version keeps serving. */
  snapshot?(): Uint8Array | Promise<Uint8Array>;
  /** Live swap: takes the state its predecessor's `snapshot` gave, once,
   * after `setup` and before the first frame. Without it, a predecessor's
   * state cannot be taken, so the swap fails and the old version keeps
   * serving; so it does when this throws. */
  restore?(state: Uint8Array): void | Promise<void>;
  /** Called once when the pipeline stops. */
  teardown?(): void | Promise<void>;
}

/** The header every frame carries (ipc-schemas `FrameHeader`). */
export interface FrameHeader {
  /** Numeric schema id; see `Frame.schema` for its name. */
  schema: number;
  format: number;
  /** Sequence number given by the source. */
  seq: bigint;
  /** Capture time, `CLOCK_MONOTONIC` in nanoseconds. */
  captureNs: bigint;
  width: number;
  height: number;
  /** Bytes per row for video schemas. */
  stride: number;
  /** Presentation time on the source's media clock, in nanoseconds; `null`
   * when the source has none. */
  ptsNs: bigint | null;
  /** How long the frame is presented, in nanoseconds; 0 when unknown. */
  durationNs: bigint;
  /** Samples per second per channel (`audio/f32`, `samples/f32`); 0
   * otherwise. */
  rate: number;
  /** Dimensions of shaped frames (audio, samples, tensors), 1 to 4; 0 for
   * video and bytes. */
  ndim: number;
  /** Extent of each of the `ndim` dimensions, outermost first. */
  shape: number[];
  /** Bytes from one element to the next along each of the `ndim`
   * dimensions. */
  strides: number[];
}

/** Header fields `OutBuffer.send` may change from the frame it copies. */
export interface HeaderOverrides {
  seq?: number | bigint;
  captureNs?: bigint;
  width?: number;
  height?: number;
  stride?: number;
  format?: number;
  ptsNs?: bigint | null;
  durationNs?: bigint;
  /** Samples per second per channel, for `audio/f32` and `samples/f32`. */
  rate?: number;
}

/** A view of memory the SDK does not own: made on first use, detached when
 * its frame or buffer ends. Implemented by host.ts. */
export interface MemorySource {
  readonly byteLength: number;
  view(): Uint8Array<ArrayBuffer>;
}

/** How outputs reach the Deno bridge library during a call. Implemented by host.ts. */
export interface Bridge {
  /** Loans `byteLength` bytes on output `port`; throws on failure. */
  loan(port: number, byteLength: number): MemorySource;
  /** Sends the buffer last loaned on `port`; throws on failure. */
  send(port: number, header: FrameHeader): void;
  /** A manual source has sent its last frame; throws for any other. */
  finish(): void;
}

export const FRAME_CLOSED = "plexus Frame used after process() returned";
const OUTSIDE_PROCESS =
  "outputs can only be used inside process() or produce(), or between start() and stop()";

/** Detaches a view's buffer so that every view of it reads as empty. */
function detach(view: Uint8Array<ArrayBuffer> | null): void {
  if (view !== null && !view.buffer.detached) view.buffer.transfer(0);
}

/** One input frame. Header fields stay readable forever; `data` only while
 * the `process()` call that received the frame runs. */
export class Frame {
  readonly header: Readonly<FrameHeader>;
  /** The schema's name, e.g. `video/rgba8`. */
  readonly schema: string;
  readonly byteLength: number;
  #source: MemorySource | Uint8Array | null;
  #view: Uint8Array<ArrayBuffer> | null = null;
  #f32: Float32Array | null = null;

  /** `data` is either plain bytes (handy in tests of a processor) or shared
   * memory the frame releases when it is closed. */
  constructor(header: FrameHeader, schema: string, data: MemorySource | Uint8Array) {
    this.header = Object.freeze({ ...header });
    this.schema = schema;
    this.byteLength = data.byteLength;
    this.#source = data;
  }

  /** Sequence number (exact up to 2^53; `header.seq` is the bigint). */
  get seq(): number {
    return Number(this.header.seq);
  }
  get captureNs(): bigint {
    return this.header.captureNs;
  }
  get width(): number {
    return this.header.width;
  }
  get height(): number {
    return this.header.height;
  }
  get stride(): number {
    return this.header.stride;
  }
  get format(): number {
    return this.header.format;
  }
  get ptsNs(): bigint | null {
    return this.header.ptsNs;
  }
  get durationNs(): bigint {
    return this.header.durationNs;
  }
  /** Samples per second per channel (`audio/f32`, `samples/f32`); 0 for the
   * other schemas. */
  get rate(): number {
    return this.header.rate;
  }
  /** The payload's shape, outermost first: the header's for audio, samples
   * and tensors (e.g. [8, 25], 8 channels of 25 samples), [height, width, 4]
   * for `video/rgba8`, [height, width] for `video/gray8`, [byteLength] for
   * bytes. */
  get shape(): number[] {
    return layoutOf(this.schema, this.header, this.byteLength).shape;
  }
  /** Bytes from one element to the next along each dimension of `shape`. */
  get strides(): number[] {
    return layoutOf(this.schema, this.header, this.byteLength).strides;
  }

  /** The payload as 32-bit floats, zero-copy, for `audio/f32`,
   * `samples/f32` and `tensor/f32`: element (i, j) of a packed [n, m] frame
   * is `f32[i * m + j]` (in general, byte offset i·strides[0] + j·strides[1],
   * divided by 4). Throws for other schemas, and, as `data` does, once
   * `process()` has returned. */
  get f32(): Float32Array {
    if (!isF32(this.schema)) {
      throw new Error(`frame.f32 is for f32 schemas (audio/f32, samples/f32, tensor/f32), not ${this.schema}`);
    }
    const data = this.data;
    return (this.#f32 ??= f32View(data, "the frame"));
  }

  /** The payload, zero-copy and read-only. Throws once `process()` has
   * returned; an array taken earlier must not be kept past the call either
   * (its memory is reused for later frames; plexus detaches it, so it reads
   * as empty). Copy with `frame.data.slice()` to keep bytes. */
  get data(): Uint8Array {
    const source = this.#source;
    if (source === null) throw new Error(FRAME_CLOSED);
    if (source instanceof Uint8Array) return source;
    return (this.#view ??= source.view());
  }

  get closed(): boolean {
    return this.#source === null;
  }

  /** Ends access to `data`; host.ts calls it when `process()` returns. */
  close(): void {
    if (!(this.#source instanceof Uint8Array)) detach(this.#view);
    this.#source = null;
    this.#view = null;
    this.#f32 = null;
  }
}

/** When the processor's outputs are open, shared by its outputs. host.ts
 * opens and closes it around every `process()` call, and, for a manual
 * processor, from `start()` to `stop()`. */
export class CallScope {
  #bridge: Bridge | null = null;
  #input: FrameHeader | (() => FrameHeader) | null = null;
  #loans = new Set<OutBuffer>();
  #unsent = new Map<number, OutBuffer>();

  /** `input` is the header sends default to, or what makes it anew for
   * each send (a manual processor's next sequence number and time). */
  enter(bridge: Bridge, input: FrameHeader | (() => FrameHeader)): void {
    this.#bridge = bridge;
    this.#input = input;
  }

  /** Ends every buffer loaned and not sent. */
  leave(): void {
    for (const loan of this.#loans) loan._end("used after process() returned");
    this.#loans.clear();
    this.#unsent.clear();
    this.#bridge = null;
    this.#input = null;
  }

  bridge(): Bridge {
    if (this.#bridge === null) throw new Error(OUTSIDE_PROCESS);
    return this.#bridge;
  }

  input(): FrameHeader {
    if (this.#input === null) throw new Error(OUTSIDE_PROCESS);
    return typeof this.#input === "function" ? this.#input() : this.#input;
  }

  loaned(output: Output, buffer: OutBuffer): void {
    // The bridge gives an unsent buffer back when the port loans again.
    this.#unsent.get(output.index)?._end(
      `was replaced by a later loan on output \`${output.name}\``,
    );
    this.#unsent.set(output.index, buffer);
    this.#loans.add(buffer);
  }

  sent(output: Output, buffer: OutBuffer): void {
    this.#unsent.delete(output.index);
    this.#loans.delete(buffer);
  }
}

/** One output port of the processor. */
export class Output {
  readonly name: string;
  /** The schema the port declares, e.g. `video/rgba8`. */
  readonly schema: string;
  /** The port's index in the processor's outputs. */
  readonly index: number;
  #scope: CallScope;

  constructor(name: string, schema: string, index: number, scope: CallScope) {
    this.name = name;
    this.schema = schema;
    this.index = index;
    this.#scope = scope;
  }

  /** Loans `byteLength` bytes of shared memory to fill and `send()`. Only
   * inside `process()` and `produce()`, or between `start()` and `stop()`. */
  loan(byteLength: number): OutBuffer {
    if (!Number.isSafeInteger(byteLength) || byteLength < 0) {
      throw new RangeError(`cannot loan ${byteLength} bytes`);
    }
    return this.#lend(byteLength, null);
  }

  /** Loans a packed, row-major array of `shape` (elements of the port's
   * schema: fill `f32` for f32 schemas, `data` for tensor/u8 and video),
   * whose `send()` fills in the header's shape (width, height and stride
   * for video). A shape the port's schema cannot take throws a RangeError
   * naming the port. */
  loanArray(shape: readonly number[]): OutBuffer {
    const plan = planLoan(this.schema, shape);
    if (typeof plan === "string") {
      throw new RangeError(`cannot loan an array on output \`${this.name}\` (${this.schema}): ${plan}`);
    }
    return this.#lend(plan.byteLength, plan);
  }

  /** Loans on the port, for `loan` and `loanArray` alike. */
  #lend(byteLength: number, shaped: ArrayLoan | null): OutBuffer {
    const source = this.#scope.bridge().loan(this.index, byteLength);
    const buffer = new OutBuffer(this, source, this.#scope, shaped);
    this.#scope.loaned(this, buffer);
    return buffer;
  }
}

/** A loaned output buffer: fill `data`, then `send()` it. */
export class OutBuffer {
  readonly output: Output;
  readonly byteLength: number;
  /** The array `loanArray` loaned, whose shape `send()` puts in the
   * header; null after `loan(byteLength)`. */
  readonly shaped: Readonly<ArrayLoan> | null;
  #source: MemorySource;
  #view: Uint8Array<ArrayBuffer> | null = null;
  #f32: Float32Array | null = null;
  #ended: string | null = null;
  #scope: CallScope;

  constructor(output: Output, source: MemorySource, scope: CallScope, shaped: ArrayLoan | null = null) {
    this.output = output;
    this.byteLength = source.byteLength;
    this.shaped = shaped;
    this.#source = source;
    this.#scope = scope;
  }

  /** The loaned memory, zero-copy; throws once the buffer was sent,
   * replaced or its call ended. */
  get data(): Uint8Array {
    this.#check();
    return (this.#view ??= this.#source.view());
  }

  /** The loaned memory as 32-bit floats, zero-copy, on an output of an f32
   * schema; throws on other outputs (fill `data`), and once the buffer was
   * sent, replaced or its call ended. */
  get f32(): Float32Array {
    const { name, schema } = this.output;
    if (!isF32(schema)) {
      throw new Error(`output \`${name}\` carries ${schema}, whose elements are not f32: fill \`data\``);
    }
    return (this.#f32 ??= f32View(this.data, `the buffer loaned on output \`${name}\``));
  }

  /** Publishes the buffer. The header is copied from `like` (by default the
   * frame being processed), then `overrides` are applied; the schema is
   * always the output's, and a buffer of `loanArray` says its shape. */
  send(like?: Frame, overrides: HeaderOverrides = {}): void {
    this.#check();
    const base = like?.header ?? this.#scope.input();
    const header: FrameHeader = {
      schema: base.schema,
      format: u32("format", overrides.format ?? base.format),
      seq: u64("seq", overrides.seq ?? base.seq),
      captureNs: u64("captureNs", overrides.captureNs ?? base.captureNs),
      width: u32("width", overrides.width ?? base.width),
      height: u32("height", overrides.height ?? base.height),
      stride: u32("stride", overrides.stride ?? base.stride),
      ptsNs: pts(overrides.ptsNs === undefined ? base.ptsNs : overrides.ptsNs),
      durationNs: u64("durationNs", overrides.durationNs ?? base.durationNs),
      rate: u32("rate", overrides.rate ?? base.rate),
      ndim: base.ndim,
      shape: base.shape,
      strides: base.strides,
    };
    if (this.shaped !== null) describeLoan(this.output.schema, this.shaped, header);
    this.#scope.bridge().send(this.output.index, header);
    this.#scope.sent(this.output, this);
    this._end("was already sent");
  }

  /** Ends access to the memory (host and SDK use). */
  _end(reason: string): void {
    if (this.#ended !== null) return;
    this.#ended = reason;
    detach(this.#view);
    this.#view = null;
    this.#f32 = null;
  }

  #check(): void {
    if (this.#ended !== null) {
      throw new Error(`plexus OutBuffer of output \`${this.output.name}\` ${this.#ended}`);
    }
  }
}

function u32(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new RangeError(`header field ${field} must be a u32, not ${value}`);
  }
  return value;
}

/** The frame header's `pts_ns` is an i64 whose least value means "none". */
export const NO_PTS = -(2n ** 63n);

function pts(value: bigint | null): bigint | null {
  if (value === null) return null;
  if (typeof value !== "bigint" || value <= NO_PTS || value >= 2n ** 63n) {
    throw new RangeError(`header field ptsNs must be an i64 above -2^63 or null, not ${value}`);
  }
  return value;
}

function u64(field: string, value: number | bigint): bigint {
  const big = typeof value === "bigint" ? value : Number.isInteger(value) ? BigInt(value) : -1n;
  if (big < 0n || big > 0xffff_ffff_ffff_ffffn) {
    throw new RangeError(`header field ${field} must be a u64, not ${value}`);
  }
  return big;
}

/** What `setup()` and `process()` receive. */
export class Context {
  /** The processor's id in the pipeline. */
  readonly processor: string;
  /** Its `type`, e.g. `example.frame_counter_bar`. */
  readonly type: string;
  /** The `config:` from the pipeline, with the manifest's defaults filled
   * in and the changes `onConfig` took since (`plexus set`). */
  get config(): Readonly<Record<string, unknown>> {
    return this.#config;
  }
  #config: Readonly<Record<string, unknown>>;
  /** Output ports by name. */
  readonly outputs: Readonly<Record<string, Output>>;
  #scope: CallScope;

  constructor(
    processor: string,
    type: string,
    config: Record<string, unknown>,
    outputs: readonly { name: string; schema: string }[],
    scope: CallScope,
  ) {
    this.processor = processor;
    this.type = type;
    this.#config = Object.freeze(config);
    const ports: Record<string, Output> = Object.create(null);
    outputs.forEach((o, i) => (ports[o.name] = new Output(o.name, o.schema, i, scope)));
    this.outputs = Object.freeze(ports);
    this.#scope = scope;
  }

  /** For the host: the config after changes the processor's `onConfig`
   * took. */
  tookConfig(changes: Record<string, unknown>): void {
    this.#config = Object.freeze({ ...this.#config, ...changes });
  }

  /** A manual source says it has sent its last frame (the end of its
   * file): the run can end once downstream has drained its frames, as at
   * `--frames`. Frames sent after are dropped. Throws outside a manual
   * source's `start()` … `stop()`. */
  finish(): void {
    this.#scope.bridge().finish();
  }
}
