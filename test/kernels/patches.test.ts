import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, randn } from '../gpu.ts';
import { upload, readF32 } from '../../engine/index.ts';
import { patchesForFlow } from '../../kernels/patches.ts';
import { setBindingLimitForTests } from '../../kernels/slicing.ts';

/** patches_for_flow (pad 1, 3x3, order (ph, pw, c)) then frames concatenated, by loops. */
function reference(x: Float32Array, [B, F, H, W, C]: number[]): Float32Array {
  const OC = F * 9 * C;
  const out = new Float32Array(B * H * W * OC);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
    let o = ((b * H + h) * W + w) * OC;
    for (let f = 0; f < F; f++) for (let ph = 0; ph < 3; ph++) for (let pw = 0; pw < 3; pw++) for (let c = 0; c < C; c++) {
      const iy = h + ph - 1, ix = w + pw - 1;
      out[o++] = iy >= 0 && iy < H && ix >= 0 && ix < W ? x[((((b * F + f) * H + iy) * W + ix) * C) + c] : 0;
    }
  }
  return out;
}

test('odd sizes, batch 2, channel order (frame, ph, pw, c)', async () => {
  const gpu = await testGpu();
  for (const shape of [[2, 2, 5, 7, 3], [1, 2, 1, 1, 2], [3, 2, 4, 3, 1]]) {
    const x = randn(shape.reduce((a, b) => a * b), 3);
    const tx = upload(gpu, x, shape);
    const y = patchesForFlow(gpu, tx);
    assert.equal(y.shape, [shape[0], shape[2], shape[3], 18 * shape[4]]);
    assert.equal(Array.from(await readF32(y)), Array.from(reference(x, shape)), `[${shape}]`);
    [tx, y].forEach((t) => t.dispose());
  }
});

test('a 368x496 frame pair gives 182528 x 54', async () => {
  const gpu = await testGpu();
  const shape = [1, 2, 368, 496, 3];
  const x = randn(shape.reduce((a, b) => a * b), 9);
  const tx = upload(gpu, x, shape);
  const y = patchesForFlow(gpu, tx);
  assert.equal(y.reshape([-1, 54]).shape, [182528, 54]);
  const got = await readF32(y), ref = reference(x, shape);
  let bad = 0;
  for (let i = 0; i < ref.length; i++) if (got[i] !== ref[i]) bad++;
  assert.is(bad, 0);
  [tx, y].forEach((t) => t.dispose());
});

test('row slices over the binding limit, unaligned view', async () => {
  const gpu = await testGpu();
  const shape = [3, 2, 6, 5, 2];
  const n = shape.reduce((a, b) => a * b);
  const x = randn(n + 1, 4);
  const big = upload(gpu, x, [n + 1]);
  const tx = big.rows(1, n + 1).reshape(shape);
  setBindingLimitForTests(256 + 2 * 5 * 36 * 4); // two output rows per dispatch
  try {
    const y = patchesForFlow(gpu, tx);
    assert.equal(Array.from(await readF32(y)), Array.from(reference(x.subarray(1), shape)));
    y.dispose();
  } finally {
    setBindingLimitForTests(null);
  }
  big.dispose();
});

test.run();
