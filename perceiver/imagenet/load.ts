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
  const { config, tensors, meta } = await loadPreset(gpu, source, opts, ['imagenet-conv', 'imagenet-fourier', 'imagenet-learned'], imagenetConfig);
  // class names stored by the converter (a HuggingFace config's id2label, when it holds real names)
  const l = meta.labels as string[] | undefined;
  if (l && !(Array.isArray(l) && l.length == config.numClasses && l.every((x) => typeof x == 'string'))) {
    for (const t of tensors.values()) t.dispose();
    throw new Error('bad labels in this weight file');
  }
  return new ImageClassifier(gpu, config, tensors, l);
}
