// engine/compare.ts: the one error measure.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { maxRelError } from '../../engine/compare.ts';

test('max |ours - ref| over max |ref|', () => {
  assert.is(maxRelError([1, 2, 4.5], [1, 2, 4]), 0.125);
  assert.is(maxRelError([0, 0], [0, 0]), 0);
  assert.throws(() => maxRelError([1], [1, 2]), /1 values, the reference 2/);
});

test('NaN marks a position not computed: skipped by default, an error (NaN) when every position must be computed', () => {
  assert.is(maxRelError([NaN, 2.5], [1, 2]), 0.25);
  assert.ok(Number.isNaN(maxRelError([NaN, NaN], [1, 2])), 'nothing computed');
  assert.ok(Number.isNaN(maxRelError([NaN, 2], [1, 2], false)));
  assert.is(maxRelError([1, 2.5], [1, 2], false), 0.25);
  assert.not.ok(maxRelError([NaN, 2], [1, 2], false) < 5e-4, 'fails a tolerance check');
});

test.run();
