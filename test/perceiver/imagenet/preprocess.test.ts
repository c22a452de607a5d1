// perceiver/imagenet/preprocess.ts: the colab's centre crop, OpenCV's
// INTER_CUBIC resize (against OpenCV's own outputs, a hand computation and an
// independent reference written here from the formula), normalisation, and
// the whole pipeline on the shared photographs.
//
// The OpenCV values below come from OpenCV 4.6.0 (Debian python3-opencv,
// x86-64, SSE2 baseline):
//   pattern = ((x*53 + y*97 + c*71 + x*y*13) % 256) as uint8, HWC
//   cv2.resize(pattern, (dw, dh), interpolation=cv2.INTER_CUBIC).tobytes().hex()
// and for the photographs the colab's preprocess (crop, cv2.resize, numpy
// normalisation in float64 then float32), hashed with sha256.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import {
  centerCropBox,
  cropRgb,
  resizeBicubicU8,
  normalizeImageNet,
  preprocessImageNet,
  IMAGENET_MEAN,
  IMAGENET_STD,
  type PixelsU8,
} from '../../../perceiver/imagenet/preprocess.ts';
import { readPng } from '../../../tools/png.ts';
import { skip } from '../../skip.ts';

const here = dirname(fileURLToPath(import.meta.url));
const MEDIA = join(here, '../../../../shared/media');
const REPO_MEDIA = join(here, '../../media');

const sha256 = (b: ArrayBufferView) => createHash('sha256').update(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)).digest('hex');

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s >>> 24;
  };
}

function randomPixels(width: number, height: number, channels: number, seed: number): PixelsU8 {
  const r = rng(seed);
  return { width, height, channels, data: new Uint8Array(width * height * channels).map(() => r()) };
}

function pattern(width: number, height: number, channels: number): PixelsU8 {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = (x * 53 + y * 97 + c * 71 + x * y * 13) % 256;
    }
  }
  return { width, height, channels, data };
}

/**
 * An independent reference for OpenCV's 8-bit INTER_CUBIC, from the formula:
 * Keys' kernel (a = -0.75) in double, each weight rounded to a multiple of
 * 1/2048 on its own (so they need not sum to exactly 1), separable integer sums with replicated
 * borders, result (sum + 2^21) >> 22 saturated. `quantise: false` gives the
 * ideal real-valued bicubic instead, rounded to the nearest integer.
 */
function referenceCubic(src: PixelsU8, dw: number, dh: number, quantise = true): Uint8Array {
  const a = -0.75;
  const kernel = (t: number) => {
    t = Math.abs(t);
    return t <= 1 ? (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1 : t < 2 ? a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a : 0;
  };
  const taps = (dst: number, srcSize: number, dstSize: number) => {
    const f = (dst + 0.5) * (srcSize / dstSize) - 0.5;
    const i = Math.floor(f);
    const t = f - i;
    let w = [kernel(1 + t), kernel(t), kernel(1 - t), kernel(2 - t)];
    if (quantise) w = w.map((v) => Math.round(v * 2048));
    return { index: [i - 1, i, i + 1, i + 2].map((k) => Math.min(srcSize - 1, Math.max(0, k))), w };
  };
  const { width: sw, height: sh, channels: cn, data } = src;
  const out = new Uint8Array(dw * dh * cn);
  for (let y = 0; y < dh; y++) {
    const ty = taps(y, sh, dh);
    for (let x = 0; x < dw; x++) {
      const tx = taps(x, sw, dw);
      for (let c = 0; c < cn; c++) {
        let sum = 0;
        for (let j = 0; j < 4; j++) {
          let row = 0;
          for (let i = 0; i < 4; i++) row += data[(ty.index[j] * sw + tx.index[i]) * cn + c] * tx.w[i];
          sum += row * ty.w[j];
        }
        const v = quantise ? Math.floor((sum + 2 ** 21) / 2 ** 22) : Math.round(sum);
        out[(y * dw + x) * cn + c] = Math.max(0, Math.min(255, v));
      }
    }
  }
  return out;
}

function countDiffs(a: Uint8Array, b: Uint8Array): { n: number; max: number } {
  assert.is(a.length, b.length);
  let n = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d) n++;
    max = Math.max(max, d);
  }
  return { n, max };
}

// ------------------------------------------------------------ crop

test('centerCropBox: the colab formula on the shared photographs and odd sizes', () => {
  assert.equal(centerCropBox(451, 300), { x: 95, y: 19, size: 262 }); // chelsea
  assert.equal(centerCropBox(600, 400), { x: 125, y: 25, size: 350 }); // coffee
  assert.equal(centerCropBox(512, 512), { x: 32, y: 32, size: 448 }); // astronaut
  // c = floor(0.875 * 257) = 224; ((301-224)+1)//2 = 39, ((257-224)+1)//2 = 17.
  assert.equal(centerCropBox(301, 257), { x: 39, y: 17, size: 224 });
  // Odd remainders round the offset up: ((W-c)+1)//2 with W-c = 3 gives 2.
  assert.equal(centerCropBox(11, 8), { x: 2, y: 1, size: 7 });
  // Portrait: the width is the short side.
  assert.equal(centerCropBox(255, 999), { x: 16, y: 388, size: 223 });
  assert.equal(centerCropBox(2, 2), { x: 1, y: 1, size: 1 }); // c = 1, ((2-1)+1)//2 = 1
  // size/(size+32) generalises to other model sizes: 64/96 of 90 = 60.
  assert.equal(centerCropBox(90, 120, 64), { x: 15, y: 30, size: 60 });
  assert.throws(() => centerCropBox(1, 1), /too small/);
  assert.throws(() => centerCropBox(0, 10), /invalid image size/);
  assert.throws(() => centerCropBox(10.5, 10), /invalid image size/);
});

test('cropRgb drops alpha and copies the right window', () => {
  const img = { width: 3, height: 2, data: new Uint8ClampedArray(24).map((_, i) => i) };
  assert.equal(Array.from(cropRgb(img, { x: 1, y: 1, width: 2, height: 1 }).data), [16, 17, 18, 20, 21, 22]);
  assert.throws(() => cropRgb(img, { x: 2, y: 0, width: 2, height: 1 }), /outside the 3x2 image/);
});

// ------------------------------------------------------------ resize

test('resize: OpenCV 4.6 outputs, including row tails off the SIMD path', () => {
  const cases: [number, number, number, number, number, string][] = [
    // [h, w, c, dw, dh, cv2 output hex]
    [4, 5, 3, 11, 9, '00377b00438f1155b22f78dc429bff5dbfff81f29fa4fd2dc7a817d93045e5005706529d1460a02d7aa14f92b26995db7e9ce385c39c88d74ca0a144ba4d6dc8217f288eea3fa1c665ca8294ca59bf8973c551988d5f954c888d4c90a37586c18783d1639dff70b3cc86e56aaadd2bdd7f3fe32d749132923366ac2c8ed35da8ef73b7ffb251a59b65956e8e735ba16b818191a26ab08b89976baf787ea795a785c9bb74e4d7044ba6175e48377c0f64aa2883e262a6ed85e09fa4f946d1c049f06283ff319e9c13617f29644552652b777c4f79af8082c989b3a58bd76cb0be54d98358ef6657364fae416a8b52a24577af23af6d46c7377e914fa84f87b35cad8894bd44afc820056ad023879b56c6359ac900dc6714e8145a9420aa3362d635a59f75d93691f701'],
    [9, 7, 3, 4, 3, '74cca6d5257e5ba5feda7d57b48e315894db315bb4db7e5875cd70c4165ddf318a28805a'],
    [3, 3, 1, 6, 6, '0000183b53620c1f3f66809037537fb1ccde8082839fc4dbbc91493a6d8be29b2700395a'],
    [2, 6, 2, 13, 3, '003900461559337d469c63c084f3a6f5d894e8219906223400472a71398352a776b09b89a76e858c63aa7a8f9d698f72679553a762a973c08ff5b9e3ef76eb1d8626215f1b8a51b085ddabf7c3ff'],
  ];
  for (const [h, w, c, dw, dh, hex] of cases) {
    const out = resizeBicubicU8(pattern(w, h, c), dw, dh);
    assert.equal([out.width, out.height, out.channels], [dw, dh, c]);
    assert.is(Buffer.from(out.data).toString('hex'), hex, `${w}x${h}x${c} -> ${dw}x${dh}`);
  }
});

test('resize: 2x upsampling computed by hand', () => {
  // Scale 1/2: output d samples f = d/2 - 0.25, so fractions alternate 0.75 / 0.25.
  // Keys (a = -0.75) at t = 0.25: (-0.10546875, 0.87890625, 0.26171875, -0.03515625),
  // exactly (-216, 1800, 536, -72) / 2048; t = 0.75 is the mirror image.
  // One row stays one row (vertical weights (0, 2048, 0, 0)), so each output is
  // round(sum / 2048) over the clamped taps.
  const src = { width: 4, height: 1, channels: 1, data: new Uint8Array([10, 50, 200, 90]) };
  const W25 = [-216, 1800, 536, -72];
  const W75 = [-72, 536, 1800, -216];
  const at = (i: number) => src.data[Math.min(3, Math.max(0, i))];
  const expected = [];
  for (let d = 0; d < 8; d++) {
    const first = Math.floor(d / 2 - 0.25) - 1;
    const w = d % 2 ? W25 : W75;
    const sum = w.reduce((s, wk, k) => s + wk * at(first + k), 0);
    expected.push(Math.max(0, Math.min(255, Math.round(sum / 2048))));
  }
  // d = 0: taps 0,0,0,1 -> 10*(-72+536+1800) + 50*(-216) = 11840 -> 5.78 -> 6.
  assert.is(expected[0], 6);
  assert.equal(expected, [6, 14, 25, 92, 179, 191, 120, 78]); // what cv2.resize gives too
  assert.equal(Array.from(resizeBicubicU8(src, 8, 1).data), expected);
});

test('resize: equals an independent reference of the formula (scalar path exactly, SIMD path within 1)', () => {
  let seed = 1;
  let simdDiffs = 0;
  let total = 0;
  for (const [w, h, c, dw, dh] of [
    [7, 5, 3, 16, 11], [16, 11, 3, 7, 5], [1, 1, 3, 4, 3], [13, 9, 1, 13, 20], [20, 3, 4, 9, 9], [31, 29, 3, 24, 24], [5, 40, 2, 17, 6],
  ]) {
    const src = randomPixels(w, h, c, seed++);
    const ref = referenceCubic(src, dw, dh);
    const fixed = resizeBicubicU8(src, dw, dh, { vertical: 'fixed' }).data;
    const simd = resizeBicubicU8(src, dw, dh).data;
    assert.equal(countDiffs(fixed, ref), { n: 0, max: 0 }, `${w}x${h}x${c} -> ${dw}x${dh} (fixed)`);
    const d = countDiffs(simd, ref);
    assert.ok(d.max <= 1, `${w}x${h}x${c} -> ${dw}x${dh}: SIMD path off by ${d.max}`);
    simdDiffs += d.n;
    total += ref.length;
    // The quantised weights stay within one level of the ideal real-valued bicubic.
    assert.ok(countDiffs(simd, referenceCubic(src, dw, dh, false)).max <= 1);
  }
  assert.ok(simdDiffs < total / 100, `SIMD and scalar paths differ on ${simdDiffs} of ${total} values`);
});

test('resize: a constant image stays constant, up and down, any channel count', () => {
  for (const [w, h, c, dw, dh] of [[5, 3, 3, 224, 224], [300, 262, 3, 224, 224], [1, 1, 1, 7, 9], [9, 4, 4, 2, 1]]) {
    for (const v of [0, 1, 128, 254, 255]) {
      const src = { width: w, height: h, channels: c, data: new Uint8Array(w * h * c).fill(v) };
      const out = resizeBicubicU8(src, dw, dh).data;
      assert.ok(out.every((x) => x === v), `${w}x${h} of ${v} -> ${dw}x${dh}`);
    }
  }
});

test('resize: identity when the sizes match (a copy, as cv2.resize makes)', () => {
  const src = randomPixels(23, 17, 3, 9);
  const out = resizeBicubicU8(src, 23, 17);
  assert.equal(Array.from(out.data), Array.from(src.data));
  assert.ok(out.data !== src.data);
  // Same width, new height: rows pass through the horizontal step unchanged.
  const tall = resizeBicubicU8(src, 23, 40, { vertical: 'fixed' });
  assert.equal(Array.from(tall.data), Array.from(referenceCubic(src, 23, 40)));
});

test('resize: symmetric: mirroring the input mirrors the output (within 1), exactly for 2x', () => {
  const mirrorX = (p: PixelsU8): PixelsU8 => {
    const data = new Uint8Array(p.data.length);
    for (let y = 0; y < p.height; y++) {
      for (let x = 0; x < p.width; x++) {
        for (let c = 0; c < p.channels; c++) {
          data[(y * p.width + x) * p.channels + c] = p.data[(y * p.width + (p.width - 1 - x)) * p.channels + c];
        }
      }
    }
    return { ...p, data };
  };
  const transpose = (p: PixelsU8): PixelsU8 => {
    const data = new Uint8Array(p.data.length);
    for (let y = 0; y < p.height; y++) {
      for (let x = 0; x < p.width; x++) {
        for (let c = 0; c < p.channels; c++) data[(x * p.height + y) * p.channels + c] = p.data[(y * p.width + x) * p.channels + c];
      }
    }
    return { width: p.height, height: p.width, channels: p.channels, data };
  };
  const src = randomPixels(12, 10, 3, 77);
  // 2x: the weight sets are exact mirror images of each other.
  assert.equal(
    Array.from(resizeBicubicU8(mirrorX(src), 24, 20).data),
    Array.from(mirrorX(resizeBicubicU8(src, 24, 20)).data),
  );
  for (const [dw, dh] of [[17, 13], [224, 224], [5, 4]]) {
    const a = resizeBicubicU8(mirrorX(src), dw, dh);
    const b = mirrorX(resizeBicubicU8(src, dw, dh));
    assert.ok(countDiffs(a.data, b.data).max <= 1, `mirror ${dw}x${dh}`);
    // Transposing swaps which pass is integer and which is float: within 1.
    const t1 = resizeBicubicU8(transpose(src), dh, dw);
    const t2 = transpose(resizeBicubicU8(src, dw, dh));
    assert.ok(countDiffs(t1.data, t2.data).max <= 1, `transpose ${dw}x${dh}`);
  }
});

test('resize: saturates overshoot at 0 and 255', () => {
  // A hard step overshoots with a = -0.75: both ends clip.
  const src = { width: 4, height: 1, channels: 1, data: new Uint8Array([0, 0, 255, 255]) };
  const out = Array.from(resizeBicubicU8(src, 16, 1).data);
  assert.ok(out.includes(0) && out.includes(255));
  assert.equal(out, Array.from(referenceCubic(src, 16, 1)));
});

test('resize: refuses bad arguments', () => {
  const src = randomPixels(4, 4, 3, 1);
  assert.throws(() => resizeBicubicU8(src, 0, 4), /invalid output size/);
  assert.throws(() => resizeBicubicU8({ ...src, data: src.data.subarray(1) }, 4, 4), /needs 48/);
  assert.throws(() => resizeBicubicU8({ ...src, channels: 0 }, 4, 4), /invalid source/);
});

// ------------------------------------------------------------ normalise and pipeline

test('normalizeImageNet: (x - 255*mean) / (255*std) per channel', () => {
  const out = normalizeImageNet(new Uint8Array([0, 0, 0, 255, 255, 255, 124, 116, 104]));
  for (let c = 0; c < 3; c++) {
    assert.is(out[c], Math.fround((0 - 255 * IMAGENET_MEAN[c]) / (255 * IMAGENET_STD[c])));
    assert.is(out[3 + c], Math.fround((255 - 255 * IMAGENET_MEAN[c]) / (255 * IMAGENET_STD[c])));
  }
  // 124, 116, 104 are the nearest bytes to the means: close to 0.
  assert.ok(Array.from(out.subarray(6)).every((v) => Math.abs(v) < 0.01));
  assert.ok(Math.abs(out[0] - -2.1179039) < 1e-6 && Math.abs(out[5] - 2.64) < 1e-6);
  assert.throws(() => normalizeImageNet(new Uint8Array(4)), /whole number of RGB pixels/);
});

test('preprocessImageNet: shape, alpha ignored, a flat image gives per-channel constants', () => {
  const w = 37, h = 53;
  const flat = { width: w, height: h, data: new Uint8ClampedArray(w * h * 4) };
  for (let i = 0; i < flat.data.length; i += 4) flat.data.set([200, 100, 50, i % 8 ? 0 : 255], i);
  const x = preprocessImageNet(flat);
  assert.ok(x instanceof Float32Array);
  assert.is(x.length, 1 * 224 * 224 * 3);
  const want = [200, 100, 50].map((v, c) => Math.fround((v - 255 * IMAGENET_MEAN[c]) / (255 * IMAGENET_STD[c])));
  for (let i = 0; i < x.length; i++) if (x[i] !== want[i % 3]) assert.unreachable(`value ${i} is ${x[i]}`);
  assert.is(preprocessImageNet(flat, 64).length, 64 * 64 * 3);
  assert.throws(() => preprocessImageNet({ width: 3, height: 3, data: new Uint8Array(35) }), /needs 36/);
});

// sha256 of OpenCV's resized uint8 crop and of the normalised float32 input.
const PHOTOS = [
  { file: 'chelsea.png', u8: '95e4107f4d6354703fc5c9e01fec6c3cc5a2d55579bf6f71601d1eb52aa5d82d', f32: 'f640776b390926a3cc45382ee63953c5d437dae5030dc55806d30a4a9ded895c', px: [-0.42255330085754395, -0.7577030658721924, -1.2641394138336182] },
  { file: 'coffee.png', u8: '7a70f9549260a46aaf3b9245c85ee3d394ae913cb7a4dffb0008f0941c3b7acc', f32: '439bcded3faa426741b03259c3829eada52b4930f4e2a92d2862499172217499', px: [-0.28555527329444885, -1.7380952835083008, -1.6824400424957275] },
  { file: 'astronaut.png', u8: 'd26fe3a175ae35a1bc7d3ef50d71c4aaafc8ff0945389f0c9737938a9d8e5180', f32: '15ed0337540b2bca3021c02d350e68cf938b2d1d058a86095db356a87bebd566', px: [0.46793389320373535, 0.27521008253097534, 0.30448800325393677] },
];

for (const p of PHOTOS) {
  test(`preprocessImageNet(${p.file}) is bit-identical to the colab's OpenCV pipeline`, () => {
    const path = join(MEDIA, p.file);
    if (!existsSync(path)) {
      skip(`${path} is absent (shared/media is read in place)`);
      return;
    }
    const img = readPng(path);
    const box = centerCropBox(img.width, img.height);
    const crop = cropRgb(img, { x: box.x, y: box.y, width: box.size, height: box.size });
    assert.is(sha256(resizeBicubicU8(crop, 224, 224).data), p.u8);
    const x = preprocessImageNet(img);
    assert.is(sha256(x), p.f32);
    assert.equal(Array.from(x.subarray((100 * 224 + 50) * 3, (100 * 224 + 50) * 3 + 3)), p.px); // pixel (row 100, col 50)
  });
}

test('preprocessImageNet on the repository photograph (no shared/ needed)', () => {
  const img = readPng(join(REPO_MEDIA, 'chelsea-224.png'));
  assert.equal(centerCropBox(img.width, img.height), { x: 47, y: 10, size: 130 });
  const x = preprocessImageNet(img);
  assert.is(x.length, 224 * 224 * 3);
  assert.ok(x.every(Number.isFinite));
  const mean = x.reduce((s, v) => s + v, 0) / x.length;
  assert.ok(mean > -2.2 && mean < 2.7, `mean ${mean}`);
});

test.run();
