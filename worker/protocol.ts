// The messages between the main-thread client (worker/index.ts) and the
// worker (worker/serve.ts), and what both sides share: which methods of which
// task may be called, where each method takes its progress callback, the
// wire form of errors and the search for transferable buffers.
//
// One conversation: the client sends `init` once, then any number of `load`,
// `call`, `dispose`, `cancel` and `status` messages, each with an id it has
// not used before (`cancel` names the id of the request to drop); the worker
// answers each request with any number of `progress` and exactly one
// `result` or `error`. `status` and `cancel` bypass the queue. `close` ends
// the conversation (models and the device are freed, then `closed`). Every
// message is a plain object that structured-clones; no functions travel.

import type { GpuOptions } from '../engine/gpu.ts';

/** The four tasks, named as their subpaths. */
export type TaskName = 'imagenet' | 'language' | 'flow' | 'video';

export const TASK_NAMES: readonly TaskName[] = ['imagenet', 'language', 'flow', 'video'];

/**
 * The methods a client may call on a loaded model of each task, and for
 * those that report progress, which argument holds the options object and
 * which option is the progress callback. `maps`: the argument that holds the
 * call's attention-maps request `{ latents }` (`option`: as that argument's
 * `attention` field), which the worker turns into attentionMaps({ latents }).
 * Anything else is refused by the worker.
 */
export const METHODS: Readonly<Record<TaskName, Readonly<Record<string, { options?: number; hook?: string; maps?: { arg: number; option?: true } }>>>> = {
  imagenet: { classify: { maps: { arg: 1, option: true } }, logits: {}, forward: { maps: { arg: 2 } } },
  language: { fillMask: { options: 1, hook: 'onProgress' }, fillRanges: { options: 2, hook: 'onProgress' }, logits: {} },
  flow: { flow: { options: 2, hook: 'onTile', maps: { arg: 2, option: true } }, flowNormalized: { options: 3, hook: 'onTile', maps: { arg: 3, option: true } }, picture: {} },
  video: { autoencode: { options: 1, hook: 'onProgress', maps: { arg: 1, option: true } } },
};

/** A weight file as it crosses to the worker: a URL it fetches, bytes (transferred), a Blob, or a stream (transferred). */
export type WireSource =
  | { kind: 'url'; url: string; cache?: boolean | string }
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'blob'; blob: Blob }
  /** `length`: the file's length when known (a Response's content-length), for the loader's checks and messages */
  | { kind: 'stream'; stream: ReadableStream<Uint8Array>; length?: number }
  /** a HuggingFace hub checkpoint, fetched and converted in the worker (perceiver/hub) */
  | { kind: 'hub'; repo: string; revision?: string; endpoint?: string; cache: boolean };

export interface WireLoadOptions {
  /** see LoadOptions.keepF16 (true: keep the Linear weights f16 where the adapter has shader-f16) */
  keepF16?: boolean;
  /** ModelLoadOptions.compile: compile the first call's pipelines while loading (default true) */
  compile?: boolean;
  /** ModelLoadOptions.recover (a URL is fetched again after a device loss: the worker's source is a function) */
  recover?: 'source' | 'keep' | 'none';
  /** post load progress: ['weights', loadedBytes, totalBytes, name] per tensor, ['compile', done, total] per pipeline */
  progress?: boolean;
}

export type Request =
  | { type: 'init'; gpu?: GpuOptions }
  | { type: 'load'; id: number; task: TaskName; source: WireSource; opts: WireLoadOptions }
  | { type: 'call'; id: number; model: number; method: string; args: unknown[]; progress: boolean }
  | { type: 'dispose'; id: number; model: number }
  | { type: 'cancel'; id: number }
  | { type: 'status'; id: number }
  | { type: 'close' };

/** What a loaded model is, as the client sees it. */
export interface ModelInfo {
  /** the handle calls name */
  model: number;
  task: TaskName;
  preset: string;
  /** the model's config (plain data: sizes, preset) */
  config: Record<string, unknown>;
  /** the weight file's meta (preset, overrides, dtype, source, converter) */
  meta: Record<string, unknown>;
  /** tensors uploaded */
  tensors: number;
  /** for a URL with `cache`: whether the file came from the Cache API */
  fromCache: boolean;
  /** the model's sizes: inputSize (imagenet), windowSize (language), size (video) */
  dims: Record<string, number>;
}

export interface WorkerStatus {
  /** null until the device exists (the first load, or a status call, creates it) */
  adapter: string | null;
  features: { f16: boolean; subgroups: boolean; emulated: boolean } | null;
  /** why the device is lost, while it is (a call that recovers clears it), or null */
  lost: string | null;
  /** requests that have left the queue and started, finished (either way), and were cancelled before they started */
  started: number;
  finished: number;
  cancelled: number;
  /** requests waiting now */
  queued: number;
  /** models loaded and not disposed */
  models: number;
}

export interface WireError {
  name: string;
  message: string;
  stack?: string;
  /** the error's own data fields (GpuError.kernels, FillMaskSyntaxError.index/line/column, ...) */
  props?: Record<string, unknown>;
}

export type Reply =
  | { type: 'progress'; id: number; args: unknown[] }
  | { type: 'result'; id: number; value: unknown }
  | { type: 'error'; id: number; error: WireError }
  | { type: 'lost'; reason: string }
  | { type: 'closed' };

/** The part of a MessagePort / Worker / worker global scope that both sides use. */
export interface Port {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (ev: { data: unknown }) => void): void;
  removeEventListener?(type: 'message', listener: (ev: { data: unknown }) => void): void;
}

/** An error as plain data (its own string, number and boolean fields and string arrays kept). */
export function toWireError(e: unknown): WireError {
  if (!(e instanceof Error) && !(typeof e === 'object' && e !== null && 'message' in e)) {
    return { name: 'Error', message: String(e) };
  }
  const err = e as Error & Record<string, unknown>;
  const props: Record<string, unknown> = {};
  for (const k of Object.keys(err)) {
    const v = err[k];
    if (k === 'name' || k === 'message' || k === 'stack') continue;
    if (['string', 'number', 'boolean'].includes(typeof v) || (Array.isArray(v) && v.every((x) => typeof x === 'string'))) props[k] = v;
  }
  return { name: String(err.name ?? 'Error'), message: String(err.message ?? ''), stack: typeof err.stack === 'string' ? err.stack : undefined, props };
}

/**
 * The ArrayBuffers (and ImageBitmaps / VideoFrames, where the platform has
 * them) inside `value`: typed arrays, DataViews and buffers found in plain
 * objects and arrays, each buffer once. Arrays whose first element is a
 * number are not searched further (they hold no buffers; a long list of
 * numbers would only cost time).
 */
export function transferables(value: unknown, out: Transferable[] = [], seen = new Set<unknown>()): Transferable[] {
  const visit = (v: unknown, depth: number): void => {
    if (typeof v !== 'object' || v === null || depth > 8) return;
    if (ArrayBuffer.isView(v)) {
      const b = v.buffer;
      if (b instanceof ArrayBuffer && !seen.has(b) && b.byteLength > 0) {
        seen.add(b);
        out.push(b);
      }
      return;
    }
    if (v instanceof ArrayBuffer) {
      if (!seen.has(v) && v.byteLength > 0) {
        seen.add(v);
        out.push(v);
      }
      return;
    }
    if ((typeof ImageBitmap !== 'undefined' && v instanceof ImageBitmap) || (typeof VideoFrame !== 'undefined' && v instanceof VideoFrame)) {
      if (!seen.has(v)) {
        seen.add(v);
        out.push(v as Transferable);
      }
      return;
    }
    if (seen.has(v)) return;
    seen.add(v);
    if (Array.isArray(v)) {
      if (typeof v[0] === 'number') return;
      for (const x of v) visit(x, depth + 1);
      return;
    }
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return; // only plain objects: a Blob, a Map, a class instance carries none of ours
    for (const x of Object.values(v)) visit(x, depth + 1);
  };
  visit(value, 0);
  return out;
}
