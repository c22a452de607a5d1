// tools/attention-maps.ts and `perceiver-io classify --attention-maps DIR`:
// one PNG heat map per latent over each image, existing files refused
// unless --force, bad --latents named.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runCli } from './helpers.ts';
import { writeAttentionMaps } from '../../tools/attention-maps.ts';
import { readPng } from '../../tools/png.ts';
import { attentionHeatmap } from '../../perceiver/heatmap.ts';
import { BUILTIN_FIXTURES } from '../../bench/fixture.ts';
import { testGpu } from '../gpu.ts';

const REPO = resolve(import.meta.dirname, '../..');
const PHOTO = join(REPO, 'test/media/chelsea-224.png');

const cli = runCli;

test('writeAttentionMaps: one PNG per latent, the heat map over the image; existing files refused unless force', () => {
  const dir = mkdtempSync(join(tmpdir(), 'maps-test-'));
  try {
    const image = { width: 6, height: 4, data: new Uint8ClampedArray(96).fill(90) };
    const maps = [{ latent: 3, width: 2, height: 2, data: new Float32Array([0.1, 0.2, 0.3, 0.4]) }, { latent: 9, width: 2, height: 2, data: new Float32Array([1, 0, 0, 0]) }];
    const region = { x: 1, y: 0, width: 4, height: 4 };
    const paths = writeAttentionMaps(join(dir, 'new'), maps, image, { prefix: 'cat.', region });
    assert.equal(paths, [join(dir, 'new', 'cat.latent-3.png'), join(dir, 'new', 'cat.latent-9.png')]);
    const png = readPng(paths[0]);
    assert.equal([...png.data], [...attentionHeatmap(maps[0], { image, region }).data]);
    assert.throws(() => writeAttentionMaps(join(dir, 'new'), maps, image, { prefix: 'cat.' }), /cat\.latent-3\.png exists; pass --force/);
    writeAttentionMaps(join(dir, 'new'), maps, image, { prefix: 'cat.', force: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('classify --attention-maps: a PNG per requested latent at the photo size; --force to redo; usage errors', async () => {
  await testGpu(); // the shared test device first: the CLI's own device is made and destroyed per command
  const dir = mkdtempSync(join(tmpdir(), 'maps-cli-'));
  try {
    const weights = join(dir, 'conv.weights');
    const c = await cli('convert', join(BUILTIN_FIXTURES, 'imagenet_conv.pystate'), weights, '--preset', 'imagenet-conv', '--overrides', join(BUILTIN_FIXTURES, 'imagenet_conv.json'));
    assert.is(c.code, 0, c.err);
    const out = join(dir, 'maps');
    const r = await cli('classify', PHOTO, '--weights', weights, '--top', '2', '--attention-maps', out, '--latents', '0,7');
    assert.is(r.code, 0, r.err);
    assert.match(r.err, /wrote 2 attention maps to .*maps \(latents 0, 7\)/);
    assert.is(r.out.trim().split('\n').length, 1 + 2, 'the predictions as usual');
    assert.equal(readdirSync(out).sort(), ['chelsea-224.latent-0.png', 'chelsea-224.latent-7.png']);
    const png = readPng(join(out, 'chelsea-224.latent-0.png'));
    const photo = readPng(PHOTO);
    assert.equal([png.width, png.height], [photo.width, photo.height], 'drawn over the whole photo (the crop region heated)');
    const again = await cli('classify', PHOTO, '--weights', weights, '--attention-maps', out, '--latents', '0');
    assert.is(again.code, 1);
    assert.match(again.err, /chelsea-224\.latent-0\.png exists; pass --force to overwrite it/);
    assert.not.match(again.err, /classifying/, 'refused before any work');
    // --force, and the default latents: 8 spread over the 16 (0 and 7 were there)
    const all = await cli('classify', PHOTO, '--weights', weights, '--attention-maps', out, '--force');
    assert.is(all.code, 0, all.err);
    assert.match(all.err, /latents 0, 2, 4, 6, 9, 11, 13, 15\)/);
    assert.is(readdirSync(out).length, 9);
    const outOfRange = await cli('classify', PHOTO, '--weights', weights, '--attention-maps', join(dir, 'x'), '--latents', '16');
    assert.is(outOfRange.code, 1);
    assert.match(outOfRange.err, /latent 16 is not an index in \[0, 16\)/);
    assert.not.ok(existsSync(join(dir, 'x')), 'nothing written');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const bad = await cli('classify', PHOTO, '--weights', 'w', '--attention-maps', 'd', '--latents', '1,two');
  assert.is(bad.code, 2);
  assert.match(bad.err, /--latents must be comma-separated latent indices \(e\.g\. 0,5,17\), not '1,two'/);
  const alone = await cli('classify', PHOTO, '--weights', 'w', '--latents', '1');
  assert.is(alone.code, 2);
  assert.match(alone.err, /--latents goes with --attention-maps DIR/);
});

test.run();
