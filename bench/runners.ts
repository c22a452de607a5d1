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
import type { FlowConfig } from '../perceiver/config.ts';
import { estimateFlow } from '../perceiver/flow/pipeline.ts';
import { evenSubset } from '../perceiver/flow/tiling.ts';
import type { MultimodalConfig } from '../perceiver/config.ts';
import { MultimodalAutoencoderModel, allIndices, frameIndices, scatterImage, type WindowGeometry } from '../perceiver/video/model.ts';

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
  /** multimodal-autoencoder: decode the label only (benchmarks; outputs rec_label alone) */
  labelOnly?: boolean;
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

/**
 * optical-flow: frames [1,2,368,496,3] -> flow [1,368,496,2] (one tile) and
 * big_frames [2,400,520,3] -> big_flow [1,400,520,2] (the colab's tiling:
 * four tiles, tent weights). Inputs are already in [-1, 1]. On a GPU every
 * pixel is decoded; on a software adapter (unless --full) an evenly spread
 * subset of FLOW_SUBSET pixels per output, pixel floor((i + 0.5) * H * W /
 * FLOW_SUBSET) for i < FLOW_SUBSET, NaN elsewhere (the encoder still sees
 * every whole tile; each selected pixel is decoded in every tile covering it).
 */
export const FLOW_SUBSET = 4096;

async function opticalFlow(ctx: RunContext): Promise<Map<string, RunOutput>> {
  const cfg = ctx.config as FlowConfig;
  const params = new Params(ctx.weights);
  const subset = !ctx.full && ctx.gpu.features.emulated;
  const out = new Map<string, RunOutput>();
  for (const [from, to] of [['frames', 'flow'], ['big_frames', 'big_flow']] as const) {
    if (from === 'big_frames' && !ctx.inputs.has(from)) continue; // bench/model.ts times the one tile
    const a = input(ctx, from);
    const [H, W] = a.shape.slice(-3, -1);
    if (a.data.length !== 2 * H * W * 3) throw new Error(`optical-flow: ${from} [${a.shape}] is not one pair of RGB frames`);
    const pixels = subset ? evenSubset(H * W, FLOW_SUBSET) : undefined;
    const flow = await estimateFlow(ctx.gpu, params, cfg, a.data as Float32Array, H, W, { pixels });
    out.set(to, { data: flow, shape: [1, H, W, 2], coverage: pixels ? `${pixels.length} of ${H * W} pixels (even spread)` : 'all' });
  }
  return out;
}

/**
 * multimodal-autoencoder: images [1,16,224,224,3] in [0,1] and audio
 * [1,30720,1] -> rec_label [1,700], rec_audio [1,30720,1] and rec_image
 * [1,16,224,224,3] (the colab's 128-chunk reconstruction). The encoder runs
 * once; the decoder decodes the label, all the audio and, on a GPU (or with
 * --full), every pixel; on a software adapter the pixels of the whole frames
 * VIDEO_SUBSET_FRAMES (the window's first and last: 100,352 of 802,816
 * pixels), NaN elsewhere.
 */
export const VIDEO_SUBSET_FRAMES = (frames: number): number[] => [0, frames - 1];

async function multimodalAutoencoder(ctx: RunContext): Promise<Map<string, RunOutput>> {
  const cfg = ctx.config as MultimodalConfig;
  const images = input(ctx, 'images');
  const audio = input(ctx, 'audio');
  const [, T, H, W] = images.shape;
  const g: WindowGeometry = { frames: T, height: H, width: W, audioSamples: audio.shape[1] };
  const model = new MultimodalAutoencoderModel(ctx.gpu, cfg, ctx.weights);
  const z = model.encode(images.data as Float32Array, audio.data as Float32Array, g);
  if (ctx.labelOnly) {
    const { label } = await model.decode(z, g, { label: true, audio: null, image: null });
    z.dispose();
    model.dispose();
    return new Map([['rec_label', { data: label!, shape: [1, cfg.numClasses], coverage: 'all' }]]);
  }
  const subset = !ctx.full && ctx.gpu.features.emulated;
  const frames = VIDEO_SUBSET_FRAMES(T);
  const pixels = subset ? frameIndices(g, frames) : allIndices(T * H * W);
  const patches = allIndices(g.audioSamples / cfg.samplesPerPatch);
  const out = await model.decode(z, g, { label: true, audio: patches, image: pixels });
  z.dispose();
  model.dispose();
  return new Map([
    ['rec_label', { data: out.label!, shape: [1, cfg.numClasses], coverage: 'all' }],
    ['rec_audio', { data: out.audio!, shape: [...audio.shape], coverage: 'all' }],
    ['rec_image', { data: scatterImage(g, pixels, out.image!), shape: [...images.shape], coverage: subset ? `frames ${frames.join(' and ')} of ${T} (${pixels.length} of ${T * H * W} pixels)` : 'all' }],
  ]);
}

export const RUNNERS: Partial<Record<ModelConfig['preset'], Runner>> = {
  'imagenet-conv': imagenet,
  'imagenet-fourier': imagenet,
  'imagenet-learned': imagenet,
  'language-mlm': languageMlm,
  'optical-flow': opticalFlow,
  'multimodal-autoencoder': multimodalAutoencoder,
};
