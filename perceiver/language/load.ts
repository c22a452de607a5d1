// Loading a converted language-mlm weight file (tools/convert.ts output of
// DeepMind's language_perceiver_io_bytes.pickle) onto the GPU.

import type { Gpu } from '../../engine/index.ts';
import { languageConfig } from '../config.ts';
import { loadPreset, finishLoad, type ModelSource, type ModelLoadOptions } from '../load.ts';
import { MaskedLanguageModel } from './fillmask.ts';

/**
 * Loads a converted language-mlm weight file (bytes, a fetch Response or a
 * stream, or a function giving one), streaming tensors to the GPU with
 * optional progress, then compiles the pipelines of a first call
 * (perceiver/load.ts ModelLoadOptions).
 */
export async function loadMaskedLanguageModel(gpu: Gpu, source: ModelSource, opts: ModelLoadOptions = {}): Promise<MaskedLanguageModel> {
  const { config, tensors, weights } = await loadPreset(gpu, source, opts, ['language-mlm'], languageConfig);
  return finishLoad((g) => new MaskedLanguageModel(g, config, tensors), weights, opts, languageFirstCall);
}

/** The calls whose pipelines loading compiles: a short fill-mask, and a whole window with every position decoded (the fixtures' path). */
export async function languageFirstCall(m: MaskedLanguageModel): Promise<void> {
  await m.fillMask('a short text with a gap:[MASK:8]');
  const T = m.windowSize;
  await m.logits(new Int32Array(T), new Int32Array(T).fill(1), 1);
}
