// The video colab's frame pipeline (PERCEIVER_IO.md §14 "Video"), on the CPU
// and browser-safe (no node: imports):
//
//   RGBA bytes -> centre square crop (side = min(H, W), start = side//2 -
//   min//2 on each axis, i.e. (W//2 - m//2, H//2 - m//2)) -> cv2.resize(crop,
//   (224, 224)) (default interpolation INTER_LINEAR, on uint8) -> / 255 as
//   float32 -> [224, 224, 3] RGB in [0, 1]. No mean/std normalisation.
//
// resizeBilinearU8 follows OpenCV's 8-bit INTER_LINEAR resize
// (imgproc/src/resize.cpp, resizeGeneric_ with HResizeLinear/VResizeLinear):
//   - source coordinate f = float((d + 0.5) * scale - 0.5), scale =
//     1 / (dstSize / srcSize) in double; sx = floor(f), fraction f - sx in
//     float32; columns left of 0 or at the last column clamp to it with
//     fraction 0, rows clamp to the image;
//   - weights (1 - f, f) in float32, each quantised to 11 fractional bits
//     (round(w * 2048), ties to even); horizontal pass first, into exact
//     integers;
//   - vertical pass: 'simd' (default) is the SSE2 path of x86-64 builds
//     (VResizeLinearVec_32s8u): ((S0 >> 4) * b0 >> 16) + ((S1 >> 4) * b1 >> 16),
//     then (sum + 2) >> 2, saturated, for runs of 16 values (then 8), the row's
//     remainder on the scalar path; 'fixed' is the scalar path everywhere:
//     (S0 * b0 + S1 * b1 + 2^21) >> 22, saturated;
//   - an exact 2x downscale in both directions is OpenCV's INTER_AREA fast
//     path instead ((a + b + c + d + 2) >> 2), as cv::resize does;
//   - equal sizes copy.
// Not verified against a running OpenCV here (none is installed): builds that
// route the resize through IPP or other SIMD widths may differ by one level
// on some pixels (4e-3 after / 255).

import { toRgba, cropRgb, roundEven, type ImageInput, type PixelsU8 } from '../image.ts';

export type { PixelsU8 };

export interface BilinearOptions {
  vertical?: 'simd' | 'fixed';
}

const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS; // INTER_RESIZE_COEF_SCALE
/** SSE2 lanes of VResizeLinearVec_32s8u: 16 bytes per store, then 8. */
const SIMD_U8_LANES = 16;
const SIMD_I16_LANES = 8;

const f32 = Math.fround;

function sat8(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Per output coordinate: the source index and the two 11-bit weights. */
function axisTable(src: number, dst: number, clampFraction: boolean): { ofs: Int32Array; w0: Int32Array; w1: Int32Array } {
  const scale = 1 / (dst / src);
  const ofs = new Int32Array(dst), w0 = new Int32Array(dst), w1 = new Int32Array(dst);
  for (let d = 0; d < dst; d++) {
    const fx0 = f32((d + 0.5) * scale - 0.5);
    let sx = Math.floor(fx0);
    let fx = f32(fx0 - sx);
    if (clampFraction) {
      if (sx < 0) (fx = 0), (sx = 0);
      if (sx >= src - 1) (fx = 0), (sx = src - 1);
    }
    ofs[d] = sx;
    w0[d] = roundEven(f32(f32(1 - fx) * COEF_SCALE));
    w1[d] = roundEven(f32(fx * COEF_SCALE));
  }
  return { ofs, w0, w1 };
}

/** OpenCV's 8-bit INTER_LINEAR resize (see the file comment). */
export function resizeBilinearU8(src: PixelsU8, dstWidth: number, dstHeight: number, o: BilinearOptions = {}): PixelsU8 {
  const { width: sw, height: sh, channels: cn, data } = src;
  if (data.length !== sw * sh * cn) throw new Error(`resizeBilinearU8: ${data.length} bytes for ${sw}x${sh}x${cn}`);
  if (!(dstWidth >= 1 && dstHeight >= 1)) throw new Error(`resizeBilinearU8: bad size ${dstWidth}x${dstHeight}`);
  if (sw === dstWidth && sh === dstHeight) return { width: sw, height: sh, channels: cn, data: data.slice() };
  const out = new Uint8Array(dstWidth * dstHeight * cn);
  const scaleX = 1 / (dstWidth / sw), scaleY = 1 / (dstHeight / sh);
  if (Math.abs(scaleX - 2) < Number.EPSILON && Math.abs(scaleY - 2) < Number.EPSILON) {
    // INTER_LINEAR with an exact 2x downscale runs as INTER_AREA (fast).
    for (let y = 0; y < dstHeight; y++) {
      for (let x = 0; x < dstWidth; x++) {
        for (let c = 0; c < cn; c++) {
          const a = ((2 * y) * sw + 2 * x) * cn + c;
          const s = data[a] + data[a + cn] + data[a + sw * cn] + data[a + sw * cn + cn];
          out[(y * dstWidth + x) * cn + c] = (s + 2) >> 2;
        }
      }
    }
    return { width: dstWidth, height: dstHeight, channels: cn, data: out };
  }
  const X = axisTable(sw, dstWidth, true);
  const Y = axisTable(sh, dstHeight, false);
  const rowLen = dstWidth * cn;
  // Horizontal pass of one source row into integers (cached: consecutive output rows share source rows).
  const cache = new Map<number, Int32Array>();
  const hrow = (y: number): Int32Array => {
    let r = cache.get(y);
    if (r) return r;
    r = new Int32Array(rowLen);
    const base = y * sw * cn;
    for (let dx = 0; dx < dstWidth; dx++) {
      const sx = X.ofs[dx];
      for (let c = 0; c < cn; c++) {
        const s0 = data[base + sx * cn + c];
        r[dx * cn + c] = sx + 1 < sw ? s0 * X.w0[dx] + data[base + (sx + 1) * cn + c] * X.w1[dx] : s0 * COEF_SCALE;
      }
    }
    if (cache.size > 4) cache.delete(cache.keys().next().value as number);
    cache.set(y, r);
    return r;
  };
  const simd = (o.vertical ?? 'simd') === 'simd';
  // Values the SIMD loops cover: runs of 16 while x <= len - 16, then of 8 while x < len - 8.
  let simdEnd = 0;
  if (simd) {
    while (simdEnd <= rowLen - SIMD_U8_LANES) simdEnd += SIMD_U8_LANES;
    while (simdEnd < rowLen - SIMD_I16_LANES) simdEnd += SIMD_I16_LANES;
  }
  for (let dy = 0; dy < dstHeight; dy++) {
    const sy = Y.ofs[dy];
    const S0 = hrow(Math.min(sh - 1, Math.max(0, sy)));
    const S1 = hrow(Math.min(sh - 1, Math.max(0, sy + 1)));
    const b0 = Y.w0[dy], b1 = Y.w1[dy];
    const o0 = dy * rowLen;
    for (let x = 0; x < rowLen; x++) {
      let v: number;
      if (x < simdEnd) {
        v = (Math.floor(((S0[x] >> 4) * b0) / 65536) + Math.floor(((S1[x] >> 4) * b1) / 65536) + 2) >> 2;
      } else {
        v = Math.floor((S0[x] * b0 + S1[x] * b1 + (1 << 21)) / (1 << 22));
      }
      out[o0 + x] = sat8(v);
    }
  }
  return { width: dstWidth, height: dstHeight, channels: cn, data: out };
}

/** The colab's crop_center_square: the largest centred square. */
export function centerSquare(width: number, height: number): { x: number; y: number; size: number } {
  const m = Math.min(width, height);
  return { x: Math.floor(width / 2) - Math.floor(m / 2), y: Math.floor(height / 2) - Math.floor(m / 2), size: m };
}

/**
 * One frame through the colab's pipeline: -> float32 [size, size, 3] RGB in
 * [0, 1] (written into `out` at `offset` when given).
 */
export function preprocessFrame(frame: ImageInput, size = 224, o: BilinearOptions = {}, out?: Float32Array, offset = 0): Float32Array {
  const img = toRgba(frame);
  const box = centerSquare(img.width, img.height);
  const rgb = resizeBilinearU8(cropRgb(img, { x: box.x, y: box.y, width: box.size, height: box.size }), size, size, o).data;
  const dst = out ?? new Float32Array(size * size * 3);
  for (let i = 0; i < rgb.length; i++) dst[offset + i] = Math.fround(rgb[i] / 255);
  return dst;
}

/** Reconstructed colours [n * 3] in ~[0, 1] -> RGBA bytes as the colab's to_gif: clip(x * 255, 0, 255) truncated. */
export function toRgbaBytes(rgb: ArrayLike<number>, out = new Uint8ClampedArray((rgb.length / 3) * 4)): Uint8ClampedArray {
  const n = rgb.length / 3;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const v = rgb[i * 3 + c];
      out[i * 4 + c] = Number.isNaN(v) ? 0 : Math.trunc(Math.min(255, Math.max(0, v * 255)));
    }
    out[i * 4 + 3] = Number.isNaN(rgb[i * 3]) ? 0 : 255;
  }
  return out;
}

/**
 * The image input's space-to-depth (the colab's, dt = 1): frames
 * [T, H, W, 3] -> patches [T * H/s * W/s, s * s * 3], each patch's values
 * in (dh, dw, c) order. Plain data movement, done on the host before upload.
 */
export function spaceToDepth(frames: Float32Array, T: number, H: number, W: number, s: number): Float32Array {
  const out = new Float32Array(frames.length);
  const row = s * 3; // one patch row: s pixels x 3 channels, contiguous in the frame
  let o = 0;
  for (let t = 0; t < T; t++) {
    for (let y = 0; y < H; y += s) {
      for (let x = 0; x < W; x += s) {
        for (let dy = 0; dy < s; dy++, o += row) {
          const at = ((t * H + y + dy) * W + x) * 3;
          out.set(frames.subarray(at, at + row), o);
        }
      }
    }
  }
  return out;
}
