// Fill-mask with the released bytes MLM: text with gaps in, the completed
// text plus, per gap, the predicted string and every byte's top-k out.
//
// Gap syntax (in `fillMask(template)`):
//
//   [MASK:N]   a gap of N UTF-8 bytes (N a positive integer, no spaces),
//              e.g. "This is an incomplete sentence where some words are[MASK:9]"
//   \[MASK     the literal characters "[MASK" (the only escape; a backslash
//              anywhere else is an ordinary character)
//
// Any other "[MASK" (e.g. "[MASK]", "[MASK:0]", "[MASK:x]", "[MASKED", an
// unclosed "[MASK:3") is an error naming its character position (counted in
// Unicode code points from 0, plus line and column). N counts bytes, not
// characters: "é" is 2 bytes, "😀" 4. Gaps may be adjacent. For a literal
// backslash right before a gap, use the byte-range form.
//
// Byte-range form (`fillRanges(text, ranges)`): half-open ranges [start, end)
// over the UTF-8 bytes of `text` (the colab masks [51, 60) of its sentence);
// the bytes there are hidden from the model and predicted.
//
// Prediction follows the colab: masked bytes get the MASK id (3) with input
// mask 1, the sequence is right-padded to 2048 with PAD (0) and mask 0, and
// each masked byte takes the most likely *byte* (ids 6..261; the special ids
// are excluded so the completed text keeps every gap's byte count). On the
// colab's example this is the colab's own argmax. The model runs the text's
// bytes only and decodes the gaps' positions only, which is the same as the
// padded 2048-byte pass (perceiver/language/model.ts says why) for a
// fraction of the work.
//
// Texts longer than the model's window (2048 bytes) run as overlapping
// windows of exactly 2048 bytes planned around the gaps: nearby gaps are
// grouped so that a group spans at most `windowSize - 2 * contextMargin`
// bytes, and each group's window is centred on it (clamped to the text), so
// every gap sees at least `contextMargin` bytes (default 256) of real text on
// both sides unless the text itself ends sooner. Each gap is predicted by
// exactly one window; other gaps inside that window stay masked. A text that
// fits one window runs as a single pass, padded.

import { type Gpu, type Tensor, upload, readF32 } from '../../engine/index.ts';
import { tunePending } from '../../engine/tune.ts';
import type { LanguageConfig } from '../config.ts';
import type { ModelWeights } from '../load.ts';
import { Params } from '../layers.ts';
import { languageLogits, type LanguageQueries } from './model.ts';
import { MASK_ID, PAD_ID, NUM_RESERVED_TOKENS, VOCAB_SIZE, utf8, fromUtf8, idToken } from './tokenizer.ts';
import { languageCheckpoint } from './params.ts';
import { checkStored, storedOf } from '../stored.ts';
import { checkLive } from '../guard.ts';

/** A gap: bytes [start, end) of the text's UTF-8 bytes. */
export interface Gap {
  start: number;
  end: number;
}

/** [start, end) over UTF-8 bytes, as in the colab's `tokens[51:60]`. */
export type ByteRange = readonly [start: number, end: number];

export interface ByteCandidate {
  byte: number;
  /** tokenizer id (byte + 6) */
  id: number;
  /** printable form: the character for printable ASCII, else \xNN */
  token: string;
  /** softmax probability over the full 262-id vocabulary */
  probability: number;
}

export interface BytePrediction {
  /** byte offset in the text */
  offset: number;
  /** the chosen byte (the most likely byte id) */
  byte: number;
  probability: number;
  /** the k most likely bytes, most likely first */
  topK: ByteCandidate[];
}

export interface FilledGap extends Gap {
  /** the predicted bytes decoded alone (UTF-8, replacement characters for invalid sequences) */
  text: string;
  bytes: Uint8Array;
  perByte: BytePrediction[];
  /** the window, in text bytes, whose forward pass predicted this gap */
  window: Gap;
}

export interface FillMaskResult {
  /** the text with every gap filled (decoded as a whole, with replacement characters) */
  text: string;
  bytes: Uint8Array;
  gaps: FilledGap[];
  /** the model windows that ran (one when the text fits 2048 bytes) */
  windows: Gap[];
}

export interface FillMaskOptions {
  /** candidates per byte (default 5, 0 for none, at most 256) */
  topK?: number;
  /** windows per forward pass (default 1) */
  batchSize?: number;
  /** least real-text context on each side of a gap when windowing (default windowSize / 8) */
  contextMargin?: number;
  onProgress?(windowsDone: number, windowsTotal: number): void;
}

/** A gap mark that does not parse; `index` counts code points from 0. */
export class FillMaskSyntaxError extends Error {
  constructor(
    message: string,
    readonly index: number,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
    this.name = 'FillMaskSyntaxError';
  }
}

const OPEN = '[MASK';
const ESCAPED_OPEN = '\\[MASK';
const MARK = /^\[MASK:(\d+)\]/;
const SYNTAX = 'a gap is written [MASK:N], N the number of UTF-8 bytes it covers (e.g. [MASK:9]); write \\[MASK for a literal "[MASK"';

function position(s: string, i: number): { index: number; line: number; column: number } {
  const before = s.slice(0, i);
  const lines = before.split('\n');
  return { index: [...before].length, line: lines.length, column: [...lines[lines.length - 1]].length + 1 };
}

function malformed(s: string, i: number, reason: string): FillMaskSyntaxError {
  const close = s.indexOf(']', i);
  const end = close >= 0 && close - i < 24 ? close + 1 : Math.min(s.length, i + 12);
  const snippet = s.slice(i, end).replace(/\n/g, '\\n');
  const p = position(s, i);
  return new FillMaskSyntaxError(
    `fill-mask: malformed gap mark "${snippet}" at character ${p.index} (line ${p.line}, column ${p.column}): ${reason}; ${SYNTAX}`,
    p.index,
    p.line,
    p.column,
  );
}

function whyMalformed(rest: string): string {
  if (rest.startsWith('[MASK]')) return 'it states no byte count';
  if (!rest.startsWith('[MASK:')) return 'it is not a gap mark';
  const digits = /^\[MASK:(\d*)/.exec(rest)![1];
  const next = rest.charAt(6 + digits.length);
  if (digits && (next === '' || /\s/.test(next))) return 'the mark is not closed with "]"';
  if (!digits && next === ']') return 'the byte count is empty';
  if (!digits && /\s/.test(next)) return 'spaces are not allowed inside a gap mark';
  if (next !== ']') {
    const word = /^[^\]\s]*/.exec(rest.slice(6))![0];
    return `the byte count "${word}" is not a positive integer`;
  }
  return 'the byte count must be at least 1';
}

export interface ParsedTemplate {
  /** the text's UTF-8 bytes, gap bytes set to 0 */
  bytes: Uint8Array;
  gaps: Gap[];
}

/**
 * Parses the gap syntax. `maxGapBytes` (the model's window) bounds a single
 * gap. Throws FillMaskSyntaxError for a malformed mark, Error for an empty
 * text or one without a gap.
 */
export function parseFillMask(template: string, opts: { maxGapBytes?: number } = {}): ParsedTemplate {
  if (typeof template !== 'string') throw new TypeError(`fill-mask: expected a string, got ${typeof template}`);
  const maxGap = opts.maxGapBytes ?? Infinity;
  const parts: Uint8Array[] = [];
  const gaps: Gap[] = [];
  let length = 0;
  let literal = '';
  const flush = () => {
    if (!literal) return;
    const b = utf8(literal);
    parts.push(b);
    length += b.length;
    literal = '';
  };
  let i = 0;
  while (i < template.length) {
    if (template.startsWith(ESCAPED_OPEN, i)) {
      literal += OPEN;
      i += ESCAPED_OPEN.length;
      continue;
    }
    if (template.startsWith(OPEN, i)) {
      const rest = template.slice(i, i + 64);
      const m = MARK.exec(rest);
      const n = m ? Number(m[1]) : 0;
      if (!m || n < 1) throw malformed(template, i, whyMalformed(rest));
      if (n > maxGap) throw malformed(template, i, `a gap can cover at most ${maxGap} bytes (the model's window)`);
      flush();
      gaps.push({ start: length, end: length + n });
      parts.push(new Uint8Array(n));
      length += n;
      i += m[0].length;
      continue;
    }
    literal += template[i];
    i++;
  }
  flush();
  if (length === 0) throw new Error('fill-mask: the text is empty');
  if (gaps.length === 0) throw new Error(`fill-mask: the text has no gap; ${SYNTAX}`);
  const bytes = new Uint8Array(length);
  let o = 0;
  for (const p of parts) {
    bytes.set(p, o);
    o += p.length;
  }
  return { bytes, gaps };
}

/** Checks byte ranges over a text of `length` bytes; returns them sorted as gaps. */
export function rangesToGaps(length: number, ranges: readonly ByteRange[]): Gap[] {
  if (length === 0) throw new Error('fill-mask: the text is empty');
  if (!Array.isArray(ranges) || ranges.length === 0) throw new Error('fill-mask: no gap: give at least one byte range [start, end)');
  const gaps = ranges.map((r, k) => {
    const [start, end] = Array.isArray(r) ? r : [NaN, NaN];
    if (!Number.isInteger(start) || !Number.isInteger(end) || !(0 <= start && start < end && end <= length)) {
      throw new Error(`fill-mask: byte range ${k} ${JSON.stringify(r)} must be [start, end) with integers 0 <= start < end <= ${length} (the text's UTF-8 length)`);
    }
    return { start, end };
  });
  gaps.sort((a, b) => a.start - b.start);
  for (let k = 1; k < gaps.length; k++) {
    if (gaps[k].start < gaps[k - 1].end) {
      throw new Error(`fill-mask: byte ranges [${gaps[k - 1].start}, ${gaps[k - 1].end}) and [${gaps[k].start}, ${gaps[k].end}) overlap`);
    }
  }
  return gaps;
}

export interface PlannedWindow extends Gap {
  /** indices of the gaps this window predicts */
  gaps: number[];
}

/**
 * Plans the model windows for a text of `length` bytes with sorted,
 * non-overlapping gaps (see the header comment). A text that fits gives one
 * window [0, length).
 */
export function planWindows(length: number, gaps: readonly Gap[], windowSize: number, contextMargin = Math.floor(windowSize / 8)): PlannedWindow[] {
  if (!(Number.isInteger(contextMargin) && contextMargin >= 0 && 2 * contextMargin < windowSize)) {
    throw new Error(`fill-mask: contextMargin must be an integer in [0, ${Math.ceil(windowSize / 2) - 1}] for a ${windowSize}-byte window, got ${contextMargin}`);
  }
  if (length <= windowSize) return [{ start: 0, end: length, gaps: gaps.map((_, i) => i) }];
  for (const g of gaps) {
    if (g.end - g.start > windowSize) {
      throw new Error(`fill-mask: the gap at bytes [${g.start}, ${g.end}) covers ${g.end - g.start} bytes; a gap can cover at most the model's window, ${windowSize} bytes`);
    }
  }
  const budget = windowSize - 2 * contextMargin;
  const windows: PlannedWindow[] = [];
  for (let i = 0; i < gaps.length; ) {
    const s = gaps[i].start;
    let e = gaps[i].end;
    let j = i + 1;
    while (j < gaps.length && gaps[j].end - s <= budget) e = gaps[j++].end;
    const start = Math.min(Math.max(Math.round((s + e) / 2 - windowSize / 2), 0), length - windowSize);
    windows.push({ start, end: start + windowSize, gaps: Array.from({ length: j - i }, (_, k) => i + k) });
    i = j;
  }
  return windows;
}

/**
 * The model as fill-mask sees it: ids and mask i32 [batch, length] (length
 * at most the model's window; a shorter input is the same as one padded with
 * PAD and mask 0) and the positions to predict, i32 [batch, n] -> logits
 * f32 [batch, n, 262] at those positions.
 */
export type LogitsFn = (ids: Int32Array, mask: Int32Array, batch: number, positions: Int32Array) => Promise<Float32Array>;

/** Top-k byte candidates and the chosen byte from one position's logits. */
export function predictByte(logits: Float32Array, offset: number, k: number): BytePrediction {
  let max = -Infinity;
  for (let v = 0; v < VOCAB_SIZE; v++) max = Math.max(max, logits[v]);
  let sum = 0;
  for (let v = 0; v < VOCAB_SIZE; v++) sum += Math.exp(logits[v] - max);
  const prob = (v: number) => Math.exp(logits[v] - max) / sum;
  let best = NUM_RESERVED_TOKENS;
  for (let v = NUM_RESERVED_TOKENS + 1; v < VOCAB_SIZE; v++) if (logits[v] > logits[best]) best = v;
  const topK: ByteCandidate[] = [];
  if (k > 0) {
    const order = Array.from({ length: VOCAB_SIZE - NUM_RESERVED_TOKENS }, (_, b) => b + NUM_RESERVED_TOKENS);
    order.sort((a, b) => logits[b] - logits[a] || a - b);
    for (const id of order.slice(0, k)) topK.push({ byte: id - NUM_RESERVED_TOKENS, id, token: idToken(id), probability: prob(id) });
  }
  return { offset, byte: best - NUM_RESERVED_TOKENS, probability: prob(best), topK };
}

/**
 * Fills the gaps of `bytes` (their content is ignored) with a model given as
 * a logits function of fixed window size. The engine-free core of fill-mask.
 */
export async function fillGaps(bytes: Uint8Array, gaps: readonly Gap[], run: LogitsFn, windowSize: number, opts: FillMaskOptions = {}): Promise<FillMaskResult> {
  const topK = opts.topK ?? 5;
  if (!(Number.isInteger(topK) && topK >= 0 && topK <= 256)) throw new Error(`fill-mask: topK must be an integer in [0, 256], got ${topK}`);
  const batchSize = opts.batchSize ?? 1;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new Error(`fill-mask: batchSize must be a positive integer, got ${batchSize}`);
  if (bytes.length === 0) throw new Error('fill-mask: the text is empty');
  if (gaps.length === 0) throw new Error('fill-mask: the text has no gap');
  const windows = planWindows(bytes.length, gaps, windowSize, opts.contextMargin);

  const masked = new Uint8Array(bytes.length);
  for (const g of gaps) masked.fill(1, g.start, g.end);
  const filled = Uint8Array.from(bytes);
  const results: FilledGap[] = new Array(gaps.length);
  const V = VOCAB_SIZE;
  for (let w0 = 0; w0 < windows.length; w0 += batchSize) {
    const group = windows.slice(w0, w0 + batchSize);
    // the windows' bytes (all windowSize long, or the one window of a short text)
    const length = Math.max(...group.map((w) => w.end - w.start));
    const ids = new Int32Array(group.length * length).fill(PAD_ID);
    const mask = new Int32Array(group.length * length);
    // the positions to predict: the bytes of the gaps each window predicts (rows padded with their first position)
    const rows = group.map((w) => w.gaps.flatMap((gi) => Array.from({ length: gaps[gi].end - gaps[gi].start }, (_, k) => gaps[gi].start + k - w.start)));
    const n = Math.max(...rows.map((r) => r.length));
    const positions = new Int32Array(group.length * n);
    group.forEach((w, b) => {
      for (let p = w.start; p < w.end; p++) {
        const o = b * length + (p - w.start);
        ids[o] = masked[p] ? MASK_ID : bytes[p] + NUM_RESERVED_TOKENS;
        mask[o] = 1;
      }
      positions.fill(rows[b][0], b * n, (b + 1) * n);
      positions.set(rows[b], b * n);
    });
    const logits = await run(ids, mask, group.length, positions);
    if (logits.length !== group.length * n * V) {
      throw new Error(`fill-mask: the model gave ${logits.length} logits, expected [${group.length}, ${n}, ${V}]`);
    }
    group.forEach((w, b) => {
      let k = b * n;
      for (const gi of w.gaps) {
        const g = gaps[gi];
        const perByte: BytePrediction[] = [];
        for (let p = g.start; p < g.end; p++, k++) {
          const pred = predictByte(logits.subarray(k * V, (k + 1) * V), p, topK);
          filled[p] = pred.byte;
          perByte.push(pred);
        }
        const gb = Uint8Array.from(perByte, (q) => q.byte);
        results[gi] = { start: g.start, end: g.end, text: fromUtf8(gb), bytes: gb, perByte, window: { start: w.start, end: w.end } };
      }
    });
    opts.onProgress?.(Math.min(w0 + batchSize, windows.length), windows.length);
  }
  return { text: fromUtf8(filled), bytes: filled, gaps: results, windows: windows.map((w) => ({ start: w.start, end: w.end })) };
}

/** The language-mlm preset with its weights on a GPU, and fill-mask on top. */
export class MaskedLanguageModel {
  readonly params: Params;
  /** The loader's weights, owned by this model (null when built from weights the caller owns). */
  loaded: ModelWeights | null = null;

  constructor(
    readonly gpu: Gpu,
    readonly config: LanguageConfig,
    weights: ReadonlyMap<string, Tensor>,
  ) {
    if (config.preset !== 'language-mlm') throw new Error(`MaskedLanguageModel needs the language-mlm preset, got ${(config as { preset: string }).preset}`);
    checkStored(config.preset, storedOf((b) => languageCheckpoint(b, config)), weights);
    this.params = new Params(weights);
  }

  private disposed = false;

  /** The fixed model length (2048 bytes for the released model). */
  get windowSize(): number {
    return this.config.maxSeqLen;
  }

  /**
   * ids, mask i32 [batch, L] (L <= windowSize; shorter is the same as padded
   * with PAD and mask 0) -> logits [batch, L, 262] on the host, or
   * [batch, n, 262] at `positions` (i32 [batch, n], each in [0, L)).
   */
  async logits(ids: Int32Array, mask: Int32Array, batch: number, positions?: Int32Array): Promise<Float32Array> {
    checkLive(this.disposed, 'MaskedLanguageModel');
    await this.ready();
    const T = this.windowSize;
    const L = ids.length / batch;
    const n = positions ? positions.length / batch : L;
    if (!(Number.isInteger(L) && L >= 1 && L <= T && mask.length === ids.length && Number.isInteger(n) && n >= 1)) {
      throw new Error(`MaskedLanguageModel.logits: ids and mask must hold [${batch}, L] values with 1 <= L <= ${T}${positions ? `, positions [${batch}, n]` : ''}; got ${ids.length} and ${mask.length}${positions ? ` and ${positions.length}` : ''}`);
    }
    const gpu = this.gpu;
    const inputs = [upload(gpu, ids, [batch, L], 'i32'), upload(gpu, mask, [batch, L], 'i32')];
    let queries: LanguageQueries | undefined;
    if (positions) {
      if (positions.some((p) => !(p >= 0 && p < L))) throw new Error(`MaskedLanguageModel.logits: positions must lie in [0, ${L})`);
      const at = positions.map((p, i) => mask[Math.floor(i / n) * L + p]);
      queries = { positions: upload(gpu, positions, [batch, n], 'i32'), mask: upload(gpu, at, [batch, n], 'i32') };
      inputs.push(queries.positions, queries.mask);
    }
    const out = languageLogits(gpu, inputs[0], inputs[1], this.params, this.config, queries);
    inputs.forEach((t) => t.dispose());
    const host = await readF32(out).finally(() => out.dispose());
    await tunePending(gpu); // kernels for the shapes this forward used (engine/tune.ts)
    return host;
  }

  /** Fills the [MASK:N] gaps of `template` (syntax in the header comment). */
  fillMask(template: string, opts: FillMaskOptions = {}): Promise<FillMaskResult> {
    checkLive(this.disposed, 'MaskedLanguageModel');
    const { bytes, gaps } = parseFillMask(template, { maxGapBytes: this.windowSize });
    return fillGaps(bytes, gaps, (i, m, b, p) => this.logits(i, m, b, p), this.windowSize, opts);
  }

  /** Fills byte ranges [start, end) of `text`'s UTF-8 bytes. */
  fillRanges(text: string, ranges: readonly ByteRange[], opts: FillMaskOptions = {}): Promise<FillMaskResult> {
    checkLive(this.disposed, 'MaskedLanguageModel');
    if (typeof text !== 'string') throw new TypeError(`fill-mask: expected a string, got ${typeof text}`);
    const bytes = utf8(text);
    const gaps = rangesToGaps(bytes.length, ranges);
    return fillGaps(bytes, gaps, (i, m, b, p) => this.logits(i, m, b, p), this.windowSize, opts);
  }

  /** Resolves when the model can run: after a device loss, once it has a new device and its weights again (docs/reliability.md). */
  ready(): Promise<void> {
    return this.loaded ? this.loaded.ready(() => {}) : this.gpu.recover();
  }

  /** Frees the weights the loader uploaded (weights the caller passed stay theirs); a later call throws. */
  dispose(): void {
    this.disposed = true;
    this.loaded?.dispose();
  }
}
