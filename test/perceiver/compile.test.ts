// Compile before the first call: each task's loader compiles, with
// createComputePipelineAsync, the pipelines its first call needs (derived
// by running the call on a dry view of the device, engine/gpu.ts prepare),
// reporting the stage through onCompile; the first call then creates no
// pipeline synchronously. A fresh Gpu, so no other test has compiled them.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeGpu } from '../../engine/node.ts';
import type { Gpu } from '../../engine/index.ts';
import { tuning } from '../../engine/tune.ts';
import { TASKS, pipelinesDuring } from './tiny.ts';

let gpu: Gpu;

test.before(async () => {
  gpu = await nodeGpu();
  tuning(gpu).enabled = false; // the adapter's default kernels, as every test
});

for (const task of TASKS) {
  test(`${task.name}: loading compiles the first call's pipelines (async, reported); the first call creates none`, async () => {
    const reports: [number, number][] = [];
    let loaded!: Awaited<ReturnType<typeof task.load>>;
    const atLoad = await pipelinesDuring(gpu, async () => {
      loaded = await task.load(gpu, { onCompile: (done, total) => reports.push([done, total]) });
    });
    assert.is(atLoad.sync, 0, 'pipelines created synchronously while loading');
    // pipelines another task compiled earlier on this Gpu are cached, not compiled again
    assert.is(reports.length, atLoad.async, 'one progress report per compiled pipeline');
    if (reports.length) assert.equal(reports[reports.length - 1], [atLoad.async, atLoad.async]);
    const first = await pipelinesDuring(gpu, () => loaded.call());
    assert.equal(first, { sync: 0, async: 0 }, 'pipelines created during the first call');
    loaded.model.dispose();
  });
}

test('with tuning on, the tuner compiles its candidates without blocking too', async () => {
  const g = gpu;
  tuning(g).enabled = true;
  try {
    const { model, call } = await TASKS[0].load(g);
    const n = await pipelinesDuring(gpu, call); // the forward, then tunePending measuring its matmul shapes
    assert.ok(n.async > 0, 'the candidates were compiled');
    assert.is(n.sync, 0);
    model.dispose();
  } finally {
    tuning(g).enabled = false;
  }
});

test('destroy() of the Gpu leaves no live buffer, even with a model still loaded', async () => {
  const { model, call } = await TASKS[0].load(gpu);
  await call();
  assert.ok(gpu.pool.count > 0);
  gpu.destroy();
  assert.is(gpu.pool.count, 0);
  assert.is(gpu.pool.liveBytes, 0);
  void model;
});

test.run();
