import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, randn } from '../gpu.ts';
import { upload, readF32 } from '../../engine/index.ts';
import { maxPoolSame } from '../../kernels/maxpool.ts';
import { samePadding } from '../../kernels/conv.ts';
import { setBindingLimitForTests } from '../../kernels/slicing.ts';

/** Max over the window with TF SAME padding by -inf. */
function reference(x: Float32Array, [B, H, W, C]: number[], size: number, s: number): Float32Array {
  const ph = samePadding(H, size, s), pw = samePadding(W, size, s);
  const out = new Float32Array(B * ph.out * pw.out * C);
  for (let b = 0; b < B; b++) for (let oy = 0; oy < ph.out; oy++) for (let ox = 0; ox < pw.out; ox++) for (let c = 0; c < C; c++) {
    let m = -Infinity;
    for (let ky = 0; ky < size; ky++) for (let kx = 0; kx < size; kx++) {
      const iy = oy * s + ky - ph.before, ix = ox * s + kx - pw.before;
      if (iy >= 0 && iy < H && ix >= 0 && ix < W) m = Math.max(m, x[((b * H + iy) * W + ix) * C + c]);
    }
    out[((b * ph.out + oy) * pw.out + ox) * C + c] = m;
  }
  return out;
}

test('odd shapes; negative inputs (padding is -inf, not 0)', async () => {
  const gpu = await testGpu();
  const cases = [
    { x: [2, 112, 112, 5], size: 3, s: 2 },
    { x: [3, 7, 9, 3], size: 3, s: 2 },
    { x: [1, 10, 11, 2], size: 2, s: 3 },
    { x: [2, 5, 4, 1], size: 4, s: 1 },
  ];
  let seed = 1;
  for (const c of cases) {
    const x = randn(c.x.reduce((a, b) => a * b), seed++).map((v) => v - 1.5); // all negative
    const tx = upload(gpu, x, c.x);
    const y = maxPoolSame(gpu, tx, { size: c.size, stride: c.s });
    assert.equal(y.shape, [c.x[0], Math.ceil(c.x[1] / c.s), Math.ceil(c.x[2] / c.s), c.x[3]]);
    assert.equal(Array.from(await readF32(y)), Array.from(reference(x, c.x, c.size, c.s)), `[${c.x}] ${c.size}/${c.s}`);
    [tx, y].forEach((t) => t.dispose());
  }
});

test('112 -> 56 with pads (0, 1)', async () => {
  const gpu = await testGpu();
  // A ramp: the last output row/column can only see rows/columns 110, 111
  // (and the -inf pad), so it must report 111's value.
  const H = 112;
  const x = Float32Array.from({ length: H * H }, (_, i) => -(Math.floor(i / H) + (i % H)));
  const tx = upload(gpu, x, [1, H, H, 1]);
  const y = maxPoolSame(gpu, tx, { size: 3, stride: 2 });
  assert.equal(y.shape, [1, 56, 56, 1]);
  const r = await readF32(y);
  assert.is(r[0], 0); // window rows/cols 0..2 (no padding before)
  assert.is(r[55], -110); // columns 110, 111 and the pad
  assert.is(r[56 * 56 - 1], -220);
  [tx, y].forEach((t) => t.dispose());
});

test('images sliced over the binding limit, unaligned view', async () => {
  const gpu = await testGpu();
  const shape = [4, 9, 7, 3];
  const n = 4 * 9 * 7 * 3;
  const x = randn(n + 5, 3);
  const big = upload(gpu, x, [n + 5]);
  const tx = big.rows(5, n + 5).reshape(shape);
  setBindingLimitForTests(1024); // one image per dispatch
  try {
    const y = maxPoolSame(gpu, tx, { size: 3, stride: 2 });
    assert.equal(Array.from(await readF32(y)), Array.from(reference(x.subarray(5), shape, 3, 2)));
    y.dispose();
  } finally {
    setBindingLimitForTests(null);
  }
  big.dispose();
});

test.run();
