import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, randn, relError, shadersOf } from '../gpu.ts';
import { upload, readF32, type Gpu } from '../../engine/index.ts';
import { tuning, tunePending, exportTuning, type Measure } from '../../engine/tune.ts';
import { setBindingLimitForTests } from '../../kernels/slicing.ts';
import { attention, attentionTesting, attentionKernel, type AttentionKernel } from '../../kernels/attention.ts';
import { skip } from '../skip.ts';
import { attentionReference } from '../../bench/ladder-runner.ts';

const TOL = 1e-5;

/** Every row index of an output with n rows (the reference, DeepMind's attend() in float64, is the ladder's). */
const allRows = (n: number) => Array.from({ length: n }, (_, i) => i);

interface Case {
  B?: number; Tq: number; Tk: number; H: number; Dqk: number; Dv?: number;
  keyMask?: (b: number, T: number) => number;
  queryMask?: (b: number, t: number) => number;
}

let seed = 1;
async function run(c: Case, label = ''): Promise<{ got: Float32Array; want: Float64Array }> {
  const gpu = await testGpu();
  const B = c.B ?? 1, Dv = c.Dv ?? c.Dqk;
  const { Tq, Tk, H, Dqk } = c;
  const q = randn(B * Tq * H * Dqk, seed++, 2), k = randn(B * Tk * H * Dqk, seed++, 2), v = randn(B * Tk * H * Dv, seed++);
  const km = c.keyMask ? Int32Array.from({ length: B * Tk }, (_, i) => c.keyMask!(Math.floor(i / Tk), i % Tk)) : undefined;
  const qm = c.queryMask ? Int32Array.from({ length: B * Tq }, (_, i) => c.queryMask!(Math.floor(i / Tq), i % Tq)) : undefined;
  const tq = upload(gpu, q, [B, Tq, H * Dqk]), tk = upload(gpu, k, [B, Tk, H * Dqk]), tv = upload(gpu, v, [B, Tk, H * Dv]);
  const tkm = km ? upload(gpu, km, [B, Tk], 'i32') : undefined;
  const tqm = qm ? upload(gpu, qm, [B, Tq], 'i32') : undefined;
  attentionTesting.kernel = kernel;
  let out;
  try {
    out = attention(gpu, tq, tk, tv, { heads: H, keyMask: tkm, queryMask: tqm });
  } finally {
    attentionTesting.kernel = '';
  }
  assert.equal([...out.shape], [B, Tq, H * Dv], `${label} shape`);
  const got = await readF32(out);
  [tq, tk, tv, tkm, tqm, out].forEach((t) => t?.dispose());
  return { got, want: attentionReference({ B, Tq, Tk, H, Dqk, Dv }, q, k, v, allRows(B * Tq), km, qm) };
}

async function check(c: Case, label = JSON.stringify({ ...c, keyMask: !!c.keyMask, queryMask: !!c.queryMask })): Promise<Float32Array> {
  const { got, want } = await run(c, label);
  const err = relError(got, want);
  assert.ok(err < TOL, `${label}: relative error ${err}`);
  return got;
}

// Every case runs on each kernel: the portable one, and the subgroup one where
// the adapter has subgroups (lavapipe: 8 lanes, SwiftShader: 4).
let kernel: AttentionKernel = 'portable';
for (const k of ['portable', 'subgroups'] as const) {
  const kernelTest = (name: string, fn: () => Promise<void>) =>
    test(`${k}: ${name}`, async () => {
      if (k === 'subgroups' && !(await testGpu()).features.subgroups) {
        skip('this adapter has no subgroups feature');
        return;
      }
      kernel = k;
      await fn();
    });

  kernelTest('odd sizes: Tq=5, Tk=77, 3 heads of 7 channels', async () => {
    await check({ Tq: 5, Tk: 77, H: 3, Dqk: 7 });
  });

  kernelTest('Dqk != Dv, tails of every block size, batches', async () => {
    await check({ B: 2, Tq: 70, Tk: 33, H: 2, Dqk: 5, Dv: 9 });
    await check({ Tq: 1, Tk: 1, H: 1, Dqk: 1 });
    await check({ Tq: 65, Tk: 32, H: 1, Dqk: 3, Dv: 1 });
  });

  kernelTest('few queries over many keys, many queries over few keys, self-attention', async () => {
    await check({ Tq: 12, Tk: 700, H: 1, Dqk: 24, Dv: 17 }); // encoder-like
    await check({ Tq: 300, Tk: 6, H: 8, Dqk: 4 }); // decoder-like
    await check({ Tq: 96, Tk: 96, H: 4, Dqk: 16 }); // latent self-attention
  });

  kernelTest('large head dims (one head of 322 or 261 channels)', async () => {
    await check({ Tq: 9, Tk: 40, H: 1, Dqk: 322 });
    await check({ Tq: 17, Tk: 35, H: 1, Dqk: 261, Dv: 130 });
  });

  kernelTest('masks: partial, fully masked rows and padded queries come out as zeros', async () => {
    const got = await check({
      B: 3, Tq: 10, Tk: 45, H: 2, Dqk: 6, Dv: 5,
      // batch 0: every third key masked; batch 1: all keys masked; batch 2: only key 44 attended
      keyMask: (b, T) => (b === 0 ? (T % 3 !== 0 ? 1 : 0) : b === 1 ? 0 : T === 44 ? 1 : 0),
      queryMask: (b, t) => (t === 7 || (b === 2 && t === 0) ? 0 : 1),
    });
    const row = 2 * 5;
    for (let t = 0; t < 10; t++) {
      assert.ok(got.subarray((10 + t) * row, (10 + t + 1) * row).every((x) => x === 0), `batch 1 query ${t} not zero`);
    }
    for (const [b, t] of [[0, 7], [2, 7], [2, 0]]) {
      assert.ok(got.subarray((b * 10 + t) * row, (b * 10 + t + 1) * row).every((x) => x === 0), `padded query ${b},${t} not zero`);
    }
    // A query-mask-only case too.
    await check({ Tq: 66, Tk: 20, H: 1, Dqk: 8, queryMask: (_, t) => (t % 5 === 0 ? 0 : 1) });
  });

  kernelTest('key and query slices carry the softmax state and equal the unsplit result', async () => {
    const c: Case = {
      B: 2, Tq: 70, Tk: 77, H: 3, Dqk: 7, Dv: 5,
      // batch 0: the first 30 keys masked (whole first slices masked, later ones not)
      keyMask: (b, T) => (b === 0 ? (T < 30 ? 0 : 1) : T % 4 === 1 ? 0 : 1),
      queryMask: (b, t) => (b === 1 && t === 3 ? 0 : 1),
    };
    const s0 = seed;
    const whole = await check(c, 'unsplit');
    for (const [keys, queries] of [[13, 0], [32, 0], [0, 19], [10, 64], [1, 5]]) {
      Object.assign(attentionTesting, { keysPerSlice: keys, queriesPerSlice: queries });
      seed = s0;
      try {
        const split = await check(c, `keys ${keys} queries ${queries}`);
        assert.ok(relError(split, whole) < 1e-6, `split ${keys}/${queries} differs from unsplit by ${relError(split, whole)}`);
      } finally {
        Object.assign(attentionTesting, { keysPerSlice: 0, queriesPerSlice: 0 });
      }
    }
  });

  kernelTest('parallel key splits, alone and within key slices, merge to the unsplit result', async () => {
    const c: Case = {
      B: 2, Tq: 9, Tk: 100, H: 2, Dqk: 6, Dv: 7,
      // batch 0: keys 0..49 masked, so whole splits see only masked logits; batch 1: every 5th key
      keyMask: (b, T) => (b === 0 ? (T < 50 ? 0 : 1) : T % 5 === 0 ? 0 : 1),
      queryMask: (b, t) => (b === 1 && t === 4 ? 0 : 1),
    };
    const s0 = seed;
    attentionTesting.splits = 1;
    let whole: Float32Array;
    try {
      whole = await check(c, 'no splits');
    } finally {
      attentionTesting.splits = 0;
    }
    for (const [splits, keysPerSlice] of [[2, 0], [3, 0], [7, 0], [16, 0], [3, 40], [2, 33], [4, 7]]) {
      Object.assign(attentionTesting, { splits, keysPerSlice });
      seed = s0;
      try {
        const got = await check(c, `${splits} splits of slices of ${keysPerSlice || 'all'} keys`);
        assert.ok(relError(got, whole) < 1e-6, `${splits} splits / ${keysPerSlice} differ from unsplit by ${relError(got, whole)}`);
      } finally {
        Object.assign(attentionTesting, { splits: 0, keysPerSlice: 0 });
      }
    }
    // chosen automatically: 2 workgroups' worth of queries over 1100 keys
    await check({ Tq: 12, Tk: 1100, H: 1, Dqk: 5, Dv: 3, keyMask: (_, T) => (T < 600 ? 0 : 1) }, 'auto splits');
  });

  kernelTest('slices chosen automatically when a binding would exceed the limit', async () => {
    setBindingLimitForTests(4096); // 1024 f32 per binding
    try {
      await check({ B: 2, Tq: 90, Tk: 200, H: 2, Dqk: 5, Dv: 3, keyMask: (_, T) => (T % 7 === 0 ? 0 : 1) }, 'auto-sliced');
    } finally {
      setBindingLimitForTests(null);
    }
  });

}

test('subgroups: any query stride (invocations per query) gives the same result', async () => {
  if (!(await testGpu()).features.subgroups) return skip('this adapter has no subgroups feature');
  kernel = 'subgroups';
  const c: Case = { B: 2, Tq: 70, Tk: 77, H: 3, Dqk: 7, Dv: 5, keyMask: (b, T) => (b === 0 && T < 40 ? 0 : 1) };
  for (const stride of [2, 4, 64]) {
    attentionTesting.queryStride = stride;
    try {
      await check(c, `query stride ${stride}`);
      await check({ Tq: 12, Tk: 1100, H: 1, Dqk: 5, Dv: 3 }, `query stride ${stride}, auto splits`);
    } finally {
      attentionTesting.queryStride = 0;
    }
  }
});

test('tuner: where both kernels run, a new shape is queued, timed on both, and runs the faster', async () => {
  const gpu = await testGpu();
  if (!gpu.features.subgroups) return skip('this adapter has no subgroups feature');
  const t = tuning(gpu);
  t.enabled = true;
  const emulation = gpu.features.emulated;
  try {
    const [Tq, Tk, H, D] = [40, 300, 2, 6];
    const q = randn(Tq * H * D, 11), k = randn(Tk * H * D, 12), v = randn(Tk * H * D, 13);
    const tq = upload(gpu, q, [1, Tq, H * D]), tk = upload(gpu, k, [1, Tk, H * D]), tv = upload(gpu, v, [1, Tk, H * D]);
    const run = () => attention(gpu, tq, tk, tv, { heads: H }).dispose();
    const def = attentionKernel(gpu);
    if (emulation) {
      // a CPU emulation keeps the portable kernel untimed, unless told otherwise
      assert.equal(await shadersOf(gpu, run), ['attention']);
      assert.equal(t.pending.size, 0);
      attentionTesting.tuneOnEmulation = true;
    }
    assert.equal(await shadersOf(gpu, run), [def === 'portable' ? 'attention' : 'attention.subgroups']);
    assert.equal([...t.pending.keys()], ['attention 1,64,512,2,6,6']); // batches, queries, keys (powers of 2), heads, Dqk, Dv
    const ran: string[] = [];
    const other = def === 'portable' ? 'subgroups' : 'portable';
    const fake: Measure = async (g, r, _best, name) => (r(), await g.sync(), ran.push(name), name === other ? 1 : 2);
    await tunePending(gpu, fake);
    assert.equal([...ran].sort(), ['portable', 'subgroups']);
    assert.equal(Object.values(exportTuning(gpu).choices), [other]);
    assert.equal(await shadersOf(gpu, run), [other === 'portable' ? 'attention' : 'attention.subgroups']);
    const out = attention(gpu, tq, tk, tv, { heads: H });
    assert.ok(relError(await readF32(out), attentionReference({ B: 1, Tq, Tk, H, Dqk: D, Dv: D }, q, k, v, allRows(Tq))) < TOL);
    [tq, tk, tv, out].forEach((x) => x.dispose());
  } finally {
    attentionTesting.tuneOnEmulation = false;
    t.enabled = false;
    t.choices.clear();
    t.pending.clear();
  }
});

test('the default kernel is one the adapter has; forcing subgroups without the feature is an error', async () => {
  const gpu = await testGpu();
  const chosen = attentionKernel(gpu);
  assert.ok(chosen === 'portable' || gpu.features.subgroups, chosen);
  attentionTesting.kernel = 'subgroups';
  try {
    const fake = { ...gpu, features: { ...gpu.features, subgroups: false } } as typeof gpu;
    assert.throws(() => attentionKernel(fake), /no subgroups/);
  } finally {
    attentionTesting.kernel = '';
  }
});

test('shape, dtype and mask errors name the kernel and the shapes', async () => {
  const gpu = await testGpu();
  const q = upload(gpu, new Float32Array(2 * 3 * 4), [2, 3, 4]);
  const kv = upload(gpu, new Float32Array(2 * 5 * 4), [2, 5, 4]);
  const m = upload(gpu, new Float32Array(10), [2, 5]);
  assert.throws(() => attention(gpu, q, kv, kv, { heads: 3 }), /attention\(q=f32\[2,3,4\], k=f32\[2,5,4\], v=f32\[2,5,4\], heads=3\): .*multiples of heads=3/);
  assert.throws(() => attention(gpu, q, q, kv, { heads: 2 }), /same number of keys/);
  assert.throws(() => attention(gpu, q, kv, kv, { heads: 2, keyMask: m }), /keyMask must be i32/);
  assert.throws(() => attention(gpu, q, kv, kv, { heads: 2, queryMask: m.reshape([2, 5]) }), /queryMask must be/);
  [q, kv, m].forEach((t) => t.dispose());
});

test.run();
