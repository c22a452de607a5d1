// perceiver-io-webgpu/worker: the four tasks in a dedicated Web Worker,
// behind the task models' own promise API (docs/worker.md).
//
//   const w = new PerceiverWorker();                       // starts worker.js
//   const model = await w.loadImageClassifier('imagenet_conv.weights', { onProgress });
//   const [top5] = await model.classify(bitmap);          // runs in the worker
//   model.dispose(); w.dispose();
//
// The main thread only posts messages: inputs' ArrayBuffers (and
// ImageBitmaps) are transferred, not copied, so the caller's arrays are
// detached afterwards (`transfer: false` copies instead); results come back
// transferred. Requests run one at a time in the order made; an AbortSignal
// drops a request that has not started (it never runs) and stops a running
// one at its next progress step. Errors are re-thrown here with their name,
// message and data fields (GpuError and WeightFormatError keep their class).

import { GpuError, type GpuOptions } from '../engine/gpu.ts';
import { WeightFormatError } from '../engine/weights.ts';
import { toRgba, type ImageInput, type RgbaImage } from '../perceiver/image.ts';
import type { ClassifyOptions, ClassifyResult, Prediction } from '../perceiver/imagenet/classify.ts';
import type { AttentionMap, AttentionRequest } from '../perceiver/attention_grid.ts';
import type { FlowConfig, ImageNetConfig, LanguageConfig, MultimodalConfig } from '../perceiver/config.ts';
import type { ByteRange, FillMaskOptions, FillMaskResult } from '../perceiver/language/fillmask.ts';
import type { EstimateOptions, FlowResult } from '../perceiver/flow/api.ts';
import type { FlowColorOptions } from '../perceiver/flow/colorwheel.ts';
import type { AutoencodeOptions, ClipResult, VideoClip } from '../perceiver/video/api.ts';
import { METHODS, transferables, type ModelInfo, type Port, type Reply, type Request, type TaskName, type WireError, type WireSource, type WorkerStatus } from './protocol.ts';

export type { ModelInfo, WorkerStatus, TaskName, Port };

/** A weight file for the worker: a URL (fetched there), bytes (transferred), a Blob or File, a Response or a stream (its body transferred). */
export type WorkerWeightSource = string | URL | Uint8Array | ArrayBuffer | Blob | Response | ReadableStream<Uint8Array> | WorkerHubSource;

/**
 * A HuggingFace hub checkpoint by model id (perceiver-io-webgpu/hub's hub()),
 * fetched, converted and cached inside the worker: a hub() provider holds
 * functions, which cannot cross to a worker, so the worker gets this instead.
 */
export interface WorkerHubSource {
  hub: string;
  revision?: string;
  endpoint?: string;
  /** keep the converted file (Cache API, memory past the quota); default: the load option `cache`, else true */
  cache?: boolean;
}

export interface WorkerLoadOptions {
  /** called after each tensor: file bytes consumed so far, the file's length, the tensor's name */
  onProgress?(loadedBytes: number, totalBytes: number, name: string): void;
  /** progress of the compile stage, after the weights: pipelines compiled, of `total` (ModelLoadOptions.onCompile) */
  onCompile?(done: number, total: number): void;
  /** keep f16-stored Linear weights f16 on the GPU where the adapter has shader-f16 (LoadOptions.keepF16) */
  keepF16?: boolean;
  /** compile the first call's pipelines while loading (default true; ModelLoadOptions.compile) */
  compile?: boolean;
  /** where the weights come from again after a device loss (ModelLoadOptions.recover; a URL is fetched again) */
  recover?: 'source' | 'keep' | 'none';
  /** for a URL: keep the file in the Cache API (true, or a cache name), as fetchWeights */
  cache?: boolean | string;
  signal?: AbortSignal;
}

/** What every remote call takes besides its task's options. */
export interface CallOptions {
  /** aborting rejects the call with an AbortError: a call still queued never runs, a running one stops at its next progress step */
  signal?: AbortSignal;
}

export interface PerceiverWorkerOptions {
  /**
   * The worker: a Worker you started, the URL of the worker script, or any
   * MessagePort-like end whose other end runs serve() (worker/serve.ts).
   * Default: new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }).
   */
  worker?: Worker | URL | string | Port;
  /** the device the worker asks for (createGpu's options) */
  gpu?: GpuOptions;
  /** transfer the inputs' buffers and ImageBitmaps to the worker (default true); false copies them */
  transfer?: boolean;
  /** called each time the worker's GPU device is lost, with the reason (the models recover on their next call, as in-thread) */
  onLost?(reason: string): void;
}

/** How long dispose() waits for the worker to free its models and device before terminating it. */
const CLOSE_GRACE_MS = 5000;

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  onProgress?: (...args: unknown[]) => void;
  cleanup(): void;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('the call was cancelled', 'AbortError');
}

/** The classes a worker error keeps (instanceof works on this side). */
const CLASSES: Record<string, object> = {
  GpuError: GpuError.prototype,
  WeightFormatError: WeightFormatError.prototype,
  TypeError: TypeError.prototype,
  RangeError: RangeError.prototype,
  SyntaxError: SyntaxError.prototype,
};

/** An error from the worker as an Error here: its name, message and data fields, and the worker's stack after this side's. */
export function fromWireError(w: WireError): Error {
  if (w.name === 'AbortError') return new DOMException(w.message, 'AbortError');
  const e = new Error(w.message);
  const proto = Object.hasOwn(CLASSES, w.name) ? CLASSES[w.name] : null;
  if (proto) Object.setPrototypeOf(e, proto);
  e.name = w.name;
  for (const [k, v] of Object.entries(w.props ?? {})) if (!(k in Error.prototype)) (e as unknown as Record<string, unknown>)[k] = v;
  if (w.stack) e.stack = `${e.stack ?? `${w.name}: ${w.message}`}\n    --- in the Perceiver worker ---\n${w.stack.split('\n').slice(1).join('\n')}`;
  return e;
}

/** DOM image sources that cannot cross to a worker: read here as RGBA bytes. ImageBitmap and VideoFrame cross as they are. */
function isDomImage(v: object): boolean {
  const g = globalThis as Record<string, unknown>;
  return ['HTMLImageElement', 'HTMLCanvasElement', 'HTMLVideoElement', 'SVGImageElement', 'OffscreenCanvas'].some(
    (n) => typeof g[n] === 'function' && v instanceof (g[n] as new () => object),
  );
}

/** The arguments as they cross: DOM images read into RGBA, everything else as given (arrays and plain objects copied shallowly where something inside changed). */
function wireArgs(v: unknown, depth = 0): unknown {
  if (typeof v !== 'object' || v === null || depth > 8 || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return v;
  if (isDomImage(v)) return toRgba(v as ImageInput);
  if (Array.isArray(v)) {
    if (typeof v[0] === 'number') return v;
    const out = v.map((x) => wireArgs(x, depth + 1));
    return out.some((x, i) => x !== v[i]) ? out : v;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return v;
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const y = wireArgs(x, depth + 1);
    // functions cannot cross: the progress callback is kept here (see call), other functions are dropped
    if (typeof y === 'function') {
      changed = true;
      continue;
    }
    out[k] = y;
    if (y !== x) changed = true;
  }
  return changed ? out : v;
}

export class PerceiverWorker {
  private port: Port;
  private worker: { terminate(): void } | null = null;
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private broken: Error | null = null;
  private closing: Promise<void> | null = null;
  private onClosed: (() => void) | null = null;
  private readonly transfer: boolean;

  constructor(private readonly opts: PerceiverWorkerOptions = {}) {
    this.transfer = opts.transfer ?? true;
    let w = opts.worker;
    if (w === undefined) {
      if (typeof Worker === 'undefined') throw new Error('PerceiverWorker: this environment has no Worker; pass { worker } (a Worker, a script URL, or a MessagePort served by worker/serve.ts)');
      // (written out in full so that bundlers such as Vite find and bundle the worker script)
      w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    } else if (typeof w === 'string' || w instanceof URL) {
      w = new Worker(w, { type: 'module' });
    }
    this.port = w as Port;
    if (typeof (w as Worker).terminate === 'function') {
      const worker = w as Worker;
      this.worker = worker;
      worker.addEventListener('error', (ev: ErrorEvent) => {
        ev.preventDefault?.();
        this.fail(new Error(`the Perceiver worker failed: ${ev.message || 'its script did not load (check the worker URL)'}`));
      });
    }
    this.port.addEventListener('messageerror' as 'message', () => this.fail(new Error('the Perceiver worker sent a message that could not be read')));
    this.port.addEventListener('message', (ev) => this.onMessage(ev.data as Reply));
    (this.port as { start?: () => void }).start?.();
    this.post({ type: 'init', gpu: opts.gpu });
  }

  private post(m: Request, transfer: Transferable[] = []): void {
    this.port.postMessage(m, transfer);
  }

  private fail(e: Error): void {
    this.broken ??= e;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.cleanup();
      p.reject(e);
    }
  }

  private onMessage(m: Reply): void {
    if (typeof m !== 'object' || m === null) return;
    if (m.type === 'lost') {
      this.opts.onLost?.(m.reason);
      return;
    }
    if (m.type === 'closed') {
      this.onClosed?.();
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return; // a request already settled here (aborted): its late reply is dropped
    switch (m.type) {
      case 'progress':
        try {
          p.onProgress?.(...m.args);
        } catch (e) {
          // as in the task itself, a throwing progress callback ends the call
          this.settle(m.id);
          this.post({ type: 'cancel', id: m.id });
          p.reject(e);
        }
        return;
      case 'result':
        this.settle(m.id);
        p.resolve(m.value);
        return;
      case 'error':
        this.settle(m.id);
        p.reject(fromWireError(m.error));
        return;
    }
  }

  private settle(id: number): void {
    this.pending.get(id)?.cleanup();
    this.pending.delete(id);
  }

  /** Sends a request and waits for its reply. */
  request<T>(make: (id: number) => Request, transfer: Transferable[], call: { signal?: AbortSignal; onProgress?: (...args: unknown[]) => void } = {}): Promise<T> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.closing) return Promise.reject(new Error('the Perceiver worker was disposed'));
    const { signal } = call;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        if (!this.pending.has(id)) return;
        this.settle(id);
        this.post({ type: 'cancel', id });
        reject(abortReason(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
        onProgress: call.onProgress,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      });
      try {
        this.post(make(id), transfer);
      } catch (e) {
        this.settle(id);
        reject(e);
      }
    });
  }

  /** Arguments and their transfer list. */
  wire(args: unknown[]): { args: unknown[]; transfer: Transferable[] } {
    const out = wireArgs(args) as unknown[];
    return { args: out, transfer: this.transfer ? transferables(out) : [] };
  }

  private async wireSource(source: WorkerWeightSource, cache: boolean | string | undefined): Promise<{ source: WireSource; transfer: Transferable[] }> {
    if (typeof source === 'string' || source instanceof URL) {
      const base = (globalThis as { document?: { baseURI: string } }).document?.baseURI ?? (globalThis as { location?: { href: string } }).location?.href;
      return { source: { kind: 'url', url: new URL(String(source), base).href, cache }, transfer: [] };
    }
    if (isHubSource(source)) {
      const { hub: repo, revision, endpoint } = source;
      return { source: { kind: 'hub', repo, ...(revision ? { revision } : {}), ...(endpoint ? { endpoint } : {}), cache: source.cache ?? cache !== false }, transfer: [] };
    }
    if (source instanceof ArrayBuffer) source = new Uint8Array(source);
    if (source instanceof Uint8Array) return { source: { kind: 'bytes', bytes: source }, transfer: this.transfer ? transferables(source) : [] };
    if (typeof Blob !== 'undefined' && source instanceof Blob) return { source: { kind: 'blob', blob: source }, transfer: [] };
    let length: number | undefined;
    if (typeof Response !== 'undefined' && source instanceof Response) {
      if (!source.ok) throw new WeightFormatError(`weight file request failed: HTTP ${source.status} ${source.statusText}`);
      if (!source.body) throw new WeightFormatError('weight file response has no body');
      // (as loadWeights: a compressed transfer's content-length is not the file's)
      const cl = source.headers.get('content-length');
      if (!source.headers.get('content-encoding') && cl && /^\d+$/.test(cl)) length = Number(cl);
      source = source.body;
    }
    if (typeof ReadableStream !== 'undefined' && source instanceof ReadableStream) return { source: { kind: 'stream', stream: source, length }, transfer: [source as unknown as Transferable] };
    throw new TypeError('PerceiverWorker: a weight source must be a URL, a Uint8Array, an ArrayBuffer, a Blob, a Response, a ReadableStream or { hub: model id }');
  }

  private async load(task: TaskName, source: WorkerWeightSource, opts: WorkerLoadOptions): Promise<ModelInfo> {
    let { source: wire, transfer } = await this.wireSource(source, opts.cache);
    // progress comes tagged with its stage: ['weights', loaded, total, name] or ['compile', done, total]
    const onProgress = (stage: unknown, ...a: unknown[]) => {
      if (stage === 'weights') opts.onProgress?.(...(a as [number, number, string]));
      else if (stage === 'compile') opts.onCompile?.(...(a as [number, number]));
    };
    const call = { signal: opts.signal, onProgress: onProgress as (...a: unknown[]) => void };
    const progress = !!(opts.onProgress || opts.onCompile);
    const make = (id: number): Request => ({ type: 'load', id, task, source: wire, opts: { keepF16: opts.keepF16, compile: opts.compile, recover: opts.recover, progress } });
    if (wire.kind === 'stream') {
      try {
        return await this.request<ModelInfo>(make, transfer, call);
      } catch (e) {
        if ((e as Error)?.name !== 'DataCloneError') throw e;
        // no transferable streams in this browser: the bytes are read here and sent instead
        const bytes = new Uint8Array(await new Response(wire.stream).arrayBuffer());
        wire = { kind: 'bytes', bytes };
        transfer = [bytes.buffer];
      }
    }
    return this.request<ModelInfo>(make, transfer, call);
  }

  /** Loads an imagenet-* weight file in the worker. */
  async loadImageClassifier(source: WorkerWeightSource, opts: WorkerLoadOptions = {}): Promise<RemoteImageClassifier> {
    return new RemoteImageClassifier(this, await this.load('imagenet', source, opts));
  }

  /** Loads a language-mlm weight file in the worker. */
  async loadMaskedLanguageModel(source: WorkerWeightSource, opts: WorkerLoadOptions = {}): Promise<RemoteMaskedLanguageModel> {
    return new RemoteMaskedLanguageModel(this, await this.load('language', source, opts));
  }

  /** Loads an optical-flow weight file in the worker. */
  async loadOpticalFlow(source: WorkerWeightSource, opts: WorkerLoadOptions = {}): Promise<RemoteOpticalFlow> {
    return new RemoteOpticalFlow(this, await this.load('flow', source, opts));
  }

  /** Loads a multimodal-autoencoder weight file in the worker. */
  async loadVideoAutoencoder(source: WorkerWeightSource, opts: WorkerLoadOptions = {}): Promise<RemoteVideoAutoencoder> {
    return new RemoteVideoAutoencoder(this, await this.load('video', source, opts));
  }

  /** The worker's device (made now if there is none yet: this is how to learn the adapter before loading) and its request counts. */
  status(): Promise<WorkerStatus> {
    return this.request((id) => ({ type: 'status', id }), []);
  }

  /**
   * Frees every model and the device in the worker, then ends it. Requests
   * still queued are rejected with an AbortError; later ones are refused.
   */
  dispose(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = new Promise<void>((resolve) => {
      const end = () => {
        clearTimeout(timer);
        this.worker?.terminate();
        this.fail(new DOMException('the Perceiver worker was disposed', 'AbortError'));
        resolve();
      };
      const timer = setTimeout(end, CLOSE_GRACE_MS);
      this.onClosed = end;
      if (this.broken) end();
      else this.post({ type: 'close' });
    });
    return this.closing;
  }
}

/** A model in the worker: its info, and dispose(). */
export class RemoteModel<C extends object = object> {
  private disposed = false;

  constructor(
    protected readonly worker: PerceiverWorker,
    readonly info: ModelInfo,
  ) {}

  get preset(): string {
    return this.info.preset;
  }

  /** the model's config (plain data: the preset's sizes with the file's overrides) */
  get config(): C {
    return this.info.config as C;
  }

  /**
   * Calls `method` in the worker. `args[i]`, for the method's options index,
   * may hold the task's progress callback (kept here, fed by progress
   * messages) and a signal.
   */
  protected call<T>(method: string, args: unknown[], call: CallOptions = {}): Promise<T> {
    if (this.disposed) return Promise.reject(new Error(`this ${this.info.task} model was disposed`));
    const spec = METHODS[this.info.task][method];
    let signal = call.signal;
    let onProgress: ((...a: unknown[]) => void) | undefined;
    if (spec?.options !== undefined && typeof args[spec.options] === 'object' && args[spec.options] !== null) {
      const o = { ...(args[spec.options] as Record<string, unknown>) };
      onProgress = typeof o[spec.hook!] === 'function' ? (o[spec.hook!] as (...a: unknown[]) => void) : undefined;
      signal ??= o.signal as AbortSignal | undefined;
      delete o[spec.hook!];
      delete o.signal;
      args = [...args];
      args[spec.options] = o;
    }
    const w = this.worker.wire(args);
    return this.worker.request<T>((id) => ({ type: 'call', id, model: this.info.model, method, args: w.args, progress: !!onProgress }), w.transfer, { signal, onProgress });
  }

  /** Frees the model's weights and buffers in the worker (after the calls made before it). */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.worker.request((id) => ({ type: 'dispose', id, model: this.info.model }), []);
  }
}

/**
 * A task's options as the worker client takes them: `attention` is
 * `{ latents }` or an attentionMaps() value (only its latents cross to the
 * worker, which records the maps itself).
 */
export type RemoteOptions<T extends { attention?: unknown }> = Omit<T, 'attention'> & { attention?: AttentionRequest };

/** The options with `attention` reduced to its latents (an attentionMaps() value holds functions, which cannot cross). */
function plainMaps<T extends { attention?: AttentionRequest }>(opts: T): T {
  return opts.attention ? { ...opts, attention: { latents: [...opts.attention.latents] } } : opts;
}

/** ImageClassifier in the worker. */
export class RemoteImageClassifier extends RemoteModel<ImageNetConfig> {
  /** the side the model is fed (224 for the released models) */
  get inputSize(): number {
    return this.info.dims.inputSize;
  }

  /**
   * Top-k labels with probabilities for each image (ImageBitmap, VideoFrame,
   * RGBA bytes; other DOM images are read here first). With an options
   * object: `{ predictions, crops, attention? }` (ImageClassifier.classify).
   */
  classify(images: ImageInput | ImageInput[], k?: number, call?: CallOptions): Promise<Prediction[][]>;
  classify(images: ImageInput | ImageInput[], opts: RemoteOptions<ClassifyOptions> & CallOptions): Promise<ClassifyResult>;
  classify(images: ImageInput | ImageInput[], kOrOpts: number | (RemoteOptions<ClassifyOptions> & CallOptions) = 5, call: CallOptions = {}): Promise<Prediction[][] | ClassifyResult> {
    if (typeof kOrOpts === 'number') return this.call('classify', [images, kOrOpts], call);
    const { signal, ...opts } = kOrOpts;
    return this.call('classify', [images, plainMaps(opts)], { signal });
  }

  /** Logits and, with `attention`, the cross-attention maps of its latents (ImageClassifier.forward). */
  forward(images: Float32Array, shape: readonly [number, number, number, number], attention?: AttentionRequest, call: CallOptions = {}): Promise<{ logits: Float32Array; attention?: AttentionMap[][] }> {
    return this.call('forward', attention ? [images, shape, { latents: [...attention.latents] }] : [images, shape], call);
  }

  /** Logits [B * numClasses] for already-normalised images, NHWC float32 [B, H, W, 3]. */
  logits(images: Float32Array, shape: readonly [number, number, number, number], call: CallOptions = {}): Promise<Float32Array> {
    return this.call('logits', [images, shape], call);
  }
}

/** MaskedLanguageModel in the worker. */
export class RemoteMaskedLanguageModel extends RemoteModel<LanguageConfig> {
  /** the model length in bytes (2048 for the released model) */
  get windowSize(): number {
    return this.info.dims.windowSize;
  }

  /** Fills the [MASK:N] gaps of `template` (docs/language.md); onProgress(windowsDone, windowsTotal) */
  fillMask(template: string, opts: FillMaskOptions & CallOptions = {}): Promise<FillMaskResult> {
    return this.call('fillMask', [template, opts]);
  }

  /** Fills byte ranges [start, end) of `text`'s UTF-8 bytes. */
  fillRanges(text: string, ranges: readonly ByteRange[], opts: FillMaskOptions & CallOptions = {}): Promise<FillMaskResult> {
    return this.call('fillRanges', [text, ranges, opts]);
  }

  /** MaskedLanguageModel.logits: ids, mask i32 [batch, L] -> logits, optionally at `positions`. */
  logits(ids: Int32Array, mask: Int32Array, batch: number, positions?: Int32Array, call: CallOptions = {}): Promise<Float32Array> {
    return this.call('logits', positions ? [ids, mask, batch, positions] : [ids, mask, batch], call);
  }
}

/** OpticalFlow in the worker. */
export class RemoteOpticalFlow extends RemoteModel<FlowConfig> {
  /** Flow from frame1 to frame2 (and optionally its picture); onTile(index, count, tile) reports each tile. */
  flow(frame1: ImageInput, frame2: ImageInput, opts: RemoteOptions<EstimateOptions> & CallOptions = {}): Promise<FlowResult> {
    return this.call('flow', [frame1, frame2, plainMaps(opts)]);
  }

  /** Flow for an already normalised pair [2, height, width, 3] in [-1, 1]. */
  flowNormalized(frames: Float32Array, height: number, width: number, opts: RemoteOptions<EstimateOptions> & CallOptions = {}): Promise<FlowResult> {
    return this.call('flowNormalized', [frames, height, width, plainMaps(opts)]);
  }

  /** The colour-wheel picture of any flow [height, width, 2]. */
  picture(flow: Float32Array, width: number, height: number, opts: FlowColorOptions = {}, call: CallOptions = {}): Promise<{ picture: RgbaImage; scale: number }> {
    return this.call('picture', [flow, width, height, opts], call);
  }
}

/** VideoAutoencoder in the worker. */
export class RemoteVideoAutoencoder extends RemoteModel<MultimodalConfig> {
  /** the side of the model's frames (224) */
  get size(): number {
    return this.info.dims.size;
  }

  /** The whole pipeline over a clip; onProgress({ window, windows, done, total }) per decoded slice. */
  autoencode(clip: VideoClip, opts: RemoteOptions<AutoencodeOptions> & CallOptions = {}): Promise<ClipResult> {
    return this.call('autoencode', [clip, plainMaps(opts)]);
  }
}

const isHubSource = (s: WorkerWeightSource): s is WorkerHubSource =>
  typeof s === 'object' && s !== null && typeof (s as WorkerHubSource).hub === 'string';
