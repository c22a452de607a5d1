// Attention maps in the demo page, in headless Chromium (WebGPU on
// SwiftShader; test/browser/browser.ts): the classify panel with "attention
// maps" ticked draws a heat map per requested latent, the thumbnails pick
// the large one, and the page's maps sum to 1 and equal those Node computes
// (lavapipe) for the same weights and photo. Skipped when Chromium is absent.
// PERCEIVER_BROWSER_SLOW=1 (with the golden fixtures) adds the flow and
// video panels' maps on their reference inputs (minutes on SwiftShader: the
// encoder sees the whole 368x496 pair, the whole 16-frame window).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { browserMissing, launch, SCREENSHOTS, type Browser } from './browser.ts';
import { buildDemo } from '../../demo/build.ts';
import { serveDir, type DemoServer } from '../../demo/serve.ts';
import { loadImageClassifier } from '../../perceiver/imagenet/index.ts';
import { readPng } from '../../tools/png.ts';
import { existsSync } from 'node:fs';
import { testGpu, relError } from '../gpu.ts';
import { skip } from '../skip.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const LATENTS = [3, 0, 15];
const GOLDEN = process.env.PERCEIVER_GOLDEN ?? join(ROOT, '../shared/golden');
const SLOW = process.env.PERCEIVER_BROWSER_SLOW === '1';

const missing = browserMissing();
let browser: Browser;
let server: DemoServer;
let OUT = '';

if (missing) {
  test('attention maps in the browser', () => skip(missing));
} else {
  test.before(async () => {
    OUT = mkdtempSync(join(tmpdir(), 'perceiver-maps-test-'));
    await buildDemo({ outDir: OUT, golden: SLOW && existsSync(join(GOLDEN, 'language_mlm.json')) ? GOLDEN : null });
    server = await serveDir(OUT);
    browser = await launch();
  });

  test.after(async () => {
    await browser?.close();
    await server?.close();
    if (OUT) rmSync(OUT, { recursive: true, force: true });
  });

  test('classify: heat maps of the chosen latents over the photo, a picker, maps equal to Node', async () => {
    const p = browser.page;
    await p.goto(server.url);
    await p.click('#tab-classify');
    const listed = await p.evaluate(() => (window.__perceiver.tasks as Record<string, { weights: { selectBuiltin(f: string): boolean } }>).classify.weights.selectBuiltin('weights/imagenet_learned.weights'));
    assert.ok(listed, 'imagenet_learned is listed');
    await p.click('#classify-load');
    await p.waitForSelector('#classify-weights-status .msg', { timeout: 120_000 });
    await p.check('#classify-attention');
    await p.fill('#classify-latents', LATENTS.join(','));
    await p.click('#classify-sample');
    await p.waitForSelector('#classify-map', { timeout: 120_000 });

    assert.equal(await p.$$eval('#classify-result .map-thumb', (els) => els.map((e) => Number(e.getAttribute('data-latent')))), LATENTS);
    assert.is(await p.getAttribute('#classify-map', 'data-latent'), '3');
    await p.click('#classify-result .map-thumb[data-latent="15"]');
    assert.is(await p.getAttribute('#classify-map', 'data-latent'), '15');
    // a heat map, not a flat picture
    const spread = await p.$eval('#classify-map', (c) => {
      const d = (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, (c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height).data;
      let lo = 255, hi = 0;
      for (let i = 0; i < d.length; i += 4) (lo = Math.min(lo, d[i])), (hi = Math.max(hi, d[i]));
      return hi - lo;
    });
    assert.ok(spread > 50, `red channel spread ${spread}`);
    await browser.page.screenshot({ path: join(SCREENSHOTS, 'attention-maps.png'), fullPage: true });

    type PageMap = { latent: number; width: number; height: number; data: Record<string, number> };
    const maps = (await p.evaluate(() => (window.__perceiver.tasks as Record<string, { last(): { maps: unknown } | null }>).classify.last()!.maps)) as PageMap[];
    const pageData = maps.map((m) => Float32Array.from(Object.values(m.data)));
    for (const [i, d] of pageData.entries()) {
      const sum = d.reduce((a, v) => a + v, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5, `latent ${maps[i].latent} sums to ${sum}`);
    }
    const gpu = await testGpu();
    const model = await loadImageClassifier(gpu, readFileSync(join(OUT, 'weights/imagenet_learned.weights')));
    const node = await model.classify(readPng(join(ROOT, 'test/media/chelsea-224.png')), { attention: { latents: LATENTS } });
    for (const [i, m] of node.attention![0].entries()) {
      assert.equal([maps[i].latent, maps[i].width, maps[i].height], [m.latent, m.width, m.height]);
      const err = relError(pageData[i], m.data);
      assert.ok(err < 1e-4, `latent ${m.latent}: page (SwiftShader) vs Node (${gpu.adapterName}): ${err}`);
    }
    for (const t of model.params.tensors.values()) t.dispose();
  });

  test('flow (PERCEIVER_BROWSER_SLOW=1): heat maps over frame 1 of the reference pair, one tile', async () => {
    if (!SLOW) return skip('the flow maps need the whole 368x496 pair encoded on SwiftShader (minutes): set PERCEIVER_BROWSER_SLOW=1');
    if (!existsSync(join(GOLDEN, 'optical_flow.json'))) return skip(`${GOLDEN}/optical_flow.* is absent`);
    const p = browser.page;
    await p.click('#tab-flow');
    const listed = await p.evaluate(() => (window.__perceiver.tasks as Record<string, { weights: { selectBuiltin(f: string): boolean } }>).flow.weights.selectBuiltin('weights/optical_flow.weights'));
    assert.ok(listed, 'optical_flow is listed');
    await p.click('#flow-load');
    await p.waitForSelector('#flow-weights-status .msg', { timeout: 120_000 });
    await p.click('#flow-reference');
    await p.waitForFunction(() => (document.querySelector('#flow-frames figcaption')?.textContent ?? '').includes('optical_flow'));
    await p.selectOption('#flow-region', 'window');
    await p.check('#flow-attention');
    await p.fill('#flow-latents', '0,9');
    await p.click('#flow-run');
    await p.waitForSelector('#flow-map', { timeout: 900_000 });
    assert.equal(await p.$$eval('#flow-result .map-thumb', (els) => els.map((e) => e.getAttribute('data-latent'))), ['0', '9']);
    assert.match((await p.textContent('#flow-result .map-large figcaption')) ?? '', /^latent 0: where it looks in the tile \(496×368\)$/);
    await browser.page.screenshot({ path: join(SCREENSHOTS, 'attention-maps-flow.png'), fullPage: true });
  });

  test('video (PERCEIVER_BROWSER_SLOW=1): heat maps over the reference clip\'s frames, with the audio and label shares', async () => {
    if (!SLOW) return skip('the video maps need the whole window encoded on SwiftShader (minutes): set PERCEIVER_BROWSER_SLOW=1');
    if (!existsSync(join(GOLDEN, 'multimodal_autoencoder.json'))) return skip(`${GOLDEN}/multimodal_autoencoder.* is absent`);
    const p = browser.page;
    await p.click('#tab-video');
    const listed = await p.evaluate(() => (window.__perceiver.tasks as Record<string, { weights: { selectBuiltin(f: string): boolean } }>).video.weights.selectBuiltin('weights/multimodal_autoencoder.weights'));
    assert.ok(listed, 'multimodal_autoencoder is listed');
    await p.click('#video-load');
    await p.waitForSelector('#video-weights-status .msg', { timeout: 120_000 });
    await p.click('#video-reference');
    await p.waitForFunction(() => (document.querySelector('#video-clip .strip-caption')?.textContent ?? '').includes('multimodal_autoencoder'));
    await p.selectOption('#video-frames', 'none');
    await p.check('#video-attention');
    await p.fill('#video-latents', '5');
    await p.click('#video-run');
    await p.waitForSelector('#video-map', { timeout: 900_000 });
    assert.equal(await p.$$eval('#video-result .map-thumb', (els) => els.map((e) => e.getAttribute('data-latent'))), ['5', '5', '5'], 'frames 0, 7 and 15');
    const caption = (await p.textContent('#video-result .map-large figcaption')) ?? '';
    assert.match(caption, /^latent 5, frame 0: [\d.]+% of its attention here, [\d.]+% on all frames, [\d.]+% on the audio, [\d.]+% on the label$/);
    const shares = caption.match(/[\d.]+(?=%)/g)!.map(Number);
    assert.ok(Math.abs(shares[1] + shares[2] + shares[3] - 100) < 0.2, `frames + audio + label = ${shares.slice(1)}`);
    await browser.page.screenshot({ path: join(SCREENSHOTS, 'attention-maps-video.png'), fullPage: true });
  });
}

test.run();
