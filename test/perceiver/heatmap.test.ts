// perceiver/heatmap.ts: a grid drawn as a heat map, alone or over an image,
// resampled onto a region (browser-safe, plain TypeScript).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { attentionHeatmap, heatColor } from '../../perceiver/heatmap.ts';

const pixel = (img: { width: number; data: ArrayLike<number> }, x: number, y: number) => Array.from({ length: 4 }, (_, c) => img.data[(y * img.width + x) * 4 + c]);

test('the ramp runs from near black (0) to pale yellow (1), clamped', () => {
  assert.equal(heatColor(0), [0, 0, 4]);
  assert.equal(heatColor(1), [252, 255, 164]);
  assert.equal(heatColor(7), heatColor(1));
  assert.equal(heatColor(-1), heatColor(0));
  assert.equal(heatColor(NaN), heatColor(0));
  const mid = heatColor(0.5);
  assert.ok(mid[0] > mid[2] && mid[0] > 100, `${mid}`);
});

test('alone: the largest value is full heat, resampled bilinearly to the output size', () => {
  const grid = { width: 2, height: 1, data: [0, 0.002] }; // probabilities are small: scaled by their max
  const img = attentionHeatmap(grid, { width: 4, height: 2 });
  assert.is(img.data.length, 4 * 2 * 4);
  assert.equal(pixel(img, 0, 0), [0, 0, 4, 255]);
  assert.equal(pixel(img, 3, 1), [252, 255, 164, 255]);
  // columns 1 and 2 sit a quarter of the way in from each cell centre
  const [r1] = pixel(img, 1, 0), [r2] = pixel(img, 2, 0);
  assert.ok(0 < r1 && r1 < r2 && r2 < 252, `${r1} ${r2}`);
});

test('over an image: blended with the opacity, only inside the region', () => {
  const image = { width: 4, height: 4, data: new Uint8ClampedArray(64).fill(200) };
  const grid = { width: 1, height: 1, data: [1] };
  const out = attentionHeatmap(grid, { image, region: { x: 2, y: 0, width: 2, height: 4 }, opacity: 0.5 });
  assert.equal(pixel(out, 3, 2), [226, 228, 182, 255]); // (200 + ramp top) / 2
  assert.equal(pixel(out, 0, 2), [100, 100, 102, 255]); // outside: zero heat (near black) at half weight
});

test('errors name the problem', () => {
  assert.throws(() => attentionHeatmap({ width: 2, height: 2, data: [1, 2, 3] }), /a 2x2 grid needs 4 values, got 3/);
  assert.throws(() => attentionHeatmap({ width: 1, height: 1, data: [1] }, { width: 0, height: 3 }), /bad output size 0x3/);
  assert.throws(() => attentionHeatmap({ width: 1, height: 1, data: [1] }, { image: { width: 2, height: 2, data: new Uint8Array(3) } }), /image data has 3 bytes/);
});

test.run();
