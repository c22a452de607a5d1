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
import { fixtureSpec, maxRelError } from '../../bench/fixture.ts';
import { convertToWeightFile } from '../../tools/convert.ts';
import { readNpz } from '../../tools/npy.ts';
import { defaultConfig, type LanguageConfig } from '../../perceiver/config.ts';
import { expectedParams, countParams } from '../../perceiver/params.ts';
import { Params } from '../../perceiver/layers.ts';
import { languageLogits } from '../../perceiver/language/model.ts';
import { loadMaskedLanguageModel } from '../../perceiver/language/load.ts';
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
import { utf8, MASK_ID, NUM_RESERVED_TOKENS, VOCAB_SIZE } from '../../perceiver/language/tokenizer.ts';
import { skip } from '../skip.ts';
import { tinyLanguageConfig } from './tiny.ts';

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
  return async (ids, mask, batch, positions) => {
    const L = ids.length / batch;
    const n = positions.length / batch;
    assert.ok(L <= windowSize, `the input fits the window: ${L} <= ${windowSize}`);
    const out = new Float32Array(batch * n * VOCAB_SIZE).fill(-5);
    for (let b = 0; b < batch; b++) {
      const row = (t: number) => b * L + t;
      const real = (t: number) => mask[row(t)] === 1 && ids[row(t)] >= NUM_RESERVED_TOKENS;
      for (let k = 0; k < n; k++) {
        const t = positions[b * n + k];
        let id = ids[row(t)];
        if (id === MASK_ID) {
          let l = t - 1;
          while (l >= 0 && !real(l)) l--;
          let r = t + 1;
          while (r < L && !real(r)) r++;
          const lb = l >= 0 ? ids[row(l)] - NUM_RESERVED_TOKENS : 0;
          const rb = r < L ? ids[row(r)] - NUM_RESERVED_TOKENS : 0;
          id = NUM_RESERVED_TOKENS + ((lb * 7 + rb * 13 + 1) % 256);
        }
        if (id >= 0 && id < VOCAB_SIZE) out[(b * n + k) * VOCAB_SIZE + id] = 5;
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
  const logits = await run(ids, mask, 1, Int32Array.from({ length: W }, (_, t) => t));
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

// ---------------------------------------------------------------- the model

test('language-mlm parameters: the full manifest, name for name and shape for shape; 201,108,230 in all', () => {
  const file = join(GOLDEN, 'manifest_language_mlm.json');
  if (!existsSync(file)) {
    skip(`${file} is absent`);
    return;
  }
  const manifest = (JSON.parse(readFileSync(file, 'utf8')) as { params: Record<string, number[]> }).params;
  const expected = expectedParams(defaultConfig('language-mlm'));
  assert.equal([...expected.keys()].sort(), Object.keys(manifest).sort());
  for (const [name, shape] of expected) assert.equal(shape, manifest[name], name);
  assert.is(countParams(defaultConfig('language-mlm')), 201_108_230);
});

test("golden fixture: DeepMind's logits [2, 2048, 262] through a converted weight file; fill-mask of its colab row", async () => {
  if (!existsSync(join(GOLDEN, 'language_mlm.pystate'))) {
    skip(`${GOLDEN} is absent (the golden fixtures are read in place)`);
    return;
  }
  const gpu = await testGpu();
  const { overrides } = fixtureSpec(GOLDEN, 'language_mlm');
  const file = convertToWeightFile(readFileSync(join(GOLDEN, 'language_mlm.pystate')), 'language-mlm', overrides, 'f32');
  const model = await loadMaskedLanguageModel(gpu, file);
  const arrays = readNpz(readFileSync(join(GOLDEN, 'language_mlm.npz')));
  const ids = arrays.get('inputs')!.data as Int32Array;
  const mask = arrays.get('input_mask')!.data as Int32Array;
  const ref = arrays.get('logits')!.data as Float32Array;
  const t0 = performance.now();
  const logits = await model.logits(ids, mask, 2);
  const seconds = (performance.now() - t0) / 1000;
  const err = maxRelError(logits, ref);
  console.log(`  language_mlm: max relative error ${err.toExponential(2)} in ${seconds.toFixed(1)} s`);
  assert.ok(err < TOLERANCE, `max relative error ${err}`);

  // Row 0 is the colab's input: its sentence with bytes [51, 60) masked, padded.
  assert.equal(Array.from(ids.subarray(51, 60)), new Array(9).fill(MASK_ID));
  const filled = await model.fillMask('This is an incomplete sentence where some words are[MASK:9]', { topK: 3 });
  const want = Array.from({ length: 9 }, (_, i) => predictByte(ref.subarray((51 + i) * VOCAB_SIZE, (52 + i) * VOCAB_SIZE), 51 + i, 3));
  assert.equal(Array.from(filled.gaps[0].bytes), want.map((p) => p.byte));
  filled.gaps[0].perByte.forEach((p, i) => {
    assert.equal(p.topK.map((c) => c.byte), want[i].topK.map((c) => c.byte));
    assert.ok(Math.abs(p.probability - want[i].probability) < 1e-4);
  });
  assert.equal(Array.from(filled.bytes.subarray(0, 51)), Array.from(utf8(COLAB).subarray(0, 51)));
  for (const t of model.params.tensors.values()) t.dispose();
});

/** A tiny language-mlm (48-byte window) with random weights at the released scales. */
function tinyModel(gpu: Awaited<ReturnType<typeof testGpu>>): { model: MaskedLanguageModel; weights: Map<string, Tensor> } {
  const cfg = tinyLanguageConfig(2);
  const weights = new Map<string, Tensor>();
  let seed = 3;
  for (const [name, shape] of expectedParams(cfg)) {
    const n = shape.reduce((a, d) => a * d, 1);
    let data: Float32Array;
    if (name.endsWith('/scale')) data = new Float32Array(n).fill(1);
    else if (name.endsWith('/w')) data = randn(n, seed++, Math.sqrt(3 / shape[0]));
    else if (name.endsWith('pos_embs') || name.endsWith('/b') || name.endsWith('/offset')) data = randn(n, seed++, 0.1);
    else data = randn(n, seed++, 1);
    weights.set(name, upload(gpu, data, shape));
  }
  return { model: new MaskedLanguageModel(gpu, cfg, weights), weights };
}

test('tiny model: fill-mask equals a hand-made single pass when the text fits one window', async () => {
  const gpu = await testGpu();
  const { model, weights } = tinyModel(gpu);
  const W = model.windowSize;
  const result = await model.fillMask('Gaps: [MASK:3] and é[MASK:2]!', { topK: 4 });
  const { bytes, gaps } = parseFillMask('Gaps: [MASK:3] and é[MASK:2]!');
  const ids = new Int32Array(W);
  const mask = new Int32Array(W);
  bytes.forEach((b, t) => {
    ids[t] = gaps.some((g) => t >= g.start && t < g.end) ? MASK_ID : b + NUM_RESERVED_TOKENS;
    mask[t] = 1;
  });
  const x = upload(gpu, ids, [1, W], 'i32');
  const m = upload(gpu, mask, [1, W], 'i32');
  const out = languageLogits(gpu, x, m, model.params, model.config);
  const logits = await readF32(out);
  [x, m, out].forEach((t) => t.dispose());
  assert.equal(result.windows, [{ start: 0, end: bytes.length }]);
  for (const g of result.gaps) {
    for (const p of g.perByte) {
      const want = predictByte(logits.subarray(p.offset * VOCAB_SIZE, (p.offset + 1) * VOCAB_SIZE), p.offset, 4);
      assert.is(p.byte, want.byte);
      assert.ok(Math.abs(p.probability - want.probability) < 1e-5);
      assert.equal(p.topK.map((c) => c.byte), want.topK.map((c) => c.byte));
    }
  }
  // the completed text keeps the literal bytes and has the gaps' byte counts
  assert.is(result.bytes.length, bytes.length);
  assert.equal(Array.from(result.bytes.subarray(0, 6)), Array.from(utf8('Gaps: ')));
  for (const t of weights.values()) t.dispose();
});

test('tiny model: the real bytes alone, and any subset of positions, give the padded full pass', async () => {
  const gpu = await testGpu();
  const { model, weights } = tinyModel(gpu);
  const W = model.windowSize;
  const L = 20;
  const real = [20, 13]; // row 1 is padded inside the short input too
  const full = { ids: new Int32Array(2 * W), mask: new Int32Array(2 * W) };
  const short = { ids: new Int32Array(2 * L), mask: new Int32Array(2 * L) };
  real.forEach((n, b) => {
    for (let t = 0; t < n; t++) {
      const id = t % 5 === 2 ? MASK_ID : NUM_RESERVED_TOKENS + ((t * 37 + b * 11) % 256);
      full.ids[b * W + t] = short.ids[b * L + t] = id;
      full.mask[b * W + t] = short.mask[b * L + t] = 1;
    }
  });
  const V = VOCAB_SIZE;
  const ref = await model.logits(full.ids, full.mask, 2); // [2, W, V], as the original runs it
  const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const diff = (got: Float32Array, at: (i: number) => number) => got.reduce((m, v, i) => Math.max(m, Math.abs(v - ref[at(i)])), 0) / scale;
  const all = await model.logits(short.ids, short.mask, 2); // [2, L, V]
  const allErr = diff(all, (i) => Math.floor(i / (L * V)) * W * V + (i % (L * V)));
  const positions = Int32Array.of(2, 7, 19, 0, 12, 15); // row 1's 15 is padding: its query is masked, as in the full pass
  const some = await model.logits(short.ids, short.mask, 2, positions); // [2, 3, V]
  const someErr = diff(some, (i) => {
    const q = Math.floor(i / V);
    return (Math.floor(q / 3) * W + positions[q]) * V + (i % V);
  });
  console.log(`  truncated: ${allErr.toExponential(2)}, 6 positions: ${someErr.toExponential(2)} (relative to the largest logit)`);
  assert.ok(allErr < 1e-5 && someErr < 1e-5, `${allErr} ${someErr}`);
  try {
    await model.logits(short.ids, short.mask, 2, Int32Array.of(0, 20));
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /positions must lie in \[0, 20\)/);
  }
  for (const t of weights.values()) t.dispose();
});

test('tiny model: each windowed gap equals the single pass over its own window; batching changes nothing', async () => {
  const gpu = await testGpu();
  const { model, weights } = tinyModel(gpu);
  const W = model.windowSize;
  const text = 'The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. '.repeat(3).slice(0, 230);
  // gaps where a naive 48-byte split would cut (47|48, 95|96, ...), and at both ends
  const ranges: [number, number][] = [[0, 3], [45, 50], [94, 97], [150, 153], [190, 192], [226, 230]];
  const windowed = await model.fillRanges(text, ranges, { topK: 3, contextMargin: 6 });
  const batched = await model.fillRanges(text, ranges, { topK: 3, contextMargin: 6, batchSize: 3 });
  assert.ok(windowed.windows.length > 1);
  assert.equal(Array.from(batched.bytes), Array.from(windowed.bytes));
  const bytes = utf8(text);
  for (const g of windowed.gaps) {
    const w = g.window;
    assert.is(w.end - w.start, W);
    assert.ok(g.start - w.start >= 6 || w.start === 0, `gap ${g.start}: left context`);
    assert.ok(w.end - g.end >= 6 || w.end === bytes.length, `gap ${g.start}: right context`);
    // the same window as a text of its own, every gap inside it (clipped) masked
    const inside = ranges
      .map(([s, e]) => [Math.max(s, w.start) - w.start, Math.min(e, w.end) - w.start] as [number, number])
      .filter(([s, e]) => s < e);
    const alone = await model.fillRanges(text.slice(w.start, w.end), inside, { topK: 3 });
    assert.equal(alone.windows, [{ start: 0, end: W }]);
    const same = alone.gaps.find((a) => a.start === g.start - w.start)!;
    assert.equal(Array.from(same.bytes), Array.from(g.bytes), `gap ${g.start}`);
    g.perByte.forEach((p, i) => assert.ok(Math.abs(p.probability - same.perByte[i].probability) < 1e-5));
  }
  for (const t of weights.values()) t.dispose();
});

test("released weights (PERCEIVER_MLM_WEIGHTS): the colab's example", async () => {
  const file = process.env.PERCEIVER_MLM_WEIGHTS;
  if (!file) {
    skip('set PERCEIVER_MLM_WEIGHTS to a converted language_perceiver_io_bytes.pickle');
    return;
  }
  const gpu = await testGpu();
  const model = await loadMaskedLanguageModel(gpu, readFileSync(file));
  const byRange = await model.fillRanges(COLAB, [[51, 60]]);
  assert.equal(Array.from(byRange.gaps[0].bytes, (b) => b + NUM_RESERVED_TOKENS), [38, 115, 111, 121, 121, 111, 116, 109, 52]);
  assert.is(byRange.gaps[0].text, ' missing.');
  assert.is(byRange.text, COLAB);
  const byMark = await model.fillMask('This is an incomplete sentence where some words are[MASK:9]');
  assert.is(byMark.text, COLAB);
  for (const t of model.params.tensors.values()) t.dispose();
});

test.run();
