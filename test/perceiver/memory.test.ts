// Memory stays bounded: after a task's first call, 50 more calls leave the
// buffer pool's bytes (live and parked) and the count of live GPU buffers
// exactly as the first call left them, and dispose() of the model returns
// every byte it took (docs/reliability.md, Memory). Tiny models of each
// task (test/perceiver/tiny.ts), through their public calls.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu } from '../gpu.ts';
import type { Gpu } from '../../engine/index.ts';
import { TASKS } from './tiny.ts';

const CALLS = 50;

/** What the pool holds once submitted work has finished (uniform slabs and read-backs are freed when it does). */
async function snapshot(gpu: Gpu) {
  await gpu.device.queue.onSubmittedWorkDone();
  await new Promise((r) => setTimeout(r, 0));
  return { liveBytes: gpu.pool.liveBytes, pooledBytes: gpu.pool.liveBytes + gpu.pool.freeBytes, buffers: gpu.pool.count };
}

for (const task of TASKS) {
  test(`${task.name}: ${CALLS} more calls leave pool bytes and live buffers unchanged; dispose() returns every byte`, async () => {
    const gpu = await testGpu();
    gpu.clearCache();
    const before = await snapshot(gpu);
    const { model, call } = await task.load(gpu, { compile: false });
    const first = await call();
    const after1 = await snapshot(gpu);
    for (let i = 0; i < CALLS; i++) assert.equal(await call(), first, `call ${i + 2} gave another result`);
    assert.equal(await snapshot(gpu), after1, `after ${CALLS + 1} calls vs after 1`);
    model.dispose();
    gpu.clearCache(); // the Fourier tables the Gpu keeps for all its models
    assert.is((await snapshot(gpu)).liveBytes, before.liveBytes, 'live bytes after dispose()');
  });
}

test.run();
