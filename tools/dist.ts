// npm run build (run by prepack): compiles the library to dist/ for the npm
// package. kernels/build.ts has generated kernels/shaders.gen.ts first (the
// build script runs it), so the WGSL ships inside dist/kernels/shaders.gen.js
// and nothing at install time needs a dev dependency.
//
// 1. tsc -p tsconfig.build.json: JavaScript + .d.ts, the sources' folder
//    layout, relative `.ts` imports rewritten to `.js` in the JavaScript.
// 2. The .d.ts files: tsc keeps the sources' `.ts` specifiers there (a
//    consumer without allowImportingTsExtensions refuses them), so each
//    relative `.ts` specifier becomes `.js`; a declaration file that names
//    WebGPU types (GPUDevice, GPUBuffer, ...) gets a reference to
//    @webgpu/types (a dependency of the package), so a consumer's types
//    resolve without listing it.
// 3. Checks: no relative `.ts` specifier is left anywhere in dist, and every
//    file that package.json's exports map names exists.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** Relative module specifiers ending in .ts, in import/export ... from, import() and import type() forms. */
const TS_SPECIFIER = /((?:from|import)\s*\(?\s*)(['"])(\.{1,2}\/[^'"]*?)\.ts\2/g;
const WEBGPU_TYPE = /\bGPU[A-Z]\w*\b|\bGPU\b/;
const WEBGPU_REFERENCE = '/// <reference types="@webgpu/types" />\n';

export function rewriteDeclaration(text: string): string {
  const out = text.replace(TS_SPECIFIER, (_, lead: string, q: string, spec: string) => `${lead}${q}${spec}.js${q}`);
  return WEBGPU_TYPE.test(out) && !out.includes(WEBGPU_REFERENCE) ? WEBGPU_REFERENCE + out : out;
}

/** The files package.json's exports map names (every condition of every subpath). */
export function exportTargets(pkg: { exports?: Record<string, unknown> }): string[] {
  const targets: string[] = [];
  const visit = (v: unknown) => {
    if (typeof v === 'string') targets.push(v);
    else if (v && typeof v === 'object') for (const x of Object.values(v)) visit(x);
  };
  visit(pkg.exports);
  return targets;
}

function main() {
  const t0 = performance.now();
  if (!existsSync(join(root, 'kernels/shaders.gen.ts'))) throw new Error('kernels/shaders.gen.ts is missing: run `npx tsx kernels/build.ts` first (npm run build does)');
  rmSync(dist, { recursive: true, force: true });
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
  const files = walk(dist);
  let rewritten = 0;
  for (const f of files.filter((p) => p.endsWith('.d.ts'))) {
    const text = readFileSync(f, 'utf8');
    const out = rewriteDeclaration(text);
    if (out !== text) {
      writeFileSync(f, out);
      rewritten++;
    }
  }
  const code = (f: string) => readFileSync(f, 'utf8').split('\n').filter((l) => !/^\s*(\/\/|\*|\/\*)/.test(l)).join('\n'); // comments may quote sources
  const left = files.filter((f) => /\.(js|d\.ts)$/.test(f) && new RegExp(TS_SPECIFIER.source).test(code(f)));
  if (left.length) throw new Error(`relative .ts imports left in ${left.map((f) => relative(root, f)).join(', ')}`);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const missing = exportTargets(pkg).filter((t) => !existsSync(join(root, t)));
  const bin = Object.values((pkg.bin ?? {}) as Record<string, string>).filter((t) => !existsSync(join(root, t)));
  if (missing.length || bin.length) throw new Error(`package.json names files the build did not make: ${[...missing, ...bin].join(', ')}`);
  const bytes = files.reduce((n, f) => n + statSync(f).size, 0);
  console.log(`dist: ${files.length} files, ${(bytes / 1024).toFixed(0)} KB (${rewritten} declaration files rewritten) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    main();
  } catch (e) {
    console.error(`build: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}
