import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, randn } from '../gpu.ts';
import { upload, empty, readF32 } from '../../engine/index.ts';
import { add } from '../../kernels/shaders.gen.ts';

test('dispatch binds tensors by reflected name and packs the uniform', async () => {
  const gpu = await testGpu();
  const n = 1000;
  const a = randn(n, 1), b = randn(n, 2);
  const ta = upload(gpu, a, [n]), tb = upload(gpu, b, [n]), out = empty(gpu, [n]);
  gpu.dispatch(add, { a: ta, b: tb, out, params: { n } }, Math.ceil(n / 256));
  const r = await readF32(out);
  for (let i = 0; i < n; i++) assert.ok(Math.abs(r[i] - (a[i] + b[i])) < 1e-6);
  [ta, tb, out].forEach((t) => t.dispose());
});

test('a missing binding or uniform member is an error naming it', async () => {
  const gpu = await testGpu();
  const t = upload(gpu, [1, 2], [2]);
  assert.throws(() => gpu.dispatch(add, { a: t, out: t, params: { n: 2 } }, 1), /missing argument for binding 'b'/);
  assert.throws(() => gpu.dispatch(add, { a: t, b: t, out: t, params: {} }, 1), /needs a value for 'n'/);
  t.dispose();
});

test('a grid over maxComputeWorkgroupsPerDimension is folded through grid_x', async () => {
  const gpu = await testGpu();
  const wg = gpu.limits.maxComputeWorkgroupsPerDimension + 3;
  const n = wg * 256;
  const ones = new Float32Array(n).fill(1);
  const a = upload(gpu, ones, [n]), out = empty(gpu, [n]);
  gpu.dispatch(add, { a, b: a, out, params: { n } }, wg);
  const r = await readF32(out);
  assert.is(r[0], 2);
  assert.is(r[n - 1], 2);
  assert.is(r.indexOf(0), -1);
  a.dispose();
  out.dispose();
});

test('a binding over maxStorageBufferBindingSize is refused before sending', async () => {
  const gpu = await testGpu();
  const n = gpu.limits.maxStorageBufferBindingSize / 4 + 64;
  const big = empty(gpu, [n]);
  assert.throws(() => gpu.dispatch(add, { a: big, b: big, out: big, params: { n } }, 1), /maxStorageBufferBindingSize/);
  big.dispose();
});

test.run();
