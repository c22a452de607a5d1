import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, randn, relError } from '../gpu.ts';
import { upload, readF32, type Tensor } from '../../engine/index.ts';
import { conv2dSame, samePadding } from '../../kernels/conv.ts';
import { setBindingLimitForTests } from '../../kernels/slicing.ts';

interface Bn { scale: Float32Array; offset: Float32Array; mean: Float32Array; variance: Float32Array; eps: number }

/** Direct float64 convolution with explicit (before, after) SAME padding. */
function reference(x: Float32Array, [B, H, W, Cin]: number[], w: Float32Array, [kh, kw, , Cout]: number[], s: number, bias?: Float32Array, bn?: Bn, relu = false): Float64Array {
  const ph = samePadding(H, kh, s), pw = samePadding(W, kw, s);
  const OH = ph.out, OW = pw.out;
  const out = new Float64Array(B * OH * OW * Cout);
  for (let b = 0; b < B; b++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
    for (let co = 0; co < Cout; co++) {
      let acc = 0;
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * s + ky - ph.before;
        if (iy < 0 || iy >= H) continue;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * s + kx - pw.before;
          if (ix < 0 || ix >= W) continue;
          for (let ci = 0; ci < Cin; ci++) acc += x[((b * H + iy) * W + ix) * Cin + ci] * w[((ky * kw + kx) * Cin + ci) * Cout + co];
        }
      }
      if (bias) acc += bias[co];
      if (bn) acc = ((acc - bn.mean[co]) / Math.sqrt(bn.variance[co] + bn.eps)) * bn.scale[co] + bn.offset[co];
      if (relu) acc = Math.max(acc, 0);
      out[((b * OH + oy) * OW + ox) * Cout + co] = acc;
    }
  }
  return out;
}

test('SAME padding matches TensorFlow', () => {
  assert.equal(samePadding(224, 7, 2), { out: 112, before: 2, after: 3 });
  assert.equal(samePadding(112, 3, 2), { out: 56, before: 0, after: 1 });
  assert.equal(samePadding(224, 1, 4), { out: 56, before: 0, after: 0 });
  assert.equal(samePadding(5, 3, 1), { out: 5, before: 1, after: 1 });
  assert.equal(samePadding(2, 7, 3), { out: 1, before: 2, after: 3 });
});

test('odd shapes, strides, bias, batch norm, ReLU', async () => {
  const gpu = await testGpu();
  const cases = [
    { x: [2, 9, 11, 3], w: [7, 7, 3, 5], s: 2, bias: false, bn: true, relu: true },
    { x: [2, 8, 8, 4], w: [1, 1, 4, 13], s: 4, bias: true, bn: false, relu: false },
    { x: [3, 10, 7, 2], w: [3, 5, 2, 9], s: 3, bias: true, bn: true, relu: false },
    { x: [1, 6, 5, 1], w: [2, 2, 1, 16], s: 1, bias: false, bn: false, relu: true },
  ];
  let seed = 100;
  for (const c of cases) {
    const Cout = c.w[3];
    const x = randn(c.x.reduce((a, b) => a * b), seed++), w = randn(c.w.reduce((a, b) => a * b), seed++, 0.3);
    const bias = c.bias ? randn(Cout, seed++) : undefined;
    const bn: Bn | undefined = c.bn
      ? { scale: randn(Cout, seed++), offset: randn(Cout, seed++), mean: randn(Cout, seed++, 0.2), variance: randn(Cout, seed++).map((v) => 0.5 + Math.abs(v)), eps: 1e-5 }
      : undefined;
    const tx = upload(gpu, x, c.x), tw = upload(gpu, w, c.w);
    const tb = bias && upload(gpu, bias, [Cout]);
    // Checkpoint batch-norm vectors are [1,1,1,C].
    const tbn = bn && { scale: upload(gpu, bn.scale, [1, 1, 1, Cout]), offset: upload(gpu, bn.offset, [Cout]), mean: upload(gpu, bn.mean, [Cout]), variance: upload(gpu, bn.variance, [Cout]) };
    const y = conv2dSame(gpu, tx, tw, { stride: c.s, bias: tb, batchNorm: tbn, relu: c.relu });
    const ref = reference(x, c.x, w, c.w, c.s, bias, bn, c.relu);
    assert.equal(y.shape, [c.x[0], Math.ceil(c.x[1] / c.s), Math.ceil(c.x[2] / c.s), Cout]);
    const err = relError(await readF32(y), ref);
    assert.ok(err < 2e-6, `x=[${c.x}] w=[${c.w}] s=${c.s}: rel error ${err}`);
    [tx, tw, tb, y, ...(tbn ? Object.values(tbn) : [])].forEach((t) => (t as Tensor | undefined)?.dispose());
  }
});

test('ImageNet stem geometry: 224 -> 112 with pads (2, 3)', async () => {
  const gpu = await testGpu();
  const xs = [1, 224, 224, 3], ws = [7, 7, 3, 8];
  const x = randn(224 * 224 * 3, 5), w = randn(7 * 7 * 3 * 8, 6, 0.2);
  const bn: Bn = { scale: randn(8, 7), offset: randn(8, 8), mean: randn(8, 9, 0.1), variance: new Float32Array(8).fill(0.7), eps: 1e-5 };
  const tx = upload(gpu, x, xs), tw = upload(gpu, w, ws);
  const tbn = { scale: upload(gpu, bn.scale, [8]), offset: upload(gpu, bn.offset, [8]), mean: upload(gpu, bn.mean, [8]), variance: upload(gpu, bn.variance, [8]) };
  const y = conv2dSame(gpu, tx, tw, { stride: 2, batchNorm: tbn, relu: true });
  assert.equal(y.shape, [1, 112, 112, 8]);
  const err = relError(await readF32(y), reference(x, xs, w, ws, 2, undefined, bn, true));
  assert.ok(err < 2e-6, `rel error ${err}`);
  [tx, tw, y, ...Object.values(tbn)].forEach((t) => t.dispose());
});

test('images sliced over the binding limit, unaligned input view', async () => {
  const gpu = await testGpu();
  const xs = [3, 6, 7, 2], ws = [3, 3, 2, 5];
  const n = 3 * 6 * 7 * 2;
  const x = randn(n + 1, 11), w = randn(3 * 3 * 2 * 5, 12);
  const big = upload(gpu, x, [n + 1]);
  const tx = big.rows(1, n + 1).reshape(xs);
  const tw = upload(gpu, w, ws);
  setBindingLimitForTests(256 + 6 * 7 * 5 * 4); // one image per dispatch
  try {
    const y = conv2dSame(gpu, tx, tw, { stride: 1 });
    const err = relError(await readF32(y), reference(x.subarray(1), xs, w, ws, 1));
    assert.ok(err < 2e-6, `rel error ${err}`);
    y.dispose();
  } finally {
    setBindingLimitForTests(null);
  }
  [big, tw].forEach((t) => t.dispose());
});

test('shape errors name the kernel', async () => {
  const gpu = await testGpu();
  const x = upload(gpu, randn(2 * 4 * 4 * 3, 1), [2, 4, 4, 3]);
  const w = upload(gpu, randn(3 * 3 * 2 * 4, 1), [3, 3, 2, 4]);
  const v = upload(gpu, randn(5, 1), [5]);
  assert.throws(() => conv2dSame(gpu, x, w, { stride: 1 }), /conv2dSame.*2 input channels, x has 3/);
  const w3 = upload(gpu, randn(3 * 3 * 3 * 4, 1), [3, 3, 3, 4]);
  assert.throws(() => conv2dSame(gpu, x, w3, { stride: 1, bias: v }), /conv2dSame.*bias must be f32 \[4\]/);
  [x, w, v, w3].forEach((t) => t.dispose());
});

test.run();
