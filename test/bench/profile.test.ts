// bench/profile.ts: per-kernel times from GPU timestamps (where the device
// has them) and from the host-side fallback; the hook is detached afterwards.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, randn } from '../gpu.ts';
import { upload, readF32 } from '../../engine/index.ts';
import { matmul } from '../../kernels/matmul.ts';
import { layerNorm } from '../../kernels/layernorm.ts';
import { startProfile } from '../../bench/profile.ts';

async function profiled(cpu: boolean) {
  const gpu = await testGpu();
  // Big enough (0.13 GFLOP per matmul) to outlast Dawn's default timestamp
  // quantization (65.5 us) on any adapter this runs on.
  const a = upload(gpu, randn(256 * 512, 1), [256, 512]);
  const b = upload(gpu, randn(512 * 512, 2), [512, 512]);
  const scale = upload(gpu, randn(512, 3), [512]);
  const offset = upload(gpu, randn(512, 4), [512]);
  const unprofiled = matmul(gpu, a, b);
  const expected = await readF32(unprofiled);
  unprofiled.dispose();
  const d0 = gpu.dispatchCount;
  const p = startProfile(gpu, { cpu });
  assert.throws(() => startProfile(gpu, { cpu }), /already being profiled/, 'one profile at a time');
  const y1 = matmul(gpu, a, b);
  const y2 = layerNorm(gpu, y1, scale, offset);
  const y3 = matmul(gpu, a, b);
  const profile = await p.stop();
  const dispatches = gpu.dispatchCount - d0;
  const got = await readF32(y3);
  [a, b, scale, offset, y1, y2, y3].forEach((t) => t.dispose());
  return { gpu, profile, dispatches, got, expected };
}

for (const cpu of [false, true]) {
  test(`profile (${cpu ? 'host-side fallback' : 'timestamps where available'}): every dispatch counted, grouped by kernel, results unchanged`, async () => {
    const { gpu, profile, dispatches, got, expected } = await profiled(cpu);
    assert.is(profile.source, !cpu && gpu.features.timestamps ? 'gpu-timestamps' : 'cpu-queue');
    assert.is(profile.dispatches, dispatches);
    // grouped by shader name (the matmul wrapper may pick any of its kernels)
    const count = (prefix: string) => profile.byKernel.filter((k) => k.name.startsWith(prefix)).reduce((s, k) => s + k.count, 0);
    assert.ok(count('matmul') >= 2 && count('layernorm') >= 1, `kernels: ${JSON.stringify(profile.byKernel.map((k) => [k.name, k.count]))}`);
    assert.is(new Set(profile.byKernel.map((k) => k.name)).size, profile.byKernel.length, 'one row per kernel');
    assert.is(profile.byKernel.reduce((s, k) => s + k.count, 0), dispatches);
    const total = profile.byKernel.reduce((s, k) => s + k.ms, 0);
    assert.ok(Math.abs(total - profile.kernelMs) < 1e-6 * Math.max(1, total));
    assert.ok(profile.kernelMs > 0, 'some time was measured');
    assert.ok(Math.abs(profile.byKernel.reduce((s, k) => s + k.share, 0) - 1) < 1e-9);
    assert.equal(Array.from(got), Array.from(expected), 'profiling changes no result');
    assert.is(gpu.profiler, null, 'the profiling hook is detached');
  });
}

test.run();
