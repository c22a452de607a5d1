// Elementwise and small row-wise kernels: add (with broadcast over leading
// axes), scale, gather (embedding lookup) and softmax (last axis).
//
// add and scale share elementwise.wgsl; gather and softmax have their own
// WGSL files (gather.wgsl, softmax.wgsl) because the engine binds every
// binding a shader declares, so kernels with different operands cannot share
// one module. All slice into several dispatches when a tensor exceeds one
// storage binding.

import { empty, type Gpu, type Tensor } from '../engine/index.ts';
import { elementwise, gather as gatherShader, softmax as softmaxShader } from './shaders.gen.ts';
import { window, splitRanges, checkFits, groups, bindingLimit } from './slicing.ts';

/** Match the WGSL files. */
const WORKGROUP = 256;
const PER_INVOCATION = 16;
const SOFTMAX_ROWS_PER_GROUP = 16;

function requireF32(name: string, ...ts: [string, Tensor][]): void {
  for (const [what, t] of ts) if (t.dtype !== 'f32') throw new Error(`${name}: ${what} must be f32, got ${t}`);
}

function axpb(gpu: Gpu, a: Tensor, b: Tensor | null, alpha: number): Tensor {
  const out = empty(gpu, a.shape);
  const n = a.size;
  const nb = b ? b.size : 1;
  const room = bindingLimit(gpu) - gpu.limits.minStorageBufferOffsetAlignment;
  // b is bound whole when it fits; otherwise ranges stay inside one repeat
  // of b and bind only the part of b they read.
  const bWhole = !b || b.byteLength <= room;
  for (const [e0, e1] of splitRanges(gpu, b ? 'add' : 'scale', n, 4, bWhole ? 0 : nb)) {
    const aw = window(a, e0, e1 - e0);
    const ow = window(out, e0, e1 - e0);
    const bStart = bWhole ? 0 : e0 % nb;
    const bw = b ? (bWhole ? window(b) : window(b, bStart, e1 - e0)) : aw;
    gpu.dispatch(
      elementwise,
      {
        a: aw.view, b: bw.view, out: ow.view,
        params: { n: e1 - e0, e0, nb, b_start: bStart, a_off: aw.off, b_off: bw.off, out_off: ow.off, has_b: b ? 1 : 0, alpha },
      },
      groups(e1 - e0, WORKGROUP * PER_INVOCATION),
    );
  }
  return out;
}

/**
 * a + b, where b has a's shape or a's trailing shape (repeated over a's
 * leading axes: a position table [N,C] added to [B,N,C]).
 */
export function add(gpu: Gpu, a: Tensor, b: Tensor): Tensor {
  const name = `add(a=${a}, b=${b})`;
  requireF32(name, ['a', a], ['b', b]);
  const k = b.shape.length;
  if (k > a.shape.length || b.shape.some((d, i) => d !== a.shape[a.shape.length - k + i])) {
    throw new Error(`${name}: b must have a's shape or a's trailing shape`);
  }
  if (a.size === 0) return empty(gpu, a.shape);
  return axpb(gpu, a, b, 1);
}

/** x * s. */
export function scale(gpu: Gpu, x: Tensor, s: number): Tensor {
  requireF32(`scale(x=${x}, s=${s})`, ['x', x]);
  if (x.size === 0) return empty(gpu, x.shape);
  return axpb(gpu, x, null, s);
}

/**
 * Embedding lookup: table [V,C], ids i32 [...] -> [..., C]. A GPU cannot
 * raise an error for an id outside [0, V): such ids are clamped to the
 * nearest row (negative -> row 0, >= V -> row V-1). Check ids on the host
 * beforehand where that matters.
 */
export function gather(gpu: Gpu, table: Tensor, ids: Tensor): Tensor {
  const name = `gather(table=${table}, ids=${ids})`;
  requireF32(name, ['table', table]);
  if (table.shape.length !== 2) throw new Error(`${name}: table must be [V,C]`);
  if (ids.dtype !== 'i32') throw new Error(`${name}: ids must be i32`);
  const [V, C] = table.shape;
  if (V === 0) throw new Error(`${name}: empty table`);
  checkFits(gpu, 'gather', 'table', table);
  const out = empty(gpu, [...ids.shape, C]);
  const rows = ids.size;
  if (out.size === 0) return out;
  const tw = window(table);
  for (const [r0, r1] of splitRanges(gpu, 'gather', rows, C * 4)) {
    const iw = window(ids, r0, r1 - r0);
    const ow = window(out, r0 * C, (r1 - r0) * C);
    gpu.dispatch(
      gatherShader,
      { table: tw.view, ids: iw.view, out: ow.view, params: { rows: r1 - r0, cols: C, vocab: V, table_off: tw.off, ids_off: iw.off, out_off: ow.off } },
      groups((r1 - r0) * C, WORKGROUP * PER_INVOCATION),
    );
  }
  return out;
}

/** Softmax over the last axis of x [..., C]. */
export function softmax(gpu: Gpu, x: Tensor): Tensor {
  const name = `softmax(x=${x})`;
  requireF32(name, ['x', x]);
  if (x.shape.length < 1) throw new Error(`${name}: x needs a last axis`);
  const C = x.shape[x.shape.length - 1];
  const out = empty(gpu, x.shape);
  if (x.size === 0) return out;
  const rows = x.size / C;
  for (const [r0, r1] of splitRanges(gpu, 'softmax', rows, C * 4)) {
    const xw = window(x, r0 * C, (r1 - r0) * C);
    const yw = window(out, r0 * C, (r1 - r0) * C);
    gpu.dispatch(
      softmaxShader,
      { x: xw.view, y: yw.view, params: { rows: r1 - r0, cols: C, x_off: xw.off, y_off: yw.off } },
      groups(r1 - r0, SOFTMAX_ROWS_PER_GROUP),
    );
  }
  return out;
}
