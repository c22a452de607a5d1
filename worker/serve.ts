// The worker's side of the protocol (worker/protocol.ts): one queue of
// requests run one at a time on one device, the loaded models by handle,
// progress and cancellation through the tasks' own progress callbacks, and
// results posted with their buffers transferred.
//
// worker/worker.ts runs `serve(self)` in a dedicated worker; tests run it on
// one end of a MessageChannel with their own device and loaders. Each task's
// code is imported on its first load (a chunk of its own in a bundle), so a
// worker that only classifies never fetches the flow or video code.

import { createGpu, type Gpu, type GpuOptions } from '../engine/gpu.ts';
import type { WeightSource } from '../engine/weights.ts';
import type { ModelLoadOptions, ModelSource } from '../perceiver/load.ts';
import type { AttentionRequest } from '../perceiver/attention_grid.ts';
import { fetchWeights } from '../engine/fetch.ts';
import { METHODS, TASK_NAMES, toWireError, transferables, type ModelInfo, type Port, type Reply, type Request, type TaskName, type WireSource, type WorkerStatus } from './protocol.ts';

/** A task's loader: the `loadImageClassifier` signature. */
export type TaskLoader = (gpu: Gpu, source: ModelSource, opts: ModelLoadOptions) => Promise<object>;

export interface ServeOptions {
  /** makes the device (default: createGpu(navigator.gpu, options from the client's init)) */
  gpu?: (opts: GpuOptions) => Promise<Gpu>;
  /** leave the device alive on close (it is shared with others); default: close destroys it */
  keepDevice?: boolean;
  /** where each task's loader comes from (default: a dynamic import of the task's load module) */
  loaders?: Partial<Record<TaskName, () => Promise<TaskLoader>>>;
}

const LOADERS: Record<TaskName, () => Promise<TaskLoader>> = {
  imagenet: () => import('../perceiver/imagenet/load.ts').then((m) => m.loadImageClassifier),
  language: () => import('../perceiver/language/load.ts').then((m) => m.loadMaskedLanguageModel),
  flow: () => import('../perceiver/flow/load.ts').then((m) => m.loadOpticalFlow),
  video: () => import('../perceiver/video/api.ts').then((m) => m.loadVideoAutoencoder),
};

/** Numeric getters of the task models that the client mirrors (ImageClassifier.inputSize, MaskedLanguageModel.windowSize, VideoAutoencoder.size). */
const DIMENSIONS = ['inputSize', 'windowSize', 'size'];

interface Job {
  id: number;
  cancelled: boolean;
  run(job: Job): Promise<unknown>;
}

interface Loaded {
  task: TaskName;
  model: Record<string, unknown>;
}

function abortError(what: string): Error {
  return new DOMException(`${what} was cancelled`, 'AbortError');
}

/** A stream with its length known: as a Response with that content-length (what loadWeights reads the length from). */
function sized(stream: ReadableStream<Uint8Array>, length: number | undefined): WeightSource {
  if (typeof Response === 'undefined' || !(Number.isSafeInteger(length) && length! >= 0)) return stream;
  return new Response(stream, { headers: { 'content-length': String(length) } });
}

/** Frees a task model: its buffers and the weights its loader uploaded (every task model's dispose()). */
function free(model: Record<string, unknown>): void {
  (model.dispose as (() => void) | undefined)?.call(model);
}

/**
 * Serves the protocol on `port` until a `close` request. Returns a promise
 * that settles when it has closed.
 */
export function serve(port: Port, opts: ServeOptions = {}): Promise<void> {
  const makeGpu = opts.gpu ?? ((o: GpuOptions) => createGpu(typeof navigator !== 'undefined' ? navigator.gpu : undefined, o));
  let gpuOptions: GpuOptions = {};
  let gpu: Promise<Gpu> | null = null;
  let device: Gpu | null = null;
  const models = new Map<number, Loaded>();
  let nextModel = 1;
  const queue: Job[] = [];
  let running: Job | null = null;
  let pumping = false;
  let closing = false;
  const counts = { started: 0, finished: 0, cancelled: 0 };
  let closed!: () => void;
  const done = new Promise<void>((r) => (closed = r));

  const post = (m: Reply, transfer: Transferable[] = []) => port.postMessage(m, transfer);

  const getGpu = (): Promise<Gpu> => {
    gpu ??= makeGpu(gpuOptions).then((g) => {
      device = g;
      // every loss (the models then recover on their next call: perceiver/load.ts ModelWeights)
      const before = g.onLost;
      g.onLost = (e) => {
        before?.(e);
        if (!closing) post({ type: 'lost', reason: e.message });
      };
      return g;
    });
    gpu.catch(() => (gpu = null)); // a failed attempt is not cached: the next request tries again
    return gpu;
  };

  const status = (): WorkerStatus => ({
    adapter: device?.adapterName ?? null,
    features: device ? { f16: device.features.f16, subgroups: device.features.subgroups, emulated: device.features.emulated } : null,
    lost: device?.lost?.message ?? null,
    ...counts,
    queued: queue.length,
    models: models.size,
  });

  async function source(s: WireSource): Promise<{ source: ModelSource; fromCache: boolean }> {
    switch (s?.kind) {
      case 'url': {
        // a function: after a device loss the loader can fetch the file again (ModelLoadOptions.recover)
        const r = { source: null as unknown as ModelSource, fromCache: false };
        let first = true;
        r.source = async () => {
          const f = await fetchWeights(s.url, { cache: s.cache });
          if (first) r.fromCache = f.fromCache;
          first = false;
          return f.response;
        };
        return r;
      }
      case 'bytes':
        return { source: s.bytes, fromCache: false };
      case 'blob':
        return { source: sized(s.blob.stream() as ReadableStream<Uint8Array>, s.blob.size), fromCache: false };
      case 'stream':
        return { source: sized(s.stream, s.length), fromCache: false };
      case 'hub': {
        // loaded on first use: only apps whose worker loads from the hub fetch the hub code
        const { hub } = await import('../perceiver/hub/index.ts');
        return { source: hub(s.repo, { ...(s.revision ? { revision: s.revision } : {}), ...(s.endpoint ? { endpoint: s.endpoint } : {}), cache: s.cache }), fromCache: false };
      }
      default:
        throw new TypeError(`perceiver worker: unknown weight source ${JSON.stringify((s as { kind?: unknown })?.kind)}`);
    }
  }

  async function load(job: Job, m: Extract<Request, { type: 'load' }>): Promise<ModelInfo> {
    if (!TASK_NAMES.includes(m.task)) throw new TypeError(`perceiver worker: unknown task '${String(m.task)}' (one of ${TASK_NAMES.join(', ')})`);
    const loader = await (opts.loaders?.[m.task] ?? LOADERS[m.task])();
    const g = await getGpu();
    const src = await source(m.source);
    let meta: Record<string, unknown> = {};
    let tensors = 0;
    const model = (await loader(g, src.source, {
      keepF16: !!m.opts?.keepF16,
      compile: m.opts?.compile,
      recover: m.opts?.recover,
      expectMeta: (x) => {
        meta = x;
      },
      onProgress: (loaded, total, name) => {
        tensors++;
        if (job.cancelled) throw abortError('loading the weights');
        if (m.opts?.progress) post({ type: 'progress', id: job.id, args: ['weights', loaded, total, name] });
      },
      onCompile: (done, total) => {
        if (job.cancelled) throw abortError('loading the weights');
        if (m.opts?.progress) post({ type: 'progress', id: job.id, args: ['compile', done, total] });
      },
    })) as Record<string, unknown>;
    if (job.cancelled) {
      free(model);
      throw abortError('loading the weights');
    }
    const handle = nextModel++;
    models.set(handle, { task: m.task, model });
    const config = (model.config ?? {}) as Record<string, unknown>;
    const dims: Record<string, number> = {};
    for (const k of DIMENSIONS) if (typeof model[k] === 'number') dims[k] = model[k] as number;
    return { model: handle, task: m.task, preset: String(config.preset ?? meta.preset), config, meta, tensors, fromCache: src.fromCache, dims };
  }

  async function call(job: Job, m: Extract<Request, { type: 'call' }>): Promise<unknown> {
    const entry = models.get(m.model);
    if (!entry) throw new Error(`perceiver worker: no model ${m.model} (it was disposed, or never loaded)`);
    const spec = Object.hasOwn(METHODS[entry.task], m.method) ? METHODS[entry.task][m.method] : undefined;
    const fn = entry.model[m.method];
    if (!spec || typeof fn !== 'function') throw new TypeError(`perceiver worker: a ${entry.task} model has no method '${m.method}' (it has ${Object.keys(METHODS[entry.task]).join(', ')})`);
    const args = Array.isArray(m.args) ? [...m.args] : [];
    if (spec.maps) {
      // the attention maps' request crossed as plain { latents }: the maps' code is loaded on first use
      const { arg, option } = spec.maps;
      const holder = args[arg];
      const req = option ? (typeof holder === 'object' && holder !== null ? (holder as { attention?: unknown }).attention : undefined) : holder;
      if (req !== undefined && req !== null) {
        const maps = (await import('../perceiver/attention_maps.ts')).attentionMaps(req as AttentionRequest);
        args[arg] = option ? { ...(holder as object), attention: maps } : maps;
      }
    }
    if (spec.hook && spec.options !== undefined) {
      // the task's own progress callback: reports progress, and is where a cancelled call stops
      const given = args[spec.options];
      args[spec.options] = {
        ...(typeof given === 'object' && given !== null ? given : {}),
        [spec.hook]: (...a: unknown[]) => {
          if (job.cancelled) throw abortError(m.method);
          if (m.progress) post({ type: 'progress', id: job.id, args: a });
        },
      };
    }
    return (fn as (...a: unknown[]) => Promise<unknown>).apply(entry.model, args);
  }

  async function pump(): Promise<void> {
    if (pumping) return;
    pumping = true;
    while (queue.length) {
      // one turn of the event loop first: a cancel sent while the last request ran is read before the next starts
      await new Promise((r) => setTimeout(r, 0));
      if (!queue.length) break;
      const job = queue.shift()!;
      running = job;
      counts.started++;
      try {
        const value = await job.run(job);
        try {
          post({ type: 'result', id: job.id, value }, transferables(value));
        } catch (e) {
          post({ type: 'error', id: job.id, error: toWireError(new Error(`perceiver worker: the result could not be sent back: ${(e as Error).message}`)) });
        }
      } catch (e) {
        post({ type: 'error', id: job.id, error: toWireError(e) });
      } finally {
        counts.finished++;
        running = null;
      }
    }
    pumping = false;
  }

  const enqueue = (id: number, run: (job: Job) => Promise<unknown>) => {
    if (closing) {
      post({ type: 'error', id, error: toWireError(abortError('the request (the worker is closing)')) });
      return;
    }
    queue.push({ id, cancelled: false, run });
    void pump();
  };

  async function close(): Promise<void> {
    closing = true;
    for (const j of queue.splice(0)) {
      counts.cancelled++;
      post({ type: 'error', id: j.id, error: toWireError(abortError('the request (the worker is closing)')) });
    }
    if (running) running.cancelled = true;
    while (running) await new Promise((r) => setTimeout(r, 10));
    for (const { model } of models.values()) {
      try {
        free(model);
      } catch {
        // a lost device: nothing left to free
      }
    }
    models.clear();
    const g = await gpu?.catch(() => null);
    if (!opts.keepDevice) g?.destroy();
    port.removeEventListener?.('message', onMessage);
    post({ type: 'closed' });
    closed();
  }

  function onMessage(ev: { data: unknown }): void {
    const m = ev.data as Request;
    if (typeof m !== 'object' || m === null) return;
    switch (m.type) {
      case 'init':
        gpuOptions = m.gpu ?? {};
        return;
      case 'load':
        return enqueue(m.id, (job) => load(job, m));
      case 'call':
        return enqueue(m.id, (job) => call(job, m));
      case 'dispose':
        return enqueue(m.id, async () => {
          const entry = models.get(m.model);
          if (!entry) return false;
          models.delete(m.model);
          free(entry.model);
          return true;
        });
      case 'cancel': {
        const i = queue.findIndex((j) => j.id === m.id);
        if (i >= 0) {
          queue.splice(i, 1);
          counts.cancelled++;
          post({ type: 'error', id: m.id, error: toWireError(abortError('the request')) });
        } else if (running?.id === m.id) {
          running.cancelled = true; // stops at the task's next progress callback, if it has one
        }
        return;
      }
      case 'status':
        getGpu().then(
          () => post({ type: 'result', id: m.id, value: status() }),
          (e) => post({ type: 'error', id: m.id, error: toWireError(e) }),
        );
        return;
      case 'close':
        void close();
        return;
    }
  }
  port.addEventListener('message', onMessage);
  (port as { start?: () => void }).start?.();
  return done;
}
