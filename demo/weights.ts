// The page's "Model weights" card: a built-in file, a URL, a local file or
// a HuggingFace hub repository (perceiver/hub, loaded on first use: a model
// id and the hub's address; the hub's files are converted in the page);
// converted weight files stream onto the GPU tensor by tensor (with a
// progress bar, optionally through the Cache API); raw checkpoints
// (.pystate / .pickle) go through the browser-safe converter first, with the
// preset (and size overrides) chosen here.

import type { RemoteModel, WorkerLoadOptions, WorkerWeightSource } from '../worker/index.ts';
import { fetchWeights, forgetWeights } from '../engine/fetch.ts';
import { convertToWeightFile } from '../tools/convert.ts';
import type { Overrides, PresetName } from '../perceiver/config.ts';
import { HF_HUB_IDS, HF_ENDPOINT } from '../perceiver/hf.ts';
import type { DemoManifest, ManifestEntry, TaskName } from './build.ts';
import { h, clear, fmtBytes, fmtMs, message, Progress } from './ui.ts';

export const TASK_PRESETS: Record<TaskName, PresetName[]> = {
  classify: ['imagenet-conv', 'imagenet-fourier', 'imagenet-learned'],
  fillmask: ['language-mlm'],
  flow: ['optical-flow'],
  video: ['multimodal-autoencoder'],
};

export interface LoadedInfo {
  /** what was loaded, for display */
  name: string;
  preset: string;
  overrides: Record<string, unknown>;
  /** how it is stored in the file */
  dtype: string;
  /** file bytes */
  bytes: number;
  tensors: number;
  fromCache: boolean;
  /** converted from a raw checkpoint in the page */
  converted: boolean;
  /** the reference fixture these weights reproduce, when known */
  fixture?: string;
  ms: Record<string, number>;
}

/** A task's loader in the model worker (PerceiverWorker.loadImageClassifier, ...). */
export type Loader<M> = (source: WorkerWeightSource, opts: WorkerLoadOptions) => Promise<M>;

/** A pickle starts with PROTO (0x80) and a protocol number 2..5. */
const isPickle = (b: Uint8Array) => b.length >= 2 && b[0] === 0x80 && b[1] >= 2 && b[1] <= 5;

/** The first bytes of a response without consuming it (the body is teed). */
async function peek(response: Response): Promise<{ head: Uint8Array; response: Response }> {
  if (!response.body) return { head: new Uint8Array(0), response };
  const [a, b] = response.body.tee();
  const reader = a.getReader();
  const first = await reader.read().catch(() => ({ value: undefined }));
  reader.cancel().catch(() => {});
  const rebuilt = new Response(b, { status: response.status, statusText: response.statusText, headers: response.headers });
  return { head: (first.value as Uint8Array | undefined) ?? new Uint8Array(0), response: rebuilt };
}

function parseOverrides(text: string): Overrides {
  if (!text.trim()) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`size overrides must be JSON, e.g. {"num_latents": 16}: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('size overrides must be a JSON object, e.g. {"num_latents": 16}');
  return v as Overrides;
}

export class WeightsCard<M extends RemoteModel<object>> {
  readonly el: HTMLElement;
  private builtin: HTMLSelectElement;
  private url: HTMLInputElement;
  private file: HTMLInputElement;
  private hubId: HTMLInputElement;
  private hubEndpoint: HTMLInputElement;
  private preset: HTMLSelectElement;
  private overrides: HTMLInputElement;
  private cache: HTMLInputElement;
  private loadButton: HTMLButtonElement;
  private progress = new Progress();
  private status: HTMLElement;
  private entries: ManifestEntry[];
  busy = false;

  constructor(
    readonly task: TaskName,
    manifest: DemoManifest,
    private loader: Loader<M>,
    private onLoaded: (model: M, info: LoadedInfo) => void,
    private onUnload: () => void,
  ) {
    const id = (s: string) => `${task}-${s}`;
    this.entries = manifest.weights.filter((w) => w.task === task);
    this.builtin = h('select', { id: id('builtin') }, ...this.entries.map((w, i) => h('option', { value: i }, `${w.name} · ${fmtBytes(w.bytes)}`)));
    if (!this.entries.length) this.builtin.append(h('option', { value: '' }, 'none in this build'));
    this.url = h('input', { id: id('url'), type: 'url', placeholder: 'https://example.com/model.weights (or a .pystate / .pickle)', spellcheck: 'false' });
    this.file = h('input', { id: id('file'), type: 'file', accept: '.weights,.bin,.pystate,.pickle,.pkl' });
    this.hubId = h('input', { id: id('hub-id'), type: 'text', value: HF_HUB_IDS[TASK_PRESETS[task][0]], placeholder: 'owner/name', spellcheck: 'false' });
    this.hubEndpoint = h('input', { id: id('hub-endpoint'), type: 'url', value: HF_ENDPOINT, spellcheck: 'false' });
    this.preset = h('select', { id: id('preset') }, ...TASK_PRESETS[task].map((p) => h('option', { value: p }, p)));
    this.overrides = h('input', { id: id('overrides'), type: 'text', placeholder: '{"num_latents": 16, "latent_channels": 32}', spellcheck: 'false' });
    this.cache = h('input', { id: id('cache'), type: 'checkbox' });
    this.loadButton = h('button.primary', { id: id('load'), type: 'button', onclick: () => void this.load() }, 'Load weights');
    this.status = h('div.status', { id: id('weights-status') });
    const radio = (value: string, label: string, control: HTMLElement, checked = false) =>
      h('label.source', {}, h('input', { type: 'radio', name: id('source'), value, checked, id: id(`source-${value}`) }), h('span.source-name', {}, label), control);
    this.url.addEventListener('input', () => ((document.getElementById(id('source-url')) as HTMLInputElement).checked = true));
    this.file.addEventListener('change', () => ((document.getElementById(id('source-file')) as HTMLInputElement).checked = true));
    this.builtin.addEventListener('change', () => ((document.getElementById(id('source-builtin')) as HTMLInputElement).checked = true));
    for (const el of [this.hubId, this.hubEndpoint]) el.addEventListener('input', () => ((document.getElementById(id('source-hub')) as HTMLInputElement).checked = true));
    this.el = h(
      'section.card.weights',
      {},
      h('h3', {}, 'Model weights'),
      h(
        'div.sources',
        {},
        radio('builtin', 'Built-in', this.builtin, this.entries.length > 0),
        radio('url', 'URL', this.url, this.entries.length === 0),
        radio('file', 'Local file', this.file),
        radio('hub', 'From the HuggingFace hub', h('span.grow', {}, this.hubId, ' at ', this.hubEndpoint)),
      ),
      h(
        'div.row.small',
        {},
        h('label', {}, 'Raw checkpoints: preset ', this.preset),
        h('label.grow', {}, 'size overrides ', this.overrides),
      ),
      h('div.row', {}, h('label.check', {}, this.cache, ' Keep downloaded weights in the browser cache (Cache API) for the next visit'), this.loadButton),
      this.progress.el,
      this.status,
    );
  }

  private source(): string {
    const checked = this.el.querySelector<HTMLInputElement>(`input[name="${this.task}-source"]:checked`);
    return checked?.value ?? 'builtin';
  }

  /** Selects a built-in entry by file name (for tests and deep links). */
  selectBuiltin(file: string): boolean {
    const i = this.entries.findIndex((e) => e.file === file || e.file.endsWith(`/${file}`));
    if (i < 0) return false;
    this.builtin.value = String(i);
    (document.getElementById(`${this.task}-source-builtin`) as HTMLInputElement).checked = true;
    return true;
  }

  setStatus(...children: (Node | string)[]): void {
    clear(this.status, ...children);
  }

  async load(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.loadButton.disabled = true;
    this.setStatus();
    const ms: Record<string, number> = {};
    let label = '';
    let cachedUrl: string | null = null;
    const t0 = performance.now();
    try {
      const kind = this.source();
      let source: WorkerWeightSource;
      let bytes = 0;
      let fromCache = false;
      let origin = 'from the network';
      let converted = false;
      let fixture: string | undefined;
      let rawPreset: PresetName = this.preset.value as PresetName;
      let rawOverrides: Overrides | null = null;
      let raw: Uint8Array | null = null;

      if (kind === 'builtin') {
        const e = this.entries[Number(this.builtin.value)];
        if (!e) throw new Error('no built-in weights for this task in this build');
        label = e.name;
        fixture = e.fixture;
        if (e.kind === 'pickle') {
          this.progress.set(null, `downloading ${e.file}`);
          raw = new Uint8Array(await (await fetchOk(e.file)).arrayBuffer());
          rawPreset = e.preset;
          rawOverrides = e.overrides;
        } else {
          const f = await fetchWeights(e.file, { cache: this.cache.checked });
          if (this.cache.checked) cachedUrl = e.file;
          source = f.response;
          fromCache = f.fromCache;
        }
        bytes = e.bytes;
      } else if (kind === 'url') {
        const url = this.url.value.trim();
        if (!url) throw new Error('type the URL of a weight file first');
        label = url;
        this.progress.set(null, `fetching ${url}`);
        const f = await fetchWeights(url, { cache: this.cache.checked });
        if (this.cache.checked) cachedUrl = url;
        fromCache = f.fromCache;
        const p = await peek(f.response);
        bytes = Number(p.response.headers.get('content-length') ?? 0);
        if (isPickle(p.head)) raw = new Uint8Array(await p.response.arrayBuffer());
        else source = p.response;
      } else if (kind === 'hub') {
        const repo = this.hubId.value.trim();
        if (!repo) throw new Error('type a hub model id first, e.g. deepmind/vision-perceiver-conv');
        label = repo;
        origin = `from ${this.hubEndpoint.value.trim() || HF_ENDPOINT} (converted in the model worker)`;
        // fetched, converted and cached in the model worker (the hub code loads there on first use)
        const endpoint = this.hubEndpoint.value.trim();
        source = { hub: repo, ...(endpoint ? { endpoint } : {}), cache: this.cache.checked };
      } else {
        const file = this.file.files?.[0];
        if (!file) throw new Error('choose a local file first');
        label = file.name;
        bytes = file.size;
        origin = 'from a local file';
        const head = new Uint8Array(await file.slice(0, 16).arrayBuffer());
        if (isPickle(head)) raw = new Uint8Array(await file.arrayBuffer());
        else source = file;
      }
      ms.fetch = performance.now() - t0;

      if (raw) {
        const overrides = rawOverrides ?? parseOverrides(this.overrides.value);
        this.progress.set(null, `converting ${label} as ${rawPreset} in the page`);
        await new Promise((r) => setTimeout(r, 0)); // let the caption paint
        const t = performance.now();
        try {
          source = convertToWeightFile(raw, rawPreset, overrides, 'f32', label);
        } catch (e) {
          throw new Error(`the checkpoint does not match preset ${rawPreset}${Object.keys(overrides).length ? ` with overrides ${JSON.stringify(overrides)}` : ''}:\n${(e as Error).message}`);
        }
        ms.convert = performance.now() - t;
        converted = true;
        bytes = (source as Uint8Array).byteLength;
      }

      this.onUnload();
      let tensors = 0;
      const t1 = performance.now();
      const model = await this.loader(source!, {
        onProgress: (loaded, total, name) => {
          tensors++;
          this.progress.set(total ? loaded / total : null, `${fmtBytes(loaded)} / ${fmtBytes(total)} · ${name}`);
          bytes = Math.max(bytes, total);
        },
      });
      ms.upload = performance.now() - t1;
      const meta = model.info.meta;
      const info: LoadedInfo = {
        name: label,
        preset: String(meta.preset),
        overrides: (meta.overrides ?? {}) as Record<string, unknown>,
        dtype: String(meta.dtype ?? 'f32'),
        bytes,
        tensors,
        fromCache,
        converted,
        fixture,
        ms,
      };
      this.progress.set(1, `${fmtBytes(bytes)} loaded`);
      this.setStatus(
        message(
          'ok',
          `Loaded ${label}`,
          [
            `preset ${info.preset}${Object.keys(info.overrides).length ? ` ${JSON.stringify(info.overrides)}` : ''}`,
            `${kind === 'hub' ? '' : `${tensors} tensors, `}${fmtBytes(bytes)} stored as ${info.dtype}${info.dtype === 'f16' ? ' (widened to f32 on upload)' : ''}`,
            `${converted ? 'converted in the page, ' : ''}${fromCache ? 'from the browser cache' : origin} · ` +
              Object.entries(ms)
                .map(([k, v]) => `${k} ${fmtMs(v)}`)
                .join(', '),
          ].join('\n'),
        ),
      );
      this.onLoaded(model, info);
    } catch (e) {
      this.progress.hide();
      if (cachedUrl) await forgetWeights(cachedUrl).catch(() => false);
      this.onUnload();
      this.setStatus(message('error', `Could not load ${label || 'the weights'}`, (e as Error).message));
    } finally {
      this.busy = false;
      this.loadButton.disabled = false;
    }
  }
}

export async function fetchOk(url: string): Promise<Response> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`could not fetch ${url}: HTTP ${r.status} ${r.statusText}`.trimEnd());
  return r;
}
