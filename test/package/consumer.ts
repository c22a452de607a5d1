// The package as a user gets it (issue 12): `npm pack` in this clone, then a
// fresh app in a temporary folder outside the repository installs the
// tarball (and, from the registry, `webgpu`, `esbuild`, `typescript` and
// `@types/node` at the versions this clone's lock file pins), and:
//
//  (a) node: plain `node app.mjs` imports every public subpath and
//      classifies the built-in ImageNet fixture (bench/fixtures, DeepMind's
//      golden-compact) through the public API: the checkpoint converted by
//      /convert, loaded by /imagenet on /node's nodeGpu; the logits match
//      DeepMind's within 5e-4. The installed `perceiver-io` bin converts and
//      runs bench-reference the same way.
//  (b) types: `tsc --noEmit` on a TypeScript consumer holding every ```ts
//      snippet of README.md (extracted automatically), under
//      moduleResolution bundler and nodenext, strict and
//      exactOptionalPropertyTypes, without allowImportingTsExtensions.
//  (c) browser: esbuild bundles a one-task browser app (imagenet) from the
//      installed package; Debian's Chromium (playwright-core, SwiftShader
//      WebGPU) runs it from 127.0.0.1 and the logits match.
//  (d) tarball: its file list and size are printed and checked against the
//      `files` whitelist (dist, README.md, LICENSE, package.json) and 1 MB.
//
//   npx tsx test/package/consumer.ts [--keep]    (npm run test:package; .ci/run runs it)
//
// Not part of `npm test` (it builds, packs and installs: a minute or two).
// Ends with "N passed, N failed, N skipped" and exits 1 on any failure; a
// check that cannot run here (no Chromium) is skipped with its reason.
// --keep leaves the temporary app for inspection.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '../..');
const FIXTURES = join(REPO, 'bench/fixtures');
const TOLERANCE = 5e-4;
/** The npm package's size limit (issue 12): the tarball, gzip-compressed. */
const MAX_TARBALL_BYTES = 1024 * 1024;
/** What the tarball may hold (package/ prefix removed): the `files` whitelist plus what npm always adds. */
const WHITELIST = [/^dist\/.+\.(js|d\.ts)$/, /^README\.md$/, /^LICENSE$/, /^package\.json$/];
/** Dev-only installs the checks need, pinned to this clone's lock file. */
const TOOLS = ['webgpu', 'esbuild', 'typescript', '@types/node'];

const keep = process.argv.includes('--keep');
const results: { name: string; status: 'pass' | 'FAIL' | 'skip'; detail: string }[] = [];

async function check(name: string, run: () => Promise<string | { skip: string }>): Promise<void> {
  const t0 = performance.now();
  console.log(`\n== ${name}`);
  try {
    const r = await run();
    const secs = `${((performance.now() - t0) / 1000).toFixed(1)} s`;
    if (typeof r === 'object') {
      results.push({ name, status: 'skip', detail: r.skip });
      console.log(`skipped: ${r.skip}`);
    } else {
      results.push({ name, status: 'pass', detail: `${r} (${secs})` });
      console.log(`pass: ${r} (${secs})`);
    }
  } catch (e) {
    results.push({ name, status: 'FAIL', detail: (e as Error).message });
    console.log(`FAIL: ${(e as Error).message}`);
  }
}

/** Runs a command; throws with its output when it fails. */
function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}:\n${(r.stdout + r.stderr).trim().split('\n').slice(-40).join('\n')}`);
  return r.stdout + r.stderr;
}

function lockedVersion(name: string): string {
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
  const v = lock.packages[`node_modules/${name}`]?.version;
  if (!v) throw new Error(`package-lock.json pins no version of ${name}`);
  return v;
}

// ---------------------------------------------------------------- the app (a)

/** Plain ESM for Node: every subpath imported by its public name, the fixture classified through the public API. */
const NODE_APP = `import * as root from 'perceiver-io-webgpu';
import * as engine from 'perceiver-io-webgpu/engine';
import { loadImageClassifier } from 'perceiver-io-webgpu/imagenet';
import * as language from 'perceiver-io-webgpu/language';
import * as flow from 'perceiver-io-webgpu/flow';
import * as video from 'perceiver-io-webgpu/video';
import { convertToWeightFile, readNpz } from 'perceiver-io-webgpu/convert';
import { nodeGpu } from 'perceiver-io-webgpu/node';
import * as worker from 'perceiver-io-webgpu/worker';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [fixtures, stem, out] = process.argv.slice(2);
for (const [name, m, fn] of [['.', root, 'fetchWeights'], ['engine', engine, 'createGpu'], ['language', language, 'loadMaskedLanguageModel'], ['flow', flow, 'loadOpticalFlow'], ['video', video, 'loadVideoAutoencoder'], ['worker', worker, 'PerceiverWorker']]) {
  if (typeof m[fn] !== 'function') throw new Error(\`\${name} does not export \${fn}\`);
}
const spec = JSON.parse(readFileSync(join(fixtures, stem + '.json'), 'utf8'));
const weights = convertToWeightFile(readFileSync(join(fixtures, stem + '.pystate')), spec.preset, spec.overrides);
const arrays = readNpz(readFileSync(join(fixtures, stem + '.npz')));
const images = arrays.get('images'), expected = arrays.get('logits');
const gpu = await nodeGpu();
const model = await loadImageClassifier(gpu, weights);
const logits = await model.logits(images.data, images.shape);
let maxDiff = 0, maxRef = 0;
for (let i = 0; i < expected.data.length; i++) {
  maxDiff = Math.max(maxDiff, Math.abs(logits[i] - expected.data[i]));
  maxRef = Math.max(maxRef, Math.abs(expected.data[i]));
}
console.log(JSON.stringify({ adapter: gpu.adapterName, error: maxDiff / maxRef, values: logits.length }));
if (out) {
  // the browser check's inputs: the converted weights, the images and DeepMind's logits
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'model.weights'), weights);
  writeFileSync(join(out, 'images.f32'), new Uint8Array(images.data.buffer, images.data.byteOffset, images.data.byteLength));
  writeFileSync(join(out, 'logits.f32'), new Uint8Array(expected.data.buffer, expected.data.byteOffset, expected.data.byteLength));
  writeFileSync(join(out, 'shape.json'), JSON.stringify(images.shape));
}
gpu.destroy();
`;

// ---------------------------------------------------------------- the browser app (c)

const BROWSER_APP = `import { createGpu } from 'perceiver-io-webgpu';
import { loadImageClassifier } from 'perceiver-io-webgpu/imagenet';

async function run() {
  if (!navigator.gpu) throw new Error('this browser has no WebGPU');
  const gpu = await createGpu(navigator.gpu);
  const get = async (f) => { const r = await fetch(f); if (!r.ok) throw new Error(f + ': HTTP ' + r.status); return r; };
  const model = await loadImageClassifier(gpu, await get('model.weights'));
  const images = new Float32Array(await (await get('images.f32')).arrayBuffer());
  const expected = new Float32Array(await (await get('logits.f32')).arrayBuffer());
  const shape = await (await get('shape.json')).json();
  const logits = await model.logits(images, shape);
  let maxDiff = 0, maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(logits[i] - expected[i]));
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  return { adapter: gpu.adapterName, error: maxDiff / maxRef, values: logits.length };
}
run().then((r) => { window.result = r; }, (e) => { window.result = { failure: String(e && e.stack || e) }; });
`;

// ---------------------------------------------------------------- README snippets (b)

interface Snippet {
  /** README line of the opening fence */
  line: number;
  code: string;
}

/** Every ```ts block of a Markdown text. */
function tsSnippets(markdown: string): Snippet[] {
  const out: Snippet[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i])) continue;
    const start = i;
    const body: string[] = [];
    while (++i < lines.length && !/^```\s*$/.test(lines[i])) body.push(lines[i]);
    if (i >= lines.length) throw new Error(`README.md:${start + 1}: a \`\`\`ts block is never closed`);
    out.push({ line: start + 1, code: body.join('\n') });
  }
  return out;
}

/**
 * The names README snippets may use without defining them (what the reader
 * has at hand: a file the user picked, a progress bar, decoded frames...).
 * Global ambient declarations: a snippet's own declaration of the same name
 * shadows them (each snippet is a module).
 */
const PRELUDE = `// README snippets' free variables (test/package/consumer.ts)
declare const file: File;
declare const bar: HTMLProgressElement;
declare const frame1: ImageBitmap;
declare const frame2: ImageBitmap;
declare const videoFrames: ImageBitmap[];
declare const audio: Float32Array;
`;

function tsconfig(resolution: 'bundler' | 'nodenext', files: string[]): string {
  return JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2022',
        module: resolution === 'bundler' ? 'ESNext' : 'NodeNext',
        moduleResolution: resolution === 'bundler' ? 'Bundler' : 'NodeNext',
        strict: true,
        exactOptionalPropertyTypes: true,
        noEmit: true,
        skipLibCheck: false,
        // WebGPU's own types (@webgpu/types) are DOM types
        lib: ['ES2022', 'DOM'],
        types: ['node'],
      },
      files,
    },
    null,
    2,
  );
}

// ---------------------------------------------------------------- main

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'perceiver-consumer-'));
  const app = join(work, 'app');
  mkdirSync(app);
  console.log(`repository: ${REPO}\ntemporary app: ${app}`);
  let tarball = '';
  try {
    await check('pack: npm pack (prepack builds dist/)', async () => {
      sh('npm', ['pack', '--pack-destination', work], REPO);
      const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
      if (!tgz) throw new Error('npm pack made no tarball');
      tarball = join(work, tgz);
      return `${tgz}, ${statSync(tarball).size} bytes`;
    });
    if (!tarball) throw new Error('no tarball: nothing else can run');

    await check('(d) tarball: file list and size against the whitelist', async () => {
      const list = execFileSync('tar', ['tzvf', tarball], { encoding: 'utf8' }).trim().split('\n');
      let unpacked = 0;
      const paths = list.map((l) => {
        const f = l.trim().split(/\s+/);
        unpacked += Number(f[2]);
        return f[f.length - 1].replace(/^package\//, '');
      });
      for (const l of list) console.log(`  ${l}`);
      const size = statSync(tarball).size;
      console.log(`  ${paths.length} files, ${unpacked} bytes unpacked, tarball ${size} bytes`);
      const stray = paths.filter((p) => !WHITELIST.some((w) => w.test(p)));
      if (stray.length) throw new Error(`not in the whitelist: ${stray.join(', ')}`);
      for (const must of ['LICENSE', 'README.md', 'package.json', 'dist/kernels/shaders.gen.js', 'dist/tools/cli.js', 'dist/index.d.ts']) {
        if (!paths.includes(must)) throw new Error(`${must} is missing from the tarball`);
      }
      if (size > MAX_TARBALL_BYTES) throw new Error(`the tarball is ${size} bytes, over ${MAX_TARBALL_BYTES}`);
      return `${paths.length} files, all in the whitelist, ${(size / 1024).toFixed(0)} KB (limit ${MAX_TARBALL_BYTES / 1024} KB)`;
    });

    await check('install: the tarball into a fresh app (+ webgpu, esbuild, typescript, @types/node)', async () => {
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer-app', version: '1.0.0', private: true, type: 'module' }, null, 2));
      const tools = TOOLS.map((t) => `${t}@${lockedVersion(t)}`);
      sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, ...tools], app);
      const installed = JSON.parse(readFileSync(join(app, 'node_modules/perceiver-io-webgpu/package.json'), 'utf8')) as { version: string };
      const types = JSON.parse(readFileSync(join(app, 'node_modules/@webgpu/types/package.json'), 'utf8')) as { version: string };
      return `perceiver-io-webgpu ${installed.version} with @webgpu/types ${types.version} (a dependency), ${tools.join(', ')}`;
    });

    const browserDir = join(work, 'www');
    await check('(a) node app.mjs: every subpath imports; the built-in imagenet_conv fixture through the public API', async () => {
      writeFileSync(join(app, 'app.mjs'), NODE_APP);
      const out = sh(process.execPath, ['app.mjs', FIXTURES, 'imagenet_conv', browserDir], app);
      const r = JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).pop() ?? '{}') as { adapter: string; error: number; values: number };
      if (!(r.error <= TOLERANCE)) throw new Error(`max relative error ${r.error} over ${TOLERANCE} (adapter ${r.adapter})`);
      return `${r.values} logits, max relative error ${r.error.toExponential(2)} <= ${TOLERANCE} on ${r.adapter}`;
    });

    await check('(a) the installed bin: perceiver-io convert, bench-reference (and its message without --fixtures)', async () => {
      const bin = join(app, 'node_modules/.bin/perceiver-io');
      const help = sh(bin, ['--help'], app);
      if (!/convert .*\n.*classify/s.test(help)) throw new Error(`--help:\n${help}`);
      const none = spawnSync(bin, ['bench-reference'], { cwd: app, encoding: 'utf8' });
      if (none.status !== 2 || !/--fixtures DIR is required here/.test(none.stderr)) throw new Error(`bench-reference without --fixtures in an installed package: exit ${none.status}, ${none.stderr}`);
      sh(bin, ['convert', join(FIXTURES, 'imagenet_learned.pystate'), 'learned.weights', '--preset', 'imagenet-learned', '--overrides', join(FIXTURES, 'imagenet_learned.json')], app);
      const ref = sh(bin, ['bench-reference', '--fixtures', FIXTURES, 'imagenet_fourier'], app);
      const row = ref.split('\n').find((l) => l.startsWith('imagenet_fourier'));
      if (!row || !/pass$/.test(row.trim())) throw new Error(`bench-reference:\n${ref}`);
      return `convert wrote learned.weights (${statSync(join(app, 'learned.weights')).size} bytes); bench-reference: ${row.replace(/\s+/g, ' ')}`;
    });

    await check('(b) tsc --noEmit: every ```ts snippet of README.md, bundler and nodenext resolution', async () => {
      const snippets = tsSnippets(readFileSync(join(REPO, 'README.md'), 'utf8'));
      if (snippets.length === 0) throw new Error('README.md has no ```ts snippets');
      const dir = join(app, 'readme');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'prelude.d.ts'), PRELUDE);
      const files = ['prelude.d.ts'];
      for (const s of snippets) {
        const name = `readme-line-${s.line}.ts`;
        writeFileSync(join(dir, name), `${s.code}\nexport {};\n`);
        files.push(name);
      }
      const tsc = join(app, 'node_modules/typescript/bin/tsc');
      const report: string[] = [];
      for (const resolution of ['bundler', 'nodenext'] as const) {
        writeFileSync(join(dir, `tsconfig.${resolution}.json`), tsconfig(resolution, files));
        const r = spawnSync(process.execPath, [tsc, '-p', `tsconfig.${resolution}.json`], { cwd: dir, encoding: 'utf8' });
        if (r.status !== 0) {
          // readme-line-N.ts(l,c) -> README.md:N+l
          const errors = (r.stdout + r.stderr).replace(/readme-line-(\d+)\.ts\((\d+),(\d+)\)/g, (_, n: string, l: string, c: string) => `README.md:${Number(n) + Number(l)}:${c}`);
          report.push(`${resolution}:\n${errors.trim()}`);
        }
      }
      if (report.length) throw new Error(`README snippets do not type-check:\n${report.join('\n')}`);
      return `${snippets.length} snippets (README lines ${snippets.map((s) => s.line).join(', ')}) type-check under bundler and nodenext (strict, exactOptionalPropertyTypes)`;
    });

    await check('(c) browser: esbuild bundles an imagenet app from the installed package; Chromium runs it', async () => {
      const { browserMissing, launch } = await import('../browser/browser.ts');
      const missing = browserMissing();
      if (missing) return { skip: missing };
      writeFileSync(join(app, 'browser-app.js'), BROWSER_APP);
      const esbuild = join(app, 'node_modules/esbuild/bin/esbuild');
      sh(esbuild, ['browser-app.js', '--bundle', '--format=esm', '--platform=browser', '--minify', '--splitting', `--outdir=${browserDir}`], app);
      writeFileSync(join(browserDir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>consumer</title><script type="module" src="browser-app.js"></script>\n');
      const { serveDir } = await import('../../demo/serve.ts');
      const server = await serveDir(browserDir);
      const browser = await launch();
      try {
        await browser.page.goto(server.url);
        await browser.page.waitForFunction(() => (window as unknown as { result?: unknown }).result !== undefined, undefined, { timeout: 240_000 });
        const r = (await browser.page.evaluate(() => (window as unknown as { result: unknown }).result)) as { adapter?: string; error?: number; values?: number; failure?: string };
        if (r.failure) throw new Error(`in the page: ${r.failure}\n${browser.log.join('\n')}`);
        if (!(r.error! <= TOLERANCE)) throw new Error(`max relative error ${r.error} over ${TOLERANCE} (adapter ${r.adapter})`);
        const bundle = readdirSync(browserDir).filter((f) => f.endsWith('.js')).reduce((n, f) => n + statSync(join(browserDir, f)).size, 0);
        return `${r.values} logits, max relative error ${r.error!.toExponential(2)} <= ${TOLERANCE} on ${r.adapter} (${server.url}, ${bundle} bytes of JavaScript)`;
      } finally {
        await browser.close();
        await server.close();
      }
    });
  } finally {
    if (keep) console.log(`\nkept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

await main().catch((e) => {
  results.push({ name: 'consumer test', status: 'FAIL', detail: (e as Error).message });
  console.log(`FAIL: ${(e as Error).message}`);
});
const n = (s: string) => results.filter((r) => r.status === s).length;
console.log('\nsummary:');
for (const r of results) console.log(`  ${r.status.padEnd(4)}  ${r.name}${r.status === 'pass' ? '' : `: ${r.detail.split('\n')[0]}`}`);
console.log(`\npackage: ${n('pass')} passed, ${n('FAIL')} failed, ${n('skip')} skipped`);
if (n('FAIL') > 0) process.exitCode = 1;
