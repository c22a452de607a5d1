// Loading DeepMind's Perceiver IO weights from the HuggingFace hub (the
// `perceiver-io-webgpu/hub` subpath; browser and Node):
//
//   const model = await loadImageClassifier(gpu, hub('deepmind/vision-perceiver-conv'), { onProgress });
//
// hub(repo, { revision, endpoint, cache, dtype }) is a WeightProvider
// (engine/weights.ts) that every task loader accepts. When asked for the
// weights it
//   1. looks in the cache for this repo/revision/dtype's converted file;
//   2. else fetches `{endpoint}/{repo}/resolve/{revision}/config.json`
//      (model class and sizes -> preset and overrides, perceiver/hf.ts),
//      then `model.safetensors`, or when that is absent (404)
//      `model.safetensors.index.json` and its shards, or `pytorch_model.bin`;
//      safetensors are parsed as they stream (tools/safetensors.ts), a .bin
//      is read whole (a zip is read from its end) and parsed by the
//      restricted pickle reader (tools/torch.ts): nothing in it is executed;
//   3. converts them exactly as the converter does (tools/convert.ts, the
//      same bits as DeepMind's pickle) into the project's weight format;
//   4. stores that file in the cache, only now that every file arrived whole
//      and converted: a cut or failed download leaves nothing behind.
// Progress is one figure, bytes over all files fetched (the total grows as
// each file's length becomes known), named by the file.
//
// Caches: `cache: true` (the default) is the Cache API where there is one
// (browsers, secure pages), falling back to memory when the quota is
// exceeded (for the life of that cache object); `false` for none; or any
// HubCache, e.g. one hubMemoryCache() or hubBrowserCache() shared by several
// loads, or perceiver/hub/node.ts's nodeHubCache(dir) (a folder, for Node).
// Without the Cache API, `true` keeps nothing.
// Browser-safe: no node: imports. Only pulled into an app that imports it.

import type { WeightProvider } from '../../engine/weights.ts';
import { HF_ENDPOINT } from '../hf.ts';

export { HF_ENDPOINT, HF_HUB_IDS } from '../hf.ts';
import type { NdArray } from '../../tools/ndarray.ts';
import { convertHf, parseHfConfig, type StoreDtype } from '../../tools/convert.ts';
import { streamSafetensors, parseSafetensorsIndex, joinShards } from '../../tools/safetensors.ts';
import { readTorchStateDict } from '../../tools/torch.ts';

/** The Cache API cache the default cache uses. */
export const HUB_CACHE = 'perceiver-io-hub';

/** A store for converted weight files, by key. */
export interface HubCache {
  get(key: string): Promise<Uint8Array | Response | null>;
  put(key: string, file: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
}

export interface HubOptions {
  /** branch, tag or commit (default 'main') */
  revision?: string;
  /** the hub's address (default https://huggingface.co; a mirror or a local server) */
  endpoint?: string;
  /** true (default): the Cache API, else memory on quota errors; false: none; or a HubCache */
  cache?: boolean | HubCache;
  /** float storage of the converted file (f16 halves the cache; loaders widen or keep it) */
  dtype?: StoreDtype;
  /** the fetch to use (default globalThis.fetch) */
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

/** A cache in memory (for one page's life or one process). */
export function hubMemoryCache(): HubCache {
  const m = new Map<string, Uint8Array>();
  return {
    get: async (k) => m.get(k) ?? null,
    put: async (k, f) => void m.set(k, f),
    delete: async (k) => void m.delete(k),
  };
}

const isQuota = (e: unknown) => e instanceof Error && (e.name === 'QuotaExceededError' || /quota/i.test(e.message));

/**
 * The Cache API cache `name`, falling back to memory for files it refuses
 * for lack of quota. Where there is no Cache API (Node, plain http pages) it
 * keeps nothing.
 */
export function hubBrowserCache(name = HUB_CACHE): HubCache {
  const memory = hubMemoryCache();
  const storage = typeof caches !== 'undefined' && typeof caches?.open === 'function' ? caches : null;
  return {
    async get(key) {
      const hit = storage ? await (await storage.open(name)).match(key) : undefined;
      return hit ?? memory.get(key);
    },
    async put(key, file) {
      if (!storage) return;
      try {
        const headers = { 'content-type': 'application/octet-stream', 'content-length': String(file.byteLength) };
        await (await storage.open(name)).put(key, new Response(file as Uint8Array<ArrayBuffer>, { headers }));
      } catch (e) {
        if (!isQuota(e)) throw e;
        await memory.put(key, file);
      }
    },
    async delete(key) {
      if (storage) await (await storage.open(name)).delete(key);
      await memory.delete(key);
    },
  };
}

/** Thrown for an HTTP status; `status` lets callers tell a missing file (404) from a failure. */
export class HubError extends Error {
  override name = 'HubError';
  constructor(
    message: string,
    readonly status = 0,
  ) {
    super(message);
  }
}

const REPO = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

/** The URL of a file of a hub repository at a revision. */
export function hubUrl(repo: string, file: string, opts: Pick<HubOptions, 'revision' | 'endpoint'> = {}): string {
  if (!REPO.test(repo) || repo.includes('..')) throw new HubError(`hub: '${repo}' is not a repository id (owner/name)`);
  const endpoint = (opts.endpoint ?? HF_ENDPOINT).replace(/\/+$/, '');
  if (!/^https?:\/\//.test(endpoint)) throw new HubError(`hub: endpoint '${endpoint}' is not an http(s) address`);
  return `${endpoint}/${repo}/resolve/${encodeURIComponent(opts.revision ?? 'main')}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * Perceiver IO weights from a HuggingFace hub repository, for any task
 * loader: `loadImageClassifier(gpu, hub('deepmind/vision-perceiver-conv'))`.
 */
export function hub(repo: string, opts: HubOptions = {}): WeightProvider & { readonly repo: string; readonly key: string } {
  const dtype = opts.dtype ?? 'f32';
  if (dtype !== 'f32' && dtype !== 'f16') throw new HubError(`hub: dtype must be f32 or f16, not '${String(dtype)}'`);
  const key = hubUrl(repo, `perceiver-io-${dtype}.weights`, opts); // a cache key, not a file on the hub
  const cache = opts.cache === false ? null : opts.cache === undefined || opts.cache === true ? hubBrowserCache() : opts.cache;
  return {
    repo,
    key,
    async weightFile({ onProgress }) {
      const hit = cache ? await cache.get(key) : null;
      if (hit) {
        const n = hit instanceof Uint8Array ? hit.byteLength : Number(hit.headers.get('content-length') ?? 0);
        onProgress?.(n, n, 'cache');
        return hit;
      }
      const file = await download(repo, opts, dtype, onProgress);
      if (cache) await cache.put(key, file);
      return file;
    },
  };
}

/** Fetches, parses and converts one repository's checkpoint (nothing is cached here). */
async function download(repo: string, opts: HubOptions, dtype: StoreDtype, onProgress?: (loaded: number, total: number, name: string) => void): Promise<Uint8Array> {
  const get = opts.fetch ?? globalThis.fetch;
  let loaded = 0;
  let total = 0;
  const report = (name: string) => onProgress?.(loaded, Math.max(total, loaded), name);
  /** the response for a file, or null for a 404 when `optional` */
  const open = async (file: string, optional: boolean): Promise<Response | null> => {
    const url = hubUrl(repo, file, opts);
    let r: Response;
    try {
      r = await get(url, { signal: opts.signal, redirect: 'follow' });
    } catch (e) {
      throw new HubError(`hub: could not fetch ${url}: ${(e as Error).message}`);
    }
    if (r.status === 404 && optional) {
      await r.body?.cancel().catch(() => {});
      return null;
    }
    if (!r.ok) throw new HubError(`hub: ${url}: HTTP ${r.status} ${r.statusText}`.trimEnd(), r.status);
    const cl = r.headers.get('content-length');
    if (cl && /^\d+$/.test(cl) && !r.headers.get('content-encoding')) total += Number(cl);
    return r;
  };
  /** a whole (small or zip) file's bytes, its length checked against content-length */
  const whole = async (r: Response, file: string): Promise<Uint8Array> => {
    const chunks: Uint8Array[] = [];
    const reader = r.body!.getReader();
    let n = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        n += value.byteLength;
        loaded += value.byteLength;
        report(file);
      }
    } catch (e) {
      throw new HubError(`hub: the download of ${file} failed after ${n} bytes: ${(e as Error).message}`);
    }
    const cl = r.headers.get('content-length');
    if (cl && !r.headers.get('content-encoding') && Number(cl) !== n) throw new HubError(`hub: ${file} arrived with ${n} of ${cl} bytes (cut off)`);
    const out = new Uint8Array(n);
    let o = 0;
    for (const c of chunks) {
      out.set(c, o);
      o += c.byteLength;
    }
    return out;
  };
  const stream = async (r: Response, file: string): Promise<Map<string, NdArray>> => {
    const base = loaded;
    try {
      return await streamSafetensors(r, {
        onBytes: (n) => {
          loaded = base + n;
          report(file);
        },
      });
    } catch (e) {
      throw new HubError(`hub: ${file}: ${(e as Error).message}`);
    }
  };

  const configText = new TextDecoder().decode(await whole((await open('config.json', false))!, 'config.json'));
  parseHfConfig(configText); // refuse a non-Perceiver repository before the big download
  let tensors: Map<string, NdArray>;
  let source: string;
  const single = await open('model.safetensors', true);
  if (single) {
    tensors = await stream(single, 'model.safetensors');
    source = 'model.safetensors';
  } else {
    const index = await open('model.safetensors.index.json', true);
    if (index) {
      const shards = parseSafetensorsIndex(new TextDecoder().decode(await whole(index, 'model.safetensors.index.json')));
      const read = new Map<string, Map<string, NdArray>>();
      for (const file of shards.keys()) read.set(file, await stream((await open(file, false))!, file));
      tensors = joinShards(shards, read);
      source = `model.safetensors.index.json (${shards.size} shards)`;
    } else {
      const bin = await open('pytorch_model.bin', true);
      if (!bin) throw new HubError(`hub: ${repo} has none of model.safetensors, model.safetensors.index.json, pytorch_model.bin at revision ${opts.revision ?? 'main'}`, 404);
      tensors = readTorchStateDict(await whole(bin, 'pytorch_model.bin'));
      source = 'pytorch_model.bin';
    }
  }
  return convertHf(configText, tensors, dtype, `hf:${repo}@${opts.revision ?? 'main'}/${source}`);
}
