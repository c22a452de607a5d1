// Attention maps: where each latent looks in the input. The encoder's first
// (and only) cross-attention lets every latent attend over all input
// positions; the softmax row of latent i is a probability distribution over
// the inputs, Perceiver's signature picture. The fused attention kernel never
// stores it, so a forward that asks for maps taps the cross-attention's
// operands (perceiver/layers.ts AttentionTap) and kernels/attention_maps.ts
// computes the requested rows on the GPU from them.
//
// This module is the package's optional subpath `perceiver-io-webgpu/maps`:
// an app asks for maps with `{ attention: attentionMaps({ latents }) }`, and
// the value it passes carries the recorder (and with it the kernel). The task
// APIs never import this module, so an app that never asks for maps carries
// none of it, and a forward without maps records no extra dispatch. With the
// key/value fold (perceiver/layers.ts `attend`) the tapped operands are the
// folded queries and the inputs themselves, which give the same
// probabilities as the unfolded q and k. The value also cuts the recorded
// rows into maps (gridMaps, videoMaps), so the tasks carry only the types
// and the option's check (perceiver/attention_grid.ts).

import { readF32, type Gpu, type Tensor } from '../engine/index.ts';
import { attentionMaps as mapsKernel } from '../kernels/attention_maps.ts';
import type { AttentionMap, AttentionMaps, AttentionRequest, MapsRecorder, RecordedMaps, VideoAttentionMap } from './attention_grid.ts';

export type { AttentionMap, AttentionMaps, AttentionRequest, MapsRecorder, RecordedMaps, VideoAttentionMap } from './attention_grid.ts';

/** Most latents one request may name (the released models have at most 2,048; repeats count). */
const MAX_REQUESTED_LATENTS = 4096;

/**
 * The `attention` option of ImageClassifier.classify / forward,
 * OpticalFlow.flow / flowNormalized / sequence and
 * VideoAutoencoder.autoencode: the encoder cross-attention maps of
 * `latents`. The list is checked here (a non-empty array of at most 4,096
 * non-negative integers) and against the model's latent count at the call.
 */
export function attentionMaps(req: AttentionRequest): AttentionMaps {
  const latents = checkRequest(req, Infinity, 'attentionMaps');
  return { latents, recorder: (gpu, numLatents, what) => mapsRecorder(gpu, { latents }, numLatents, what), grids: gridMaps, video: videoMaps };
}

/** Checks the requested latents against the model's count (errors name the problem). */
function checkRequest(req: AttentionRequest, numLatents: number, what: string): readonly number[] {
  const list = req?.latents;
  if (!Array.isArray(list) || list.length === 0) throw new Error(`${what}: attention.latents must be a non-empty array of latent indices`);
  if (list.length > MAX_REQUESTED_LATENTS) throw new Error(`${what}: ${list.length} latents asked for, at most ${MAX_REQUESTED_LATENTS} at a time`);
  for (const l of list) {
    if (!Number.isInteger(l) || l < 0 || l >= numLatents) throw new Error(`${what}: latent ${l} is not ${numLatents === Infinity ? 'a latent index (an integer >= 0)' : `an index in [0, ${numLatents})`}`);
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
      maps.push(mapsKernel(gpu, q, k, latents, opts));
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

/** Cuts recorded rows into per-batch, per-latent maps over a grid of `height` x `width` positions (the first inputs). */
function gridMaps(rec: RecordedMaps, height: number, width: number): AttentionMap[][] {
  if (height * width > rec.inputs) throw new Error(`attention maps: a ${height}x${width} grid does not fit ${rec.inputs} inputs`);
  const out: AttentionMap[][] = [];
  for (let b = 0; b < rec.batch; b++) {
    out.push(rec.latents.map((latent, i) => {
      const at = (b * rec.latents.length + i) * rec.inputs;
      return { latent, height, width, data: rec.data.slice(at, at + height * width) };
    }));
  }
  return out;
}

/** Recorded maps of one video window (batch 1) cut into the encoder's input order: audio patches, image patches [T, h, w], label. */
function videoMaps(rec: RecordedMaps, audioPatches: number, [T, h, w]: readonly [number, number, number]): VideoAttentionMap[] {
  if (rec.batch !== 1 || rec.inputs !== audioPatches + T * h * w + 1) {
    throw new Error(`attention maps: ${rec.inputs} inputs, not ${audioPatches} audio + ${T}x${h}x${w} image patches + 1 label`);
  }
  return rec.latents.map((latent, i) => {
    const row = rec.data.subarray(i * rec.inputs, (i + 1) * rec.inputs);
    return {
      latent,
      audio: row.slice(0, audioPatches),
      image: { frames: T, height: h, width: w, data: row.slice(audioPatches, audioPatches + T * h * w) },
      label: row[rec.inputs - 1],
    };
  });
}
