// The demo page in a real headless Chromium (Debian's chromium through
// playwright-core, WebGPU on its SwiftShader adapter): builds the page,
// serves it on 127.0.0.1, loads weights, runs the reference checks inside
// the page, clicks through the UI and saves screenshots to out/screenshots/.
//
// Skipped, with the reason printed, when /usr/bin/chromium is absent.
//
// Every task runs in the page by default, each checked against its reference
// fixture (the golden-compact ImageNet set, shipped; the reduced-size golden
// fixtures of the other tasks from ../shared/golden, skipped with the reason
// when absent), with work sized for SwiftShader (roughly 0.1 GFLOP/s here):
//   classify   all logits of the three golden-compact models (and f16, .pystate)
//   fill-mask  the logits at every real byte of the fixture's two rows; the
//              UI fills the colab's gap
//   flow       the fixture's pair through the UI, flow decoded in a 64x64
//              window (the encoder sees the whole 368x496 pair)
//   video      the fixture's clip through the UI: label logits and a 32x32
//              patch of frame 0 (the encoder sees the whole window)
// PERCEIVER_BROWSER_SLOW=1 adds the full-size runs: fill-mask's 2048
// positions, flow's 256-pixel check and a whole sample frame, video's
// standalone check and the sample clip.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { browserMissing, launch, SCREENSHOTS, CHROMIUM, type Browser } from './browser.ts';
import { buildDemo, type DemoManifest } from '../../demo/build.ts';
import { serveDir, type DemoServer } from '../../demo/serve.ts';
import { readNpz } from '../../tools/npy.ts';
import { relError } from '../gpu.ts';
import { skip } from '../skip.ts';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '../..');
// the built page: a folder of its own (made in test.before), so test runs side by side do not share one
let OUT = '';
const GOLDEN = process.env.PERCEIVER_GOLDEN ?? join(ROOT, '../shared/golden');
const SLOW = process.env.PERCEIVER_BROWSER_SLOW === '1';
const TOLERANCE = 5e-4;

const missing = browserMissing();
let browser: Browser;
let server: DemoServer;
let manifest: DemoManifest;
const t0 = performance.now();
const timings: string[] = [];

type Page = Browser['page'];
const page = (): Page => browser.page;
const shot = (name: string) => page().screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

/** Times a test body and records it. */
function timed(name: string, fn: () => Promise<void>): void {
  test(name, async () => {
    const t = performance.now();
    try {
      await fn();
    } finally {
      timings.push(`${((performance.now() - t) / 1000).toFixed(1).padStart(6)} s  ${name}`);
    }
  });
}

/** Selects a built-in weight file in a task's card, clicks Load, waits for the outcome; returns the status text. */
async function loadBuiltin(task: string, file: string): Promise<string> {
  const p = page();
  await p.click(`#tab-${task}`);
  const ok = await p.evaluate(([t, f]) => (window.__perceiver.tasks as Record<string, { weights: { selectBuiltin(f: string): boolean } }>)[t].weights.selectBuiltin(f), [task, file]);
  assert.ok(ok, `${file} is listed in the ${task} tab`);
  return clickLoad(task);
}

async function clickLoad(task: string): Promise<string> {
  const p = page();
  await p.evaluate((t) => (document.getElementById(`${t}-weights-status`)!.innerHTML = ''), task);
  await p.click(`#${task}-load`);
  await p.waitForSelector(`#${task}-weights-status .msg`, { timeout: 120_000 });
  return (await p.textContent(`#${task}-weights-status`)) ?? '';
}

interface PageCheck {
  stem: string;
  maxRelError: number;
  tolerance: number;
  pass: boolean;
  output: number[];
  shape: number[];
}

/** Clicks the task's reference check and returns its result (from the test hook). */
async function runCheck(task: string, timeout = 120_000): Promise<PageCheck> {
  const p = page();
  await p.evaluate((t) => (document.getElementById(`${t}-check-result`)!.innerHTML = ''), task);
  const result = p.evaluate((t) => (window.__perceiver.tasks as Record<string, { check(): Promise<unknown> }>)[t].check(), task) as Promise<PageCheck | null>;
  await p.waitForSelector(`#${task}-check-result .msg-ok, #${task}-check-result .msg-error`, { timeout });
  const r = await result;
  if (!r) throw new Error(`the ${task} check failed: ${await p.textContent(`#${task}-check-result`)}`);
  return r;
}

if (missing) {
  test('browser tests', () => {
    skip(missing);
  });
} else {
  test.before(async () => {
    OUT = mkdtempSync(join(tmpdir(), 'perceiver-demo-test-'));
    const golden = existsSync(join(GOLDEN, 'language_mlm.json')) ? GOLDEN : null;
    ({ manifest } = await buildDemo({ outDir: OUT, golden }));
    // Files that must be refused with a clear message.
    const bad = join(OUT, 'bad');
    mkdirSync(bad, { recursive: true });
    const good = readFileSync(join(OUT, 'weights/imagenet_conv.weights'));
    writeFileSync(join(bad, 'truncated.weights'), good.subarray(0, Math.floor(good.length * 0.6)));
    const v9 = Uint8Array.from(good.subarray(0, 4096));
    new DataView(v9.buffer).setUint32(8, 9, true);
    writeFileSync(join(bad, 'version9.weights'), v9);
    server = await serveDir(OUT);
    browser = await launch();
    timings.push(`${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s  setup (build, serve, launch ${CHROMIUM})`);
  });

  test.after(async () => {
    await browser?.close();
    await server?.close();
    if (OUT) rmSync(OUT, { recursive: true, force: true });
    timings.push(`${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s  in all`);
    console.log(`\n  browser test timings:\n${timings.map((t) => `  ${t}`).join('\n')}\n  screenshots: ${SCREENSHOTS}`);
  });

  timed('the page finds WebGPU, shows the adapter and the four task tabs', async () => {
    const p = page();
    await p.goto(server.url);
    const ready = await p.evaluate(() => window.__perceiver.ready);
    assert.ok(ready.webgpu, `WebGPU: ${ready.error}`);
    console.log(`  adapter: ${ready.adapter}`);
    const badge = (await p.textContent('#adapter')) ?? '';
    assert.match(badge, /^WebGPU: /);
    for (const t of ['classify', 'fillmask', 'flow', 'video']) {
      assert.ok(await p.isVisible(`#tab-${t}`), `tab ${t}`);
      const available = await p.evaluate((task) => window.__perceiver.available[task as 'classify'], t);
      if (!available) assert.match((await p.textContent(`#panel-${t}`)) ?? '', /not available in this build/);
    }
    await shot('start');
  });

  timed("classify: the three golden-compact weight files give DeepMind's logits inside the page (5e-4)", async () => {
    for (const stem of ['imagenet_conv', 'imagenet_fourier', 'imagenet_learned']) {
      const status = await loadBuiltin('classify', `weights/${stem}.weights`);
      assert.match(status, /^Loaded /, status);
      const r = await runCheck('classify');
      const ref = readNpz(readFileSync(join(OUT, `fixtures/${stem}.npz`))).get('logits')!.data as Float32Array;
      const ours = relError(Float32Array.from(r.output), ref);
      console.log(`  ${stem}: page says ${r.maxRelError.toExponential(2)}, recomputed here ${ours.toExponential(2)}`);
      assert.ok(r.pass && r.maxRelError < TOLERANCE, `${stem}: ${r.maxRelError}`);
      assert.ok(ours < TOLERANCE, `${stem}: ${ours}`);
    }
    await shot('classify-check');
  });

  timed('classify: an f16 weight file loads (widened on upload) and stays within f16 rounding', async () => {
    const status = await loadBuiltin('classify', 'weights/imagenet_conv.f16.weights');
    assert.match(status, /stored as f16/);
    const r = await runCheck('classify');
    console.log(`  imagenet_conv f16: ${r.maxRelError.toExponential(2)} (tolerance ${r.tolerance})`);
    assert.ok(r.pass && r.maxRelError > 0 && r.maxRelError < 5e-3, String(r.maxRelError));
  });

  timed('classify: a raw .pystate converted in the page gives the same logits', async () => {
    const status = await loadBuiltin('classify', 'weights/imagenet_learned.pystate');
    assert.match(status, /converted in the page/);
    const r = await runCheck('classify');
    assert.ok(r.pass && r.maxRelError < TOLERANCE, String(r.maxRelError));
  });

  timed('classify: the UI from the sample photo and a dropped image to a top-5 bar chart, with timings', async () => {
    const p = page();
    await loadBuiltin('classify', 'weights/imagenet_learned.weights');
    await p.click('#classify-sample');
    await p.waitForSelector('#classify-result .bars', { timeout: 120_000 });
    const rows = await p.$$eval('#classify-result .bar-row', (els) => els.map((e) => [e.querySelector('.bar-label')!.textContent, e.querySelector('.bar-value')!.textContent]));
    assert.is(rows.length, 5);
    const percents = rows.map(([, v]) => parseFloat(v!));
    for (let i = 1; i < 5; i++) assert.ok(percents[i] <= percents[i - 1], 'sorted');
    assert.ok(percents.reduce((a, b) => a + b, 0) <= 100.5);
    const stages = await p.$$eval('#classify-result .timings td:first-child', (els) => els.map((e) => e.textContent));
    assert.ok(stages.includes('forward (GPU)') && stages.includes('total'), stages.join(', '));
    // Drag and drop: a PNG dropped on the zone replaces the image and reclassifies.
    await p.evaluate(async () => {
      const blob = await (await fetch('media/chelsea-224.png')).blob();
      const dt = new DataTransfer();
      dt.items.add(new File([blob], 'dropped-cat.png', { type: 'image/png' }));
      document.querySelector('#panel-classify .drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await p.waitForFunction(() => document.querySelector('#classify-preview figcaption')?.textContent?.startsWith('dropped-cat.png'));
    await p.waitForSelector('#classify-result .bars', { timeout: 120_000 });
    assert.is(await p.getAttribute('#panel-classify progress', 'value'), '1');
    await shot('classify');
  });

  timed('weights: with the cache option, the second load comes from the Cache API', async () => {
    const p = page();
    await p.click('#tab-classify');
    await p.check('#classify-cache');
    const first = await loadBuiltin('classify', 'weights/imagenet_fourier.weights');
    assert.match(first, /from the network/);
    await p.waitForFunction(async () => !!(await (await caches.open('perceiver-io-weights')).match('weights/imagenet_fourier.weights')), undefined, { timeout: 10_000 });
    const second = await clickLoad('classify');
    assert.match(second, /from the browser cache/, second);
    await p.uncheck('#classify-cache');
  });

  timed('weights: a truncated file, a file for another preset, a non-weight file, a wrong format version and a checkpoint for another preset each give a clear message', async () => {
    const p = page();
    const cases: { name: string; task: string; set: () => Promise<void>; expect: RegExp }[] = [
      {
        name: 'truncated',
        task: 'classify',
        set: async () => {
          await p.fill('#classify-url', 'bad/truncated.weights');
        },
        expect: /truncated weight file: tensor '[^']+' ends at byte \d+, the file has \d+/,
      },
      {
        name: 'other-preset',
        task: 'flow',
        set: async () => {
          await p.fill('#flow-url', 'weights/imagenet_conv.weights');
        },
        expect: /this weight file is for preset 'imagenet-conv', not optical-flow/,
      },
      {
        name: 'not-weights',
        task: 'classify',
        set: async () => {
          await p.setInputFiles('#classify-file', join(ROOT, 'test/media/chelsea-224.png'));
        },
        expect: /not a weight file \(bad magic; expected "PIOWGT"\)/,
      },
      {
        name: 'version',
        task: 'classify',
        set: async () => {
          await p.fill('#classify-url', 'bad/version9.weights');
        },
        expect: /weight format version 9; this build reads version 1/,
      },
      {
        name: 'checkpoint-preset',
        task: 'classify',
        set: async () => {
          await p.setInputFiles('#classify-file', join(OUT, 'weights/imagenet_conv.pystate'));
          await p.selectOption('#classify-preset', 'imagenet-fourier');
          await p.fill('#classify-overrides', JSON.stringify(manifest.weights.find((w) => w.fixture === 'imagenet_conv')!.overrides));
        },
        expect: /the checkpoint does not match preset imagenet-fourier[\s\S]*wrong shape/i,
      },
    ];
    for (const c of cases) {
      await p.click(`#tab-${c.task}`);
      await c.set();
      const status = await clickLoad(c.task);
      assert.ok(await p.isVisible(`#${c.task}-weights-status .msg-error`), `${c.name}: an error box`);
      assert.match(status, c.expect, `${c.name}: ${status}`);
      console.log(`  ${c.name}: ${status.replace(/\s+/g, ' ').slice(0, 150)}`);
      await p.locator(`#panel-${c.task} .weights`).screenshot({ path: join(SCREENSHOTS, `error-${c.name}.png`) });
    }
    await p.fill('#classify-url', '');
    await p.click('#tab-flow'); // a hidden tab's fields cannot be filled
    await p.fill('#flow-url', '');
    await p.click('#tab-classify');
    await shot('errors');
  });

  /** Loads a task's golden weights; false (and a screenshot of the panel saying why) when this build has none. */
  async function loadGolden(task: string, weights: string): Promise<boolean> {
    const p = page();
    await p.click(`#tab-${task}`);
    if (!(await p.evaluate((t) => window.__perceiver.available[t as 'classify'], task))) {
      skip(`${task}: not available in this build`);
      await shot(task);
      return false;
    }
    if (!manifest.weights.some((w) => w.file === weights)) {
      skip(`${task}: no golden weights in this build (${GOLDEN} is absent); the panel says so`);
      assert.match((await p.textContent(`#${task}-builtin`)) ?? '', /none in this build/);
      await shot(task);
      return false;
    }
    const status = await loadBuiltin(task, weights);
    assert.match(status, /^Loaded /, status);
    return true;
  }

  /** A task's `last()` from the test hook. */
  const lastOf = <T>(task: string) => page().evaluate((t) => (window.__perceiver.tasks as Record<string, { last(): unknown }>)[t].last(), task) as Promise<T>;

  timed("fill-mask: DeepMind's logits at every real byte of the golden fixture inside the page, then the UI fills a gap", async () => {
    const p = page();
    if (!(await loadGolden('fillmask', 'weights/language_mlm.weights'))) return;
    const r = await runCheck('fillmask');
    console.log(`  language_mlm: page says ${r.maxRelError.toExponential(2)} over logits [${r.shape}]`);
    assert.ok(r.pass && r.maxRelError < TOLERANCE, String(r.maxRelError));
    if (SLOW) {
      const full = await p.evaluate(() => (window.__perceiver.tasks as Record<string, { check(o: unknown): Promise<PageCheck> }>).fillmask.check({ full: true }));
      console.log(`  language_mlm, all 2048 positions: page says ${full.maxRelError.toExponential(2)}`);
      assert.ok(full.pass && full.maxRelError < TOLERANCE, String(full.maxRelError));
    }
    await p.fill('#fillmask-text', 'This is an incomplete sentence where some words are[MASK:9]');
    await p.click('#fillmask-run');
    await p.waitForSelector('#fillmask-result .filled', { timeout: 120_000 });
    const filled = (await p.textContent('#fillmask-filled')) ?? '';
    const gap = (await p.textContent('#fillmask-filled mark')) ?? '';
    assert.ok(filled.startsWith('This is an incomplete sentence where some words are'), filled);
    assert.is(new TextEncoder().encode(gap).length, 9, `the gap holds 9 bytes: ${JSON.stringify(gap)}`);
    assert.is(await p.locator('#fillmask-result .byte').count(), 9, 'a candidate chart per predicted byte');
    await shot('fillmask');
  });

  timed("flow: the reference pair through the UI (a 64x64 window), DeepMind's flow at every decoded pixel, the colour wheel next to the frames", async () => {
    const p = page();
    if (!(await loadGolden('flow', 'weights/optical_flow.weights'))) return;
    await p.click('#flow-reference');
    await p.waitForFunction(() => (document.querySelector('#flow-frames figcaption')?.textContent ?? '').includes('optical_flow'));
    await p.selectOption('#flow-region', 'window');
    await p.click('#flow-run');
    await p.waitForSelector('#flow-picture', { timeout: 600_000 });
    const last = await lastOf<{ window: { x: number; y: number; width: number; height: number }; width: number; check: PageCheck | null }>('flow');
    assert.ok(last.check, 'the run on the reference pair is checked');
    const ref = readNpz(readFileSync(join(OUT, 'fixtures/optical_flow.npz'))).get('flow')!.data as Float32Array;
    const { x, y, width: w, height: hh } = last.window;
    const want = new Float32Array(w * hh * 2);
    for (let j = 0; j < hh; j++) want.set(ref.subarray(((y + j) * last.width + x) * 2, ((y + j) * last.width + x + w) * 2), j * w * 2);
    const ours = relError(Float32Array.from(last.check.output), want, false); // every pixel of the window decoded
    console.log(`  optical_flow, ${w}x${hh} window (${w * hh} pixels): page says ${last.check.maxRelError.toExponential(2)}, recomputed here ${ours.toExponential(2)}`);
    assert.ok(last.check.pass && last.check.maxRelError < TOLERANCE && ours < TOLERANCE, `${last.check.maxRelError} ${ours}`);
    assert.ok(await p.isVisible('#flow-result .msg-ok'), 'the page shows the match');
    await shot('flow');
    if (SLOW) {
      const r = await runCheck('flow', 900_000);
      console.log(`  optical_flow, 256 pixels over the frame: page says ${r.maxRelError.toExponential(2)}`);
      assert.ok(r.pass && r.maxRelError < TOLERANCE, String(r.maxRelError));
      await p.click('#flow-sample');
      await p.selectOption('#flow-region', 'all');
      await p.click('#flow-run');
      await p.waitForFunction(() => (window.__perceiver.tasks as Record<string, { last(): { window: unknown } | null }>).flow.last()?.window === null, undefined, { timeout: 1_800_000 });
      await shot('flow-sample');
    }
  });

  timed("video: the reference clip through the UI (a 32x32 patch), DeepMind's label logits and pixels, the reconstruction and the top-5 labels", async () => {
    const p = page();
    if (!(await loadGolden('video', 'weights/multimodal_autoencoder.weights'))) return;
    await p.click('#video-reference');
    await p.waitForFunction(() => (document.querySelector('#video-clip .strip-caption')?.textContent ?? '').includes('multimodal_autoencoder'));
    await p.selectOption('#video-frames', 'patch');
    await p.click('#video-run');
    await p.waitForSelector('#video-result .bars', { timeout: 600_000 });
    const last = await lastOf<{ labels: unknown[]; check: PageCheck & { what: string } }>('video');
    assert.ok(last.check, 'the run on the reference clip is checked');
    const ref = readNpz(readFileSync(join(OUT, 'fixtures/multimodal_autoencoder.npz'))).get('rec_label')!.data as Float32Array;
    const ours = relError(Float32Array.from(last.check.output), ref, false);
    console.log(`  multimodal_autoencoder: page says ${last.check.what.replace(/ \(the fixture.*$/, '')}; label logits recomputed here ${ours.toExponential(2)}`);
    assert.ok(last.check.pass && last.check.maxRelError < TOLERANCE && ours < TOLERANCE, `${last.check.maxRelError} ${ours}`);
    assert.match(last.check.what, /reconstructed colours at 1024 pixels/);
    assert.is(last.labels.length, 5);
    assert.is(await p.locator('#video-result .recon canvas').count(), 2, 'input patch and its reconstruction');
    await shot('video');
    if (SLOW) {
      const r = await runCheck('video', 900_000);
      console.log(`  multimodal_autoencoder label logits (standalone check): page says ${r.maxRelError.toExponential(2)}`);
      assert.ok(r.pass && r.maxRelError < TOLERANCE, String(r.maxRelError));
      await p.click('#video-sample');
      await p.click('#video-run');
      await p.waitForFunction(() => !(document.querySelector('#video-result .msg-ok')), undefined, { timeout: 1_800_000 });
      await p.waitForSelector('#video-result .bars', { timeout: 1_800_000 });
      await shot('video-sample');
    }
  });

  timed('without WebGPU the page says so plainly', async () => {
    const p = await browser.context.newPage();
    // (a string: functions compiled by tsx carry helpers the page does not have)
    await p.addInitScript({ content: "Object.defineProperty(Navigator.prototype, 'gpu', { get() { return undefined; }, configurable: true });" });
    await p.goto(server.url);
    const ready = await p.evaluate(() => window.__perceiver.ready);
    assert.is(ready.webgpu, false);
    assert.ok(await p.isVisible('#no-webgpu'));
    assert.match((await p.textContent('#no-webgpu h2')) ?? '', /WebGPU is not available in this browser/);
    await p.screenshot({ path: join(SCREENSHOTS, 'no-webgpu.png'), fullPage: true });
    await p.close();
  });

  timed('the page logged no errors', async () => {
    const errors = browser.log.filter((l) => /^(error|pageerror)/.test(l) && !/Failed to load resource/.test(l));
    assert.equal(errors, []);
  });
}

test.run();
