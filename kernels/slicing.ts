// Binding windows for kernels whose tensors may exceed one storage binding.
//
// WebGPU refuses a storage binding larger than maxStorageBufferBindingSize
// (128 MiB on lavapipe) and one whose start is not a multiple of
// minStorageBufferOffsetAlignment (256 bytes). Kernels in this folder
// therefore never bind a tensor directly: they bind a *window*, a view that
// starts at the aligned byte at or below the first element they need, and
// pass the element offset of that first element (`off`) in their uniform.
// A tensor made by `rows()` or a reshape of one can start anywhere; its
// window still binds.
//
// When a kernel's data is too large for one window, its wrapper splits the
// work into ranges of "units" (rows, images, ...) with `splitRanges` and
// records one dispatch per range, each binding only the windows that range
// touches. Tests shrink the limit with `setBindingLimitForTests` to exercise
// that path on small tensors.

import { Tensor, BYTES, type Gpu } from '../engine/index.ts';

let testLimit: number | null = null;

/**
 * Test hook: pretend storage bindings may hold at most `bytes` (null restores
 * the adapter's limit). Only the kernels in this folder that slice see it.
 */
export function setBindingLimitForTests(bytes: number | null): void {
  testLimit = bytes;
}

/** The largest storage binding, in bytes, the slicing kernels will bind. */
export function bindingLimit(gpu: Gpu): number {
  const real = gpu.limits.maxStorageBufferBindingSize;
  return testLimit === null ? real : Math.min(real, testLimit);
}

export interface Window {
  /** the view to bind: starts on the storage-offset alignment */
  view: Tensor;
  /** element index, inside `view`, of the first requested element */
  off: number;
}

/** The window over elements [start, start + count) of a tensor (`off` counts elements of its dtype). */
export function window(t: Tensor, start = 0, count = t.size - start): Window {
  const bytes = BYTES[t.dtype];
  if (!(start >= 0 && count >= 0 && start + count <= t.size)) {
    throw new Error(`window: elements [${start}, ${start + count}) out of range for ${t}`);
  }
  const align = t.gpu.limits.minStorageBufferOffsetAlignment;
  const first = t.byteOffset + start * bytes;
  const base = Math.floor(first / align) * align;
  const off = (first - base) / bytes;
  return { view: new Tensor(t.gpu, t.buffer, [off + count], t.dtype, base, false), off };
}

/**
 * Splits units [0, total) into consecutive ranges so that a window of
 * `unitBytes * (end - start)` bytes (plus the alignment slack a window may
 * start with) fits one binding. With `period`, no range crosses a multiple of
 * `period` (e.g. a batch boundary, when a broadcast operand is windowed by
 * row within the batch).
 */
export function splitRanges(gpu: Gpu, kernel: string, total: number, unitBytes: number, period = 0): [number, number][] {
  const slack = gpu.limits.minStorageBufferOffsetAlignment;
  const room = bindingLimit(gpu) - slack;
  const maxUnits = unitBytes <= 0 ? total : Math.floor(room / unitBytes);
  if (total > 0 && maxUnits < 1) {
    throw new Error(`${kernel}: one slice of ${unitBytes} bytes does not fit a storage binding of ${bindingLimit(gpu)} bytes`);
  }
  const out: [number, number][] = [];
  for (let r0 = 0; r0 < total; ) {
    let r1 = Math.min(total, r0 + maxUnits);
    if (period > 0) r1 = Math.min(r1, (Math.floor(r0 / period) + 1) * period);
    out.push([r0, r1]);
    r0 = r1;
  }
  return out;
}

/** Throws unless a whole tensor fits one binding (for operands never sliced). */
export function checkFits(gpu: Gpu, kernel: string, what: string, t: Tensor): void {
  const limit = bindingLimit(gpu) - gpu.limits.minStorageBufferOffsetAlignment;
  if (t.byteLength > limit) throw new Error(`${kernel}: ${what} ${t} is ${t.byteLength} bytes, over the ${bindingLimit(gpu)}-byte storage binding limit`);
}

/** Workgroups for `n` invocations in groups of `size` (the engine folds large grids via grid_x). */
export function groups(n: number, size: number): number {
  return Math.ceil(n / size);
}

/** 'f32[2,3]' for error messages. */
export function shapeStr(t: Tensor): string {
  return `${t.dtype}[${t.shape.join(',')}]`;
}
