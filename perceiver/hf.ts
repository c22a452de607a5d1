// HuggingFace transformers' Perceiver checkpoints (the hub's
// `deepmind/*-perceiver*` repositories): how their keys, layouts and
// config.json map onto the released Haiku checkpoints that params.ts
// describes. The one table of rules, used by the converter
// (tools/convert.ts: convertHf) and so by every loader of HF files.
//
// HF's converter (convert_perceiver_haiku_to_pytorch.py) renamed every Haiku
// leaf and applied np.transpose (ALL axes reversed) to every key ending in
// `weight` outside the embeddings, and squeezed the batch-norm tensors. Here
// each Haiku leaf of expectedParams(config) gets its HF key and the
// transform that undoes HF's exactly:
//   'reverse'  reverse all axes again: Linear [out, in] -> [in, out]; the
//              conv stem [O, I, W, H] -> HWIO [H, W, I, O] (HF stores it
//              spatially transposed: used as OIHW it would be wrong, see
//              ../shared/golden-hf/README.md); the 1x1 conv [O, I, 1, 1] -> [1, 1, I, O]
//   'squeeze'  batch-norm [C] -> [1, 1, 1, C] (the Haiku shape; params.ts's
//              layout rules then store it as [C] again)
//   'none'     as stored
// The batch-norm EMAs' `counter` and `hidden` were dropped by HF's converter
// (they play no part in inference: params.ts drops them too); HF's
// `num_batches_tracked` has no Haiku counterpart and is ignored.
// Names (P = HF block prefix, S = Haiku scope; ../shared/golden-hf/README.md):
//   S/attention/linear{,_1,_2,_3}  P.attention.self.{query,key,value}, P.attention.output.dense
//   S/layer_norm                   P.attention.self.layernorm1
//   S/layer_norm_1                 cross: P.attention.self.layernorm2; self: P.layernorm
//   S/layer_norm_2                 cross: P.layernorm
//   S/mlp/linear{,_1}              P.mlp.dense{1,2}
// with the scopes and the remaining leaves in SCOPES and LEAVES below.
// Browser-safe, data only: no tensors are touched here.

import type { ModelConfig, Overrides, PresetName } from './config.ts';
import { presetConfig, defaultConfig } from './config.ts';
import { expectedParams, fmtShape } from './params.ts';

export type HfTransform = 'none' | 'reverse' | 'squeeze';

export interface HfRule {
  /** the HF state-dict key */
  key: string;
  /** what undoes HF's transform (HF -> Haiku) */
  transform: HfTransform;
}

/** HF keys accepted and ignored (no Haiku counterpart). */
export const HF_IGNORED = /(^|\.)num_batches_tracked$/;

/** HF's model classes (config.json `architectures`) and our presets. */
export const HF_ARCHITECTURES: Readonly<Record<string, PresetName>> = Object.freeze({
  PerceiverForImageClassificationConvProcessing: 'imagenet-conv',
  PerceiverForImageClassificationFourier: 'imagenet-fourier',
  PerceiverForImageClassificationLearned: 'imagenet-learned',
  PerceiverForMaskedLM: 'language-mlm',
  PerceiverForOpticalFlow: 'optical-flow',
  PerceiverForMultimodalAutoencoding: 'multimodal-autoencoder',
});

/** The HuggingFace hub's address. */
export const HF_ENDPOINT = 'https://huggingface.co';

/** Where each preset's models live on the HuggingFace hub. */
export const HF_HUB_IDS: Readonly<Record<PresetName, string>> = Object.freeze({
  'imagenet-conv': 'deepmind/vision-perceiver-conv',
  'imagenet-fourier': 'deepmind/vision-perceiver-fourier',
  'imagenet-learned': 'deepmind/vision-perceiver-learned',
  'language-mlm': 'deepmind/language-perceiver',
  'optical-flow': 'deepmind/optical-flow-perceiver',
  'multimodal-autoencoder': 'deepmind/multimodal-perceiver',
});

/** Attention-block scopes: Haiku scope regex -> HF prefix; `cross` picks the layer-norm names. */
const SCOPES: { re: RegExp; hf: (m: RegExpExecArray) => string; cross: boolean }[] = [
  { re: /^(?:perceiver_encoder|encoder)\/~\/cross_attention$/, hf: () => 'perceiver.encoder.cross_attention', cross: true },
  { re: /^(?:perceiver_encoder|encoder)\/~\/self_attention(?:_(\d+))?$/, hf: (m) => `perceiver.encoder.self_attends.${m[1] ?? 0}`, cross: false },
  { re: /^(?:classification|flow|multimodal)_decoder\/~\/basic_decoder\/cross_attention$/, hf: () => 'perceiver.decoder.decoder.decoding_cross_attention', cross: true },
  { re: /^basic_decoder\/cross_attention$/, hf: () => 'perceiver.decoder.decoding_cross_attention', cross: true },
];

/** Inside an attention block: Haiku module path -> HF path (cross / self). */
const BLOCK: Record<string, [string, string]> = {
  'attention/linear': ['attention.self.query', 'attention.self.query'],
  'attention/linear_1': ['attention.self.key', 'attention.self.key'],
  'attention/linear_2': ['attention.self.value', 'attention.self.value'],
  'attention/linear_3': ['attention.output.dense', 'attention.output.dense'],
  layer_norm: ['attention.self.layernorm1', 'attention.self.layernorm1'],
  layer_norm_1: ['attention.self.layernorm2', 'layernorm'],
  layer_norm_2: ['layernorm', ''],
  'mlp/linear': ['mlp.dense1', 'mlp.dense1'],
  'mlp/linear_1': ['mlp.dense2', 'mlp.dense2'],
};

/** Haiku parameter -> HF parameter (and whether HF transposed it). */
const PARAM: Record<string, [string, HfTransform]> = {
  w: ['weight', 'reverse'],
  b: ['bias', 'none'],
  scale: ['weight', 'none'],
  offset: ['bias', 'none'],
};

const BN = 'image_preprocessor/~/conv2_d_downsample/~/batchnorm';
const MM_PAD = /^multimodal_decoder\/~decoder_query\/(audio|image|label)_padding\/pos_embs$/;
const MM_IN = /^multimodal_preprocessor\/(audio|image|label)_(padding|mask_token)\/pos_embs$/;
const MM_POST: Record<string, string> = { audio: 'audio', projection: 'image', classification: 'label' };

/** The remaining leaves, by exact Haiku name (some depend on the preset). */
function leaf(name: string, preset: PresetName): HfRule | null | undefined {
  const mm = preset === 'multimodal-autoencoder';
  const table: Record<string, HfRule | null> = {
    'perceiver_encoder/~/trainable_position_encoding/pos_embs': { key: 'perceiver.embeddings.latents', transform: 'none' },
    'encoder/~/trainable_position_encoding/pos_embs': { key: 'perceiver.embeddings.latents', transform: 'none' },
    'classification_decoder/~/basic_decoder/~/trainable_position_encoding/pos_embs': {
      key: mm ? 'perceiver.decoder.modalities.label.decoder.output_position_encodings.position_embeddings' : 'perceiver.decoder.decoder.output_position_encodings.position_embeddings',
      transform: 'none',
    },
    'basic_decoder/~/trainable_position_encoding/pos_embs': { key: 'perceiver.decoder.output_position_encodings.position_embeddings', transform: 'none' },
    'embed/embeddings': { key: 'perceiver.input_preprocessor.embeddings.weight', transform: 'none' },
    'trainable_position_encoding/pos_embs': { key: 'perceiver.input_preprocessor.position_embeddings.weight', transform: 'none' },
    'embedding_decoder/bias': { key: 'embedding_decoder.bias', transform: 'none' },
    'image_preprocessor/~/conv2_d_downsample/~/conv/w': { key: 'perceiver.input_preprocessor.convnet.conv.weight', transform: 'reverse' },
    [`${BN}/scale`]: { key: 'perceiver.input_preprocessor.convnet.batchnorm.weight', transform: 'squeeze' },
    [`${BN}/offset`]: { key: 'perceiver.input_preprocessor.convnet.batchnorm.bias', transform: 'squeeze' },
    [`${BN}/~/mean_ema/average`]: { key: 'perceiver.input_preprocessor.convnet.batchnorm.running_mean', transform: 'squeeze' },
    [`${BN}/~/var_ema/average`]: { key: 'perceiver.input_preprocessor.convnet.batchnorm.running_var', transform: 'squeeze' },
    [`${BN}/~/mean_ema/counter`]: null,
    [`${BN}/~/mean_ema/hidden`]: null,
    [`${BN}/~/var_ema/counter`]: null,
    [`${BN}/~/var_ema/hidden`]: null,
    'image_preprocessor/~/conv2_d/w': { key: 'perceiver.input_preprocessor.convnet_1x1.weight', transform: 'reverse' },
    'image_preprocessor/~/conv2_d/b': { key: 'perceiver.input_preprocessor.convnet_1x1.bias', transform: 'none' },
    'image_preprocessor/~_build_network_inputs/trainable_position_encoding/pos_embs': {
      key: 'perceiver.input_preprocessor.position_embeddings.position_embeddings',
      transform: 'none',
    },
    'image_preprocessor/~_build_network_inputs/position_encoding_projector/linear/w': { key: 'perceiver.input_preprocessor.positions_projection.weight', transform: 'reverse' },
    'image_preprocessor/~_build_network_inputs/position_encoding_projector/linear/b': { key: 'perceiver.input_preprocessor.positions_projection.bias', transform: 'none' },
    'image_preprocessor/patches_linear/w': { key: 'perceiver.input_preprocessor.conv_after_patches.weight', transform: 'reverse' },
    'image_preprocessor/patches_linear/b': { key: 'perceiver.input_preprocessor.conv_after_patches.bias', transform: 'none' },
  };
  if (Object.hasOwn(table, name)) return table[name];
  const out = /^(classification|flow|multimodal)_decoder\/~\/basic_decoder\/output\/(w|b)$/.exec(name);
  if (out) return { key: `perceiver.decoder.decoder.final_layer.${PARAM[out[2]][0]}`, transform: PARAM[out[2]][1] };
  const pad = MM_PAD.exec(name);
  if (pad) return { key: `perceiver.decoder.padding.${pad[1]}`, transform: 'none' };
  const inp = MM_IN.exec(name);
  if (inp) return { key: `perceiver.input_preprocessor.${inp[2] === 'padding' ? 'padding' : 'mask'}.${inp[1]}`, transform: 'none' };
  const post = /^(audio|projection|classification)_postprocessor\/linear\/(w|b)$/.exec(name);
  if (post) return { key: `perceiver.output_postprocessor.modalities.${MM_POST[post[1]]}.classifier.${PARAM[post[2]][0]}`, transform: PARAM[post[2]][1] };
  return undefined;
}

/**
 * The HF key of a released Haiku leaf and the transform that undoes HF's
 * layout; null for the leaves HF's converter dropped (batch-norm EMA
 * counter and hidden). Throws for a name the table does not know.
 */
export function hfRule(name: string, preset: PresetName): HfRule | null {
  const l = leaf(name, preset);
  if (l !== undefined) return l;
  const m = /^(.*)\/((?:attention|mlp)\/linear(?:_\d)?|layer_norm(?:_\d)?)\/(w|b|scale|offset)$/.exec(name);
  if (m) {
    for (const s of SCOPES) {
      const sm = s.re.exec(m[1]);
      if (!sm) continue;
      const path = BLOCK[m[2]]?.[s.cross ? 0 : 1];
      if (!path) break;
      const [param, transform] = PARAM[m[3]];
      return { key: `${s.hf(sm)}.${path}.${param}`, transform };
    }
  }
  throw new Error(`hfRule: no HuggingFace name for the Haiku leaf '${name}' (${preset})`);
}

export interface HfEntry {
  haiku: string;
  haikuShape: number[];
  /** the shape HF stores */
  hfShape: number[];
  transform: HfTransform;
}

/** The shape HF stores for a Haiku leaf of this shape. */
function hfShapeOf(shape: readonly number[], t: HfTransform): number[] {
  if (t === 'reverse') return [...shape].reverse();
  if (t === 'squeeze') return shape.filter((d, i) => !(d === 1 && i < shape.length - 1));
  return [...shape];
}

/** Every HF key a checkpoint of `config` holds (num_batches_tracked aside), with its Haiku leaf. */
export function hfTable(config: ModelConfig): Map<string, HfEntry> {
  const out = new Map<string, HfEntry>();
  for (const [haiku, shape] of expectedParams(config)) {
    const r = hfRule(haiku, config.preset);
    if (!r) continue;
    if (out.has(r.key)) throw new Error(`hfTable: '${r.key}' would hold both '${out.get(r.key)!.haiku}' and '${haiku}'`);
    out.set(r.key, { haiku, haikuShape: [...shape], hfShape: hfShapeOf(shape, r.transform), transform: r.transform });
  }
  return out;
}

export interface HfModel {
  preset: PresetName;
  overrides: Overrides;
  /** id2label's names in id order when they are real names (not HF's generic LABEL_i) */
  labels: string[] | null;
}

/** Haiku's encoder input width (HF's d_model) for a config: the encoder key projection's input. */
export function encoderInputWidth(config: ModelConfig): number {
  const w = expectedParams(config).get(`${config.encoder.scope}/~/cross_attention/attention/linear_1/w`);
  return w ? w[0] : -1;
}

/**
 * config.json -> our preset, size overrides and labels. Sizes our presets
 * cannot express (other cross-attention heads, qk/v widths, d_model) are
 * refused with the field's name.
 */
export function hfModelConfig(json: unknown): HfModel {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('config.json: not a JSON object');
  const c = json as Record<string, unknown>;
  const arch = c.architectures;
  if (!Array.isArray(arch) || arch.length !== 1 || typeof arch[0] !== 'string') {
    throw new Error(`config.json: expected one model class in "architectures", got ${JSON.stringify(arch)?.slice(0, 120)}`);
  }
  const preset = Object.hasOwn(HF_ARCHITECTURES, arch[0]) ? HF_ARCHITECTURES[arch[0]] : undefined;
  if (!preset) throw new Error(`config.json: model class '${arch[0]}' is not one of DeepMind's released Perceiver IO models (${Object.keys(HF_ARCHITECTURES).join(', ')})`);
  const base = defaultConfig(preset);
  const e = base.encoder;
  const int = (field: string): number => {
    const v = c[field];
    if (!Number.isSafeInteger(v) || (v as number) <= 0) throw new Error(`config.json: ${field} must be a positive integer, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const overrides: Overrides = {};
  const sizes: [keyof Overrides, string, number][] = [
    ['num_latents', 'num_latents', e.numLatents],
    ['latent_channels', 'd_latents', e.latentChannels],
    ['num_blocks', 'num_blocks', e.numBlocks],
    ['num_self_attends_per_block', 'num_self_attends_per_block', e.numSelfAttendsPerBlock],
    ['num_self_attention_heads', 'num_self_attention_heads', e.numSelfAttentionHeads],
  ];
  for (const [ours, field, released] of sizes) {
    const v = int(field);
    if (v !== released) overrides[ours] = v;
  }
  if (preset === 'imagenet-learned') {
    const v = int('image_size');
    if (v !== 224) overrides.image_size = v;
  }
  const config = presetConfig(preset, overrides);
  const ce = config.encoder;
  const refuse = (field: string, got: unknown, want: unknown): never => {
    throw new Error(`config.json: ${field} is ${JSON.stringify(got)}, but ${preset} with these sizes has ${JSON.stringify(want)} (not expressible by this port's presets)`);
  };
  if (int('num_cross_attention_heads') !== ce.numCrossAttentionHeads) refuse('num_cross_attention_heads', c.num_cross_attention_heads, ce.numCrossAttentionHeads);
  const qk = c.qk_channels ?? null;
  const v = c.v_channels ?? null;
  if (qk !== ce.selfQkChannels || qk !== ce.crossQkChannels) refuse('qk_channels', qk, ce.selfQkChannels);
  if (v !== ce.selfVChannels || v !== ce.crossVChannels) refuse('v_channels', v, ce.selfVChannels);
  const dModel = encoderInputWidth(config);
  if (int('d_model') !== dModel) refuse('d_model', c.d_model, dModel);
  return { preset, overrides, labels: realLabels(c.id2label) };
}

/** id2label in id order when it holds real names; null for HF's generic LABEL_i (or none). */
export function realLabels(id2label: unknown): string[] | null {
  if (typeof id2label !== 'object' || id2label === null || Array.isArray(id2label)) return null;
  const entries = Object.entries(id2label as Record<string, unknown>);
  if (!entries.length || entries.length > 100_000) return null;
  const out = new Array<string>(entries.length);
  for (const [k, name] of entries) {
    const i = Number(k);
    if (!/^\d+$/.test(k) || i >= entries.length || typeof name !== 'string' || out[i] !== undefined) return null;
    out[i] = name;
  }
  return out.every((n, i) => n === `LABEL_${i}`) ? null : out;
}

/** A one-line description of an HF entry for error lists. */
export const fmtHf = (key: string, e: HfEntry) => `${key} ${fmtShape(e.hfShape)} (Haiku ${e.haiku})`;
