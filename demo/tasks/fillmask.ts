// Fill-mask: text with [MASK:N] gaps -> the bytes MLM -> the completed text,
// each gap's prediction and every byte's top candidates. Each forward runs in
// the model worker; the page parses the gaps and picks the bytes.

import { parseFillMask, fillGaps, type FillMaskResult } from '../../perceiver/language/index.ts';
import type { RemoteMaskedLanguageModel } from '../../worker/index.ts';
import { WeightsCard, type LoadedInfo } from '../weights.ts';
import { h, clear, barChart, message, Stages } from '../ui.ts';
import { type PanelContext, type Panel, type CheckResult, errorBox, runCheck } from '../common.ts';

const EXAMPLE = 'This is an incomplete sentence where some words are[MASK:9]';

export function fillMaskPanel(ctx: PanelContext): Panel {
  const { manifest } = ctx;
  let model: RemoteMaskedLanguageModel | null = null;
  let info: LoadedInfo | null = null;
  let last: { text: string; gaps: { text: string; start: number; end: number }[]; stages: Record<string, number> } | null = null;

  const text = h('textarea#fillmask-text', { rows: 4, spellcheck: 'false' });
  text.value = EXAMPLE;
  const result = h('div.result#fillmask-result');
  const checkResult = h('div#fillmask-check-result');
  const runButton = h('button.primary#fillmask-run', { type: 'button', disabled: true, onclick: () => void fill() }, 'Fill the gaps');
  const checkButton = h('button#fillmask-check', { type: 'button', disabled: true, onclick: () => void check() }, 'Check against the reference fixture');
  const note = h('p.note', { hidden: true }, 'These are random-weight test weights: the filled text is noise, but the logits must match the reference.');

  const weights = new WeightsCard(
    'fillmask',
    manifest,
    (src, opts) => ctx.worker.loadMaskedLanguageModel(src, opts),
    (m, i) => {
      model = m;
      info = i;
      runButton.disabled = false;
      checkButton.disabled = !i.fixture;
      note.hidden = !/golden/.test(i.name);
    },
    () => {
      clear(checkResult);
      clear(result);
      model?.dispose().catch(() => {}); // (a worker that failed has nothing left to free)
      model = null;
      info = null;
      runButton.disabled = checkButton.disabled = true;
    },
  );

  function render(r: FillMaskResult, s: Stages) {
    const pieces: (Node | string)[] = [];
    const dec = new TextDecoder();
    let at = 0;
    for (const g of r.gaps) {
      pieces.push(dec.decode(r.bytes.subarray(at, g.start)));
      pieces.push(h('mark', { title: `bytes ${g.start}..${g.end}` }, g.text));
      at = g.end;
    }
    pieces.push(dec.decode(r.bytes.subarray(at)));
    clear(
      result,
      h('h4', {}, 'Completed text'),
      h('p.filled#fillmask-filled', {}, ...pieces),
      ...r.gaps.map((g, gi) =>
        h(
          'details.gap',
          { open: gi === 0 },
          h('summary', {}, `gap ${gi + 1}: bytes ${g.start}–${g.end} → “${g.text}”`),
          h(
            'div.byte-grid',
            {},
            ...g.perByte.map((p) =>
              h('div.byte', {}, h('div.byte-head', {}, `byte ${p.offset}`), barChart(p.topK.slice(0, 3).map((c) => ({ label: c.token, value: c.probability })), 'small')),
            ),
          ),
        ),
      ),
      h('h4', {}, 'Timings'),
      s.table(),
    );
  }

  async function fill(): Promise<FillMaskResult | null> {
    if (!model) return null;
    const m = model;
    runButton.disabled = true;
    clear(result, message('info', 'Filling…'));
    const s = new Stages();
    try {
      const { bytes, gaps } = await s.run('parse gaps, UTF-8', () => parseFillMask(text.value, { maxGapBytes: m.windowSize }));
      let forward = 0;
      const t = performance.now();
      const r = await fillGaps(
        bytes,
        gaps,
        async (ids, mask, b, positions) => {
          const t0 = performance.now();
          const out = await m.logits(ids, mask, b, positions);
          forward += performance.now() - t0;
          return out;
        },
        m.windowSize,
        { topK: 5 },
      );
      const predicted = r.gaps.reduce((n, g) => n + g.end - g.start, 0);
      const window = r.windows.length > 1 ? `${r.windows.length} windows of ${m.windowSize} bytes` : `${bytes.length} bytes`;
      s.add(`forward + read back (${window}, ${predicted} positions decoded)`, forward);
      s.add('pick bytes, top-5', performance.now() - t - forward);
      last = { text: r.text, gaps: r.gaps.map((g) => ({ text: g.text, start: g.start, end: g.end })), stages: s.toJSON() };
      render(r, s);
      return r;
    } catch (e) {
      clear(result, errorBox('Fill-mask failed', e));
      return null;
    } finally {
      runButton.disabled = !model;
    }
  }

  /**
   * The fixture's rows through the loaded weights. By default the input stops
   * after the last real byte of either row and every position up to there is
   * compared (the padding after it is masked out of the encoder and never
   * decoded here; perceiver/language/model.ts says why that is the same
   * computation); `full` runs the whole padded [2, 2048] input and compares
   * all 2048 positions, as the original model runs it.
   */
  async function check(opts: { full?: boolean } = {}): Promise<CheckResult | null> {
    if (!model || !info?.fixture) return null;
    const m = model;
    return runCheck(manifest, info.fixture, info.dtype, checkButton, checkResult, () => !!info?.fixture, async (a) => {
      const [B, T] = a.get('inputs')!.shape;
      const ids = a.get('inputs')!.data as Int32Array;
      const mask = a.get('input_mask')!.data as Int32Array;
      const ref = a.get('logits')!.data as Float32Array;
      const V = ref.length / (B * T);
      let L = T;
      if (!opts.full) L = Math.max(...Array.from({ length: B }, (_, b) => mask.subarray(b * T, (b + 1) * T).lastIndexOf(1) + 1));
      const rows = (x: Int32Array | Float32Array, per: number) => {
        const out = new (x.constructor as Int32ArrayConstructor | Float32ArrayConstructor)(B * L * per);
        for (let b = 0; b < B; b++) out.set(x.subarray(b * T * per, (b * T + L) * per), b * L * per);
        return out;
      };
      const logits = await m.logits(rows(ids, 1) as Int32Array, rows(mask, 1) as Int32Array, B);
      const what = opts.full
        ? `logits [${B}, ${T}, ${V}] for the fixture's byte ids and masks, all positions (the padded input as the original runs it)`
        : `logits [${B}, ${L}, ${V}]: every real byte of the fixture's ${B} rows, the input cut after the last of them (the padding is masked, so the rest of the input cannot change these)`;
      return { ours: logits, ref: rows(ref, V) as Float32Array, shape: [B, L, V], what, output: [] };
    });
  }

  const el = h(
    'div.panel',
    {},
    weights.el,
    h(
      'section.card',
      {},
      h('h3', {}, 'Text'),
      h('p.small', {}, 'Mark each gap as [MASK:N], N the number of UTF-8 bytes to predict (write \\[MASK for a literal “[MASK”).'),
      text,
      h('div.row', {}, runButton),
      note,
      result,
    ),
    h('section.card', {}, h('h3', {}, 'Reference check'), h('p.small', {}, "Runs the fixture's byte ids through the loaded weights and compares the logits at every real byte with those DeepMind's JAX code gave."), checkButton, checkResult),
  );
  return { task: 'fillmask', el, hook: { weights, fill, check, last: () => last, loaded: () => info } };
}
