// npm run size: builds each browser entry point with esbuild (ESM, minified,
// tree-shaken, browser platform) and prints raw and gzip bytes per task and
// for everything, next to what other browser ML runtimes need before any
// model code. Fails when a budget is exceeded.

import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const KB = 1024;

/** A browser app's import of one task: the task's API plus getting a device. */
const ENTRIES: { name: string; code: string; budgetGzip: number }[] = [
  { name: 'engine only', code: "export { createGpu, upload, readF32 } from './engine/index.ts';", budgetGzip: 25 * KB },
  {
    name: 'imagenet (classify)',
    code: "export { createGpu } from './engine/index.ts'; export { loadImageClassifier, ImageClassifier } from './perceiver/imagenet/index.ts';",
    budgetGzip: 25 * KB,
  },
  {
    name: 'language (fill-mask)',
    code: "export { createGpu } from './engine/index.ts'; export * from './perceiver/language/index.ts';",
    budgetGzip: 25 * KB,
  },
  {
    name: 'everything',
    code: "export * from './engine/index.ts'; export * from './perceiver/imagenet/index.ts'; export * from './perceiver/language/index.ts';",
    budgetGzip: 40 * KB,
  },
];

const OTHERS = [
  ['TensorFlow.js core + WebGPU backend (before any model code)', 'about 117 KB gzip'],
  ["ONNX Runtime Web's WebGPU build", 'about 21 KB gzip JS + 28 MB (6.6 MB gzip) WebAssembly'],
];

async function main() {
  const rows: string[][] = [['bundle', 'raw bytes', 'gzip bytes', 'gzip budget', 'result']];
  let failed = false;
  for (const e of ENTRIES) {
    const out = await build({
      stdin: { contents: e.code, resolveDir: root, loader: 'ts', sourcefile: `${e.name}.ts` },
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      treeShaking: true,
      logLevel: 'error',
    });
    const code = out.outputFiles[0].contents;
    const gz = gzipSync(code, { level: 9 }).byteLength;
    const ok = gz <= e.budgetGzip;
    failed ||= !ok;
    rows.push([e.name, String(code.byteLength), String(gz), `${e.budgetGzip / KB} KB`, ok ? 'ok' : 'OVER BUDGET']);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c])).join('  '));
  console.log('\nfor comparison:');
  for (const [what, size] of OTHERS) console.log(`  ${what}: ${size}`);
  if (failed) {
    console.error('\nsize: a bundle is over its budget');
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(`size: ${(e as Error).message}`);
  process.exitCode = 1;
});
