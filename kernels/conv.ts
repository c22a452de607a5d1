// conv2dSame: NHWC x HWIO convolution with TensorFlow SAME padding, optional
// bias, eval-mode batch norm and ReLU fused (the Perceiver conv stem:
// Conv2D(64, 7, stride 2, SAME, no bias) -> BatchNorm -> ReLU).
// Images are sliced into separate dispatches when x or y exceeds one
// storage binding.

import { empty, type Gpu, type Tensor } from '../engine/index.ts';
import { conv as shader } from './shaders.gen.ts';
import { window, splitRanges, checkFits, groups, type Window } from './slicing.ts';

/** Match conv.wgsl. */
const WORKGROUP = 64;
const CO_TILE = 8;

export interface BatchNormParams {
  scale: Tensor;
  offset: Tensor;
  mean: Tensor;
  variance: Tensor;
  /** default 1e-5 */
  eps?: number;
}

export interface Conv2dOptions {
  stride: number;
  batchNorm?: BatchNormParams;
  relu?: boolean;
  bias?: Tensor;
}

/**
 * TensorFlow/XLA SAME padding along one axis: out = ceil(in / stride),
 * total = max((out - 1) * stride + k - in, 0), the smaller half before
 * (224 -> 112 with k 7, s 2 pads (2, 3); 112 -> 56 with k 3, s 2 pads (0, 1)).
 */
export function samePadding(size: number, k: number, stride: number): { out: number; before: number; after: number } {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + k - size, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

export function conv2dSame(gpu: Gpu, x: Tensor, w: Tensor, o: Conv2dOptions): Tensor {
  const name = `conv2dSame(x=${x}, w=${w}, stride=${o.stride})`;
  if (x.shape.length !== 4) throw new Error(`${name}: x must be NHWC [B,H,W,Cin]`);
  if (w.shape.length !== 4) throw new Error(`${name}: w must be HWIO [kh,kw,Cin,Cout]`);
  const [B, H, W, Cin] = x.shape;
  const [kh, kw, wCin, Cout] = w.shape;
  if (wCin !== Cin) throw new Error(`${name}: w has ${wCin} input channels, x has ${Cin}`);
  if (!Number.isInteger(o.stride) || o.stride < 1) throw new Error(`${name}: stride must be a positive integer`);
  if (x.dtype !== 'f32' || w.dtype !== 'f32') throw new Error(`${name}: x and w must be f32`);
  if (kh < 1 || kw < 1 || Cout < 1 || Cin < 1) throw new Error(`${name}: empty kernel`);
  const vec = (what: string, t: Tensor | undefined): Window | null => {
    if (!t) return null;
    if (t.dtype !== 'f32' || t.size !== Cout || t.shape.some((d, i) => d !== 1 && i !== t.shape.length - 1)) {
      throw new Error(`${name}: ${what} must be f32 [${Cout}], got ${t}`);
    }
    return window(t);
  };
  const bn = o.batchNorm;
  const bias = vec('bias', o.bias);
  const scale = vec('batchNorm.scale', bn?.scale);
  const offset = vec('batchNorm.offset', bn?.offset);
  const mean = vec('batchNorm.mean', bn?.mean);
  const variance = vec('batchNorm.variance', bn?.variance);
  checkFits(gpu, 'conv2dSame', 'w', w);

  const ph = samePadding(H, kh, o.stride), pw = samePadding(W, kw, o.stride);
  const OH = ph.out, OW = pw.out;
  const y = empty(gpu, [B, OH, OW, Cout]);
  const ww = window(w);
  // An absent bias / batch-norm vector binds the weights (read-only, never
  // read: has_bias / has_bn are 0): no upload, so no submit mid-forward.
  const none: Window = ww;
  const inImage = H * W * Cin, outImage = OH * OW * Cout;
  for (const [b0, b1] of splitRanges(gpu, 'conv2dSame', B, Math.max(inImage, outImage) * 4)) {
    const nb = b1 - b0;
    const xw = window(x, b0 * inImage, nb * inImage);
    const yw = window(y, b0 * outImage, nb * outImage);
    const [bi, sc, of, me, va] = [bias, scale, offset, mean, variance].map((v) => v ?? none);
    gpu.dispatch(
      shader,
      {
        x: xw.view, w: ww.view, bias: bi.view, bn_scale: sc.view, bn_offset: of.view, bn_mean: me.view, bn_var: va.view, y: yw.view,
        params: {
          batch: nb, in_h: H, in_w: W, cin: Cin, out_h: OH, out_w: OW, cout: Cout, kh, kw, stride: o.stride,
          pad_top: ph.before, pad_left: pw.before,
          x_off: xw.off, w_off: ww.off, y_off: yw.off,
          bias_off: bi.off, scale_off: sc.off, offset_off: of.off, mean_off: me.off, var_off: va.off,
          has_bias: bias ? 1 : 0, has_bn: bn ? 1 : 0, relu: o.relu ? 1 : 0, eps: bn?.eps ?? 1e-5,
        },
      },
      groups(nb * OH * OW * Math.ceil(Cout / CO_TILE), WORKGROUP),
    );
  }
  return y;
}
