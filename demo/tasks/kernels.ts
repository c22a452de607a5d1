// The Kernels tab: the kernel ladders (kernels/ladder/rungs.ts) run on the
// visitor's own adapter, from the naive kernel up to the shipped one, at
// Perceiver IO's shapes (reduced by default, full on request): GFLOP/s as
// bars per rung, the table of figures bench:ladder prints, and each rung's
// WGSL source beside it. The runner is bench/ladder-runner.ts, the same
// code `npm run bench:ladder` uses.

import { h, clear, message, fmtMs } from '../ui.ts';
import type { PanelContext } from '../common.ts';
import {
  runLadder, ladderShapes, describeShape, flopsOf, adapterLine, type LadderKernel, type RungResult,
} from '../../bench/ladder-runner.ts';
import { ATTENTION_RUNGS, MATMUL_RUNGS, LADDER_SOURCES, type AttentionShape, type MatmulShape } from '../../kernels/ladder/rungs.ts';

/** What the test hook's run() takes: a ladder, and either named shapes at a size or one explicit shape. */
export interface KernelsRunOptions {
  kernel: LadderKernel;
  /** a shape name ('' or absent: every shape of the ladder) */
  shape?: string;
  size?: 'quick' | 'full';
  /** an explicit shape instead (the tests use tiny ones) */
  dims?: AttentionShape | MatmulShape;
  /** timing budget per rung, ms */
  targetMs?: number;
}

export interface KernelsShapeResult { name: string; size: string; flops: number; rungs: RungResult[] }

/** Where the user can read a rung's code: its first file, the entry point marked. */
function sourceView(kernel: LadderKernel, id: string): { title: string; text: string } {
  const rung = (kernel === 'attention' ? ATTENTION_RUNGS : MATMUL_RUNGS).find((r) => r.id === id)!;
  const text = rung.files.map((f) => `// ===== ${f}${rung.entry ? ` (entry point ${rung.entry})` : ''}\n\n${LADDER_SOURCES[f]}`).join('\n\n');
  return { title: `${rung.id}: ${rung.title}`, text };
}

export function kernelsPanel(ctx: PanelContext): { el: HTMLElement; hook: Record<string, unknown> } {
  const { gpu } = ctx;
  let running = false;
  let last: KernelsShapeResult[] = [];

  const kernelSelect = h('select#kernels-kernel', {}, h('option', { value: 'attention' }, 'attention'), h('option', { value: 'matmul' }, 'matmul'));
  const shapeSelect = h('select#kernels-shape');
  const full = h('input#kernels-full', { type: 'checkbox' });
  const runButton = h('button.primary#kernels-run', { type: 'button', onclick: () => void run(options()) }, 'Run the ladder');
  const status = h('div#kernels-status');
  const results = h('div#kernels-results');
  const rungList = h('div.rung-list#kernels-rungs');
  const sourceTitle = h('h4#kernels-source-title');
  const source = h('pre.wgsl#kernels-source');

  const kernel = () => kernelSelect.value as LadderKernel;
  function fillShapes() {
    clear(shapeSelect, h('option', { value: '' }, 'every shape'), ...ladderShapes(kernel()).map((s) => h('option', { value: s.name, title: s.what }, s.name)));
    clear(rungList, ...(kernel() === 'attention' ? ATTENTION_RUNGS : MATMUL_RUNGS).map((r, i) =>
      h('button.rung', { type: 'button', 'data-rung': r.id, title: r.changes, onclick: () => showSource(r.id) }, `${i + 1}. ${r.id}`)));
    showSource((kernel() === 'attention' ? ATTENTION_RUNGS : MATMUL_RUNGS)[0].id);
  }
  kernelSelect.addEventListener('change', fillShapes);

  function showSource(id: string): boolean {
    const rungs = kernel() === 'attention' ? ATTENTION_RUNGS : MATMUL_RUNGS;
    if (!rungs.some((r) => r.id === id)) return false;
    const v = sourceView(kernel(), id);
    sourceTitle.textContent = v.title;
    source.textContent = v.text;
    for (const b of Array.from(rungList.querySelectorAll('button'))) b.setAttribute('aria-pressed', String(b.dataset.rung === id));
    return true;
  }

  const options = (): KernelsRunOptions => ({ kernel: kernel(), shape: shapeSelect.value, size: full.checked ? 'full' : 'quick' });

  function shapeCard(k: LadderKernel, r: KernelsShapeResult, what?: string): HTMLElement {
    const best = Math.max(...r.rungs.map((x) => x.gflops ?? 0), 1e-9);
    const bars = h(
      'ol.bars.ladder-bars',
      {},
      ...r.rungs.map((x, i) =>
        h(
          'li.bar-row',
          { 'data-rung': x.id, title: x.changes, onclick: () => showSource(x.id) },
          h('span.bar-label', {}, `${i + 1}. ${x.id}`),
          h('span.bar-track', {}, x.gflops ? h('span.bar-fill', { style: `width: ${Math.max(0.5, (100 * x.gflops) / best).toFixed(2)}%` }) : null),
          h('span.bar-value', {}, x.status === 'ok' ? `${x.gflops!.toPrecision(3)} GFLOP/s` : x.status === 'cannot' ? 'cannot run' : 'failed'),
        ),
      ),
    );
    const fx = (v?: number) => (v === undefined ? '–' : `${v.toFixed(2)}×`);
    const table = h(
      'table.timings.ladder-table',
      {},
      h('thead', {}, h('tr', {}, ...['rung', 'time', 'GFLOP/s', 'bytes read / written per output', 'vs previous', 'vs naive', 'max rel. error'].map((c) => h('th', {}, c)))),
      h(
        'tbody',
        {},
        ...r.rungs.map((x) =>
          h(
            'tr',
            { 'data-rung': x.id },
            h('td', {}, x.title),
            ...(x.status === 'ok'
              ? [fmtMs(x.ms!), x.gflops!.toPrecision(3), `${x.readPerOutput.toFixed(0)} / ${x.writtenPerOutput.toFixed(0)}`, fx(x.speedupPrevious), fx(x.speedupNaive), x.maxRelError!.toExponential(1)].map((c) => h('td', {}, c))
              : [h('td', { colspan: 6, class: 'why' }, `${x.status === 'cannot' ? 'cannot run here' : 'failed'}: ${x.reason}`)]),
          ),
        ),
      ),
    );
    return h('section.card.ladder-shape', { 'data-shape': r.name }, h('h3', {}, `${k} · ${r.name}`), h('p.small', {}, `${r.size}, ${r.flops >= 1e8 ? `${(r.flops / 1e9).toFixed(2)} GFLOP` : `${(r.flops / 1e6).toPrecision(3)} MFLOP`} per run${what ? ` — ${what}` : ''}`), bars, table);
  }

  async function run(o: KernelsRunOptions): Promise<KernelsShapeResult[] | null> {
    if (running) return null;
    running = true;
    runButton.disabled = true;
    if (kernelSelect.value !== o.kernel) {
      kernelSelect.value = o.kernel;
      fillShapes();
    }
    clear(results);
    last = [];
    try {
      const shapes = o.dims
        ? [{ name: 'custom', what: '', dims: o.dims }]
        : ladderShapes(o.kernel, o.shape || undefined).map((s) => ({ name: s.name, what: s.what, dims: o.size === 'full' ? s.full : s.quick }));
      for (const s of shapes) {
        const r: KernelsShapeResult = { name: s.name, size: describeShape(o.kernel, s.dims), flops: flopsOf(o.kernel, s.dims), rungs: [] };
        clear(status, message('info', `Running the ${o.kernel} ladder at ${s.name}…`, r.size));
        r.rungs = await runLadder(gpu, o.kernel, s.dims, {
          targetMs: o.targetMs ?? (o.size === 'full' ? 1000 : 250),
          maxReps: o.size === 'full' ? 10 : 3,
          onRung: (x) => clear(status, message('info', `Running the ${o.kernel} ladder at ${s.name}…`, `${r.size}\nrung ${x.id}: ${x.status === 'ok' ? `${x.gflops!.toPrecision(3)} GFLOP/s` : x.reason}`)),
          yieldToHost: () => new Promise((resolve) => setTimeout(resolve, 0)),
        });
        last.push(r);
        results.append(shapeCard(o.kernel, r, s.what));
      }
      const bad = last.flatMap((r) => r.rungs).filter((x) => x.status === 'failed');
      clear(status, bad.length
        ? message('error', `${bad.length} rung${bad.length > 1 ? 's' : ''} failed`, bad.map((x) => `${x.id}: ${x.reason}`).join('\n'))
        : message('ok', `Done: the ${o.kernel} ladder on ${gpu.adapterName}`, 'Each rung was checked against a float64 TypeScript reference (max rel. error column). Click a bar to read its WGSL.'));
      return last;
    } catch (e) {
      clear(status, message('error', 'The ladder failed', (e as Error).message));
      return null;
    } finally {
      running = false;
      runButton.disabled = false;
    }
  }

  fillShapes();
  const el = h(
    'div.panel',
    {},
    h(
      'section.card',
      {},
      h('h3', {}, 'Kernel ladders on your GPU'),
      h('p.small', {}, 'Each kernel as a ladder of versions, from the naive one to the shipped one; each step is one WGSL file whose header says what it changes and why. Runs here, on this adapter, checked against a TypeScript reference. The walk up the ladder: docs/attention.md.'),
      h('p.small#kernels-adapter', {}, `adapter: ${adapterLine(gpu)}`),
      h(
        'div.row',
        {},
        h('label', {}, 'ladder ', kernelSelect),
        h('label', {}, 'shape ', shapeSelect),
        h('label.check', { title: 'the models\' real sizes: minutes per rung on a software adapter' }, full, 'full size'),
        runButton,
      ),
      status,
    ),
    h('div.ladder', {}, h('div.ladder-results', {}, results), h('section.card.ladder-source', {}, h('h3', {}, 'WGSL'), rungList, sourceTitle, source)),
  );
  return { el, hook: { run, showSource, results: () => last, source: () => source.textContent } };
}
