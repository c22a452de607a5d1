// npm run size: builds each browser entry point with esbuild (ESM, minified,
// tree-shaken, browser platform, code splitting on) and prints raw and gzip
// bytes per task and for everything, next to what other browser ML runtimes
// need before any model code. Fails when a budget is exceeded, or when a
// bundle pulls in anything from node_modules or a Node built-in (the browser
// entry points depend on nothing but the platform).
//
//   npm run size                 the table
//   npm run size -- --markdown   the same as a Markdown table (for the README)
//   npm run size -- --why        also the largest modules of each bundle
//
// "code" is every chunk of JavaScript the task needs: the entry chunk, the
// chunks it imports, and the chunks it loads later with import() (code
// loaded on first use still counts; the "later" column shows how much of it
// that is). "label data" is chunks that hold nothing but a class-name list
// (perceiver/*/labels.ts), loaded with import() on first use: model data, like
// the weights, reported beside the code and not counted in the budget. Sizes
// are the sum of each chunk's own gzip (one transfer per chunk).

import { build, type Metafile } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const KB = 1024;
const TASK_BUDGET = 25 * KB;
const ALL_BUDGET = 40 * KB;
/** The main-thread side of perceiver-io-webgpu/worker: messages only, no engine or task code. */
const WORKER_CLIENT_BUDGET = 6 * KB;
const WORKER_CLIENT = 'worker/index.ts';

interface Entry {
  name: string;
  /** module paths (relative to the root) re-exported whole: `export * from` */
  modules: string[];
  /** also `export { createGpu }` from the engine (what every app needs to get a device) */
  withCreateGpu?: boolean;
  /** a task's folder (perceiver/NAME/): the bundle must hold no other task's modules */
  task?: string;
  budgetGzip: number;
}

const ENGINE = 'engine/index.ts';
/** A browser app's import of one task: everything the task's entry point exports, plus createGpu to get a device. */
const TASKS: { name: string; index: string }[] = [
  { name: 'imagenet (classify)', index: 'perceiver/imagenet/index.ts' },
  { name: 'language (fill-mask)', index: 'perceiver/language/index.ts' },
  { name: 'flow (optical flow)', index: 'perceiver/flow/index.ts' },
  { name: 'video (autoencoder)', index: 'perceiver/video/index.ts' },
];

export interface SizeRow {
  name: string;
  /** minified bytes of all code chunks */
  raw: number;
  /** gzip bytes of all code chunks (the budgeted number) */
  gzip: number;
  /** gzip bytes of the code chunks loaded with import() on first use (part of gzip) */
  laterGzip: number;
  /** gzip bytes of label-list chunks (loaded on first use) */
  dataGzip: number;
  budgetGzip: number;
  ok: boolean;
  /** the largest input modules: [path, minified bytes in the output] */
  modules: [string, number][];
  /** set when the entry point is not in this build */
  missing?: boolean;
}

/** Modules that are data, not code: the class-name lists. */
const DATA_MODULE = /\/labels\.ts$/;

function entries(): Entry[] {
  const present = TASKS.filter((t) => existsSync(join(root, t.index)));
  return [
    { name: 'engine only', modules: [ENGINE], budgetGzip: TASK_BUDGET },
    ...TASKS.map((t) => ({ name: t.name, modules: [t.index], withCreateGpu: true, task: dirname(t.index), budgetGzip: TASK_BUDGET })),
    { name: 'everything', modules: [ENGINE, ...present.map((t) => t.index)], budgetGzip: ALL_BUDGET },
    { name: 'worker client (/worker, main thread)', modules: [WORKER_CLIENT], task: 'worker', budgetGzip: WORKER_CLIENT_BUDGET },
  ];
}

const gz = (b: Uint8Array) => gzipSync(b, { level: 9 }).byteLength;

/** The chunks reachable from `start` through static imports (including itself). */
function staticClosure(meta: Metafile, start: string): Set<string> {
  const seen = new Set<string>();
  const walk = (p: string) => {
    if (seen.has(p)) return;
    seen.add(p);
    for (const i of meta.outputs[p]?.imports ?? []) if (i.kind === 'import-statement' && !i.external) walk(i.path);
  };
  walk(start);
  return seen;
}

export async function measure(e: Entry): Promise<SizeRow> {
  const missing = e.modules.find((m) => !existsSync(join(root, m)));
  if (missing) return { name: e.name, raw: 0, gzip: 0, laterGzip: 0, dataGzip: 0, budgetGzip: e.budgetGzip, ok: true, modules: [], missing: true };
  const code =
    e.modules.map((m) => `export * from ${JSON.stringify(join(root, m))};`).join('\n') +
    (e.withCreateGpu ? `\nexport { createGpu } from ${JSON.stringify(join(root, ENGINE))};` : '');
  const out = await build({
    entryPoints: ['size-entry'],
    plugins: [
      {
        name: 'virtual-entry',
        setup(b) {
          b.onResolve({ filter: /^size-entry$/ }, () => ({ path: 'size-entry', namespace: 'size' }));
          b.onLoad({ filter: /.*/, namespace: 'size' }, () => ({ contents: code, loader: 'ts', resolveDir: root }));
        },
      },
    ],
    bundle: true,
    splitting: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outdir: join(root, 'out/size'),
    write: false,
    metafile: true,
    treeShaking: true,
    logLevel: 'error',
  });
  const meta = out.metafile!;
  const modules = new Map<string, number>();
  for (const o of Object.values(meta.outputs)) {
    for (const [input, info] of Object.entries(o.inputs)) {
      if (input.includes('node_modules') || input.startsWith('node:')) throw new Error(`${e.name}: the bundle pulls in ${input} (browser entry points must depend on the platform only)`);
      const other = TASKS.map((t) => dirname(t.index)).find((d) => d !== e.task && input.includes(`${d}/`));
      if (e.task && other) throw new Error(`${e.name}: the bundle pulls in ${input}, another task's module (one task must carry only its own code)`);
      if (e.task !== 'worker' && input.includes('worker/')) throw new Error(`${e.name}: the bundle pulls in ${input} (the worker API is optional: only apps that import it carry it)`);
      modules.set(input, (modules.get(input) ?? 0) + info.bytesInOutput);
    }
  }
  const byPath = new Map(out.outputFiles.map((f) => [f.path, f.contents]));
  const entryOut = Object.keys(meta.outputs).find((p) => meta.outputs[p].entryPoint !== undefined && p.endsWith('.js'))!;
  const eager = staticClosure(meta, entryOut);
  let raw = 0;
  let gzip = 0;
  let laterGzip = 0;
  let dataGzip = 0;
  for (const [p, o] of Object.entries(meta.outputs)) {
    if (!p.endsWith('.js')) continue;
    const bytes = byPath.get(join(root, p))!;
    const inputs = Object.entries(o.inputs).filter(([, i]) => i.bytesInOutput > 0);
    const isData = !eager.has(p) && inputs.length > 0 && inputs.every(([path]) => DATA_MODULE.test(path));
    const g = gz(bytes);
    if (isData) {
      dataGzip += g;
      continue;
    }
    raw += bytes.byteLength;
    gzip += g;
    if (!eager.has(p)) laterGzip += g;
  }
  const top = [...modules].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  return { name: e.name, raw, gzip, laterGzip, dataGzip, budgetGzip: e.budgetGzip, ok: gzip <= e.budgetGzip, modules: top };
}

export const OTHERS = [
  ['TensorFlow.js core + WebGPU backend (before any model code)', 'about 117 KB gzip'],
  ["ONNX Runtime Web's WebGPU build", 'about 21 KB gzip of JavaScript + a 28 MB (6.6 MB gzip) WebAssembly file'],
];

const kb = (n: number) => `${(n / KB).toFixed(1)} KB`;

async function main() {
  const markdown = process.argv.includes('--markdown');
  const why = process.argv.includes('--why');
  const results: SizeRow[] = [];
  for (const e of entries()) results.push(await measure(e));
  const header = ['bundle', 'code raw', 'code gzip', 'of which on first use', 'label data gzip (first use)', 'gzip budget', 'result'];
  const rows = results.map((r) =>
    r.missing
      ? [r.name, '-', '-', '-', '-', kb(r.budgetGzip), 'not in this build']
      : [
          r.name,
          `${r.raw} B`,
          `${r.gzip} B (${kb(r.gzip)})`,
          r.laterGzip ? kb(r.laterGzip) : '-',
          r.dataGzip ? kb(r.dataGzip) : '-',
          kb(r.budgetGzip),
          r.ok ? 'ok' : 'OVER BUDGET',
        ],
  );
  if (markdown) {
    console.log(`| ${header.join(' | ')} |`);
    console.log(`|${header.map(() => '---').join('|')}|`);
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
    console.log('\n| other browser runtimes | what they need to run any model |\n|---|---|');
    for (const [what, size] of OTHERS) console.log(`| ${what} | ${size} |`);
  } else {
    const all = [header, ...rows];
    const widths = header.map((_, c) => Math.max(...all.map((r) => r[c].length)));
    for (const r of all) console.log(r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
    console.log('\nfor comparison:');
    for (const [what, size] of OTHERS) console.log(`  ${what}: ${size}`);
  }
  if (why) {
    for (const r of results.filter((x) => !x.missing)) {
      console.log(`\n${r.name}: largest modules (minified bytes in the bundle)`);
      for (const [path, n] of r.modules.slice(0, 14)) console.log(`  ${String(n).padStart(7)}  ${path.replace(root + '/', '')}${DATA_MODULE.test(path) ? '  (label data)' : ''}`);
    }
  }
  const over = results.filter((r) => !r.ok);
  if (over.length) {
    console.error(`\nsize: over budget: ${over.map((r) => `${r.name} ${kb(r.gzip)} > ${kb(r.budgetGzip)}`).join('; ')}${why ? '' : ' (npm run size -- --why shows the largest modules)'}`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    console.error(`size: ${(e as Error).message}`);
    process.exitCode = 1;
  });
}
