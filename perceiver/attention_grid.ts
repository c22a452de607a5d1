// What the task APIs share about attention maps without carrying their code:
// the types of a request and of its results, and the check that the
// `attention` option is an attentionMaps() value. The recorder, the kernel
// and the cutting of recorded rows into maps come with the value the app
// passes (perceiver/attention_maps.ts, the optional subpath
// `perceiver-io-webgpu/maps`).

import type { Gpu } from '../engine/index.ts';
import type { AttentionTap } from './layers.ts';

/** What to compute: the encoder latents (rows of the cross-attention) whose maps are wanted. */
export interface AttentionRequest {
  latents: readonly number[];
}

/**
 * A task call's `attention` option: made by attentionMaps({ latents }) from
 * `perceiver-io-webgpu/maps`, it holds the checked latents and the code
 * that records their maps.
 */
export interface AttentionMaps {
  readonly latents: readonly number[];
  /** for the task APIs: a recorder of these latents' maps on `gpu` (checks them against the model's `numLatents`) */
  recorder(gpu: Gpu, numLatents: number, what: string): MapsRecorder;
  /** for the task APIs: recorded rows cut into per-batch, per-latent maps over a `height` x `width` grid of inputs */
  grids(rec: RecordedMaps, height: number, width: number): AttentionMap[][];
  /** for the video API: one window's recorded rows (batch 1) cut by modality: audio patches, image patches [T, h, w], label */
  video(rec: RecordedMaps, audioPatches: number, patches: readonly [number, number, number]): VideoAttentionMap[];
}

/** A latent's map over a 2-D grid of input positions (ImageNet: the input grid; flow: one tile). */
export interface AttentionMap {
  latent: number;
  /** grid rows and columns */
  height: number;
  width: number;
  /** [height, width] row-major probabilities (over all of the model's inputs they sum to 1) */
  data: Float32Array;
}

/**
 * One latent's attention over a video window's encoder inputs, split by
 * modality (the three parts together sum to 1). The window's frames include
 * the copies of the last frame that pad a short last window (WindowPlan).
 */
export interface VideoAttentionMap {
  latent: number;
  /**
   * [frames, height, width] over the 4x4 space-to-depth patches: cell
   * (t, y, x) covers pixels 4y..4y+3, 4x..4x+3 of window frame t (56x56 per
   * frame for the released 224x224)
   */
  image: { frames: number; height: number; width: number; data: Float32Array };
  /** [audio patches]: patch p holds window samples 16p .. 16p + 15 */
  audio: Float32Array;
  /** on the label input (the label mask token) */
  label: number;
}

/** The probabilities recorded during one forward: [batch][latent] rows over `inputs` positions. */
export interface RecordedMaps {
  batch: number;
  inputs: number;
  latents: readonly number[];
  /** [batch, latents, inputs] */
  data: Float32Array;
}

export interface MapsRecorder {
  /** pass to the encoder (EncodeOptions.attentionTap); each forward it sees records its maps */
  tap: AttentionTap;
  /** the maps of every forward recorded, in order (waits for the GPU; frees the buffers) */
  read(): Promise<RecordedMaps[]>;
  dispose(): void;
}

/** The recorder of a call's `attention` option (none without one); a plain `{ latents }` is refused with what to pass instead. */
export function recorderFor(gpu: Gpu, attention: AttentionMaps | undefined, numLatents: number, what: string): MapsRecorder | undefined {
  if (!attention) return;
  if (typeof attention.recorder !== 'function') {
    throw new Error(`${what}: the attention option takes attentionMaps({ latents }) from 'perceiver-io-webgpu/maps', not a plain object`);
  }
  return attention.recorder(gpu, numLatents, what);
}
