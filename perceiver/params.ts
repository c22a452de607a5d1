// Every parameter (and state) leaf of a Perceiver IO checkpoint, with its
// shape, in Haiku's flat naming (`module/path/param`), derived from a
// ModelConfig (so size overrides work). The names are the released files'
// (../shared/reference/PERCEIVER_IO.md §8-9) and are checked in
// test/perceiver/params.test.ts against the six full manifests and every
// golden fixture.
//
// `expectedParams` lists what a checkpoint holds (params and state); what
// the converted weight file holds is `storedShapes` in tools/convert.ts (the
// layout rules live there).

import type { ModelConfig, EncoderConfig, ImageNetConfig, LanguageConfig, FlowConfig, MultimodalConfig } from './config.ts';

/**
 * Stored names of the conv stem's batch-norm moving averages, inside the
 * batch-norm scope: `image_preprocessor/~/conv2_d_downsample/~/batchnorm/mean`
 * (from `.../batchnorm/~/mean_ema/average`) and `.../batchnorm/variance`
 * (from `.../batchnorm/~/var_ema/average`), both [C].
 */
export const BATCHNORM_MEAN = 'mean';
export const BATCHNORM_VARIANCE = 'variance';

/** The conv stem's module path (imagenet-conv). */
export const CONV_STEM = 'image_preprocessor/~/conv2_d_downsample/~';

export interface CheckpointShapes {
  params: Map<string, number[]>;
  state: Map<string, number[]>;
}

/** Width of a Fourier position encoding with concat_pos: d + 2·d·K. */
export function fourierChannels(dims: number, bands: number): number {
  return dims + 2 * dims * bands;
}

class Builder {
  readonly params = new Map<string, number[]>();
  readonly state = new Map<string, number[]>();
  add(name: string, shape: number[], into: 'params' | 'state' = 'params'): void {
    const m = into === 'params' ? this.params : this.state;
    if (this.params.has(name) || this.state.has(name)) throw new Error(`expectedParams: duplicate name ${name}`);
    for (const d of shape) if (!Number.isSafeInteger(d) || d <= 0) throw new Error(`expectedParams: bad shape [${shape}] for ${name}`);
    m.set(name, shape);
  }
  linear(scope: string, inC: number, outC: number, bias = true): void {
    if (bias) this.add(`${scope}/b`, [outC]);
    this.add(`${scope}/w`, [inC, outC]);
  }
  layerNorm(scope: string, c: number): void {
    this.add(`${scope}/offset`, [c]);
    this.add(`${scope}/scale`, [c]);
  }
  posEmbs(scope: string, n: number, c: number): void {
    this.add(`${scope}/pos_embs`, [n, c]);
  }

  /** hk Attention + MLP of a Cross/SelfAttention block (widening factor 1 in every release). */
  private block(scope: string, cq: number, ckv: number, qk: number, v: number, out: number, heads: number, cross: boolean): void {
    if (qk % heads || v % heads) {
      throw new Error(`${scope}: qk channels ${qk} and v channels ${v} must be divisible by ${heads} heads`);
    }
    this.linear(`${scope}/attention/linear`, cq, qk);
    this.linear(`${scope}/attention/linear_1`, ckv, qk);
    this.linear(`${scope}/attention/linear_2`, ckv, v);
    this.linear(`${scope}/attention/linear_3`, v, out);
    this.layerNorm(`${scope}/layer_norm`, cq);
    this.layerNorm(`${scope}/layer_norm_1`, cross ? ckv : out);
    if (cross) this.layerNorm(`${scope}/layer_norm_2`, out);
    this.linear(`${scope}/mlp/linear`, out, out);
    this.linear(`${scope}/mlp/linear_1`, out, out);
  }

  /** CrossAttention(shape_for_attn='kv'): qk defaults to the kv width, v to qk, output = query width. */
  cross(scope: string, cq: number, ckv: number, heads: number, qkChannels: number | null = null, vChannels: number | null = null): void {
    const qk = qkChannels ?? ckv;
    const v = vChannels ?? qk;
    this.block(scope, cq, ckv, qk, v, cq, heads, true);
  }

  /** SelfAttention: qk defaults to the width, v to qk; the output is v wide and must equal the width. */
  self(scope: string, c: number, heads: number, qkChannels: number | null, vChannels: number | null): void {
    const qk = qkChannels ?? c;
    const v = vChannels ?? qk;
    if (v !== c) throw new Error(`${scope}: v channels ${v} must equal the latent width ${c} (residual)`);
    this.block(scope, c, c, qk, v, v, heads, false);
  }

  encoder(e: EncoderConfig, inputChannels: number): void {
    const s = e.scope;
    this.posEmbs(`${s}/~/trainable_position_encoding`, e.numLatents, e.latentChannels);
    this.cross(`${s}/~/cross_attention`, e.latentChannels, inputChannels, e.numCrossAttentionHeads, e.crossQkChannels, e.crossVChannels);
    for (let i = 0; i < e.numSelfAttendsPerBlock; i++) {
      this.self(`${s}/~/self_attention${i ? `_${i}` : ''}`, e.latentChannels, e.numSelfAttentionHeads, e.selfQkChannels, e.selfVChannels);
    }
  }
}

/** Input width of the ImageNet encoder for a config. */
export function imagenetInputChannels(c: ImageNetConfig): number {
  switch (c.preset) {
    case 'imagenet-conv':
      return c.prepChannels + fourierChannels(2, c.fourierBands);
    case 'imagenet-fourier':
      return 3 + fourierChannels(2, c.fourierBands);
    case 'imagenet-learned':
      return c.prepChannels + c.projectPosDim;
  }
}

function imagenet(b: Builder, c: ImageNetConfig): void {
  if (c.preset === 'imagenet-conv') {
    const stem = 'image_preprocessor/~/conv2_d_downsample/~';
    b.add(`${stem}/batchnorm/offset`, [1, 1, 1, c.prepChannels]);
    b.add(`${stem}/batchnorm/scale`, [1, 1, 1, c.prepChannels]);
    b.add(`${stem}/conv/w`, [7, 7, 3, c.prepChannels]);
    for (const ema of ['mean_ema', 'var_ema']) {
      b.add(`${stem}/batchnorm/~/${ema}/average`, [1, 1, 1, c.prepChannels], 'state');
      b.add(`${stem}/batchnorm/~/${ema}/counter`, [], 'state');
      b.add(`${stem}/batchnorm/~/${ema}/hidden`, [1, 1, 1, c.prepChannels], 'state');
    }
  } else if (c.preset === 'imagenet-learned') {
    // hk.Conv2D(prepChannels, [1, 1]) on RGB, HWIO
    b.add('image_preprocessor/~/conv2_d/b', [c.prepChannels]);
    b.add('image_preprocessor/~/conv2_d/w', [1, 1, 3, c.prepChannels]);
    const net = 'image_preprocessor/~_build_network_inputs';
    b.linear(`${net}/position_encoding_projector/linear`, c.posChannels, c.projectPosDim);
    b.posEmbs(`${net}/trainable_position_encoding`, c.imageSize * c.imageSize, c.posChannels);
  }
  b.encoder(c.encoder, imagenetInputChannels(c));
  const dec = 'classification_decoder/~/basic_decoder';
  b.posEmbs(`${dec}/~/trainable_position_encoding`, 1, c.decoderQueryChannels);
  b.cross(`${dec}/cross_attention`, c.decoderQueryChannels, c.encoder.latentChannels, c.decoderHeads);
  b.linear(`${dec}/output`, c.decoderQueryChannels, c.numClasses);
}

function language(b: Builder, c: LanguageConfig): void {
  b.add('embed/embeddings', [c.vocabSize, c.dModel]);
  b.posEmbs('trainable_position_encoding', c.maxSeqLen, c.dModel);
  b.encoder(c.encoder, c.dModel);
  b.posEmbs('basic_decoder/~/trainable_position_encoding', c.maxSeqLen, c.dModel);
  b.cross('basic_decoder/cross_attention', c.dModel, c.encoder.latentChannels, c.decoderHeads, c.decoderQkChannels, c.decoderVChannels);
  b.add('embedding_decoder/bias', [c.vocabSize]);
}

/** Input width of the flow encoder: projected patches + 2-D Fourier features. */
export function flowInputChannels(c: FlowConfig): number {
  return c.patchChannels + fourierChannels(2, c.fourierBands);
}

function flow(b: Builder, c: FlowConfig): void {
  // Two frames of 3x3 patches of RGB, stacked along channels.
  b.linear('image_preprocessor/patches_linear', 2 * 3 * 3 * 3, c.patchChannels);
  const inC = flowInputChannels(c);
  b.encoder(c.encoder, inC);
  const dec = 'flow_decoder/~/basic_decoder';
  b.cross(`${dec}/cross_attention`, inC, c.encoder.latentChannels, c.decoderHeads);
  b.linear(`${dec}/output`, inC, 2);
}

/** Per-modality widths of the multimodal autoencoder (sorted: audio, image, label). */
export function multimodalWidths(c: MultimodalConfig): {
  inputs: Record<'audio' | 'image' | 'label', number>;
  inputWidth: number;
  queries: Record<'audio' | 'image' | 'label', number>;
  queryWidth: number;
} {
  const inputs = {
    audio: c.samplesPerPatch + fourierChannels(1, c.audioBands),
    image: c.spaceToDepth * c.spaceToDepth * 3 + fourierChannels(3, c.imageBands),
    label: c.numClasses,
  };
  const queries = {
    audio: fourierChannels(1, c.audioBands),
    image: fourierChannels(3, c.imageBands),
    label: c.labelQueryChannels,
  };
  const inputWidth = Math.max(...Object.values(inputs)) + c.inputPadding;
  const queryWidth = Math.max(...Object.values(queries)) + c.queryPadding;
  return { inputs, inputWidth, queries, queryWidth };
}

function multimodal(b: Builder, c: MultimodalConfig): void {
  const w = multimodalWidths(c);
  for (const m of ['audio', 'image', 'label'] as const) {
    b.posEmbs(`multimodal_preprocessor/${m}_mask_token`, 1, w.inputWidth);
    b.posEmbs(`multimodal_preprocessor/${m}_padding`, 1, w.inputWidth - w.inputs[m]);
    b.posEmbs(`multimodal_decoder/~decoder_query/${m}_padding`, 1, w.queryWidth - w.queries[m]);
  }
  b.encoder(c.encoder, w.inputWidth);
  b.posEmbs('classification_decoder/~/basic_decoder/~/trainable_position_encoding', 1, c.labelQueryChannels);
  const dec = 'multimodal_decoder/~/basic_decoder';
  b.cross(`${dec}/cross_attention`, w.queryWidth, c.encoder.latentChannels, c.decoderHeads);
  b.linear(`${dec}/output`, w.queryWidth, c.decoderOutputChannels);
  b.linear('audio_postprocessor/linear', c.decoderOutputChannels, c.samplesPerPatch);
  b.linear('projection_postprocessor/linear', c.decoderOutputChannels, 3);
  b.linear('classification_postprocessor/linear', c.decoderOutputChannels, c.numClasses);
}

/** The checkpoint's leaves, split as in the released files ({'params', 'state'}). */
export function expectedCheckpoint(config: ModelConfig): CheckpointShapes {
  const b = new Builder();
  switch (config.preset) {
    case 'imagenet-conv':
    case 'imagenet-fourier':
    case 'imagenet-learned':
      imagenet(b, config);
      break;
    case 'language-mlm':
      language(b, config);
      break;
    case 'optical-flow':
      flow(b, config);
      break;
    case 'multimodal-autoencoder':
      multimodal(b, config);
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
