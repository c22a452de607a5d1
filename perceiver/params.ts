// Every parameter (and state) leaf of a Perceiver IO checkpoint, with its
// shape, in Haiku's flat naming (`module/path/param`), derived from a
// ModelConfig (so size overrides work). The names are the released files'
// (../shared/reference/PERCEIVER_IO.md §8-9) and are checked in
// test/perceiver/params.test.ts against the six full manifests and every
// golden fixture. The module-by-module rules are in checkpoint.ts, each
// task's list beside its model (NAME/params.ts); this file joins them for
// the converter, the tests and the benchmarks.
//
// `expectedParams` lists what a checkpoint holds (params and state);
// `storedShapes` what a converted weight file holds (tools/convert.ts writes
// it; the loaders, random weights and tests expect it): the checkpoint's
// leaves through the layout rules below.

import type { ModelConfig } from './config.ts';
import { CheckpointBuilder, type CheckpointShapes } from './checkpoint.ts';
import { storedOf, checkStored } from './stored.ts';
export { applyLayout, fmtShape } from './stored.ts';
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
  fillCheckpoint(b, config);
  return { params: b.params, state: b.state };
}

/** Lists `config`'s checkpoint leaves into `b` (each task's list, NAME/params.ts). */
function fillCheckpoint(b: CheckpointBuilder, config: ModelConfig): void {
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

// ---- what a converted weight file holds ------------------------------------
// The layout rules live in perceiver/stored.ts (applyLayout, re-exported here).

/** The names and shapes a converted weight file holds for `config` (expectedParams through the layout rules). */
export function storedShapes(config: ModelConfig): Map<string, number[]> {
  return storedOf((b) => fillCheckpoint(b, config));
}

/**
 * Checks that `weights` (e.g. built in memory, or loaded from a file) hold
 * exactly what a converted file for `config` holds, names and shapes, naming
 * what is missing, misshapen or extra. (Each task's model class runs the same
 * check on its own list: perceiver/stored.ts.)
 */
export function checkWeights(config: ModelConfig, weights: ReadonlyMap<string, { shape: readonly number[] }>): void {
  checkStored(config.preset, storedShapes(config), weights);
}
