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
// The original asserts an input length of exactly maxSeqLen (2048), padded
// with PAD (0) and mask 0. Here the input may stop after its last real byte
// (length L <= 2048, position rows 0..L-1): that is the same computation,
// because a padded position only ever enters as a masked key of the
// encoder's cross-attention, whose softmax weight is exp(-1e30 - max) = 0
// exactly in float32, and as a query of the decoder, where every query is
// independent of the others. Likewise any subset of the positions can be
// decoded (`queries`): fill-mask decodes only its gaps. Both are equal to
// the padded full pass up to float rounding (the key blocks are summed in
// another grouping); test/perceiver/language.test.ts checks them against it.

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
  if (t.dtype !== 'i32' || t.shape.length !== 2 || !(t.shape[1] >= 1 && t.shape[1] <= cfg.maxSeqLen)) {
    throw new Error(`language-mlm: ${name} must be i32 [B, L] with 1 <= L <= ${cfg.maxSeqLen} (the model's length; pad with 0 and mask 0, or stop after the last real byte), got ${t}`);
  }
}

/** Encoder inputs: byte embeddings plus the input position table, [B, L, dModel]. */
export function languageInputs(gpu: Gpu, ids: Tensor, params: Params, cfg: LanguageConfig): Tensor {
  checkIds('ids', ids, cfg);
  const emb = gather(gpu, params.get(EMBEDDINGS), ids);
  const x = add(gpu, emb, params.get(INPUT_POSITIONS).rows(0, ids.shape[1]));
  emb.dispose();
  return x;
}

/** Which positions to decode, per batch row: i32 [B, n] each (positions in [0, L); the mask's values there). */
export interface LanguageQueries {
  positions: Tensor;
  mask: Tensor;
}

/**
 * ids i32 [B, L] (L <= maxSeqLen), mask i32 [B, L] (1 = real token,
 * including masked-out bytes; 0 = padding) -> logits f32 [B, L, vocabSize],
 * or [B, n, vocabSize] at `queries.positions`.
 */
export function languageLogits(gpu: Gpu, ids: Tensor, mask: Tensor, params: Params, cfg: LanguageConfig, queries?: LanguageQueries): Tensor {
  checkIds('ids', ids, cfg);
  checkIds('mask', mask, cfg);
  if (mask.shape.join() !== ids.shape.join()) throw new Error(`language-mlm: ids ${ids} and mask ${mask} differ in shape`);
  const [batch, length] = ids.shape;
  const x = languageInputs(gpu, ids, params, cfg);
  const z = encode(gpu, x, params, cfg.encoder, { inputMask: mask });
  x.dispose();
  const table = params.get(DECODER_QUERIES);
  const q = queries ? gather(gpu, table, queries.positions) : concat(gpu, [table.rows(0, length)], batch);
  const h = decodeQueries(gpu, z, q, params, languageDecoder(cfg), queries ? queries.mask : mask);
  z.dispose();
  q.dispose();
  // EmbeddingDecoder: the output embedding is the input embedding, transposed.
  const logits = matmul(gpu, h, params.get(EMBEDDINGS), { transposeB: true, bias: params.get(OUTPUT_BIAS) });
  h.dispose();
  return logits;
}
