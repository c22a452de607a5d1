// Splitting a clip into the model's 16-frame windows and putting the
// reconstructions back together.
//
// The colab truncates a video to a multiple of 16 frames. Here every frame is
// kept: the last window is padded by repeating the clip's last frame (edge
// padding; the encoder sees a plausible still tail rather than black frames)
// and its outputs are trimmed back to the real frames. Audio follows the
// frames at 1,920 samples per frame (48 kHz at 25 fps): a clip whose audio
// is shorter than its frames is padded with silence (zeros), longer audio is
// cut at the last frame; a clip without audio gets silence throughout.

export interface WindowPlan {
  /** window index */
  index: number;
  /** first clip frame of the window */
  firstFrame: number;
  /** real clip frames in the window (the rest are padding) */
  frames: number;
  /** padded frames at the end (copies of the clip's last frame) */
  paddedFrames: number;
  /** first clip sample of the window's audio */
  firstSample: number;
  /** real audio samples in the window (the rest is silence) */
  samples: number;
}

export interface WindowLayout {
  framesPerWindow: number;
  samplesPerFrame: number;
}

/** The windows covering `numFrames` frames and `numSamples` audio samples. */
export function planWindows(numFrames: number, numSamples: number, layout: WindowLayout): WindowPlan[] {
  const { framesPerWindow: F, samplesPerFrame: A } = layout;
  if (!Number.isInteger(numFrames) || numFrames < 1) throw new Error(`a clip needs at least one frame, got ${numFrames}`);
  if (!Number.isInteger(numSamples) || numSamples < 0) throw new Error(`bad audio length ${numSamples}`);
  const usable = Math.min(numSamples, numFrames * A);
  const out: WindowPlan[] = [];
  for (let w = 0; w * F < numFrames; w++) {
    const firstFrame = w * F;
    const frames = Math.min(F, numFrames - firstFrame);
    const firstSample = firstFrame * A;
    out.push({
      index: w,
      firstFrame,
      frames,
      paddedFrames: F - frames,
      firstSample,
      samples: Math.max(0, Math.min(F * A, usable - firstSample)),
    });
  }
  return out;
}

/**
 * The window's frames [F, H, W, 3] from a clip's preprocessed frames
 * ([numFrames, H, W, 3] float32), the last frame repeated as padding.
 */
export function windowFrames(clip: Float32Array, frameSize: number, w: WindowPlan, framesPerWindow: number): Float32Array {
  const out = new Float32Array(framesPerWindow * frameSize);
  for (let f = 0; f < framesPerWindow; f++) {
    const src = w.firstFrame + Math.min(f, w.frames - 1);
    out.set(clip.subarray(src * frameSize, (src + 1) * frameSize), f * frameSize);
  }
  return out;
}

/** The window's audio [F * A] from the clip's samples, silence after its real samples. */
export function windowAudio(samples: Float32Array | null, w: WindowPlan, windowSamples: number): Float32Array {
  const out = new Float32Array(windowSamples);
  if (samples && w.samples > 0) out.set(samples.subarray(w.firstSample, w.firstSample + w.samples));
  return out;
}
