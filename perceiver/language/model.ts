// The released masked language model on UTF-8 bytes (PERCEIVER_IO.md §8.3,
// the MLM colab), exactly as DeepMind's code builds it:
//
//   x      = embed(ids) + trainable_position_encoding        [B, 2048, 768]
//   z      = perceiver_encoder(x, input_mask = mask)         [B, 256, 1280]
//            (one 8-head cross-attend, qk 256, v 1280; 26 self-attends,
//             8 heads, qk 256; the mask masks the cross-attention's keys)
//   h      = basic_decoder(z, query_mask = mask)             [B, 2048, 768]
//            (its own trainable 2048 x 768 queries, 8 heads, qk 256, v 768,
//             no query residual, no final projection; fully masked query
//             rows come out of the attention as zeros, as in the original)
//   logits = h @ embed^T + embedding_decoder/bias            [B, 2048, 262]
//
// The input length must be the model's maxSeqLen (2048): the original
// asserts it, and both position tables have exactly that many rows. Pad with
// PAD (0) and mask 0.

import type { Gpu, Tensor } from '../../engine/index.ts';
import { matmul } from '../../kernels/matmul.ts';
import { gather, add } from '../../kernels/elementwise.ts';
import { concat } from '../../kernels/concat.ts';
import type { LanguageConfig } from '../config.ts';
import { encode } from '../encoder.ts';
import { decodeQueries, type DecoderSpec } from '../decoder.ts';
import type { Params } from '../layers.ts';

/** Haiku names of the parameters outside the encoder and decoder blocks. */
export const EMBEDDINGS = 'embed/embeddings';
export const INPUT_POSITIONS = 'trainable_position_encoding/pos_embs';
export const OUTPUT_BIAS = 'embedding_decoder/bias';
export const DECODER_SCOPE = 'basic_decoder';
export const DECODER_QUERIES = `${DECODER_SCOPE}/~/trainable_position_encoding/pos_embs`;

export function languageDecoder(cfg: LanguageConfig): DecoderSpec {
  return { scope: DECODER_SCOPE, heads: cfg.decoderHeads, queryResidual: false, finalProject: false };
}

function checkIds(name: string, t: Tensor, cfg: LanguageConfig): void {
  if (t.dtype !== 'i32' || t.shape.length !== 2 || t.shape[1] !== cfg.maxSeqLen) {
    throw new Error(`language-mlm: ${name} must be i32 [B, ${cfg.maxSeqLen}] (the model's fixed length; pad with 0 and mask 0), got ${t}`);
  }
}

/** Encoder inputs: byte embeddings plus the input position table, [B, T, dModel]. */
export function languageInputs(gpu: Gpu, ids: Tensor, params: Params, cfg: LanguageConfig): Tensor {
  checkIds('ids', ids, cfg);
  const emb = gather(gpu, params.get(EMBEDDINGS), ids);
  const x = add(gpu, emb, params.get(INPUT_POSITIONS));
  emb.dispose();
  return x;
}

/**
 * ids i32 [B, T] (T = maxSeqLen), mask i32 [B, T] (1 = real token, including
 * masked-out bytes; 0 = padding) -> logits f32 [B, T, vocabSize].
 */
export function languageLogits(gpu: Gpu, ids: Tensor, mask: Tensor, params: Params, cfg: LanguageConfig): Tensor {
  checkIds('ids', ids, cfg);
  checkIds('mask', mask, cfg);
  if (mask.shape[0] !== ids.shape[0]) throw new Error(`language-mlm: ids ${ids} and mask ${mask} have different batch sizes`);
  const batch = ids.shape[0];
  const x = languageInputs(gpu, ids, params, cfg);
  const z = encode(gpu, x, params, cfg.encoder, { inputMask: mask });
  x.dispose();
  const queries = concat(gpu, [params.get(DECODER_QUERIES)], batch);
  const h = decodeQueries(gpu, z, queries, params, languageDecoder(cfg), mask);
  z.dispose();
  queries.dispose();
  // EmbeddingDecoder: the output embedding is the input embedding, transposed.
  const logits = matmul(gpu, h, params.get(EMBEDDINGS), { transposeB: true, bias: params.get(OUTPUT_BIAS) });
  h.dispose();
  return logits;
}
