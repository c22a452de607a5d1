// concat along the last axis with broadcasting, and sliceRows.
//
// concat(gpu, parts, batch?): each part is [B,N,Ci], [N,Ci] (broadcast over
// the batch) or [Ci] (broadcast over batch and rows); the output is
// [B, N, sum Ci]. B comes from a 3-D part (else `batch`, default 1) and N
// from a part with rows (else 1). A single part broadcasts (latents [N,C] ->
// [B,N,C]). One dispatch per part writes its column block.
//
// Large outputs: optical flow concatenates 182,528 x 322 f32 (235 MB), over
// the 128 MiB storage-binding limit of some adapters. When the output or a
// part is too large for one binding, the output rows are written in slices:
// ranges of rows within one batch element, each dispatch binding only the
// output rows of its range and the matching rows of every part (a [N,Ci]
// part contributes rows n0..n1 of its table, a [Ci] part all of itself).
//
// sliceRows(gpu, x, start, count): rows start..start+count-1 of every batch
// element, copied (buffer-to-buffer copies, no kernel, no binding limit).

import { empty, Tensor, type Gpu } from '../engine/index.ts';
import { concat as shader } from './shaders.gen.ts';
import { window, splitRanges, bindingLimit, groups } from './slicing.ts';

/** Matches concat.wgsl. */
const WORKGROUP = 256;
const PER_INVOCATION = 16;

function describe(parts: Tensor[]): string {
  return parts.map((p) => p.toString()).join(', ');
}

export function concat(gpu: Gpu, parts: Tensor[], batch?: number): Tensor {
  const name = `concat([${describe(parts)}]${batch === undefined ? '' : `, batch=${batch}`})`;
  if (parts.length === 0) throw new Error(`${name}: no parts`);
  const dtype = parts[0].dtype;
  if (dtype === 'f16') throw new Error(`${name}: f16 is not supported (32-bit elements only)`);
  let B: number | undefined;
  let N: number | undefined;
  for (const p of parts) {
    if (p.dtype !== dtype) throw new Error(`${name}: parts must share one dtype`);
    if (p.shape.length < 1 || p.shape.length > 3) throw new Error(`${name}: parts must be [B,N,C], [N,C] or [C]`);
    if (p.shape.length === 3) {
      if (B !== undefined && B !== p.shape[0]) throw new Error(`${name}: batch sizes differ`);
      B = p.shape[0];
    }
    if (p.shape.length >= 2) {
      const rows = p.shape[p.shape.length - 2];
      if (N !== undefined && N !== rows) throw new Error(`${name}: row counts differ`);
      N = rows;
    }
  }
  if (batch !== undefined) {
    if (!Number.isInteger(batch) || batch < 0) throw new Error(`${name}: batch must be a non-negative integer`);
    if (B !== undefined && B !== batch) throw new Error(`${name}: batch=${batch} but a part has batch ${B}`);
  }
  const Bo = B ?? batch ?? 1;
  const No = N ?? 1;
  const widths = parts.map((p) => p.shape[p.shape.length - 1]);
  const ctot = widths.reduce((a, b) => a + b, 0);
  const out = empty(gpu, [Bo, No, ctot], dtype);
  const rows = Bo * No;
  if (out.size === 0) return out;

  const room = bindingLimit(gpu) - gpu.limits.minStorageBufferOffsetAlignment;
  const whole = out.byteLength <= room && parts.every((p) => p.byteLength <= room);
  const ranges: [number, number][] = whole ? [[0, rows]] : splitRanges(gpu, 'concat', rows, ctot * 4, No);
  for (const [g0, g1] of ranges) {
    const ow = window(out, g0 * ctot, (g1 - g0) * ctot);
    let coff = 0;
    parts.forEach((p, i) => {
      const ci = widths[i];
      if (ci > 0) {
        let bStride = 0, nStride = 0, start = 0, count = p.size;
        if (p.shape.length === 3) {
          bStride = No * ci;
          nStride = ci;
          start = g0 * ci;
          count = (g1 - g0) * ci;
        } else if (p.shape.length === 2) {
          nStride = ci;
          if (!whole) {
            // The range lies within one batch element: rows n0 .. n1 - 1.
            start = (g0 % No) * ci;
            count = (g1 - g0) * ci;
          }
        }
        const pw = window(p, start, count);
        gpu.dispatch(
          shader,
          {
            part: pw.view, out: ow.view,
            params: {
              rows: g1 - g0, row0: g0, n: No, ci, ctot, coff,
              b_stride: bStride, n_stride: nStride, part_start: start, part_off: pw.off, out_off: ow.off,
            },
          },
          groups((g1 - g0) * ci, WORKGROUP * PER_INVOCATION),
        );
      }
      coff += ci;
    });
  }
  return out;
}

/** Rows [start, start + count) of x [B,N,C] (or [N,C]), as a new tensor. */
export function sliceRows(gpu: Gpu, x: Tensor, start: number, count: number): Tensor {
  const name = `sliceRows(x=${x}, start=${start}, count=${count})`;
  if (x.shape.length !== 2 && x.shape.length !== 3) throw new Error(`${name}: x must be [B,N,C] or [N,C]`);
  if (x.dtype === 'f16') throw new Error(`${name}: f16 is not supported (32-bit elements only)`);
  const [B, N, C] = x.shape.length === 3 ? x.shape : [1, ...x.shape];
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > N) {
    throw new Error(`${name}: rows [${start}, ${start + count}) outside [0, ${N})`);
  }
  const out = empty(gpu, x.shape.length === 3 ? [B, count, C] : [count, C], x.dtype);
  const bytes = count * C * 4;
  if (bytes === 0) return out;
  for (let b = 0; b < B; b++) {
    const src = new Tensor(gpu, x.buffer, [count * C], x.dtype, x.byteOffset + (b * N + start) * C * 4, false);
    const dst = new Tensor(gpu, out.buffer, [count * C], x.dtype, out.byteOffset + b * count * C * 4, false);
    gpu.copy(src, dst, bytes);
  }
  return out;
}
