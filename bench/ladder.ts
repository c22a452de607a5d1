// The kernel ladders on the current adapter: every rung, from the naive
// kernel to the shipped one, at Perceiver IO's real shapes (bench/ladder-runner.ts;
// the rungs: kernels/ladder/rungs.ts; the walk up them: docs/attention.md).
//
//   npm run bench:ladder -- attention               every attention shape, full size
//   npm run bench:ladder -- matmul --quick          reduced shapes, short time budget
//   npm run bench:ladder -- attention --shape flow-decoder
//   npm run bench:ladder -- attention --rungs naive,online   only these rungs
//   npm run bench:ladder -- matmul --json           JSON instead of the tables
//   npm run bench:ladder -- matmul --rounds 3       timing rounds per rung, median reported (default 1)
//
// Per rung: ms per run, GFLOP/s, modelled storage bytes read / written per
// output element, speed-up over the previous rung and over naive, and the
// max relative error against a float64 TypeScript reference on sampled
// output rows. A rung that cannot run at a shape says why; a rung that fails
// or misses the reference by more than ERROR_BOUND makes the exit status 1
// (the timings are never judged).
//
// Full sizes on a CPU emulation take long (the flow decoder is 0.77 TFLOP
// per rung): use --quick there, or --shape.

import { availableParallelism, loadavg } from 'node:os';
import { nodeGpu } from '../engine/node.ts';
import { tuning } from '../engine/tune.ts';
import { ATTENTION_RUNGS, MATMUL_RUNGS } from '../kernels/ladder/rungs.ts';
import { runLadder, ladderShapes, describeShape, flopsOf, adapterLine, type LadderKernel, type RungResult } from './ladder-runner.ts';

/** Largest max relative error accepted (f32 sums over up to 50,176 keys). */
const ERROR_BOUND = 1e-4;

const args = process.argv.slice(2);
const value = (f: string) => {
  const i = args.indexOf(f);
  return i >= 0 ? args[i + 1] : undefined;
};
const kernels = args.filter((a, i) => (a === 'attention' || a === 'matmul') && !['--shape', '--rungs', '--rounds'].includes(args[i - 1])) as LadderKernel[];
const known = new Set(['attention', 'matmul', '--quick', '--json', '--shape', '--rungs', '--rounds', value('--shape'), value('--rungs'), value('--rounds')]);
const unknown = args.filter((a) => !known.has(a));
if (!kernels.length || unknown.length) {
  console.error(`usage: npm run bench:ladder -- attention|matmul [--shape NAME] [--quick] [--rungs ID,ID] [--rounds N] [--json]${unknown.length ? `\n(unknown: ${unknown.join(' ')})` : ''}`);
  process.exit(2);
}
const quick = args.includes('--quick');
const json = args.includes('--json');
const only = value('--rungs')?.split(',');
const rounds = Number(value('--rounds') ?? 1);
if (!(Number.isInteger(rounds) && rounds >= 1)) {
  console.error('--rounds needs a positive integer');
  process.exit(2);
}

// Shapes and rung names are checked before the adapter starts.
let plan: { kernel: LadderKernel; shapes: ReturnType<typeof ladderShapes> }[];
try {
  plan = kernels.map((kernel) => ({ kernel, shapes: ladderShapes(kernel, value('--shape')) }));
  const ids = new Set([...ATTENTION_RUNGS, ...MATMUL_RUNGS].map((r) => r.id));
  const bad = only?.filter((id) => !ids.has(id)) ?? [];
  if (bad.length) throw new Error(`no rung ${bad.join(', ')} (attention: ${ATTENTION_RUNGS.map((r) => r.id).join(', ')}; matmul: ${MATMUL_RUNGS.map((r) => r.id).join(', ')})`);
} catch (e) {
  console.error(`bench:ladder: ${(e as Error).message}`);
  process.exit(2);
}

const gpu = await nodeGpu();
tuning(gpu).enabled = false; // each rung is forced; the tuner must not time anything behind its back
const cores = availableParallelism();
const report: { kernel: LadderKernel; shape: string; size: string; flops: number; rungs: RungResult[] }[] = [];
let bad = 0;

const fmt = (x: number | undefined, digits = 2) => (x === undefined ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(digits));
const widths = [3, 52, 10, 9, 14, 9, 9, 9];
const header = ['#', 'rung', 'ms', 'GFLOP/s', 'B read/written', 'vs prev', 'vs naive', 'max err'];
const line = (cells: string[]) => cells.map((c, i) => (i === 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');

if (!json) {
  const load = loadavg()[0];
  console.log(`adapter: ${adapterLine(gpu)}`);
  console.log(`host: ${cores} cores, load average ${load.toFixed(2)}${quick ? '  (--quick: reduced shapes)' : ''}; ${rounds} timing round${rounds > 1 ? 's (median)' : ''} per rung`);
  console.log('B read/written: storage bytes per output element that the rung\'s loads and stores request, counted from its code (no caches)');
  console.log(`max err: max |ours - ref| / max |ref| against a float64 TypeScript reference on sampled output rows (bound ${ERROR_BOUND})`);
}

for (const { kernel, shapes } of plan) {
  for (const shape of shapes) {
    const dims = quick ? shape.quick : shape.full;
    const flops = flopsOf(kernel, dims);
    if (!json) {
      console.log(`\n${kernel} ${shape.name}${quick ? ' (quick)' : ''}: ${describeShape(kernel, dims)}, ${(flops / 1e9).toFixed(3)} GFLOP`);
      console.log(`  ${shape.what}`);
      console.log(line(header));
      console.log(line(header.map((_, i) => '-'.repeat(widths[i]))));
    }
    let n = 0;
    const rungs = await runLadder(gpu, kernel, dims, {
      targetMs: quick ? 200 : 1000,
      maxReps: quick ? 3 : 10,
      rounds,
      only,
      onRung(r) {
        n++;
        const failed = r.status === 'failed' || (r.status === 'ok' && !(r.maxRelError! <= ERROR_BOUND));
        if (failed) bad++;
        if (json) return;
        const title = `${r.id}: ${r.title}`.slice(0, widths[1]);
        if (r.status !== 'ok') {
          console.log(line([String(n), title, '', '', `${fmt(r.readPerOutput, 0)}/${fmt(r.writtenPerOutput, 0)}`, '', '', '']) + `  ${r.status === 'cannot' ? 'cannot run' : 'FAILED'}: ${r.reason}`);
          return;
        }
        const x = (v?: number) => (v === undefined ? '-' : `${v.toFixed(2)}x`);
        const split = r.dispatches && r.dispatches.length > 1 && r.id !== 'naive' ? `  (${r.dispatches.length} dispatches: ${[...new Set(r.dispatches)].join(', ')})` : '';
        console.log(
          line([String(n), title, fmt(r.ms, 1), fmt(r.gflops, 3), `${fmt(r.readPerOutput, 0)}/${fmt(r.writtenPerOutput, 0)}`, x(r.speedupPrevious), x(r.speedupNaive), r.maxRelError!.toExponential(1)]) +
            (failed ? '  WRONG: over the error bound' : '') + split,
        );
      },
    });
    report.push({ kernel, shape: shape.name, size: describeShape(kernel, dims), flops, rungs });
  }
}

if (json) console.log(JSON.stringify({ adapter: adapterLine(gpu), quick, hostCores: cores, loadAverage: loadavg()[0], errorBound: ERROR_BOUND, results: report }, null, 2));
else if (bad) console.log(`\n${bad} rung${bad > 1 ? 's' : ''} failed or missed the reference`);
gpu.destroy();
process.exitCode = bad ? 1 : 0;
