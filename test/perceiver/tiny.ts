// The four tasks on tiny random models, each built the way its loader builds
// it (perceiver/load.ts finishLoad: the model owns its weights, compiles its
// first call's pipelines, and can upload its weights again after a device
// loss), with one ordinary call of its public API; and a count of the
// pipelines a body creates. Shared by the compile, memory and recovery tests.

import type { Gpu, Tensor } from '../../engine/index.ts';
import { presetConfig, withOverrides, defaultConfig, type FlowConfig, type MultimodalConfig, type ImageNetConfig, type LanguageConfig } from '../../perceiver/config.ts';
import { finishLoad, ModelWeights, type ModelLoadOptions } from '../../perceiver/load.ts';
import { ImageClassifier } from '../../perceiver/imagenet/classify.ts';
import { imagenetFirstCall } from '../../perceiver/imagenet/load.ts';
import { MaskedLanguageModel } from '../../perceiver/language/fillmask.ts';
import { languageFirstCall } from '../../perceiver/language/load.ts';
import { OpticalFlow } from '../../perceiver/flow/api.ts';
import { flowFirstCall } from '../../perceiver/flow/load.ts';
import { VideoAutoencoder, videoFirstCall } from '../../perceiver/video/api.ts';
import type { ModelConfig } from '../../perceiver/config.ts';
import type { RgbaImage } from '../../perceiver/image.ts';
import { randomWeights, noise } from '../../bench/random-weights.ts';

/** Small widths for every preset. */
export const TINY = { num_latents: 8, latent_channels: 16, num_blocks: 1, num_self_attends_per_block: 2, num_self_attention_heads: 2 };

/**
 * A tiny language-mlm config: a 48-byte window (so texts of a few dozen bytes
 * run as several windows), narrow layers, `selfAttends` self-attentions.
 */
export function tinyLanguageConfig(selfAttends = 1): LanguageConfig {
  const base = defaultConfig('language-mlm') as LanguageConfig;
  return {
    ...base,
    maxSeqLen: 48,
    dModel: 32,
    decoderQkChannels: 16,
    decoderVChannels: 32,
    encoder: { ...base.encoder, numLatents: 8, latentChannels: 24, numSelfAttendsPerBlock: selfAttends, numSelfAttentionHeads: 4, crossQkChannels: 16, crossVChannels: 24, selfQkChannels: 16, selfVChannels: 24 },
  };
}

/** A loaded tiny model and its one call (returning plain data, to compare calls). */
export interface TinyModel {
  model: { dispose(): void; ready(): Promise<void>; loaded: ModelWeights | null };
  call(): Promise<unknown>;
}

export interface TinyTask {
  name: string;
  load(gpu: Gpu, opts?: ModelLoadOptions): Promise<TinyModel>;
}

/** An RGBA picture with some structure. */
export function picture(width: number, height: number, seed: number): RgbaImage {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set([(i * 7 + seed * 31) & 255, (i * 3 + seed) & 255, (i * 13) & 255, 255], i * 4);
  return { width, height, data };
}

/** finishLoad on random weights, re-uploaded identically after a device loss. */
function built<M extends TinyModel['model']>(gpu: Gpu, cfg: ModelConfig, make: (g: Gpu, w: ReadonlyMap<string, Tensor>) => M, firstCall: (m: M) => unknown, opts: ModelLoadOptions): Promise<M> {
  const weights = new ModelWeights(gpu, randomWeights(gpu, cfg, { style: 'test', seed: 7 }), async () => randomWeights(gpu, cfg, { style: 'test', seed: 7 }));
  return finishLoad((g) => make(g, weights.tensors), weights, opts, firstCall);
}

export const TASKS: TinyTask[] = [
  {
    name: 'imagenet (classify)',
    async load(gpu, opts = {}) {
      const cfg = presetConfig('imagenet-learned', { ...TINY, image_size: 8 }) as ImageNetConfig;
      const model = await built(gpu, cfg, (g, w) => new ImageClassifier(g, cfg, w), imagenetFirstCall, opts);
      return { model, call: () => model.classify(picture(12, 10, 1)) };
    },
  },
  {
    name: 'language (fill-mask)',
    async load(gpu, opts = {}) {
      const cfg = presetConfig('language-mlm', TINY) as LanguageConfig;
      const model = await built(gpu, cfg, (g, w) => new MaskedLanguageModel(g, cfg, w), languageFirstCall, opts);
      return { model, call: async () => (await model.fillMask('The quick brown fox[MASK:6] over the lazy dog.')).gaps.map((g) => g.perByte) };
    },
  },
  {
    name: 'flow (optical flow)',
    async load(gpu, opts = {}) {
      const base = withOverrides(defaultConfig('optical-flow') as FlowConfig, TINY);
      const cfg: FlowConfig = { ...base, trainSize: [24, 32], patchChannels: 8, fourierBands: 6 };
      const model = await built(gpu, cfg, (g, w) => new OpticalFlow(g, cfg, w), flowFirstCall, opts);
      return { model, call: async () => (await model.flow(picture(32, 24, 1), picture(32, 24, 2), { picture: true })).flow };
    },
  },
  {
    name: 'video (autoencode)',
    async load(gpu, opts = {}) {
      const cfg: MultimodalConfig = { ...(presetConfig('multimodal-autoencoder', TINY) as MultimodalConfig), numFrames: 4, imageSize: 4, audioSamplesPerFrame: 32 };
      const model = await built(gpu, cfg, (g, w) => new VideoAutoencoder(g, cfg, w), videoFirstCall, opts);
      const frames = [0, 1, 2, 3].map((t) => picture(4, 4, t));
      return { model, call: async () => (await model.autoencode({ frames, audio: noise(4 * 32, 3, 0.3), sampleRate: 48000 })).windows.map((w) => w.logits) };
    },
  },
];

/** Counts the device's synchronous and asynchronous pipeline creations while `body` runs. */
export async function pipelinesDuring(gpu: Gpu, body: () => Promise<unknown>): Promise<{ sync: number; async: number }> {
  const device = gpu.device;
  const n = { sync: 0, async: 0 };
  const sync = device.createComputePipeline, async = device.createComputePipelineAsync;
  device.createComputePipeline = function (this: GPUDevice, d) {
    n.sync++;
    return sync.call(this, d);
  };
  device.createComputePipelineAsync = function (this: GPUDevice, d) {
    n.async++;
    return async.call(this, d);
  };
  try {
    await body();
  } finally {
    device.createComputePipeline = sync;
    device.createComputePipelineAsync = async;
  }
  return n;
}
