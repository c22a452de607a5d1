// What the task APIs share about attention maps without carrying their code:
// the types of a request and of its results, the check that the `attention`
// option is an attentionMaps() value, and the cutting of recorded rows into
// grids. The recorder and the kernel come with the value the app passes
// (perceiver/attention_maps.ts, the optional subpath `perceiver-io-webgpu/maps`).

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

/** Cuts recorded rows into per-batch, per-latent maps over a grid of `height` x `width` positions starting at input `first`. */
export function gridMaps(rec: RecordedMaps, height: number, width: number, first = 0): AttentionMap[][] {
  if (first + height * width > rec.inputs) throw new Error(`attention maps: a ${height}x${width} grid at input ${first} does not fit ${rec.inputs} inputs`);
  const out: AttentionMap[][] = [];
  for (let b = 0; b < rec.batch; b++) {
    out.push(rec.latents.map((latent, i) => {
      const at = (b * rec.latents.length + i) * rec.inputs + first;
      return { latent, height, width, data: rec.data.slice(at, at + height * width) };
    }));
  }
  return out;
}
