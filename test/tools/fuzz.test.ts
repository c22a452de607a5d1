// The fuzzer (tools/fuzz.ts): mutants are reproducible, refusals are judged
// (a raw RangeError is a failure, a named error is not), and a small seeded
// run over every reader of outside bytes finds no crash, hang, slow mutant or
// unnamed error. `npm run fuzz` runs thousands; this runs a few dozen each.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mutate, badRefusal, runFuzz, formatReports } from '../../tools/fuzz.ts';
import { READERS, readerNamed } from '../../tools/fuzz-readers.ts';

const SEEDS = [Uint8Array.from({ length: 300 }, (_, i) => i & 0xff)];
const fake = { name: 'example' };

test('a mutant is the same bytes for the same seed and index, and differs between indices', () => {
  const a = mutate(fake, SEEDS, 7, 3), b = mutate(fake, SEEDS, 7, 3), c = mutate(fake, SEEDS, 7, 4);
  assert.equal(a.bytes, b.bytes);
  assert.equal(a.ops, b.ops);
  assert.ok(a.ops.length >= 2, 'the seed input and at least one mutation are named');
  assert.not.equal([...a.bytes, ...a.ops], [...c.bytes, ...c.ops]);
  assert.equal(SEEDS[0], Uint8Array.from({ length: 300 }, (_, i) => i & 0xff), 'the seed input itself is untouched');
});

test('refusals: a named error passes; raw RangeError/TypeError, typed-array messages and non-Errors fail', () => {
  class PngError extends Error {}
  assert.is(badRefusal(new PngError('PNG: truncated IDAT chunk')), null);
  assert.is(badRefusal(new Error('checkpoint: tensor x has shape [3] (expected [4])')), null);
  assert.match(badRefusal(new RangeError('Invalid typed array length: -4')) ?? '', /raw RangeError/);
  assert.match(badRefusal(new TypeError("Cannot read properties of undefined (reading 'x')")) ?? '', /raw TypeError/);
  assert.match(badRefusal(new Error('wrapped: Array buffer allocation failed')) ?? '', /runtime error/);
  assert.match(badRefusal('a string') ?? '', /non-Error/);
  assert.match(badRefusal(new Error('')) ?? '', /without a message/);
});

test('every reader is registered with real inputs and a name', () => {
  assert.ok(READERS.length >= 8);
  for (const name of ['weights', 'weights-stream', 'pickle', 'convert', 'npy', 'npz', 'png', 'flo']) assert.is(readerNamed(name).name, name);
  assert.throws(() => readerNamed('nope'), /no fuzz reader 'nope' \(readers: weights/);
});

test('the harness reports each kind of failure with its mutant: a raw RangeError, a hang (killed), a crash', async () => {
  const [range, hang, crash] = await runFuzz({ seed: 3, count: 2, readers: ['selftest-rangeerror', 'selftest-hang', 'selftest-crash'], killMs: 1000 });
  // (a mutation can leave the bytes as they were, e.g. a 'number' edit on bytes without digits: then the reader accepts)
  for (const r of [range, hang, crash]) {
    assert.is(r.tried, 2, `${r.reader}: the run goes on after a kill or a crash`);
    assert.is(r.failures.length + r.accepted, 2, r.reader);
    assert.ok(r.failures.length >= 1, r.reader);
  }
  assert.match(range.failures[0].message, /a raw RangeError as the reason: Invalid typed array length/);
  assert.match(hang.failures[0].message, /^hang: still running after 1000 ms \(killed\)/);
  assert.match(crash.failures[0].message, /^crash: the child process died \(exit code 70\)/);
  const m = hang.failures[0].index;
  assert.match(formatReports([hang], 3), new RegExp(`FAIL selftest-hang mutant ${m} \\[seed-input 0, .*\\]: hang[^]*replay: npm run fuzz -- --seed 3 --reader selftest-hang --mutant ${m}`));
});

test('a seeded run of 30 mutants per reader: every mutant accepted or refused by name, none slow, hung or crashed', async () => {
  const reports = await runFuzz({ seed: 20261205, count: 30, readers: READERS.map((r) => r.name) });
  const text = formatReports(reports, 20261205);
  console.log(text.replace(/^/gm, '  '));
  for (const r of reports) {
    assert.is(r.tried, 30, r.reader);
    assert.is(r.accepted + r.refused, 30, `${r.reader}:\n${text}`);
    assert.ok(r.refused > 0, `${r.reader}: the mutations reach the reader's checks`);
  }
});

test.run();
