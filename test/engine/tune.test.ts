import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, randn, relError, shadersOf } from '../gpu.ts';
import { upload, readF32, type Gpu } from '../../engine/index.ts';
import { tuning, tunedChoice, tunePending, exportTuning, importTuning, timeOnDevice, type Measure } from '../../engine/tune.ts';
import { matmul, matmulDefault } from '../../kernels/matmul.ts';

/** Runs `fn` with tuning on and an empty cache, then restores the test Gpu's state. */
async function tuned(fn: (gpu: Gpu) => Promise<void>): Promise<void> {
  const gpu = await testGpu();
  const t = tuning(gpu);
  t.enabled = true;
  try {
    await fn(gpu);
  } finally {
    t.enabled = false;
    t.choices.clear();
    t.pending.clear();
  }
}

/** A Measure with fixed times per candidate name (runs each candidate once, so the work is real). */
function fakeTimes(ms: Record<string, number>, ran: string[] = []): Measure {
  return async (gpu, run, _best, name) => {
    run();
    await gpu.sync();
    ran.push(name);
    return ms[name];
  };
}

test('the fastest candidate wins; a key is measured once; jobs are disposed', async () => {
  await tuned(async (gpu) => {
    let made = 0, disposed = 0, calls = 0;
    // built twice: on the dry view that compiles the candidates' pipelines (Gpu.prepare), then for the timing
    const job = (g: Gpu) => {
      made++;
      const run = () => void (g.dry || calls++);
      return { candidates: { slow: run, fast: run, medium: run }, dispose: () => disposed++ };
    };
    assert.is(tunedChoice(gpu, 'op 1x2', job), undefined);
    assert.is(tunedChoice(gpu, 'op 1x2', job), undefined); // queued once
    assert.is(tuning(gpu).pending.size, 1);
    const ran: string[] = [];
    assert.equal(await tunePending(gpu, fakeTimes({ slow: 9, fast: 1, medium: 3 }, ran)), ['op 1x2']);
    assert.equal(ran, ['slow', 'fast', 'medium']);
    assert.is(calls, 3);
    assert.equal([made, disposed], [2, 2]);
    assert.is(tunedChoice(gpu, 'op 1x2', job), 'fast');
    assert.is(tuning(gpu).pending.size, 0);
    assert.equal(await tunePending(gpu, fakeTimes({})), []); // nothing left
  });
});

test('the cache round-trips through JSON on the same adapter and ignores another adapter\'s', async () => {
  await tuned(async (gpu) => {
    const job = () => ({ candidates: { a: () => {}, b: () => {} }, dispose() {} });
    tunedChoice(gpu, 'k1', job);
    tunedChoice(gpu, 'k2', job);
    await tunePending(gpu, fakeTimes({ a: 2, b: 1 }));
    const saved = JSON.parse(JSON.stringify(exportTuning(gpu)));
    assert.equal(saved, { adapter: gpu.adapterName, choices: { k1: 'b', k2: 'b' } });
    tuning(gpu).choices.clear();
    assert.is(importTuning(gpu, { adapter: 'some other GPU', choices: { k1: 'a' } }), 0);
    assert.is(tunedChoice(gpu, 'k1', job), undefined);
    assert.is(importTuning(gpu, saved), 2);
    assert.is(tuning(gpu).pending.size, 0); // an imported key is no longer pending
    assert.is(tunedChoice(gpu, 'k1', job), 'b');
    assert.is(tunedChoice(gpu, 'k2', job), 'b');
  });
});

test('with tuning off nothing is queued (the test Gpu\'s default)', async () => {
  const gpu = await testGpu();
  assert.is(tuning(gpu).enabled, false);
  assert.is(tunedChoice(gpu, 'never', () => ({ candidates: {}, dispose() {} })), undefined);
  assert.is(tuning(gpu).pending.size, 0);
});

test('matmul: a new shape runs the default kernel and is queued; after tunePending it runs the measured choice', async () => {
  await tuned(async (gpu) => {
    const [M, K, N] = [70, 24, 36];
    const a = randn(M * K, 1), w = randn(K * N, 2);
    const ta = upload(gpu, a, [M, K]), tw = upload(gpu, w, [K, N]);
    const first = await shadersOf(gpu, () => matmul(gpu, ta, tw).dispose());
    const def = matmulDefault(gpu);
    assert.equal(first, [def === 'blocked' ? 'matmul' : `matmul_${def}`]);
    assert.is(tuning(gpu).pending.size, 1);
    const key = [...tuning(gpu).pending.keys()][0];
    assert.is(key, 'matmul 0,0,0,1,1,128,24,36'); // transposes, f16 b, shared b, batches, rows (next power of 2), K, N
    // every kernel is a candidate; the default is timed first
    const ran: string[] = [];
    await tunePending(gpu, fakeTimes({ blocked: 5, unrolled: 4, tiled: 1, vec4: 3 }, ran));
    assert.is(ran[0], def);
    assert.equal([...ran].sort(), ['blocked', 'tiled', 'unrolled', 'vec4']);
    assert.equal(exportTuning(gpu).choices, { [key]: 'tiled' });
    const out = matmul(gpu, ta, tw);
    assert.equal(await shadersOf(gpu, () => matmul(gpu, ta, tw).dispose()), ['matmul_tiled']);
    const want = new Float64Array(M * N);
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) want[m * N + n] += a[m * K + k] * w[k * N + n];
    assert.ok(relError(await readF32(out), want) < 1e-5);
    out.dispose();
    // rows up to the next power of two share the key; another layout is another key
    const t2 = upload(gpu, randn(100 * K, 3), [100, K]);
    assert.equal(await shadersOf(gpu, () => matmul(gpu, t2, tw).dispose()), ['matmul_tiled']);
    assert.is(tuning(gpu).pending.size, 0);
    const tb = upload(gpu, randn(N * K, 4), [N, K]);
    matmul(gpu, ta, tb, { transposeB: true }).dispose();
    const ran2: string[] = [];
    await tunePending(gpu, fakeTimes({ blocked: 2, unrolled: 3, tiled: 3, vec4: 3 }, ran2));
    assert.is(ran2.length, 4);
    assert.equal(await shadersOf(gpu, () => matmul(gpu, ta, tb, { transposeB: true }).dispose()), ['matmul']);
    [ta, tw, t2, tb].forEach((t) => t.dispose());
  });
});

test('timeOnDevice measures real runs: a positive time, compile run excluded', async () => {
  await tuned(async (gpu) => {
    const ta = upload(gpu, randn(64 * 32, 5), [64, 32]), tw = upload(gpu, randn(32 * 32, 6), [32, 32]);
    let runs = 0;
    const ms = await timeOnDevice(gpu, () => {
      runs++;
      matmul(gpu, ta, tw).dispose();
    }, Infinity, 'x');
    assert.ok(ms > 0 && Number.isFinite(ms), `time ${ms}`);
    assert.ok(runs >= 4, `${runs} runs`); // 1 untimed + 3 timed rounds
    // a candidate over twice the best stops after its first timed round
    runs = 0;
    await timeOnDevice(gpu, () => {
      runs++;
      matmul(gpu, ta, tw).dispose();
    }, 1e-9, 'y');
    assert.is(runs, 2);
    tuning(gpu).pending.clear();
    [ta, tw].forEach((t) => t.dispose());
  });
});

test.run();
