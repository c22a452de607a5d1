// Every parameter (and state) leaf of a Perceiver IO checkpoint, with its
// shape, in Haiku's flat naming (`module/path/param`), derived from a
// ModelConfig (so size overrides work). The names are the released files'
// (../shared/reference/PERCEIVER_IO.md §8-9) and are checked in
// test/perceiver/params.test.ts against the six full manifests and every
// golden fixture. The module-by-module rules are in checkpoint.ts, each
// task's list beside its model (NAME/params.ts); this file joins them for
// the converter, the tests and the benchmarks.
//
// `expectedParams` lists what a checkpoint holds (params and state); what
// the converted weight file holds is `storedShapes` in tools/convert.ts (the
// layout rules live there).

import type { ModelConfig } from './config.ts';
import { CheckpointBuilder, type CheckpointShapes } from './checkpoint.ts';
import { imagenetCheckpoint } from './imagenet/params.ts';
import { languageCheckpoint } from './language/params.ts';
import { flowCheckpoint } from './flow/params.ts';
import { multimodalCheckpoint } from './video/params.ts';

export type { CheckpointShapes } from './checkpoint.ts';
export { BATCHNORM_MEAN, BATCHNORM_VARIANCE, CONV_STEM } from './imagenet/params.ts';
export { flowInputChannels } from './flow/params.ts';
export { multimodalWidths } from './video/params.ts';

/** The checkpoint's leaves, split as in the released files ({'params', 'state'}). */
export function expectedCheckpoint(config: ModelConfig): CheckpointShapes {
  const b = new CheckpointBuilder();
  switch (config.preset) {
    case 'imagenet-conv':
    case 'imagenet-fourier':
    case 'imagenet-learned':
      imagenetCheckpoint(b, config);
      break;
    case 'language-mlm':
      languageCheckpoint(b, config);
      break;
    case 'optical-flow':
      flowCheckpoint(b, config);
      break;
    case 'multimodal-autoencoder':
      multimodalCheckpoint(b, config);
      break;
    default:
      throw new Error(`expectedParams: unknown preset ${(config as { preset: string }).preset}`);
  }
  return { params: b.params, state: b.state };
}

/**
 * Every parameter and state leaf of the released checkpoint for `config`,
 * name -> shape (state included: for imagenet-conv the batch-norm EMAs'
 * average, counter [] and hidden). Sorted by name.
 */
export function expectedParams(config: ModelConfig): Map<string, number[]> {
  const { params, state } = expectedCheckpoint(config);
  return new Map([...params, ...state].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Number of parameters (state excluded). */
export function countParams(config: ModelConfig): number {
  let n = 0;
  for (const s of expectedCheckpoint(config).params.values()) n += s.reduce((a, d) => a * d, 1);
  return n;
}
