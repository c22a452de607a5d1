// npm run size: builds each browser entry point with esbuild (ESM, minified,
// tree-shaken, browser platform, code splitting on) and prints raw and gzip
// bytes per task and for everything, next to what other browser ML runtimes
// need before any model code. Fails when a budget is exceeded, or when a
// bundle pulls in anything from node_modules or a Node built-in (the browser
// entry points depend on nothing but the platform).
//
//   npm run size                 the table
//   npm run size -- --markdown   the same as a Markdown table (for the README)
//
// "code" is what an app loads up front: the entry chunk and every chunk it
// imports statically. "lazy data" is what dynamic import() chunks add when
// first used: the label lists (ImageNet classes on the first classify).
// Budgets apply to the code; the lazy data is shown beside it.

import { build, type Metafile } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const KB = 1024;
const TASK_BUDGET = 25 * KB;
const ALL_BUDGET = 40 * KB;

interface Entry {
  name: string;
  /** module paths (relative to the root) re-exported whole: `export * from` */
  modules: string[];
  /** also `export { createGpu }` from the engine (what every app needs to get a device) */
  withCreateGpu?: boolean;
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
  /** bytes of the code loaded up front, minified */
  raw: number;
  gzip: number;
  /** gzip bytes of the chunks loaded by dynamic import() (data such as label lists) */
  lazyGzip: number;
  budgetGzip: number;
  ok: boolean;
  /** set when the entry point is not in this build */
  missing?: boolean;
}

function entries(): Entry[] {
  const present = TASKS.filter((t) => existsSync(join(root, t.index)));
  return [
    { name: 'engine only', modules: [ENGINE], budgetGzip: TASK_BUDGET },
    ...TASKS.map((t) => ({ name: t.name, modules: [t.index], withCreateGpu: true, budgetGzip: TASK_BUDGET })),
    { name: 'everything', modules: [ENGINE, ...present.map((t) => t.index)], budgetGzip: ALL_BUDGET },
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
  if (missing) return { name: e.name, raw: 0, gzip: 0, lazyGzip: 0, budgetGzip: e.budgetGzip, ok: true, missing: true };
  const code = e.modules.map((m) => `export * from ${JSON.stringify(join(root, m))};`).join('\n') + (e.withCreateGpu ? `\nexport { createGpu } from ${JSON.stringify(join(root, ENGINE))};` : '');
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
  for (const o of Object.values(meta.outputs)) {
    for (const input of Object.keys(o.inputs)) {
      if (input.includes('node_modules') || input.startsWith('node:')) throw new Error(`${e.name}: the bundle pulls in ${input} (browser entry points must depend on the platform only)`);
    }
  }
  const byPath = new Map(out.outputFiles.map((f) => [f.path, f.contents]));
  const rel = (p: string) => join(root, p);
  const entryOut = Object.keys(meta.outputs).find((p) => meta.outputs[p].entryPoint !== undefined && p.endsWith('.js'))!;
  const eager = staticClosure(meta, entryOut);
  let raw = 0;
  let gzip = 0;
  let lazyGzip = 0;
  // Gzip the up-front chunks together (one transfer each, but close enough and never smaller than separately).
  const eagerBytes: Uint8Array[] = [];
  for (const p of Object.keys(meta.outputs)) {
    if (!p.endsWith('.js')) continue;
    const bytes = byPath.get(rel(p))!;
    if (eager.has(p)) eagerBytes.push(bytes);
    else lazyGzip += gz(bytes);
  }
  for (const b of eagerBytes) {
    raw += b.byteLength;
    gzip += gz(b);
  }
  return { name: e.name, raw, gzip, lazyGzip, budgetGzip: e.budgetGzip, ok: gzip <= e.budgetGzip };
}

export const OTHERS = [
  ['TensorFlow.js core + WebGPU backend (before any model code)', 'about 117 KB gzip'],
  ["ONNX Runtime Web's WebGPU build", 'about 21 KB gzip of JavaScript + a 28 MB (6.6 MB gzip) WebAssembly file'],
];

const kb = (n: number) => `${(n / KB).toFixed(1)} KB`;

async function main() {
  const markdown = process.argv.includes('--markdown');
  const results: SizeRow[] = [];
  for (const e of entries()) results.push(await measure(e));
  const header = ['bundle', 'code raw', 'code gzip', 'lazy data gzip', 'gzip budget', 'result'];
  const rows = results.map((r) =>
    r.missing
      ? [r.name, '-', '-', '-', kb(r.budgetGzip), 'not in this build']
      : [r.name, `${r.raw} B`, `${r.gzip} B (${kb(r.gzip)})`, r.lazyGzip ? `${r.lazyGzip} B (${kb(r.lazyGzip)})` : '-', kb(r.budgetGzip), r.ok ? 'ok' : 'OVER BUDGET'],
  );
  if (markdown) {
    console.log(`| ${header.join(' | ')} |`);
    console.log(`|${header.map(() => '---').join('|')}|`);
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
    console.log('');
    for (const [what, size] of OTHERS) console.log(`| ${what} | ${size} |`);
  } else {
    const all = [header, ...rows];
    const widths = header.map((_, c) => Math.max(...all.map((r) => r[c].length)));
    for (const r of all) console.log(r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
    console.log('\nfor comparison:');
    for (const [what, size] of OTHERS) console.log(`  ${what}: ${size}`);
  }
  const over = results.filter((r) => !r.ok);
  if (over.length) {
    console.error(`\nsize: over budget: ${over.map((r) => `${r.name} ${kb(r.gzip)} > ${kb(r.budgetGzip)}`).join('; ')}`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    console.error(`size: ${(e as Error).message}`);
    process.exitCode = 1;
  });
}
