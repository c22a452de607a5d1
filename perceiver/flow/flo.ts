// Middlebury .flo files (Baker et al., "A Database and Evaluation Methodology
// for Optical Flow"; the format of the Middlebury, Sintel and KITTI-derived
// flow datasets):
//
//   bytes 0..3    float32 202021.25, the magic number (the ASCII bytes "PIEH")
//   bytes 4..7    int32 width
//   bytes 8..11   int32 height
//   bytes 12..    width * height * 2 float32: (u, v) per pixel, row-major,
//                 u horizontal (positive right), v vertical (positive down)
//
// All little-endian. Browser-safe (no node: imports): readFlo/writeFlo work
// on bytes; perceiver/flow/node.ts has the Node file versions.

/** The magic number as a float32 ("PIEH" read as a little-endian float). */
export const FLO_MAGIC = 202021.25;
export const FLO_HEADER_BYTES = 12;
/** Sizes above this are refused as corrupt (the reference code's sanity bound). */
export const FLO_MAX_SIDE = 1 << 16;

export interface FlowField {
  width: number;
  height: number;
  /** [height, width, 2] row-major: u then v per pixel */
  data: Float32Array;
}

export class FloError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FloError';
  }
}

function checkSize(what: string, width: number, height: number): void {
  for (const v of [width, height]) {
    if (!(Number.isInteger(v) && v >= 1 && v <= FLO_MAX_SIDE)) throw new FloError(`${what} size ${width}x${height} (each side must be an integer 1..${FLO_MAX_SIDE})`);
  }
}

/** Parses a .flo file; throws FloError naming what is wrong. */
export function readFlo(bytes: Uint8Array | ArrayBuffer): FlowField {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (u8.byteLength < FLO_HEADER_BYTES) {
    throw new FloError(`.flo: ${u8.byteLength} bytes is shorter than the ${FLO_HEADER_BYTES}-byte header`);
  }
  const view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const magic = view.getFloat32(0, true);
  if (magic !== FLO_MAGIC) throw new FloError(`.flo: bad magic number ${magic}; a Middlebury .flo file starts with ${FLO_MAGIC} ("PIEH")`);
  const width = view.getInt32(4, true);
  const height = view.getInt32(8, true);
  checkSize('.flo: implausible', width, height);
  const expected = FLO_HEADER_BYTES + width * height * 8;
  if (u8.byteLength !== expected) {
    const what = u8.byteLength < expected ? 'truncated' : 'has trailing bytes';
    throw new FloError(`.flo: ${what}: ${u8.byteLength} bytes, but a ${width}x${height} flow needs ${expected}`);
  }
  const data = new Float32Array(width * height * 2);
  for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(FLO_HEADER_BYTES + 4 * i, true);
  return { width, height, data };
}

/** Encodes a flow field [height, width, 2] as .flo bytes (bit-exact float32). */
export function writeFlo(flow: FlowField): Uint8Array {
  const { width, height, data } = flow;
  checkSize('writeFlo: bad', width, height);
  if (data.length !== width * height * 2) {
    throw new FloError(`writeFlo: ${data.length} values for a ${width}x${height} flow (${width * height * 2} expected: [H, W, 2])`);
  }
  const out = new Uint8Array(FLO_HEADER_BYTES + data.length * 4);
  const view = new DataView(out.buffer);
  view.setFloat32(0, FLO_MAGIC, true);
  view.setInt32(4, width, true);
  view.setInt32(8, height, true);
  for (let i = 0; i < data.length; i++) view.setFloat32(FLO_HEADER_BYTES + 4 * i, data[i], true);
  return out;
}
