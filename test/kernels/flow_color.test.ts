// flow_color: the Middlebury colour coding on the GPU against the float64
// TypeScript version (perceiver/flow/colorwheel.ts), the standard hues of
// known directions, unknown flow, fixed and automatic scales, the legend and
// pixel ranges over the binding limit.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, randn } from '../gpu.ts';
import { upload, readF32 } from '../../engine/index.ts';
import { flowToColor, legendPlacement } from '../../kernels/flow_color.ts';
import { setBindingLimitForTests } from '../../kernels/slicing.ts';
import { flowPicture, readPicture } from '../../perceiver/flow/colorwheel.ts';
import { flowToColorCpu, colorWheel, colorOf } from '../../perceiver/flow/colorwheel_cpu.ts';

/** Largest per-byte difference, and how many bytes differ at all. */
function compare(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; count: number } {
  assert.is(a.length, b.length);
  let max = 0, count = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d) count++;
    max = Math.max(max, d);
  }
  return { max, count };
}

test('the wheel: 55 hues in six ramps (makeColorwheel)', () => {
  const w = colorWheel();
  assert.is(w.length, 55);
  assert.equal(w[0], [255, 0, 0]);
  assert.equal(w[15], [255, 255, 0]);
  assert.equal(w[21], [0, 255, 0]);
  assert.equal(w[25], [0, 255, 255]);
  assert.equal(w[36], [0, 0, 255]);
  assert.equal(w[49], [255, 0, 255]);
  assert.equal(w[54], [255, 0, 43]);
});

test('known directions give the standard hues (right red, down yellow, left cyan, up blue)', async () => {
  const gpu = await testGpu();
  // unit flows at the scale's rim (full saturation), then half length, then zero
  const dirs: [number, number, number[]][] = [
    [1, 0, [255, 0, 0]], // right: red
    [0, 1, [255, 229, 0]], // down: wheel 13.5, yellow-orange
    [-1, 0, [0, 209, 255]], // left: wheel 27, cyan
    [0, -1, [88, 0, 255]], // up: wheel 40.5, blue-violet
    [0.5, 0, [255, 127, 127]], // right at half the scale: pink (half saturated)
    [0, 0, [255, 255, 255]], // no motion: white
  ];
  const flow = new Float32Array(dirs.flatMap(([u, v]) => [u, v]));
  const { picture, scale } = await flowPicture(gpu, flow, dirs.length, 1, { maxFlow: 1 });
  assert.is(scale, 1);
  dirs.forEach(([u, v, rgb], i) => {
    const got = Array.from(picture.data.subarray(4 * i, 4 * i + 4));
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(got[c] - rgb[c]) <= 1, `flow (${u}, ${v}): got [${got}], want [${rgb}]`);
    assert.is(got[3], 255);
    const cpu = colorOf(u, v);
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(cpu[c] - rgb[c]) <= 1, `cpu flow (${u}, ${v}): [${cpu}]`);
  });
  // Beyond the scale: the rim colour, darkened to 75 %.
  const far = await flowPicture(gpu, new Float32Array([3, 0]), 1, 1, { maxFlow: 1 });
  assert.equal(Array.from(far.picture.data), [191, 0, 0, 255]);
});

test('random flows of odd sizes match the float64 version; automatic scale; unknown flow is black', async () => {
  const gpu = await testGpu();
  for (const [h, w, seed] of [[1, 1, 1], [7, 13, 2], [37, 53, 3], [64, 65, 4]]) {
    const flow = randn(h * w * 2, seed, 30);
    if (h * w > 4) {
      flow[2] = NaN;
      flow[5] = Infinity;
      flow[6] = 2e9;
      flow[8] = 0;
      flow[9] = 0;
    }
    const ref = flowToColorCpu(flow, w, h);
    const got = await flowPicture(gpu, flow, w, h);
    assert.ok(Math.abs(got.scale - ref.scale) <= 1e-6 * ref.scale, `scale ${got.scale} vs ${ref.scale}`);
    const { max, count } = compare(got.picture.data, ref.picture.data);
    assert.ok(max <= 1 && count <= Math.max(2, (h * w * 3) / 100), `${h}x${w}: ${count} bytes differ, by up to ${max}`);
    if (h * w > 4) {
      assert.equal(Array.from(got.picture.data.subarray(4, 8)), [0, 0, 0, 255], 'NaN');
      assert.equal(Array.from(got.picture.data.subarray(8, 12)), [0, 0, 0, 255], 'inf');
      assert.equal(Array.from(got.picture.data.subarray(12, 16)), [0, 0, 0, 255], '> 1e9');
      assert.equal(Array.from(got.picture.data.subarray(16, 20)), [255, 255, 255, 255], 'zero');
    }
  }
});

test('fixed scale and legend match the float64 version', async () => {
  const gpu = await testGpu();
  const h = 60, w = 90;
  const flow = randn(h * w * 2, 11, 8);
  for (const legend of [true, { size: 33, corner: 'top-left' as const, margin: 2 }]) {
    const opts = { maxFlow: 5, legend };
    const ref = flowToColorCpu(flow, w, h, opts);
    const got = await flowPicture(gpu, flow, w, h, opts);
    assert.is(got.scale, 5);
    const { max, count } = compare(got.picture.data, ref.picture.data);
    assert.ok(max <= 1 && count <= 60, `${count} bytes differ, by up to ${max}`);
    const L = legendPlacement(w, h, legend)!;
    const px = (x: number, y: number) => Array.from(got.picture.data.subarray(4 * (y * w + x), 4 * (y * w + x) + 4));
    // corner of the legend square: white background; centre: white (zero flow); rim at the right: red
    assert.equal(px(L.x0, L.y0), [255, 255, 255, 255]);
    const cy = L.y0 + Math.floor(L.size / 2);
    const right = px(L.x0 + L.size - 2, cy);
    assert.ok(right[0] >= 240 && right[1] <= 40 && right[2] <= 60, `rim ${right}`);
  }
  assert.is(legendPlacement(10, 10, true), null, 'no legend when it would be under 8 px');
});

test('pixel ranges over the binding limit, unaligned flow view, RGBA byte order', async () => {
  const gpu = await testGpu();
  const h = 9, w = 31;
  const host = randn(h * w * 2 + 3, 5, 4);
  const big = upload(gpu, host, [host.length]);
  const view = big.rows(3, host.length).reshape([h, w, 2]);
  const flow = host.subarray(3);
  const whole = flowToColor(gpu, view, { legend: { size: 8 } });
  const a = await readPicture(whole.rgba);
  setBindingLimitForTests(256 + 40 * 8);
  try {
    const sliced = flowToColor(gpu, view, { legend: { size: 8 } });
    const b = await readPicture(sliced.rgba);
    assert.equal(Array.from(b.data), Array.from(a.data));
    assert.is((await readF32(sliced.scale))[0], (await readF32(whole.scale))[0]);
    [sliced.rgba, sliced.scale].forEach((t) => t.dispose());
  } finally {
    setBindingLimitForTests(null);
  }
  const ref = flowToColorCpu(flow, w, h, { legend: { size: 8 } });
  assert.ok(compare(a.data, ref.picture.data).max <= 1);
  [whole.rgba, whole.scale, big].forEach((t) => t.dispose());
});

test('shape and option errors name the kernel', async () => {
  const gpu = await testGpu();
  const t = upload(gpu, new Float32Array(12), [2, 2, 3]);
  assert.throws(() => flowToColor(gpu, t), /flowToColor.*\[H, W, 2\]/);
  const f = upload(gpu, new Float32Array(8), [2, 2, 2]);
  assert.throws(() => flowToColor(gpu, f, { maxFlow: -1 }), /maxFlow must be a positive number/);
  [t, f].forEach((x) => x.dispose());
});

test.run();
