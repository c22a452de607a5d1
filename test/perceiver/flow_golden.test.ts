// Optical flow against DeepMind's own outputs (../shared/golden/optical_flow:
// the released configuration with 32 x 64 latents, random weights), through
// the converter and the weight format like a user's file.
//
// Budget: the encoder always sees a whole 368x496 tile (182,528 tokens),
// ~10 GFLOP at these sizes, so this file runs it twice:
//  - the 368x496 pass, decoding an evenly spread subset of 256 pixels;
//  - the 400x520 tiled pass (four tiles), decoding only pixels that tile
//    (0, 0) alone covers (y < 32, x < 24), so one tile is encoded.
// `npm run bench:reference -- --fixtures ../shared/golden optical_flow`
// checks 4096 pixels of both outputs on a software adapter (every pixel on
// a GPU, and with --full).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testGpu } from '../gpu.ts';
import { loadFixture, disposeFixture, maxRelError, type Fixture } from '../../bench/fixture.ts';
import type { FlowConfig } from '../../perceiver/config.ts';
import { Params } from '../../perceiver/layers.ts';
import { estimateFlow } from '../../perceiver/flow/pipeline.ts';
import { evenSubset, tileOrigins } from '../../perceiver/flow/tiling.ts';
import { skip } from '../skip.ts';

const here = dirname(fileURLToPath(import.meta.url));
const GOLDEN = join(here, '../../../shared/golden');
const TOLERANCE = 5e-4;

let fixture: Fixture | null = null;
async function golden(): Promise<Fixture | null> {
  if (!existsSync(join(GOLDEN, 'optical_flow.pystate'))) {
    skip(`${GOLDEN} is absent (the golden fixtures are read in place)`);
    return null;
  }
  fixture ??= await loadFixture(await testGpu(), GOLDEN, 'optical_flow');
  return fixture;
}

test("368x496: one pass matches DeepMind's flow (256 evenly spread pixels)", async () => {
  const f = await golden();
  if (!f) return;
  const gpu = await testGpu();
  const frames = f.arrays.get('frames')!;
  assert.equal(frames.shape, [1, 2, 368, 496, 3]);
  const pixels = evenSubset(368 * 496, 256);
  const t0 = performance.now();
  const flow = await estimateFlow(gpu, new Params(f.weights), f.config as FlowConfig, frames.data as Float32Array, 368, 496, { pixels });
  const err = maxRelError(flow, f.arrays.get('flow')!.data);
  console.log(`  flow: max relative error ${err.toExponential(2)} over ${pixels.length} pixels in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  assert.ok(err < TOLERANCE, `max relative error ${err}`);
});

test("400x520: the colab's tiling matches DeepMind's big_flow (pixels of tile (0, 0) alone)", async () => {
  const f = await golden();
  if (!f) return;
  const gpu = await testGpu();
  const big = f.arrays.get('big_frames')!;
  assert.equal(big.shape, [2, 400, 520, 3]);
  const tiles = tileOrigins(400, 520);
  assert.equal(tiles.length, 4);
  // pixels (y, x) with y < 32, x < 24 lie in tile (0, 0) only
  const list: number[] = [];
  for (let y = 0; y < 32; y += 3) for (let x = 0; x < 24; x += 2) list.push(y * 520 + x);
  const t0 = performance.now();
  let encoded = 0;
  const flow = await estimateFlow(gpu, new Params(f.weights), f.config as FlowConfig, big.data as Float32Array, 400, 520, {
    pixels: Uint32Array.from(list),
    onTile: () => encoded++,
  });
  assert.is(encoded, 1, 'only tile (0, 0) is run');
  const err = maxRelError(flow, f.arrays.get('big_flow')!.data);
  console.log(`  big_flow: max relative error ${err.toExponential(2)} over ${list.length} pixels in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  assert.ok(err < TOLERANCE, `max relative error ${err}`);
  disposeFixture(f);
  fixture = null;
});

test.run();
