// The video + audio autoencoding pipeline (the colab's, with the encoder run
// once per window):
//
//   frames (browser VideoFrame / ImageBitmap / canvas ..., or RGBA bytes)
//     -> centre square crop, bilinear resize to 224, / 255   (preprocess.ts)
//   mono 48 kHz samples in [-1, 1] (1,920 per frame; none: silence)
//     -> 16-frame windows, the last padded and trimmed back   (windows.ts)
//     -> per window: encode once, decode the label and the requested frames,
//        pixels and audio in bounded slices                    (model.ts)
//     -> reconstructed frames and audio, the top-5 Kinetics-700 labels per
//        window and for the clip, per-window PSNR              (psnr.ts)

import type { Gpu, Tensor } from '../../engine/index.ts';
import { upload } from '../../engine/index.ts';
import { tunePending } from '../../engine/tune.ts';
import { multimodalConfig, type MultimodalConfig } from '../config.ts';
import { loadPreset, finishLoad, storedLabels, type ModelSource, type ModelLoadOptions, type ModelWeights } from '../load.ts';
import type { ImageInput } from '../image.ts';
import { softmax, topK, type TopKEntry } from '../topk.ts';
import {
  MultimodalAutoencoderModel,
  LEFT_OPERAND_WEIGHTS,
  releasedGeometry,
  allIndices,
  frameIndices,
  rectIndices,
  audioPatchIndices,
  scatterImage,
  scatterAudio,
  type WindowGeometry,
  type PixelRect,
  type ProjectionMode,
  type DecodedOutputs,
} from './model.ts';
import { planWindows, windowFrames, windowAudio, type WindowPlan } from './windows.ts';
import { preprocessFrame } from './preprocess.ts';
import { psnr } from './psnr.ts';
import { recorderFor, type AttentionMaps, type VideoAttentionMap } from '../attention_grid.ts';
import type { AttentionTap } from '../layers.ts';
import { multimodalCheckpoint } from './params.ts';
import { checkStored, storedOf } from '../stored.ts';
import { checkFinite, checkLive } from '../guard.ts';

/**
 * The 700 Kinetics class names (./labels.ts), loaded on first use: a dynamic
 * import, so bundlers put the ~5 KB (gzip) list in its own chunk and an app's
 * first load carries only code.
 */
let classes: Promise<readonly string[]> | null = null;
export function kineticsClasses(): Promise<readonly string[]> {
  classes ??= import('./labels.ts').then((m) => m.KINETICS700_CLASSES);
  return classes;
}

/** The model's audio rate: 48 kHz (1,920 samples per frame at 25 fps). */
export const SAMPLE_RATE = 48000;

export interface VideoClip {
  /**
   * Frames: browser images (VideoFrame, ImageBitmap, canvas, ...) or RGBA
   * bytes { width, height, data }, preprocessed as the colab; or frames
   * already at the model's size, float32 [count, 224, 224, 3] in [0, 1].
   */
  frames: ImageInput[] | { data: Float32Array; count: number };
  /** mono samples in [-1, 1] at 48 kHz; null/absent: the clip has no audio (silence is used) */
  audio?: Float32Array | null;
  /** must be 48000 when given */
  sampleRate?: number;
}

/** What to reconstruct of the video, in clip frame coordinates. */
export type FrameSelection = 'all' | 'none' | { frames: number[] } | { rect: PixelRect };

export interface AutoencodeOptions {
  /** frames or pixels to reconstruct (default 'all'); the label is always decoded */
  video?: FrameSelection;
  /** reconstruct the audio (default true) */
  audio?: boolean;
  /** labels to report (default 5) */
  topK?: number;
  /** decoder queries per slice (bounds GPU memory) */
  chunkSize?: number;
  projection?: ProjectionMode;
  onProgress?(p: { window: number; windows: number; done: number; total: number }): void;
  /** also each window's encoder cross-attention maps of these latents (docs/attention-maps.md) */
  attention?: AttentionMaps;
}

export interface WindowResult {
  plan: WindowPlan;
  /** [700] label logits (the label input is always masked) */
  logits: Float32Array;
  labels: TopKEntry[];
  /**
   * dB over the window's real frames / real samples that were decoded:
   * video against the preprocessed input with the reconstruction clipped to
   * [0, 1], peak 1; audio against the input samples, peak 1 (NaN when the
   * clip has no audio or nothing was decoded).
   */
  psnr: { video: number; audio: number };
  seconds: { encode: number; decode: number };
  /** when asked for: per requested latent, its attention over this window's inputs */
  attention?: VideoAttentionMap[];
}

export interface ClipResult {
  frameCount: number;
  size: number;
  /** [frameCount, size, size, 3] reconstructed RGB (unclipped); NaN where not requested */
  frames: Float32Array;
  /** the preprocessed input frames, [frameCount, size, size, 3] in [0, 1] */
  inputFrames: Float32Array;
  /** [frameCount * 1920] reconstructed samples, or null when not requested */
  audio: Float32Array | null;
  /** 'input': the clip's samples were encoded; 'silence': the clip had none, zeros were encoded */
  audioSource: 'input' | 'silence';
  /** samples of silence appended because the clip's audio was shorter than its frames */
  audioPaddedSamples: number;
  /** top-k of the mean over windows of the label probabilities */
  labels: TopKEntry[];
  windows: WindowResult[];
}

/** An encoded window: the latents of one 16-frame window (dispose when done). */
export interface EncodedWindow {
  z: Tensor;
  geometry: WindowGeometry;
  dispose(): void;
}

/** What to decode of one window, in window coordinates. */
export interface WindowRequest {
  /** default true */
  label?: boolean;
  /** 'all', whole frames, a rectangle in a range of frames, explicit pixel indices, or nothing (default) */
  image?: 'all' | { frames: number[] } | { rect: PixelRect } | { indices: Uint32Array } | null;
  /** 'all', samples [start, end) (rounded out to 16-sample patches), or nothing (default) */
  audio?: 'all' | { start: number; end: number } | null;
}

export interface WindowOutputs extends DecodedOutputs {
  /** the pixel indices of `image` ((t * H + y) * W + x) */
  imageIndices: Uint32Array | null;
  /** the audio patch indices of `audio` */
  audioPatches: Uint32Array | null;
}

export class VideoAutoencoder {
  readonly model: MultimodalAutoencoderModel;
  /** The loader's weights, owned by this model (null when built from weights the caller owns). */
  loaded: ModelWeights | null = null;
  readonly geometry: WindowGeometry;

  private disposed = false;

  /**
   * `labels`: numClasses names from the weight file (a HuggingFace config's
   * id2label), used instead of the built-in Kinetics-700 names.
   */
  constructor(readonly gpu: Gpu, readonly config: MultimodalConfig, weights: ReadonlyMap<string, Tensor>, readonly labels: readonly string[] | null = null) {
    checkStored(config.preset, storedOf((b) => multimodalCheckpoint(b, config)), weights);
    this.model = new MultimodalAutoencoderModel(gpu, config, weights);
    this.geometry = releasedGeometry(config);
    this.fuse();
  }

  /**
   * The fused projections, made now rather than on first use: made in the
   * middle of a call, they would keep pooled buffers the next call needs,
   * and the pool would grow once more after the first call.
   */
  private fuse(): void {
    for (const m of ['image', 'audio', 'label'] as const) this.model.fusedProjection(m);
  }

  get size(): number {
    return this.config.imageSize;
  }

  /**
   * Encodes one window: frames float32 [16, 224, 224, 3] in [0, 1], audio
   * float32 [30720] in [-1, 1]. `attentionTap`: see perceiver/attention_maps.ts
   * (autoencode's `attention` option uses it).
   */
  encode(frames: Float32Array, audio: Float32Array, opts: { attentionTap?: AttentionTap } = {}): EncodedWindow {
    checkLive(this.disposed, 'VideoAutoencoder');
    checkFinite(frames, 'VideoAutoencoder.encode: frames');
    checkFinite(audio, 'VideoAutoencoder.encode: audio');
    const g = this.geometry;
    const z = this.model.encode(frames, audio, g, opts); // (checks the sizes)
    return { z, geometry: g, dispose: () => z.dispose() };
  }

  /** Decodes part of an encoded window: the label alone, chosen frames, a rectangle of pixels, the audio, or everything. */
  async decode(w: EncodedWindow, req: WindowRequest, opts: { chunkSize?: number; projection?: ProjectionMode; onProgress?(done: number, total: number): void } = {}): Promise<WindowOutputs> {
    checkLive(this.disposed, 'VideoAutoencoder');
    await this.ready();
    const g = w.geometry;
    let image: Uint32Array | null = null;
    const r = req.image;
    if (r === 'all') image = allIndices(g.frames * g.height * g.width);
    else if (r && 'frames' in r) image = frameIndices(g, r.frames);
    else if (r && 'rect' in r) image = rectIndices(g, r.rect);
    else if (r && 'indices' in r) image = r.indices;
    let audio: Uint32Array | null = null;
    if (req.audio === 'all') audio = allIndices(g.audioSamples / this.config.samplesPerPatch);
    else if (req.audio) audio = audioPatchIndices(this.config, g, req.audio.start, req.audio.end);
    const out = await this.model.decode(w.z, g, { image, audio, label: req.label ?? true }, opts);
    await tunePending(this.gpu); // kernels for the shapes this window used (engine/tune.ts)
    return { ...out, imageIndices: image, audioPatches: audio };
  }

  /** Preprocesses frames into float32 [count, 224, 224, 3]. */
  preprocess(frames: VideoClip['frames']): { data: Float32Array; count: number } {
    const size = this.size;
    if (!Array.isArray(frames)) {
      if (frames.data.length !== frames.count * size * size * 3) throw new Error(`preprocessed frames must be [${frames.count}, ${size}, ${size}, 3]`);
      return frames;
    }
    const per = size * size * 3;
    const data = new Float32Array(frames.length * per);
    frames.forEach((f, i) => preprocessFrame(f, size, {}, data, i * per));
    return { data, count: frames.length };
  }

  /**
   * The whole pipeline over a clip of any length: windows of 16 frames (the
   * last padded with copies of the last frame and trimmed back), each
   * encoded once and decoded as requested.
   */
  async autoencode(clip: VideoClip, opts: AutoencodeOptions = {}): Promise<ClipResult> {
    checkLive(this.disposed, 'VideoAutoencoder');
    if (clip.audio) checkFinite(clip.audio, 'autoencode: audio');
    if (clip.sampleRate !== undefined && clip.sampleRate !== SAMPLE_RATE) {
      throw new Error(`the model takes ${SAMPLE_RATE} Hz audio (1,920 samples per frame); resample the clip's ${clip.sampleRate} Hz audio first`);
    }
    const g = this.geometry;
    const size = this.size;
    const spf = this.config.audioSamplesPerFrame;
    const { data: input, count } = this.preprocess(clip.frames);
    if (count < 1) throw new Error('autoencode: the clip has no frames');
    await this.ready();
    const samples = clip.audio ?? null;
    const classNames = this.labels ?? (await kineticsClasses());
    const plans = planWindows(count, samples?.length ?? 0, { framesPerWindow: g.frames, samplesPerFrame: spf });
    const frameSize = size * size * 3;
    const frames = new Float32Array(count * frameSize).fill(NaN);
    const wantAudio = opts.audio ?? true;
    const audioOut = wantAudio ? new Float32Array(count * spf) : null;
    const sel = opts.video ?? 'all';
    const windows: WindowResult[] = [];
    const meanProbs = new Float64Array(this.config.numClasses);
    const recorder = recorderFor(this.gpu, opts.attention, this.config.encoder.numLatents, 'multimodal-autoencoder');
    const s2d = this.config.spaceToDepth;
    const patchGrid = [g.frames, g.height / s2d, g.width / s2d] as const;
    try {
      for (const plan of plans) {
        const t0 = performance.now();
        const enc = this.encode(windowFrames(input, frameSize, plan, g.frames), windowAudio(samples, plan, g.audioSamples), { attentionTap: recorder?.tap });
        const t1 = performance.now();
        const image = this.windowImageRequest(sel, plan);
        const real = plan.frames * spf;
        let out: WindowOutputs;
        try {
          out = await this.decode(enc, { label: true, image, audio: wantAudio ? { start: 0, end: real } : null }, {
            chunkSize: opts.chunkSize,
            projection: opts.projection,
            onProgress: opts.onProgress && ((done, total) => opts.onProgress!({ window: plan.index, windows: plans.length, done, total })),
          });
        } finally {
          enc.dispose();
        }
        const t2 = performance.now();
        // Scatter into the clip, dropping the padded frames.
        const win = out.image ? scatterImage(g, out.imageIndices!, out.image) : null;
        if (win) frames.set(win.subarray(0, plan.frames * frameSize), plan.firstFrame * frameSize);
        const aud = out.audio ? scatterAudio(this.config, g, out.audioPatches!, out.audio) : null;
        if (aud && audioOut) audioOut.set(aud.subarray(0, real), plan.firstFrame * spf);
        const logits = out.label!;
        const probs = softmax(logits);
        probs.forEach((p, i) => (meanProbs[i] += p / plans.length));
        const inFrames = input.subarray(plan.firstFrame * frameSize, (plan.firstFrame + plan.frames) * frameSize);
        const video = win ? psnr(win.subarray(0, plan.frames * frameSize), inFrames, { clip: [0, 1] }).psnr : NaN;
        const audio = aud && samples && plan.samples > 0 ? psnr(aud.subarray(0, plan.samples), samples.subarray(plan.firstSample, plan.firstSample + plan.samples)).psnr : NaN;
        windows.push({
          plan,
          logits,
          labels: topK(probs, opts.topK ?? 5, classNames),
          psnr: { video, audio },
          seconds: { encode: (t1 - t0) / 1000, decode: (t2 - t1) / 1000 },
          ...(recorder ? { attention: opts.attention!.video((await recorder.read())[0], g.audioSamples / this.config.samplesPerPatch, patchGrid) } : {}),
        });
      }
    } finally {
      recorder?.dispose();
    }
    return {
      frameCount: count,
      size,
      frames,
      inputFrames: input,
      audio: audioOut,
      audioSource: samples ? 'input' : 'silence',
      audioPaddedSamples: samples ? Math.max(0, count * spf - samples.length) : count * spf,
      labels: topK(Float32Array.from(meanProbs), opts.topK ?? 5, classNames),
      windows,
    };
  }

  /** The window-local image request for a clip-level selection (real frames only). */
  private windowImageRequest(sel: FrameSelection, plan: WindowPlan): WindowRequest['image'] {
    const g = this.geometry;
    const inWindow = (f: number) => f >= plan.firstFrame && f < plan.firstFrame + plan.frames;
    if (sel === 'none') return null;
    if (sel === 'all') return plan.frames === g.frames ? 'all' : { frames: [...Array(plan.frames).keys()] };
    if ('frames' in sel) {
      for (const f of sel.frames) if (!Number.isInteger(f) || f < 0) throw new Error(`frame ${f} is not a clip frame index`);
      const local = sel.frames.filter(inWindow).map((f) => f - plan.firstFrame);
      return local.length ? { frames: local } : null;
    }
    const r = sel.rect;
    const f0 = Math.max(r.frameStart ?? 0, plan.firstFrame), f1 = Math.min(r.frameEnd ?? Infinity, plan.firstFrame + plan.frames);
    if (f1 <= f0) return null;
    return { rect: { ...r, frameStart: f0 - plan.firstFrame, frameEnd: f1 - plan.firstFrame } };
  }

  /**
   * Resolves when the model can run: after a device loss, once it has a new
   * device and its weights again (docs/reliability.md). decode and
   * autoencode wait for it; call it before encode after a loss.
   */
  ready(): Promise<void> {
    return this.loaded ? this.loaded.ready(() => (this.model.dispose(), this.fuse())) : this.gpu.recover();
  }

  /** Frees the fused projections and the weights the loader uploaded (weights the caller passed stay theirs). */
  dispose(): void {
    this.disposed = true;
    this.model.dispose();
    this.loaded?.dispose();
  }
}

/**
 * Loads a converted multimodal-autoencoder weight file (tools/convert.ts
 * output: bytes, a fetch Response or a stream, or a function giving one)
 * onto the GPU, then compiles the pipelines of a first call
 * (perceiver/load.ts ModelLoadOptions).
 */
export async function loadVideoAutoencoder(gpu: Gpu, source: ModelSource, opts: ModelLoadOptions = {}): Promise<VideoAutoencoder> {
  const { config, tensors, weights, meta } = await loadPreset(gpu, source, opts, ['multimodal-autoencoder'], multimodalConfig, LEFT_OPERAND_WEIGHTS);
  const labels = storedLabels(meta, config.numClasses, weights);
  return finishLoad((g) => new VideoAutoencoder(g, config, tensors, labels), weights, opts, videoFirstCall);
}

/** The calls whose pipelines loading compiles: encode a blank window, decode the label, a frame and the audio. */
export async function videoFirstCall(ae: VideoAutoencoder): Promise<void> {
  const g = ae.geometry;
  const w = ae.encode(new Float32Array(g.frames * g.height * g.width * 3), new Float32Array(g.audioSamples));
  await ae.decode(w, { label: true, image: { frames: [0] }, audio: 'all' });
  w.dispose();
}
