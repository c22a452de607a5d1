import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, randn, relError, assertRejects } from '../gpu.ts';
import { upload, readF32 } from '../../engine/index.ts';
import { setBindingLimitForTests } from '../../kernels/slicing.ts';
import { attention } from '../../kernels/attention.ts';
import { attentionMaps } from '../../kernels/attention_maps.ts';

const TOL = 1e-5;

/** softmax(q[row] . k / sqrt(D)) in float64, DeepMind's masking: [B, H, R, Tk]. */
function reference(q: Float32Array, k: Float32Array, B: number, Tq: number, Tk: number, H: number, D: number, rows: number[], keyMask?: Int32Array): Float64Array {
  const out = new Float64Array(B * H * rows.length * Tk);
  const logits = new Float64Array(Tk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      rows.forEach((t, r) => {
        let max = -Infinity;
        let any = false;
        for (let T = 0; T < Tk; T++) {
          const on = !keyMask || keyMask[b * Tk + T] !== 0;
          any ||= on;
          let s = 0;
          for (let d = 0; d < D; d++) s += q[(b * Tq + t) * H * D + h * D + d] * k[(b * Tk + T) * H * D + h * D + d];
          logits[T] = on ? s / Math.sqrt(D) : -1e30;
          max = Math.max(max, logits[T]);
        }
        if (!any) return; // a row with every key masked: zeros, as attention() gives
        let sum = 0;
        for (let T = 0; T < Tk; T++) sum += Math.exp(logits[T] - max);
        const at = ((b * H + h) * rows.length + r) * Tk;
        for (let T = 0; T < Tk; T++) out[at + T] = Math.exp(logits[T] - max) / sum;
      });
    }
  }
  return out;
}

interface Case { B?: number; Tq: number; Tk: number; H: number; D: number; rows: number[]; keyMask?: (b: number, T: number) => number }

let seed = 7;
async function check(c: Case, label: string): Promise<Float32Array> {
  const gpu = await testGpu();
  const B = c.B ?? 1;
  const q = randn(B * c.Tq * c.H * c.D, seed++, 3), k = randn(B * c.Tk * c.H * c.D, seed++, 3);
  const km = c.keyMask ? Int32Array.from({ length: B * c.Tk }, (_, i) => c.keyMask!(Math.floor(i / c.Tk), i % c.Tk)) : undefined;
  const tq = upload(gpu, q, [B, c.Tq, c.H * c.D]), tk = upload(gpu, k, [B, c.Tk, c.H * c.D]);
  const tm = km ? upload(gpu, km, [B, c.Tk], 'i32') : undefined;
  const maps = attentionMaps(gpu, tq, tk, c.rows, { heads: c.H, keyMask: tm });
  assert.equal(maps.shape, [B, c.H, c.rows.length, c.Tk]);
  const got = await readF32(maps);
  [tq, tk, maps, tm].forEach((t) => t?.dispose());
  const want = reference(q, k, B, c.Tq, c.Tk, c.H, c.D, c.rows, km);
  const err = relError(got, want);
  assert.ok(err <= TOL, `${label}: max relative error ${err}`);
  // every row sums to 1 over the keys (or is all zeros: every key masked)
  for (let i = 0; i < got.length / c.Tk; i++) {
    let sum = 0;
    for (let T = 0; T < c.Tk; T++) sum += got[i * c.Tk + T];
    const allMasked = want.subarray(i * c.Tk, (i + 1) * c.Tk).every((v) => v === 0);
    assert.ok(Math.abs(sum - (allMasked ? 0 : 1)) < 1e-5, `${label}: row ${i} sums to ${sum}`);
  }
  return got;
}

test('probabilities of chosen rows equal the float64 softmax and sum to 1 (odd sizes)', async () => {
  await check({ Tq: 13, Tk: 1001, H: 1, D: 7, rows: [0, 5, 12] }, 'one head');
  await check({ Tq: 9, Tk: 37, H: 3, D: 5, rows: [8, 8, 1] }, 'three heads, a row twice');
  await check({ B: 2, Tq: 4, Tk: 2051, H: 1, D: 33, rows: [3] }, 'two batches, more keys than a workgroup');
  await check({ Tq: 20, Tk: 90, H: 2, D: 3, rows: [19, 0, 4, 7, 7, 11, 2, 13, 18, 1, 5] }, 'more rows than one invocation takes (two row blocks)');
});

test('key masks: masked keys get 0; a batch with every key masked gives zeros', async () => {
  await check({ B: 2, Tq: 5, Tk: 77, H: 2, D: 4, rows: [1, 4], keyMask: (b, T) => (b === 0 ? Number(T % 3 !== 0) : 0) }, 'masked');
});

test('keys sliced over several bindings give the same probabilities', async () => {
  setBindingLimitForTests(2048 + 256); // 2 KiB of k per window: 32 keys of 16 channels, 10 slices
  try {
    await check({ Tq: 6, Tk: 300, H: 1, D: 16, rows: [5] }, 'sliced');
  } finally {
    setBindingLimitForTests(null);
  }
});

test('the fused attention kernel applies exactly these probabilities (values = identity)', async () => {
  // attention(q, k, I) = P: each output row is the row's probabilities.
  const gpu = await testGpu();
  const Tq = 11, Tk = 45, D = 6;
  const q = randn(Tq * D, 99, 3), k = randn(Tk * D, 100, 3);
  const eye = new Float32Array(Tk * Tk);
  for (let i = 0; i < Tk; i++) eye[i * Tk + i] = 1;
  const tq = upload(gpu, q, [1, Tq, D]), tk = upload(gpu, k, [1, Tk, D]), tv = upload(gpu, eye, [1, Tk, Tk]);
  const fused = await readF32(attention(gpu, tq, tk, tv, { heads: 1 }));
  const rows = [0, 3, 10];
  const maps = await readF32(attentionMaps(gpu, tq, tk, rows, { heads: 1 }));
  const err = relError(maps, Float32Array.from(rows.flatMap((r) => [...fused.subarray(r * Tk, (r + 1) * Tk)])));
  assert.ok(err <= 1e-6, `maps vs the fused kernel: ${err}`);
  [tq, tk, tv].forEach((t) => t.dispose());
});

test('clear errors: a row out of range, no rows', async () => {
  const gpu = await testGpu();
  const t = upload(gpu, new Float32Array(12), [1, 3, 4]);
  await assertRejects(async () => attentionMaps(gpu, t, t, [3], { heads: 1 }), /row 3 is not a query index in \[0, 3\)/);
  await assertRejects(async () => attentionMaps(gpu, t, t, [], { heads: 1 }), /no rows/);
  t.dispose();
});

test.run();
