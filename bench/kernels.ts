// GFLOP/s of the core kernels (matmul, attention) on the current adapter, at
// the shapes of the released Perceiver IO models.
//
//   npm run bench:kernels                       table
//   npm run bench:kernels -- --quick            fewer repetitions, smaller query counts
//   npm run bench:kernels -- --json             JSON instead of the table
//   npm run bench:kernels -- --native-gflops 900   also print the ratio to a native reference
//   npm run bench:kernels -- --only attention   run the rows whose name contains a word
//   npm run bench:kernels -- --no-tfjs          leave out TensorFlow.js's columns
//   npm run bench:kernels -- --variant tiled    force a matmul kernel (blocked, unrolled, tiled, vec4)
//   npm run bench:kernels -- --tune             let the tuner (engine/tune.ts) measure each matmul
//                                               shape first, then time its choice
//   npm run bench:kernels -- --rounds 5         rounds per row, ours and TF.js alternating (default 3, 1 with --quick)
// The matmul shape column ends with the kernel that ran ([blocked], [unrolled], [tiled], [vec4]).
//
// Next to each row: TensorFlow.js's WebGPU backend (bench/tfjs.ts) doing the
// same product on the same Dawn entry point and adapter, its ms and GFLOP/s,
// and ours/TF.js (the ratio of our GFLOP/s to its). A software adapter's
// speed drifts with the host's load by tens of percent within a minute, so
// each row runs in rounds, ours then TF.js, alternating: the ms columns are
// the medians of the rounds and the ratio the median of the rounds' ratios
// (each taken from two neighbouring measurements). With --quick, TF.js skips
// the rows over QUICK_TFJS_GFLOP (its warm-up run at the exact shape would
// double their time); the row says so. If TF.js cannot start, the reason is
// printed once and the columns stay empty.
// Every pipeline is compiled first on small shapes; each row then runs once,
// and, when that was shorter than the time budget (2 s, 0.3 s with --quick),
// repeats between two gpu.sync() calls; the time is the mean per run.
// FLOPs: matmul 2*M*N*K; attention 2*B*H*Tq*Tk*(Dqk + Dv) (scores and
// weighted values; the softmax is not counted).

import { availableParallelism, loadavg } from 'node:os';
import { nodeWebGpu } from '../engine/node.ts';
import { createGpu, upload, type Gpu, type Tensor } from '../engine/index.ts';
import { matmul, matmulTesting, type MatmulVariant } from '../kernels/matmul.ts';
import { tunePending } from '../engine/tune.ts';
import { attention } from '../kernels/attention.ts';
import { startTfjs, repetitions, type Tfjs, type TfjsRun } from './tfjs.ts';
import { noise } from './random-weights.ts';

interface Row {
  name: string;
  kernel: 'matmul' | 'attention';
  shape: string;
  flops: number;
  /** alternating rounds of ours and TF.js; the figures below are medians over them */
  rounds: number;
  reps: number;
  ms: number;
  gflops: number;
  /** this process's CPU time over wall time and cores: how much of the host a CPU adapter got */
  hostCpu: number;
  vsNative?: number;
  /** TensorFlow.js on the same shape and adapter, or why not */
  tfjs?: { ms: number; gflops: number; reps: number; hostCpu: number; ratio: number } | { skipped: string };
}

const args = process.argv.slice(2);
const flag = (f: string) => args.includes(f);
const value = (f: string) => {
  const i = args.indexOf(f);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = flag('--quick');
const json = flag('--json');
const native = value('--native-gflops') !== undefined ? Number(value('--native-gflops')) : undefined;
if (native !== undefined && !(native > 0)) throw new Error('--native-gflops needs a positive number (GFLOP/s)');
const only = value('--only');
const withTfjs = !flag('--no-tfjs');
const variant = (value('--variant') ?? '') as '' | MatmulVariant;
if (variant && !['blocked', 'unrolled', 'tiled', 'vec4'].includes(variant)) throw new Error('--variant takes blocked, unrolled, tiled or vec4');
matmulTesting.variant = variant;
const tune = flag('--tune');
const rounds = Number(value('--rounds') ?? (quick ? 1 : 3));
if (!(Number.isInteger(rounds) && rounds >= 1)) throw new Error('--rounds needs a positive integer');
/** With --quick, TF.js leaves out rows above this many GFLOP. */
const QUICK_TFJS_GFLOP = 5;
/** Wall-clock budget per shape for the timed repetitions (after the warm-up). */
const targetMs = quick ? 300 : 2000;
const maxReps = quick ? 3 : 20;
/** Query count for the flow decoder (the real model has 182528; it scales linearly). */
const flowQueries = quick ? 4096 : 16384;

/** Deterministic values uniform in [-scale, scale) (bench/random-weights.ts's noise: std scale/sqrt(3)). */
function tensor(gpu: Gpu, shape: number[], seed: number, scale = 1): Tensor {
  return upload(gpu, noise(shape.reduce((a, b) => a * b, 1), seed, scale / Math.sqrt(3)), shape);
}

/**
 * Mean milliseconds per run. The pipelines are already compiled (warmUp), so a
 * first run longer than the budget is the measurement; shorter ones are
 * repeated to fill the budget.
 */
interface Timing { ms: number; reps: number; hostCpu: number }
const cores = availableParallelism();

/** One round of ours: a run, and repetitions to fill the budget when it was shorter. */
async function time(gpu: Gpu, run: () => Tensor): Promise<Timing> {
  const measure = async (reps: number): Promise<Timing> => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) run().dispose();
    await gpu.sync();
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    return { ms: wall / reps, reps, hostCpu: (cpu.user + cpu.system) / 1000 / (wall * cores) };
  };
  const once = await measure(1);
  const reps = repetitions(once.ms, { targetMs, maxReps });
  return reps <= 1 ? once : measure(reps);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** The round whose time is the median (the lower middle one for an even count), for its reps and host share. */
const medianRound = <T extends { ms: number }>(xs: T[]): T => [...xs].sort((a, b) => a.ms - b.ms)[Math.floor((xs.length - 1) / 2)];

/** Compiles every pipeline variant on small shapes (plain, split + merge) so no row pays for it. */
async function warmUp(gpu: Gpu): Promise<void> {
  const a = tensor(gpu, [70, 32], 7), w = tensor(gpu, [32, 20], 8);
  const q = tensor(gpu, [1, 8, 16], 9), kv = tensor(gpu, [1, 2048, 16], 10);
  for (const v of ['blocked', 'unrolled', 'tiled', 'vec4'] as const) {
    matmulTesting.variant = v;
    matmul(gpu, a, w).dispose();
  }
  matmulTesting.variant = variant;
  attention(gpu, q, kv, kv, { heads: 2 }).dispose(); // few queries over many keys: split + merge
  attention(gpu, kv, q, q, { heads: 2 }).dispose();
  await gpu.sync();
  [a, w, q, kv].forEach((t) => t.dispose());
}

// One Dawn entry point for our Gpu and TF.js (held for the process's life).
const webgpu = await nodeWebGpu();
const gpu = await createGpu(webgpu);
const rows: Row[] = [];
let tfjs: Tfjs | null = null;
let tfjsError: string | null = withTfjs ? null : 'left out (--no-tfjs)';
if (withTfjs) {
  try {
    tfjs = await startTfjs(webgpu, { targetMs, maxReps });
  } catch (e) {
    tfjsError = `cannot run: ${(e as Error).message}`;
  }
}

/**
 * A row: `rounds` rounds of ours (`run`) and TF.js (`prepareTfjs`, warmed up
 * once) alternating, then the medians. TF.js is left out, with the reason,
 * where it is not running or fails at the shape.
 */
async function measureRow(name: string, kernel: Row['kernel'], shape: string, flops: number, run: () => Tensor, prepareTfjs: (t: Tfjs) => Promise<TfjsRun>) {
  let theirs: TfjsRun | null = null;
  let skipped: string | null = null;
  if (tfjs && quick && flops > QUICK_TFJS_GFLOP * 1e9) skipped = `over ${QUICK_TFJS_GFLOP} GFLOP (--quick)`;
  else if (tfjs) {
    try {
      theirs = await prepareTfjs(tfjs);
    } catch (e) {
      skipped = `failed: ${(e as Error).message.split('\n')[0]}`;
    }
  }
  const ours: Timing[] = [];
  const tf: Timing[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      ours.push(await time(gpu, run));
      if (theirs) tf.push(await theirs.time());
    }
  } finally {
    theirs?.dispose();
  }
  const mid = medianRound(ours);
  const ms = median(ours.map((t) => t.ms));
  const gflops = flops / (ms * 1e6);
  let tfCell: Row['tfjs'];
  if (tf.length) {
    const tms = median(tf.map((t) => t.ms));
    tfCell = { ms: tms, gflops: flops / (tms * 1e6), reps: medianRound(tf).reps, hostCpu: medianRound(tf).hostCpu, ratio: median(tf.map((t, i) => t.ms / ours[i].ms)) };
  } else if (skipped) tfCell = { skipped };
  const row: Row = { name, kernel, shape, flops, rounds, reps: mid.reps, ms, gflops, hostCpu: mid.hostCpu, vsNative: native ? gflops / native : undefined, tfjs: tfCell };
  rows.push(row);
  if (!json) printRow(row);
}

async function benchMatmul(name: string, M: number, K: number, N: number, opts: { bias?: boolean; gelu?: boolean } = {}) {
  if (only && !`${name} matmul`.includes(only)) return;
  const a = tensor(gpu, [M, K], 1);
  const w = tensor(gpu, [K, N], 2, 1 / Math.sqrt(K));
  const bias = opts.bias ? tensor(gpu, [N], 3) : undefined;
  const run = () => matmul(gpu, a, w, { bias, activation: opts.gelu ? 'gelu' : 'none' });
  if (tune) {
    run().dispose(); // queues the shape
    await tunePending(gpu);
  }
  const kernels = new Set<string>();
  gpu.onDispatch = (label) => kernels.add(label.slice(0, label.indexOf('(')).replace(/^matmul_?/, '') || 'blocked');
  run().dispose();
  gpu.onDispatch = null;
  await gpu.sync(); // or the first timed run would include this one
  const shape = `${M}x${K} @ ${K}x${N}${opts.bias ? ' +bias' : ''}${opts.gelu ? ' gelu' : ''} [${[...kernels]}]`;
  try {
    await measureRow(name, 'matmul', shape, 2 * M * N * K, run, (tf) => tf.matmul(M, K, N, { bias: opts.bias }));
  } finally {
    [a, w, bias].forEach((x) => x?.dispose());
  }
}

async function benchAttention(name: string, Tq: number, Tk: number, heads: number, Dqk: number, Dv: number) {
  if (only && !`${name} attention`.includes(only)) return;
  const q = tensor(gpu, [1, Tq, heads * Dqk], 4);
  const k = tensor(gpu, [1, Tk, heads * Dqk], 5);
  const v = tensor(gpu, [1, Tk, heads * Dv], 6);
  const flops = 2 * Tq * Tk * heads * (Dqk + Dv);
  try {
    await measureRow(name, 'attention', `${Tq} over ${Tk}, ${heads}x(${Dqk},${Dv})`, flops, () => attention(gpu, q, k, v, { heads }), (tf) => tf.attention(Tq, Tk, heads, Dqk, Dv));
  } finally {
    [q, k, v].forEach((x) => x.dispose());
  }
}

const header = ['kernel', 'model / layer', 'shape', 'rounds x reps', 'ms', 'GFLOP/s', 'host cpu', ...(native ? ['vs native'] : []), ...(tfjs ? ['TF.js ms', 'TF.js GF/s', 'its cpu', 'ours/TF.js'] : [])];
const widths = [9, 32, 40, 13, 10, 8, 8, ...(native ? [9] : []), 10, 10, 7, 10];
function line(cells: string[]): string {
  return cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
}
function printRow(r: Row) {
  const tf = r.tfjs;
  console.log(line([
    r.kernel, r.name, r.shape, `${r.rounds} x ${r.reps}`, r.ms.toFixed(1), r.gflops.toFixed(2), `${Math.round(r.hostCpu * 100)}%`,
    ...(r.vsNative !== undefined ? [r.vsNative.toPrecision(3)] : []),
    ...(!tf ? [] : 'ms' in tf ? [tf.ms.toFixed(1), tf.gflops.toFixed(2), `${Math.round(tf.hostCpu * 100)}%`, `${tf.ratio.toFixed(2)}x`] : [`  ${tf.skipped}`]),
  ]));
}

await warmUp(gpu);
if (!json) {
  console.log(`adapter: ${gpu.adapterName}${quick ? '  (--quick)' : ''}`);
  const load = loadavg()[0];
  console.log(`host: ${cores} cores, load average ${load.toFixed(2)}${load > cores ? ' (busy host: a CPU adapter will measure low)' : ''}`);
  console.log('host cpu: CPU time of this process / (wall time x cores), i.e. how much of the host a CPU adapter (lavapipe) used');
  if (tfjs) {
    console.log(`TF.js: @tensorflow/tfjs-backend-webgpu on the same Dawn entry point (its adapter: ${tfjs.adapter}); ours/TF.js = its time / ours;`);
    console.log(`       ${rounds} round${rounds === 1 ? '' : 's'} per row, ours then TF.js alternating: medians of the times, and of the rounds' ratios`);
    console.log('       its cpu: host cpu during its run (on a CPU adapter a ratio means little when the two host cpu figures differ much)');
    console.log('       +bias: tf.fused.matMul with the bias; gelu rows: TF.js leaves the GELU out (it has none to fuse), so their ratio favours TF.js;');
    console.log('       the "bias only" rows time the same shapes with the same work on both sides');
    console.log('       attention: tf.matMul (q k^T), softmax, tf.matMul (v), with head transposes');
  } else console.log(`TF.js: ${tfjsError}`);
  console.log(line(header));
  console.log(line(header.map((_, i) => '-'.repeat(widths[i]))));
}

// matmul: the linear layers of the released models
await benchMatmul('ImageNet latent projection', 512, 1024, 1024);
await benchMatmul('ImageNet latent MLP (gelu)', 512, 1024, 1024, { bias: true, gelu: true });
await benchMatmul('ImageNet latent MLP, bias only', 512, 1024, 1024, { bias: true }); // the same work as TF.js's row above
await benchMatmul('ImageNet input projection', 50176, 261, 261, { bias: true });
await benchMatmul('MLM input value projection', 2048, 768, 1280, { bias: true });
await benchMatmul('MLM latent MLP (gelu)', 256, 1280, 1280, { bias: true, gelu: true });
await benchMatmul('MLM latent MLP, bias only', 256, 1280, 1280, { bias: true });
await benchMatmul('flow input projection', 182528, 322, 322, { bias: true });
// attention
await benchAttention('ImageNet latent self-attention', 512, 512, 8, 128, 128);
await benchAttention('ImageNet encoder cross-attention', 512, 50176, 1, 261, 261);
await benchAttention('MLM encoder cross-attention', 256, 2048, 8, 32, 160);
await benchAttention('MLM latent self-attention', 256, 256, 8, 32, 160);
await benchAttention('MLM decoder cross-attention', 2048, 256, 8, 32, 96);
await benchAttention('flow decoder cross-attention', flowQueries, 2048, 1, 512, 512);

if (json) {
  console.log(JSON.stringify({ adapter: gpu.adapterName, quick, nativeGflops: native ?? null, hostCores: cores, loadAverage: loadavg()[0], tfjs: tfjs ? { adapter: tfjs.adapter } : { error: tfjsError }, results: rows }, null, 2));
}
gpu.destroy();
