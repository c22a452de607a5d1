// Plain-data configurations of the six released Perceiver IO models. The
// defaults are the released ones (../shared/reference/PERCEIVER_IO.md §8);
// `withOverrides` applies the size overrides used by the golden fixtures.

export type PresetName =
  | 'imagenet-conv'
  | 'imagenet-fourier'
  | 'imagenet-learned'
  | 'language-mlm'
  | 'optical-flow'
  | 'multimodal-autoencoder';

export const PRESETS: readonly PresetName[] = [
  'imagenet-conv',
  'imagenet-fourier',
  'imagenet-learned',
  'language-mlm',
  'optical-flow',
  'multimodal-autoencoder',
];

/** The encoder: trainable latents, one cross-attend, a shared block of self-attends. */
export interface EncoderConfig {
  /** Haiku scope: 'perceiver_encoder' everywhere except the video model's 'encoder' */
  scope: string;
  numLatents: number;
  latentChannels: number;
  numBlocks: number;
  numSelfAttendsPerBlock: number;
  numSelfAttentionHeads: number;
  numCrossAttentionHeads: number;
  /** null: the default (cross: kv-input width; self: latent width) */
  crossQkChannels: number | null;
  crossVChannels: number | null;
  selfQkChannels: number | null;
  selfVChannels: number | null;
}

export interface ImageNetConfig {
  preset: 'imagenet-conv' | 'imagenet-fourier' | 'imagenet-learned';
  /** the input side; only the learned model is tied to it */
  imageSize: number;
  encoder: EncoderConfig;
  numClasses: number;
  /** trainable decoder query width */
  decoderQueryChannels: number;
  decoderHeads: number;
  decoderQueryResidual: boolean;
  /** conv: Fourier bands and max_resolution of the 56x56 grid; fourier: of 224x224 */
  fourierBands: number;
  maxResolution: [number, number];
  /** conv stem / conv1x1 output channels */
  prepChannels: number;
  /** learned model: trainable position channels and their projection width */
  posChannels: number;
  projectPosDim: number;
}

export interface LanguageConfig {
  preset: 'language-mlm';
  vocabSize: number;
  maxSeqLen: number;
  dModel: number;
  encoder: EncoderConfig;
  decoderHeads: number;
  decoderQkChannels: number;
  decoderVChannels: number;
}

export interface FlowConfig {
  preset: 'optical-flow';
  trainSize: [number, number];
  encoder: EncoderConfig;
  patchChannels: number;
  fourierBands: number;
  decoderHeads: number;
  rescaleFactor: number;
  flowScale: number;
}

export interface MultimodalConfig {
  preset: 'multimodal-autoencoder';
  numFrames: number;
  imageSize: number;
  audioSamplesPerFrame: number;
  samplesPerPatch: number;
  numClasses: number;
  encoder: EncoderConfig;
  spaceToDepth: number;
  imageBands: number;
  imageMaxResolution: [number, number, number];
  audioBands: number;
  inputPadding: number;
  queryPadding: number;
  labelQueryChannels: number;
  decoderOutputChannels: number;
  decoderHeads: number;
}

export type ModelConfig = ImageNetConfig | LanguageConfig | FlowConfig | MultimodalConfig;

/** The override names the golden fixtures use. */
export interface Overrides {
  num_latents?: number;
  latent_channels?: number;
  num_blocks?: number;
  num_self_attends_per_block?: number;
  num_self_attention_heads?: number;
  image_size?: number;
}

const OVERRIDE_NAMES = ['num_latents', 'latent_channels', 'num_blocks', 'num_self_attends_per_block', 'num_self_attention_heads', 'image_size'];

function encoder(e: Partial<EncoderConfig> & Pick<EncoderConfig, 'numLatents' | 'latentChannels'>): EncoderConfig {
  return {
    scope: 'perceiver_encoder',
    numBlocks: 1,
    numSelfAttendsPerBlock: 6,
    numSelfAttentionHeads: 8,
    numCrossAttentionHeads: 1,
    crossQkChannels: null,
    crossVChannels: null,
    selfQkChannels: null,
    selfVChannels: null,
    ...e,
  };
}

/** The released ImageNet classifiers. */
export function imagenetConfig(preset: ImageNetConfig['preset']): ImageNetConfig {
  return {
    preset,
    imageSize: 224,
    encoder: encoder({ numLatents: 512, latentChannels: 1024, numBlocks: 8, numSelfAttendsPerBlock: 6 }),
    numClasses: 1000,
    decoderQueryChannels: 1024,
    decoderHeads: 1,
    decoderQueryResidual: preset !== 'imagenet-learned',
    fourierBands: 64,
    maxResolution: preset === 'imagenet-conv' ? [56, 56] : [224, 224],
    prepChannels: preset === 'imagenet-learned' ? 256 : 64,
    posChannels: 256,
    projectPosDim: 256,
  };
}

/** The released bytes MLM. */
export function languageConfig(): LanguageConfig {
  return {
    preset: 'language-mlm',
    vocabSize: 262,
    maxSeqLen: 2048,
    dModel: 768,
    encoder: encoder({
      numLatents: 256,
      latentChannels: 1280,
      numSelfAttendsPerBlock: 26,
      numCrossAttentionHeads: 8,
      crossQkChannels: 256,
      crossVChannels: 1280,
      selfQkChannels: 256,
      selfVChannels: 1280,
    }),
    decoderHeads: 8,
    decoderQkChannels: 256,
    decoderVChannels: 768,
  };
}

/** The released optical-flow model. */
export function flowConfig(): FlowConfig {
  return {
    preset: 'optical-flow',
    trainSize: [368, 496],
    encoder: encoder({ numLatents: 2048, latentChannels: 512, numSelfAttendsPerBlock: 24, numSelfAttentionHeads: 16 }),
    patchChannels: 64,
    fourierBands: 64,
    decoderHeads: 1,
    rescaleFactor: 100,
    flowScale: 20,
  };
}

/** The released Kinetics-700 multimodal autoencoder. */
export function multimodalConfig(): MultimodalConfig {
  return {
    preset: 'multimodal-autoencoder',
    numFrames: 16,
    imageSize: 224,
    audioSamplesPerFrame: 1920,
    samplesPerPatch: 16,
    numClasses: 700,
    encoder: encoder({ scope: 'encoder', numLatents: 784, latentChannels: 512, numSelfAttendsPerBlock: 8 }),
    spaceToDepth: 4,
    imageBands: 32,
    imageMaxResolution: [16, 56, 56],
    audioBands: 192,
    inputPadding: 4,
    queryPadding: 2,
    labelQueryChannels: 1024,
    decoderOutputChannels: 512,
    decoderHeads: 1,
  };
}

/** The released configuration of a preset (a task's code calls its own function above). */
export function defaultConfig(preset: PresetName): ModelConfig {
  switch (preset) {
    case 'imagenet-conv':
    case 'imagenet-fourier':
    case 'imagenet-learned':
      return imagenetConfig(preset);
    case 'language-mlm':
      return languageConfig();
    case 'optical-flow':
      return flowConfig();
    case 'multimodal-autoencoder':
      return multimodalConfig();
    default:
      throw new Error(`unknown preset '${preset as string}' (known: ${PRESETS.join(', ')})`);
  }
}

/**
 * The largest size each override may claim. Overrides come from files (a
 * weight file's meta, a HuggingFace config.json), so a claim is capped:
 * the parameter list has an entry per block and self-attention, and a
 * claim of 2^32 of them would loop for hours before any tensor is read.
 * Each cap is 8-64x the largest released model's value.
 */
const OVERRIDE_MAX: Record<keyof Overrides, number> = {
  num_latents: 1 << 16, // released: at most 2048 (optical-flow)
  latent_channels: 1 << 14, // at most 1280 (language-mlm)
  num_blocks: 64, // at most 8 (imagenet-*)
  num_self_attends_per_block: 256, // at most 26 (language-mlm)
  num_self_attention_heads: 256, // at most 16 (optical-flow)
  image_size: 4096, // 224
};

/**
 * The released configuration with the fixtures' size overrides applied. The
 * MLM encoder's v channels and the ImageNet decoder's query width follow
 * `latent_channels` (as in the fixtures).
 */
export function withOverrides<C extends ModelConfig>(base: C, overrides: Overrides = {}): C {
  for (const k of Object.keys(overrides)) {
    if (!OVERRIDE_NAMES.includes(k)) throw new Error(`unknown override '${k}' (known: ${OVERRIDE_NAMES.join(', ')})`);
    const v = (overrides as Record<string, unknown>)[k];
    if (!Number.isInteger(v) || (v as number) <= 0) throw new Error(`override ${k} must be a positive integer, got ${JSON.stringify(v)}`);
    const max = OVERRIDE_MAX[k as keyof Overrides];
    if ((v as number) > max) throw new Error(`override ${k} is ${v as number}, over the largest this port accepts (${max})`);
  }
  const c = structuredClone(base) as C;
  const e = c.encoder;
  if (overrides.num_latents) e.numLatents = overrides.num_latents;
  if (overrides.latent_channels) {
    e.latentChannels = overrides.latent_channels;
    if (e.crossVChannels !== null) e.crossVChannels = overrides.latent_channels;
    if (e.selfVChannels !== null) e.selfVChannels = overrides.latent_channels;
    // The ImageNet classification query is as wide as the latents (1024 in
    // the release; the golden fixtures' decoder pos_embs are [1, latent_channels]).
    if (c.preset === 'imagenet-conv' || c.preset === 'imagenet-fourier' || c.preset === 'imagenet-learned') {
      (c as ImageNetConfig).decoderQueryChannels = overrides.latent_channels;
    }
  }
  if (overrides.num_blocks) e.numBlocks = overrides.num_blocks;
  if (overrides.num_self_attends_per_block) e.numSelfAttendsPerBlock = overrides.num_self_attends_per_block;
  if (overrides.num_self_attention_heads) e.numSelfAttentionHeads = overrides.num_self_attention_heads;
  if (overrides.image_size) {
    if (c.preset !== 'imagenet-learned') throw new Error(`override image_size applies to imagenet-learned only, not ${c.preset}`);
    (c as ImageNetConfig).imageSize = overrides.image_size;
  }
  return c;
}

export function presetConfig(preset: PresetName, overrides: Overrides = {}): ModelConfig {
  return withOverrides(defaultConfig(preset), overrides);
}
