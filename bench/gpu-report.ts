// Joins the JSON that bench/gpu.sh collected into one results.json and a
// Markdown summary results.md: adapter, kernel GFLOP/s with the fraction of
// the GPU's fp32 peak and the ratio to TensorFlow.js, seconds per forward for
// each preset (with its top kernels where profiled), bench:reference errors.
//
//   tsx bench/gpu-report.ts --parts DIR --out DIR [--peak-gflops N] [--gpu NAME] [--note TEXT]
//
// DIR (parts) holds what gpu.sh wrote: kernels.json, ladder-attention.json, ladder-matmul.json, model-PRESET.json,
// reference.json, system.txt; a missing or unreadable part is reported as
// such (its step failed: see the log).

import { readFileSync, writeFileSync, existsSync, readdirSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

interface Args {
  parts: string;
  out: string;
  peak: number | null;
  gpu: string;
  note: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { parts: '', out: '', peak: null, gpu: '', note: '' };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[++i] ?? '';
    switch (argv[i - 1]) {
      case '--parts': a.parts = v; break;
      case '--out': a.out = v; break;
      case '--peak-gflops': a.peak = v ? Number(v) : null; break;
      case '--gpu': a.gpu = v; break;
      case '--note': a.note = v; break;
      default: throw new Error(`gpu-report: unknown argument ${argv[i - 1]}`);
    }
  }
  if (!a.parts || !a.out) throw new Error('gpu-report: --parts DIR and --out DIR are required');
  return a;
}

/** The JSON document a step printed (from the first '{' in its stdout to the end), or the reason there is none. */
function part(dir: string, file: string): { ok: true; value: any } | { ok: false; why: string } {
  const p = join(dir, file);
  if (!existsSync(p)) return { ok: false, why: `${file} missing (the step did not run or failed: see the log)` };
  const text = readFileSync(p, 'utf8');
  const start = text.indexOf('{');
  if (start < 0) return { ok: false, why: `${file} holds no JSON (the step failed: see the log)` };
  try {
    return { ok: true, value: JSON.parse(text.slice(start)) };
  } catch (e) {
    return { ok: false, why: `${file}: ${(e as Error).message}` };
  }
}

const fmt = (x: number | null | undefined, digits = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));

function main() {
  const args = parseArgs(process.argv.slice(2));
  const system = existsSync(join(args.parts, 'system.txt')) ? readFileSync(join(args.parts, 'system.txt'), 'utf8') : '';
  const kernels = part(args.parts, 'kernels.json');
  const reference = part(args.parts, 'reference.json');
  const modelFiles = existsSync(args.parts) ? readdirSync(args.parts).filter((f) => /^model-.*\.json$/.test(f)).sort() : [];
  const models = modelFiles.map((f) => ({ file: f, preset: f.slice(6, -5), r: part(args.parts, f) }));
  const firstModel = models.map((m) => m.r).find((r) => r.ok);
  const adapter: string = (kernels.ok ? kernels.value.adapter : null) ?? (firstModel?.ok ? firstModel.value.adapter : null) ?? 'unknown';

  const md: string[] = [];
  md.push(`# Perceiver IO on WebGPU: benchmark results`, '');
  md.push(`- date: ${new Date().toISOString()}`);
  md.push(`- WebGPU adapter (Dawn, Node): ${adapter}`);
  if (args.gpu) md.push(`- GPU: ${args.gpu}`);
  md.push(`- fp32 peak used for the fractions: ${args.peak ? `${args.peak} GFLOP/s` : 'none given (--peak-gflops)'}`);
  if (args.note) md.push(`- note: ${args.note}`);

  md.push('', '## Kernels (`npm run bench:kernels`)', '');
  if (!kernels.ok) md.push(kernels.why);
  else {
    const k = kernels.value;
    if (k.quick) md.push('(--quick: smaller query counts, fewer repetitions)', '');
    if (k.tfjs?.error) md.push(`TensorFlow.js: ${k.tfjs.error}`, '');
    md.push('| kernel | model / layer | shape | ms | GFLOP/s | of fp32 peak | TF.js ms | TF.js GFLOP/s | ours/TF.js |');
    md.push('|---|---|---|---:|---:|---:|---:|---:|---:|');
    for (const r of k.results as any[]) {
      const tf = r.tfjs;
      const tfCells = !tf ? ['-', '-', '-'] : 'ms' in tf ? [fmt(tf.ms, 2), fmt(tf.gflops, 1), `${fmt(tf.ratio, 2)}x`] : [tf.skipped, '-', '-'];
      const frac = args.peak ? `${((100 * r.gflops) / args.peak).toFixed(1)}%` : '-';
      md.push(`| ${r.kernel} | ${r.name} | ${r.shape} | ${fmt(r.ms, 3)} | ${fmt(r.gflops, 1)} | ${frac} | ${tfCells.join(' | ')} |`);
    }
  }

  const ladders = (['attention', 'matmul'] as const).map((k) => ({ kernel: k, r: part(args.parts, `ladder-${k}.json`) }));
  md.push('', '## Kernel ladders (`npm run bench:ladder -- attention|matmul`)', '');
  for (const { kernel, r } of ladders) {
    if (!r.ok) {
      md.push(`${kernel}: ${r.why}`, '');
      continue;
    }
    for (const s of r.value.results as any[]) {
      md.push(`${kernel} ${s.shape}${r.value.quick ? ' (--quick)' : ''}: ${s.size}`, '');
      md.push('| rung | ms | GFLOP/s | of fp32 peak | bytes read / written per output | vs previous | vs naive | max rel error |', '|---|---:|---:|---:|---:|---:|---:|---:|');
      for (const x of s.rungs as any[]) {
        if (x.status !== 'ok') {
          md.push(`| ${x.id}: ${x.title} | ${x.status === 'cannot' ? 'cannot run' : 'FAILED'}: ${x.reason} | | | | | | |`);
          continue;
        }
        const frac = args.peak ? `${((100 * x.gflops) / args.peak).toFixed(2)}%` : '-';
        const sp = (v?: number) => (v === undefined ? '-' : `${v.toFixed(2)}x`);
        md.push(`| ${x.id}: ${x.title} | ${fmt(x.ms, 3)} | ${fmt(x.gflops, 1)} | ${frac} | ${fmt(x.readPerOutput, 0)} / ${fmt(x.writtenPerOutput, 0)} | ${sp(x.speedupPrevious)} | ${sp(x.speedupNaive)} | ${Number(x.maxRelError).toExponential(1)} |`);
      }
      md.push('');
    }
  }

  md.push('', '## Models (`npm run bench -- --model P`, full released size, random weights)', '');
  if (models.length === 0) md.push('no model results');
  else {
    md.push('| preset | seconds per forward | command buffers | dispatches | peak GPU memory | decoded | top kernels (profiled pass) |');
    md.push('|---|---:|---:|---:|---:|---|---|');
    for (const m of models) {
      if (!m.r.ok) {
        md.push(`| ${m.preset} | ${m.r.why} | | | | | |`);
        continue;
      }
      for (const r of m.r.value.results as any[]) {
        const last = r.runs[r.runs.length - 1] ?? r.warmup[r.warmup.length - 1];
        const cover = Object.entries(r.coverage as Record<string, string>).filter(([, c]) => c !== 'all').map(([o, c]) => `${o}: ${c}`).join('; ') || 'all';
        const top = r.profile ? (r.profile.byKernel as any[]).slice(0, 3).map((k) => `${k.name} ${(100 * k.share).toFixed(0)}%`).join(', ') + ` (${r.profile.source})` : '-';
        const name = r.preset === 'multimodal-autoencoder' ? 'multimodal-autoencoder (16-frame reconstruction)' : r.preset;
        md.push(`| ${name}${r.reduced ? ' (REDUCED)' : ''} | ${fmt(r.secondsPerForward, 3)} | ${last?.submits ?? '-'} | ${last?.dispatches ?? '-'} | ${(r.peakBytes / 2 ** 20).toFixed(0)} MiB | ${cover} | ${top} |`);
      }
    }
  }

  md.push('', '## Faithfulness (`npm run bench:reference -- --full`)', '');
  if (!reference.ok) md.push(reference.why);
  else {
    md.push(`tolerance ${reference.value.tolerance}, weights ${reference.value.weights}`, '');
    md.push('| fixture | output | compared | max rel error | seconds | result |', '|---|---|---|---:|---:|---|');
    for (const r of reference.value.rows as any[]) {
      md.push(`| ${r.stem} | ${r.output} | ${r.coverage} | ${r.error === null ? '-' : Number(r.error).toExponential(2)} | ${fmt(r.seconds, 2)} | ${r.status}${r.message ? `: ${r.message}` : ''} |`);
    }
  }
  if (system) md.push('', '## System', '', '```', system.trim(), '```');

  mkdirSync(args.out, { recursive: true });
  const all = {
    date: new Date().toISOString(),
    adapter,
    gpu: args.gpu || null,
    peakGflops: args.peak,
    note: args.note || null,
    system,
    kernels: kernels.ok ? kernels.value : { error: kernels.why },
    ladders: Object.fromEntries(ladders.map(({ kernel, r }) => [kernel, r.ok ? r.value : { error: r.why }])),
    models: Object.fromEntries(models.map((m) => [m.preset, m.r.ok ? m.r.value : { error: m.r.why }])),
    reference: reference.ok ? reference.value : { error: reference.why },
  };
  writeFileSync(join(args.out, 'results.json'), JSON.stringify(all, null, 2));
  writeFileSync(join(args.out, 'results.md'), md.join('\n') + '\n');
  console.log(md.join('\n'));
}

main();
