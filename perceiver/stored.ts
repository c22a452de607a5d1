// What a converted weight file holds (the layout rules, applied to a task's
// checkpoint list) and the check that a model's weights are exactly that.
// Task-neutral: each task passes its own checkpoint list (NAME/params.ts), so
// a task's bundle carries its own list only; perceiver/params.ts joins the
// tasks for the converter, the tests and the benchmarks.
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

import { CheckpointBuilder } from './checkpoint.ts';

/**
 * Stored names of the batch-norm moving averages, inside the batch-norm
 * scope: e.g. `image_preprocessor/~/conv2_d_downsample/~/batchnorm/mean`
 * (from `.../batchnorm/~/mean_ema/average`) and `.../batchnorm/variance`
 * (from `.../batchnorm/~/var_ema/average`), both [C].
 */
export const BATCHNORM_MEAN = 'mean';
export const BATCHNORM_VARIANCE = 'variance';

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

/** The names and shapes a converted weight file holds for a task's checkpoint list (its NAME/params.ts), sorted by name. */
export function storedOf(fill: (b: CheckpointBuilder) => void): Map<string, number[]> {
  const b = new CheckpointBuilder();
  fill(b);
  const out = new Map<string, number[]>();
  for (const [name, shape] of [...b.params, ...b.state].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
    const s = applyLayout(name, shape);
    if (s) out.set(s.name, s.shape);
  }
  return out;
}

/**
 * Checks that `weights` hold exactly `want` (names and shapes), naming what
 * is missing, misshapen or extra: another task's weights, or a weight file
 * whose preset or overrides do not describe its tensors, are refused before
 * any work runs on them.
 */
export function checkStored(preset: string, want: ReadonlyMap<string, readonly number[]>, weights: ReadonlyMap<string, { shape: readonly number[] }>): void {
  const problems: string[] = [];
  for (const [name, shape] of want) {
    const t = weights.get(name);
    if (!t) problems.push(`missing ${name} ${fmtShape(shape)}`);
    else if (fmtShape(t.shape) !== fmtShape(shape)) problems.push(`${name}: ${fmtShape(t.shape)} instead of ${fmtShape(shape)}`);
  }
  for (const name of weights.keys()) if (!want.has(name)) problems.push(`unexpected ${name}`);
  if (problems.length) {
    const more = problems.length > 8 ? ` (and ${problems.length - 8} more)` : '';
    throw new Error(
      `${preset} weights do not match the config (another task's weights, or a file whose preset or overrides do not describe its tensors): ` +
        `${problems.slice(0, 8).join('; ')}${more}`,
    );
  }
}
