// The kernel ladders (kernels/ladder/rungs.ts, run by bench/ladder-runner.ts):
// every rung of both ladders against the float64 TypeScript reference, on
// odd shapes, with masks where the rung takes them (all attention rungs do);
// the rungs that cannot run at a shape say so; and the subgroup rung at
// lavapipe's 32- and 64-lane widths (LP_NATIVE_VECTOR_WIDTH 1024 and 2048,
// in child processes, since the width is fixed when the driver loads).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testGpu } from '../gpu.ts';
import { skip } from '../skip.ts';
import { ATTENTION_RUNGS, MATMUL_RUNGS, LADDER_SOURCES } from '../../kernels/ladder/rungs.ts';
import { runLadder, ATTENTION_SHAPES, MATMUL_SHAPES } from '../../bench/ladder-runner.ts';
import type { Gpu } from '../../engine/index.ts';
import { LADDER_TEST_CASES } from './ladder.cases.ts';
import { buildLadder } from '../../kernels/build.ts';

const TOL = 1e-5;
const here = dirname(fileURLToPath(import.meta.url));

for (const c of LADDER_TEST_CASES) {
  test(`attention ladder, every rung: ${c.name}`, async () => {
    const gpu = await testGpu();
    const results = await runLadder(gpu, 'attention', c.shape, { masks: c.masks, sampleRows: Infinity, timed: false });
    assert.equal(results.map((r) => r.id), ATTENTION_RUNGS.map((r) => r.id));
    for (const r of results) {
      if (r.id === 'subgroups' && !gpu.features.subgroups) {
        assert.equal(r.status, 'cannot');
        continue;
      }
      assert.equal(r.status, 'ok', `${r.id}: ${r.reason}`);
      assert.ok(r.maxRelError! < TOL, `${r.id}: max relative error ${r.maxRelError}`);
      assert.equal(r.checkedRows, c.shape.B * c.shape.Tq, `${r.id}: every output row checked`);
    }
    const byId = Object.fromEntries(results.map((r) => [r.id, r]));
    assert.equal(byId.naive.dispatches, ['ladder_attention_1_naive', 'ladder_attention_1_naive', 'ladder_attention_1_naive'], 'three passes');
    assert.equal(byId.online.dispatches, ['ladder_attention_2_online']);
    assert.equal(byId.register.dispatches, ['attention'], 'the shipped portable kernel, keys not split');
    if (c.shape.Tk > 1024) assert.equal(byId.splits.dispatches, ['attention', 'attention'], 'split, then merge');
  });
}

test('matmul ladder, every rung, on odd sizes (vec4 says it cannot) and on vec4-sized ones', async () => {
  const gpu = await testGpu();
  for (const [shape, vec4] of [[{ M: 37, K: 19, N: 45 }, false], [{ M: 33, K: 20, N: 36 }, true]] as const) {
    const results = await runLadder(gpu, 'matmul', shape, { sampleRows: Infinity, timed: false });
    assert.equal(results.map((r) => r.id), MATMUL_RUNGS.map((r) => r.id));
    for (const r of results) {
      if (r.id === 'vec4' && !vec4) {
        assert.equal(r.status, 'cannot');
        assert.match(r.reason!, /multiples of 4/);
        continue;
      }
      assert.equal(r.status, 'ok', `${r.id} at ${JSON.stringify(shape)}: ${r.reason}`);
      assert.ok(r.maxRelError! < TOL, `${r.id} at ${JSON.stringify(shape)}: max relative error ${r.maxRelError}`);
    }
    const ran = Object.fromEntries(results.map((r) => [r.id, r.dispatches]));
    assert.equal(ran.naive, ['ladder_matmul_1_naive']);
    assert.equal(ran.workgroup, ['ladder_matmul_2_tiled']);
    assert.equal(ran.blocked, ['matmul']);
    assert.equal(ran.unrolled, ['matmul_unrolled']);
    assert.equal(ran.tiled, ['matmul_tiled']);
    if (vec4) assert.equal(ran.vec4, ['matmul_vec4']);
  }
});

test('a rung that cannot run at a shape says why (the naive scores matrix over the binding limit)', async () => {
  const gpu = await testGpu();
  const small = { ...gpu, limits: { ...gpu.limits, maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 2 ** 30 } } as unknown as Gpu;
  const flow = ATTENTION_SHAPES.find((s) => s.name === 'flow-decoder')!.full;
  const [naive, online, register] = ATTENTION_RUNGS;
  assert.match(naive.cannot(small, flow)!, /the scores matrix needs 1426 MiB/);
  assert.match(online.cannot(small, flow)!, /q needs 357 MiB/);
  assert.is(register.cannot(small, flow), null, 'the shipped kernel slices');
  // the encoder's matrix (512 x 50,176) fits 128 MiB: the naive rung runs there
  assert.is(naive.cannot(small, ATTENTION_SHAPES[0].full), null);
  // and the runner reports it as a row, not an error
  const results = await runLadder(small, 'attention', flow, { only: ['naive', 'online'] });
  assert.equal(results.map((r) => r.status), ['cannot', 'cannot']);
  // operands over maxBufferSize: every rung says so (the demo's "full size" on a small adapter)
  const tiny = { ...gpu, limits: { ...gpu.limits, maxBufferSize: 2 ** 20 } } as unknown as Gpu;
  const all = await runLadder(tiny, 'attention', { B: 1, Tq: 1024, Tk: 64, H: 1, Dqk: 512, Dv: 8 });
  assert.equal(all.map((r) => r.status), ATTENTION_RUNGS.map(() => 'cannot'));
  assert.match(all[2].reason!, /q needs a 2 MiB buffer: over this adapter's maxBufferSize of 1 MiB/);
});

test('every rung names WGSL sources the ladder module carries, and every shape has a reduced size', () => {
  for (const r of [...ATTENTION_RUNGS, ...MATMUL_RUNGS]) {
    for (const f of r.files) assert.ok(LADDER_SOURCES[f]?.includes('@compute'), `${r.id}: ${f}`);
    if (r.entry) assert.ok(r.files.some((f) => LADDER_SOURCES[f].includes(`fn ${r.entry}(`)), `${r.id}: entry ${r.entry}`);
  }
  for (const s of [...ATTENTION_SHAPES, ...MATMUL_SHAPES]) {
    const n = (x: object) => Object.values(x).reduce((a: number, b: number) => a * b, 1);
    assert.ok(n(s.quick) < n(s.full), s.name);
  }
});

test('kernels/ladder/ladder.gen.ts is up to date, and the shipped shaders.gen.ts holds no rung of the ladders', () => {
  const kernels = join(here, '../../kernels');
  assert.ok(readFileSync(join(kernels, 'ladder/ladder.gen.ts'), 'utf8') === buildLadder(kernels), 'rerun npx tsx kernels/build.ts');
  assert.not.match(readFileSync(join(kernels, 'shaders.gen.ts'), 'utf8'), /ladder/);
});

for (const [width, lanes] of [[1024, 32], [2048, 64]] as const) {
  test(`the subgroup rung at lavapipe's ${lanes}-lane width (LP_NATIVE_VECTOR_WIDTH=${width})`, async () => {
    const gpu = await testGpu();
    if (!gpu.features.emulated || !/llvmpipe/i.test(gpu.adapterName)) return skip(`lavapipe only (this adapter: ${gpu.adapterName})`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'ladder.subgroups.ts')], {
      encoding: 'utf8', env: { ...process.env, LP_NATIVE_VECTOR_WIDTH: String(width) }, timeout: 120_000,
    });
    assert.is(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { adapter: string; subgroups: boolean; lanes: number | null; errors: (number | string)[] };
    if (!out.subgroups) return skip(`lavapipe at width ${width} offers no subgroups (${out.adapter})`);
    console.log(`  lavapipe at LP_NATIVE_VECTOR_WIDTH=${width}: ${out.lanes} lanes; subgroup rung errors ${out.errors.map((e) => (typeof e === 'number' ? e.toExponential(1) : e)).join(', ')}`);
    assert.is(out.lanes, lanes);
    assert.is(out.errors.length, LADDER_TEST_CASES.filter((x) => x.shape.Tk < 1024).length);
    for (const e of out.errors) assert.ok(typeof e === 'number' && e < TOL, String(e));
  });
}

test.run();
