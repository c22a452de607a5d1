// Gpu.prepare: a forward run on a dry view records the pipelines it needs
// (no GPU buffer, no dispatch, no write, zeros read back) and they are
// compiled with createComputePipelineAsync; the same forward then creates no
// pipeline, and work on the Gpu meanwhile is unaffected. A fresh Gpu, so its
// pipeline cache starts empty.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeGpu } from '../../engine/node.ts';
import { upload, readF32, type Gpu } from '../../engine/index.ts';
import { matmul } from '../../kernels/matmul.ts';
import { layerNorm } from '../../kernels/layernorm.ts';
import { randn } from '../gpu.ts';

test('a dry forward costs no buffer or dispatch, compiles its pipelines once; the real forward creates none', async () => {
  const gpu: Gpu = await nodeGpu();
  try {
    const a = upload(gpu, randn(64 * 32, 1), [64, 32]), w = upload(gpu, randn(32 * 16, 2), [32, 16]);
    const s = upload(gpu, new Float32Array(16).fill(1), [16]), o = upload(gpu, new Float32Array(16), [16]);
    const forward = async (g: Gpu) => {
      const y = matmul(g, a, w);
      const z = layerNorm(g, y, s, o, 1e-5);
      y.dispose();
      const host = await readF32(z);
      z.dispose();
      return host;
    };
    const buffers = gpu.pool.count, dispatches = gpu.dispatchCount, submits = gpu.submitCount;
    let dryResult: Float32Array | null = null;
    // real work on the same Gpu while the dry view runs and compiles
    const [compiled, real] = await Promise.all([gpu.prepare(async (dry) => (dryResult = await forward(dry))), readF32(matmul(gpu, a, w))]);
    assert.is(compiled, 2, 'matmul and layer norm');
    assert.ok(dryResult!.every((v) => v === 0), 'a dry read-back gives zeros');
    assert.is(real.length, 64 * 16);
    assert.ok(real.some((v) => v !== 0), 'the real product ran');
    assert.is(gpu.dispatchCount - dispatches, 1, 'only the real product was dispatched');
    assert.ok(gpu.submitCount - submits === 1);
    assert.is(gpu.pool.count, buffers + 1, 'only the real product took a buffer');
    assert.is(await gpu.prepare(forward), 0, 'compiled once');
    const device = gpu.device, sync = device.createComputePipeline;
    let created = 0;
    device.createComputePipeline = function (this: GPUDevice, d) {
      created++;
      return sync.call(this, d);
    };
    await forward(gpu);
    device.createComputePipeline = sync;
    assert.is(created, 0);
  } finally {
    gpu.destroy();
  }
});

test.run();
