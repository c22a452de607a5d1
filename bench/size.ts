// npm run size: bundle sizes measured the way an app gets them. Each row is a
// small app that imports the package's own subpaths by name
// (`perceiver-io-webgpu/imagenet`, ...), resolved through package.json's
// exports map, and is built with esbuild (ESM, minified, tree-shaken, browser
// platform) twice: with code splitting (chunks loaded later with import()
// are their own files) and as one file. Prints raw and gzip bytes per row
// and fails (exit 1) when a budget is exceeded, or when a browser bundle
// reaches a Node built-in (`node:...`), the `webgpu` package or anything else
// in node_modules (the browser subpaths depend on nothing but the platform),
// or when a task's bundle carries another task's code or an optional
// subpath's (a task never pays for the converter, the worker or the hub).
//
//   npm run size                 the table (sources: see below)
//   npm run size -- --dist       measure the built dist/ (npm run build first)
//   npm run size -- --markdown   the same as a Markdown table (for the README)
//   npm run size -- --why        also the largest modules of each bundle
//
// By default the exports map's targets (./dist/X.js) are mapped back to the
// sources they are compiled from (X.ts): no build needed, and the figures are
// those of dist within a few bytes (tsc only strips the types). --dist
// bundles the compiled files themselves, as an app installing the package does.
//
// "code" is every chunk of JavaScript the app needs: the entry chunk, the
// chunks it imports, and the chunks it loads later with import() (code
// loaded on first use still counts; the "later" column shows how much of it
// that is). "label data" is the class-name lists (perceiver/*/labels.ts),
// loaded with import() on first use: model data, like the weights, reported
// beside the code and not counted in the budget (in the one-file build they
// stay outside the file, as a bundler keeps a lazily imported module). Sizes
// are the sum of each chunk's own gzip (one transfer per chunk).
//
// Adding a subpath (./worker, ./hub): its line in package.json's exports and
// one row in OPTIONAL below.

import { build, type Metafile, type Plugin } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PKG = 'perceiver-io-webgpu';
const KB = 1024;
/** one task's app (the task's subpath + createGpu): issue 12's budget, room for the robustness work and no more */
const TASK_BUDGET = 30 * KB;
/** the four tasks and the root in one app */
const ALL_BUDGET = 45 * KB;
/** the engine alone (tensors, dispatch, buffer pool) */
const ENGINE_BUDGET = 6 * KB;
/** the root subpath: the engine's budget plus the weight-file reader and fetchWeights (about 2.4 KB gzip) with room to grow */
const ROOT_BUDGET = 10 * KB;
/** perceiver-io-webgpu/worker on the main thread: the protocol's client and the remote models (3.9 KB gzip) */
const WORKER_CLIENT_BUDGET = 6 * KB;

/** A task subpath and the folder its modules live in (no other task may reach into it). */
const TASKS = [
  { subpath: 'imagenet', label: 'imagenet (classify)', folder: 'perceiver/imagenet/' },
  { subpath: 'language', label: 'language (fill-mask)', folder: 'perceiver/language/' },
  { subpath: 'flow', label: 'flow (optical flow)', folder: 'perceiver/flow/' },
  { subpath: 'video', label: 'video (autoencoder)', folder: 'perceiver/video/' },
];

/** perceiver/heatmap.ts alone: plain drawing code, about 1 KB gzip */
const HEATMAP_BUDGET = 2 * KB;
/** perceiver-io-webgpu/maps alone: attentionMaps(), its recorder, kernel and the cutting into maps, with the engine parts they use (about 4.2 KB gzip) */
const MAPS_BUDGET = 6 * KB;

/**
 * Optional subpaths: measured on their own rows, and the modules they own
 * (folders or files, relative to the root) must never be in a task's bundle.
 * A subpath not yet in the exports map shows as "not in this build".
 */
const OPTIONAL: { subpath: string; label: string; owns: string[]; budgetGzip: number }[] = [
  { subpath: 'convert', label: 'convert (checkpoint converter)', owns: ['tools/'], budgetGzip: TASK_BUDGET },
  /** attention maps: `{ attention: attentionMaps({ latents }) }` on the image, flow and video calls; a task app that does not import it carries none of it */
  { subpath: 'maps', label: 'maps (attention maps)', owns: ['perceiver/attention_maps.ts', 'kernels/attention_maps.ts', 'kernels/attention_maps.gen.ts'], budgetGzip: MAPS_BUDGET },
  /** attention maps drawn as heat maps */
  { subpath: 'heatmap', label: 'heatmap (attention maps drawn)', owns: ['perceiver/heatmap.ts'], budgetGzip: HEATMAP_BUDGET },
  { subpath: 'hub', label: 'hub (HuggingFace hub loading)', owns: ['perceiver/hub/', 'perceiver/hf.ts', 'tools/'], budgetGzip: TASK_BUDGET },
  // the main-thread side of the worker API: messages only, no engine or task code (the worker script is built apart)
  { subpath: 'worker', label: 'worker client, main thread', owns: ['worker/'], budgetGzip: WORKER_CLIENT_BUDGET },
];

interface Row {
  name: string;
  /** the app's source: subpath imports only */
  app: string;
  budgetGzip: number;
  /** the task's folder: the bundle must hold no other task's modules */
  task?: string;
  /** module prefixes that must not be in this bundle */
  forbidden: string[];
  /** the subpaths the app imports (all must be in the exports map) */
  subpaths: string[];
}

export interface SizeRow {
  name: string;
  /** minified bytes of all code chunks (code splitting) */
  raw: number;
  /** gzip bytes of all code chunks (code splitting; the budgeted number) */
  gzip: number;
  /** gzip bytes of the code chunks loaded with import() on first use (part of gzip) */
  laterGzip: number;
  /** gzip bytes of label-list chunks (loaded on first use) */
  dataGzip: number;
  /** gzip bytes of the one-file build (no splitting, label lists outside; also budgeted) */
  oneFileGzip: number;
  budgetGzip: number;
  ok: boolean;
  /** the largest input modules: [path, minified bytes in the output] */
  modules: [string, number][];
  /** set when a subpath is not in the exports map yet */
  missing?: boolean;
}

/** Modules that are data, not code: the class-name lists. */
const DATA_MODULE = /\/labels\.(ts|js)$/;

const all = (subpath: string) => `export * from '${subpath === '.' ? PKG : `${PKG}/${subpath}`}';`;

function rows(): Row[] {
  const optionalOwned = OPTIONAL.flatMap((o) => o.owns);
  return [
    { name: 'engine only (/engine)', app: all('engine'), subpaths: ['engine'], budgetGzip: ENGINE_BUDGET, forbidden: [...optionalOwned, 'perceiver/'] },
    { name: 'engine + weight loading (.)', app: all('.'), subpaths: ['.'], budgetGzip: ROOT_BUDGET, forbidden: [...optionalOwned, 'perceiver/'] },
    ...TASKS.map((t) => ({
      name: `${t.label} (/${t.subpath})`,
      app: `${all(t.subpath)}\nexport { createGpu } from '${PKG}/engine';`,
      subpaths: [t.subpath, 'engine'],
      task: t.folder,
      budgetGzip: TASK_BUDGET,
      forbidden: optionalOwned,
    })),
    {
      name: 'four tasks + root',
      // the tasks' names overlap (e.g. loaders' option types), so each is a namespace
      app: [`export * from '${PKG}';`, ...TASKS.map((t) => `export * as ${t.subpath} from '${PKG}/${t.subpath}';`)].join('\n'),
      subpaths: ['.', ...TASKS.map((t) => t.subpath)],
      budgetGzip: ALL_BUDGET,
      forbidden: optionalOwned,
    },
    ...OPTIONAL.map((o) => ({ name: `${o.label} (/${o.subpath})`, app: all(o.subpath), subpaths: [o.subpath], budgetGzip: o.budgetGzip, forbidden: [] })),
  ];
}

type Exports = Record<string, string | { types?: string; default?: string }>;

function packageExports(): Exports {
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Exports }).exports;
}

/** The file an import of `perceiver-io-webgpu[/subpath]` resolves to: the exports map's `default`, or its source. */
function resolveSubpath(exportsMap: Exports, specifier: string, fromDist: boolean): string {
  const key = specifier === PKG ? '.' : `./${specifier.slice(PKG.length + 1)}`;
  const entry = exportsMap[key];
  const target = typeof entry === 'string' ? entry : entry?.default;
  if (!target) throw new Error(`${specifier} is not in package.json's exports map`);
  if (fromDist) {
    const file = join(root, target);
    if (!existsSync(file)) throw new Error(`${target} is missing: run npm run build first (or drop --dist to measure the sources)`);
    return file;
  }
  const m = /^\.\/dist\/(.+)\.js$/.exec(target);
  if (!m) throw new Error(`exports['${key}'] = ${target}: expected ./dist/....js`);
  return join(root, `${m[1]}.ts`);
}

/** Resolves the package's own name through its exports map (a self-reference, as an installed app resolves it). */
function selfReference(exportsMap: Exports, fromDist: boolean, externalData: boolean): Plugin {
  return {
    name: 'self-reference',
    setup(b) {
      b.onResolve({ filter: /^size-app$/ }, () => ({ path: 'size-app', namespace: 'size' }));
      b.onResolve({ filter: new RegExp(`^${PKG}(/.*)?$`) }, (a) => ({ path: resolveSubpath(exportsMap, a.path, fromDist) }));
      // the one-file build keeps the lazily imported class-name lists outside, as data
      if (externalData) b.onResolve({ filter: /\/labels\.(ts|js)$/ }, (a) => ({ path: a.path, external: true }));
    },
  };
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

async function bundle(r: Row, exportsMap: Exports, fromDist: boolean, splitting: boolean) {
  return build({
    entryPoints: ['size-app'],
    plugins: [
      selfReference(exportsMap, fromDist, !splitting),
      { name: 'app', setup: (b) => b.onLoad({ filter: /.*/, namespace: 'size' }, () => ({ contents: r.app, loader: 'js', resolveDir: root })) },
    ],
    bundle: true,
    splitting,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outdir: join(root, 'out/size'),
    write: false,
    metafile: true,
    treeShaking: true,
    logLevel: 'silent',
  }).catch((e: Error & { errors?: { text: string }[] }) => {
    const why = e.errors?.map((x) => x.text).join('; ') ?? e.message;
    throw new Error(`${r.name}: the browser bundle fails (${why})${/node:|webgpu/.test(why) ? ': browser subpaths must not reach Node built-ins or the webgpu package' : ''}`);
  });
}

/** Checks one build's inputs against the row's rules; returns the modules' minified bytes. */
function checkInputs(r: Row, meta: Metafile): Map<string, number> {
  const modules = new Map<string, number>();
  for (const o of Object.values(meta.outputs)) {
    for (const [input, info] of Object.entries(o.inputs)) {
      if (input.startsWith('node:') || /(^|\/)node_modules\/webgpu\//.test(input)) throw new Error(`${r.name}: the bundle reaches ${input} (browser subpaths must not reach Node built-ins or the webgpu package)`);
      if (input.includes('node_modules')) throw new Error(`${r.name}: the bundle pulls in ${input} (browser subpaths depend on the platform only)`);
      const rel = input.replace(/^(\.\.\/)+/, '').replace(/^dist\//, '');
      const other = TASKS.find((t) => t.folder !== r.task && rel.startsWith(t.folder));
      if (r.task && other) throw new Error(`${r.name}: the bundle pulls in ${input}, another task's module (one task must carry only its own code)`);
      const owned = r.forbidden.find((p) => rel.startsWith(p));
      if (owned) throw new Error(`${r.name}: the bundle pulls in ${input} (${owned} belongs to an optional subpath)`);
      modules.set(input, (modules.get(input) ?? 0) + info.bytesInOutput);
    }
  }
  return modules;
}

export async function measure(r: Row, exportsMap: Exports, fromDist: boolean): Promise<SizeRow> {
  if (r.subpaths.some((s) => exportsMap[s === '.' ? '.' : `./${s}`] === undefined)) {
    return { name: r.name, raw: 0, gzip: 0, laterGzip: 0, dataGzip: 0, oneFileGzip: 0, budgetGzip: r.budgetGzip, ok: true, modules: [], missing: true };
  }
  const out = await bundle(r, exportsMap, fromDist, true);
  const meta = out.metafile!;
  const modules = checkInputs(r, meta);
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
  const one = await bundle(r, exportsMap, fromDist, false);
  checkInputs(r, one.metafile!);
  const oneFileGzip = one.outputFiles.filter((f) => f.path.endsWith('.js')).reduce((n, f) => n + gz(f.contents), 0);
  const top = [...modules].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  return { name: r.name, raw, gzip, laterGzip, dataGzip, oneFileGzip, budgetGzip: r.budgetGzip, ok: gzip <= r.budgetGzip && oneFileGzip <= r.budgetGzip, modules: top };
}

/** Subpaths that are not for browsers (everything else in the exports map is checked as a browser subpath). */
const NOT_BROWSER = ['./node', './package.json'];

/** The exports map's browser subpaths ('.', 'engine', 'imagenet', ...). */
export function browserSubpaths(): string[] {
  return Object.keys(packageExports())
    .filter((k) => !NOT_BROWSER.includes(k))
    .map((k) => (k === '.' ? '.' : k.slice(2)));
}

/**
 * Bundles an app importing everything of one subpath for the browser
 * (esbuild, platform browser); throws when the bundle reaches a node: module,
 * the webgpu package or anything else in node_modules. Returns the modules
 * it holds.
 */
export async function browserBundleInputs(subpath: string, fromDist = false): Promise<string[]> {
  const r: Row = { name: subpath === '.' ? PKG : `${PKG}/${subpath}`, app: all(subpath), subpaths: [subpath], budgetGzip: Infinity, forbidden: [] };
  const out = await bundle(r, packageExports(), fromDist, true);
  return [...checkInputs(r, out.metafile!).keys()];
}

export const OTHERS = [
  ['TensorFlow.js core + WebGPU backend (before any model code)', 'about 117 KB gzip'],
  ["ONNX Runtime Web's WebGPU build", 'about 21 KB gzip of JavaScript + a 28 MB (6.6 MB gzip) WebAssembly file'],
];

const kb = (n: number) => `${(n / KB).toFixed(1)} KB`;

async function main() {
  const markdown = process.argv.includes('--markdown');
  const why = process.argv.includes('--why');
  const fromDist = process.argv.includes('--dist');
  const exportsMap = packageExports();
  const results: SizeRow[] = [];
  for (const r of rows()) results.push(await measure(r, exportsMap, fromDist));
  const header = ['app imports', 'code raw', 'code gzip', 'of which on first use', 'one file gzip', 'label data gzip (first use)', 'gzip budget', 'result'];
  const table = results.map((r) =>
    r.missing
      ? [r.name, '-', '-', '-', '-', '-', kb(r.budgetGzip), 'not in the exports map yet']
      : [
          r.name,
          `${r.raw} B`,
          `${r.gzip} B (${kb(r.gzip)})`,
          r.laterGzip ? kb(r.laterGzip) : '-',
          kb(r.oneFileGzip),
          r.dataGzip ? kb(r.dataGzip) : '-',
          kb(r.budgetGzip),
          r.ok ? 'ok' : 'OVER BUDGET',
        ],
  );
  console.log(`measured: ${fromDist ? 'the built dist/ (--dist)' : "the sources the exports map's dist/ files are compiled from"}, through package.json's exports map\n`);
  if (markdown) {
    console.log(`| ${header.join(' | ')} |`);
    console.log(`|${header.map(() => '---').join('|')}|`);
    for (const r of table) console.log(`| ${r.join(' | ')} |`);
    console.log('\n| other browser runtimes | what they need to run any model |\n|---|---|');
    for (const [what, size] of OTHERS) console.log(`| ${what} | ${size} |`);
  } else {
    const cells = [header, ...table];
    const widths = header.map((_, c) => Math.max(...cells.map((r) => r[c].length)));
    for (const r of cells) console.log(r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
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
    console.error(`\nsize: over budget: ${over.map((r) => `${r.name} ${kb(Math.max(r.gzip, r.oneFileGzip))} > ${kb(r.budgetGzip)}`).join('; ')}${why ? '' : ' (npm run size -- --why shows the largest modules)'}`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    console.error(`size: ${(e as Error).message}`);
    process.exitCode = 1;
  });
}
