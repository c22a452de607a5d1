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
//
// Kernels: four tilings of the same product ('blocked': register tile in
// loops; 'unrolled': the register tile written out, for SwiftShader; 'tiled':
// workgroup memory, for GPUs; each for any shape and layout; 'vec4': vec4
// loads, for lavapipe, only untransposed with K and N multiples of 4 — other
// products fall back to 'blocked'). Which is
// fastest depends on the adapter (on lavapipe the workgroup-memory kernel is
// several times slower than the register-blocked one; on a GPU the opposite),
// so each shape asks the tuner (engine/tune.ts): until tunePending(gpu) has
// measured it, the adapter's default runs (matmulDefault).
//
// f16 storage: b may be f16 where the adapter has shader-f16 (weights loaded
// with keepF16); products still accumulate in f32. The f16 kernels are the
// same WGSL with B's element type BT declared f16 under `enable f16;`,
// derived from the shipped code at first use (one copy in a bundle).

import { empty, numel, BYTES, type Tensor } from '../engine/index.ts';
import type { Gpu, ShaderInfo } from '../engine/index.ts';
import { pow2, tunedChoice, type TuneJob } from '../engine/tune.ts';
import { shaderConst } from '../engine/shader.ts';
import { matmul as matmulShader } from './shaders.gen.ts';
import { bindingLimit, window } from './slicing.ts';

export interface MatmulOptions {
  transposeA?: boolean; // a is [.., K, M]
  transposeB?: boolean; // b is [.., N, K]
  bias?: Tensor; // [N], added before the activation
  activation?: 'none' | 'gelu'; // gelu = tanh approximation: 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3)))
  residual?: Tensor; // same shape as the output, added last
}

export type MatmulVariant = 'blocked' | 'unrolled' | 'tiled' | 'vec4';
const VARIANTS: MatmulVariant[] = ['blocked', 'unrolled', 'tiled', 'vec4'];

/**
 * Testing knob: `variant` forces a kernel ('' in real use). A smaller
 * binding limit, for the sliced path on small shapes: slicing.ts
 * setBindingLimitForTests.
 */
export const matmulTesting = { variant: '' as '' | MatmulVariant };

/** `minN`: the narrowest product the kernel takes ('vec4': one invocation's V_COLS columns). */
interface Kernel { shader: ShaderInfo; entryPoint: string; rows: number; cols: number; minN: number }
const kernels = new Map<string, Kernel>();

/**
 * A kernel: the shader, under its own name for each variant and B type (so
 * dispatch labels and the module cache tell them apart; the f16 one declares
 * BT = f16 under `enable f16;`), its entry point, and the output rows x
 * columns one workgroup covers. Each module holds the shared declarations
 * (the shipped code up to the first entry point) and its own entry point
 * (up to the next one); for 'vec4' the bindings of a and b (0 and 1) become
 * arrays of vec4s, which the scalar kernels could not index.
 */
function kernel(v: MatmulVariant, f16: boolean): Kernel {
  const name = `matmul${v === 'blocked' ? '' : `_${v}`}${f16 ? '_f16' : ''}`;
  let k = kernels.get(name);
  if (!k) {
    const c = (name: string) => shaderConst(matmulShader, name);
    const [rows, cols] =
      v === 'blocked' ? [c('WG_Y') * c('TILE_M'), c('WG_X') * c('TILE_N')]
      : v === 'tiled' ? [c('TB'), c('TB')]
      : v === 'vec4' ? [c('V_WG') * c('V_ROWS'), c('V_WG') * c('V_COLS')]
      : [c('U_WG_Y') * c('U_ROWS'), c('U_WG_X') * 4];
    const entryPoint = v === 'blocked' ? 'main' : `main_${v}`;
    const [shared, ...entries] = matmulShader.code.split(/(?=@compute)/);
    let code = shared + entries.find((e) => e.includes(`fn ${entryPoint}(`));
    if (v === 'vec4') code = code.replace(/(@binding\([01]\)var<storage>\w+:array<)(\w+)>/g, '$1vec4<$2>>');
    if (f16) code = `enable f16;${code.replace('alias BT=f32;', 'alias BT=f16;')}`;
    const minN = v === 'vec4' ? c('V_COLS') : 1;
    kernels.set(name, (k = { shader: { ...matmulShader, name, code }, entryPoint, rows, cols, minN }));
  }
  return k;
}

/**
 * The kernel used until the tuner has measured a shape: on SwiftShader
 * (which does not unroll loops) the unrolled one, on other software adapters
 * the vec4 one (the register-blocked one where vec4 does not fit), on GPUs
 * the workgroup-tiled one.
 */
export function matmulDefault(gpu: Gpu): MatmulVariant {
  return /swiftshader/i.test(gpu.adapterName) ? 'unrolled' : gpu.features.emulated ? 'vec4' : 'tiled';
}

/**
 * FLOPs of the product timed per candidate when tuning: rows, then columns
 * are cut to fit, down to one block of the tallest workgroup tile (128 rows
 * of 'blocked') and two of the widest (64 columns of 'tiled'). On a software
 * adapter a slow candidate still costs two runs of this size (compile, then
 * one timed round): about 1 s on SwiftShader at K = 1024.
 */
const TUNE_FLOPS_SOFTWARE = 2 ** 24;
const TUNE_FLOPS_GPU = 2 ** 31;
const TUNE_MIN_ROWS = 128;
const TUNE_MIN_COLS = 128;

interface Shape { M: number; K: number; N: number; batches: number; tA: boolean; tB: boolean; sharedB: boolean; f16: boolean }

/** The tuner's key: 'matmul' + transposes, f16 b, shared b, then batches and rows rounded up to powers of two, K, N. */
const tuneKey = (s: Shape) => `matmul ${[+s.tA, +s.tB, +s.f16, +s.sharedB, pow2(s.batches), pow2(s.M), s.K, s.N]}`;

/**
 * Operands of the shape (cut to the tuning budget; their values are
 * whatever the pooled buffers hold: new ones are zeros, reused ones earlier
 * results) and one candidate per kernel, the default first ('vec4' runs
 * 'blocked' where its loads do not fit, so there it times that again).
 */
function tuneJob(gpu: Gpu, s: Shape): TuneJob {
  const budget = gpu.features.emulated ? TUNE_FLOPS_SOFTWARE : TUNE_FLOPS_GPU;
  const flops = 2 * s.K * s.batches; // per row and column
  const rows = Math.min(s.M, Math.max(TUNE_MIN_ROWS, Math.floor(budget / (flops * s.N))));
  // columns cut to whole vec4s, so 'vec4' runs where it would at the full shape
  const cols = Math.min(s.N, 4 * Math.max(TUNE_MIN_COLS / 4, Math.floor(budget / (flops * rows * 4))));
  const a = empty(gpu, [s.batches, ...(s.tA ? [s.K, rows] : [rows, s.K])]);
  const b = empty(gpu, [...(s.sharedB ? [] : [s.batches]), ...(s.tB ? [cols, s.K] : [s.K, cols])], s.f16 ? 'f16' : 'f32');
  const first = matmulDefault(gpu);
  const candidates: Record<string, () => void> = {};
  for (const v of [first, ...VARIANTS.filter((v) => v !== first)]) {
    candidates[v] = () => product(gpu, a, b, { transposeA: s.tA, transposeB: s.tB }, v).dispose();
  }
  return { candidates, dispose: () => [a, b].forEach((t) => t.dispose()) };
}

const FLAG_BIAS = 1;
const FLAG_GELU = 2;
const FLAG_RESIDUAL = 4;

export function matmul(gpu: Gpu, a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  return product(gpu, a, b, opts);
}

/** matmul with the kernel chosen by the tuner (variant undefined) or given. */
function product(gpu: Gpu, a: Tensor, b: Tensor, opts: MatmulOptions, variant?: MatmulVariant): Tensor {
  const tA = !!opts.transposeA;
  const tB = !!opts.transposeB;
  const act = opts.activation ?? 'none';
  const what = () =>
    `matmul(a=${a}${tA ? ' transposed' : ''}, b=${b}${tB ? ' transposed' : ''}` +
    `${opts.bias ? `, bias=${opts.bias}` : ''}${opts.residual ? `, residual=${opts.residual}` : ''})`;
  const fail = (msg: string): never => {
    throw new Error(`${what()}: ${msg}`);
  };
  for (const [n, t] of [['a', a], ['bias', opts.bias], ['residual', opts.residual]] as const) {
    if (t && t.dtype !== 'f32') fail(`${n} must be f32, got ${t.dtype}`);
  }
  const f16 = b.dtype === 'f16';
  if (b.dtype !== 'f32' && !f16) fail(`b must be f32 or f16, got ${b.dtype}`);
  if (f16 && !gpu.features.f16) fail('f16 b needs shader-f16');
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

  if (!variant) {
    const shape = { M, K, N, batches, tA, tB, sharedB, f16 };
    const chosen = matmulTesting.variant || tunedChoice(gpu, tuneKey(shape), (g) => tuneJob(g, shape));
    variant = VARIANTS.includes(chosen as MatmulVariant) ? (chosen as MatmulVariant) : matmulDefault(gpu);
  }
  let k = kernel(variant, f16);
  // 'vec4' reads rows of A and B as whole vec4s: untransposed, K and N
  // multiples of 4 from 16-byte-aligned starts, and N at least one tile wide.
  if (variant === 'vec4' && (tA || tB || K % 4 || N % 4 || N < k.minN || a.byteOffset % 16 || b.byteOffset % (4 * BYTES[b.dtype]))) {
    k = kernel('blocked', f16);
  }
  const { shader, entryPoint, rows: BLOCK_ROWS, cols: BLOCK_COLS } = k;
  const limitBytes = bindingLimit(gpu);
  // Largest window (elements) that still fits after rounding its start down to the alignment.
  const maxElems = Math.floor(limitBytes / 4) - gpu.limits.minStorageBufferOffsetAlignment / 4;
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
    // windows over elements [start, end)
    const win = (t: Tensor, start: number, end: number) => window(t, start, end - start);
    const aw = tA
      ? win(a, b0 * aE, (b0 + nb) * aE)
      : win(a, b0 * aE + r0 * K, (b0 + nb - 1) * aE + (r0 + nr) * K);
    const bw = sharedB ? win(b, 0, bE) : win(b, b0 * bE, (b0 + nb) * bE);
    const cStart = b0 * cE + r0 * N, cEnd = (b0 + nb - 1) * cE + (r0 + nr) * N;
    const cw = win(out, cStart, cEnd);
    const rw = opts.residual ? win(opts.residual, cStart, cEnd) : null;
    const biasw = opts.bias ? win(opts.bias, 0, N) : null;
    gpu.dispatch(
      shader,
      {
        a: aw.view,
        b: bw.view,
        bias: biasw?.view ?? aw.view,
        residual: rw?.view ?? aw.view,
        out: cw.view,
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
      { entryPoint },
    );
  }
  return out;
}
