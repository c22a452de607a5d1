// The language-mlm preset and fill-mask: DeepMind's own logits on the golden
// fixture; the gap syntax and its errors; window planning (a gap at a naive
// window edge still gets context on both sides); windowed prediction equals
// single-pass prediction (a CPU stand-in model for the planning logic, a
// small random-weight model on the GPU for the real path); and, when a
// converted released weight file is given in PERCEIVER_MLM_WEIGHTS, the
// colab's example.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testGpu, randn } from '../gpu.ts';
import { upload, readF32, type Tensor } from '../../engine/index.ts';
import { loadFixture, disposeFixture, maxRelError } from '../../bench/fixture.ts';
import { defaultConfig, type LanguageConfig } from '../../perceiver/config.ts';
import { expectedParams } from '../../perceiver/params.ts';
import { Params } from '../../perceiver/layers.ts';
import { languageLogits } from '../../perceiver/language/model.ts';
import {
  parseFillMask,
  rangesToGaps,
  planWindows,
  fillGaps,
  predictByte,
  FillMaskSyntaxError,
  MaskedLanguageModel,
  type LogitsFn,
} from '../../perceiver/language/fillmask.ts';
import { encode, utf8, MASK_ID, NUM_RESERVED_TOKENS, VOCAB_SIZE } from '../../perceiver/language/tokenizer.ts';

const here = dirname(fileURLToPath(import.meta.url));
const GOLDEN = join(here, '../../../shared/golden');
const TOLERANCE = 5e-4;
const COLAB = 'This is an incomplete sentence where some words are missing.';

// ---------------------------------------------------------------- syntax

test('gap syntax: the colab example, multi-byte text, adjacent gaps', () => {
  const p = parseFillMask('This is an incomplete sentence where some words are[MASK:9]');
  assert.is(p.bytes.length, 60);
  assert.equal(p.gaps, [{ start: 51, end: 60 }]);
  assert.equal(Array.from(p.bytes.subarray(0, 51)), Array.from(utf8(COLAB).subarray(0, 51)));

  const q = parseFillMask('caf[MASK:2] 😀[MASK:4][MASK:1]!\n[MASK:3]');
  assert.equal(q.gaps, [
    { start: 3, end: 5 },
    { start: 10, end: 14 },
    { start: 14, end: 15 },
    { start: 17, end: 20 },
  ]);
  assert.is(q.bytes.length, 20);
});

test('gap syntax: \\[MASK is a literal "[MASK", other backslashes are literal', () => {
  const p = parseFillMask('a\\[MASK:3] b\\n [MASK:2] \\x');
  const text = 'a[MASK:3] b\\n ';
  assert.equal(p.gaps, [{ start: utf8(text).length, end: utf8(text).length + 2 }]);
  assert.is(new TextDecoder().decode(p.bytes.subarray(0, utf8(text).length)), text);
});

test('gap syntax: malformed marks name their position', () => {
  const cases: [string, number, number, number, RegExp][] = [
    ['abc [MASK] def', 4, 1, 5, /states no byte count/],
    ['[MASK:0]', 0, 1, 1, /at least 1/],
    ['x[MASK:]', 1, 1, 2, /empty/],
    ['x[MASK:abc]', 1, 1, 2, /"abc" is not a positive integer/],
    ['x[MASK: 3]', 1, 1, 2, /spaces are not allowed/],
    ['x[MASK:1.5]', 1, 1, 2, /"1.5" is not a positive integer/],
    ['x[MASK:-3]', 1, 1, 2, /not a positive integer/],
    ['line one\n😀é[MASK:3 more', 11, 2, 3, /not closed/],
    ['[MASKED] text', 0, 1, 1, /not a gap mark/],
  ];
  for (const [template, index, line, column, why] of cases) {
    try {
      parseFillMask(template);
      assert.unreachable(`no error for ${template}`);
    } catch (e) {
      assert.instance(e, FillMaskSyntaxError, template);
      const err = e as FillMaskSyntaxError;
      assert.is(err.index, index, `${template}: index`);
      assert.is(err.line, line, `${template}: line`);
      assert.is(err.column, column, `${template}: column`);
      assert.match(err.message, why);
      assert.match(err.message, `at character ${index}`);
      assert.match(err.message, '[MASK:N]');
    }
  }
  assert.throws(() => parseFillMask('ab [MASK:5000]', { maxGapBytes: 2048 }), /at character 3.*at most 2048 bytes/);
});

test('empty text and text without a gap give clear errors', () => {
  assert.throws(() => parseFillMask(''), /the text is empty/);
  assert.throws(() => parseFillMask('no gap here'), /has no gap.*\[MASK:N\]/);
  assert.throws(() => rangesToGaps(0, [[0, 1]]), /the text is empty/);
  assert.throws(() => rangesToGaps(10, []), /no gap/);
  assert.throws(() => rangesToGaps(10, [[5, 11]]), /range 0 \[5,11\].*<= 10/);
  assert.throws(() => rangesToGaps(10, [[3, 3]]), /start < end/);
  assert.throws(() => rangesToGaps(10, [[4, 6], [1, 5]]), /\[1, 5\) and \[4, 6\) overlap/);
  assert.equal(rangesToGaps(10, [[6, 8], [0, 2], [2, 3]]), [
    { start: 0, end: 2 },
    { start: 2, end: 3 },
    { start: 6, end: 8 },
  ]);
});

// ---------------------------------------------------------------- windows

test('window planning: one window when the text fits; centred, grouped windows otherwise', () => {
  assert.equal(planWindows(60, [{ start: 51, end: 60 }], 2048), [{ start: 0, end: 60, gaps: [0] }]);
  assert.equal(planWindows(2048, [{ start: 0, end: 1 }, { start: 2047, end: 2048 }], 2048), [{ start: 0, end: 2048, gaps: [0, 1] }]);

  // A gap right where a naive split would cut (bytes 2040..2056 of 5000).
  const edge = [{ start: 2040, end: 2056 }];
  const [w] = planWindows(5000, edge, 2048);
  assert.is(w.end - w.start, 2048);
  assert.ok(edge[0].start - w.start >= 256 && w.end - edge[0].end >= 256, `window [${w.start}, ${w.end})`);

  // Gaps near each other share a window; far ones get their own; text ends clamp.
  const gaps = [
    { start: 3, end: 5 },
    { start: 100, end: 110 },
    { start: 1700, end: 1710 },
    { start: 3600, end: 3601 },
    { start: 4998, end: 5000 },
  ];
  const ws = planWindows(5000, gaps, 2048);
  assert.equal(ws.map((x) => x.gaps), [[0, 1], [2], [3, 4]]);
  assert.equal([ws[0].start, ws[0].end], [0, 2048]);
  assert.equal([ws[2].start, ws[2].end], [5000 - 2048, 5000]);
  for (const x of ws) {
    for (const gi of x.gaps) {
      const g = gaps[gi];
      assert.ok(g.start >= x.start && g.end <= x.end);
      assert.ok(g.start - x.start >= 256 || x.start === 0);
      assert.ok(x.end - g.end >= 256 || x.end === 5000);
    }
  }
  assert.throws(() => planWindows(5000, [{ start: 10, end: 2100 }], 2048), /covers 2090 bytes.*2048/);
  assert.throws(() => planWindows(5000, gaps, 2048, 1024), /contextMargin/);
});

/**
 * A stand-in model on the CPU: at a MASK position it predicts a byte from the
 * nearest real bytes on its left and right inside its window (0 when there
 * is none), so a gap without context on a side gets a different byte.
 */
function contextModel(windowSize: number): LogitsFn {
  return async (ids, mask, batch) => {
    const out = new Float32Array(batch * windowSize * VOCAB_SIZE).fill(-5);
    for (let b = 0; b < batch; b++) {
      const row = (t: number) => b * windowSize + t;
      const real = (t: number) => mask[row(t)] === 1 && ids[row(t)] >= NUM_RESERVED_TOKENS;
      for (let t = 0; t < windowSize; t++) {
        let id = ids[row(t)];
        if (id === MASK_ID) {
          let l = t - 1;
          while (l >= 0 && !real(l)) l--;
          let r = t + 1;
          while (r < windowSize && !real(r)) r++;
          const lb = l >= 0 ? ids[row(l)] - NUM_RESERVED_TOKENS : 0;
          const rb = r < windowSize ? ids[row(r)] - NUM_RESERVED_TOKENS : 0;
          id = NUM_RESERVED_TOKENS + ((lb * 7 + rb * 13 + 1) % 256);
        }
        if (id >= 0 && id < VOCAB_SIZE) out[row(t) * VOCAB_SIZE + id] = 5;
      }
    }
    return out;
  };
}

function expectedContextByte(bytes: Uint8Array, gaps: { start: number; end: number }[]): Uint8Array {
  const masked = new Uint8Array(bytes.length);
  for (const g of gaps) masked.fill(1, g.start, g.end);
  const out = Uint8Array.from(bytes);
  for (let t = 0; t < bytes.length; t++) {
    if (!masked[t]) continue;
    let l = t - 1;
    while (l >= 0 && masked[l]) l--;
    let r = t + 1;
    while (r < bytes.length && masked[r]) r++;
    out[t] = ((l >= 0 ? bytes[l] : 0) * 7 + (r < bytes.length ? bytes[r] : 0) * 13 + 1) % 256;
  }
  return out;
}

test('windowed fill: every gap gets context on both sides, as a whole-text model would', async () => {
  const W = 64;
  const text = Array.from({ length: 300 }, (_, i) => String.fromCharCode(97 + ((i * 7) % 26))).join('');
  const bytes = utf8(text);
  // gaps at naive window edges (63|64, 127|128, ...) and at the text's ends
  const gaps = rangesToGaps(bytes.length, [[0, 2], [60, 68], [126, 130], [190, 193], [250, 256], [297, 300]]);
  const result = await fillGaps(bytes, gaps, contextModel(W), W, { topK: 3, contextMargin: 8, batchSize: 2 });
  assert.equal(Array.from(result.bytes), Array.from(expectedContextByte(bytes, gaps)));
  assert.ok(result.windows.length > 1);
  for (const g of result.gaps) {
    assert.is(g.window.end - g.window.start, W);
    assert.ok(g.start - g.window.start >= 8 || g.window.start === 0, `gap ${g.start}: left context`);
    assert.ok(g.window.end - g.end >= 8 || g.window.end === bytes.length, `gap ${g.start}: right context`);
    assert.is(g.perByte.length, g.end - g.start);
    assert.is(g.perByte[0].topK.length, 3);
    assert.is(g.perByte[0].topK[0].byte, g.bytes[0]);
  }
});

test('windowed fill equals the single pass when the text fits one window', async () => {
  const W = 64;
  const { bytes, gaps } = parseFillMask('short [MASK:3] text with two [MASK:5] gaps');
  const run = contextModel(W);
  const result = await fillGaps(bytes, gaps, run, W, { contextMargin: 8 });
  assert.equal(result.windows, [{ start: 0, end: bytes.length }]);
  // the single pass by hand: padded to W, mask 0 on padding
  const ids = new Int32Array(W);
  const mask = new Int32Array(W);
  bytes.forEach((b, t) => {
    ids[t] = gaps.some((g) => t >= g.start && t < g.end) ? MASK_ID : b + NUM_RESERVED_TOKENS;
    mask[t] = 1;
  });
  const logits = await run(ids, mask, 1);
  for (const g of result.gaps) {
    for (const p of g.perByte) {
      assert.is(p.byte, predictByte(logits.subarray(p.offset * VOCAB_SIZE, (p.offset + 1) * VOCAB_SIZE), p.offset, 0).byte);
    }
  }
});

test('predictByte: softmax over all 262 ids, the best byte skips special ids', () => {
  const logits = new Float32Array(VOCAB_SIZE).fill(0);
  logits[MASK_ID] = 10; // a special id never becomes a byte
  logits[NUM_RESERVED_TOKENS + 65] = 3;
  logits[NUM_RESERVED_TOKENS + 66] = 2;
  const p = predictByte(logits, 7, 2);
  assert.is(p.byte, 65);
  assert.is(p.offset, 7);
  assert.equal(p.topK.map((c) => c.token), ['A', 'B']);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v);
  assert.ok(Math.abs(p.probability - Math.exp(3) / sum) < 1e-6);
});

test.run();
