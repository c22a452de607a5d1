// patchesForFlow: the optical-flow model's input features, DeepMind's
// patches_for_flow (per frame: zero-pad 1 px, 3x3 patches, stride 1, channel
// order (ph, pw, c)) followed by space_to_depth with dt = 2 (frame 0's 27
// channels, then frame 1's). [B,2,H,W,C] -> [B,H,W,18C]; a 368x496 RGB pair
// gives 182,528 x 54.
//
// When the output or the frames exceed one storage binding, output rows are
// split into ranges within one image, each binding that image's frames.

import { empty, type Gpu, type Tensor } from '../engine/index.ts';
import { patches as shader } from './shaders.gen.ts';
import { window, splitRanges, groups, bindingLimit } from './slicing.ts';

/** Match patches.wgsl. */
const WORKGROUP = 256;
const PER_INVOCATION = 16;
const FRAMES = 2;
const PATCH = 3;

export function patchesForFlow(gpu: Gpu, frames: Tensor): Tensor {
  const name = `patchesForFlow(frames=${frames})`;
  if (frames.shape.length !== 5 || frames.shape[1] !== FRAMES) throw new Error(`${name}: frames must be [B,${FRAMES},H,W,C]`);
  if (frames.dtype !== 'f32') throw new Error(`${name}: frames must be f32`);
  const [B, , H, W, C] = frames.shape;
  const OC = FRAMES * PATCH * PATCH * C;
  const out = empty(gpu, [B, H, W, OC]);
  if (out.size === 0) return out;
  const image = FRAMES * H * W * C;
  // One dispatch when everything fits one binding each; otherwise ranges of
  // output rows within one image, each binding that image's two frames.
  const room = bindingLimit(gpu) - gpu.limits.minStorageBufferOffsetAlignment;
  const whole = out.byteLength <= room && frames.byteLength <= room;
  if (!whole && image * 4 > room) throw new Error(`${name}: one image's frames exceed a storage binding of ${bindingLimit(gpu)} bytes`);
  const ranges: [number, number][] = whole ? [[0, B * H]] : splitRanges(gpu, 'patchesForFlow', B * H, W * OC * 4, H);
  for (const [r0, r1] of ranges) {
    const b0 = Math.floor(r0 / H), b1 = Math.floor((r1 - 1) / H) + 1;
    const fw = window(frames, b0 * image, (b1 - b0) * image);
    const ow = window(out, r0 * W * OC, (r1 - r0) * W * OC);
    gpu.dispatch(
      shader,
      { frames: fw.view, out: ow.view, params: { rows: r1 - r0, row0: r0, height: H, width: W, channels: C, frames_off: fw.off, out_off: ow.off } },
      groups((r1 - r0) * W * OC, WORKGROUP * PER_INVOCATION),
    );
  }
  return out;
}
