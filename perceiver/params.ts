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
import { imagenetCheckpoint } from './imagenet/params.ts';
import { languageCheckpoint } from './language/params.ts';
import { flowCheckpoint } from './flow/params.ts';
import { multimodalCheckpoint } from './video/params.ts';

export type { CheckpointShapes } from './checkpoint.ts';
import { BATCHNORM_MEAN, BATCHNORM_VARIANCE } from './imagenet/params.ts';
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

// ---- what a converted weight file holds ------------------------------------
//
// The layout rules (the only place they live; applyLayout below):
//  1. Linear `w` stays [in, out] (our matmul computes x[.., in] @ w[in, out]);
//     `b` stays [out]. Heads need no permutation.
//  2. Conv2D `w` stays HWIO [kh, kw, in, out] (conv2_d_downsample/~/conv,
//     imagenet-learned's 1x1 conv2_d).
//  3. LayerNorm `scale`/`offset` [C], `pos_embs` [N, C], `embed/embeddings`
//     [V, D] and `embedding_decoder/bias` [V] are copied as they are.
//  4. BatchNorm `.../batchnorm/scale` and `.../batchnorm/offset` [1,1,1,C]
//     are squeezed to [C] (same data, new shape).
//  5. BatchNorm state: `.../batchnorm/~/mean_ema/average` [1,1,1,C] is
//     stored as `.../batchnorm/mean` [C] and `.../batchnorm/~/var_ema/average`
//     as `.../batchnorm/variance` [C] (BATCHNORM_MEAN,
//     BATCHNORM_VARIANCE). The EMAs' `counter` (int32 step count) and
//     `hidden` (the un-debiased accumulator) are dropped on purpose:
//     inference uses only the zero-debiased `average`.

/** A shape as messages print it: [a, b, c]. */
export const fmtShape = (s: readonly number[]) => `[${s.join(', ')}]`;

const EMA = /^(.*\/batchnorm)\/~\/(mean_ema|var_ema)\/(average|counter|hidden)$/;
const BN_AFFINE = /\/batchnorm\/(scale|offset)$/;

/**
 * The layout rules: the stored name and shape of a checkpoint leaf, or null
 * for the leaves dropped on purpose (batch-norm EMA counter and hidden).
 */
export function applyLayout(name: string, shape: readonly number[]): { name: string; shape: number[] } | null {
  const ema = EMA.exec(name);
  if (ema) {
    if (ema[3] !== 'average') return null;
    const leaf = ema[2] === 'mean_ema' ? BATCHNORM_MEAN : BATCHNORM_VARIANCE;
    return { name: `${ema[1]}/${leaf}`, shape: squeezeBatchNorm(name, shape) };
  }
  if (BN_AFFINE.test(name)) return { name, shape: squeezeBatchNorm(name, shape) };
  return { name, shape: [...shape] };
}

function squeezeBatchNorm(name: string, shape: readonly number[]): number[] {
  if (shape.length === 4 && shape[0] === 1 && shape[1] === 1 && shape[2] === 1) return [shape[3]];
  if (shape.length === 1) return [...shape];
  throw new Error(`${name}: batch-norm tensor of shape [${shape}] (expected [1,1,1,C])`);
}

/** The names and shapes a converted weight file holds for `config` (expectedParams through the layout rules). */
export function storedShapes(config: ModelConfig): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [name, shape] of expectedParams(config)) {
    const s = applyLayout(name, shape);
    if (s) out.set(s.name, s.shape);
  }
  return out;
}

/**
 * Checks that `weights` (e.g. built in memory, or loaded from a file) hold
 * exactly what a converted file for `config` holds, names and shapes, naming
 * what is missing, misshapen or extra. The loaders need not: a converted
 * file matches by construction (planConversion refuses anything else).
 */
export function checkWeights(config: ModelConfig, weights: ReadonlyMap<string, { shape: readonly number[] }>): void {
  const want = storedShapes(config);
  const problems: string[] = [];
  for (const [name, shape] of want) {
    const t = weights.get(name);
    if (!t) problems.push(`missing ${name} ${fmtShape(shape)}`);
    else if (fmtShape(t.shape) !== fmtShape(shape)) problems.push(`${name}: ${fmtShape(t.shape)} instead of ${fmtShape(shape)}`);
  }
  for (const name of weights.keys()) if (!want.has(name)) problems.push(`unexpected ${name}`);
  if (problems.length) {
    const more = problems.length > 8 ? ` (and ${problems.length - 8} more)` : '';
    throw new Error(`${config.preset} weights do not match the config: ${problems.slice(0, 8).join('; ')}${more}`);
  }
}
