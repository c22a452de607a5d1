// engine/node.ts: nodeGpu without the `webgpu` package (an optional peer
// dependency of the npm package) says how to get it. The missing module is
// simulated in a child process whose module resolver refuses 'webgpu' the
// way Node does when a package is not installed.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const REPO = resolve(import.meta.dirname, '../..');

const HOOKS = `export async function resolve(specifier, context, next) {
  if (specifier === 'webgpu') {
    const e = new Error("Cannot find package 'webgpu' imported from " + context.parentURL);
    e.code = 'ERR_MODULE_NOT_FOUND';
    throw e;
  }
  return next(specifier, context);
}
`;

test("nodeGpu without the 'webgpu' package: a clear error saying npm i webgpu", () => {
  const dir = mkdtempSync(join(tmpdir(), 'no-webgpu-'));
  try {
    writeFileSync(join(dir, 'hooks.mjs'), HOOKS);
    writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`);
    const script = `import { nodeGpu } from ${JSON.stringify(pathToFileURL(join(REPO, 'engine/node.ts')).href)};
try { await nodeGpu(); console.log('no error'); } catch (e) { console.log('ERROR: ' + e.message); }`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', pathToFileURL(join(dir, 'register.mjs')).href, '--input-type=module', '-e', script], { encoding: 'utf8', cwd: REPO });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^ERROR: nodeGpu needs the 'webgpu' package .*: npm i webgpu$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
