// spaceToDepth (4-D and 5-D, channel order (dt, dh, dw, c)) and strided
// (x[:, ::s, ::s]), both as one strided-gather kernel (space_to_depth.wgsl).
//
// Large tensors are split into dispatches along whole output "rows" (one
// output row of space_to_depth reads one contiguous block of input rows),
// so each dispatch binds one contiguous input window and one output window.

import { empty, type Gpu, type Tensor } from '../engine/index.ts';
import { space_to_depth as shader } from './shaders.gen.ts';
import { window, splitRanges, groups } from './slicing.ts';

/** Match space_to_depth.wgsl. */
const WORKGROUP = 256;
const PER_INVOCATION = 16;
const MAX_DIMS = 8;

/**
 * Records out = x[f(e)] for the gather given by output axes `dims` and input
 * strides `strides` (same length <= MAX_DIMS). Dispatches cover whole units
 * of `unit` output elements; the input range a range of units reads must be
 * [f(first element), f(last element)] (true when f is increasing from unit
 * to unit and each unit's reads stay between its first and last element's),
 * and a range of k units reads at most k * inPerUnit input elements.
 */
function gather(gpu: Gpu, kernel: string, x: Tensor, out: Tensor, dims: number[], strides: number[], unit: number, inPerUnit: number): void {
  if (dims.length > MAX_DIMS) throw new Error(`${kernel}: more than ${MAX_DIMS} axes`);
  const pad = MAX_DIMS - dims.length;
  const D = [...new Array(pad).fill(1), ...dims];
  const S = [...new Array(pad).fill(0), ...strides];
  const f = (e: number) => {
    let src = 0;
    for (let k = MAX_DIMS - 1; k >= 0; k--) {
      src += (e % D[k]) * S[k];
      e = Math.floor(e / D[k]);
    }
    return src;
  };
  const total = out.size;
  if (total === 0) return;
  const units = total / unit;
  for (const [u0, u1] of splitRanges(gpu, kernel, units, Math.max(unit, inPerUnit) * 4)) {
    const e0 = u0 * unit, n = (u1 - u0) * unit;
    const lo = f(e0), hi = f(e0 + n - 1);
    const xw = window(x, lo, hi - lo + 1);
    const ow = window(out, e0, n);
    gpu.dispatch(
      shader,
      {
        x: xw.view, out: ow.view,
        params: {
          dims_lo: D.slice(0, 4), dims_hi: D.slice(4), strides_lo: S.slice(0, 4), strides_hi: S.slice(4),
          n, e0, in_start: lo, x_off: xw.off, out_off: ow.off,
        },
      },
      groups(n, WORKGROUP * PER_INVOCATION),
    );
  }
}

function check32(name: string, x: Tensor): void {
  if (x.dtype === 'f16') throw new Error(`${name}: f16 is not supported (32-bit elements only)`);
}

/**
 * einops `b (h dh) (w dw) c -> b h w (dh dw c)` for 4-D x, and
 * `b (t dt) (h dh) (w dw) c -> b t h w (dt dh dw c)` for 5-D x
 * (DeepMind's space_to_depth; channel order (dt, dh, dw, c), c fastest).
 */
export function spaceToDepth(gpu: Gpu, x: Tensor, o: { dt?: number; dh: number; dw: number }): Tensor {
  const name = `spaceToDepth(x=${x}, dt=${o.dt ?? 1}, dh=${o.dh}, dw=${o.dw})`;
  check32(name, x);
  const dt = o.dt ?? 1, { dh, dw } = o;
  for (const v of [dt, dh, dw]) if (!Number.isInteger(v) || v < 1) throw new Error(`${name}: factors must be positive integers`);
  let B: number, T: number, H: number, W: number, C: number;
  if (x.shape.length === 4) {
    if (dt !== 1) throw new Error(`${name}: dt needs a 5-D [B,T,H,W,C] input`);
    [B, H, W, C] = x.shape;
    T = 1;
  } else if (x.shape.length === 5) [B, T, H, W, C] = x.shape;
  else throw new Error(`${name}: x must be [B,H,W,C] or [B,T,H,W,C]`);
  if (T % dt || H % dh || W % dw) throw new Error(`${name}: T, H, W must be multiples of dt, dh, dw`);
  const To = T / dt, Ho = H / dh, Wo = W / dw, Co = dt * dh * dw * C;
  const out = empty(gpu, x.shape.length === 4 ? [B, Ho, Wo, Co] : [B, To, Ho, Wo, Co], x.dtype);
  // Output axes (b, t, h, w, dt, dh, dw, c) and their input strides.
  const sC = 1, sW = C, sH = W * C, sT = H * W * C, sB = T * H * W * C;
  const dims = [B, To, Ho, Wo, dt, dh, dw, C];
  const strides = [sB, dt * sT, dh * sH, dw * sW, sT, sH, sW, sC];
  // A unit: one output row (b, t, h) when dt = 1, reading input rows
  // h*dh .. h*dh + dh - 1 of one frame; with dt > 1, one (b, t) block.
  const unit = dt === 1 ? Wo * Co : Ho * Wo * Co;
  gather(gpu, 'spaceToDepth', x, out, dims, strides, unit, unit);
  return out;
}

/** x[:, ::s, ::s] for NHWC x (the 'pixels' preprocessor's downsampling). */
export function strided(gpu: Gpu, x: Tensor, s: number): Tensor {
  const name = `strided(x=${x}, s=${s})`;
  check32(name, x);
  if (x.shape.length !== 4) throw new Error(`${name}: x must be [B,H,W,C]`);
  if (!Number.isInteger(s) || s < 1) throw new Error(`${name}: s must be a positive integer`);
  const [B, H, W, C] = x.shape;
  const Ho = Math.ceil(H / s), Wo = Math.ceil(W / s);
  const out = empty(gpu, [B, Ho, Wo, C], x.dtype);
  // One unit is one output row (b, h): it reads input row h*s of image b;
  // consecutive units read rows at most s rows apart.
  gather(gpu, 'strided', x, out, [B, Ho, Wo, C], [H * W * C, s * W * C, s * C, 1], Wo * C, s * W * C);
  return out;
}
