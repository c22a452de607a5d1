// The demo's Kernels tab in headless Chromium (WebGPU on SwiftShader): both
// kernel ladders run in the page at tiny shapes (SwiftShader does about 0.1
// GFLOP/s), every rung checked against the TypeScript reference inside the
// page, bars and table drawn, and a rung's WGSL shown when its bar is
// clicked. Screenshot: out/screenshots/kernels.png.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { browserMissing, launch, SCREENSHOTS, type Browser } from './browser.ts';
import { buildDemo } from '../../demo/build.ts';
import { serveDir, type DemoServer } from '../../demo/serve.ts';
import { skip } from '../skip.ts';
import { ATTENTION_RUNGS, MATMUL_RUNGS } from '../../kernels/ladder/rungs.ts';

const TOL = 1e-5;
const missing = browserMissing();
let browser: Browser;
let server: DemoServer;
let OUT = '';

interface PageRung { id: string; status: string; reason?: string; gflops?: number; maxRelError?: number }

async function runInPage(kernel: 'attention' | 'matmul', dims: object): Promise<PageRung[]> {
  const p = browser.page;
  const r = await p.evaluate(
    ([k, d]) => (window.__perceiver.tasks as Record<string, { run(o: unknown): Promise<{ rungs: unknown[] }[] | null> }>).kernels.run({ kernel: k, dims: d, targetMs: 0 }),
    [kernel, dims] as const,
  );
  assert.ok(r && r.length === 1, `the ${kernel} ladder ran: ${await p.textContent('#kernels-status')}`);
  return r![0].rungs as PageRung[];
}

if (missing) {
  test('the Kernels tab in Chromium', () => skip(missing));
} else {
  test.before(async () => {
    OUT = mkdtempSync(join(tmpdir(), 'perceiver-kernels-test-'));
    await buildDemo({ outDir: OUT, golden: null });
    server = await serveDir(OUT);
    browser = await launch();
  });

  test.after(async () => {
    await browser?.close();
    await server?.close();
    if (OUT) rmSync(OUT, { recursive: true, force: true });
  });

  test('the Kernels tab runs both ladders on the page\'s adapter and shows each rung\'s WGSL', async () => {
    const p = browser.page;
    await p.goto(`${server.url}#kernels`);
    const ready = await p.evaluate(() => window.__perceiver.ready);
    assert.ok(ready.webgpu, `WebGPU: ${ready.error}`);
    assert.ok(await p.isVisible('#panel-kernels'), 'the Kernels tab opens from #kernels');
    assert.match((await p.textContent('#kernels-adapter')) ?? '', /adapter: .*swiftshader/i);

    // odd sizes; several batches and heads; more keys than one split
    const attention = await runInPage('attention', { B: 2, Tq: 19, Tk: 70, H: 2, Dqk: 5, Dv: 6 });
    assert.equal(attention.map((r) => r.id), ATTENTION_RUNGS.map((r) => r.id));
    for (const r of attention) {
      if (r.status === 'cannot' && r.id === 'subgroups') continue; // an adapter without subgroups says so
      assert.equal(r.status, 'ok', `${r.id}: ${r.reason}`);
      assert.ok(r.maxRelError! < TOL && r.gflops! > 0, `${r.id}: error ${r.maxRelError}, ${r.gflops} GFLOP/s`);
    }
    assert.is(await p.locator('.ladder-bars .bar-row').count(), ATTENTION_RUNGS.length, 'a bar per rung');
    assert.match((await p.textContent('#kernels-source')) ?? '', /Attention ladder, rung 1: naive attention in three passes/);
    await p.click('.ladder-bars .bar-row[data-rung="register"]');
    const shipped = (await p.textContent('#kernels-source')) ?? '';
    assert.match(shipped, /kernels\/attention\.wgsl \(entry point main\)/);
    assert.match(shipped, /attention: fused multi-head softmax attention, flash style/, 'the shipped kernel, unminified');
    await browser.page.screenshot({ path: join(SCREENSHOTS, 'kernels.png'), fullPage: true });

    const matmul = await runInPage('matmul', { M: 21, K: 12, N: 20 });
    assert.equal(matmul.map((r) => r.id), MATMUL_RUNGS.map((r) => r.id));
    for (const r of matmul) {
      assert.equal(r.status, 'ok', `${r.id}: ${r.reason}`);
      assert.ok(r.maxRelError! < TOL, `${r.id}: error ${r.maxRelError}`);
    }
    assert.match((await p.textContent('#kernels-source')) ?? '', /Matmul ladder, rung 1/);
    const failures = browser.log.filter((l) => /pageerror|error:/i.test(l));
    assert.equal(failures, [], 'no page errors');
  });
}

test.run();
