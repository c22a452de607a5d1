// npm run bench:reference -- [--fixtures DIR] [STEM ...] [--json] [--save DIR] [--full] [--warm] [--f16]
//                            [--limits default] [--no-features] [--attention portable|subgroups] [--hf HFDIR [--hf-file NAME]]
//
// Runs golden fixtures (STEM.json, STEM.npz, STEM.pystate made by DeepMind's
// own code): converts the pickled parameters through the project's weight
// format, builds the preset with the fixture's overrides, runs the inputs and
// prints, per output, the maximum relative error max|ours - ref| / max|ref|,
// the time and the adapter. Exits non-zero when any error exceeds 5e-4.
// Without --fixtures it runs the built-in set in bench/fixtures (in a clone;
// the npm package does not carry it: `perceiver-io bench-reference` then
// needs --fixtures). runReference is also the CLI's bench-reference command.
// --f16: weights converted to f16 and, where the adapter has shader-f16,
// kept f16 on the GPU for the matmuls (f32 accumulation); the reference is
// still DeepMind's f32 output, so the bound is F16_TOLERANCE.
// --limits default: the device keeps WebGPU's guaranteed default limits (as
// the weakest conformant adapter; engine/gpu.ts GpuOptions.limits);
// --no-features: no optional feature (no shader-f16, no subgroups);
// --attention K: force that attention kernel (bench/widths.sh runs the
// subgroup one at each lavapipe subgroup width).
// --hf HFDIR: each stem's weights come from the HuggingFace folder
// HFDIR/STEM/ (config.json with model.safetensors, else pytorch_model.bin;
// --hf-file picks one) through perceiver/hf.ts instead of DIR/STEM.pystate;
// the outputs are still compared with DIR/STEM.npz (DeepMind's). Without
// stems, every HFDIR/STEM with a DIR/STEM.json runs.

import { readdirSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeGpu } from '../engine/node.ts';
import { attentionTesting } from '../kernels/attention.ts';
import { setupNodeGpu } from '../tools/setup-driver.ts';
import { encodeNpy } from '../tools/npy.ts';
import { RUNNERS } from './runners.ts';
import { builtinFixtures, BUILTIN_FIXTURES_ABSENT, fixtureSpec, loadFixture, disposeFixture, maxRelError } from './fixture.ts';

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

export interface ReferenceOptions {
  /** the folder of STEM.json / STEM.pystate / STEM.npz fixtures */
  fixtures: string;
  /** which stems (default: every STEM.pystate / .pickle in the folder) */
  stems: string[];
  json: boolean;
  /** write each computed output as STEM.OUTPUT.npy here */
  save: string | null;
  full: boolean;
  warm: boolean;
  f16: boolean;
  /** 'default': the device keeps WebGPU's guaranteed default limits (engine/gpu.ts GpuOptions.limits) */
  limits?: 'adapter' | 'default';
  /** 'none': no optional feature (no shader-f16, no subgroups) */
  features?: 'adapter' | 'none';
  /** force this attention kernel ('' or absent: the tuner's choice) */
  attention?: '' | 'portable' | 'subgroups';
  /** weights from HuggingFace folders HFDIR/STEM/ instead of DIR/STEM.pystate */
  hf?: string | null;
  /** which HF weight file (default model.safetensors, else pytorch_model.bin) */
  hfFile?: string;
}

/** Where results and progress go: results to `out`, progress to `err`. */
export interface ReferenceIo {
  out(line: string): void;
  err(line: string): void;
}

const USAGE = 'usage: npm run bench:reference -- [--fixtures DIR] [STEM ...] [--json] [--save DIR] [--full] [--warm] [--f16] [--limits default] [--no-features] [--attention portable|subgroups] [--hf HFDIR [--hf-file model.safetensors|pytorch_model.bin]]';

function parseArgs(argv: string[]): ReferenceOptions | 'help' {
  const builtin = builtinFixtures();
  const o: ReferenceOptions = { fixtures: builtin ?? '', stems: [], json: false, save: null, full: false, warm: false, f16: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--fixtures') o.fixtures = resolve(argv[++i] ?? '');
    else if (a === '--json') o.json = true;
    else if (a === '--save') o.save = resolve(argv[++i] ?? '');
    else if (a === '--full') o.full = true;
    else if (a === '--warm') o.warm = true;
    else if (a === '--f16') o.f16 = true;
    else if (a === '--limits') {
      const v = argv[++i];
      if (v !== 'default' && v !== 'adapter') throw new Error(`--limits takes 'default' or 'adapter', not ${v}`);
      o.limits = v;
    } else if (a === '--no-features') o.features = 'none';
    else if (a === '--attention') {
      const v = argv[++i];
      if (v !== 'portable' && v !== 'subgroups') throw new Error(`--attention takes 'portable' or 'subgroups', not ${v}`);
      o.attention = v;
    }
    else if (a === '--hf') o.hf = resolve(argv[++i] ?? '');
    else if (a === '--hf-file') o.hfFile = argv[++i];
    else if (a === '--help' || a === '-h') return 'help';
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else o.stems.push(a);
  }
  return o;
}

/**
 * Runs the fixtures and prints the table (or JSON). Resolves to the exit
 * code: 0 when every output is within the tolerance, 1 otherwise.
 */
export async function runReference(opts: ReferenceOptions, io: ReferenceIo): Promise<number> {
  if (!opts.fixtures) throw new Error(`no fixtures folder: pass --fixtures DIR (${BUILTIN_FIXTURES_ABSENT})`);
  if (!existsSync(opts.fixtures)) throw new Error(`fixtures folder ${opts.fixtures} does not exist`);
  const hf = opts.hf ?? null;
  if (hf && !existsSync(hf)) throw new Error(`HuggingFace folder ${hf} does not exist`);
  const stems = opts.stems.length
    ? opts.stems
    : hf
      ? readdirSync(hf).filter((d) => existsSync(join(hf, d, 'config.json')) && existsSync(join(opts.fixtures, `${d}.json`))).sort()
      : readdirSync(opts.fixtures)
        .filter((f) => f.endsWith('.pystate') || f.endsWith('.pickle'))
        .map((f) => f.replace(/\.(pystate|pickle)$/, ''))
        .sort();
  if (stems.length === 0) throw new Error(`no fixtures (STEM.pystate) in ${opts.fixtures}`);
  // installs a software driver first where none is (tools/setup-driver.ts)
  const gpu = await setupNodeGpu(() => nodeGpu({ limits: opts.limits ?? 'adapter', features: opts.features ?? 'adapter' }));
  attentionTesting.kernel = opts.attention ?? '';
  const TOLERANCE = opts.f16 ? F16_TOLERANCE : F32_TOLERANCE;
  const weights = !opts.f16 ? 'f32' : gpu.features.f16 ? 'f16 (Linear weights f16 on the GPU)' : 'f16 (widened to f32: no shader-f16)';
  if (!opts.json) {
    const l = gpu.limits, features = Object.entries(gpu.features).filter(([k, v]) => v && k !== 'emulated').map(([k]) => k);
    io.out(`adapter: ${gpu.adapterName}\nfixtures: ${opts.fixtures}\n${hf ? `weights from: ${hf}/STEM/${opts.hfFile ?? '(model.safetensors, else pytorch_model.bin)'}\n` : ''}weights: ${weights}, tolerance ${TOLERANCE}`);
    io.out(`limits: ${opts.limits ?? 'adapter'} (binding ${Math.round(l.maxStorageBufferBindingSize / 2 ** 20)} MiB, buffer ${Math.round(l.maxBufferSize / 2 ** 20)} MiB, workgroup memory ${l.maxComputeWorkgroupStorageSize / 1024} KiB, ${l.maxComputeInvocationsPerWorkgroup} invocations, ${l.maxStorageBuffersPerShaderStage} storage buffers); features: ${features.join(', ') || 'none'}${opts.attention ? `; attention kernel: ${opts.attention}` : ''}\n`);
  }
  const rows: Row[] = [];
  for (const stem of stems) {
    const t0 = performance.now();
    io.err(`running ${stem}`);
    try {
      const { preset } = fixtureSpec(opts.fixtures, stem);
      const runner = RUNNERS[preset];
      if (!runner) throw new Error(`preset ${preset} is not implemented yet`);
      const fixture = await loadFixture(gpu, opts.fixtures, stem, { f16: opts.f16, hf: hf ?? undefined, hfFile: opts.hfFile });
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
    io.out(JSON.stringify({ adapter: gpu.adapterName, weights, tolerance: TOLERANCE, rows }, null, 2));
  } else {
    const table = [['fixture', 'output', 'shape', 'compared', 'max rel error', 'seconds', 'result']];
    for (const r of rows) {
      table.push([r.stem, r.output, `[${r.shape.join(',')}]`, r.coverage, r.error === null ? '-' : r.error.toExponential(2), r.seconds.toFixed(2), r.status === 'pass' ? 'pass' : r.status === 'FAIL' ? `FAIL (> ${TOLERANCE})` : `error: ${r.message}`]);
    }
    const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
    for (const row of table) io.out(row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]))).join('  '));
  }
  gpu.destroy();
  return rows.some((r) => r.status !== 'pass') ? 1 : 0;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts === 'help') {
    console.log(USAGE);
    return;
  }
  process.exitCode = await runReference(opts, { out: (l) => console.log(l), err: (l) => console.error(l) });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    console.error(`bench:reference: ${(e as Error).message}`);
    process.exitCode = 1;
  });
}
