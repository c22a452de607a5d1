// The page of test/browser/recovery.test.ts: a tiny imagenet-learned model
// (random weights, made in the page) loaded with the task loader on
// navigator.gpu; the device destroyed between calls and during a call.

import { createGpu, GpuError } from '../../engine/index.ts';
import { encodeWeights } from '../../engine/weights.ts';
import { presetConfig } from '../../perceiver/config.ts';
import { loadImageClassifier } from '../../perceiver/imagenet/load.ts';
import { randomHostWeights } from '../../bench/random-weights.ts';

const overrides = { num_latents: 8, latent_channels: 16, num_blocks: 1, num_self_attends_per_block: 2, num_self_attention_heads: 2, image_size: 8 };

async function run() {
  const gpu = await createGpu(navigator.gpu);
  const file = encodeWeights({ preset: 'imagenet-learned', overrides }, randomHostWeights(presetConfig('imagenet-learned', overrides), { style: 'test', seed: 3 }));
  const model = await loadImageClassifier(gpu, file);
  const image = { width: 12, height: 10, data: new Uint8ClampedArray(480).map((_, i) => (i * 7) & 255) };
  const top = async () => (await model.classify(image))[0].map((p) => [p.index, p.probability]);
  const before = await top();
  const first = gpu.device;
  first.destroy();
  await first.lost;
  const lost = gpu.lost?.message ?? null;
  const between = await top();
  const inFlight = top();
  gpu.device.destroy();
  const error = await inFlight.then(() => null, (e: Error) => ({ name: e.name, isGpuError: e instanceof GpuError, message: e.message }));
  const during = await top();
  return { adapter: gpu.adapterName, before, lost, between, error, during, generation: gpu.generation };
}

(globalThis as { runRecovery?: typeof run }).runRecovery = run;
