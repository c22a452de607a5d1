// Loading a converted ImageNet weight file (tools/convert.ts output) onto the GPU.

import type { Gpu } from '../../engine/index.ts';
import { imagenetConfig } from '../config.ts';
import { loadPreset, finishLoad, storedLabels, type ModelSource, type ModelLoadOptions } from '../load.ts';
import { ImageClassifier } from './classify.ts';

/**
 * Loads a converted imagenet-* weight file (bytes, a fetch Response or a
 * stream, or a function giving one), streaming tensors to the GPU with
 * optional progress, then compiles the pipelines of a first call
 * (perceiver/load.ts ModelLoadOptions).
 */
export async function loadImageClassifier(gpu: Gpu, source: ModelSource, opts: ModelLoadOptions = {}): Promise<ImageClassifier> {
  const { config, tensors, weights, meta } = await loadPreset(gpu, source, opts, ['imagenet-conv', 'imagenet-fourier', 'imagenet-learned'], imagenetConfig);
  const labels = storedLabels(meta, config.numClasses, weights);
  return finishLoad((g) => new ImageClassifier(g, config, tensors, labels), weights, opts, imagenetFirstCall);
}

/** The call whose pipelines loading compiles: one blank image. */
export function imagenetFirstCall(m: ImageClassifier): Promise<unknown> {
  return m.logits(new Float32Array(m.inputSize ** 2 * 3), [1, m.inputSize, m.inputSize, 3]);
}
