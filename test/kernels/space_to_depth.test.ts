import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, randn } from '../gpu.ts';
import { upload, read, readF32 } from '../../engine/index.ts';
import { spaceToDepth, strided } from '../../kernels/space_to_depth.ts';
import { setBindingLimitForTests } from '../../kernels/slicing.ts';

/** einops `b (t dt) (h dh) (w dw) c -> b t h w (dt dh dw c)` by explicit loops. */
function s2d(x: ArrayLike<number>, [B, T, H, W, C]: number[], dt: number, dh: number, dw: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < B; b++) for (let t = 0; t < T / dt; t++) for (let h = 0; h < H / dh; h++) for (let w = 0; w < W / dw; w++)
    for (let i = 0; i < dt; i++) for (let j = 0; j < dh; j++) for (let k = 0; k < dw; k++) for (let c = 0; c < C; c++)
      out.push(x[((((b * T + t * dt + i) * H + h * dh + j) * W + w * dw + k) * C) + c]);
  return out;
}

function stridedRef(x: ArrayLike<number>, [B, H, W, C]: number[], s: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h += s) for (let w = 0; w < W; w += s) for (let c = 0; c < C; c++) out.push(x[((b * H + h) * W + w) * C + c]);
  return out;
}

test('4-D space_to_depth, odd factors and channels', async () => {
  const gpu = await testGpu();
  for (const [shape, dh, dw] of [[[2, 6, 9, 5], 2, 3], [[1, 8, 8, 3], 4, 4], [[3, 5, 7, 1], 5, 1]] as [number[], number, number][]) {
    const x = randn(shape.reduce((a, b) => a * b), 1);
    const tx = upload(gpu, x, shape);
    const y = spaceToDepth(gpu, tx, { dh, dw });
    assert.equal(y.shape, [shape[0], shape[1] / dh, shape[2] / dw, dh * dw * shape[3]]);
    assert.equal(Array.from(await readF32(y)), s2d(x, [shape[0], 1, ...shape.slice(1)], 1, dh, dw));
    [tx, y].forEach((t) => t.dispose());
  }
});

test('5-D space_to_depth (video patches)', async () => {
  const gpu = await testGpu();
  for (const [shape, dt, dh, dw] of [[[2, 4, 6, 4, 3], 2, 3, 2], [[1, 8, 32, 32, 3], 4, 4, 4], [[1, 3, 2, 2, 5], 1, 2, 1]] as [number[], number, number, number][]) {
    const x = randn(shape.reduce((a, b) => a * b), 2);
    const tx = upload(gpu, x, shape);
    const y = spaceToDepth(gpu, tx, { dt, dh, dw });
    assert.equal(y.shape, [shape[0], shape[1] / dt, shape[2] / dh, shape[3] / dw, dt * dh * dw * shape[4]]);
    assert.equal(Array.from(await readF32(y)), s2d(x, shape, dt, dh, dw));
    [tx, y].forEach((t) => t.dispose());
  }
});

test('slices over the binding limit (both unit kinds), i32, unaligned view', async () => {
  const gpu = await testGpu();
  const shape = [2, 4, 6, 4, 3];
  const n = shape.reduce((a, b) => a * b);
  const xi = Int32Array.from({ length: n + 3 }, (_, i) => i * 7 - 100);
  const big = upload(gpu, xi, [n + 3], 'i32');
  const tx = big.rows(3, n + 3).reshape(shape);
  setBindingLimitForTests(1024);
  try {
    for (const [dt, dh, dw] of [[2, 3, 2], [1, 2, 2]]) {
      const y = spaceToDepth(gpu, tx, { dt, dh, dw });
      assert.equal(Array.from(await read(y)), s2d(xi.subarray(3), shape, dt, dh, dw));
      y.dispose();
    }
    const s4 = [3, 11, 7, 5];
    const x4 = randn(s4.reduce((a, b) => a * b), 4);
    const t4 = upload(gpu, x4, s4);
    for (const s of [1, 2, 3, 4]) {
      const y = strided(gpu, t4, s);
      assert.equal(Array.from(await readF32(y)), stridedRef(x4, s4, s), `strided ${s}`);
      y.dispose();
    }
    t4.dispose();
  } finally {
    setBindingLimitForTests(null);
  }
  big.dispose();
});

test('strided x[:, ::s, ::s] on odd sizes', async () => {
  const gpu = await testGpu();
  const shape = [2, 7, 9, 3];
  const x = randn(shape.reduce((a, b) => a * b), 5);
  const tx = upload(gpu, x, shape);
  for (const s of [1, 2, 3, 8]) {
    const y = strided(gpu, tx, s);
    assert.equal(y.shape, [2, Math.ceil(7 / s), Math.ceil(9 / s), 3]);
    assert.equal(Array.from(await readF32(y)), stridedRef(x, shape, s));
    y.dispose();
  }
  tx.dispose();
});

test('shape errors', async () => {
  const gpu = await testGpu();
  const x = upload(gpu, randn(2 * 6 * 6 * 3, 1), [2, 6, 6, 3]);
  assert.throws(() => spaceToDepth(gpu, x, { dh: 4, dw: 2 }), /spaceToDepth.*multiples/);
  assert.throws(() => spaceToDepth(gpu, x, { dt: 2, dh: 2, dw: 2 }), /spaceToDepth.*5-D/);
  x.dispose();
});

test.run();
