// perceiver/hub in headless Chromium: the real fetching and caching code
// (fetch with a redirect, the Cache API) against the local hub stand-in
// (test/perceiver/hub_server.ts, serving ../shared/golden-hf on 127.0.0.1,
// the page on the same origin): the .bin fallback and a redirect give the
// pickle's bits, a connection cut half way leaves nothing in the cache, the
// next load is cached and the one after needs no network, and a classifier
// loaded from a hub id on the page's adapter gives DeepMind's logits; the
// demo page's "From the HuggingFace hub" weights source loads a model id
// from this stand-in (its endpoint field).
// Skipped, with the reason, when Chromium or the fixtures are absent.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { buildDemo } from '../../demo/build.ts';
import { serveDir, type DemoServer } from '../../demo/serve.ts';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { build } from 'esbuild';
import { browserMissing, launch, type Browser } from './browser.ts';
import { startHub, type HubServer } from '../perceiver/hub_server.ts';
import { convertToWeightFile } from '../../tools/convert.ts';
import { parseWeightHeader } from '../../engine/weights.ts';
import { readNpz } from '../../tools/npy.ts';
import { relError } from '../gpu.ts';
import { GOLDEN_DIR, REPO } from '../tools/helpers.ts';
import { skip } from '../skip.ts';

const HF_DIR = [process.env.PERCEIVER_GOLDEN_HF_DIR, join(REPO, '..', 'shared', 'golden-hf')].find((d) => d && existsSync(d)) ?? null;
const missing = browserMissing() ?? (!HF_DIR || !GOLDEN_DIR ? '../shared/golden or golden-hf is absent' : null);

type Api = {
  weights(repo: string, endpoint: string): Promise<{ digest: string; bytes: number; cached: boolean; last: [number, number, string] }>;
  cachedKeys(): Promise<string[]>;
  quota(repo: string, endpoint: string): Promise<{ same: boolean; memory: boolean; keys: number }>;
  logits(repo: string, endpoint: string, images: number[], shape: number[]): Promise<number[]>;
};

let browser: Browser;
let server: HubServer;
let demo: DemoServer | null = null;
let demoDir = '';

/** The digest the page computes, from DeepMind's pickle through the converter. */
function pickleDigest(stem: string): string {
  const spec = JSON.parse(readFileSync(join(GOLDEN_DIR!, `${stem}.json`), 'utf8'));
  const file = convertToWeightFile(readFileSync(join(GOLDEN_DIR!, `${stem}.pystate`)), spec.preset, spec.overrides);
  const h = parseWeightHeader(file);
  const hash = createHash('sha256');
  for (const t of h.tensors) hash.update(file.subarray(t.offset, t.offset + t.bytes));
  return hash.digest('hex');
}

const call = <K extends keyof Api>(k: K, ...args: Parameters<Api[K]>): Promise<Awaited<ReturnType<Api[K]>>> =>
  browser.page.evaluate(([k, args]) => ((window as unknown as { __hub: Record<string, (...a: unknown[]) => unknown> }).__hub[k as string](...(args as unknown[])) as Promise<never>), [k, args] as const);

if (missing) {
  test('hub in Chromium', () => skip(missing));
} else {
  test.before(async () => {
    const js = await build({ entryPoints: [join(REPO, 'test/browser/hub_page.ts')], bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent' });
    const script = js.outputFiles[0].text;
    server = await startHub(HF_DIR!, {
      cors: true, // the demo page (another origin) reads it too
      extra: (path) =>
        path === '/' ? { type: 'text/html', body: '<!doctype html><title>hub</title><script type="module" src="/hub.js"></script>' } : path === '/hub.js' ? { type: 'text/javascript', body: script } : null,
    });
    browser = await launch();
    await browser.page.goto(`${server.endpoint}/`);
    await browser.page.waitForFunction(() => document.title === 'hub ready', undefined, { timeout: 60_000 });
  });
  test.after(async () => {
    await browser?.close();
    await server?.close();
    await demo?.close();
    if (demoDir) rmSync(demoDir, { recursive: true, force: true });
  });

  test('the .bin fallback and a redirect give the pickle bits; a cut download is never cached; the cache then serves without the network', async () => {
    const e = server.endpoint;
    const conv = await call('weights', 'test/conv-bin', e);
    assert.is(conv.digest, pickleDigest('imagenet_conv'), 'conv from pytorch_model.bin');
    assert.ok(server.log.includes('/test/conv-bin/resolve/main/pytorch_model.bin'));
    const four = await call('weights', 'test/redirect', e);
    assert.is(four.digest, pickleDigest('imagenet_fourier'), 'fourier through a redirect');
    assert.ok(server.log.includes('/cdn/imagenet_fourier/model.safetensors'));
    assert.equal(four.last[0], four.last[1], 'progress ends at its total');

    server.cut = true;
    try {
      await call('weights', 'test/cut', e);
      assert.unreachable('a cut download was accepted');
    } catch (err) {
      assert.match((err as Error).message, /model\.safetensors/);
    } finally {
      server.cut = false;
    }
    const keys = await call('cachedKeys');
    assert.ok(!keys.some((k) => k.includes('/test/cut/')), `nothing cached for the cut download: ${keys.join(' ')}`);
    const flow = await call('weights', 'test/cut', e);
    assert.is(flow.digest, pickleDigest('optical_flow'));
    assert.ok((await call('cachedKeys')).some((k) => k.includes('/test/cut/')));
    server.log.length = 0;
    const again = await call('weights', 'test/cut', e);
    assert.equal(server.log, [], 'the second load needs no network');
    assert.ok(again.cached, 'served by the Cache API');
    assert.is(again.digest, flow.digest);
  });

  test('a Cache API out of quota: the file is kept in memory, the next load needs no network', async () => {
    server.log.length = 0;
    const r = await call('quota', 'test/redirect', server.endpoint);
    assert.equal(r, { same: true, memory: true, keys: 0 });
    assert.is(server.log.filter((p) => p.endsWith('model.safetensors')).length, 2, 'one download (the redirect and its target)');
  });

  test('a classifier from a hub id on the page adapter gives DeepMind logits', async () => {
    const npz = readNpz(readFileSync(join(GOLDEN_DIR!, 'imagenet_learned.npz')));
    const images = npz.get('images')!;
    const logits = await call('logits', 'deepmind/vision-perceiver-learned', server.endpoint, [...images.data], images.shape);
    const err = relError(Float32Array.from(logits), npz.get('logits')!.data as Float32Array);
    console.log(`  imagenet_learned from the hub in Chromium: max rel error ${err.toExponential(2)}`);
    assert.ok(err < 5e-4, `error ${err}`);
  });

  test('the demo page loads a model id "from the HuggingFace hub" (model id and endpoint fields)', async () => {
    demoDir = mkdtempSync(join(tmpdir(), 'perceiver-hub-demo-'));
    await buildDemo({ outDir: demoDir, golden: null });
    demo = await serveDir(demoDir);
    const p = await browser.context.newPage();
    try {
      await p.goto(demo.url);
      await p.click('#tab-classify');
      assert.is(await p.inputValue('#classify-hub-id'), 'deepmind/vision-perceiver-conv', 'the task\'s released model is proposed');
      await p.fill('#classify-hub-id', 'deepmind/vision-perceiver-learned');
      await p.fill('#classify-hub-endpoint', server.endpoint);
      assert.ok(await p.isChecked('#classify-source-hub'), 'typing selects the hub source');
      server.log.length = 0;
      await p.click('#classify-load');
      await p.waitForSelector('#classify-weights-status .msg', { timeout: 120_000 });
      const status = (await p.textContent('#classify-weights-status')) ?? '';
      assert.match(status, /Loaded deepmind\/vision-perceiver-learned/, status);
      assert.match(status, /preset imagenet-learned/);
      assert.ok(server.log.includes('/deepmind/vision-perceiver-learned/resolve/main/model.safetensors'), server.log.join(' '));
    } finally {
      await p.close();
    }
  });
}

test.run();
