// Any conformant adapter: createGpu({ limits: 'default', features: 'none' })
// gives a device with WebGPU's guaranteed default limits and no optional
// feature, as the weakest conformant adapter has, and a model runs on it
// (the golden and built-in sets: bench:reference --limits default
// --no-features, in CI). A fresh Gpu of its own.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeGpu } from '../../engine/node.ts';
import { tuning } from '../../engine/tune.ts';
import { TASKS } from '../perceiver/tiny.ts';

/** WebGPU's default limits (the spec's "Limits" table) that the kernels depend on. */
const DEFAULTS = {
  maxStorageBufferBindingSize: 128 * 2 ** 20,
  maxBufferSize: 256 * 2 ** 20,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupSizeY: 256,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 8,
  maxUniformBufferBindingSize: 65536,
  minStorageBufferOffsetAlignment: 256,
  minUniformBufferOffsetAlignment: 256,
};

test("limits: 'default', features: 'none': the defaults exactly, no shader-f16 or subgroups; a model runs", async () => {
  const gpu = await nodeGpu({ limits: 'default', features: 'none' });
  try {
    tuning(gpu).enabled = false;
    for (const [k, v] of Object.entries(DEFAULTS)) assert.is(gpu.limits[k as keyof typeof DEFAULTS], v, k);
    assert.is(gpu.features.f16, false);
    assert.is(gpu.features.subgroups, false);
    // 'core-features-and-limits' is not optional: WebGPU gives it to every
    // device of a core (not compatibility-mode) adapter, asked for or not.
    assert.equal([...gpu.device.features].filter((f) => f !== 'core-features-and-limits'), []);
    const { model, call } = await TASKS[0].load(gpu);
    assert.is((await call() as unknown[][])[0].length, 5);
    model.dispose();
  } finally {
    gpu.destroy();
  }
});

test.run();
