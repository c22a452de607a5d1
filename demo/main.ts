// The demo page: pick a task (image classification, fill-mask, optical flow,
// video autoencoding), load weights (built-in, URL or local file), run it.
// Shows the WebGPU adapter in use, a load progress bar and the time of each
// stage; says plainly when the browser has no WebGPU.
//
// The models run in a dedicated worker (perceiver-io-webgpu/worker, bundled
// next to main.js as worker.js): the page only prepares inputs and draws.
// The Kernels tab's ladders run on the page's own device.
//
// Test hook: window.__perceiver (see the Hook type) lets the browser tests
// read results and run the reference checks.

import { createGpu, type Gpu } from '../engine/index.ts';
import { PerceiverWorker, type WorkerStatus } from '../worker/index.ts';
import type { DemoManifest, TaskName } from './build.ts';
import { h, clear, message } from './ui.ts';
import type { Panel, PanelContext } from './common.ts';
import { classifyPanel } from './tasks/classify.ts';
import { fillMaskPanel } from './tasks/fillmask.ts';
import { flowPanel } from './tasks/flow.ts';
import { videoPanel } from './tasks/video.ts';
import { kernelsPanel } from './tasks/kernels.ts';

/** The tabs: the four tasks, and the kernel ladders (no weights). */
type TabName = TaskName | 'kernels';

interface TaskDef {
  task: TabName;
  title: string;
  blurb: string;
  /** null: the model is not available in this build */
  panel: ((ctx: PanelContext) => Pick<Panel, 'el' | 'hook'>) | null;
}

const TASKS: TaskDef[] = [
  { task: 'classify', title: 'Image classification', blurb: 'ImageNet top-5 (imagenet-conv, -fourier, -learned)', panel: classifyPanel },
  { task: 'fillmask', title: 'Fill-mask', blurb: 'masked bytes language model (language-mlm)', panel: fillMaskPanel },
  { task: 'flow', title: 'Optical flow', blurb: 'flow between two frames (optical-flow)', panel: flowPanel },
  { task: 'video', title: 'Video autoencoding', blurb: 'Kinetics-700 video + audio + label (multimodal-autoencoder)', panel: videoPanel },
  { task: 'kernels', title: 'Kernels', blurb: 'attention and matmul, naive to shipped, on this GPU', panel: kernelsPanel },
];

export interface Hook {
  ready: Promise<{ webgpu: boolean; adapter?: string; f16?: boolean; error?: string }>;
  tasks: Partial<Record<TabName, Record<string, unknown>>>;
  available: Record<TabName, boolean>;
  select(task: TabName): void;
}

declare global {
  interface Window {
    __perceiver: Hook;
  }
}

const app = document.getElementById('app')!;
const adapterEl = document.getElementById('adapter')!;
const hook: Hook = {
  ready: null as unknown as Hook['ready'],
  tasks: {},
  available: Object.fromEntries(TASKS.map((t) => [t.task, t.panel !== null])) as Record<TabName, boolean>,
  select: () => {},
};
window.__perceiver = hook;

function tabs(panels: Map<TabName, HTMLElement>): HTMLElement {
  const bar = h('nav.tabs', { role: 'tablist' });
  const select = (task: TabName) => {
    for (const b of Array.from(bar.querySelectorAll('button'))) b.setAttribute('aria-selected', String(b.dataset.task === task));
    for (const [t, el] of panels) el.hidden = t !== task;
    if (location.hash !== `#${task}`) history.replaceState(null, '', `#${task}`);
  };
  for (const t of TASKS) {
    bar.append(
      h(
        'button.tab',
        { id: `tab-${t.task}`, role: 'tab', 'data-task': t.task, type: 'button', class: t.panel ? 'tab' : 'tab unavailable', onclick: () => select(t.task) },
        h('span.tab-title', {}, t.title),
        h('span.tab-blurb', {}, t.panel ? t.blurb : 'not available in this build'),
      ),
    );
  }
  hook.select = select;
  const wanted = location.hash.slice(1) as TabName;
  select(panels.has(wanted) ? wanted : 'classify');
  return bar;
}

async function start(): Promise<{ webgpu: boolean; adapter?: string; f16?: boolean; error?: string }> {
  let gpu: Gpu;
  let worker: PerceiverWorker;
  let status: WorkerStatus;
  try {
    if (!('gpu' in navigator) || !navigator.gpu) throw new Error('this browser has no navigator.gpu');
    // The inputs stay with the page (shown, reused for re-runs, cached fixtures): copied to the worker, not transferred.
    worker = new PerceiverWorker({
      transfer: false,
      onLost: (reason) => app.prepend(message('error', 'The GPU device of the model worker was lost', `${reason}. Reload the page.`)),
    });
    status = await worker.status(); // makes the worker's device: its adapter is the one shown
    gpu = await createGpu(navigator.gpu);
  } catch (e) {
    const why = (e as Error).message;
    adapterEl.textContent = 'no WebGPU';
    adapterEl.classList.add('bad');
    clear(
      app,
      h(
        'section.card.nowebgpu#no-webgpu',
        {},
        h('h2', {}, 'WebGPU is not available in this browser'),
        h('p', {}, 'This demo runs Perceiver IO on WebGPU and has no fallback, so it cannot run here.'),
        h('p', {}, 'Use a browser with WebGPU enabled: Chrome or Edge 113 and later on Windows, macOS and ChromeOS (Linux and Android behind flags or by default in recent versions), Safari 26, or Firefox 141 and later on Windows. On Linux without a GPU, Chromium started with --enable-unsafe-webgpu uses its SwiftShader software adapter.'),
        message('error', 'Reason', why),
      ),
    );
    return { webgpu: false, error: why };
  }
  const features = status.features!;
  const adapter = `${status.adapter}${features.f16 ? ' · shader-f16' : ''}${features.subgroups ? ' · subgroups' : ''}`;
  adapterEl.textContent = `WebGPU: ${adapter}`;
  adapterEl.title = 'the adapter in use in the model worker (vendor, architecture, device, description) and its optional features';

  let manifest: DemoManifest;
  try {
    const r = await fetch('manifest.json');
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    manifest = (await r.json()) as DemoManifest;
  } catch (e) {
    manifest = { weights: [], fixtures: {}, media: [] };
    app.append(message('error', 'No manifest.json: the built-in weights are missing', (e as Error).message));
  }
  const ctx: PanelContext = { worker, gpu, manifest };
  const panels = new Map<TabName, HTMLElement>();
  for (const t of TASKS) {
    let el: HTMLElement;
    if (t.panel) {
      const p = t.panel(ctx);
      hook.tasks[t.task] = p.hook;
      el = p.el;
    } else {
      el = h(
        'div.panel',
        {},
        h('section.card.unavailable-card', {}, h('h3', {}, `${t.title}: not available in this build`), h('p', {}, `The ${t.blurb} model is not available in this build of the demo.`)),
      );
    }
    el.id = `panel-${t.task}`;
    el.setAttribute('role', 'tabpanel');
    panels.set(t.task, el);
  }
  clear(app, tabs(panels), ...panels.values());
  gpu.device.lost.then((info) => app.prepend(message('error', 'The GPU device was lost', `${info.reason}: ${info.message}. Reload the page.`)));
  return { webgpu: true, adapter, f16: features.f16 };
}

hook.ready = start();
