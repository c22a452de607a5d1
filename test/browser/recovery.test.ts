// Recovery from a lost device in a real headless Chromium (WebGPU on its
// SwiftShader adapter): a model loaded by its task loader, the device
// destroyed between two calls and during a call; the next calls get a new
// device and the same result, the call in flight a GpuError naming the
// loss (test/browser/recovery.page.ts; perceiver/load.ts ModelWeights).
// Skipped, with the reason, when Chromium is absent.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { browserMissing, launch } from './browser.ts';
import { serveDir } from '../../demo/serve.ts';
import { skip } from '../skip.ts';

const here = dirname(fileURLToPath(import.meta.url));

test('Chromium: lost between calls and during a call, the model carries on', async () => {
  const missing = browserMissing();
  if (missing) return skip(missing);
  const dir = mkdtempSync(join(tmpdir(), 'perceiver-recovery-'));
  await build({ entryPoints: [join(here, 'recovery.page.ts')], bundle: true, format: 'esm', platform: 'browser', outfile: join(dir, 'page.js'), logLevel: 'warning' });
  writeFileSync(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><script type="module" src="page.js"></script>');
  const server = await serveDir(dir);
  const browser = await launch();
  try {
    const page = browser.page;
    await page.goto(server.url);
    await page.waitForFunction(() => 'runRecovery' in globalThis);
    const r = await page.evaluate(() => (globalThis as unknown as { runRecovery(): Promise<any> }).runRecovery());
    console.log(`  ${r.adapter}: recovered twice (generation ${r.generation})`);
    assert.match(r.lost, /the GPU device was lost \(destroyed/);
    assert.equal(r.between, r.before);
    assert.ok(r.error?.isGpuError, `the call in flight: ${JSON.stringify(r.error)}`);
    assert.match(r.error.message, /the GPU device was lost \(destroyed/);
    assert.equal(r.during, r.before);
    assert.is(r.generation, 2);
  } catch (e) {
    console.log(browser.log.join('\n'));
    throw e;
  } finally {
    await browser.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
