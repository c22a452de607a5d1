// Optical flow without the model: .flo files, the colab's tiling and tent
// stitching, edge padding of small frames, the end-point error and the
// colour-wheel picture of a known translation of a real photograph.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testGpu, randn } from '../gpu.ts';
import { readFlo, writeFlo, FloError, FLO_MAGIC } from '../../perceiver/flow/flo.ts';
import { tileOrigins, axisOrigins, tentWeight, FlowStitcher, padEdge, cropTopLeft, paddedSize, evenSubset } from '../../perceiver/flow/tiling.ts';
import { endPointError, constantFlow } from '../../perceiver/flow/metrics.ts';
import { flowPicture } from '../../perceiver/flow/colorwheel.ts';
import { colorOf } from '../../perceiver/flow/colorwheel_cpu.ts';
import { decodePng } from '../../tools/png.ts';
import { readFloFile, writeFloFile, writeFlowPng } from '../../perceiver/flow/node.ts';
import { toImageData } from '../../perceiver/flow/api.ts';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { skip } from '../skip.ts';

const here = dirname(fileURLToPath(import.meta.url));
const MEDIA = join(here, '../../../shared/media');

test('.flo round-trips bit-exactly (NaN, infinities, -0, 1x1 and odd sizes)', () => {
  for (const [h, w] of [[1, 1], [3, 5], [17, 9]]) {
    const data = randn(h * w * 2, h * 31 + w, 100);
    data[0] = NaN;
    if (data.length > 3) {
      data[1] = -0;
      data[2] = Infinity;
      data[3] = -1e30;
    }
    const bytes = writeFlo({ width: w, height: h, data });
    assert.is(bytes.byteLength, 12 + h * w * 8);
    assert.equal(Array.from(bytes.subarray(0, 4)), [0x50, 0x49, 0x45, 0x48], 'PIEH');
    const back = readFlo(bytes);
    assert.is(back.width, w);
    assert.is(back.height, h);
    assert.equal(new Uint8Array(back.data.buffer), new Uint8Array(data.buffer), 'bits');
    // an offset view of a larger buffer reads the same
    const shifted = new Uint8Array(bytes.byteLength + 3);
    shifted.set(bytes, 3);
    assert.equal(new Uint8Array(readFlo(shifted.subarray(3)).data.buffer), new Uint8Array(data.buffer));
  }
});

test('bad .flo files get clear errors', () => {
  const good = writeFlo({ width: 4, height: 3, data: new Float32Array(24) });
  const bad = (mutate: (b: Uint8Array) => Uint8Array, re: RegExp) => {
    const err = (() => {
      try {
        readFlo(mutate(good.slice()));
      } catch (e) {
        return e as Error;
      }
      return null;
    })();
    assert.ok(err instanceof FloError, `expected a FloError for ${re}`);
    assert.match(err!.message, re);
  };
  bad((b) => b.subarray(0, 7), /shorter than the 12-byte header/);
  bad((b) => { b[0] = 0x89; b[1] = 0x50; return b; }, /bad magic number/);
  bad((b) => { new DataView(b.buffer).setInt32(4, -4, true); return b; }, /implausible size -4x3/);
  bad((b) => { new DataView(b.buffer).setInt32(8, 0, true); return b; }, /implausible size 4x0/);
  bad((b) => { new DataView(b.buffer).setInt32(4, 1 << 20, true); return b; }, /implausible size/);
  bad((b) => b.subarray(0, b.length - 4), /truncated: 104 bytes, but a 4x3 flow needs 108/);
  bad((b) => { const c = new Uint8Array(b.length + 8); c.set(b); return c; }, /trailing bytes/);
  assert.throws(() => writeFlo({ width: 4, height: 3, data: new Float32Array(23) }), /23 values for a 4x3 flow/);
  assert.throws(() => writeFlo({ width: 0, height: 3, data: new Float32Array(0) }), /bad size/);
  assert.is(new DataView(good.buffer).getFloat32(0, true), FLO_MAGIC);
});

test('.flo and PNG files (Node): round trip, and errors name the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flow-'));
  try {
    const data = randn(5 * 7 * 2, 4, 10);
    writeFloFile(join(dir, 'a.flo'), { width: 7, height: 5, data });
    const back = readFloFile(join(dir, 'a.flo'));
    assert.equal([back.width, back.height], [7, 5]);
    assert.equal(Array.from(back.data), Array.from(data));
    writeFileSync(join(dir, 'bad.flo'), new Uint8Array(20));
    assert.throws(() => readFloFile(join(dir, 'bad.flo')), /bad\.flo: \.flo: bad magic number/);
    const gpu = await testGpu();
    const { picture } = await flowPicture(gpu, data, 7, 5, { maxFlow: 10 });
    writeFlowPng(join(dir, 'a.png'), picture);
    const png = decodePng(readFileSync(join(dir, 'a.png')));
    assert.equal([png.width, png.height], [7, 5]);
    assert.equal(Array.from(png.data), Array.from(picture.data));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('toImageData outside a browser says so and points at the PNG writer', () => {
  const picture = { width: 1, height: 1, data: new Uint8ClampedArray(4) };
  assert.throws(() => toImageData(picture), /needs a browser \(ImageData\).*writeFlowPng/);
});

test("tiling: the colab's compute_grid_indices", () => {
  assert.equal(axisOrigins(436, 368, 20), [0, 68]);
  assert.equal(axisOrigins(1024, 496, 20), [0, 476, 528]);
  const yx = (ts: { y: number; x: number }[]) => ts.map(({ y, x }) => ({ y, x }));
  // Sintel: six tiles, ys outer
  assert.equal(yx(tileOrigins(436, 1024)), [
    { y: 0, x: 0 }, { y: 0, x: 476 }, { y: 0, x: 528 },
    { y: 68, x: 0 }, { y: 68, x: 476 }, { y: 68, x: 528 },
  ]);
  assert.ok(tileOrigins(436, 1024).every((t) => t.count === 1));
  // the golden fixture's big pair
  assert.equal(yx(tileOrigins(400, 520)), [{ y: 0, x: 0 }, { y: 0, x: 24 }, { y: 32, x: 0 }, { y: 32, x: 24 }]);
  // 368x496: the colab lists the one tile four times (ys [0, 0], xs [0, 0])
  assert.equal(tileOrigins(368, 496), [{ y: 0, x: 0, count: 4 }]);
  assert.equal(yx(tileOrigins(368, 496, [368, 496], 20, false)), [{ y: 0, x: 0 }, { y: 0, x: 0 }, { y: 0, x: 0 }, { y: 0, x: 0 }]);
  // range(0, 716, 348) = [0, 348, 696], last forced to 348: a repeat next to another tile
  assert.equal(axisOrigins(348 + 368, 368, 20), [0, 348, 348]);
  assert.equal(tileOrigins(348 + 368, 496), [{ y: 0, x: 0, count: 2 }, { y: 348, x: 0, count: 4 }]);
  // forced last entry below the one before it, whose tile would run past the border (the colab fails there): dropped
  assert.equal(axisOrigins(700, 368, 20), [0, 332]);
  assert.equal(axisOrigins(970, 496, 20), [0, 474]);
  assert.equal(axisOrigins(37, 16, 4), [0, 12, 21]);
  for (let n = 368; n < 2000; n++) for (const v of axisOrigins(n, 368, 20)) assert.ok(v >= 0 && v + 368 <= n);
  assert.equal(axisOrigins(369, 368, 20), [0, 1]);
  assert.throws(() => axisOrigins(300, 368, 20), /smaller than the tile side/);
  assert.throws(() => axisOrigins(400, 368, 368), /min_overlap/);
});

test('tent weights: 1 on the border, peak at the centre', () => {
  assert.is(tentWeight(0, 0), 1);
  assert.is(tentWeight(367, 495), 1);
  assert.is(tentWeight(0, 200), 1);
  assert.is(tentWeight(183, 247), 184);
  assert.is(tentWeight(184, 248), 184);
  assert.is(tentWeight(100, 5), 6);
});

test('stitching: a constant flow stays constant; overlaps are tent-weighted averages', () => {
  const tile: [number, number] = [4, 6];
  const H = 6, W = 9;
  const tiles = tileOrigins(H, W, tile, 1);
  assert.equal(tiles.map(({ y, x }) => ({ y, x })), [{ y: 0, x: 0 }, { y: 0, x: 3 }, { y: 2, x: 0 }, { y: 2, x: 3 }]);
  const s = new FlowStitcher(H, W, tile);
  for (const t of tiles) s.add(t, constantFlow(4, 6, 1.5, -2));
  const out = s.result();
  for (let p = 0; p < H * W; p++) {
    assert.ok(Math.abs(out[2 * p] - 1.5) < 1e-6 && Math.abs(out[2 * p + 1] + 2) < 1e-6);
  }
  // tile i has flow u = i: pixel (3, 4) is covered by all four tiles
  const s2 = new FlowStitcher(H, W, tile);
  tiles.forEach((t, i) => s2.add(t, constantFlow(4, 6, i, 0)));
  const o2 = s2.result();
  const w = tiles.map((t) => tentWeight(3 - t.y, 4 - t.x, tile));
  const want = w.reduce((a, wi, i) => a + wi * i, 0) / w.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(o2[2 * (3 * W + 4)] - want) < 1e-6);
  // repeated tiles count as often as the colab's grid lists them
  const rep = tileOrigins(6, 8, tile, 2, false); // ys [0, 2, 2] x xs [0, 2]: repeats next to other tiles
  assert.equal(rep.map((t) => t.y), [0, 0, 2, 2, 2, 2]);
  const flowOf = (t: { y: number; x: number }) => constantFlow(4, 6, t.y * 10 + t.x, -t.x);
  const listed = new FlowStitcher(6, 8, tile);
  for (const t of rep) listed.add(t, flowOf(t));
  const counted = new FlowStitcher(6, 8, tile);
  const distinct = tileOrigins(6, 8, tile, 2);
  assert.equal(distinct.map((t) => t.count), [1, 1, 2, 2]);
  for (const t of distinct) counted.add(t, flowOf(t));
  const a = listed.result(), b = counted.result();
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-6 * (1 + Math.abs(a[i])), `value ${i}`);
  // a subset: only the given pixels are filled
  const s3 = new FlowStitcher(H, W, tile);
  s3.add({ y: 0, x: 0 }, new Float32Array([7, 8]), [6 + 2]);
  const o3 = s3.result();
  assert.equal([o3[2 * (1 * W + 2)], o3[2 * (1 * W + 2) + 1]], [7, 8]);
  assert.ok(Number.isNaN(o3[0]));
});

test('small frames: edge padding and crop; even subsets', () => {
  assert.equal(paddedSize(300, 451), [368, 496]);
  assert.equal(paddedSize(400, 451), [400, 496]);
  const img = new Float32Array([1, 2, 3, 4, 5, 6]); // 2x3, one channel
  const p = padEdge(img, 2, 3, 1, 3, 4);
  assert.equal(Array.from(p), [1, 2, 3, 3, 4, 5, 6, 6, 4, 5, 6, 6]);
  assert.equal(Array.from(cropTopLeft(p, 3, 4, 1, 2, 3)), [1, 2, 3, 4, 5, 6]);
  const sub = evenSubset(100, 7);
  assert.equal(Array.from(sub), [7, 21, 35, 50, 64, 78, 92]);
  assert.equal(evenSubset(5, 9).length, 5);
});

test('end-point error', () => {
  const t = constantFlow(2, 2, 3, 4);
  assert.equal(endPointError(t, t).mean, 0);
  const e = endPointError(constantFlow(2, 2, 0, 0), t);
  assert.is(e.mean, 5);
  assert.is(e.over3, 1);
  assert.is(e.count, 4);
  const nan = constantFlow(2, 2, 0, 0);
  nan[0] = NaN;
  assert.is(endPointError(nan, t).count, 3, 'NaN pixels are skipped');
  assert.is(endPointError(constantFlow(2, 2, 0, 0), t, [1, 0, 0, 0]).count, 1);
  assert.throws(() => endPointError(new Float32Array(4), new Float32Array(6)), /equal/);
});

test('a real photograph shifted by a known translation: the true flow warps frame 2 onto frame 1, is one colour-wheel hue, and scores EPE 0', async () => {
  const file = join(MEDIA, 'coffee.png');
  if (!existsSync(file)) {
    skip(`${file} is absent`);
    return;
  }
  const gpu = await testGpu();
  const img = decodePng(readFileSync(file));
  const { width: W, height: H } = img;
  const [du, dv] = [5, -3]; // frame 2 = frame 1 moved 5 px right and 3 px up
  const frame2 = new Uint8Array(W * H * 4);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const sy = Math.min(H - 1, Math.max(0, y - dv)), sx = Math.min(W - 1, Math.max(0, x - du));
    frame2.set(img.data.subarray(4 * (sy * W + sx), 4 * (sy * W + sx) + 4), 4 * (y * W + x));
  }
  const truth = constantFlow(H, W, du, dv);
  // frame1(x, y) == frame2(x + u, y + v) wherever x + u, y + v stays inside
  let checked = 0;
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const tx = x + truth[2 * (y * W + x)], ty = y + truth[2 * (y * W + x) + 1];
    if (tx < 0 || tx >= W || ty < 0 || ty >= H) continue;
    for (let c = 0; c < 4; c++) if (img.data[4 * (y * W + x) + c] !== frame2[4 * (ty * W + tx) + c]) throw new Error(`warp mismatch at ${x},${y}`);
    checked++;
  }
  assert.ok(checked > 0.9 * W * H);
  assert.is(endPointError(truth, truth).mean, 0);
  assert.ok(Math.abs(endPointError(constantFlow(H, W, 0, 0), truth).mean - Math.hypot(du, dv)) < 1e-9);
  // the automatic scale is |t|
  assert.ok(Math.abs((await flowPicture(gpu, truth, W, H)).scale - Math.hypot(du, dv)) < 1e-5);
  // the picture at a fixed scale of 8 px: every pixel the colour of direction (5, -3) (up-right: magenta)
  const { picture } = await flowPicture(gpu, truth, W, H, { maxFlow: 8 });
  const want = colorOf(du / 8, dv / 8);
  for (const p of [0, 1234, W * H - 1]) {
    const got = Array.from(picture.data.subarray(4 * p, 4 * p + 3));
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(got[c] - want[c]) <= 1, `pixel ${p}: [${got}] vs [${want}]`);
  }
  assert.ok(want[0] === 255 && want[2] > 200 && want[1] < 110, `up-right is magenta: [${want}]`);
});

test.run();
