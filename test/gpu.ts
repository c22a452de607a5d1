// One GPU for the whole test process, created on first use.
import { nodeGpu } from '../engine/node.ts';
import type { Gpu } from '../engine/index.ts';
import * as assert from 'uvu/assert';
import { tuning } from '../engine/tune.ts';

let gpu: Promise<Gpu> | null = null;

/**
 * The shared test Gpu. Its kernel tuning is off (engine/tune.ts): every test
 * runs the adapter's default kernels, whatever ran before it
 * (test/engine/tune.test.ts turns it on for itself).
 */
export function testGpu(): Promise<Gpu> {
  gpu ??= nodeGpu().then((g) => {
    tuning(g).enabled = false;
    return g;
  });
  return gpu;
}

export async function closeTestGpu(): Promise<void> {
  if (gpu) (await gpu).destroy();
  gpu = null;
}

/** The shaders a call dispatches (names, sorted), recorded through gpu.onDispatch. */
export async function shadersOf(gpu: Gpu, run: () => void): Promise<string[]> {
  const names = new Set<string>();
  gpu.onDispatch = (label) => names.add(label.slice(0, label.indexOf('(')));
  try {
    run();
    await gpu.sync();
  } finally {
    gpu.onDispatch = null;
  }
  return [...names].sort();
}

/** Random floats in [-scale, scale) from a small deterministic generator. */
export function randn(n: number, seed = 1, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296 * 2 - 1) * scale;
  }
  return out;
}

/** max |a - b| / max |b|: the error measure used everywhere in this project. */
export { maxRelError as relError } from '../engine/compare.ts';

/** Awaits `run` and asserts it rejects with a message matching `pattern` (uvu has no async throws). */
export async function assertRejects(run: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  let message = '(no error)';
  try {
    await run();
  } catch (e) {
    message = (e as Error).message;
  }
  assert.match(message, pattern);
}
