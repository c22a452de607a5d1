import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, randn, relError } from '../gpu.ts';
import { upload, readF32, f32ToF16, f16ToF32 } from '../../engine/index.ts';
import { matmul, matmulTesting, type MatmulOptions, type MatmulVariant } from '../../kernels/matmul.ts';
import { setBindingLimitForTests } from '../../kernels/slicing.ts';
import { skip } from '../skip.ts';

const TOL = 1e-5;
const VARIANTS: MatmulVariant[] = ['blocked', 'unrolled', 'tiled', 'vec4'];

function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/**
 * float64 reference over `batches` products. a is [batches, M, K] (or
 * [batches, K, M] transposed) with aStride 0 meaning shared; b likewise.
 */
function reference(
  a: Float32Array, b: Float32Array, batches: number, M: number, K: number, N: number,
  o: { tA?: boolean; tB?: boolean; sharedB?: boolean; bias?: Float32Array; gelu?: boolean; residual?: Float32Array },
): Float64Array {
  const out = new Float64Array(batches * M * N);
  for (let z = 0; z < batches; z++) {
    const ab = z * M * K, bb = o.sharedB ? 0 : z * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = o.tA ? a[ab + k * M + m] : a[ab + m * K + k];
          const bv = o.tB ? b[bb + n * K + k] : b[bb + k * N + n];
          s += av * bv;
        }
        if (o.bias) s += o.bias[n];
        if (o.gelu) s = gelu(s);
        const i = z * M * N + m * N + n;
        if (o.residual) s += o.residual[i];
        out[i] = s;
      }
    }
  }
  return out;
}

interface Case {
  M: number; K: number; N: number; batches?: number; lead?: number[];
  tA?: boolean; tB?: boolean; batchedB?: boolean; bias?: boolean; gelu?: boolean; residual?: boolean;
  /** b stored as f16 (the reference multiplies the same f16-rounded values) */
  f16?: boolean;
}

/** Runs `fn` with the kernel forced; returns the shader names it dispatched. */
async function withVariant<T>(variant: MatmulVariant, fn: () => Promise<T>): Promise<{ result: T; shaders: Set<string> }> {
  const gpu = await testGpu();
  const shaders = new Set<string>();
  matmulTesting.variant = variant;
  gpu.onDispatch = (label) => shaders.add(label.slice(0, label.indexOf('(')));
  try {
    return { result: await fn(), shaders };
  } finally {
    matmulTesting.variant = '';
    gpu.onDispatch = null;
  }
}

let seed = 100;
/** One product on every kernel against the float64 reference. */
async function check(c: Case, label = JSON.stringify(c)): Promise<number> {
  const gpu = await testGpu();
  const { M, K, N } = c;
  const batches = c.batches ?? 1;
  const lead = c.lead ?? (batches > 1 || c.batchedB ? [batches] : []);
  const a = randn(batches * M * K, seed++);
  let b = randn((c.batchedB ? batches : 1) * K * N, seed++);
  if (c.f16) b = f16ToF32(f32ToF16(b));
  const bias = c.bias ? randn(N, seed++) : undefined;
  const residual = c.residual ? randn(batches * M * N, seed++) : undefined;
  const ta = upload(gpu, a, [...lead, ...(c.tA ? [K, M] : [M, K])]);
  const tb = upload(gpu, c.f16 ? f32ToF16(b) : b, [...(c.batchedB ? lead : []), ...(c.tB ? [N, K] : [K, N])], c.f16 ? 'f16' : 'f32');
  const tbias = bias ? upload(gpu, bias, [N]) : undefined;
  const tres = residual ? upload(gpu, residual, [...lead, M, N]) : undefined;
  const opts: MatmulOptions = { transposeA: c.tA, transposeB: c.tB, bias: tbias, residual: tres, activation: c.gelu ? 'gelu' : 'none' };
  const want = reference(a, b, batches, M, K, N, { tA: c.tA, tB: c.tB, sharedB: !c.batchedB, bias, gelu: c.gelu, residual });
  let worst = 0;
  for (const v of VARIANTS) {
    const { result: got, shaders } = await withVariant(v, async () => {
      const out = matmul(gpu, ta, tb, opts);
      assert.equal([...out.shape], [...lead, M, N], `${label}: shape`);
      const host = await readF32(out);
      out.dispose();
      return host;
    });
    // 'vec4' runs where its loads fit (untransposed, K and N multiples of 4, N >= 16), else 'blocked'
    const vec4Fits = !c.tA && !c.tB && K % 4 === 0 && N % 4 === 0 && N >= 16;
    const shader = (v === 'blocked' || (v === 'vec4' && !vec4Fits) ? 'matmul' : `matmul_${v}`) + (c.f16 ? '_f16' : '');
    assert.equal([...shaders], [shader], `${label} (${v}): ran ${[...shaders]}`);
    const err = relError(got, want);
    assert.ok(err < TOL, `${label} (${v}): relative error ${err}`);
    worst = Math.max(worst, err);
  }
  [ta, tb, tbias, tres].forEach((t) => t?.dispose());
  return worst;
}

test('odd sizes that do not divide the register tiles, the workgroup blocks or the staged slabs', async () => {
  for (const [M, K, N] of [[37, 13, 29], [1, 1, 1], [1, 5, 70], [65, 7, 3], [64, 64, 64], [130, 33, 67], [5, 300, 9]]) {
    await check({ M, K, N });
  }
});

test('whole vec4 column groups (N a multiple of 4), odd row counts, sizes past one block', async () => {
  for (const [M, K, N] of [[1, 4, 4], [9, 12, 36], [67, 20, 68], [130, 36, 100], [3, 260, 8], [70, 65, 130]]) {
    await check({ M, K, N });
  }
  await check({ M: 19, K: 16, N: 24, bias: true, gelu: true, residual: true });
  await check({ M: 17, K: 8, N: 12, batches: 3, batchedB: true, bias: true, residual: true });
  await check({ M: 6, K: 4, N: 8, batches: 6, lead: [2, 3], gelu: true });
  // where 'vec4' runs: one tile of columns, a tile shifted left at the edge (N = 20, 52), batches, the epilogue
  for (const [M, K, N] of [[1, 4, 16], [33, 12, 20], [9, 8, 52]]) await check({ M, K, N });
  await check({ M: 9, K: 8, N: 20, batches: 3, batchedB: true, bias: true, gelu: true, residual: true });
  await check({ M: 5, K: 8, N: 16, batches: 2, lead: [2], bias: true });
});

test('f16 b (f32 accumulation) on every kernel, where the adapter has shader-f16', async () => {
  const gpu = await testGpu();
  if (!gpu.features.f16) {
    skip(`${gpu.adapterName} has no shader-f16`);
    return;
  }
  await check({ M: 37, K: 13, N: 29, f16: true, bias: true, gelu: true, residual: true });
  await check({ M: 67, K: 20, N: 68, f16: true, bias: true, residual: true });
  await check({ M: 19, K: 11, N: 23, f16: true, tA: true, tB: true });
  await check({ M: 17, K: 8, N: 12, batches: 3, batchedB: true, f16: true });
  await check({ M: 19, K: 12, N: 36, batches: 2, batchedB: true, f16: true, bias: true, residual: true });
});

test('every option combination: transposes, bias, gelu, residual', async () => {
  for (let bits = 0; bits < 32; bits++) {
    await check({
      M: 19, K: 11, N: 23,
      tA: !!(bits & 1), tB: !!(bits & 2), bias: !!(bits & 4), gelu: !!(bits & 8), residual: !!(bits & 16),
    });
  }
});

test('batched b, with and without transposes and the full epilogue', async () => {
  await check({ M: 17, K: 9, N: 21, batches: 3, batchedB: true });
  await check({ M: 17, K: 9, N: 21, batches: 3, batchedB: true, tA: true, tB: true, bias: true, gelu: true, residual: true });
  await check({ M: 6, K: 5, N: 4, batches: 6, lead: [2, 3], batchedB: true, tB: true });
});

test('shared b: leading dims of a are rows; transposed a makes them batches', async () => {
  // x[2, 5, 7] @ w[7, 11] -> [2, 5, 11]
  await check({ M: 5, K: 7, N: 11, batches: 2, lead: [2], bias: true });
  // a[2, 7, 5] transposed @ w[7, 11] -> [2, 5, 11]
  await check({ M: 5, K: 7, N: 11, batches: 2, lead: [2], tA: true, residual: true });
});

test('gelu stays finite for |x| up to 1e4 and matches the tanh formula', async () => {
  const gpu = await testGpu();
  const xs = [-1e4, -3e3, -50, -9, -3, -1, -1e-3, 0, 1e-3, 0.5, 1, 3, 9, 50, 3e3, 1e4];
  const n = xs.length;
  // out = gelu(x @ I + 0): a 1 x n row times an identity.
  const eye = new Float32Array(n * n);
  for (let i = 0; i < n; i++) eye[i * n + i] = 1;
  const x = upload(gpu, Float32Array.from(xs), [1, n]);
  const w = upload(gpu, eye, [n, n]);
  const out = matmul(gpu, x, w, { activation: 'gelu' });
  const got = await readF32(out);
  for (let i = 0; i < n; i++) {
    assert.ok(Number.isFinite(got[i]), `gelu(${xs[i]}) = ${got[i]}`);
    const want = gelu(Math.fround(xs[i]));
    assert.ok(Math.abs(got[i] - want) <= 1e-6 * Math.max(1, Math.abs(want)), `gelu(${xs[i]}) = ${got[i]}, want ${want}`);
  }
  [x, w, out].forEach((t) => t.dispose());
});

test('over the binding limit: row slices and batch groups at aligned windows', async () => {
  setBindingLimitForTests(4096); // 1024 f32 per binding
  try {
    await check({ M: 300, K: 13, N: 29, bias: true, residual: true, gelu: true }, 'rows sliced');
    await check({ M: 300, K: 12, N: 28, bias: true, residual: true, gelu: true }, 'rows sliced, whole vec4s');
    if ((await testGpu()).features.f16) await check({ M: 200, K: 12, N: 28, f16: true, residual: true }, 'rows sliced, f16 b');
    await check({ M: 20, K: 13, N: 29, batches: 4, batchedB: true, residual: true }, 'one batch per dispatch');
    await check({ M: 20, K: 12, N: 28, batches: 4, batchedB: true, residual: true }, 'one batch per dispatch, whole vec4s');
    await check({ M: 100, K: 13, N: 29, batches: 2, batchedB: true, tB: true }, 'batched, rows sliced');
    await check({ M: 100, K: 5, N: 29, batches: 2, lead: [2], tA: true, residual: true }, 'transposed a, rows sliced');
    await check({ M: 7, K: 9, N: 5, batches: 40, batchedB: true }, 'several batches per dispatch');
  } finally {
    setBindingLimitForTests(null);
  }
});

test('a tensor that starts at an unaligned offset (rows view) is bound through a window', async () => {
  const gpu = await testGpu();
  const [M, K, N] = [9, 7, 6];
  const full = randn(12 * K, 7);
  const w = randn(K * N, 8);
  const tf = upload(gpu, full, [12, K]);
  const tw = upload(gpu, w, [K, N]);
  const view = tf.rows(3, 3 + M); // starts at byte 84
  const want = reference(full.subarray(3 * K, (3 + M) * K), w, 1, M, K, N, { sharedB: true });
  for (const v of VARIANTS) {
    const { result: err } = await withVariant(v, async () => {
      const out = matmul(gpu, view, tw);
      const e = relError(await readF32(out), want);
      out.dispose();
      return e;
    });
    assert.ok(err < TOL, `${v}: relative error ${err}`);
  }
  [tf, tw].forEach((t) => t.dispose());
});

test('shape and dtype errors name the kernel and the shapes', async () => {
  const gpu = await testGpu();
  const a = upload(gpu, new Float32Array(6), [2, 3]);
  const b = upload(gpu, new Float32Array(8), [4, 2]);
  const i = upload(gpu, new Int32Array(6), [3, 2], 'i32');
  assert.throws(() => matmul(gpu, a, b), /matmul\(a=f32\[2,3\], b=f32\[4,2\]\): inner dimensions differ/);
  assert.throws(() => matmul(gpu, a, i), /b must be f32 or f16/);
  assert.throws(() => matmul(gpu, i.reshape([2, 3]), a.reshape([3, 2])), /a must be f32/);
  assert.throws(() => matmul(gpu, a.reshape([3, 2]), b.reshape([2, 4]), { bias: a }), /bias must be \[4\]/);
  [a, b, i].forEach((t) => t.dispose());
});

test.run();
