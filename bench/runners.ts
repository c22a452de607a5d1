// How each preset runs a golden fixture: which .npz arrays go in, which come
// out. Outputs are full arrays in the reference layout; positions a runner
// does not compute (a documented subset on slow adapters) hold NaN and are
// left out of the comparison.

import type { Gpu, Tensor } from '../engine/index.ts';
import { upload, readF32 } from '../engine/index.ts';
import type { ModelConfig, ImageNetConfig, LanguageConfig } from '../perceiver/config.ts';
import { Params } from '../perceiver/layers.ts';
import { imagenetLogits } from '../perceiver/imagenet/model.ts';
import { languageLogits } from '../perceiver/language/model.ts';

export interface HostArray {
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface RunContext {
  gpu: Gpu;
  config: ModelConfig;
  weights: ReadonlyMap<string, Tensor>;
  inputs: ReadonlyMap<string, HostArray>;
  /** decode everything even on a software adapter */
  full: boolean;
}

export interface RunOutput {
  data: Float32Array;
  shape: number[];
  /** how much of the output was computed, for the report */
  coverage: string;
}

export type Runner = (ctx: RunContext) => Promise<Map<string, RunOutput>>;

function input(ctx: RunContext, name: string): HostArray {
  const a = ctx.inputs.get(name);
  if (!a) throw new Error(`fixture has no input array '${name}' (has: ${[...ctx.inputs.keys()].join(', ')})`);
  return a;
}

async function imagenet(ctx: RunContext): Promise<Map<string, RunOutput>> {
  const images = input(ctx, 'images');
  const x = upload(ctx.gpu, images.data as Float32Array, images.shape);
  const logits = imagenetLogits(ctx.gpu, x, new Params(ctx.weights), ctx.config as ImageNetConfig);
  x.dispose();
  const data = await readF32(logits);
  logits.dispose();
  return new Map([['logits', { data, shape: [...logits.shape], coverage: 'all' }]]);
}

/** language-mlm: inputs [B,2048] byte ids and input_mask [B,2048] (also the query mask) -> logits [B,2048,262]. */
async function languageMlm(ctx: RunContext): Promise<Map<string, RunOutput>> {
  const ids = input(ctx, 'inputs');
  const mask = input(ctx, 'input_mask');
  const x = upload(ctx.gpu, ids.data, ids.shape, 'i32');
  const m = upload(ctx.gpu, mask.data, mask.shape, 'i32');
  const logits = languageLogits(ctx.gpu, x, m, new Params(ctx.weights), ctx.config as LanguageConfig);
  x.dispose();
  m.dispose();
  const data = await readF32(logits);
  logits.dispose();
  return new Map([['logits', { data, shape: [...logits.shape], coverage: 'all' }]]);
}

export const RUNNERS: Partial<Record<ModelConfig['preset'], Runner>> = {
  'imagenet-conv': imagenet,
  'imagenet-fourier': imagenet,
  'imagenet-learned': imagenet,
  'language-mlm': languageMlm,
};
