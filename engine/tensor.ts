// Tensors: a GPU buffer (or a window of one) with a shape and a dtype.
// Row-major (C order), channels last, like the original JAX code.

import type { Gpu } from './gpu.ts';
import { f16ToF32 } from './f16.ts';

export type DType = 'f32' | 'f16' | 'i32' | 'u32';

export const BYTES: Record<DType, number> = { f32: 4, f16: 2, i32: 4, u32: 4 };

export type HostArray = Float32Array | Int32Array | Uint32Array | Uint16Array;

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`bad dimension ${d} in shape [${shape}]`);
    n *= d;
  }
  return n;
}

export class Tensor {
  private released = false;
  constructor(
    readonly gpu: Gpu,
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType = 'f32',
    /** byte offset of element 0 inside `buffer` */
    readonly byteOffset = 0,
    /** true when this tensor owns its buffer (returns it to the pool on dispose) */
    readonly owner = true,
  ) {}

  get size(): number {
    return numel(this.shape);
  }
  get byteLength(): number {
    return this.size * BYTES[this.dtype];
  }
  /** Disposed, or made on a device since lost (its buffer is gone). */
  get disposed(): boolean {
    return this.released || !this.gpu.pool.owns(this.buffer);
  }
  toString(): string {
    return `${this.dtype}[${this.shape.join(',')}]`;
  }

  /**
   * The same memory seen with another shape of the same element count. The
   * view does not own the buffer: keep the original alive while using it.
   */
  reshape(shape: readonly number[]): Tensor {
    const resolved = resolveShape(shape, this.size);
    return new Tensor(this.gpu, this.buffer, resolved, this.dtype, this.byteOffset, false);
  }

  /**
   * The same memory under a new shape, handing ownership to the result: this
   * tensor is spent, and disposing the result returns the buffer.
   */
  transfer(shape: readonly number[]): Tensor {
    if (this.released) throw new Error(`transfer: ${this} was disposed`);
    const t = new Tensor(this.gpu, this.buffer, resolveShape(shape, this.size), this.dtype, this.byteOffset, this.owner);
    this.released = true;
    return t;
  }

  /**
   * Rows [start, end) of the leading dimension, sharing memory. The start must
   * fall on the adapter's storage-offset alignment to be bound directly.
   */
  rows(start: number, end: number): Tensor {
    const [n, ...rest] = this.shape;
    if (!(0 <= start && start <= end && end <= n)) throw new Error(`rows(${start}, ${end}) out of range for ${this}`);
    const rowBytes = numel(rest) * BYTES[this.dtype];
    return new Tensor(this.gpu, this.buffer, [end - start, ...rest], this.dtype, this.byteOffset + start * rowBytes, false);
  }

  /** Returns the buffer to the pool. Work already recorded keeps its ordering. */
  dispose(): void {
    if (this.released || !this.owner) return;
    this.released = true;
    this.gpu.pool.release(this.buffer);
  }
}

function resolveShape(shape: readonly number[], total: number): number[] {
  const s = [...shape];
  const free = s.indexOf(-1);
  if (free >= 0) {
    const known = s.reduce((a, d, i) => (i === free ? a : a * d), 1);
    s[free] = known === 0 ? 0 : total / known;
  }
  if (numel(s) !== total) throw new Error(`cannot reshape ${total} elements to [${shape}]`);
  return s;
}

/** An uninitialised tensor from the buffer pool (`fresh`: a new buffer, for one that outlives the call, BufferPool.acquire). */
export function empty(gpu: Gpu, shape: readonly number[], dtype: DType = 'f32', fresh = false): Tensor {
  const bytes = Math.max(4, numel(shape) * BYTES[dtype]);
  return new Tensor(gpu, gpu.pool.acquire(bytes, fresh), [...shape], dtype);
}

/**
 * Copies host data into a new tensor. An f16 tensor takes its bits as a
 * Uint16Array (f32ToF16 in engine/f16.ts converts floats, rounding to
 * nearest even).
 */
export function upload(gpu: Gpu, data: HostArray | number[], shape: readonly number[], dtype: DType = 'f32', fresh = false): Tensor {
  const n = numel(shape);
  if (data.length !== n) throw new Error(`upload: ${data.length} values for shape [${shape}] (${n} expected)`);
  let bytes: ArrayBufferView;
  if (dtype === 'f16') {
    if (!(data instanceof Uint16Array)) throw new Error('upload: f16 data must be Uint16Array bits (convert floats with f32ToF16)');
    bytes = data;
  }
  else if (dtype === 'f32') bytes = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
  else if (dtype === 'i32') bytes = data instanceof Int32Array ? data : Int32Array.from(data as ArrayLike<number>);
  else bytes = data instanceof Uint32Array ? data : Uint32Array.from(data as ArrayLike<number>);
  const t = empty(gpu, shape, dtype, fresh);
  gpu.write(t.buffer, t.byteOffset, bytes);
  return t;
}

/** Reads a tensor back; f16 comes back widened to Float32Array. */
export async function read(t: Tensor): Promise<Float32Array | Int32Array | Uint32Array> {
  if (t.disposed) throw new Error(`read: ${t} was disposed`);
  const bytes = await t.gpu.readBytes(t.buffer, t.byteOffset, t.byteLength);
  switch (t.dtype) {
    case 'f32':
      return new Float32Array(bytes);
    case 'f16':
      return f16ToF32(new Uint16Array(bytes));
    case 'i32':
      return new Int32Array(bytes);
    case 'u32':
      return new Uint32Array(bytes);
  }
}

/** Reads a float tensor back as a Float32Array. */
export async function readF32(t: Tensor): Promise<Float32Array> {
  if (t.dtype !== 'f32' && t.dtype !== 'f16') throw new Error(`readF32: ${t} is not a float tensor`);
  return (await read(t)) as Float32Array;
}
