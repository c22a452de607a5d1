// The page script of test/browser/hub.test.ts: perceiver/hub in a real
// browser (fetch, redirects, the Cache API), driven through window.__hub.

import { hub, hubBrowserCache } from '../../perceiver/hub/index.ts';
import { parseWeightHeader } from '../../engine/weights.ts';
import { createGpu } from '../../engine/gpu.ts';
import { loadImageClassifier } from '../../perceiver/imagenet/index.ts';

const CACHE = 'perceiver-io-hub-test';

/** SHA-256 of a weight file's tensor bytes in header order (meta aside), hex. */
async function tensorDigest(file: Uint8Array): Promise<string> {
  const h = parseWeightHeader(file);
  const parts = h.tensors.map((t) => file.subarray(t.offset, t.offset + t.bytes));
  const all = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.byteLength;
  }
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
}

const api = {
  /** the converted weight file of a repo through the Cache API cache: its tensor digest, size, progress seen */
  async weights(repo: string, endpoint: string) {
    const progress: [number, number, string][] = [];
    const f = await hub(repo, { endpoint, cache: hubBrowserCache(CACHE) }).weightFile({ onProgress: (l, t, n) => progress.push([l, t, n]) });
    const bytes = f instanceof Uint8Array ? f : new Uint8Array(await f.arrayBuffer());
    return { digest: await tensorDigest(bytes), bytes: bytes.byteLength, cached: !(f instanceof Uint8Array), last: progress[progress.length - 1] };
  },
  /** a Cache API that refuses for lack of quota: two loads through one cache, the second from memory */
  async quota(repo: string, endpoint: string) {
    const put = Cache.prototype.put;
    Cache.prototype.put = () => Promise.reject(new DOMException('the quota has been exceeded', 'QuotaExceededError'));
    try {
      const cache = hubBrowserCache('perceiver-io-hub-quota');
      const a = await hub(repo, { endpoint, cache }).weightFile({});
      const b = await hub(repo, { endpoint, cache }).weightFile({});
      const keys = (await (await caches.open('perceiver-io-hub-quota')).keys()).length;
      return { same: a === b, memory: b instanceof Uint8Array, keys };
    } finally {
      Cache.prototype.put = put;
    }
  },
  async cachedKeys() {
    return (await (await caches.open(CACHE)).keys()).map((r) => r.url);
  },
  /** loads a classifier from the hub on the page's WebGPU adapter and returns its logits */
  async logits(repo: string, endpoint: string, images: number[], shape: [number, number, number, number]) {
    const gpu = await createGpu(navigator.gpu);
    const model = await loadImageClassifier(gpu, hub(repo, { endpoint, cache: hubBrowserCache(CACHE) }));
    return [...(await model.logits(Float32Array.from(images), shape))];
  },
};

(window as unknown as { __hub: typeof api }).__hub = api;
document.title = 'hub ready';
