// The test runner: every test/**/*.test.ts file (or those whose path contains
// one of the arguments), run by uvu in one process so they share one GPU.
// Ends with the plain "N passed, N failed, N skipped" line CI reads.
//
//   npm test                  all tests
//   npm test -- kernels/      only files under test/kernels

import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.ts') ? [p] : [];
  });
}

const root = resolve(import.meta.dirname ?? '.', '.');
const filters = process.argv.slice(2);
const files = walk(root)
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}

// Count uvu's results from its own summary lines.
let captured = '';
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
  captured += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
  return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stdout.write;

const { run } = await import('uvu/run');
await run(files.map((f) => ({ name: f, file: join(root, f) })), { bail: false });
const plain = captured.replace(/\x1b\[[0-9;]*m/g, '');
const num = (label: string) => Number(/(\d+)\s*$/.exec(plain.split('\n').find((l) => l.trim().startsWith(label)) ?? '')?.[1] ?? 0);
const total = num('Total:');
const passed = num('Passed:');
const skipped = num('Skipped:');
const failed = total - passed - skipped;
console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (failed > 0 || total === 0) process.exitCode = 1;
const { closeTestGpu } = await import('./gpu.ts');
await closeTestGpu();
