// matmul: out = activation(a @ b + bias) + residual (kernels/matmul.wgsl).
//
// Shapes:
//   b 2-D [K, N] (shared):   a [..., M, K] -> out [..., M, N]; a's leading dims
//                            are just more rows (x[..., K] @ w[K, N]).
//                            With transposeA, a is [..., K, M] and each leading
//                            index is a batch multiplied by the same b.
//   b [..., K, N] (batched): a [..., M, K] with the same number of batches
//                            (product of leading dims) -> out [..., M, N].
// transposeA: a holds [.., K, M]; transposeB: b holds [.., N, K].
//
// Large operands: when a, b, the residual or the output would exceed
// maxStorageBufferBindingSize, the product runs as several dispatches over
// groups of batches or slices of rows, each binding a window of every tensor
// that starts at an aligned byte offset (the rest of the offset goes through
// the uniform as an element offset).

import { Tensor, empty, numel } from '../engine/index.ts';
import type { Gpu } from '../engine/index.ts';
import { matmul as matmulShader } from './shaders.gen.ts';

export interface MatmulOptions {
  transposeA?: boolean; // a is [.., K, M]
  transposeB?: boolean; // b is [.., N, K]
  bias?: Tensor; // [N], added before the activation
  activation?: 'none' | 'gelu'; // gelu = tanh approximation: 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3)))
  residual?: Tensor; // same shape as the output, added last
}

/**
 * Testing knob: when > 0, used instead of the adapter's
 * maxStorageBufferBindingSize (bytes), so tests can exercise the sliced path
 * on small shapes. Leave at 0 in real use.
 */
export const matmulTesting = { maxBindingBytes: 0 };

/** A `const NAME = <n>u;` of matmul.wgsl, so the tile sizes are stated once, in the shader. */
function shaderConst(name: string): number {
  const m = new RegExp(`const ${name} = (\\d+)u;`).exec(matmulShader.code);
  if (!m) throw new Error(`matmul.wgsl: no constant ${name}`);
  return Number(m[1]);
}

const FLAG_BIAS = 1;
const FLAG_GELU = 2;
const FLAG_RESIDUAL = 4;

/** A window of `t`'s elements [start, end) bound at an aligned byte offset; `off` is element start inside it. */
function window(t: Tensor, start: number, end: number, align: number): { t: Tensor; off: number } {
  const startByte = t.byteOffset + start * 4;
  const base = startByte - (startByte % align);
  const off = (startByte - base) / 4;
  return { t: new Tensor(t.gpu, t.buffer, [Math.max(1, off + end - start)], t.dtype, base, false), off };
}

export function matmul(gpu: Gpu, a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const tA = !!opts.transposeA;
  const tB = !!opts.transposeB;
  const act = opts.activation ?? 'none';
  const what = () =>
    `matmul(a=${a}${tA ? ' transposed' : ''}, b=${b}${tB ? ' transposed' : ''}` +
    `${opts.bias ? `, bias=${opts.bias}` : ''}${opts.residual ? `, residual=${opts.residual}` : ''})`;
  const fail = (msg: string): never => {
    throw new Error(`${what()}: ${msg}`);
  };
  for (const [n, t] of [['a', a], ['b', b], ['bias', opts.bias], ['residual', opts.residual]] as const) {
    if (t && t.dtype !== 'f32') fail(`${n} must be f32, got ${t.dtype}`);
  }
  if (act !== 'none' && act !== 'gelu') fail(`unknown activation '${act}'`);
  if (a.shape.length < 2) fail('a must have at least 2 dimensions');
  if (b.shape.length < 2) fail('b must have at least 2 dimensions');

  const as = a.shape, bs = b.shape;
  const [bK, N] = tB ? [bs[bs.length - 1], bs[bs.length - 2]] : [bs[bs.length - 2], bs[bs.length - 1]];
  let batches: number, M: number, K: number, outShape: number[], sharedB: boolean;
  if (bs.length === 2 && !tA) {
    // x[..., K] @ w[K, N]: all of a's leading dims are rows.
    K = as[as.length - 1];
    M = numel(as.slice(0, -1));
    batches = 1;
    outShape = [...as.slice(0, -1), N];
    sharedB = true;
  } else {
    const lead = as.slice(0, -2);
    batches = numel(lead);
    [M, K] = tA ? [as[as.length - 1], as[as.length - 2]] : [as[as.length - 2], as[as.length - 1]];
    outShape = [...lead, M, N];
    sharedB = bs.length === 2;
    if (!sharedB && numel(bs.slice(0, -2)) !== batches) {
      fail(`a has ${batches} batches but b has ${numel(bs.slice(0, -2))}`);
    }
  }
  if (K !== bK) fail(`inner dimensions differ: a has K=${K}, b has K=${bK}`);
  if (opts.bias && (opts.bias.size !== N || opts.bias.shape[opts.bias.shape.length - 1] !== N)) {
    fail(`bias must be [${N}]`);
  }
  if (opts.residual && opts.residual.shape.join(',') !== outShape.join(',')) {
    fail(`residual must have the output's shape [${outShape}]`);
  }

  const out = empty(gpu, outShape);
  if (batches * M * N === 0) return out;
  // rows and columns of the output per workgroup
  const BLOCK_ROWS = shaderConst('WG_Y') * shaderConst('TILE_M');
  const BLOCK_COLS = shaderConst('WG_X') * shaderConst('TILE_N');

  const align = gpu.limits.minStorageBufferOffsetAlignment;
  const limitBytes = matmulTesting.maxBindingBytes > 0 ? matmulTesting.maxBindingBytes : gpu.limits.maxStorageBufferBindingSize;
  // Largest window (elements) that still fits after rounding its start down to the alignment.
  const maxElems = Math.floor(limitBytes / 4) - align / 4;
  const maxGrid = gpu.limits.maxComputeWorkgroupsPerDimension;
  const aE = M * K, bE = K * N, cE = M * N;
  if (Math.ceil(N / BLOCK_COLS) > maxGrid) fail(`N=${N} needs more than ${maxGrid} workgroups along x`);
  if (bE > maxElems && sharedB) fail(`b needs a ${bE * 4}-byte binding, over the ${limitBytes}-byte limit; slicing K is not supported`);

  // The dispatches: groups of whole batches when a batch fits, else row slices of one batch.
  const plan: { b0: number; nb: number; r0: number; nr: number }[] = [];
  const perBatch = Math.max(aE, sharedB ? 0 : bE, cE);
  const maxRowsPerDispatch = maxGrid * BLOCK_ROWS;
  if (perBatch <= maxElems && M <= maxRowsPerDispatch) {
    const nbMax = Math.min(maxGrid, Math.floor(maxElems / perBatch));
    for (let b0 = 0; b0 < batches; b0 += nbMax) plan.push({ b0, nb: Math.min(nbMax, batches - b0), r0: 0, nr: M });
  } else {
    if (tA && aE > maxElems) fail(`a needs a ${aE * 4}-byte binding per batch; transposed a cannot be sliced by rows`);
    if (!sharedB && bE > maxElems) fail(`b needs a ${bE * 4}-byte binding per batch, over the ${limitBytes}-byte limit`);
    const rowElems = Math.max(tA ? 0 : K, N);
    let rows = Math.min(maxRowsPerDispatch, Math.floor(maxElems / rowElems));
    if (rows >= BLOCK_ROWS) rows -= rows % BLOCK_ROWS;
    if (rows < 1) fail(`one row needs ${rowElems * 4} bytes, over the ${limitBytes}-byte binding limit`);
    for (let bi = 0; bi < batches; bi++) {
      for (let r0 = 0; r0 < M; r0 += rows) plan.push({ b0: bi, nb: 1, r0, nr: Math.min(rows, M - r0) });
    }
  }

  const flags = (opts.bias ? FLAG_BIAS : 0) | (act === 'gelu' ? FLAG_GELU : 0) | (opts.residual ? FLAG_RESIDUAL : 0);
  for (const { b0, nb, r0, nr } of plan) {
    const aw = tA
      ? window(a, b0 * aE, (b0 + nb) * aE, align)
      : window(a, b0 * aE + r0 * K, (b0 + nb - 1) * aE + (r0 + nr) * K, align);
    const bw = sharedB ? window(b, 0, bE, align) : window(b, b0 * bE, (b0 + nb) * bE, align);
    const cStart = b0 * cE + r0 * N, cEnd = (b0 + nb - 1) * cE + (r0 + nr) * N;
    const cw = window(out, cStart, cEnd, align);
    const rw = opts.residual ? window(opts.residual, cStart, cEnd, align) : null;
    const biasw = opts.bias ? window(opts.bias, 0, N, align) : null;
    gpu.dispatch(
      matmulShader,
      {
        a: aw.t,
        b: bw.t,
        bias: biasw?.t ?? aw.t,
        residual: rw?.t ?? aw.t,
        out: cw.t,
        params: {
          m: nr, n: N, k: K,
          a_off: aw.off + (tA ? r0 : 0), a_ms: tA ? 1 : K, a_ks: tA ? M : 1, a_bs: aE,
          b_off: bw.off, b_ks: tB ? 1 : N, b_ns: tB ? K : 1, b_bs: sharedB ? 0 : bE,
          c_off: cw.off, c_bs: cE,
          r_off: rw?.off ?? 0, bias_off: biasw?.off ?? 0,
          flags,
        },
      },
      [Math.ceil(N / BLOCK_COLS), Math.ceil(nr / BLOCK_ROWS), nb],
    );
  }
  return out;
}
