// Loading a converted weight file (tools/convert.ts output) for a task: the
// file's meta names the preset and its size overrides, from which the model's
// config is rebuilt, and the tensors stream to the GPU one at a time
// (engine/weights.ts: bytes, a fetch Response or a stream, with progress).

import type { Gpu, Tensor } from '../engine/index.ts';
import { loadWeights, type WeightSource, type LoadOptions } from '../engine/weights.ts';
import { withOverrides, type ModelConfig, type Overrides } from './config.ts';

/**
 * Loads a weight file made for one of `presets`, refusing any other before a
 * tensor is uploaded; `released(preset)` is the preset's released config, to
 * which the file's overrides are applied.
 */
export async function loadPreset<P extends string, C extends ModelConfig>(
  gpu: Gpu,
  source: WeightSource,
  opts: LoadOptions,
  presets: readonly P[],
  released: (preset: P) => C,
): Promise<{ config: C; tensors: Map<string, Tensor> }> {
  let config: C;
  const { tensors } = await loadWeights(gpu, source, {
    ...opts,
    // the kernels take f32: f16-stored files (half the download) are widened on the host
    keepF16: false,
    expectMeta(meta) {
      const preset = meta.preset as P;
      if (!presets.includes(preset)) throw new Error(`this weight file is for preset '${String(preset)}', not ${presets.join(' or ')}`);
      config = withOverrides(released(preset), meta.overrides as Overrides);
      opts.expectMeta?.(meta);
    },
  });
  return { config: config!, tensors };
}
