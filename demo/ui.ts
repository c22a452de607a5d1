// Small DOM helpers for the demo page: elements, a bar chart, a progress bar,
// a stage-timings table and message boxes. No framework.

type Attrs = Record<string, string | number | boolean | ((ev: Event) => void) | undefined>;
type Child = Node | string | null | undefined | false;

/** The element name of a tag such as 'button.primary#run'. */
type TagOf<S extends string> = S extends `${infer T}.${string}` ? TagOf<T> : S extends `${infer T}#${string}` ? TagOf<T> : S;
type ElementOf<S extends string> = TagOf<S> extends keyof HTMLElementTagNameMap ? HTMLElementTagNameMap[TagOf<S>] : HTMLElement;

/** h('div.card#id', { title: 'x', onclick }, children...) */
export function h<S extends string>(tag: S, attrs: Attrs = {}, ...children: Child[]): ElementOf<S> {
  const m = /^([a-z0-9]+)((?:[.#][\w-]+)*)$/.exec(tag);
  if (!m) throw new Error(`h: bad tag '${tag}'`);
  const el = document.createElement(m[1]) as ElementOf<S>;
  for (const part of m[2].match(/[.#][\w-]+/g) ?? []) {
    if (part[0] === '.') el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (k === 'class') el.className = String(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export function clear(el: Element, ...children: Child[]): void {
  el.replaceChildren(...(children.filter((c) => c !== null && c !== undefined && c !== false) as (Node | string)[]));
}

export const fmtBytes = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KB` : `${n} B`);
export const fmtMs = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`);

/** A horizontal bar chart: one row per entry, the bar's width is the value in [0, 1]. */
export function barChart(rows: { label: string; value: number; note?: string }[], cls = ''): HTMLElement {
  return h(
    'ol.bars',
    { class: `bars ${cls}`.trim() },
    ...rows.map((r, i) =>
      h(
        'li.bar-row',
        {},
        h('span.bar-label', { title: r.label }, r.label),
        h('span.bar-track', {}, h('span.bar-fill', { style: `width: ${Math.max(0.5, Math.min(100, r.value * 100)).toFixed(2)}%`, 'data-rank': i + 1 })),
        h('span.bar-value', {}, r.note ?? `${(r.value * 100).toFixed(1)}%`),
      ),
    ),
  );
}

/** A progress bar with a caption. */
export class Progress {
  readonly el: HTMLElement;
  private bar: HTMLProgressElement;
  private caption: HTMLElement;
  constructor() {
    this.bar = h('progress', { max: 1, value: 0 });
    this.caption = h('span.progress-caption', {}, '');
    this.el = h('div.progress', { hidden: true }, this.bar, this.caption);
  }
  /** fraction in [0, 1], or null for indeterminate */
  set(fraction: number | null, caption: string): void {
    this.el.hidden = false;
    if (fraction === null) this.bar.removeAttribute('value');
    else this.bar.value = Math.max(0, Math.min(1, fraction));
    this.caption.textContent = caption;
  }
  hide(): void {
    this.el.hidden = true;
  }
}

/** Named stages with their durations, shown as a table. */
export class Stages {
  readonly list: { name: string; ms: number }[] = [];
  async run<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      this.list.push({ name, ms: performance.now() - t });
    }
  }
  add(name: string, ms: number): void {
    this.list.push({ name, ms });
  }
  get total(): number {
    return this.list.reduce((s, x) => s + x.ms, 0);
  }
  table(): HTMLElement {
    return h(
      'table.timings',
      {},
      h('thead', {}, h('tr', {}, h('th', {}, 'stage'), h('th', {}, 'time'))),
      h('tbody', {}, ...this.list.map((s) => h('tr', {}, h('td', {}, s.name), h('td', {}, fmtMs(s.ms)))), h('tr.total', {}, h('td', {}, 'total'), h('td', {}, fmtMs(this.total)))),
    );
  }
  toJSON(): Record<string, number> {
    return Object.fromEntries(this.list.map((s) => [s.name, Math.round(s.ms * 10) / 10]));
  }
}

/** A message box: 'error' (red), 'ok' (green) or 'info'. */
export function message(kind: 'error' | 'ok' | 'info', title: string, detail?: string): HTMLElement {
  return h(`div.msg`, { class: `msg msg-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, h('strong', {}, title), detail ? h('pre.msg-detail', {}, detail) : null);
}

/** Draws RGBA bytes (or an image) onto a new canvas, shown scaled so its longer side is `maxSide` CSS pixels. */
export function canvasOf(img: { width: number; height: number; data: Uint8ClampedArray | Uint8Array } | CanvasImageSource, width?: number, height?: number, maxSide = 256): HTMLCanvasElement {
  const c = h('canvas');
  const w = width ?? (img as { width: number }).width;
  const hgt = height ?? (img as { height: number }).height;
  c.width = w;
  c.height = hgt;
  const ctx = c.getContext('2d')!;
  const raw = img as { data?: Uint8ClampedArray | Uint8Array };
  if (raw.data && !(img instanceof HTMLImageElement)) {
    const d = raw.data instanceof Uint8ClampedArray ? raw.data : new Uint8ClampedArray(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength);
    ctx.putImageData(new ImageData(d as Uint8ClampedArray<ArrayBuffer>, w, hgt), 0, 0);
  } else ctx.drawImage(img as CanvasImageSource, 0, 0, w, hgt);
  const scale = maxSide / Math.max(w, hgt);
  c.style.width = `${Math.round(w * scale)}px`;
  c.style.height = `${Math.round(hgt * scale)}px`;
  if (scale > 1.5) c.style.imageRendering = 'pixelated';
  return c;
}

/** A figure with a caption. */
export function figure(content: Node, caption: string): HTMLElement {
  return h('figure', {}, content, h('figcaption', {}, caption));
}
