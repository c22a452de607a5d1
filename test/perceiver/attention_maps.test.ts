// Attention maps through the model APIs: the probabilities of the requested
// latents equal a float64 TypeScript reference built from the same weights
// (LayerNorms, the query and key projections, softmax: no fold), sum to 1
// over the inputs, are the same with and without the key/value fold, and
// cost nothing when not asked for.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, relError, shadersOf, assertRejects } from '../gpu.ts';
import { upload, readF32, type Tensor } from '../../engine/index.ts';
import { BUILTIN_FIXTURES, loadFixture, disposeFixture } from '../../bench/fixture.ts';
import type { ImageNetConfig } from '../../perceiver/config.ts';
import { Params, layersTesting } from '../../perceiver/layers.ts';
import { imagenetInputs, imagenetInputGrid, imagenetLogits } from '../../perceiver/imagenet/model.ts';
import { ImageClassifier } from '../../perceiver/imagenet/classify.ts';
import { attentionMaps, type AttentionMap } from '../../perceiver/attention_maps.ts';
import { defaultConfig, withOverrides, type FlowConfig } from '../../perceiver/config.ts';
import { randomWeights } from '../../bench/random-weights.ts';
import { OpticalFlow } from '../../perceiver/flow/api.ts';
import { flowPatches, flowInputsRange } from '../../perceiver/flow/model.ts';
import { randn } from '../gpu.ts';
import { presetConfig, type MultimodalConfig } from '../../perceiver/config.ts';
import { VideoAutoencoder } from '../../perceiver/video/api.ts';
import { multimodalInputs } from '../../perceiver/video/model.ts';

const TOL = 1e-5;

/** LayerNorm (eps 1e-5) of the rows of x [n, c] in float64. */
function layerNorm(x: ArrayLike<number>, n: number, c: number, scale: Float32Array, offset: Float32Array): Float64Array {
  const out = new Float64Array(n * c);
  for (let i = 0; i < n; i++) {
    let mean = 0, v = 0;
    for (let j = 0; j < c; j++) mean += x[i * c + j];
    mean /= c;
    for (let j = 0; j < c; j++) v += (x[i * c + j] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / c + 1e-5);
    for (let j = 0; j < c; j++) out[i * c + j] = (x[i * c + j] - mean) * inv * scale[j] + offset[j];
  }
  return out;
}

/** x [n, cin] @ w [cin, cout] + b in float64. */
function linear(x: Float64Array, n: number, w: Float32Array, b: Float32Array, cin: number, cout: number): Float64Array {
  const out = new Float64Array(n * cout);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < cout; o++) {
      let s = b[o];
      for (let j = 0; j < cin; j++) s += x[i * cin + j] * w[j * cout + o];
      out[i * cout + o] = s;
    }
  }
  return out;
}

/**
 * DeepMind's encoder cross-attention probabilities, unfolded, one head:
 * softmax over the inputs of LN(latents)Wq+bq . LN_1(x)Wk+bk / sqrt(qk), for
 * rows `latents`, inputs x [B, M, C] -> [B, R, M].
 */
async function referenceMaps(params: Params, scope: string, inputs: Tensor, latents: number[]): Promise<Float64Array> {
  const p = params.scope(scope);
  const ca = p.scope('~/cross_attention');
  const host = async (name: string, s = ca) => readF32(s.get(name));
  const [B, M, C] = inputs.shape;
  const pos = await host('~/trainable_position_encoding/pos_embs', p);
  const D = pos.length / params.get(`${scope}/~/trainable_position_encoding/pos_embs`).shape[0];
  const wq = await host('attention/linear/w'), bq = await host('attention/linear/b');
  const wk = await host('attention/linear_1/w'), bk = await host('attention/linear_1/b');
  const qk = bq.length;
  const rows = Float64Array.from(latents.flatMap((l) => [...pos.subarray(l * D, (l + 1) * D)]));
  const q = linear(layerNorm(rows, latents.length, D, await host('layer_norm/scale'), await host('layer_norm/offset')), latents.length, wq, bq, D, qk);
  const x = await readF32(inputs);
  const k = linear(layerNorm(x, B * M, C, await host('layer_norm_1/scale'), await host('layer_norm_1/offset')), B * M, wk, bk, C, qk);
  const out = new Float64Array(B * latents.length * M);
  for (let b = 0; b < B; b++) {
    for (let r = 0; r < latents.length; r++) {
      const row = out.subarray((b * latents.length + r) * M, (b * latents.length + r + 1) * M);
      for (let t = 0; t < M; t++) {
        let s = 0;
        for (let d = 0; d < qk; d++) s += q[r * qk + d] * k[(b * M + t) * qk + d];
        row[t] = s / Math.sqrt(qk);
      }
      const max = Math.max(...row);
      let sum = 0;
      for (let t = 0; t < M; t++) sum += (row[t] = Math.exp(row[t] - max));
      for (let t = 0; t < M; t++) row[t] /= sum;
    }
  }
  return out;
}

const flat = (maps: AttentionMap[][]) => Float32Array.from(maps.flatMap((per) => per.flatMap((m) => [...m.data])));

function assertSumsToOne(maps: AttentionMap[][], label: string): void {
  for (const m of maps.flat()) {
    const sum = m.data.reduce((a, v) => a + v, 0);
    assert.ok(Math.abs(sum - 1) < 1e-5, `${label}: latent ${m.latent} sums to ${sum}`);
  }
}

/** f() with the key/value fold switched on or off. */
async function withFold<T>(on: boolean, f: () => Promise<T>): Promise<T> {
  layersTesting.foldKeyValue = on;
  try {
    return await f();
  } finally {
    layersTesting.foldKeyValue = true;
  }
}

for (const stem of ['imagenet_fourier', 'imagenet_conv']) {
  test(`${stem}: maps over the input grid equal the reference, sum to 1, fold or not`, async () => {
    const gpu = await testGpu();
    const f = await loadFixture(gpu, BUILTIN_FIXTURES, stem);
    const cfg = f.config as ImageNetConfig;
    const images = f.arrays.get('images')!;
    const shape = images.shape as [number, number, number, number];
    const model = new ImageClassifier(gpu, cfg, f.weights);
    const latents = [0, 5, cfg.encoder.numLatents - 1];
    const folded = await model.forward(images.data as Float32Array, shape, attentionMaps({ latents }));
    const unfolded = await withFold(false, () => model.forward(images.data as Float32Array, shape, attentionMaps({ latents })));
    const plain = await model.forward(images.data as Float32Array, shape);

    const [gh, gw] = imagenetInputGrid(cfg, shape[1], shape[2]);
    assert.equal([folded.attention!.length, folded.attention![0].length], [shape[0], latents.length]);
    assert.equal([folded.attention![0][1].latent, folded.attention![0][1].height, folded.attention![0][1].width], [5, gh, gw]);
    assertSumsToOne(folded.attention!, 'folded');
    assertSumsToOne(unfolded.attention!, 'unfolded');

    const x = upload(gpu, images.data as Float32Array, shape);
    const inputs = imagenetInputs(gpu, x, new Params(f.weights), cfg);
    x.dispose();
    assert.equal(inputs.shape[1], gh * gw);
    const want = await referenceMaps(new Params(f.weights), cfg.encoder.scope, inputs, latents);
    inputs.dispose();
    const errFolded = relError(flat(folded.attention!), want), errUnfolded = relError(flat(unfolded.attention!), want);
    assert.ok(errFolded <= TOL, `folded vs reference: ${errFolded}`);
    assert.ok(errUnfolded <= TOL, `unfolded vs reference: ${errUnfolded}`);
    assert.ok(relError(flat(folded.attention!), flat(unfolded.attention!)) <= TOL, 'fold changes the maps');
    // asking for maps does not change the logits
    assert.equal([...folded.logits], [...plain.logits]);
    assert.is(plain.attention, undefined);
    disposeFixture(f);
  });
}

test('no maps asked for: no extra dispatch; asked for: only attention_maps is added', async () => {
  const gpu = await testGpu();
  const f = await loadFixture(gpu, BUILTIN_FIXTURES, 'imagenet_learned');
  const cfg = f.config as ImageNetConfig;
  const images = f.arrays.get('images')!;
  const params = new Params(f.weights);
  const x = upload(gpu, images.data as Float32Array, images.shape);
  let count = 0;
  const counting = async (run: () => Tensor) => {
    const before = gpu.dispatchCount;
    const shaders = await shadersOf(gpu, () => run().dispose());
    count = gpu.dispatchCount - before;
    return shaders;
  };
  const plain = await counting(() => imagenetLogits(gpu, x, params, cfg));
  const plainCount = count;
  const { attentionMaps } = await import('../../kernels/attention_maps.ts');
  let maps: Tensor | null = null;
  const tapped = await counting(() => imagenetLogits(gpu, x, params, cfg, { attentionTap: (q, k, o) => (maps = attentionMaps(gpu, q, k, [1], o)) }));
  assert.equal(tapped, [...plain, 'attention_maps'].sort());
  assert.is(count, plainCount + 3 * images.shape[0], 'per image: one scores, one merge and one normalise pass');
  (maps as Tensor | null)?.dispose();
  x.dispose();
  disposeFixture(f);
});

test('optical flow: per tile, maps over the tile grid equal the reference, fold or not', async () => {
  // a tiny random flow model: 12x16 tiles, 8 latents (as test/perceiver/flow.test.ts)
  const gpu = await testGpu();
  const base = withOverrides(defaultConfig('optical-flow') as FlowConfig, { num_latents: 8, latent_channels: 16, num_blocks: 1, num_self_attends_per_block: 1, num_self_attention_heads: 2 });
  const cfg: FlowConfig = { ...base, trainSize: [12, 16], patchChannels: 8, fourierBands: 6 };
  const weights = randomWeights(gpu, cfg, { style: 'test', seed: 11 });
  const model = new OpticalFlow(gpu, cfg, weights);
  const [th, tw] = cfg.trainSize;
  const H = 12, W = 30; // three tiles side by side (x = 0, 12, 14 with a minimum overlap of 4)
  const frames = randn(2 * H * W * 3, 3, 1);
  const latents = [7, 0];
  const folded = await model.flowNormalized(frames, H, W, { minOverlap: 4, attention: attentionMaps({ latents }) });
  const unfolded = await withFold(false, () => model.flowNormalized(frames, H, W, { minOverlap: 4, attention: attentionMaps({ latents }) }));
  const plain = await model.flowNormalized(frames, H, W, { minOverlap: 4 });
  assert.equal(folded.attention!.map((a) => a.tile), [0, 12, 14].map((x) => ({ x, y: 0, width: tw, height: th })));
  assert.equal([...folded.flow], [...plain.flow], 'maps change the flow');
  assert.is(plain.attention, undefined);
  for (const [i, { tile, maps }] of folded.attention!.entries()) {
    assert.equal(maps.map((m) => [m.latent, m.height, m.width]), [[7, th, tw], [0, th, tw]]);
    assertSumsToOne([maps], `tile ${i}`);
    // the reference: this tile's raw inputs through LN_1 and the key projection
    const tileFrames = new Float32Array(2 * th * tw * 3);
    for (let f = 0; f < 2; f++) for (let y = 0; y < th; y++) tileFrames.set(frames.subarray(((f * H + y) * W + tile.x) * 3, ((f * H + y) * W + tile.x + tw) * 3), ((f * th + y) * tw) * 3);
    const t = upload(gpu, tileFrames, [1, 2, th, tw, 3]);
    const patches = flowPatches(gpu, t);
    const inputs = flowInputsRange(gpu, patches, new Params(weights), cfg, [th, tw], 0, th * tw);
    const want = await referenceMaps(new Params(weights), cfg.encoder.scope, inputs.reshape([1, th * tw, inputs.shape[1]]), latents);
    [t, patches, inputs].forEach((x) => x.dispose());
    const e1 = relError(flat([maps]), want), e2 = relError(flat([unfolded.attention![i].maps]), want);
    assert.ok(e1 <= TOL && e2 <= TOL, `tile ${i}: folded ${e1}, unfolded ${e2}`);
  }
  model.dispose();
  weights.forEach((w) => w.dispose());
});

test('video: per window, maps split into audio, image patches and label equal the reference, fold or not', async () => {
  // a tiny window (4 frames of 8x8, 128 samples) at the golden fixture's widths, as test/perceiver/video_api.test.ts
  const gpu = await testGpu();
  const fixture = { num_latents: 32, latent_channels: 64, num_blocks: 1, num_self_attends_per_block: 1, num_self_attention_heads: 4 };
  const cfg = { ...(presetConfig('multimodal-autoencoder', fixture) as MultimodalConfig), numFrames: 4, imageSize: 8, audioSamplesPerFrame: 32 };
  const weights = randomWeights(gpu, cfg, { style: 'test', seed: 4 });
  const ae = new VideoAutoencoder(gpu, cfg, weights);
  const frames = Float32Array.from(randn(4 * 8 * 8 * 3, 21, 0.5), (v) => v + 0.5);
  const audio = randn(128, 22, 0.5);
  const latents = [31, 2, 2];
  const run = (req?: { latents: number[] }) => ae.autoencode({ frames: { data: frames, count: 4 }, audio }, { video: 'none', audio: false, attention: req && attentionMaps(req) });
  const folded = (await run({ latents })).windows[0];
  const unfolded = (await withFold(false, () => run({ latents }))).windows[0];
  const plain = (await run()).windows[0];
  assert.equal([...folded.logits], [...plain.logits], 'maps change the label');
  assert.is(plain.attention, undefined);
  const maps = folded.attention!;
  assert.equal(maps.map((m) => [m.latent, m.image.frames, m.image.height, m.image.width, m.audio.length]), latents.map((l) => [l, 4, 2, 2, 8]));
  const rows = (ms: typeof maps) => Float32Array.from(ms.flatMap((m) => [...m.audio, ...m.image.data, m.label]));
  for (const m of maps) {
    const sum = m.audio.reduce((a, v) => a + v, 0) + m.image.data.reduce((a, v) => a + v, 0) + m.label;
    assert.ok(Math.abs(sum - 1) < 1e-5, `latent ${m.latent} sums to ${sum}`);
  }
  const inputs = multimodalInputs(gpu, frames, audio, ae.geometry, new Params(weights), cfg);
  const want = await referenceMaps(new Params(weights), cfg.encoder.scope, inputs, latents);
  inputs.dispose();
  const e1 = relError(rows(maps), want), e2 = relError(rows(unfolded.attention!), want);
  assert.ok(e1 <= TOL && e2 <= TOL, `folded ${e1}, unfolded ${e2}`);
  ae.dispose();
  weights.forEach((w) => w.dispose());
});

test('clear errors for bad latents', async () => {
  const gpu = await testGpu();
  const f = await loadFixture(gpu, BUILTIN_FIXTURES, 'imagenet_learned');
  const model = new ImageClassifier(gpu, f.config as ImageNetConfig, f.weights);
  const img = { width: 8, height: 8, data: new Uint8Array(256) };
  await assertRejects(() => model.classify(img, { attention: attentionMaps({ latents: [16] }) }), /latent 16 is not an index in \[0, 16\)/);
  await assertRejects(async () => attentionMaps({ latents: [] }), /non-empty array/);
  await assertRejects(async () => attentionMaps({ latents: [1.5] }), /latent 1.5 is not a latent index/);
  await assertRejects(async () => attentionMaps({ latents: [-1] }), /latent -1 is not a latent index/);
  // a plain request (the worker client's form) needs the maps' code: the task APIs say where it is
  await assertRejects(() => model.classify(img, { attention: { latents: [1] } as never }), /attentionMaps\(\{ latents \}\) from 'perceiver-io-webgpu\/maps'/);
  disposeFixture(f);
});

test.run();
