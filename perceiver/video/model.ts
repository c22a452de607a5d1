// The released Kinetics-700 multimodal autoencoder (PERCEIVER_IO.md §8.3
// "Video", the video autoencoding colab), exactly as DeepMind's code builds
// it, with the encoder run once per 16-frame window and any subset of the
// outputs decoded in bounded slices.
//
// Input adapter (multimodal_preprocessor, modalities in sorted order):
//   audio  [B, S, 1] in [-1, 1] -> patches of 16 samples [B, S/16, 16]
//          ++ 1-D Fourier features (192 bands, max_resolution (30720,), the
//          linspace grid over the S/16 patches)              -> 16 + 385 = 401
//   image  [B, T, H, W, 3] in [0, 1] -> 4x4 space-to-depth [B, T*H/4*W/4, 48]
//          (channel order (dh, dw, c); data movement, done on the host while
//          the frames are there, preprocess.ts) ++ 3-D Fourier features (32 bands,
//          max_resolution (16, 56, 56), the linspace grid over (T, H/4, W/4))
//                                                            -> 48 + 195 = 243
//   label  a [B, 700] one-hot, always replaced by its mask token (mask
//          probability 1; image and audio have probability 0, which leaves
//          them unchanged), so the label input is label_mask_token itself
//   each padded with its trainable `{m}_padding` to max width + 4 = 704, then
//   stacked along tokens: audio (S/16), image (T*H*W/16), label (1).
// Encoder: 784 latents x 512, one 1-head cross-attend (qk = v = 704), 8
//   self-attends (8 heads), num_blocks 1 (PerceiverEncoder, scope 'encoder').
// Decoder queries (multimodal_decoder/~decoder_query), for query points given
//   as flat indices (the colab always subsamples):
//   audio  1-D Fourier features (192 bands, max_resolution (30720,)) at the
//          FRACTIONAL positions -1 + 2i/N of the N = S/16 patches  -> 385
//   image  3-D Fourier features (32 bands, max_resolution (16, 56, 56): sized
//          for 56x56 but evaluated on the full-resolution T x H x W grid) at
//          -1 + 2i/N per axis                                         -> 195
//   label  the trainable classification query [1, 1024]              -> 1024
//   each padded with its trainable padding to max width + 2 = 1026.
// One shared basic_decoder (1-head cross-attention onto the latents, no query
// residual, output linear 1026 -> 512), then the postprocessors: audio
// 512 -> 16 samples per patch, image 512 -> 3 colours (projection), label
// 512 -> 700 logits.
//
// Every decoder query is independent given the latents (its layer norms, its
// attention row and its MLP see only itself), so decoding any subset, in any
// grouping, gives the same values as the colab's 128 chunks of
// {audio 15, image 6272, label} queries: this file decodes each modality in
// slices through the project's chunked decoder (perceiver/decoder.ts).
//
// Projections. By default the decoder's output linear and each modality's
// postprocessor linear (no nonlinearity between them) run as one fused
// linear, W = W_out W_post, b = b_out W_post + b_post, computed once on the
// GPU: 1026 -> 3 instead of 1026 -> 512 -> 3 for the image queries (about 12%
// of the decoder's FLOPs). It is the same affine map evaluated in another
// order (float32 rounding differences near 1e-6 relative);
// `projection: 'exact'` runs the two linears as the original does.
//
// Encoder cross-attention. The latents (784) attend to 52,097 tokens of 704
// channels with one head: the shared encoder (perceiver/encoder.ts) folds the
// key and value projections into the latent side there (perceiver/layers.ts
// `attend`), about half the encoder's FLOPs at the released widths.

import type { Gpu } from '../../engine/index.ts';
import { Tensor, empty, upload } from '../../engine/index.ts';
import { fourierFeatures, type FourierOptions } from '../../kernels/fourier.ts';
import { concat } from '../../kernels/concat.ts';
import { matmul } from '../../kernels/matmul.ts';
import type { MultimodalConfig } from '../config.ts';
import { multimodalWidths } from './params.ts';
import { spaceToDepth } from './preprocess.ts';
import { encode, type EncodeOptions } from '../encoder.ts';
import { decodeInChunks, type DecoderSpec } from '../decoder.ts';
import { linear, Params } from '../layers.ts';

/** The modalities in Haiku's (sorted) order: the order of the encoder's tokens. */
export type Modality = 'audio' | 'image' | 'label';
export const MODALITIES: readonly Modality[] = ['audio', 'image', 'label'];

export const PREPROCESSOR = 'multimodal_preprocessor';
export const DECODER_QUERY = 'multimodal_decoder/~decoder_query';
export const DECODER_SCOPE = 'multimodal_decoder/~/basic_decoder';
/** Weights matmul reads as its left operand (the fused projection), which must stay f32 when a file keeps f16 weights (perceiver/load.ts). */
export const LEFT_OPERAND_WEIGHTS = [`${DECODER_SCOPE}/output/w`];
export const LABEL_QUERY = 'classification_decoder/~/basic_decoder/~/trainable_position_encoding/pos_embs';
/** The postprocessor of each modality (an hk.Linear). */
export const POSTPROCESSORS: Record<Modality, string> = {
  audio: 'audio_postprocessor/linear',
  image: 'projection_postprocessor/linear',
  label: 'classification_postprocessor/linear',
};

/**
 * Parameters of the released checkpoint that inference provably never reads:
 * the image and audio mask tokens (mask probability 0 leaves those inputs
 * as they are) and the label padding (the label input, probability 1, is
 * replaced by its whole 704-wide mask token). A converted file still holds
 * them (the converter maps the checkpoint with nothing left over).
 */
export const UNUSED_AT_INFERENCE: readonly string[] = [
  `${PREPROCESSOR}/audio_mask_token/pos_embs`,
  `${PREPROCESSOR}/image_mask_token/pos_embs`,
  `${PREPROCESSOR}/label_padding/pos_embs`,
];

/** The space-time extent of one window. The released model: 16 x 224 x 224 frames, 30,720 samples. */
export interface WindowGeometry {
  frames: number;
  height: number;
  width: number;
  /** mono samples (48 kHz, 1,920 per frame in the release) */
  audioSamples: number;
}

export function releasedGeometry(cfg: MultimodalConfig): WindowGeometry {
  return { frames: cfg.numFrames, height: cfg.imageSize, width: cfg.imageSize, audioSamples: cfg.numFrames * cfg.audioSamplesPerFrame };
}

/** Decoder queries of a window per modality: one per audio patch, one per pixel, one label. */
export function queryCounts(cfg: MultimodalConfig, g: WindowGeometry): Record<Modality, number> {
  return { audio: g.audioSamples / cfg.samplesPerPatch, image: g.frames * g.height * g.width, label: 1 };
}

export function checkGeometry(cfg: MultimodalConfig, g: WindowGeometry): void {
  const s = cfg.spaceToDepth;
  const bad = [g.frames, g.height, g.width, g.audioSamples].some((v) => !Number.isInteger(v) || v < 1);
  if (bad || g.height % s || g.width % s || g.audioSamples % cfg.samplesPerPatch) {
    throw new Error(
      `multimodal-autoencoder: a window needs positive integer sizes with height and width multiples of ${s} and audio samples a multiple of ${cfg.samplesPerPatch}; got ${JSON.stringify(g)}`,
    );
  }
}

/** max_resolution of the audio Fourier features: the released window's sample count (30,720), whatever the grid. */
function audioMaxResolution(cfg: MultimodalConfig): number[] {
  return [cfg.numFrames * cfg.audioSamplesPerFrame];
}

/** A trainable [1, C] vector (padding, mask token) as a [C] part for concat's broadcasting. */
function vector(p: Params, name: string): Tensor {
  const t = p.get(name);
  return t.reshape([t.size]);
}

/** Stacks [B, Ni, C] parts along rows (buffer copies). */
export function stackRows(gpu: Gpu, parts: Tensor[]): Tensor {
  const [B, , C] = parts[0].shape;
  const N = parts.reduce((a, p) => a + p.shape[1], 0);
  const out = empty(gpu, [B, N, C]);
  for (let b = 0; b < B; b++) {
    let row = 0;
    for (const p of parts) {
      if (p.shape[0] !== B || p.shape[2] !== C) throw new Error(`stackRows: ${p} does not match [${B}, *, ${C}]`);
      const n = p.shape[1];
      const bytes = n * C * 4;
      if (bytes > 0) {
        const src = new Tensor(gpu, p.buffer, [n * C], 'f32', p.byteOffset + b * bytes, false);
        const dst = new Tensor(gpu, out.buffer, [n * C], 'f32', out.byteOffset + (b * N + row) * C * 4, false);
        gpu.copy(src, dst, bytes);
      }
      row += n;
    }
  }
  return out;
}

/**
 * The encoder inputs of a window (batch 1): frames float32 [T, H, W, 3] in
 * [0, 1] and mono audio float32 [S] in [-1, 1], on the host, ->
 * [1, S/16 + T*H*W/16 + 1, 704] on the GPU.
 */
export function multimodalInputs(gpu: Gpu, frames: Float32Array, audio: Float32Array, g: WindowGeometry, params: Params, cfg: MultimodalConfig): Tensor {
  checkGeometry(cfg, g);
  const { frames: T, height: H, width: W, audioSamples: S } = g;
  if (frames.length !== T * H * W * 3 || audio.length !== S) {
    throw new Error(`multimodal-autoencoder: a ${T}x${H}x${W} window with ${S} audio samples needs ${T * H * W * 3} frame values and ${S} samples, got ${frames.length} and ${audio.length}`);
  }
  const pre = params.scope(PREPROCESSOR);
  const spp = cfg.samplesPerPatch;
  const s = cfg.spaceToDepth;
  const parts: Tensor[] = [];
  const withFeatures = (x: Float32Array, width: number, dims: number[], bands: number, maxResolution: number[], padding: string) => {
    const n = x.length / width;
    const t = upload(gpu, x, [1, n, width]);
    const pos = fourierFeatures(gpu, { dims, bands, maxResolution });
    parts.push(concat(gpu, [t, pos, vector(pre, padding)]));
    t.dispose();
    pos.dispose();
  };
  // audio: 16-sample patches ++ 1-D Fourier features ++ padding
  withFeatures(audio, spp, [S / spp], cfg.audioBands, audioMaxResolution(cfg), 'audio_padding/pos_embs');
  // image: 4x4 space-to-depth patches ++ 3-D Fourier features ++ padding
  withFeatures(spaceToDepth(frames, T, H, W, s), s * s * 3, [T, H / s, W / s], cfg.imageBands, cfg.imageMaxResolution, 'image_padding/pos_embs');
  // label: masked with probability 1, so the input is the mask token.
  parts.push(concat(gpu, [pre.get('label_mask_token/pos_embs')], 1));

  const out = stackRows(gpu, parts);
  parts.forEach((p) => p.dispose());
  return out;
}

/** The multimodal decoder's shared BasicDecoder. */
export function multimodalDecoder(cfg: MultimodalConfig, finalProject = true): DecoderSpec {
  return { scope: DECODER_SCOPE, heads: cfg.decoderHeads, queryResidual: false, finalProject };
}

/** Query points of one modality: a contiguous range of flat indices, or explicit indices (u32 [n]). */
export type QueryPoints = { first: number; count: number } | { indices: Tensor };

/** Decoder queries [1, n, 1026] of one modality at the given points (the label has one query). */
export function modalityQueries(gpu: Gpu, params: Params, cfg: MultimodalConfig, g: WindowGeometry, m: Modality, points: QueryPoints): Tensor {
  const q = params.scope(DECODER_QUERY);
  if (m === 'label') {
    return concat(gpu, [params.get(LABEL_QUERY), q.get('label_padding/pos_embs')], 1);
  }
  const sel = 'indices' in points ? { indices: points.indices } : { first: points.first, count: points.count };
  const o: FourierOptions =
    m === 'audio'
      ? { dims: [g.audioSamples / cfg.samplesPerPatch], bands: cfg.audioBands, maxResolution: audioMaxResolution(cfg), grid: 'fractional', ...sel }
      : { dims: [g.frames, g.height, g.width], bands: cfg.imageBands, maxResolution: cfg.imageMaxResolution, grid: 'fractional', ...sel };
  const pos = fourierFeatures(gpu, o);
  const out = concat(gpu, [pos, vector(q, `${m}_padding/pos_embs`)], 1);
  pos.dispose();
  return out;
}

export type ProjectionMode = 'fused' | 'exact';

/** Which outputs to decode: sorted, unique flat indices per modality (null: none). */
export interface QuerySelection {
  /** pixel indices (t * H + y) * W + x */
  image: Uint32Array | null;
  /** audio patch indices (patch p holds samples 16p .. 16p + 15) */
  audio: Uint32Array | null;
  label: boolean;
}

export interface DecodeOptions {
  /** queries per slice (bounds GPU memory); default `defaultChunkSize(gpu)` */
  chunkSize?: number;
  projection?: ProjectionMode;
  onProgress?(done: number, total: number): void;
}

export interface DecodedOutputs {
  /** [700] logits, or null */
  label: Float32Array | null;
  /** [n, 3] colours at selection.image, or null */
  image: Float32Array | null;
  /** [n, 16] samples of the patches selection.audio, or null */
  audio: Float32Array | null;
}

/**
 * Default queries per slice: on a software adapter 4,096 (small enough for
 * progress reports); on a GPU as many as keep the slice near
 * maxStorageBufferBindingSize per tensor (~32k at the released widths).
 */
export function defaultChunkSize(gpu: Gpu, cfg: MultimodalConfig): number {
  if (gpu.features.emulated) return 4096;
  const w = multimodalWidths(cfg).queryWidth;
  const rows = Math.floor(gpu.limits.maxStorageBufferBindingSize / (4 * w));
  return Math.max(1024, Math.min(65536, rows - (rows % 1024)));
}

/** True when `a` is strictly increasing (sorted, unique) and below `limit`. */
function checkSorted(name: string, a: Uint32Array, limit: number): void {
  for (let i = 0; i < a.length; i++) {
    if (a[i] >= limit) throw new Error(`multimodal-autoencoder: ${name} index ${a[i]} outside [0, ${limit})`);
    if (i > 0 && a[i] <= a[i - 1]) throw new Error(`multimodal-autoencoder: ${name} indices must be sorted and unique`);
  }
}

/**
 * The model of one preset instance: weights, config and the fused projections
 * (made on first use). B = 1 throughout (one window at a time, as the colab).
 */
export class MultimodalAutoencoderModel {
  readonly params: Params;
  private fused = new Map<Modality, { w: Tensor; b: Tensor }>();

  constructor(readonly gpu: Gpu, readonly config: MultimodalConfig, weights: ReadonlyMap<string, Tensor>) {
    if (config.preset !== 'multimodal-autoencoder') throw new Error(`MultimodalAutoencoderModel needs the multimodal-autoencoder preset, got ${config.preset}`);
    this.params = new Params(weights);
  }

  /**
   * Encodes one window: frames float32 [T, H, W, 3] in [0, 1], mono audio
   * float32 [S] in [-1, 1] (the released window by default: 16 x 224 x 224,
   * 30,720 samples) -> latents z [1, 784, 512] (the encoder runs once; keep
   * z to decode any subset).
   */
  encode(frames: Float32Array, audio: Float32Array, g: WindowGeometry = releasedGeometry(this.config), opts: Pick<EncodeOptions, 'attentionTap'> = {}): Tensor {
    const inputs = multimodalInputs(this.gpu, frames, audio, g, this.params, this.config);
    const z = encode(this.gpu, inputs, this.params, this.config.encoder, opts);
    inputs.dispose();
    return z;
  }

  /** The fused decoder-output + postprocessor linear of a modality: w [1026, c], b [c] (see LEFT_OPERAND_WEIGHTS). */
  fusedProjection(m: Modality): { w: Tensor; b: Tensor } {
    let f = this.fused.get(m);
    if (!f) {
      const out = this.params.scope(DECODER_SCOPE).scope('output');
      const post = this.params.scope(POSTPROCESSORS[m]);
      const w = matmul(this.gpu, out.get('w'), post.get('w'));
      const bOut = out.get('b');
      const b = matmul(this.gpu, bOut.reshape([1, bOut.size]), post.get('w'), { bias: post.get('b') });
      f = { w, b: b.transfer([b.size]) };
      this.fused.set(m, f);
    }
    return f;
  }

  /** Decoder output rows [1, n, 1026] (projection 'fused') or [1, n, 512] ('exact') -> the modality's outputs [1, n, c]. */
  private project(m: Modality, x: Tensor, mode: ProjectionMode): Tensor {
    if (mode === 'exact') return linear(this.gpu, x, this.params.scope(POSTPROCESSORS[m]));
    const { w, b } = this.fusedProjection(m);
    return matmul(this.gpu, x, w, { bias: b });
  }

  /**
   * Decodes the selected outputs of an encoded window (z from `encode`) in
   * slices of at most `chunkSize` queries per modality, each modality
   * recorded whole before the host waits for it. Peak GPU memory is bounded by the slice size and
   * the outputs themselves (3 floats per pixel, 16 per audio patch), not by
   * the selection's intermediates.
   */
  async decode(z: Tensor, g: WindowGeometry, sel: QuerySelection, opts: DecodeOptions = {}): Promise<DecodedOutputs> {
    checkGeometry(this.config, g);
    const counts = queryCounts(this.config, g);
    const mode = opts.projection ?? 'fused';
    const chunkSize = opts.chunkSize ?? defaultChunkSize(this.gpu, this.config);
    if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new Error(`multimodal-autoencoder: chunkSize must be a positive integer, got ${chunkSize}`);
    const spec = multimodalDecoder(this.config, mode === 'exact');
    const total = (sel.image?.length ?? 0) + (sel.audio?.length ?? 0) + (sel.label ? 1 : 0);
    let done = 0;
    const run = async (m: Modality, indices: Uint32Array | null): Promise<Float32Array | null> => {
      const n = m === 'label' ? 1 : indices!.length;
      if (m !== 'label') checkSorted(m, indices!, counts[m]);
      if (n === 0) return new Float32Array(0);
      const before = done;
      done += n;
      const { data } = await decodeInChunks(this.gpu, z, n, this.params, spec, {
        chunkSize,
        makeChunk: (start, count) => {
          if (m === 'label') return { queries: modalityQueries(this.gpu, this.params, this.config, g, m, { first: 0, count: 1 }) };
          const first = indices![start];
          // Sorted and unique: a run is contiguous when its ends are count - 1 apart.
          if (indices![start + count - 1] - first === count - 1) {
            return { queries: modalityQueries(this.gpu, this.params, this.config, g, m, { first, count }) };
          }
          const ids = upload(this.gpu, indices!.subarray(start, start + count), [count], 'u32');
          const queries = modalityQueries(this.gpu, this.params, this.config, g, m, { indices: ids });
          ids.dispose();
          return { queries };
        },
        post: (out) => this.project(m, out, mode),
        onProgress: opts.onProgress && ((d) => opts.onProgress!(before + d, total)),
      });
      return data;
    };
    const audio = sel.audio ? await run('audio', sel.audio) : null;
    const image = sel.image ? await run('image', sel.image) : null;
    const label = sel.label ? await run('label', null) : null;
    return { label, image, audio };
  }

  dispose(): void {
    for (const f of this.fused.values()) {
      f.w.dispose();
      f.b.dispose();
    }
    this.fused.clear();
  }
}

// ---- selections -----------------------------------------------------------

/** All indices [0, n). */
export function allIndices(n: number): Uint32Array {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}

/** Pixel indices of whole frames (sorted, unique). */
export function frameIndices(g: WindowGeometry, frames: Iterable<number>): Uint32Array {
  const list = [...new Set(frames)].sort((a, b) => a - b);
  for (const f of list) if (!Number.isInteger(f) || f < 0 || f >= g.frames) throw new Error(`frame ${f} outside [0, ${g.frames})`);
  const per = g.height * g.width;
  const out = new Uint32Array(list.length * per);
  list.forEach((f, k) => {
    for (let i = 0; i < per; i++) out[k * per + i] = f * per + i;
  });
  return out;
}

export interface PixelRect {
  /** frames [frameStart, frameEnd) (default: all) */
  frameStart?: number;
  frameEnd?: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Pixel indices of a rectangle in a range of frames (sorted, unique). */
export function rectIndices(g: WindowGeometry, r: PixelRect): Uint32Array {
  const f0 = r.frameStart ?? 0, f1 = r.frameEnd ?? g.frames;
  const ok = [f0, f1, r.x, r.y, r.width, r.height].every(Number.isInteger) && 0 <= f0 && f0 <= f1 && f1 <= g.frames &&
    r.x >= 0 && r.y >= 0 && r.width >= 0 && r.height >= 0 && r.x + r.width <= g.width && r.y + r.height <= g.height;
  if (!ok) throw new Error(`rectangle ${JSON.stringify(r)} outside the ${g.frames} x ${g.height} x ${g.width} window`);
  const out = new Uint32Array((f1 - f0) * r.width * r.height);
  let k = 0;
  for (let f = f0; f < f1; f++) {
    for (let y = r.y; y < r.y + r.height; y++) {
      const base = (f * g.height + y) * g.width;
      for (let x = r.x; x < r.x + r.width; x++) out[k++] = base + x;
    }
  }
  return out;
}

/** Audio patch indices covering samples [start, end) (whole 16-sample patches). */
export function audioPatchIndices(cfg: MultimodalConfig, g: WindowGeometry, start = 0, end = g.audioSamples): Uint32Array {
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= g.audioSamples)) {
    throw new Error(`audio samples [${start}, ${end}) outside [0, ${g.audioSamples})`);
  }
  const p0 = Math.floor(start / cfg.samplesPerPatch), p1 = Math.ceil(end / cfg.samplesPerPatch);
  const out = new Uint32Array(p1 - p0);
  for (let i = 0; i < out.length; i++) out[i] = p0 + i;
  return out;
}

/**
 * Scatters decoded colours [n, 3] at pixel indices into a full window
 * [T, H, W, 3] (NaN where nothing was decoded).
 */
export function scatterImage(g: WindowGeometry, indices: Uint32Array, rgb: Float32Array, into?: Float32Array): Float32Array {
  const out = into ?? new Float32Array(g.frames * g.height * g.width * 3).fill(NaN);
  for (let i = 0; i < indices.length; i++) {
    const d = indices[i] * 3;
    out[d] = rgb[i * 3];
    out[d + 1] = rgb[i * 3 + 1];
    out[d + 2] = rgb[i * 3 + 2];
  }
  return out;
}

/** Scatters decoded patches [n, 16] into the window's samples [S] (NaN elsewhere). */
export function scatterAudio(cfg: MultimodalConfig, g: WindowGeometry, patches: Uint32Array, samples: Float32Array, into?: Float32Array): Float32Array {
  const spp = cfg.samplesPerPatch;
  const out = into ?? new Float32Array(g.audioSamples).fill(NaN);
  for (let i = 0; i < patches.length; i++) out.set(samples.subarray(i * spp, (i + 1) * spp), patches[i] * spp);
  return out;
}
