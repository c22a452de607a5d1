// Loading a converted ImageNet weight file (tools/convert.ts output) onto the GPU.

import type { Gpu } from '../../engine/index.ts';
import type { WeightSource, LoadOptions } from '../../engine/weights.ts';
import { imagenetConfig } from '../config.ts';
import { loadPreset } from '../load.ts';
import { ImageClassifier } from './classify.ts';

/**
 * Loads a converted imagenet-* weight file (bytes, a fetch Response or a
 * stream), streaming tensors to the GPU with optional progress.
 */
export async function loadImageClassifier(gpu: Gpu, source: WeightSource, opts: LoadOptions = {}): Promise<ImageClassifier> {
  const { config, tensors, labels } = await loadPreset(gpu, source, opts, ['imagenet-conv', 'imagenet-fourier', 'imagenet-learned'], imagenetConfig);
  return new ImageClassifier(gpu, config, tensors, labels);
}
