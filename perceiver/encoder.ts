// PerceiverEncoder: trainable latents cross-attend once to the inputs, then a
// block of self-attends is applied `numBlocks` times with shared weights.

import type { Gpu, Tensor } from '../engine/index.ts';
import { concat } from '../kernels/concat.ts';
import type { EncoderConfig } from './config.ts';
import { crossAttention, selfAttention, type AttentionTap, type Params } from './layers.ts';

export interface EncodeOptions {
  /** i32 [B, N], 1 = real input: masks the cross-attention keys */
  inputMask?: Tensor;
  /**
   * The inputs already went through the cross-attention's layer_norm_1 (a
   * caller with inputs too large to hold twice builds them normalised, slice by slice).
   */
  inputsNormalized?: boolean;
  /** shown the cross-attention's softmax operands (attention maps: perceiver/attention_maps.ts) */
  attentionTap?: AttentionTap;
}

/** inputs [B, N, C] (C = preprocessor width) -> latents z [B, numLatents, latentChannels]. */
export function encode(gpu: Gpu, inputs: Tensor, params: Params, cfg: EncoderConfig, opts: EncodeOptions = {}): Tensor {
  const p = params.scope(cfg.scope);
  const batch = inputs.shape[0];
  const latents = concat(gpu, [p.get('~/trainable_position_encoding/pos_embs')], batch);
  let z = crossAttention(gpu, latents, inputs, p.scope('~/cross_attention'), {
    heads: cfg.numCrossAttentionHeads,
    queryResidual: true,
    keyMask: opts.inputMask,
    kvNormalized: opts.inputsNormalized,
    foldKeyValue: true,
    tap: opts.attentionTap,
  });
  latents.dispose();
  for (let block = 0; block < cfg.numBlocks; block++) {
    for (let i = 0; i < cfg.numSelfAttendsPerBlock; i++) {
      const name = i === 0 ? '~/self_attention' : `~/self_attention_${i}`;
      const next = selfAttention(gpu, z, p.scope(name), cfg.numSelfAttentionHeads);
      z.dispose();
      z = next;
    }
  }
  return z;
}
