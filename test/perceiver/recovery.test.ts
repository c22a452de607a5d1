// Recovery from a lost device, per task: when the device is lost between
// calls, the next call gets a new device, the weights uploaded again and the
// pipelines compiled again, and gives the same result; a call in flight is
// rejected with a GpuError naming the loss. Where the weights come from
// again follows the load option `recover` (perceiver/load.ts): bytes in
// memory, source functions and weight providers are read again, a stream
// only with 'keep'.
// One fresh Gpu, destroyed again and again (docs/reliability.md).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assertRejects } from '../gpu.ts';
import { nodeGpu } from '../../engine/node.ts';
import { GpuError, type Gpu } from '../../engine/index.ts';
import { tuning } from '../../engine/tune.ts';
import { encodeWeights } from '../../engine/weights.ts';
import { presetConfig } from '../../perceiver/config.ts';
import { loadImageClassifier } from '../../perceiver/imagenet/load.ts';
import { randomHostWeights } from '../../bench/random-weights.ts';
import { TASKS, TINY, picture, pipelinesDuring } from './tiny.ts';

let gpu: Gpu;
test.before(async () => {
  gpu = await nodeGpu();
  tuning(gpu).enabled = false;
});
test.after(() => gpu.destroy());

/** Loses the device as a driver reset would, and waits until the Gpu knows. */
async function lose(): Promise<void> {
  gpu.device.destroy();
  await gpu.device.lost;
}

for (const task of TASKS) {
  test(`${task.name}: lost between calls, the next call recovers (new device, weights, pipelines) and gives the same result`, async () => {
    const { model, call } = await task.load(gpu);
    const before = await call();
    await lose();
    await model.ready(); // what the call does first
    // the pipelines were compiled while recovering (Gpu.prepare), not by the forward
    let after: unknown;
    const created = await pipelinesDuring(gpu, async () => (after = await call()));
    assert.equal(after, before);
    assert.is(created.sync, 0, 'pipelines created synchronously by the first call after recovery');
    assert.is(gpu.lost, null);
    model.dispose();
  });
}

for (const task of TASKS.slice(0, 2)) {
  test(`${task.name}: lost during a call, the call is rejected with a GpuError; the next one works`, async () => {
    const { model, call } = await task.load(gpu);
    const before = await call();
    const inFlight = call();
    gpu.device.destroy();
    let error: unknown = null;
    await inFlight.catch((e) => (error = e));
    assert.instance(error, GpuError);
    assert.match((error as Error).message, /the GPU device was lost \(destroyed/);
    assert.equal(await call(), before);
    model.dispose();
  });
}

/** A tiny imagenet-learned weight file, as the converter writes it. */
function weightFile(): Uint8Array {
  const overrides = { ...TINY, image_size: 8 };
  return encodeWeights({ preset: 'imagenet-learned', overrides }, randomHostWeights(presetConfig('imagenet-learned', overrides), { style: 'test', seed: 3 }));
}

const stream = (bytes: Uint8Array) => new ReadableStream<Uint8Array>({
  start(c) {
    c.enqueue(bytes.slice(0, 1000));
    c.enqueue(bytes.slice(1000));
    c.close();
  },
});

const image = picture(12, 10, 4);

test('loader, bytes in memory (default): read again after a loss', async () => {
  const model = await loadImageClassifier(gpu, weightFile());
  const before = await model.classify(image);
  await lose();
  assert.equal(await model.classify(image), before);
  model.dispose();
});

test('loader, a function source: called again after a loss', async () => {
  const bytes = weightFile();
  let calls = 0;
  const model = await loadImageClassifier(gpu, () => (calls++, new Response(bytes as Uint8Array<ArrayBuffer>)));
  const before = await model.classify(image);
  await lose();
  assert.equal(await model.classify(image), before);
  assert.is(calls, 2);
  model.dispose();
});

test('loader, a weight provider (hub(), hfFiles()): asked again after a loss', async () => {
  const bytes = weightFile();
  let calls = 0;
  const provider = { weightFile: async () => (calls++, new Response(bytes as Uint8Array<ArrayBuffer>)) };
  const model = await loadImageClassifier(gpu, provider);
  const before = await model.classify(image);
  await lose();
  assert.equal(await model.classify(image), before);
  assert.is(calls, 2);
  model.dispose();
});

test('loader, a stream: lost for good by default (a clear GpuError), recovered with recover: "keep"', async () => {
  const bytes = weightFile();
  const lost = await loadImageClassifier(gpu, stream(bytes));
  const kept = await loadImageClassifier(gpu, stream(bytes), { recover: 'keep' });
  const before = await kept.classify(image);
  await lose();
  await assertRejects(() => lost.classify(image), /the GPU device was lost \(destroyed.*cannot upload its weights again: it was loaded from a Response or stream \(load it with recover: 'keep'/);
  assert.equal(await kept.classify(image), before);
  lost.dispose();
  kept.dispose();
});

test('loader, recover: "none": no reference kept, lost for good; a disposed model says so', async () => {
  const model = await loadImageClassifier(gpu, weightFile(), { recover: 'none' });
  await lose();
  await assertRejects(() => model.classify(image), /cannot upload its weights again/);
  model.dispose();
  await assertRejects(() => model.classify(image), /ImageClassifier was used after dispose\(\)/);
});

test.run();
