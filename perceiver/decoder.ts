// BasicDecoder: output queries cross-attend into the latents, then an
// optional final projection. Queries are independent given the latents, so
// any subset can be decoded, in chunks, with the encoder run once: this file
// is the project's one chunked decoder.

import type { Gpu, Tensor } from '../engine/index.ts';
import { empty, readF32 } from '../engine/index.ts';
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
  /**
   * Called as the GPU finishes each chunk (queries done so far, and in all).
   * With it each chunk is submitted when recorded, so the queue reports it;
   * the host still never waits between chunks.
   */
  onProgress?(done: number, total: number): void;
}

/**
 * Decodes `total` queries in chunks and reads them back once, as
 * Float32Array [B, total, C]. Every chunk is recorded before the host waits:
 * its output is copied into one tensor [B, total, C], its intermediates go
 * back to the pool at once and later chunks reuse them in stream order, so
 * peak GPU memory is bounded by the chunk size (plus the output itself).
 */
export async function decodeInChunks(gpu: Gpu, z: Tensor, total: number, params: Params, spec: DecoderSpec, opts: ChunkedDecodeOptions): Promise<{ data: Float32Array; channels: number }> {
  if (!(opts.chunkSize >= 1)) throw new Error(`chunkSize must be >= 1, got ${opts.chunkSize}`);
  const batch = z.shape[0];
  let out: Tensor | null = null;
  const reports: Promise<void>[] = [];
  try {
    for (let start = 0; start < total; start += opts.chunkSize) {
      const count = Math.min(opts.chunkSize, total - start);
      const { queries, queryMask } = opts.makeChunk(start, count);
      let y = decodeQueries(gpu, z, queries, params, spec, queryMask);
      queries.dispose();
      queryMask?.dispose();
      if (opts.post) {
        const o = opts.post(y, start, count);
        if (o !== y) y.dispose();
        y = o;
      }
      const channels = y.shape[y.shape.length - 1];
      out ??= empty(gpu, [batch, total, channels]);
      const rowsOut = out.reshape([batch * total, channels]), rowsY = y.reshape([batch * count, channels]);
      for (let b = 0; b < batch; b++) gpu.copy(rowsY.rows(b * count, (b + 1) * count), rowsOut.rows(b * total + start, b * total + start + count));
      y.dispose();
      if (opts.onProgress) {
        const done = start + count, report = opts.onProgress;
        gpu.submit();
        reports.push(gpu.device.queue.onSubmittedWorkDone().then(() => report(done, total)));
      }
    }
    if (!out) return { data: new Float32Array(0), channels: 0 };
    const data = await readF32(out);
    await Promise.all(reports);
    return { data, channels: out.shape[2] };
  } finally {
    out?.dispose();
    Promise.all(reports).catch(() => {}); // awaited above; after a failed read a throwing onProgress must not go unhandled
  }
}
