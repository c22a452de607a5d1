// perceiver/video on the CPU: Kinetics-700 names, windows, PSNR, the colab's
// frame preprocessing (centre square crop, OpenCV INTER_LINEAR resize).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KINETICS700_CLASSES } from '../../perceiver/video/labels.ts';
import { planWindows, windowFrames, windowAudio } from '../../perceiver/video/windows.ts';
import { psnr } from '../../perceiver/video/psnr.ts';
import { resizeBilinearU8, centerSquare, preprocessFrame, toRgbaBytes, spaceToDepth, type PixelsU8 } from '../../perceiver/video/preprocess.ts';
import { rectIndices, frameIndices, audioPatchIndices, scatterImage, scatterAudio } from '../../perceiver/video/model.ts';
import { defaultConfig, type MultimodalConfig } from '../../perceiver/config.ts';

test('Kinetics-700 class names: 700 unique, alphabetical, the colab order', () => {
  assert.is(KINETICS700_CLASSES.length, 700);
  assert.is(new Set(KINETICS700_CLASSES).size, 700);
  for (let i = 1; i < 700; i++) assert.ok(KINETICS700_CLASSES[i - 1].toLowerCase() < KINETICS700_CLASSES[i].toLowerCase(), `order at ${i}`);
  assert.is(KINETICS700_CLASSES[0], 'abseiling');
  assert.is(KINETICS700_CLASSES[18], 'baby waking up');
  assert.is(KINETICS700_CLASSES[699], 'zumba');
  assert.ok(KINETICS700_CLASSES.every((c) => !/^class \d+$/.test(c)));
});

test("space-to-depth of the image input: einops 't (h dh) (w dw) c -> (t h w) (dh dw c)'", () => {
  for (const [T, H, W, s] of [[2, 8, 12, 4], [3, 6, 4, 2], [1, 5, 5, 1]]) {
    const x = Float32Array.from({ length: T * H * W * 3 }, (_, i) => i * 0.5 - 7);
    const want: number[] = [];
    for (let t = 0; t < T; t++) for (let h = 0; h < H / s; h++) for (let w = 0; w < W / s; w++)
      for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) for (let c = 0; c < 3; c++) want.push(x[((t * H + h * s + i) * W + w * s + j) * 3 + c]);
    assert.equal(Array.from(spaceToDepth(x, T, H, W, s)), want, `${T}x${H}x${W}, ${s}`);
  }
});

test('windows: 16-frame windows, last padded and trimmed, audio padded with silence', () => {
  const layout = { framesPerWindow: 16, samplesPerFrame: 1920 };
  const w = planWindows(35, 35 * 1920 - 1000, layout);
  assert.is(w.length, 3);
  assert.equal(w.map((p) => [p.firstFrame, p.frames, p.paddedFrames]), [[0, 16, 0], [16, 16, 0], [32, 3, 13]]);
  assert.equal(w.map((p) => p.samples), [30720, 30720, 3 * 1920 - 1000]);
  assert.is(planWindows(16, 0, layout)[0].samples, 0);
  // Longer audio is cut at the last frame.
  assert.is(planWindows(3, 10 * 1920, layout)[0].samples, 3 * 1920);
  assert.throws(() => planWindows(0, 0, layout), /at least one frame/);
  // Padding repeats the last real frame; audio after the real samples is zero.
  const frame = 2;
  const clip = Float32Array.from({ length: 5 * frame }, (_, i) => Math.floor(i / frame));
  const p = planWindows(5, 7, { framesPerWindow: 4, samplesPerFrame: 2 })[1];
  assert.equal([...windowFrames(clip, frame, p, 4)], [4, 4, 4, 4, 4, 4, 4, 4]);
  const audio = Float32Array.from({ length: 7 }, (_, i) => i + 1);
  assert.equal([...windowAudio(audio, planWindows(5, 7, { framesPerWindow: 4, samplesPerFrame: 2 })[0], 8)], [1, 2, 3, 4, 5, 6, 7, 0]);
  assert.equal([...windowAudio(null, p, 3)], [0, 0, 0]);
});

test('psnr: definition, NaN positions skipped, clipping', () => {
  const ref = [0, 0.5, 1, 0.25];
  assert.is(psnr(ref, ref).psnr, Infinity);
  const r = psnr([0.1, 0.5, 1, 0.25], ref);
  assert.ok(Math.abs(r.mse - 0.01 / 4) < 1e-12);
  assert.ok(Math.abs(r.psnr - 10 * Math.log10(4 / 0.01)) < 1e-9);
  assert.is(psnr([NaN, 0.6, NaN, NaN], ref).count, 1);
  assert.ok(Number.isNaN(psnr([NaN, NaN], [0, 0]).psnr));
  assert.is(psnr([1.5, -0.5], [1, 0], { clip: [0, 1] }).psnr, Infinity);
  assert.ok(Math.abs(psnr([2], [0], { peak: 2 }).psnr - 0) < 1e-12);
});

function image(w: number, h: number, c: number, seed = 1): PixelsU8 {
  let s = seed;
  const data = new Uint8Array(w * h * c).map(() => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) & 255);
  return { width: w, height: h, channels: c, data };
}

/** Float bilinear with OpenCV's half-pixel centres and edge clamping. */
function bilinearRef(src: PixelsU8, dw: number, dh: number): Float64Array {
  const { width: sw, height: sh, channels: cn, data } = src;
  const out = new Float64Array(dw * dh * cn);
  const coord = (d: number, s: number, n: number) => {
    let f = (d + 0.5) * (s / n) - 0.5;
    let i = Math.floor(f);
    f -= i;
    if (i < 0) (i = 0), (f = 0);
    if (i >= s - 1) (i = s - 1), (f = 0);
    return [i, f] as const;
  };
  for (let y = 0; y < dh; y++) {
    let fy = (y + 0.5) * (sh / dh) - 0.5;
    const y0 = Math.floor(fy);
    fy -= y0;
    const r0 = Math.min(sh - 1, Math.max(0, y0)), r1 = Math.min(sh - 1, Math.max(0, y0 + 1));
    for (let x = 0; x < dw; x++) {
      const [x0, fx] = coord(x, sw, dw);
      const x1 = Math.min(sw - 1, x0 + 1);
      for (let c = 0; c < cn; c++) {
        const v = (r: number) => data[(r * sw + x0) * cn + c] * (1 - fx) + data[(r * sw + x1) * cn + c] * fx;
        out[(y * dw + x) * cn + c] = v(r0) * (1 - fy) + v(r1) * fy;
      }
    }
  }
  return out;
}

test('resizeBilinearU8: within one level of exact bilinear (down, up, odd sizes), both vertical paths', () => {
  for (const [sw, sh, dw, dh] of [[360, 360, 224, 224], [97, 61, 224, 224], [300, 300, 224, 224], [13, 17, 40, 9]]) {
    const src = image(sw, sh, 3, sw + dh);
    const ref = bilinearRef(src, dw, dh);
    for (const vertical of ['simd', 'fixed'] as const) {
      const got = resizeBilinearU8(src, dw, dh, { vertical });
      assert.is(got.data.length, dw * dh * 3);
      let worst = 0;
      for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got.data[i] - ref[i]));
      assert.ok(worst <= 1.01, `${sw}x${sh} -> ${dw}x${dh} ${vertical}: ${worst}`);
    }
  }
  // Constant images stay constant; equal sizes copy; an exact 2x downscale averages 2x2 blocks.
  const flat: PixelsU8 = { width: 50, height: 30, channels: 3, data: new Uint8Array(4500).fill(200) };
  assert.ok(resizeBilinearU8(flat, 224, 224).data.every((v) => v === 200));
  const src = image(8, 6, 3);
  assert.equal(resizeBilinearU8(src, 8, 6).data, src.data);
  const half = resizeBilinearU8(src, 4, 3);
  const a = (x: number, y: number, c: number) => src.data[(y * 8 + x) * 3 + c];
  assert.is(half.data[(1 * 4 + 2) * 3 + 1], (a(4, 2, 1) + a(5, 2, 1) + a(4, 3, 1) + a(5, 3, 1) + 2) >> 2);
});

test('preprocessFrame: centre square crop as the colab, /255 float32', () => {
  assert.equal(centerSquare(320, 240), { x: 40, y: 0, size: 240 });
  assert.equal(centerSquare(101, 200), { x: 0, y: 50, size: 101 });
  assert.equal(centerSquare(7, 4), { x: 1, y: 0, size: 4 });
  // A 6x4 RGBA image whose centre 4x4 square is white and sides black -> all 1.
  const w = 6, h = 4;
  const data = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 1; x < 5; x++) data.set([255, 255, 255, 255], (y * w + x) * 4);
  const out = preprocessFrame({ width: w, height: h, data }, 8);
  assert.is(out.length, 8 * 8 * 3);
  assert.ok(out.every((v) => v === 1));
  const gray = preprocessFrame({ width: 2, height: 2, data: new Uint8ClampedArray(16).fill(51) }, 2);
  assert.ok(gray.every((v) => v === Math.fround(51 / 255)));
  assert.equal([...toRgbaBytes([0.5, 1.2, -1, NaN, 0, 0])], [127, 255, 0, 255, 0, 0, 0, 0]);
});

test('selections: frames, rectangles, audio patches; scatter', () => {
  const g = { frames: 3, height: 4, width: 5, audioSamples: 64 };
  assert.equal([...frameIndices(g, [2, 0, 2])].slice(0, 3), [0, 1, 2]);
  assert.is(frameIndices(g, [2, 0]).length, 40);
  assert.is(frameIndices(g, [2, 0])[20], 40);
  assert.equal([...rectIndices(g, { frameStart: 1, frameEnd: 2, x: 3, y: 2, width: 2, height: 2 })], [33, 34, 38, 39]);
  assert.throws(() => rectIndices(g, { x: 4, y: 0, width: 2, height: 1 }), /outside/);
  assert.throws(() => frameIndices(g, [3]), /outside/);
  const cfg = defaultConfig('multimodal-autoencoder') as MultimodalConfig;
  assert.equal([...audioPatchIndices(cfg, g, 15, 33)], [0, 1, 2]);
  const img = scatterImage(g, Uint32Array.of(1, 59), Float32Array.of(1, 2, 3, 4, 5, 6));
  assert.equal([...img.subarray(3, 6)], [1, 2, 3]);
  assert.equal([...img.subarray(177, 180)], [4, 5, 6]);
  assert.ok(Number.isNaN(img[0]));
  const aud = scatterAudio(cfg, g, Uint32Array.of(3), new Float32Array(16).fill(7));
  assert.ok(aud.subarray(48).every((v) => v === 7) && Number.isNaN(aud[47]));
});

test.run();
