// npm run bench:reference -- [--fixtures DIR] [STEM ...] [--json] [--save DIR] [--full] [--warm] [--f16]
//
// Runs golden fixtures (STEM.json, STEM.npz, STEM.pystate made by DeepMind's
// own code): converts the pickled parameters through the project's weight
// format, builds the preset with the fixture's overrides, runs the inputs and
// prints, per output, the maximum relative error max|ours - ref| / max|ref|,
// the time and the adapter. Exits non-zero when any error exceeds 5e-4.
// Without --fixtures it runs the built-in set in bench/fixtures.
// --f16: weights converted to f16 and, where the adapter has shader-f16,
// kept f16 on the GPU for the matmuls (f32 accumulation); the reference is
// still DeepMind's f32 output, so the bound is F16_TOLERANCE.

import { readdirSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setupNodeGpu } from '../tools/setup-driver.ts';
import { encodeNpy } from '../tools/npy.ts';
import { RUNNERS } from './runners.ts';
import { BUILTIN_FIXTURES, fixtureSpec, loadFixture, disposeFixture, maxRelError } from './fixture.ts';

const F32_TOLERANCE = 5e-4;
/** f16 weights: rounding every weight to 11 significant bits (relative 2^-12) moves the outputs by up to ~1e-3 here. */
const F16_TOLERANCE = 5e-3;

interface Row {
  stem: string;
  output: string;
  shape: number[];
  coverage: string;
  error: number | null;
  seconds: number;
  status: 'pass' | 'FAIL' | 'error';
  message?: string;
}

function parseArgs(argv: string[]) {
  const o = { fixtures: BUILTIN_FIXTURES, stems: [] as string[], json: false, save: null as string | null, full: false, warm: false, f16: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--fixtures') o.fixtures = resolve(argv[++i] ?? '');
    else if (a === '--json') o.json = true;
    else if (a === '--save') o.save = resolve(argv[++i] ?? '');
    else if (a === '--full') o.full = true;
    else if (a === '--warm') o.warm = true;
    else if (a === '--f16') o.f16 = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run bench:reference -- [--fixtures DIR] [STEM ...] [--json] [--save DIR] [--full] [--warm] [--f16]');
      process.exit(0);
    } else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else o.stems.push(a);
  }
  return o;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(opts.fixtures)) throw new Error(`fixtures folder ${opts.fixtures} does not exist`);
  const stems = opts.stems.length
    ? opts.stems
    : readdirSync(opts.fixtures)
        .filter((f) => f.endsWith('.pystate') || f.endsWith('.pickle'))
        .map((f) => f.replace(/\.(pystate|pickle)$/, ''))
        .sort();
  if (stems.length === 0) throw new Error(`no fixtures (STEM.pystate) in ${opts.fixtures}`);
  const gpu = await setupNodeGpu(); // installs a software driver first where none is (tools/setup-driver.ts)
  const TOLERANCE = opts.f16 ? F16_TOLERANCE : F32_TOLERANCE;
  const weights = !opts.f16 ? 'f32' : gpu.features.f16 ? 'f16 (Linear weights f16 on the GPU)' : 'f16 (widened to f32: no shader-f16)';
  if (!opts.json) console.log(`adapter: ${gpu.adapterName}\nfixtures: ${opts.fixtures}\nweights: ${weights}, tolerance ${TOLERANCE}\n`);
  const rows: Row[] = [];
  for (const stem of stems) {
    const t0 = performance.now();
    try {
      const { preset } = fixtureSpec(opts.fixtures, stem);
      const runner = RUNNERS[preset];
      if (!runner) throw new Error(`preset ${preset} is not implemented yet`);
      const fixture = await loadFixture(gpu, opts.fixtures, stem, { f16: opts.f16 });
      const arrays = fixture.arrays;
      const ctx = { gpu, config: fixture.config, weights: fixture.weights, inputs: arrays, full: opts.full };
      if (opts.warm) await runner(ctx);
      const t1 = performance.now();
      const outputs = await runner(ctx);
      const seconds = (performance.now() - t1) / 1000;
      for (const [name, out] of outputs) {
        const ref = arrays.get(name);
        if (!ref) throw new Error(`fixture has no reference array '${name}'`);
        if (ref.data.length !== out.data.length) throw new Error(`${name}: ${out.data.length} values computed, reference has ${ref.data.length}`);
        const error = maxRelError(out.data, ref.data);
        rows.push({ stem, output: name, shape: out.shape, coverage: out.coverage, error, seconds, status: error <= TOLERANCE ? 'pass' : 'FAIL' });
        if (opts.save) {
          mkdirSync(opts.save, { recursive: true });
          writeFileSync(join(opts.save, `${stem}.${name}.npy`), encodeNpy({ dtype: 'f32', shape: [...ref.shape], data: out.data }));
        }
      }
      disposeFixture(fixture);
    } catch (e) {
      rows.push({ stem, output: '-', shape: [], coverage: '-', error: null, seconds: (performance.now() - t0) / 1000, status: 'error', message: (e as Error).message });
    }
  }
  if (opts.json) {
    console.log(JSON.stringify({ adapter: gpu.adapterName, weights, tolerance: TOLERANCE, rows }, null, 2));
  } else {
    const table = [['fixture', 'output', 'shape', 'compared', 'max rel error', 'seconds', 'result']];
    for (const r of rows) {
      table.push([r.stem, r.output, `[${r.shape.join(',')}]`, r.coverage, r.error === null ? '-' : r.error.toExponential(2), r.seconds.toFixed(2), r.status === 'pass' ? 'pass' : r.status === 'FAIL' ? `FAIL (> ${TOLERANCE})` : `error: ${r.message}`]);
    }
    const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
    for (const row of table) console.log(row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]))).join('  '));
  }
  gpu.destroy();
  if (rows.some((r) => r.status !== 'pass')) process.exitCode = 1;
}

main().catch((e) => {
  console.error(`bench:reference: ${(e as Error).message}`);
  process.exitCode = 1;
});
