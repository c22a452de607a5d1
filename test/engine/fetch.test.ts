// engine/fetch.ts: fetching a weight file and streaming it onto the GPU (the
// Cache API part runs in the browser tests: Node has no Cache API).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testGpu } from '../gpu.ts';
import { readF32 } from '../../engine/index.ts';
import { encodeWeights, loadWeights } from '../../engine/weights.ts';
import { fetchWeights, forgetWeights } from '../../engine/fetch.ts';
import { serveDir } from '../../demo/serve.ts';

test('fetchWeights streams a served file into loadWeights with progress; HTTP errors name the URL', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fetch-weights-'));
  const a = Float32Array.from({ length: 300 }, (_, i) => i / 7);
  const b = Float32Array.from({ length: 70 }, (_, i) => -i);
  writeFileSync(join(dir, 'm.weights'), encodeWeights({ preset: 'test' }, [
    { name: 'a', dtype: 'f32', shape: [3, 100], data: a },
    { name: 'b', dtype: 'f32', shape: [70], data: b },
  ]));
  const server = await serveDir(dir);
  try {
    const gpu = await testGpu();
    const { response, fromCache } = await fetchWeights(`${server.url}m.weights`, { cache: true });
    assert.is(fromCache, false, 'no Cache API in Node: always the network');
    const seen: number[] = [];
    const w = await loadWeights(gpu, response, { onProgress: (done, total) => seen.push(done / total) });
    assert.equal(Array.from(await readF32(w.tensors.get('a')!)), Array.from(a));
    assert.equal(Array.from(await readF32(w.tensors.get('b')!)), Array.from(b));
    assert.is(seen.length, 2);
    assert.is(seen[1], 1);
    for (const t of w.tensors.values()) t.dispose();
    try {
      await fetchWeights(`${server.url}missing.weights`);
      assert.unreachable('a 404 must throw');
    } catch (e) {
      assert.match((e as Error).message, /could not fetch the weight file http:\/\/127\.0\.0\.1:\d+\/missing\.weights: HTTP 404/);
    }
    assert.is(await forgetWeights(`${server.url}m.weights`), false);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
