// Fetching a weight file in a browser, optionally through the Cache API so
// the next visit loads it without the network. The Response it gives is
// streamed by loadWeights (engine/weights.ts) tensor by tensor onto the GPU:
//
//   const { response, fromCache } = await fetchWeights(url, { cache: true });
//   const model = await loadImageClassifier(gpu, response, { onProgress });
//
// When loading then fails (a truncated or wrong file), call forgetWeights(url)
// so the bad copy is not served again. Where the Cache API is absent (Node,
// non-secure pages) the cache option is ignored.

/** The Cache API cache that `cache: true` uses. */
export const WEIGHT_CACHE = 'perceiver-io-weights';

export interface FetchWeightsOptions {
  /** keep the file in the Cache API: true for WEIGHT_CACHE, or a cache name (default: no cache) */
  cache?: boolean | string;
  signal?: AbortSignal;
}

export interface FetchedWeights {
  /** the file, to stream into loadWeights or a task loader */
  response: Response;
  /** true when it came from the Cache API rather than the network */
  fromCache: boolean;
}

function cacheStorage(): CacheStorage | null {
  return typeof caches !== 'undefined' && typeof caches.open === 'function' ? caches : null;
}

const cacheName = (c: boolean | string | undefined) => (typeof c === 'string' ? c : WEIGHT_CACHE);

/**
 * Fetches a weight file. With `cache`, a stored copy is used when there is
 * one; otherwise the network response is stored while it streams (a copy that
 * fails to arrive whole is not kept). HTTP errors are thrown with the URL.
 */
export async function fetchWeights(url: string, opts: FetchWeightsOptions = {}): Promise<FetchedWeights> {
  const store = opts.cache ? cacheStorage() : null;
  const cache = store ? await store.open(cacheName(opts.cache)) : null;
  if (cache) {
    const hit = await cache.match(url);
    if (hit) return { response: hit, fromCache: true };
  }
  let response: Response;
  try {
    response = await fetch(url, { signal: opts.signal });
  } catch (e) {
    throw new Error(`could not fetch the weight file ${url}: ${(e as Error).message}`);
  }
  if (!response.ok) throw new Error(`could not fetch the weight file ${url}: HTTP ${response.status} ${response.statusText}`.trimEnd());
  if (cache && response.body) {
    // put() reads its own branch of the body; a failed transfer rejects it and nothing is stored.
    cache.put(url, response.clone()).catch(() => cache.delete(url));
  }
  return { response, fromCache: false };
}

/** Drops a cached weight file (e.g. after it failed to load). Resolves to whether one was there. */
export async function forgetWeights(url: string, cache: boolean | string = true): Promise<boolean> {
  const store = cacheStorage();
  if (!store) return false;
  return (await store.open(cacheName(cache))).delete(url);
}
