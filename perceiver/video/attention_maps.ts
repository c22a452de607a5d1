// Attention maps of the video model: a window's recorded maps cut by
// modality (perceiver/attention_maps.ts has the rest). Loaded with import()
// by api.ts when maps are asked for, with the recorder it re-exports, so the
// video bundle's lazy chunk holds only what video needs.

import type { RecordedMaps } from '../attention_maps.ts';

export { mapsRecorder } from '../attention_maps.ts';

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

/** Recorded maps of one video window (batch 1) cut into the encoder's input order: audio patches, image patches [T, h, w], label. */
export function videoMaps(rec: RecordedMaps, audioPatches: number, [T, h, w]: readonly [number, number, number]): VideoAttentionMap[] {
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
