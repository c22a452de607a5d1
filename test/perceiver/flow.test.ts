// Optical flow on a tiny random model (12x16 tiles, 8 latents): the sliced
// encoder (keys/values folded into the latents, token slices) and the chunked decoder equal the plain unsliced composition; the
// tiled pipeline equals tiles run one by one and stitched; pixel subsets,
// small frames, the API (RGBA frames, pictures, sequences) and the released
// checkpoint's names and shapes.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testGpu, randn, relError, assertRejects } from '../gpu.ts';
import { upload, type Gpu, type Tensor } from '../../engine/index.ts';
import { defaultConfig, withOverrides, type FlowConfig } from '../../perceiver/config.ts';
import { expectedParams, countParams, flowInputChannels } from '../../perceiver/params.ts';
import { Params } from '../../perceiver/layers.ts';
import { flowTile, flowForwardUnsliced, flowPatches, encodeTile, FlowWorkspace } from '../../perceiver/flow/model.ts';
import { estimateFlow } from '../../perceiver/flow/pipeline.ts';
import { tileOrigins, FlowStitcher, padEdge, evenSubset } from '../../perceiver/flow/tiling.ts';
import { OpticalFlow } from '../../perceiver/flow/api.ts';
import { flowToColorCpu } from '../../perceiver/flow/colorwheel_cpu.ts';
import { setBindingLimitForTests } from '../../kernels/slicing.ts';
import { randomWeights } from '../../bench/random-weights.ts';
import { skip } from '../skip.ts';

const here = dirname(fileURLToPath(import.meta.url));
const GOLDEN = join(here, '../../../shared/golden');

/** A tiny optical-flow model: 12x16 tiles, 8 patch channels, 6 bands, 8 x 16 latents. */
function tinyConfig(crossHeads = 1): FlowConfig {
  const base = withOverrides(defaultConfig('optical-flow') as FlowConfig, {
    num_latents: 8, latent_channels: 16, num_blocks: 2, num_self_attends_per_block: 1, num_self_attention_heads: 2,
  });
  return { ...base, trainSize: [12, 16], patchChannels: 8, fourierBands: 6, encoder: { ...base.encoder, numCrossAttentionHeads: crossHeads } };
}

function randomFrames(h: number, w: number, seed: number): Float32Array {
  return randn(2 * h * w * 3, seed, 1);
}

let tiny: { cfg: FlowConfig; weights: Map<string, Tensor>; params: Params } | null = null;
async function tinyModel() {
  const gpu = await testGpu();
  if (!tiny) {
    const cfg = tinyConfig();
    const weights = randomWeights(gpu, cfg, { style: 'test', seed: 5 });
    tiny = { cfg, weights, params: new Params(weights) };
  }
  return { gpu, ...tiny };
}

test('the released checkpoint: every name and shape of manifest_optical_flow.json, nothing left over, 41,057,134 parameters', () => {
  const file = join(GOLDEN, 'manifest_optical_flow.json');
  if (!existsSync(file)) {
    skip(`${file} is absent`);
    return;
  }
  const manifest = (JSON.parse(readFileSync(file, 'utf8')) as { params: Record<string, number[]>; state?: Record<string, number[]> });
  const cfg = defaultConfig('optical-flow') as FlowConfig;
  const expected = expectedParams(cfg);
  assert.equal([...expected.keys()].sort(), Object.keys(manifest.params).sort());
  for (const [name, shape] of expected) assert.equal(shape, manifest.params[name], name);
  assert.equal(Object.keys(manifest.state ?? {}), []);
  assert.is(countParams(cfg), 41_057_134);
  assert.is(flowInputChannels(cfg), 322);
  assert.equal(cfg.trainSize, [368, 496]);
  assert.is(cfg.encoder.numLatents * cfg.encoder.latentChannels, 2048 * 512);
  assert.is(cfg.encoder.numSelfAttendsPerBlock, 24);
  assert.is(cfg.encoder.numSelfAttentionHeads, 16);
});

test('sliced encoder + chunked decoder equal the unsliced model (token slices, binding-limit slicing)', async () => {
  const { gpu, cfg, params } = await tinyModel();
  const [h, w] = cfg.trainSize;
  const frames = upload(gpu, randomFrames(h, w, 1), [1, 2, h, w, 3]);
  const whole = await flowForwardUnsliced(gpu, frames, params, cfg);
  const scaleOf = Math.max(...whole.map(Math.abs));
  assert.ok(scaleOf > 1e-3, 'non-trivial flow');
  const sliced = await flowTile(gpu, frames, params, cfg, undefined, { sliceTokens: 37, chunkSize: 29 });
  assert.ok(relError(sliced, whole) < 1e-5, `${relError(sliced, whole)}`);
  // every kernel forced into its own binding-limit slicing as well
  setBindingLimitForTests(256 + 60 * flowInputChannels(cfg) * 4);
  try {
    const ws = new FlowWorkspace(gpu);
    const sliced = await flowTile(gpu, frames, params, cfg, undefined, {}, ws);
    ws.dispose();
    assert.ok(relError(sliced, whole) < 1e-5, `binding limit: ${relError(sliced, whole)}`);
  } finally {
    setBindingLimitForTests(null);
  }
  // a subset of pixels decodes to the same values
  const subset = Uint32Array.from([0, 5, 17, 100, h * w - 1]);
  const part = await flowTile(gpu, frames, params, cfg, subset, { chunkSize: 2 });
  subset.forEach((p, i) => {
    assert.ok(Math.abs(part[2 * i] - whole[2 * p]) <= 1e-5 * scaleOf && Math.abs(part[2 * i + 1] - whole[2 * p + 1]) <= 1e-5 * scaleOf, `pixel ${p}`);
  });
  frames.dispose();
});

test('several cross-attention heads: the unfolded key/value route equals the unsliced model', async () => {
  const gpu = await testGpu();
  const cfg = tinyConfig(2);
  const weights = randomWeights(gpu, cfg, { style: 'test', seed: 5 });
  const params = new Params(weights);
  const [h, w] = cfg.trainSize;
  const frames = upload(gpu, randomFrames(h, w, 2), [1, 2, h, w, 3]);
  const whole = await flowForwardUnsliced(gpu, frames, params, cfg);
  const sliced = await flowTile(gpu, frames, params, cfg, undefined, { sliceTokens: 50, chunkSize: 64 });
  assert.ok(relError(sliced, whole) < 1e-5, `${relError(sliced, whole)}`);
  frames.dispose();
  weights.forEach((t) => t.dispose());
});

/** The tiled colab procedure, tile by tile with the unsliced model. */
async function tiledReference(gpu: Gpu, params: Params, cfg: FlowConfig, pair: Float32Array, H: number, W: number): Promise<Float32Array> {
  const [th, tw] = cfg.trainSize;
  const tiles = tileOrigins(H, W, cfg.trainSize, 4, false);
  const s = new FlowStitcher(H, W, cfg.trainSize);
  for (const t of tiles) {
    const crop = new Float32Array(2 * th * tw * 3);
    for (let f = 0; f < 2; f++) for (let y = 0; y < th; y++) {
      const src = ((f * H + t.y + y) * W + t.x) * 3;
      crop.set(pair.subarray(src, src + tw * 3), (f * th + y) * tw * 3);
    }
    const x = upload(gpu, crop, [1, 2, th, tw, 3]);
    s.add(t, await flowForwardUnsliced(gpu, x, params, cfg));
    x.dispose();
  }
  return s.result();
}

test('frames larger than a tile: tiles, tent weights and pixel subsets as the colab (duplicates included in the reference)', async () => {
  const { gpu, cfg, params } = await tinyModel();
  const [H, W] = [20, 37];
  const pair = randomFrames(H, W, 3);
  const ref = await tiledReference(gpu, params, cfg, pair, H, W);
  const got = await estimateFlow(gpu, params, cfg, pair, H, W, { minOverlap: 4, sliceTokens: 70 });
  assert.ok(relError(got, ref) < 1e-5, `${relError(got, ref)}`);
  const pixels = evenSubset(H * W, 50);
  const sub = await estimateFlow(gpu, params, cfg, pair, H, W, { minOverlap: 4, pixels });
  const mask = new Uint8Array(H * W);
  pixels.forEach((p) => (mask[p] = 1));
  for (let p = 0; p < H * W; p++) {
    if (mask[p]) assert.ok(Math.abs(sub[2 * p] - got[2 * p]) < 1e-5 && Math.abs(sub[2 * p + 1] - got[2 * p + 1]) < 1e-5, `pixel ${p}`);
    else assert.ok(Number.isNaN(sub[2 * p]) && Number.isNaN(sub[2 * p + 1]), `pixel ${p} should be NaN`);
  }
});

test('frames smaller than a tile: edge-padded to the tile, flow cropped back; mismatched sizes are refused', async () => {
  const { gpu, cfg, params } = await tinyModel();
  const [th, tw] = cfg.trainSize;
  for (const [H, W] of [[7, 9], [12, 11], [5, 30]]) {
    const pair = randomFrames(H, W, H * W);
    const [PH, PW] = [Math.max(H, th), Math.max(W, tw)];
    const padded = new Float32Array(2 * PH * PW * 3);
    for (let f = 0; f < 2; f++) padded.set(padEdge(pair.subarray(f * H * W * 3, (f + 1) * H * W * 3), H, W, 3, PH, PW), f * PH * PW * 3);
    const full = await estimateFlow(gpu, params, cfg, padded, PH, PW, { minOverlap: 4 });
    const got = await estimateFlow(gpu, params, cfg, pair, H, W, { minOverlap: 4 });
    assert.is(got.length, H * W * 2);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      for (let c = 0; c < 2; c++) assert.is(got[(y * W + x) * 2 + c], full[(y * PW + x) * 2 + c]);
    }
  }
  const model = new OpticalFlow(gpu, cfg, tiny!.weights);
  const a = { width: 20, height: 10, data: new Uint8Array(800) };
  const b = { width: 21, height: 10, data: new Uint8Array(840) };
  await assertRejects(() => model.flow(a, b), /frame 1 is 20x10 but frame 2 is 21x10; both frames of a pair must have the same size/);
  model.dispose();
});

test('a GPU frame pair with other than 3 channels is refused before any encoding', async () => {
  const { gpu, cfg, params } = await tinyModel();
  const [H, W] = cfg.trainSize;
  const dims: [number, number] = [H, W];
  for (const C of [1, 4]) {
    const frames = upload(gpu, randn(2 * H * W * C, C, 1), [1, 2, H, W, C]);
    const d0 = gpu.dispatchCount;
    await assertRejects(() => flowTile(gpu, frames, params, cfg), /flowTile: frames must be \[1, 2, H, W, 3\], got f32\[1,2,12,16,\d\]/);
    assert.is(gpu.dispatchCount, d0, 'nothing ran');
    // Lower down, the patches of such a pair have the wrong number of rows
    // of 54 (2 frames x 3x3 patches x 3 channels): encodeTile says so.
    const patches = flowPatches(gpu, frames);
    assert.throws(() => encodeTile(gpu, patches, params, cfg, dims), /encodeTile: patches must be \[192, 54\] for a 12x16 tile/);
    [frames, patches].forEach((t) => t.dispose());
  }
});

function rgbaFrame(w: number, h: number, seed: number) {
  const data = new Uint8Array(w * h * 4);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (i & 3) === 3 ? 255 : s >>> 24;
  }
  return { width: w, height: h, data };
}

test('API: RGBA frames normalised as the colab, picture, sequences reuse buffers and equal pairwise calls', async () => {
  const { gpu, cfg, params, weights } = await tinyModel();
  const model = new OpticalFlow(gpu, cfg, weights);
  const [W, H] = [18, 13];
  const frames = [rgbaFrame(W, H, 1), rgbaFrame(W, H, 2), rgbaFrame(W, H, 3)];
  const pair = new Float32Array(2 * H * W * 3);
  frames.slice(0, 2).forEach((f, k) => {
    for (let p = 0; p < H * W; p++) for (let c = 0; c < 3; c++) pair[(k * H * W + p) * 3 + c] = (f.data[4 * p + c] / 255) * 2 - 1;
  });
  const direct = await estimateFlow(gpu, params, cfg, pair, H, W, { minOverlap: 4 });
  const r = await model.flow(frames[0], frames[1], { minOverlap: 4, picture: { legend: true } });
  assert.is(r.width, W);
  assert.is(r.height, H);
  assert.equal(Array.from(r.flow), Array.from(direct));
  assert.ok(r.picture && r.picture.data.length === W * H * 4);
  const cpu = flowToColorCpu(r.flow, W, H, { legend: true });
  assert.ok(Math.abs(r.scale! - cpu.scale) <= 1e-6 * cpu.scale);
  let worst = 0;
  for (let i = 0; i < cpu.picture.data.length; i++) worst = Math.max(worst, Math.abs(cpu.picture.data[i] - r.picture!.data[i]));
  assert.ok(worst <= 1, `picture differs by ${worst}`);
  // the sequence: pairs (0,1) and (1,2), from an async source
  async function* source() {
    for (const f of frames) yield f;
  }
  const peak0 = gpu.pool.liveBytes;
  const results = [];
  for await (const s of model.sequence(source(), { minOverlap: 4 })) results.push(s);
  assert.equal(results.map((s) => s.index), [0, 1]);
  assert.equal(Array.from(results[0].flow), Array.from(r.flow));
  const second = await model.flow(frames[1], frames[2], { minOverlap: 4 });
  assert.equal(Array.from(results[1].flow), Array.from(second.flow));
  assert.ok(gpu.pool.liveBytes <= peak0 + 1024, 'no GPU memory left behind between pairs');
  const bad = [frames[0], rgbaFrame(W + 1, H, 4)];
  await assertRejects(async () => {
    for await (const _ of model.sequence(bad)) void _;
  }, /frame 0 is 18x13 but frame 1 is 19x13/);
  model.dispose();
});

test.run();
