// A lost device (a driver reset, a screen lock, here device.destroy()): the
// Gpu says why (gpu.lost, onLost, a GpuError with the reason), the work in
// flight is rejected with that GpuError, recover() gets a new device on
// which new tensors work and tensors of the lost one are refused by name;
// after the Gpu's own destroy() nothing is recovered. A fresh Gpu, so the
// shared test device is not disturbed.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assertRejects } from '../gpu.ts';
import { nodeGpu } from '../../engine/node.ts';
import { GpuError, upload, readF32, type Gpu, type Tensor } from '../../engine/index.ts';
import { scale } from '../../kernels/elementwise.ts';

let gpu: Gpu;
let x: Tensor;
test.before(async () => {
  gpu = await nodeGpu();
});

test('a loss during a call rejects it with a GpuError naming the reason; later calls say the same until recover()', async () => {
  const lost: GpuError[] = [];
  gpu.onLost = (e) => lost.push(e);
  x = upload(gpu, [1, 2, 3, 4], [4]);
  const inFlight = readF32(scale(gpu, x, 2));
  gpu.device.destroy();
  let error: unknown = null;
  await inFlight.catch((e) => (error = e));
  assert.instance(error, GpuError);
  assert.match((error as Error).message, /the GPU device was lost \(destroyed: /);
  assert.match((error as Error).message, /while running: elementwise\(a=f32\[4\]/);
  assert.is(lost.length, 1);
  assert.is(gpu.lost?.message, lost[0].message);
  assert.throws(() => scale(gpu, x, 2), /the GPU device was lost/);
});

test('recover(): a new device, tensors of the lost one refused by name, new tensors work, one request for many callers', async () => {
  const old = gpu.device;
  const stale = x; // made on the lost device
  await Promise.all([gpu.recover(), gpu.recover(), gpu.recover()]);
  assert.is.not(gpu.device, old);
  assert.is(gpu.lost, null);
  assert.is(gpu.generation, 1);
  assert.ok(stale.disposed, 'a tensor of the lost device reads as disposed');
  assert.throws(() => scale(gpu, stale, 2), /binding 'a' was disposed \(or made on a device since lost\)/);
  const y = upload(gpu, [1, 2, 3, 4], [4]);
  assert.equal([...(await readF32(scale(gpu, y, 2)))], [2, 4, 6, 8]);
  await gpu.recover(); // nothing to do while the device is fine
  assert.is(gpu.generation, 1);
});

test('a loss between calls: the next call is rejected until recover(), then works', async () => {
  gpu.device.destroy();
  await gpu.device.lost;
  assert.throws(() => upload(gpu, [5], [1]), /the GPU device was lost/);
  await gpu.recover();
  assert.equal([...(await readF32(upload(gpu, [5], [1])))], [5]);
});

test('after the Gpu\'s own destroy(), recover() rejects with the loss', async () => {
  gpu.destroy();
  await gpu.device.lost;
  await assertRejects(() => gpu.recover(), /the GPU device was lost \(destroyed/);
  assert.is(gpu.pool.count, 0);
});

test.run();
