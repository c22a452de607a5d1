import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, randn, relError } from '../gpu.ts';
import { upload, readF32 } from '../../engine/index.ts';
import { add, scale, gather, softmax } from '../../kernels/elementwise.ts';
import { setBindingLimitForTests } from '../../kernels/slicing.ts';

const f32 = Math.fround;

test('add: same shape and trailing-shape broadcast (exact)', async () => {
  const gpu = await testGpu();
  const cases: [number[], number[]][] = [[[3, 5, 7], [3, 5, 7]], [[3, 5, 7], [5, 7]], [[3, 5, 7], [7]], [[1001], [1001]], [[2, 1], [1]]];
  let seed = 1;
  for (const [sa, sb] of cases) {
    const na = sa.reduce((x, y) => x * y), nb = sb.reduce((x, y) => x * y);
    const a = randn(na, seed++), b = randn(nb, seed++);
    const ta = upload(gpu, a, sa), tb = upload(gpu, b, sb);
    const y = add(gpu, ta, tb);
    assert.equal(y.shape, sa);
    assert.equal(Array.from(await readF32(y)), Array.from(a, (v, i) => f32(v + b[i % nb])), `[${sa}] + [${sb}]`);
    [ta, tb, y].forEach((t) => t.dispose());
  }
});

test('add and scale in slices, b whole or windowed, unaligned views', async () => {
  const gpu = await testGpu();
  const a = randn(4 * 37 * 5 + 3, 7), b = randn(37 * 5 + 1, 8), c = randn(5, 9);
  const A = upload(gpu, a, [a.length]), Bt = upload(gpu, b, [b.length]), Ct = upload(gpu, c, [5]);
  const ta = A.rows(3, a.length).reshape([4, 37, 5]), tb = Bt.rows(1, b.length).reshape([37, 5]);
  const av = a.subarray(3), bv = b.subarray(1);
  setBindingLimitForTests(512); // b (740 bytes) is windowed per row range
  try {
    const y1 = add(gpu, ta, tb), y2 = add(gpu, ta, Ct), y3 = scale(gpu, ta, -2.5);
    assert.equal(Array.from(await readF32(y1)), Array.from(av, (v, i) => f32(v + bv[i % bv.length])));
    assert.equal(Array.from(await readF32(y2)), Array.from(av, (v, i) => f32(v + c[i % 5])));
    assert.equal(Array.from(await readF32(y3)), Array.from(av, (v) => f32(v * -2.5)));
    [y1, y2, y3].forEach((t) => t.dispose());
  } finally {
    setBindingLimitForTests(null);
  }
  [A, Bt, Ct].forEach((t) => t.dispose());
});

test('add: shape errors', async () => {
  const gpu = await testGpu();
  const a = upload(gpu, randn(12, 1), [3, 4]), b = upload(gpu, randn(3, 1), [3]);
  assert.throws(() => add(gpu, a, b), /add.*trailing shape/);
  [a, b].forEach((t) => t.dispose());
});

test('scale keeps infinities', async () => {
  const gpu = await testGpu();
  const x = upload(gpu, [Infinity, -1, 0, 3], [4]);
  const y = scale(gpu, x, 0.5);
  assert.equal(Array.from(await readF32(y)), [Infinity, -0.5, 0, 1.5]);
  [x, y].forEach((t) => t.dispose());
});

test('gather: embedding rows, out-of-range ids clamped', async () => {
  const gpu = await testGpu();
  const V = 11, C = 6;
  const table = randn(V * C, 3);
  const ids = [0, 10, 3, 3, -3, 20, 7, 1, 5, 9, 2, 4, 6, 8, 0, 1, 2, 3];
  const tt = upload(gpu, table, [V, C]), ti = upload(gpu, Int32Array.from(ids), [2, 9], 'i32');
  const ref = ids.flatMap((id) => Array.from(table.subarray(Math.min(Math.max(id, 0), V - 1) * C, (Math.min(Math.max(id, 0), V - 1) + 1) * C)));
  const y = gather(gpu, tt, ti);
  assert.equal(y.shape, [2, 9, C]);
  assert.equal(Array.from(await readF32(y)), ref);
  setBindingLimitForTests(256 + 3 * C * 4 * 4); // 12 rows fit; the table too
  try {
    const z = gather(gpu, tt, ti);
    assert.equal(Array.from(await readF32(z)), ref);
    z.dispose();
  } finally {
    setBindingLimitForTests(null);
  }
  assert.throws(() => gather(gpu, tt, tt), /gather.*ids must be i32/);
  [tt, ti, y].forEach((t) => t.dispose());
});

function softmaxRef(x: Float32Array, C: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, x[r * C + c]);
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(x[r * C + c] - m);
    for (let c = 0; c < C; c++) out[r * C + c] = Math.exp(x[r * C + c] - m) / s;
  }
  return out;
}

test('softmax over the last axis: class logits, large values, odd shapes, slices', async () => {
  const gpu = await testGpu();
  for (const [shape, shift] of [[[3, 1000], 100], [[5, 7, 13], 0], [[1, 1], 0], [[2, 262], -500]] as [number[], number][]) {
    const C = shape[shape.length - 1];
    const x = randn(shape.reduce((a, b) => a * b), 5, 8).map((v) => v + shift);
    const tx = upload(gpu, x, shape);
    const ref = softmaxRef(x, C);
    const y = softmax(gpu, tx);
    assert.equal(y.shape, shape);
    const got = await readF32(y);
    let err = 0;
    for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - ref[i]) / Math.max(ref[i], 1e-30));
    assert.ok(err < 1e-5, `[${shape}] max relative error ${err}`);
    y.dispose();
    setBindingLimitForTests(256 + 2 * C * 4);
    try {
      const z = softmax(gpu, tx);
      assert.ok(relError(await readF32(z), ref) < 1e-5);
      z.dispose();
    } finally {
      setBindingLimitForTests(null);
    }
    tx.dispose();
  }
});

test.run();
