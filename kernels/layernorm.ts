// layerNorm over the last dimension (Haiku LayerNorm with scale and offset).
// Rows are sliced into separate dispatches when x or y exceeds one storage
// binding (the optical-flow encoder input is 182,528 x 322 f32 = 235 MB).

import { empty, type Gpu, type Tensor } from '../engine/index.ts';
import { layernorm as shader } from './shaders.gen.ts';
import { window, splitRanges, checkFits, groups } from './slicing.ts';

/** Matches the workgroup sizes in layernorm.wgsl. */
const ROWS_PER_GROUP = 16;

export type LayerNormTiling = 'row_per_invocation' | 'row_per_workgroup';

/**
 * Picks the tiling: CPU emulation (lavapipe/llvmpipe, SwiftShader) runs the
 * barrier-free one-invocation-per-row kernel fastest; real GPUs need the
 * parallelism of a workgroup per row.
 */
export function layerNormTiling(gpu: Gpu): LayerNormTiling {
  return gpu.features.emulated ? 'row_per_invocation' : 'row_per_workgroup';
}

export function layerNorm(gpu: Gpu, x: Tensor, scale: Tensor, offset: Tensor, eps = 1e-5, tiling: LayerNormTiling = layerNormTiling(gpu)): Tensor {
  const name = `layerNorm(x=${x}, scale=${scale}, offset=${offset})`;
  if (x.shape.length < 1) throw new Error(`${name}: x needs a channel dimension`);
  const C = x.shape[x.shape.length - 1];
  for (const [what, t] of [['x', x], ['scale', scale], ['offset', offset]] as const) {
    if (t.dtype !== 'f32') throw new Error(`${name}: ${what} must be f32`);
  }
  if (scale.shape.length !== 1 || scale.shape[0] !== C || offset.shape.length !== 1 || offset.shape[0] !== C) {
    throw new Error(`${name}: scale and offset must be [${C}]`);
  }
  if (C === 0) throw new Error(`${name}: zero channels`);
  checkFits(gpu, 'layerNorm', 'scale', scale);
  const rows = x.size / C;
  const y = empty(gpu, x.shape);
  const s = window(scale), o = window(offset);
  const perGroup = tiling === 'row_per_invocation' ? ROWS_PER_GROUP : 1;
  for (const [r0, r1] of splitRanges(gpu, 'layerNorm', rows, C * 4)) {
    const xw = window(x, r0 * C, (r1 - r0) * C);
    const yw = window(y, r0 * C, (r1 - r0) * C);
    gpu.dispatch(
      shader,
      {
        x: xw.view, scale: s.view, offset: o.view, y: yw.view,
        params: { rows: r1 - r0, cols: C, x_off: xw.off, y_off: yw.off, scale_off: s.off, offset_off: o.off, eps },
      },
      groups(r1 - r0, perGroup),
      { entryPoint: tiling },
    );
  }
  return y;
}
