// perceiver/topk.ts: stable softmax and top-k.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { softmax, topK } from '../../perceiver/topk.ts';

const close = (a: number, b: number, tol = 1e-6) => Math.abs(a - b) <= tol;

test('softmax matches the definition and sums to 1', () => {
  const x = [1, 2, 3, -1, 0.5];
  const e = x.map(Math.exp);
  const s = e.reduce((a, b) => a + b, 0);
  const p = softmax(Float32Array.from(x));
  assert.ok(p instanceof Float32Array);
  p.forEach((v, i) => assert.ok(close(v, e[i] / s), `${i}: ${v}`));
  assert.ok(close(p.reduce((a, b) => a + b, 0), 1));
});

test('softmax is stable for huge logits and invariant to shifts', () => {
  const p = softmax(new Float32Array([1000, 1001, 1002]));
  const q = softmax(new Float32Array([0, 1, 2]));
  assert.ok(p.every(Number.isFinite));
  p.forEach((v, i) => assert.ok(close(v, q[i])));
  const r = softmax(new Float32Array([-1e30, 0, -1e30]));
  assert.equal(Array.from(r), [0, 1, 0]);
  // 1000 classes of float32 logits of a real range: sums to 1.
  const big = new Float32Array(1000).map((_, i) => Math.sin(i) * 30);
  assert.ok(close(softmax(big).reduce((a, b) => a + b, 0), 1, 1e-5));
});

test('softmax edge cases: empty, infinities, NaN', () => {
  assert.is(softmax(new Float32Array(0)).length, 0);
  assert.equal(Array.from(softmax([Infinity, 0, Infinity])), [0.5, 0, 0.5]);
  assert.equal(Array.from(softmax([-Infinity, -Infinity])), [0.5, 0.5]);
  assert.equal(Array.from(softmax([-Infinity, 0])), [0, 1]);
  assert.ok(softmax([1, NaN, 2]).every(Number.isNaN));
});

test('topK: order, labels, ties by index, k clamped', () => {
  const probs = new Float32Array([0.1, 0.4, 0.05, 0.4, 0.05]);
  const labels = ['a', 'b', 'c', 'd', 'e'];
  const top = topK(probs, 3, labels);
  assert.equal(top.map((t) => [t.index, t.label]), [[1, 'b'], [3, 'd'], [0, 'a']]);
  assert.is(top[0].probability, probs[1]);
  assert.equal(topK(probs, 2).map((t) => t.label), ['1', '3']);
  assert.is(topK(probs, 99).length, 5);
  assert.equal(topK(probs, 0), []);
  assert.equal(topK(probs, 5).map((t) => t.index), [1, 3, 0, 2, 4]);
  assert.equal(topK([NaN, 0.5, 0.1], 3).map((t) => t.index), [1, 2, 0]);
  assert.throws(() => topK(probs, 2, ['a']), /5 scores but 1 labels/);
  assert.throws(() => topK(probs, NaN), /k must be a number/);
});

test('topK agrees with a full sort on random data', () => {
  let s = 3;
  const x = new Float32Array(1000).map(() => ((s = (s * 16807) % 2147483647) / 2147483647));
  const want = Array.from(x.keys()).sort((a, b) => x[b] - x[a] || a - b).slice(0, 10);
  assert.equal(topK(softmax(x), 10).map((t) => t.index), want);
});

test.run();
