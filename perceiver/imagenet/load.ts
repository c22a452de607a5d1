// Loading a converted ImageNet weight file (tools/convert.ts output) onto the GPU.

import type { Gpu } from '../../engine/index.ts';
import { loadWeights, type WeightSource, type LoadOptions } from '../../engine/weights.ts';
import { withOverrides, defaultConfig, type ImageNetConfig, type PresetName } from '../config.ts';
import { ImageClassifier } from './classify.ts';

const IMAGENET: PresetName[] = ['imagenet-conv', 'imagenet-fourier', 'imagenet-learned'];

/**
 * Loads a converted imagenet-* weight file (bytes, a fetch Response or a
 * stream), streaming tensors to the GPU with optional progress.
 */
export async function loadImageClassifier(gpu: Gpu, source: WeightSource, opts: LoadOptions = {}): Promise<ImageClassifier> {
  let config: ImageNetConfig | null = null;
  const { tensors } = await loadWeights(gpu, source, {
    ...opts,
    expectMeta(meta: Record<string, unknown>) {
      const preset = meta.preset as PresetName;
      if (!IMAGENET.includes(preset)) {
        throw new Error(`this weight file is for preset '${String(meta.preset)}', not an ImageNet classifier (${IMAGENET.join(', ')})`);
      }
      config = withOverrides(defaultConfig(preset) as ImageNetConfig, (meta.overrides ?? {}) as Record<string, number>);
      opts.expectMeta?.(meta);
    },
  });
  return new ImageClassifier(gpu, config!, tensors);
}
