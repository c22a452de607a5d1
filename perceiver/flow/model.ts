// The released optical-flow Perceiver IO (PERCEIVER_IO.md §8.3 "Flow", the
// optical-flow colab), one 368x496 tile at a time:
//
//   frames [2, h, w, 3] in [-1, 1]
//   patches   = patches_for_flow: per frame 3x3 patches (zero pad 1, channel
//               order (ph, pw, c)), frame 0's 27 then frame 1's  -> [h*w, 54]
//   inputs    = concat(patches @ patches_linear (54 -> 64),
//                      Fourier features of the (h, w) grid: 64 bands,
//                      max_resolution (368, 496), [pos, sin, cos])   -> [h*w, 322]
//   z         = perceiver_encoder(inputs): 2048 x 512 latents, one 1-head
//               cross-attend (qk = v = 322), 24 self-attends (16 heads)
//   flow      = flow_decoder(queries = inputs, z): 1-head cross-attend
//               (qk = v = 512, no query residual), output linear 322 -> 2,
//               divided by 100 (rescale_factor), then multiplied by 20 (the
//               colab's FLOW_SCALE_FACTOR): pixels, channel 0 horizontal.
//
// A tile has 182,528 tokens x 322 channels (235 MB in float32), more than one
// storage binding on some adapters (128 MiB on lavapipe), so nothing here
// holds the whole input array at once:
//
//  - Encoder (`encodeTile`, run once per tile). The cross-attention reads
//    the inputs only through LN_1(inputs) (keys and values). Built slice by
//    slice (patches_linear + Fourier features for a token range, concat,
//    layer norm) into one [N, 322] buffer that is bound in windows, then the
//    shared encoder (perceiver/encoder.ts) runs on it. With one head (the
//    released model) perceiver/layers.ts `attend` folds the key and value
//    projections into the latent side instead of applying them to 182,528
//    tokens (2 x 37.8 GFLOP saved per tile); the fused attention kernel
//    slices the keys over bindings and splits them over workgroups. Peak
//    memory: the [N, 322] buffer (235 MB), the tile's patches (39 MB) and
//    one slice's temporaries.
//  - Decoder (`decodeTile`). Queries are independent given z: they are built
//    on the fly per chunk (patch rows + Fourier features for that chunk's
//    tokens, contiguous or any subset) and decoded with the project's one
//    chunked decoder (perceiver/decoder.ts decodeInChunks).
//
// `flowForwardUnsliced` is the plain composition (full inputs, encoder.ts's
// encode, one decodeQueries call): the reference for tests on small models.

import { empty, upload, readF32, type Gpu, type Tensor } from '../../engine/index.ts';
import { patchesForFlow } from '../../kernels/patches.ts';
import { fourierFeatures } from '../../kernels/fourier.ts';
import { concat } from '../../kernels/concat.ts';
import { gather } from '../../kernels/elementwise.ts';
import { bindingLimit } from '../../kernels/slicing.ts';
import type { FlowConfig } from '../config.ts';
import { encode } from '../encoder.ts';
import { decodeQueries, decodeInChunks, type DecoderSpec } from '../decoder.ts';
import { linear, norm, type AttentionTap, type Params } from '../layers.ts';
import { flowInputChannels } from './params.ts';

export const PATCHES_LINEAR = 'image_preprocessor/patches_linear';
export const DECODER_SCOPE = 'flow_decoder/~/basic_decoder';
/** 2 frames x 3 x 3 patch x RGB */
export const PATCH_CHANNELS = 54;

export function flowDecoder(cfg: FlowConfig): DecoderSpec {
  return { scope: DECODER_SCOPE, heads: cfg.decoderHeads, queryResidual: false, finalProject: true };
}

/** Tokens per encoder slice / decoder chunk: what fits one binding at this width, capped. */
export function tokensPerSlice(gpu: Gpu, channels: number, cap: number): number {
  const room = bindingLimit(gpu) - gpu.limits.minStorageBufferOffsetAlignment;
  return Math.max(1, Math.min(cap, Math.floor(room / (channels * 4))));
}

export interface SliceOptions {
  /** encoder tokens per slice (default 32768, lowered to fit a binding) */
  sliceTokens?: number;
  /** decoder queries per chunk (default 16384, lowered to fit a binding) */
  chunkSize?: number;
  onProgress?(stage: 'encode' | 'decode', done: number, total: number): void;
  /** shown each tile's encoder cross-attention operands (attention maps: perceiver/attention_maps.ts) */
  attentionTap?: AttentionTap;
}

const DEFAULT_SLICE = 32768;
const DEFAULT_CHUNK = 16384;

/** Frame pair(s) [B, 2, h, w, 3] -> patch features [B*h*w, 54] (patches_for_flow + space_to_depth). */
export function flowPatches(gpu: Gpu, frames: Tensor): Tensor {
  const p = patchesForFlow(gpu, frames); // checks [B, 2, H, W, C]; encodeTile checks C = 3 through the width
  return p.transfer([p.size / PATCH_CHANNELS, PATCH_CHANNELS]);
}

/** Preprocessed inputs of given patch rows [n, 54] with their Fourier features [n, 258] -> [n, 322]. */
function assemble(gpu: Gpu, patchRows: Tensor, pos: Tensor, params: Params): Tensor {
  const feats = linear(gpu, patchRows, params.scope(PATCHES_LINEAR));
  const x = concat(gpu, [feats, pos]);
  feats.dispose();
  return x.transfer([x.shape[1], x.shape[2]]);
}

function fourier(cfg: FlowConfig, dims: readonly [number, number]) {
  return { dims: [dims[0], dims[1]], bands: cfg.fourierBands, maxResolution: [cfg.trainSize[0], cfg.trainSize[1]] };
}

/** Inputs for tokens [start, start + count) of one tile (patches [h*w, 54]) -> [count, 322]. */
export function flowInputsRange(gpu: Gpu, patches: Tensor, params: Params, cfg: FlowConfig, dims: readonly [number, number], start: number, count: number): Tensor {
  const pos = fourierFeatures(gpu, { ...fourier(cfg, dims), first: start, count });
  const x = assemble(gpu, patches.rows(start, start + count), pos, params);
  pos.dispose();
  return x;
}

/** Inputs for the tokens at tile-local indices (i32 [n]) -> [n, 322]. */
export function flowInputsAt(gpu: Gpu, patches: Tensor, params: Params, cfg: FlowConfig, dims: readonly [number, number], indices: Tensor): Tensor {
  const rows = gather(gpu, patches, indices);
  const pos = fourierFeatures(gpu, { ...fourier(cfg, dims), indices });
  const x = assemble(gpu, rows, pos, params);
  rows.dispose();
  pos.dispose();
  return x;
}

/** Buffers reused across tiles and frame pairs (the GPU side of a video session). */
export class FlowWorkspace {
  private tensors = new Map<string, Tensor>();

  constructor(readonly gpu: Gpu) {}

  /** The tensor kept under `key` (reallocated when the shape changes); callers overwrite its contents. */
  get(key: string, shape: readonly number[]): Tensor {
    const t = this.tensors.get(key);
    if (t && t.shape.join(',') === shape.join(',')) return t;
    t?.dispose();
    const n = empty(this.gpu, shape);
    this.tensors.set(key, n);
    return n;
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
    this.tensors.clear();
  }
}

/**
 * The encoder on one tile, with the inputs built slice by slice:
 * patches [N, 54] of a tile of `dims` -> latents z [1, L, D].
 */
export function encodeTile(gpu: Gpu, patches: Tensor, params: Params, cfg: FlowConfig, dims: readonly [number, number], opts: SliceOptions = {}, ws?: FlowWorkspace): Tensor {
  const N = dims[0] * dims[1];
  if (patches.shape.length !== 2 || patches.shape[0] !== N || patches.shape[1] !== PATCH_CHANNELS) {
    throw new Error(`encodeTile: patches must be [${N}, ${PATCH_CHANNELS}] for a ${dims[0]}x${dims[1]} tile, got ${patches}`);
  }
  const e = cfg.encoder;
  const C = flowInputChannels(cfg);
  const p = params.scope(e.scope);
  const ca = p.scope('~/cross_attention');

  // LN_1(inputs), slice by slice, into one [N, C] buffer.
  const kv = ws ? ws.get('encoder-kv', [N, C]) : empty(gpu, [N, C]);
  const slice = tokensPerSlice(gpu, C, opts.sliceTokens ?? DEFAULT_SLICE);
  for (let s = 0; s < N; s += slice) {
    const n = Math.min(slice, N - s);
    const x = flowInputsRange(gpu, patches, params, cfg, dims, s, n);
    const ln = norm(gpu, x, ca.scope('layer_norm_1'));
    gpu.copy(ln, kv.rows(s, s + n));
    x.dispose();
    ln.dispose();
    opts.onProgress?.('encode', s + n, N);
  }
  const z = encode(gpu, kv.reshape([1, N, C]), params, e, { inputsNormalized: true, attentionTap: opts.attentionTap });
  if (!ws) kv.dispose();
  return z;
}

/** raw decoder output -> pixels: / rescale_factor (in the model), x flowScale (the colab), in float32. */
export function toPixels(raw: Float32Array, cfg: FlowConfig): Float32Array {
  const out = new Float32Array(raw.length);
  const f32 = Math.fround;
  for (let i = 0; i < raw.length; i++) out[i] = f32(f32(raw[i] / cfg.rescaleFactor) * cfg.flowScale);
  return out;
}

/**
 * The decoder on one tile: flow in pixels [n, 2] for the tile-local tokens
 * `indices` (default all h*w, in order), queries built per chunk.
 */
export async function decodeTile(gpu: Gpu, z: Tensor, patches: Tensor, params: Params, cfg: FlowConfig, dims: readonly [number, number], indices?: Uint32Array, opts: SliceOptions = {}): Promise<Float32Array> {
  const N = dims[0] * dims[1];
  const total = indices ? indices.length : N;
  if (indices) for (const i of indices) if (i >= N) throw new Error(`decodeTile: pixel ${i} outside the ${dims[0]}x${dims[1]} tile`);
  const C = flowInputChannels(cfg);
  const { data } = await decodeInChunks(gpu, z, total, params, flowDecoder(cfg), {
    chunkSize: tokensPerSlice(gpu, C, opts.chunkSize ?? DEFAULT_CHUNK),
    makeChunk(start, count) {
      let x: Tensor;
      if (indices) {
        const ids = upload(gpu, new Int32Array(indices.subarray(start, start + count)), [count], 'i32');
        x = flowInputsAt(gpu, patches, params, cfg, dims, ids);
        ids.dispose();
      } else {
        x = flowInputsRange(gpu, patches, params, cfg, dims, start, count);
      }
      return { queries: x.transfer([1, count, C]) };
    },
    onProgress: opts.onProgress && ((done, all) => opts.onProgress!('decode', done, all)),
  });
  return toPixels(data, cfg);
}

/** Encoder + decoder on one tile given as a GPU frame pair [1, 2, h, w, 3]: flow [n, 2] in pixels. */
export async function flowTile(gpu: Gpu, frames: Tensor, params: Params, cfg: FlowConfig, indices?: Uint32Array, opts: SliceOptions = {}, ws?: FlowWorkspace): Promise<Float32Array> {
  if (frames.shape.length !== 5 || frames.shape[0] !== 1 || frames.shape[4] !== 3) throw new Error(`flowTile: frames must be [1, 2, H, W, 3], got ${frames}`);
  const dims: [number, number] = [frames.shape[2], frames.shape[3]];
  const patches = flowPatches(gpu, frames);
  const z = encodeTile(gpu, patches, params, cfg, dims, opts, ws);
  try {
    return await decodeTile(gpu, z, patches, params, cfg, dims, indices, opts);
  } finally {
    z.dispose();
    patches.dispose();
  }
}

/**
 * Reference composition without any slicing: frames [B, 2, h, w, 3] ->
 * flow in pixels [B, h, w, 2] (host). Only for inputs that fit one binding.
 */
export async function flowForwardUnsliced(gpu: Gpu, frames: Tensor, params: Params, cfg: FlowConfig): Promise<Float32Array> {
  const [B, , h, w] = frames.shape;
  const patches = flowPatches(gpu, frames);
  const feats = linear(gpu, patches.reshape([B, h * w, PATCH_CHANNELS]), params.scope(PATCHES_LINEAR));
  patches.dispose();
  const pos = fourierFeatures(gpu, fourier(cfg, [h, w]));
  const inputs = concat(gpu, [feats, pos]);
  feats.dispose();
  pos.dispose();
  const z = encode(gpu, inputs, params, cfg.encoder);
  const raw = decodeQueries(gpu, z, inputs, params, flowDecoder(cfg));
  z.dispose();
  inputs.dispose();
  const host = await readF32(raw);
  raw.dispose();
  return toPixels(host, cfg);
}
