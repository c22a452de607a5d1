// BasicDecoder: output queries cross-attend into the latents, then an
// optional final projection. Queries are independent given the latents, so
// any subset can be decoded, in chunks, with the encoder run once: this file
// is the project's one chunked decoder.

import type { Gpu, Tensor } from '../engine/index.ts';
import { readF32 } from '../engine/index.ts';
import { crossAttention, linear, type Params } from './layers.ts';

export interface DecoderSpec {
  /** e.g. 'classification_decoder/~/basic_decoder' */
  scope: string;
  heads: number;
  queryResidual: boolean;
  /** apply the `output` linear (absent in the MLM model) */
  finalProject: boolean;
}

/** Decodes queries [B, n, Cq] against latents z [B, L, Cz] -> [B, n, out]. */
export function decodeQueries(gpu: Gpu, z: Tensor, queries: Tensor, params: Params, spec: DecoderSpec, queryMask?: Tensor): Tensor {
  const p = params.scope(spec.scope);
  const x = crossAttention(gpu, queries, z, p.scope('cross_attention'), {
    heads: spec.heads,
    queryResidual: spec.queryResidual,
    queryMask,
  });
  if (!spec.finalProject) return x;
  const y = linear(gpu, x, p.scope('output'));
  x.dispose();
  return y;
}

export interface QueryChunk {
  queries: Tensor;
  queryMask?: Tensor;
}

export interface ChunkedDecodeOptions {
  /** queries per chunk */
  chunkSize: number;
  /** builds the queries (and mask) for query positions [start, start + count) */
  makeChunk(start: number, count: number): QueryChunk;
  /** optional post-processing of each chunk's decoder output on the GPU */
  post?(out: Tensor, start: number, count: number): Tensor;
  onProgress?(done: number, total: number): void;
}

/**
 * Decodes `total` queries in chunks and gathers them on the host as
 * Float32Array [B, total, C]. Peak GPU memory is bounded by the chunk size.
 */
export async function decodeInChunks(gpu: Gpu, z: Tensor, total: number, params: Params, spec: DecoderSpec, opts: ChunkedDecodeOptions): Promise<{ data: Float32Array; channels: number }> {
  if (!(opts.chunkSize >= 1)) throw new Error(`chunkSize must be >= 1, got ${opts.chunkSize}`);
  const batch = z.shape[0];
  let data: Float32Array | null = null;
  let channels = 0;
  for (let start = 0; start < total; start += opts.chunkSize) {
    const count = Math.min(opts.chunkSize, total - start);
    const { queries, queryMask } = opts.makeChunk(start, count);
    let out = decodeQueries(gpu, z, queries, params, spec, queryMask);
    queries.dispose();
    queryMask?.dispose();
    if (opts.post) {
      const o = opts.post(out, start, count);
      if (o !== out) out.dispose();
      out = o;
    }
    const host = await readF32(out);
    out.dispose();
    channels = out.shape[out.shape.length - 1];
    data ??= new Float32Array(batch * total * channels);
    for (let b = 0; b < batch; b++) {
      data.set(host.subarray(b * count * channels, (b + 1) * count * channels), (b * total + start) * channels);
    }
    opts.onProgress?.(start + count, total);
  }
  return { data: data ?? new Float32Array(0), channels };
}
