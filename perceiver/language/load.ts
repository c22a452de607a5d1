// Loading a converted language-mlm weight file (tools/convert.ts output of
// DeepMind's language_perceiver_io_bytes.pickle) onto the GPU.

import type { Gpu } from '../../engine/index.ts';
import type { WeightSource, LoadOptions } from '../../engine/weights.ts';
import { languageConfig } from '../config.ts';
import { loadPreset } from '../load.ts';
import { MaskedLanguageModel } from './fillmask.ts';

/**
 * Loads a converted language-mlm weight file (bytes, a fetch Response or a
 * stream), streaming tensors to the GPU with optional progress.
 */
export async function loadMaskedLanguageModel(gpu: Gpu, source: WeightSource, opts: LoadOptions = {}): Promise<MaskedLanguageModel> {
  const { config, tensors } = await loadPreset(gpu, source, opts, ['language-mlm'], languageConfig);
  return new MaskedLanguageModel(gpu, config, tensors);
}
