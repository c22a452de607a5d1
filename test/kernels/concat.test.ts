import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, randn } from '../gpu.ts';
import { upload, read, readF32, type Tensor } from '../../engine/index.ts';
import { concat, sliceRows } from '../../kernels/concat.ts';
import { setBindingLimitForTests } from '../../kernels/slicing.ts';

interface Part { data: ArrayLike<number>; shape: number[] }

/** Broadcast each part to [B,N,Ci] and concatenate along the last axis. */
function reference(parts: Part[], B: number, N: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) for (const p of parts) {
    const ci = p.shape[p.shape.length - 1];
    const base = p.shape.length === 3 ? (b * N + n) * ci : p.shape.length === 2 ? n * ci : 0;
    for (let c = 0; c < ci; c++) out.push(p.data[base + c]);
  }
  return out;
}

function make(gpu: Awaited<ReturnType<typeof testGpu>>, shapes: number[][], seed: number): { parts: Part[]; tensors: Tensor[] } {
  const parts = shapes.map((shape, i) => ({ data: randn(shape.reduce((a, b) => a * b, 1), seed + i), shape }));
  return { parts, tensors: parts.map((p) => upload(gpu, p.data as Float32Array, p.shape)) };
}

test('mixed ranks broadcast over batch and rows', async () => {
  const gpu = await testGpu();
  const cases: { shapes: number[][]; batch?: number; out: number[] }[] = [
    { shapes: [[2, 5, 3], [5, 4], [6]], out: [2, 5, 13] },
    { shapes: [[5, 4], [2, 5, 1]], out: [2, 5, 5] },
    { shapes: [[7, 9]], batch: 3, out: [3, 7, 9] }, // latents [N,C] -> [B,N,C]
    { shapes: [[7]], batch: 2, out: [2, 1, 7] },
    { shapes: [[3, 11, 64], [11, 258]], out: [3, 11, 322] },
    { shapes: [[4, 3], [3]], out: [1, 4, 6] },
  ];
  let seed = 1;
  for (const c of cases) {
    const { parts, tensors } = make(gpu, c.shapes, (seed += 10));
    const y = concat(gpu, tensors, c.batch);
    assert.equal(y.shape, c.out);
    assert.equal(Array.from(await readF32(y)), reference(parts, c.out[0], c.out[1]), JSON.stringify(c.shapes));
    [...tensors, y].forEach((t) => t.dispose());
  }
});

test('output written in row slices over the binding limit; unaligned, i32 parts', async () => {
  const gpu = await testGpu();
  const B = 3, N = 50;
  const a = Int32Array.from({ length: B * N * 7 + 1 }, (_, i) => i);
  const b = Int32Array.from({ length: N * 9 }, (_, i) => -i);
  const c = Int32Array.from([1000, 1001, 1002, 1003]);
  const ta0 = upload(gpu, a, [B * N * 7 + 1], 'i32');
  const ta = ta0.rows(1, B * N * 7 + 1).reshape([B, N, 7]);
  const tb = upload(gpu, b, [N, 9], 'i32'), tc = upload(gpu, c, [4], 'i32');
  const ref = reference([{ data: a.subarray(1), shape: [B, N, 7] }, { data: b, shape: [N, 9] }, { data: c, shape: [4] }], B, N);
  setBindingLimitForTests(1024); // the [N,9] part (1800 bytes) and the output exceed it
  try {
    const y = concat(gpu, [ta, tb, tc]);
    assert.equal(y.shape, [B, N, 20]);
    assert.equal(y.dtype, 'i32');
    assert.equal(Array.from(await read(y)), ref);
    y.dispose();
  } finally {
    setBindingLimitForTests(null);
  }
  [ta0, tb, tc].forEach((t) => t.dispose());
});

test('a flow-sized output (182528 x 322 f32, 235 MB) over the real binding limit', async () => {
  const gpu = await testGpu();
  const N = 182528, A = 64, P = 258;
  const a = new Float32Array(N * A), p = new Float32Array(N * P);
  for (let i = 0; i < a.length; i++) a[i] = i;
  for (let i = 0; i < p.length; i++) p[i] = -i;
  const ta = upload(gpu, a, [1, N, A]), tp = upload(gpu, p, [N, P]);
  const before = gpu.dispatchCount;
  const y = concat(gpu, [ta, tp]);
  assert.ok(y.byteLength > gpu.limits.maxStorageBufferBindingSize);
  assert.ok(gpu.dispatchCount - before >= 4, 'two parts x at least two row slices');
  const got = await readF32(y);
  let bad = 0;
  for (let n = 0; n < N; n++) {
    const o = n * (A + P);
    for (let c = 0; c < A; c++) if (got[o + c] !== Math.fround(n * A + c)) bad++;
    for (let c = 0; c < P; c++) if (got[o + A + c] !== Math.fround(-(n * P + c))) bad++;
  }
  assert.is(bad, 0);
  [ta, tp, y].forEach((t) => t.dispose());
});

test('errors: row counts, batch sizes, dtypes', async () => {
  const gpu = await testGpu();
  const { tensors } = make(gpu, [[2, 5, 3], [4, 2], [3, 5, 1]], 1);
  assert.throws(() => concat(gpu, [tensors[0], tensors[1]]), /concat.*row counts differ/);
  assert.throws(() => concat(gpu, [tensors[0], tensors[2]]), /concat.*batch sizes differ/);
  assert.throws(() => concat(gpu, [tensors[0]], 4), /concat.*batch=4/);
  const ti = upload(gpu, new Int32Array(5), [5], 'i32');
  assert.throws(() => concat(gpu, [tensors[0], ti]), /concat.*one dtype/);
  [...tensors, ti].forEach((t) => t.dispose());
});

test('sliceRows copies rows of every batch element', async () => {
  const gpu = await testGpu();
  const x = randn(2 * 10 * 7 + 1, 3);
  const big = upload(gpu, x, [2 * 10 * 7 + 1]);
  const tx = big.rows(1, 2 * 10 * 7 + 1).reshape([2, 10, 7]);
  const y = sliceRows(gpu, tx, 3, 5);
  assert.equal(y.shape, [2, 5, 7]);
  const ref: number[] = [];
  for (let b = 0; b < 2; b++) for (let n = 3; n < 8; n++) for (let c = 0; c < 7; c++) ref.push(x[1 + (b * 10 + n) * 7 + c]);
  assert.equal(Array.from(await readF32(y)), ref);
  const z = sliceRows(gpu, tx.reshape([20, 7]), 19, 1);
  assert.equal(Array.from(await readF32(z)), Array.from(x.subarray(1 + 19 * 7, 1 + 20 * 7)));
  assert.throws(() => sliceRows(gpu, tx, 8, 3), /sliceRows.*outside/);
  [big, y, z].forEach((t) => t.dispose());
});

test.run();
