// Loading a converted language-mlm weight file (tools/convert.ts output of
// DeepMind's language_perceiver_io_bytes.pickle) onto the GPU.

import type { Gpu } from '../../engine/index.ts';
import { loadWeights, type WeightSource, type LoadOptions } from '../../engine/weights.ts';
import { withOverrides, defaultConfig, type LanguageConfig } from '../config.ts';
import { MaskedLanguageModel } from './fillmask.ts';

/**
 * Loads a converted language-mlm weight file (bytes, a fetch Response or a
 * stream), streaming tensors to the GPU with optional progress.
 */
export async function loadMaskedLanguageModel(gpu: Gpu, source: WeightSource, opts: LoadOptions = {}): Promise<MaskedLanguageModel> {
  let config: LanguageConfig | null = null;
  const { tensors } = await loadWeights(gpu, source, {
    ...opts,
    // the kernels take f32: f16-stored files (half the download) are widened on the host
    keepF16: false,
    expectMeta(meta: Record<string, unknown>) {
      if (meta.preset !== 'language-mlm') {
        throw new Error(`this weight file is for preset '${String(meta.preset)}', not the masked language model (language-mlm)`);
      }
      config = withOverrides(defaultConfig('language-mlm') as LanguageConfig, (meta.overrides ?? {}) as Record<string, number>);
      opts.expectMeta?.(meta);
    },
  });
  if (!config) throw new Error('loadMaskedLanguageModel: the weight file has no metadata');
  return new MaskedLanguageModel(gpu, config, tensors);
}
