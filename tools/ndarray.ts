// Host-side n-d arrays read from numpy data (pickles, .npy/.npz) and the one
// place that turns numpy's raw little-endian bytes into typed arrays.
//
// Supported numpy dtypes and what they become:
//   f4 -> 'f32' Float32Array        f8 -> 'f32' (rounded to float32)
//   f2 -> 'f16' Uint16Array (bits)  i4 -> 'i32' Int32Array
//   i8 -> 'i32' (refused if a value falls outside int32)
//   u1 -> 'u8' Uint8Array           b1 -> 'bool' Uint8Array (0/1)
// Byte order must be little-endian ('<'), not-applicable ('|') or native
// ('='; every platform this runs on is little-endian). Fortran-ordered data
// is transposed to C order, so `data` is always row-major.
// Browser-safe: no node: imports.

export type NdDType = 'f32' | 'f16' | 'i32' | 'u8' | 'bool';
export type NdData = Float32Array | Uint16Array | Int32Array | Uint8Array;

/** A row-major host array. `sourceDtype` is numpy's code before conversion ('f4', 'f8', ...). */
export class NdArray {
  constructor(
    public dtype: NdDType,
    public shape: number[],
    public data: NdData,
    public sourceDtype: string,
  ) {}
  get size(): number {
    return this.data.length;
  }
  toString(): string {
    return `${this.dtype}[${this.shape.join(',')}]`;
  }
}

/** numpy dtype codes this project reads, with their item size in bytes. */
export const NUMPY_DTYPES: Readonly<Record<string, { itemsize: number; to: NdDType }>> = Object.freeze({
  f4: { itemsize: 4, to: 'f32' },
  f8: { itemsize: 8, to: 'f32' },
  f2: { itemsize: 2, to: 'f16' },
  i4: { itemsize: 4, to: 'i32' },
  i8: { itemsize: 8, to: 'i32' },
  u1: { itemsize: 1, to: 'u8' },
  b1: { itemsize: 1, to: 'bool' },
});

export class ArrayFormatError extends Error {
  override name = 'ArrayFormatError';
}

/**
 * Splits a numpy dtype string ('<f4', '|u1', 'f8', '=i4', 'bool', ...) into
 * its canonical code; refuses big-endian and unknown types with a clear error.
 */
export function parseNumpyDtype(descr: string, where = 'array'): string {
  let s = descr;
  let order = '';
  if (s.length > 0 && '<>|=!'.includes(s[0])) {
    order = s[0];
    s = s.slice(1);
  }
  const aliases: Record<string, string> = { bool: 'b1', '?': 'b1', uint8: 'u1', float32: 'f4', float64: 'f8', float16: 'f2', int32: 'i4', int64: 'i8' };
  s = aliases[s] ?? s;
  if (!Object.hasOwn(NUMPY_DTYPES, s)) {
    throw new ArrayFormatError(`${where}: unsupported numpy dtype '${descr}' (supported: ${Object.keys(NUMPY_DTYPES).join(', ')}, little-endian)`);
  }
  if (order === '>' || order === '!') {
    if (NUMPY_DTYPES[s].itemsize > 1) throw new ArrayFormatError(`${where}: big-endian dtype '${descr}' is not supported`);
  }
  return s;
}

/** Product of a shape, refusing negative, fractional or overflowing dimensions. */
export function checkedNumel(shape: readonly unknown[], where = 'array'): number {
  if (shape.length > 32) throw new ArrayFormatError(`${where}: ${shape.length} dimensions (at most 32)`);
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new ArrayFormatError(`${where}: bad dimension ${String(d)} in shape [${shape.map(String).join(', ')}]`);
    }
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) throw new ArrayFormatError(`${where}: shape [${shape.join(', ')}] is absurdly large`);
  }
  return n;
}

/**
 * Decodes raw numpy bytes into an NdArray. `raw` must hold exactly
 * numel(shape) * itemsize bytes (checked before anything is allocated).
 */
export function decodeNumpy(raw: Uint8Array, code: string, shape: number[], fortran: boolean, where = 'array'): NdArray {
  const spec = NUMPY_DTYPES[code];
  if (!spec) throw new ArrayFormatError(`${where}: unsupported numpy dtype '${code}'`);
  const n = checkedNumel(shape, where);
  const need = n * spec.itemsize;
  if (raw.byteLength !== need) {
    throw new ArrayFormatError(
      `${where}: shape [${shape.join(', ')}] of ${code} needs ${need} bytes but its data holds ${raw.byteLength}`,
    );
  }
  let data: NdData;
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (code) {
    case 'f4': {
      const out = new Float32Array(n);
      new Uint8Array(out.buffer).set(raw);
      data = out;
      break;
    }
    case 'f8': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      data = out;
      break;
    }
    case 'f2': {
      const out = new Uint16Array(n);
      new Uint8Array(out.buffer).set(raw);
      data = out;
      break;
    }
    case 'i4': {
      const out = new Int32Array(n);
      new Uint8Array(out.buffer).set(raw);
      data = out;
      break;
    }
    case 'i8': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const lo = dv.getUint32(i * 8, true);
        const hi = dv.getUint32(i * 8 + 4, true);
        const ok = (hi === 0 && lo <= 0x7fffffff) || (hi === 0xffffffff && lo >= 0x80000000);
        if (!ok) throw new ArrayFormatError(`${where}: int64 element ${i} (${dv.getBigInt64(i * 8, true)}) does not fit in int32`);
        out[i] = lo | 0;
      }
      data = out;
      break;
    }
    case 'u1':
      data = raw.slice();
      break;
    case 'b1': {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = raw[i] ? 1 : 0;
      data = out;
      break;
    }
    default:
      throw new ArrayFormatError(`${where}: unsupported numpy dtype '${code}'`);
  }
  if (fortran && shape.length > 1) data = fortranToC(data, shape);
  return new NdArray(spec.to, [...shape], data, code);
}

/** bfloat16 bytes (little-endian) -> float32: the top half of a float32, so widening is exact. */
export function widenBf16(raw: Uint8Array): Float32Array {
  const n = raw.byteLength >> 1;
  const f = new Float32Array(n);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < n; i++) u[i] = (raw[2 * i] | (raw[2 * i + 1] << 8)) << 16;
  return f;
}

/** Reorders column-major (Fortran) data into row-major (C) order. */
export function fortranToC<T extends NdData>(src: T, shape: readonly number[]): T {
  const n = src.length;
  const out = new (src.constructor as { new (n: number): T })(n);
  const rank = shape.length;
  // Fortran strides (in elements) of each axis.
  const fstride: number[] = [];
  let s = 1;
  for (let k = 0; k < rank; k++) {
    fstride.push(s);
    s *= shape[k];
  }
  const idx = new Array<number>(rank).fill(0);
  let f = 0; // Fortran offset of the current C-order position
  for (let i = 0; i < n; i++) {
    out[i] = src[f];
    // Advance the C-order multi-index (last axis fastest).
    for (let k = rank - 1; k >= 0; k--) {
      idx[k]++;
      f += fstride[k];
      if (idx[k] < shape[k]) break;
      f -= fstride[k] * shape[k];
      idx[k] = 0;
    }
  }
  return out;
}
