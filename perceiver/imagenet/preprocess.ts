// The ImageNet colab's input pipeline (reference/PERCEIVER_IO.md §14), on the
// CPU and browser-safe (no node: imports):
//
//   RGBA bytes -> centre crop of side c = floor(224/(224+32) * min(H, W)) at
//   offsets ((H-c)+1)//2, ((W-c)+1)//2 -> cv2.resize(crop, (224, 224),
//   interpolation=cv2.INTER_CUBIC) on uint8 RGB -> (x - 255*mean) / (255*std)
//   -> Float32Array NHWC [1, 224, 224, 3].
//
// resizeBicubicU8 reproduces OpenCV's 8-bit INTER_CUBIC resize bit for bit
// (imgproc/src/resize.cpp, resizeGeneric_ with HResizeCubic/VResizeCubic):
//   - output pixel d samples the source at f = float((d + 0.5) * scale - 0.5),
//     scale = 1 / (dstSize / srcSize) in double, f rounded to float32;
//   - Keys' cubic kernel with a = -0.75 evaluated in float32 at the fraction
//     f - floor(f), each weight then quantised to 11 fractional bits
//     (round(w * 2048), ties to even); the 4th weight is 1 - w0 - w1 - w2;
//   - taps floor(f) - 1 .. floor(f) + 2, clamped to the image (border
//     replication), horizontal pass first into exact integers;
//   - the vertical pass: OpenCV built with SIMD (every x86-64 build: SSE2
//     baseline) converts the integer rows to float32 and computes
//     round_half_even(S0*b0 + (S1*b1 + (S2*b2 + S3*b3))) in float32 with
//     b_k = beta_k / 2^22, for runs of 8 values; the row's remaining
//     (width*channels mod 8) values take the scalar path
//     (sum + 2^21) >> 22. Both saturate to 0..255. `vertical: 'fixed'` uses
//     the scalar path everywhere (an OpenCV built without SIMD); the two
//     differ by 1 on rare pixels.
// Equal sizes copy the input, as cv2.resize does.

import { cropRgb, roundEven, type PixelsU8, type RgbaImage } from '../image.ts';

export { cropRgb, type PixelsU8 };

export interface CropBox {
  /** Left column of the crop. */
  x: number;
  /** Top row of the crop. */
  y: number;
  /** Side of the square crop. */
  size: number;
}

export interface ResizeOptions {
  /**
   * 'simd' (default): the vertical pass of OpenCV's x86-64 builds (SSE2
   * baseline: pip's opencv-python, Linux distributions), float32 without FMA.
   * 'fixed': its scalar fixed-point pass (builds without SIMD). ARM builds
   * fuse the multiply-adds and may differ from both by 1 on rare values.
   */
  vertical?: 'simd' | 'fixed';
}

/** ImageNet channel means and standard deviations (RGB, for [0, 1] pixels). */
export const IMAGENET_MEAN: readonly number[] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly number[] = [0.229, 0.224, 0.225];
/** The colab's crop padding: the crop is size/(size+32) of the shorter side. */
export const CROP_PADDING = 32;

/** OpenCV's INTER_RESIZE_COEF_BITS: interpolation weights carry 11 fractional bits. */
const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS;
/** The vertical pass's shift: two 11-bit weights multiplied. */
const SHIFT = 2 * COEF_BITS;
/** Values per SIMD iteration of OpenCV's vertical pass (v_int16 lanes at the SSE2/NEON baseline). */
const SIMD_VALUES = 8;
/** Keys' cubic parameter in OpenCV. */
const A = -0.75;

const f32 = Math.fround;

/**
 * The colab's centre crop of an image of the given size: a square of side
 * floor(size/(size+padding) * min(H, W)) at offsets ((H-c)+1)//2, ((W-c)+1)//2.
 */
export function centerCropBox(width: number, height: number, size = 224, padding = CROP_PADDING): CropBox {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new Error(`centerCropBox: invalid image size ${width}x${height}`);
  }
  const side = Math.floor((size / (size + padding)) * Math.min(width, height));
  if (side < 1) throw new Error(`centerCropBox: image ${width}x${height} is too small to crop`);
  return { x: Math.floor((width - side + 1) / 2), y: Math.floor((height - side + 1) / 2), size: side };
}

/**
 * For each output coordinate: the first tap's source index (floor(f) - 1,
 * unclamped) and the four weights quantised to 11 bits, as OpenCV computes them.
 */
function cubicTable(srcSize: number, dstSize: number): { first: Int32Array; weights: Int32Array } {
  const scale = 1 / (dstSize / srcSize);
  const first = new Int32Array(dstSize);
  const weights = new Int32Array(dstSize * 4);
  for (let d = 0; d < dstSize; d++) {
    let fx = f32((d + 0.5) * scale - 0.5);
    const sx = Math.floor(fx);
    fx = f32(fx - sx);
    first[d] = sx - 1;
    // interpolateCubic(fx, coeffs), float32 throughout.
    const x1 = f32(fx + 1);
    let t = f32(A * x1);
    t = f32(t - 5 * A);
    t = f32(t * x1);
    t = f32(t + 8 * A);
    t = f32(t * x1);
    const c0 = f32(t - 4 * A);
    t = f32((A + 2) * fx);
    t = f32(t - (A + 3));
    t = f32(t * fx);
    t = f32(t * fx);
    const c1 = f32(t + 1);
    const om = f32(1 - fx);
    t = f32((A + 2) * om);
    t = f32(t - (A + 3));
    t = f32(t * om);
    t = f32(t * om);
    const c2 = f32(t + 1);
    const c3 = f32(f32(f32(1 - c0) - c1) - c2);
    const cs = [c0, c1, c2, c3];
    for (let k = 0; k < 4; k++) {
      // saturate_cast<short>(c * INTER_RESIZE_COEF_SCALE)
      weights[d * 4 + k] = Math.max(-32768, Math.min(32767, roundEven(f32(cs[k] * COEF_SCALE))));
    }
  }
  return { first, weights };
}

/**
 * Resize interleaved 8-bit pixels exactly as OpenCV's
 * cv2.resize(src, (dstWidth, dstHeight), interpolation=cv2.INTER_CUBIC).
 */
export function resizeBicubicU8(src: PixelsU8, dstWidth: number, dstHeight: number, options: ResizeOptions = {}): PixelsU8 {
  const { width: sw, height: sh, channels: cn, data } = src;
  if (!(Number.isInteger(sw) && Number.isInteger(sh) && sw > 0 && sh > 0 && Number.isInteger(cn) && cn > 0)) {
    throw new Error(`resizeBicubicU8: invalid source ${sw}x${sh}x${cn}`);
  }
  if (data.length !== sw * sh * cn) {
    throw new Error(`resizeBicubicU8: source has ${data.length} bytes, ${sw}x${sh}x${cn} needs ${sw * sh * cn}`);
  }
  if (!(Number.isInteger(dstWidth) && Number.isInteger(dstHeight) && dstWidth > 0 && dstHeight > 0)) {
    throw new Error(`resizeBicubicU8: invalid output size ${dstWidth}x${dstHeight}`);
  }
  if (sw === dstWidth && sh === dstHeight) return { width: sw, height: sh, channels: cn, data: data.slice() };

  const xt = cubicTable(sw, dstWidth);
  const yt = cubicTable(sh, dstHeight);
  const rowLen = dstWidth * cn;

  // Horizontal pass of every source row that some output row reads, into exact integers.
  const rows = new Map<number, Int32Array>();
  const hrow = (sy: number): Int32Array => {
    let r = rows.get(sy);
    if (r) return r;
    r = new Int32Array(rowLen);
    const base = sy * sw * cn;
    for (let dx = 0; dx < dstWidth; dx++) {
      const x0 = xt.first[dx];
      const w = dx * 4;
      for (let j = 0; j < 4; j++) {
        const xs = Math.min(sw - 1, Math.max(0, x0 + j));
        const a = xt.weights[w + j];
        const s = base + xs * cn;
        for (let c = 0; c < cn; c++) r[dx * cn + c] += data[s + c] * a;
      }
    }
    rows.set(sy, r);
    return r;
  };

  const out = new Uint8Array(dstHeight * rowLen);
  const simdEnd = options.vertical === 'fixed' ? 0 : rowLen - (rowLen % SIMD_VALUES);
  const half = 1 << (SHIFT - 1);
  const inv = 1 / (1 << SHIFT);
  for (let dy = 0; dy < dstHeight; dy++) {
    const y0 = yt.first[dy];
    const S = [0, 1, 2, 3].map((k) => hrow(Math.min(sh - 1, Math.max(0, y0 + k))));
    const [S0, S1, S2, S3] = S;
    const [i0, i1, i2, i3] = yt.weights.subarray(dy * 4, dy * 4 + 4);
    const b0 = f32(i0 * inv), b1 = f32(i1 * inv), b2 = f32(i2 * inv), b3 = f32(i3 * inv);
    const o = dy * rowLen;
    let x = 0;
    for (; x < simdEnd; x++) {
      // v_muladd without FMA at the SSE2 baseline: each product and sum rounded to float32.
      let v = f32(S3[x] * b3);
      v = f32(f32(S2[x] * b2) + v);
      v = f32(f32(S1[x] * b1) + v);
      v = f32(f32(S0[x] * b0) + v);
      out[o + x] = Math.max(0, Math.min(255, roundEven(v)));
    }
    for (; x < rowLen; x++) {
      const sum = S0[x] * i0 + S1[x] * i1 + S2[x] * i2 + S3[x] * i3;
      out[o + x] = Math.max(0, Math.min(255, Math.floor((sum + half) / (1 << SHIFT))));
    }
  }
  return { width: dstWidth, height: dstHeight, channels: cn, data: out };
}

/**
 * (x - 255*mean) / (255*std) per RGB channel, computed in double as numpy does
 * and stored as float32. Input: HWC RGB bytes; output: the same layout.
 */
export function normalizeImageNet(rgb: Uint8Array | Uint8ClampedArray, out = new Float32Array(rgb.length)): Float32Array {
  if (rgb.length % 3 !== 0) throw new Error(`normalizeImageNet: ${rgb.length} bytes is not a whole number of RGB pixels`);
  if (out.length !== rgb.length) throw new Error(`normalizeImageNet: output has ${out.length} values, input ${rgb.length}`);
  const mean = IMAGENET_MEAN.map((m) => m * 255);
  const std = IMAGENET_STD.map((s) => s * 255);
  for (let i = 0; i < rgb.length; i += 3) {
    out[i] = (rgb[i] - mean[0]) / std[0];
    out[i + 1] = (rgb[i + 1] - mean[1]) / std[1];
    out[i + 2] = (rgb[i + 2] - mean[2]) / std[2];
  }
  return out;
}

/**
 * The ImageNet colab's preprocessing of one RGBA image (browser ImageData or
 * { width, height, data }): centre crop, OpenCV bicubic resize to size x size,
 * mean/std normalisation. Returns NHWC float32 [1, size, size, 3], RGB.
 */
export function preprocessImageNet(img: RgbaImage, size = 224, options: ResizeOptions = {}): Float32Array {
  const { width, height, data } = img;
  if (data.length !== width * height * 4) {
    throw new Error(`preprocessImageNet: image data has ${data.length} bytes; ${width}x${height} RGBA needs ${width * height * 4}`);
  }
  const box = centerCropBox(width, height, size);
  const crop = cropRgb(img, { x: box.x, y: box.y, width: box.size, height: box.size });
  const resized = resizeBicubicU8(crop, size, size, options);
  return normalizeImageNet(resized.data);
}
