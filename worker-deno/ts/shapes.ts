// Shapes of frames for the TypeScript SDK: how a header's ndim, shape and
// strides (or a video frame's width, height and stride) lay out a payload,
// for `frame.shape` and `frame.f32`, and how `Output.loanArray` turns a
// shape into a packed payload and the header fields it is sent with. The
// Python SDK does the same in worker-python/src/arrays.rs, in the same
// words, so both refuse a bad loan alike.

import type { FrameHeader } from "./plexus.ts";

/** The most dimensions a shaped frame has (`MAX_DIMS` in plexus-frame). */
export const MAX_DIMS = 4;

/** Bytes per element of the schemas whose frames have an array shape. */
const ELEMENT_BYTES: Readonly<Record<string, number>> = {
  "video/rgba8": 1,
  "video/gray8": 1,
  "audio/f32": 4,
  "samples/f32": 4,
  "tensor/f32": 4,
  "tensor/u8": 1,
};

/** Bytes per pixel of the video schemas. */
const PIXEL_BYTES: Readonly<Record<string, number>> = { "video/rgba8": 4, "video/gray8": 1 };

/** The schemas whose frames carry a sample rate. */
const RATED = new Set(["audio/f32", "samples/f32"]);

/** The shapes of the schemas that fix their dimensions. */
const DIMENSIONS: Readonly<Record<string, { ndim: number; channels?: number; text: string }>> = {
  "video/rgba8": { ndim: 3, channels: 4, text: "(height, width, 4)" },
  "video/gray8": { ndim: 2, text: "(height, width)" },
  "audio/f32": { ndim: 2, text: "(frames, channels)" },
  "samples/f32": { ndim: 2, text: "(channels, samples)" },
};

/** Whether frames of `schema` hold 32-bit floats. */
export function isF32(schema: string): boolean {
  return ELEMENT_BYTES[schema] === 4;
}

/** A payload's shape and strides in bytes, outermost first. */
export interface Layout {
  shape: number[];
  strides: number[];
}

/** How a received frame's bytes are laid out: video as (height, width, 4)
 * rows of `stride` bytes ((height, width) for gray), shaped schemas as the
 * header says, anything else as one dimension of bytes. */
export function layoutOf(schema: string, header: FrameHeader, byteLength: number): Layout {
  const pixel = PIXEL_BYTES[schema];
  if (pixel !== undefined) {
    const { height, width, stride } = header;
    return pixel === 1
      ? { shape: [height, width], strides: [stride, 1] }
      : { shape: [height, width, pixel], strides: [stride, pixel, 1] };
  }
  if (ELEMENT_BYTES[schema] !== undefined) {
    return { shape: header.shape.slice(0, header.ndim), strides: header.strides.slice(0, header.ndim) };
  }
  return { shape: [byteLength], strides: [1] };
}

/** A loan of a packed, row-major array. */
export interface ArrayLoan extends Layout {
  byteLength: number;
}

/** Plans a loan of `shape` on an output of `schema`; a string says why it
 * cannot be (the caller names the port). */
export function planLoan(schema: string, shape: readonly number[]): ArrayLoan | string {
  const element = ELEMENT_BYTES[schema];
  if (element === undefined) {
    return `${schema} frames have no array shape: loan(byteLength) them as bytes`;
  }
  const shown = `(${shape.join(", ")})`;
  if (shape.length === 0 || shape.length > MAX_DIMS) {
    return `a shape has 1 to ${MAX_DIMS} dimensions, not ${shape.length} ${shown}`;
  }
  const wanted = DIMENSIONS[schema];
  if (
    wanted !== undefined &&
    (shape.length !== wanted.ndim ||
      (wanted.channels !== undefined && shape[shape.length - 1] !== wanted.channels))
  ) {
    return `it takes a shape ${wanted.text}, not ${shown}`;
  }
  const bad = shape.find((e) => !Number.isInteger(e) || e < 0 || e > 0xffff_ffff);
  if (bad !== undefined) return `extents are 0 to ${0xffff_ffff}, not ${bad} in ${shown}`;
  // Packed row-major: each stride is the size of what lies inside it, and
  // the header keeps each in a u32.
  const strides = new Array<number>(shape.length);
  let step = element;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = step;
    step *= shape[d];
  }
  if (strides[0] > 0xffff_ffff || !Number.isSafeInteger(step)) {
    return `the shape ${shown} is too large for a frame`;
  }
  return { shape: [...shape], strides, byteLength: step };
}

/** Sets the fields of `header` that say the loan's shape: width, height and
 * stride for video; ndim, shape and strides otherwise, with no rate for a
 * schema that has none. */
export function describeLoan(schema: string, loan: ArrayLoan, header: FrameHeader): void {
  if (PIXEL_BYTES[schema] !== undefined) {
    [header.height, header.width] = loan.shape;
    header.stride = loan.strides[0];
    return;
  }
  header.ndim = loan.shape.length;
  header.shape = [...loan.shape];
  header.strides = [...loan.strides];
  if (!RATED.has(schema)) header.rate = 0;
}

/** A Float32Array over the same memory as `bytes`, zero-copy: it reads as
 * empty once the bytes are detached. */
export function f32View(bytes: Uint8Array, what: string): Float32Array {
  if (bytes.byteOffset % 4 !== 0) {
    throw new Error(`${what} does not start on a 4-byte boundary, so it has no f32 view`);
  }
  return new Float32Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / 4));
}
