import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, randn, relError } from '../gpu.ts';
import { upload, readF32 } from '../../engine/index.ts';
import { layerNorm, type LayerNormTiling } from '../../kernels/layernorm.ts';
import { setBindingLimitForTests } from '../../kernels/slicing.ts';

/** Float64 two-pass reference. */
function reference(x: Float32Array, C: number, scale: Float32Array, offset: Float32Array, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += x[r * C + c];
    const mean = s / C;
    let q = 0;
    for (let c = 0; c < C; c++) q += (x[r * C + c] - mean) ** 2;
    const inv = 1 / Math.sqrt(q / C + eps);
    for (let c = 0; c < C; c++) out[r * C + c] = (x[r * C + c] - mean) * inv * scale[c] + offset[c];
  }
  return out;
}

const tilings: LayerNormTiling[] = ['row_per_invocation', 'row_per_workgroup'];

test('matches the reference on odd shapes, both tilings', async () => {
  const gpu = await testGpu();
  const shapes = [[3, 37], [2, 5, 322], [7, 1280], [1, 1], [33, 65], [2, 3, 4, 5]];
  let seed = 10;
  for (const shape of shapes) {
    const C = shape[shape.length - 1];
    const n = shape.reduce((a, b) => a * b, 1);
    const x = randn(n, seed++, 3), s = randn(C, seed++), o = randn(C, seed++);
    const tx = upload(gpu, x, shape), ts = upload(gpu, s, [C]), to = upload(gpu, o, [C]);
    const ref = reference(x, C, s, o, 1e-5);
    for (const tiling of tilings) {
      const y = layerNorm(gpu, tx, ts, to, 1e-5, tiling);
      assert.equal(y.shape, shape);
      const err = relError(await readF32(y), ref);
      assert.ok(err < 2e-6, `${tiling} [${shape}]: rel error ${err}`);
      y.dispose();
    }
    [tx, ts, to].forEach((t) => t.dispose());
  }
});

test('two-pass statistics: rows with a large mean and small spread', async () => {
  const gpu = await testGpu();
  const R = 5, C = 1280;
  const x = randn(R * C, 3).map((v) => 1000 + v * 0.5);
  const s = new Float32Array(C).fill(1), o = new Float32Array(C);
  const tx = upload(gpu, x, [R, C]), ts = upload(gpu, s, [C]), to = upload(gpu, o, [C]);
  const ref = reference(x, C, s, o, 1e-5);
  for (const tiling of tilings) {
    const y = layerNorm(gpu, tx, ts, to, 1e-5, tiling);
    // The float32 mean is off by up to half an ulp of 1000 (3e-5), which
    // shifts outputs normalised by a std near 0.29 by ~1e-4 of their 1.7
    // maximum; a one-pass E[x^2] - E[x]^2 variance would be off by ~0.03
    // (an ulp of 1e6) against a true variance of 0.083.
    const err = relError(await readF32(y), ref);
    assert.ok(err < 1e-4, `${tiling}: rel error ${err}`);
    y.dispose();
  }
  [tx, ts, to].forEach((t) => t.dispose());
});

test('row slices over the binding limit, from an unaligned view', async () => {
  const gpu = await testGpu();
  const R = 101, C = 37;
  const x = randn((R + 3) * C, 7), s = randn(C, 8), o = randn(C, 9);
  const big = upload(gpu, x, [R + 3, C]);
  const tx = big.rows(3, R + 3); // starts at byte 3 * 37 * 4, not a multiple of 256
  const ts = upload(gpu, s, [C]), to = upload(gpu, o, [C]);
  const ref = reference(x.subarray(3 * C), C, s, o, 1e-5);
  setBindingLimitForTests(1024);
  try {
    for (const tiling of tilings) {
      const y = layerNorm(gpu, tx, ts, to, 1e-5, tiling);
      const err = relError(await readF32(y), ref);
      assert.ok(err < 2e-6, `${tiling}: rel error ${err}`);
      y.dispose();
    }
  } finally {
    setBindingLimitForTests(null);
  }
  [big, ts, to].forEach((t) => t.dispose());
});

test('shape and dtype errors name the kernel', async () => {
  const gpu = await testGpu();
  const x = upload(gpu, randn(12, 1), [3, 4]), s = upload(gpu, randn(5, 2), [5]), o = upload(gpu, randn(4, 3), [4]);
  assert.throws(() => layerNorm(gpu, x, s, o), /layerNorm.*scale and offset must be \[4\]/);
  const xi = upload(gpu, new Int32Array(12), [3, 4], 'i32');
  assert.throws(() => layerNorm(gpu, xi, o, o), /layerNorm.*x must be f32/);
  [x, s, o, xi].forEach((t) => t.dispose());
});

test.run();
