// maxPoolSame: 2-D max pooling with TensorFlow SAME padding by -inf
// (hk.max_pool(window, stride, 'SAME') on NHWC; 112 -> 56 pads (0, 1) for
// 3x3 stride 2). Images are sliced into separate dispatches when x or y
// exceeds one storage binding.

import { empty, type Gpu, type Tensor } from '../engine/index.ts';
import { maxpool as shader } from './shaders.gen.ts';
import { window, splitRanges, groups } from './slicing.ts';
import { samePadding } from './conv.ts';

/** Matches maxpool.wgsl. */
const WORKGROUP = 256;
const PER_INVOCATION = 16;

export function maxPoolSame(gpu: Gpu, x: Tensor, o: { size: number; stride: number }): Tensor {
  const name = `maxPoolSame(x=${x}, size=${o.size}, stride=${o.stride})`;
  if (x.shape.length !== 4) throw new Error(`${name}: x must be NHWC [B,H,W,C]`);
  if (x.dtype !== 'f32') throw new Error(`${name}: x must be f32`);
  if (!Number.isInteger(o.size) || o.size < 1 || !Number.isInteger(o.stride) || o.stride < 1) {
    throw new Error(`${name}: size and stride must be positive integers`);
  }
  const [B, H, W, C] = x.shape;
  const ph = samePadding(H, o.size, o.stride), pw = samePadding(W, o.size, o.stride);
  const OH = ph.out, OW = pw.out;
  const y = empty(gpu, [B, OH, OW, C]);
  const inImage = H * W * C, outImage = OH * OW * C;
  if (inImage === 0) return y;
  for (const [b0, b1] of splitRanges(gpu, 'maxPoolSame', B, Math.max(inImage, outImage) * 4)) {
    const nb = b1 - b0;
    const xw = window(x, b0 * inImage, nb * inImage);
    const yw = window(y, b0 * outImage, nb * outImage);
    gpu.dispatch(
      shader,
      {
        x: xw.view, y: yw.view,
        params: {
          batch: nb, in_h: H, in_w: W, channels: C, out_h: OH, out_w: OW, size: o.size, stride: o.stride,
          pad_top: ph.before, pad_left: pw.before, x_off: xw.off, y_off: yw.off,
        },
      },
      groups(nb * outImage, WORKGROUP * PER_INVOCATION),
    );
  }
  return y;
}
