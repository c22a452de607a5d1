// Attention maps: where each latent looks in the input. The encoder's first
// (and only) cross-attention lets every latent attend over all input
// positions; the softmax row of latent i is a probability distribution over
// the inputs, Perceiver's signature picture. The fused attention kernel never
// stores it, so a forward that asks for maps taps the cross-attention's
// operands (perceiver/layers.ts AttentionTap) and kernels/attention_maps.ts
// computes the requested rows on the GPU from them.
//
// The model APIs load this module (and with it the kernel) with import()
// when maps are first asked for: an app that never asks carries none of it
// in its first load, and a forward without maps records no extra dispatch. With the key/value fold (perceiver/layers.ts
// `attend`) the tapped operands are the folded queries and the inputs
// themselves, which give the same probabilities as the unfolded q and k.

import { readF32, type Gpu, type Tensor } from '../engine/index.ts';
import { attentionMaps } from '../kernels/attention_maps.ts';
import type { AttentionTap } from './layers.ts';

/** What to compute: the encoder latents (rows of the cross-attention) whose maps are wanted. */
export interface AttentionRequest {
  latents: readonly number[];
}

/** Most latents one request may name (the released models have at most 2,048; repeats count). */
export const MAX_REQUESTED_LATENTS = 4096;

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

/** Checks the requested latents against the model's count (errors name the problem). */
export function checkRequest(req: AttentionRequest, numLatents: number, what: string): readonly number[] {
  const list = req?.latents;
  if (!Array.isArray(list) || list.length === 0) throw new Error(`${what}: attention.latents must be a non-empty array of latent indices`);
  if (list.length > MAX_REQUESTED_LATENTS) throw new Error(`${what}: ${list.length} latents asked for, at most ${MAX_REQUESTED_LATENTS} at a time`);
  for (const l of list) {
    if (!Number.isInteger(l) || l < 0 || l >= numLatents) throw new Error(`${what}: latent ${l} is not an index in [0, ${numLatents})`);
  }
  return list.slice();
}

/** A recorder for the maps of `req`'s latents: its tap records the maps of each forward it is given to. */
export function mapsRecorder(gpu: Gpu, req: AttentionRequest, numLatents: number, what: string): MapsRecorder {
  const latents = checkRequest(req, numLatents, what);
  let maps: Tensor[] = [];
  const dispose = () => {
    maps.forEach((t) => t.dispose());
    maps = [];
  };
  return {
    tap(q, k, opts) {
      if (opts.heads !== 1) throw new Error(`${what}: attention maps need a one-head cross-attention, this one has ${opts.heads} heads`);
      maps.push(attentionMaps(gpu, q, k, latents, opts));
    },
    async read() {
      if (maps.length === 0) throw new Error(`${what}: no attention maps were recorded (the forward did not run the encoder)`);
      try {
        return await Promise.all(maps.map(async (t) => ({ batch: t.shape[0], inputs: t.shape[3], latents, data: await readF32(t) })));
      } finally {
        dispose();
      }
    },
    dispose,
  };
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
