// The package's browser subpaths stay browser-safe: an app importing all of
// one subpath ('perceiver-io-webgpu', /engine, /imagenet, /language, /flow,
// /video, /convert: every exports-map entry but /node) bundles with esbuild
// for the browser platform without reaching a node: module, the webgpu
// package or anything else in node_modules. /node is the control: it must be
// refused. Resolved through package.json's exports map, from the sources
// (bench/size.ts; `npm run size` makes the same check on every row).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { browserBundleInputs, browserSubpaths } from '../../bench/size.ts';

test('every browser subpath bundles for the browser without node: modules or webgpu', async () => {
  const subpaths = browserSubpaths();
  for (const s of ['.', 'engine', 'imagenet', 'language', 'flow', 'video', 'convert']) assert.ok(subpaths.includes(s), `${s} is in the exports map`);
  for (const s of subpaths) {
    const inputs = await browserBundleInputs(s);
    assert.ok(inputs.length > 0, s);
    assert.not.ok(inputs.some((i) => i.startsWith('node:') || i.includes('node_modules')), `${s}: ${inputs.join(', ')}`);
  }
});

test('the check refuses a subpath that reaches Node (/node: node:fs, node:zlib, webgpu)', async () => {
  try {
    await browserBundleInputs('node');
    assert.unreachable('/node bundled for the browser');
  } catch (e) {
    assert.match((e as Error).message, /perceiver-io-webgpu\/node: .*(node:|webgpu)/);
  }
});

test.run();
