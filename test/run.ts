// The test runner: every test/**/*.test.ts file (or those whose path contains
// one of the arguments), run by uvu in one process so they share one GPU.
// Ends with the plain "N passed, N failed, N skipped" line CI reads, after the
// list of skipped tests (file, test name and reason).
//
//   npm test                  all tests
//   npm test -- kernels/      only files under test/kernels
//
// A test that calls skip(reason) (test/skip.ts) and returns is counted as
// skipped, not passed; one that calls skip() and then fails is counted as failed.

import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { recordedSkips, setCurrentTest, currentTest } from './skip.ts';

/** The *.test.ts files under dir; folders named `fixtures` hold other runs' files (test/runner.test.ts). */
function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return f === 'fixtures' ? [] : walk(p);
    return p.endsWith('.test.ts') ? [p] : [];
  });
}

// PERCEIVER_TEST_ROOT runs another folder's tests (test/runner.test.ts runs its fixtures so).
const root = resolve(process.env.PERCEIVER_TEST_ROOT ?? import.meta.dirname ?? '.');
const filters = process.argv.slice(2);
const files = walk(root)
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}

const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
const keyOf = (t: { file: string; test: string }) => `${t.file}\0${t.test}`;

// Count uvu's results from its own summary lines, and note each test's outcome
// (uvu writes '• ' after a test that returned, '✘ ' after one that threw).
let captured = '';
const outcome = new Map<string, 'pass' | 'fail'>();
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
  const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
  captured += text;
  const mark = stripAnsi(text);
  if (mark === '• ' || mark === '✘ ') outcome.set(keyOf(currentTest()), mark === '• ' ? 'pass' : 'fail');
  return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stdout.write;

// uvu/run's loop, plus a before-each hook per file that tells test/skip.ts
// which file and test are running (uvu keeps the name in the suite state's
// __test__). Each file's test.run() takes the hooks registered so far and
// starts a fresh context, so the hook is registered again before each import.
const g = globalThis as { UVU_DEFER?: number; UVU_INDEX?: number; UVU_QUEUE?: unknown[][] };
g.UVU_DEFER = 1;
const uvu = await import('uvu');
for (const [i, f] of files.entries()) {
  g.UVU_INDEX = i;
  g.UVU_QUEUE!.push([f]);
  uvu.test.before.each((state: { __test__?: string }) => setCurrentTest(f, state.__test__ ?? ''));
  setCurrentTest(f, ''); // skip() at import time is charged to the file
  await import(pathToFileURL(join(root, f)).href);
}
await uvu.exec(false);

const plain = stripAnsi(captured);
const num = (label: string) => Number(/(\d+)\s*$/.exec(plain.split('\n').find((l) => l.trim().startsWith(label)) ?? '')?.[1] ?? 0);
const total = num('Total:');
const uvuPassed = num('Passed:');
const uvuSkipped = num('Skipped:'); // test.skip / test.only leftovers
const failed = total - uvuPassed - uvuSkipped;

// A test that called skip() and returned: skipped (its reasons listed). One that
// called skip() and then threw stays failed. skip() outside any test (at import)
// is a skipped entry of its own.
const skipped = new Map<string, { file: string; test: string; reasons: string[] }>();
for (const s of recordedSkips()) {
  const k = keyOf(s);
  if (s.test !== '' && outcome.get(k) !== 'pass') continue;
  const entry = skipped.get(k) ?? { file: s.file, test: s.test, reasons: [] };
  entry.reasons.push(s.reason);
  skipped.set(k, entry);
}
const skippedTests = [...skipped.values()].filter((s) => s.test !== '').length;
if (skipped.size > 0) {
  console.log(`\nskipped (${skipped.size}):`);
  for (const s of skipped.values()) {
    console.log(`  test/${s.file}${s.test ? ` › ${s.test}` : ''}\n      ${s.reasons.join('\n      ')}`);
  }
}
const passed = uvuPassed - skippedTests;
console.log(`\ntests: ${passed} passed, ${failed} failed, ${uvuSkipped + skipped.size} skipped`);
if (failed > 0 || total === 0) process.exitCode = 1;
const { closeTestGpu } = await import('./gpu.ts');
await closeTestGpu();
