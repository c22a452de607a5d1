import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu } from '../gpu.ts';
import { upload, readF32 } from '../../engine/index.ts';
import { fourierFeatures, fourierWidth } from '../../kernels/fourier.ts';
import { setBindingLimitForTests } from '../../kernels/slicing.ts';

const f32 = Math.fround;

/** jnp.linspace in float32, written out independently of the kernel's copy. */
function linspace32(a: number, b: number, n: number): number[] {
  if (n === 1) return [a];
  return Array.from({ length: n }, (_, i) => {
    if (i === n - 1) return b;
    const s = f32(i / (n - 1));
    return f32(f32(a * f32(1 - s)) + f32(b * s));
  });
}

function linspace64(a: number, b: number, n: number): number[] {
  return n === 1 ? [a] : Array.from({ length: n }, (_, i) => a + ((b - a) * i) / (n - 1));
}

interface RefOpts {
  dims: number[];
  bands: number;
  maxResolution: number[];
  grid?: 'linspace' | 'fractional';
  /** true: float32 positions and frequencies as JAX computes them; false: exact float64 ones */
  jaxF32: boolean;
}

/** generate_fourier_features over the given flat points, in float64. */
function reference(o: RefOpts, points: number[]): Float64Array {
  const d = o.dims.length, K = o.bands, width = d + 2 * d * K;
  const pos = o.dims.map((n) => {
    if (o.grid === 'fractional') return Array.from({ length: n }, (_, i) => (o.jaxF32 ? f32(-1 + f32((2 * i) / n)) : -1 + (2 * i) / n));
    return o.jaxF32 ? linspace32(-1, 1, n) : linspace64(-1, 1, n);
  });
  const freq = o.maxResolution.map((r) => (o.jaxF32 ? linspace32(1, r / 2, K) : linspace64(1, r / 2, K)));
  const out = new Float64Array(points.length * width);
  points.forEach((flat, p) => {
    const idx: number[] = [];
    for (let a = d - 1; a >= 0; a--) {
      idx[a] = flat % o.dims[a];
      flat = Math.floor(flat / o.dims[a]);
    }
    for (let a = 0; a < d; a++) {
      const x = pos[a][idx[a]];
      out[p * width + a] = x;
      for (let k = 0; k < K; k++) {
        const t = x * freq[a][k];
        out[p * width + d + a * K + k] = Math.sin(Math.PI * t);
        out[p * width + d + d * K + a * K + k] = Math.cos(Math.PI * t);
      }
    }
  });
  return out;
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.is(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const range = (a: number, n: number) => Array.from({ length: n }, (_, i) => a + i);

test('small odd grids: layout, positions bit-exact, features exact', async () => {
  const gpu = await testGpu();
  const cases: (RefOpts & { first?: number; count?: number })[] = [
    { dims: [5, 7], bands: 4, maxResolution: [5, 7], jaxF32: true },
    { dims: [1, 3], bands: 1, maxResolution: [2, 3], jaxF32: true },
    { dims: [4, 6, 5], bands: 3, maxResolution: [4, 12, 10], grid: 'fractional', jaxF32: true, first: 17, count: 61 },
    { dims: [13], bands: 9, maxResolution: [40], jaxF32: true, first: 3 },
    { dims: [2, 3, 2, 3], bands: 2, maxResolution: [2, 3, 2, 3], jaxF32: true },
  ];
  for (const c of cases) {
    const total = c.dims.reduce((a, b) => a * b, 1);
    const first = c.first ?? 0, count = c.count ?? total - first;
    const out = fourierFeatures(gpu, { ...c, first: c.first, count: c.count });
    const d = c.dims.length;
    assert.equal(out.shape, [count, fourierWidth(d, c.bands)]);
    const got = await readF32(out);
    const ref = reference(c, range(first, count));
    const w = fourierWidth(d, c.bands);
    for (let p = 0; p < count; p++) for (let a = 0; a < d; a++) assert.is(got[p * w + a], ref[p * w + a], `position ${p},${a} of [${c.dims}]`);
    const err = maxAbs(got, ref);
    assert.ok(err < 1e-7, `[${c.dims}]: max abs error ${err}`);
    out.dispose();
  }
});

test('linspace positions: -1 and 1 at the ends, -1 for a single point', async () => {
  const gpu = await testGpu();
  const out = fourierFeatures(gpu, { dims: [1, 224], bands: 2, maxResolution: [1, 224] });
  const got = await readF32(out);
  const w = fourierWidth(2, 2);
  assert.is(got[0], -1);
  assert.is(got[1], -1);
  assert.is(got[223 * w + 1], 1);
  out.dispose();
});

test('ImageNet 224x224, 64 bands: sampled points via u32 indices and a range', async () => {
  const gpu = await testGpu();
  const opts = { dims: [224, 224], bands: 64, maxResolution: [224, 224] };
  const n = 2000;
  const ids = Array.from({ length: n }, (_, i) => (i * 7919 + 13) % (224 * 224));
  ids[0] = 224 * 224 - 1;
  const tid = upload(gpu, Uint32Array.from(ids), [n], 'u32');
  const a = fourierFeatures(gpu, { ...opts, indices: tid });
  const b = fourierFeatures(gpu, { ...opts, first: 224 * 224 - 500, count: 500 });
  const got = [await readF32(a), await readF32(b)];
  const pts = [ids, range(224 * 224 - 500, 500)];
  for (let i = 0; i < 2; i++) {
    const exact32 = maxAbs(got[i], reference({ ...opts, jaxF32: true }, pts[i]));
    const exact64 = maxAbs(got[i], reference({ ...opts, jaxF32: false }, pts[i]));
    assert.ok(exact32 < 1e-7, `vs float64 features of the float32 grid: ${exact32}`);
    // JAX's float32 positions and frequencies themselves differ from exact
    // float64 linspace values in the last bits, which the top band (112)
    // turns into differences of a few 1e-5 (3.7e-5 measured).
    assert.ok(exact64 < 5e-5, `vs a float64 grid: ${exact64}`);
  }
  [a, b, tid].forEach((t) => t.dispose());
});

test('audio: 1920 points, 192 bands, max resolution 30720', async () => {
  const gpu = await testGpu();
  const opts = { dims: [1920], bands: 192, maxResolution: [30720] };
  const out = fourierFeatures(gpu, opts);
  const got = await readF32(out);
  const exact32 = maxAbs(got, reference({ ...opts, jaxF32: true }, range(0, 1920)));
  const exact64 = maxAbs(got, reference({ ...opts, jaxF32: false }, range(0, 1920)));
  assert.ok(exact32 < 1e-7, `vs float64 features of the float32 grid: ${exact32}`);
  // Frequencies up to 15360: last-bit differences of JAX's float32 grid
  // (positions and frequencies) give a few 1e-3 (5.9e-3 measured).
  assert.ok(exact64 < 8e-3, `vs a float64 grid: ${exact64}`);
  out.dispose();
});

test('i32 indices and row slices over the binding limit', async () => {
  const gpu = await testGpu();
  const opts = { dims: [9, 11], bands: 5, maxResolution: [30, 30], grid: 'fractional' as const };
  const ids = range(0, 99).map((i) => (i * 37) % 99).concat([98, 0, 50]);
  const tid = upload(gpu, Int32Array.from([7, ...ids]), [ids.length + 1], 'i32').rows(1, ids.length + 1); // unaligned view
  setBindingLimitForTests(1280); // the 880-byte table fits; 11 output rows per slice
  try {
    const a = fourierFeatures(gpu, { ...opts, indices: tid });
    const b = fourierFeatures(gpu, { ...opts, first: 5, count: 90 });
    assert.ok(maxAbs(await readF32(a), reference({ ...opts, jaxF32: true }, ids)) < 1e-7);
    assert.ok(maxAbs(await readF32(b), reference({ ...opts, jaxF32: true }, range(5, 90))) < 1e-7);
    [a, b].forEach((t) => t.dispose());
  } finally {
    setBindingLimitForTests(null);
  }
});

test('cached tables: repeated chunks of one grid, and eviction', async () => {
  const gpu = await testGpu();
  const grids = Array.from({ length: 11 }, (_, i) => ({ dims: [3 + i, 4], bands: 2 + (i % 3), maxResolution: [8, 8] }));
  for (const round of [0, 1]) {
    for (const g of grids) {
      for (const [first, count] of [[0, 5], [7, 5]]) {
        const out = fourierFeatures(gpu, { ...g, first, count });
        const err = maxAbs(await readF32(out), reference({ ...g, jaxF32: true }, range(first, count)));
        assert.ok(err < 1e-7, `round ${round} [${g.dims}] ${first}: ${err}`);
        out.dispose();
      }
    }
  }
});

test('option errors', async () => {
  const gpu = await testGpu();
  assert.throws(() => fourierFeatures(gpu, { dims: [4, 4], bands: 2, maxResolution: [4] }), /maxResolution needs one entry per axis/);
  assert.throws(() => fourierFeatures(gpu, { dims: [4], bands: 2, maxResolution: [4], first: 3, count: 2 }), /outside the grid/);
  assert.throws(() => fourierFeatures(gpu, { dims: [2, 2, 2, 2, 2], bands: 1, maxResolution: [2, 2, 2, 2, 2] }), /1 to 4 axes/);
});

test.run();
