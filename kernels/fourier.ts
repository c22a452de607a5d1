// Fourier position features (DeepMind's generate_fourier_features with
// concat_pos=True, sine_only=False) for grid points given by flat index.
//
// Numerics. Positions and frequencies are float32 values computed exactly as
// JAX computes them in float32 (see `jaxLinspaceF32`); everything after that
// is exact up to the final rounding to float32:
//   t = pos * freq   is formed in float64, where the product of two float32
//                    values is exact (24 + 24 bits <= 53);
//   r = t mod 2      is exact in float64 (fmod is exact);
//   sin(pi r), cos(pi r) in float64, then rounded to float32.
// So each feature is sin(pi * pos32 * freq32) rounded to float32 (the
// float64 error is far below a float32 ulp), whatever the argument
// (frequencies reach 15,360 for audio). A feature depends on one axis index
// only, so axis a needs just n_a * K sine/cosine pairs: they are computed on
// the CPU into a small table (kept in a per-device LRU cache of
// MAX_CACHED_TABLES grids), and the GPU kernel (fourier.wgsl) assembles the
// [n, d + 2dK] rows from it. No GPU trigonometry is involved, so results are
// identical on every adapter (WGSL only bounds sin/cos error to 2^-11 on
// [-pi, pi]).
//
// Versus JAX itself: JAX rounds pos * freq to float32 and then pi * that to
// float32 before its sin, which costs it up to about 3e-5 (ImageNet,
// freq <= 112) and 3e-3 (audio, freq <= 15,360) of absolute error; these
// features are closer to the exact values than JAX's own. Versus exact
// float64 positions and frequencies (no float32 grid at all), the float32
// grid itself accounts for up to 3.7e-5 (ImageNet) and 5.9e-3 (audio),
// measured in test/kernels/fourier.test.ts.
//
// Output rows are written in slices when [n, width] exceeds one storage
// binding (optical flow: 182,528 x 258 f32 = 188 MB).

import { empty, upload, type Gpu, type Tensor } from '../engine/index.ts';
import { fourier as shader } from './shaders.gen.ts';
import { window, splitRanges, checkFits, groups } from './slicing.ts';

/** Feature tables kept per device, in gpu.cache (the decoders ask for the same grid chunk after chunk). */
const MAX_CACHED_TABLES = 8;
const CACHE_PREFIX = 'fourier ';

interface TableInfo {
  dispose(): void;
  table: Tensor;
  posBase: number[];
  trigBase: number[];
  cosShift: number;
}

/** Matches fourier.wgsl. */
const WORKGROUP = 256;
const PER_INVOCATION = 16;
const MAX_AXES = 4;

export type FourierGrid = 'linspace' | 'fractional';

export interface FourierOptions {
  /** grid shape; points are flat row-major indices over it */
  dims: number[];
  /** frequency bands per axis (K) */
  bands: number;
  /** per axis: frequencies are linspace(1, maxResolution[a] / 2, K) */
  maxResolution: number[];
  /**
   * 'linspace' (default): pos = linspace(-1, 1, n) per axis (n = 1 gives -1),
   * as build_linear_positions. 'fractional': pos = -1 + 2 i / n, as the
   * decoders' subsampled query positions.
   */
  grid?: FourierGrid;
  /** first flat index (default 0) */
  first?: number;
  /** number of points from `first` (default: the rest of the grid) */
  count?: number;
  /** explicit flat indices (u32 or i32 [n]); replaces first/count */
  indices?: Tensor;
}

const f32 = Math.fround;

/**
 * jnp.linspace(start, stop, num, endpoint=True, dtype=float32) value by value,
 * as JAX computes it in float32: step_i = f32(i) / f32(num - 1), then
 * start * (1 - step_i) + stop * step_i with each operation rounded to float32
 * (no fused multiply-add), and the last element exactly `stop`; num = 1 gives
 * [start]. Float32 operations are reproduced exactly by rounding the float64
 * result (double rounding is harmless for +, -, *, / of float32 operands).
 */
export function jaxLinspaceF32(start: number, stop: number, num: number): Float32Array {
  const out = new Float32Array(num);
  const a = f32(start), b = f32(stop);
  if (num === 1) out[0] = a;
  else {
    const div = num - 1;
    for (let i = 0; i < div; i++) {
      const s = f32(i / div);
      out[i] = f32(f32(a * f32(1 - s)) + f32(b * s));
    }
    out[div] = b;
  }
  return out;
}

/**
 * Per-axis positions as float32: 'linspace' as jaxLinspaceF32(-1, 1, n);
 * 'fractional' as the JAX expression -1 + 2 * i / n on int32 i (true division
 * in float32, then the float32 add).
 */
export function gridPositions(n: number, grid: FourierGrid): Float32Array {
  if (grid === 'linspace') return jaxLinspaceF32(-1, 1, n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f32(-1 + f32((2 * i) / n));
  return out;
}

/** Frequencies per axis as float32: jnp.linspace(1, maxResolution / 2, K). */
export function bandFrequencies(maxResolution: number, bands: number): Float32Array {
  return jaxLinspaceF32(1, maxResolution / 2, bands);
}

/** sin(pi * t) and cos(pi * t) for float64 t, reduced exactly modulo 2 first. */
export function sinCosPi(t: number): [number, number] {
  const r = t % 2; // exact; in (-2, 2)
  const x = Math.PI * r;
  return [Math.sin(x), Math.cos(x)];
}

function checkOptions(o: FourierOptions): void {
  const name = `fourierFeatures(dims=[${o.dims}], bands=${o.bands}, maxResolution=[${o.maxResolution}])`;
  const d = o.dims.length;
  if (d < 1 || d > MAX_AXES) throw new Error(`${name}: 1 to ${MAX_AXES} axes are supported`);
  if (o.dims.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`${name}: dims must be positive integers`);
  if (o.maxResolution.length !== d) throw new Error(`${name}: maxResolution needs one entry per axis`);
  if (o.maxResolution.some((r) => !(r > 0))) throw new Error(`${name}: maxResolution must be positive`);
  if (!Number.isInteger(o.bands) || o.bands < 1) throw new Error(`${name}: bands must be a positive integer`);
  if (o.grid !== undefined && o.grid !== 'linspace' && o.grid !== 'fractional') throw new Error(`${name}: unknown grid '${o.grid}'`);
}

/**
 * The feature table for the wgsl kernel: positions of all axes, then sines of
 * all (axis, index, band), then cosines in the same order.
 */
function buildTable(o: FourierOptions): Omit<TableInfo, 'table' | 'dispose'> & { data: Float32Array } {
  const d = o.dims.length, K = o.bands;
  const grid = o.grid ?? 'linspace';
  const posBase: number[] = [], trigBase: number[] = [];
  let nPos = 0, nTrig = 0;
  for (const n of o.dims) {
    posBase.push(nPos);
    nPos += n;
  }
  for (const n of o.dims) {
    trigBase.push(nPos + nTrig);
    nTrig += n * K;
  }
  const data = new Float32Array(nPos + 2 * nTrig);
  for (let a = 0; a < d; a++) {
    const pos = gridPositions(o.dims[a], grid);
    const freq = bandFrequencies(o.maxResolution[a], K);
    data.set(pos, posBase[a]);
    for (let i = 0; i < pos.length; i++) {
      for (let k = 0; k < K; k++) {
        const [s, c] = sinCosPi(pos[i] * freq[k]);
        data[trigBase[a] + i * K + k] = s;
        data[trigBase[a] + nTrig + i * K + k] = c;
      }
    }
  }
  return { data, posBase, trigBase, cosShift: nTrig };
}

/** Output width d + 2 d K. */
export function fourierWidth(axes: number, bands: number): number {
  return axes + 2 * axes * bands;
}

export function fourierFeatures(gpu: Gpu, o: FourierOptions): Tensor {
  checkOptions(o);
  const name = `fourierFeatures(dims=[${o.dims}], bands=${o.bands})`;
  const d = o.dims.length;
  const total = o.dims.reduce((a, b) => a * b, 1);
  if (total > 0xffffffff) throw new Error(`${name}: more than 2^32 grid points`);
  const width = fourierWidth(d, o.bands);
  let n: number;
  let first = 0;
  const ids = o.indices;
  if (ids) {
    if (o.first !== undefined || o.count !== undefined) throw new Error(`${name}: give either indices or first/count`);
    if (ids.dtype !== 'i32' && ids.dtype !== 'u32') throw new Error(`${name}: indices must be i32 or u32, not ${ids.dtype}`);
    if (ids.shape.length !== 1) throw new Error(`${name}: indices must be 1-D, got [${ids.shape}]`);
    n = ids.shape[0];
  } else {
    first = o.first ?? 0;
    n = o.count ?? total - first;
    if (!Number.isInteger(first) || !Number.isInteger(n) || first < 0 || n < 0 || first + n > total) {
      throw new Error(`${name}: points [${first}, ${first + n}) outside the grid of ${total}`);
    }
  }

  const { table, posBase, trigBase, cosShift } = cachedTable(gpu, o);
  checkFits(gpu, 'fourierFeatures', 'feature table', table);
  const out = empty(gpu, [n, width]);
  const pad = (v: number[]) => [...v, ...new Array(MAX_AXES - v.length).fill(0)];
  for (const [p0, p1] of splitRanges(gpu, 'fourierFeatures', n, width * 4)) {
    const ow = window(out, p0 * width, (p1 - p0) * width);
    // Without indices the table stands in for them (read-only, never read:
    // use_indices is 0): no upload, so no submit mid-forward.
    const iw = ids ? window(ids, p0, p1 - p0) : { view: table, off: 0 };
    gpu.dispatch(
      shader,
      {
        table,
        indices: iw.view,
        out: ow.view,
        params: {
          dims: pad(o.dims), pos_base: pad(posBase), trig_base: pad(trigBase),
          n: (p1 - p0) * width, width, axes: d, bands: o.bands,
          point0: ids ? 0 : p0, first, use_indices: ids ? 1 : 0, idx_off: iw.off,
          out_off: ow.off, cos_shift: cosShift, total_points: total,
        },
      },
      groups((p1 - p0) * width, WORKGROUP * PER_INVOCATION),
    );
  }
  return out;
}

/** The uploaded feature table for a grid, from a small per-device LRU cache (gpu.cache). */
function cachedTable(gpu: Gpu, o: FourierOptions): TableInfo {
  const key = CACHE_PREFIX + JSON.stringify([o.dims, o.bands, o.maxResolution, o.grid ?? 'linspace']);
  const cache = gpu.cache as Map<string, TableInfo>;
  const hit = cache.get(key);
  if (hit && !hit.table.disposed) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const { data, posBase, trigBase, cosShift } = buildTable(o);
  const table = upload(gpu, data, [data.length], 'f32', true); // kept: a new buffer (BufferPool.acquire)
  const info = { table, posBase, trigBase, cosShift, dispose: () => table.dispose() };
  cache.set(key, info);
  const mine = [...cache.keys()].filter((k) => k.startsWith(CACHE_PREFIX));
  if (mine.length > MAX_CACHED_TABLES) {
    // Work already recorded keeps its ordering after a dispose (engine/pool.ts).
    cache.get(mine[0])!.dispose();
    cache.delete(mine[0]);
  }
  return info;
}
