import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, randn } from '../gpu.ts';
import { createGpu, upload, empty, read, readF32, f32ToF16, f16ToF32, GpuError } from '../../engine/index.ts';
import { elementwise } from '../../kernels/shaders.gen.ts';

test('upload and read back every dtype', async () => {
  const gpu = await testGpu();
  const f = randn(77, 3);
  assert.equal(await readF32(upload(gpu, f, [7, 11])), f);
  const i = Int32Array.from([-5, 0, 7, 2147483647]);
  assert.equal(await read(upload(gpu, i, [4], 'i32')), i);
  const u = Uint32Array.from([0, 1, 4294967295]);
  assert.equal(await read(upload(gpu, u, [3], 'u32')), u);
  const h = Float32Array.from([0, 1, -2, 0.5, 65504, 1 / 1024, -0]);
  assert.equal(Array.from(await readF32(upload(gpu, f32ToF16(h), [7], 'f16'))), Array.from(h));
  assert.throws(() => upload(gpu, h, [7], 'f16'), /f16 data must be Uint16Array bits/);
});

test('f16 conversion rounds to nearest even and keeps inf, NaN and subnormals', () => {
  const v = Float32Array.from([1 + 2 ** -11, 1 + 3 * 2 ** -11, 70000, -Infinity, NaN, 2 ** -24, 2 ** -26]);
  const back = f16ToF32(f32ToF16(v));
  assert.is(back[0], 1); // tie -> even
  assert.is(back[1], 1 + 2 ** -9); // tie -> even (up)
  assert.is(back[2], Infinity);
  assert.is(back[3], -Infinity);
  assert.ok(Number.isNaN(back[4]));
  assert.is(back[5], 2 ** -24);
  assert.is(back[6], 0);
});

test('reshape and rows are views; transfer hands over ownership', async () => {
  const gpu = await testGpu();
  const data = Float32Array.from({ length: 128 * 4 }, (_, i) => i);
  const t = upload(gpu, data, [128, 4]);
  assert.equal(t.reshape([2, -1, 4]).shape, [2, 64, 4]);
  assert.throws(() => t.reshape([3, 5]), /cannot reshape/);
  const r = t.rows(64, 128); // 64 rows * 16 bytes = 1024: aligned
  assert.equal(Array.from(await readF32(r)), Array.from(data.subarray(256)));
  const moved = t.transfer([512]);
  assert.ok(t.disposed);
  assert.is(moved.size, 512);
  moved.dispose();
});

test('disposed buffers are reused by the pool', async () => {
  const gpu = await testGpu();
  const a = empty(gpu, [1000]);
  const buf = a.buffer;
  a.dispose();
  const b = empty(gpu, [1001]);
  assert.is(b.buffer, buf);
  await read(a).then(
    () => assert.unreachable('read of a disposed tensor'),
    (e: Error) => assert.match(e.message, /disposed/),
  );
  b.dispose();
});

test('GPU validation errors surface as exceptions naming the kernels in flight', async () => {
  const gpu = await testGpu();
  const t = upload(gpu, [1, 2, 3, 4], [4]);
  const params = { n: 4, e0: 0, nb: 4, b_start: 0, a_off: 0, b_off: 0, out_off: 0, has_b: 1, alpha: 0 };
  t.buffer.destroy(); // a destroyed buffer in a submit is a device-side validation error
  gpu.dispatch(elementwise, { a: t, b: t, out: t, params }, 1);
  try {
    await gpu.sync();
    assert.unreachable('sync should throw');
  } catch (e) {
    assert.instance(e, GpuError);
    assert.match((e as Error).message, /validation error/);
    assert.match((e as Error).message, /elementwise\(a=f32\[4\]/);
  }
  await gpu.sync(); // the device is still usable
});

test('no WebGPU or no adapter gives a clear error', async () => {
  try {
    await createGpu(undefined);
    assert.unreachable();
  } catch (e) {
    assert.instance(e, GpuError);
    assert.match((e as Error).message, /WebGPU is not available/);
  }
  const fake = { requestAdapter: async () => null } as unknown as GPU;
  try {
    await createGpu(fake);
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /No WebGPU adapter found/);
  }
});

test.run();
