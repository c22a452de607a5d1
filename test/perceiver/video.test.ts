// perceiver/video/model.ts on a tiny window (2 frames of 4x8, 512 audio
// samples: 37 encoder tokens, 97 decoder queries) with random weights at the
// golden fixture's widths: subsets and slice sizes give exactly the full
// decode, a colab-style mixed chunk gives the same rows, the fused
// projections and the folded encoder cross-attention match the original
// arithmetic, and every released parameter name is read, nothing else.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { testGpu, relError } from '../gpu.ts';
import { readF32, type Gpu, type Tensor } from '../../engine/index.ts';
import { presetConfig, defaultConfig, withOverrides, type MultimodalConfig } from '../../perceiver/config.ts';
import { expectedParams } from '../../perceiver/params.ts';
import { decodeQueries } from '../../perceiver/decoder.ts';
import { linear } from '../../perceiver/layers.ts';
import {
  MultimodalAutoencoderModel,
  modalityQueries,
  multimodalDecoder,
  stackRows,
  allIndices,
  frameIndices,
  rectIndices,
  audioPatchIndices,
  POSTPROCESSORS,
  UNUSED_AT_INFERENCE,
  type WindowGeometry,
  type DecodedOutputs,
} from '../../perceiver/video/model.ts';
import { GOLDEN_DIR } from '../tools/helpers.ts';
import { randomWeights as randomTestWeights, noise } from '../../bench/random-weights.ts';
import { checkWeights } from '../../perceiver/params.ts';

const G: WindowGeometry = { frames: 2, height: 4, width: 8, audioSamples: 512 };
const PIXELS = G.frames * G.height * G.width;
const PATCHES = G.audioSamples / 16;
const FIXTURE = { num_latents: 32, latent_channels: 64, num_blocks: 2, num_self_attends_per_block: 2, num_self_attention_heads: 4 };

/** Noisy weights with a converted file's names and shapes for `cfg`, reads recorded into `names`. */
function randomWeights(gpu: Gpu, cfg: MultimodalConfig, names?: Set<string>): Map<string, Tensor> {
  return new RecordingMap(names, randomTestWeights(gpu, cfg, { style: 'test', seed: 3 }));
}

/** A Map that records which names are read. */
class RecordingMap extends Map<string, Tensor> {
  constructor(readonly read?: Set<string>, entries?: Iterable<[string, Tensor]>) {
    super(entries);
  }
  override get(k: string): Tensor | undefined {
    this.read?.add(k);
    return super.get(k);
  }
}

function windowData() {
  const frames = noise(PIXELS * 3, 11, 0.3).map((v) => v + 0.5);
  const audio = noise(G.audioSamples, 12, 0.5);
  return { frames, audio };
}

let cached: { gpu: Gpu; cfg: MultimodalConfig; model: MultimodalAutoencoderModel; z: Tensor; full: DecodedOutputs } | null = null;

async function setup() {
  if (cached) return cached;
  const gpu = await testGpu();
  const cfg = presetConfig('multimodal-autoencoder', FIXTURE) as MultimodalConfig;
  const model = new MultimodalAutoencoderModel(gpu, cfg, randomWeights(gpu, cfg));
  const { frames, audio } = windowData();
  const z = model.encode(frames, audio, G);
  const full = await model.decode(z, G, { label: true, image: allIndices(PIXELS), audio: allIndices(PATCHES) }, { chunkSize: 4096 });
  cached = { gpu, cfg, model, z, full };
  return cached;
}

function pick(data: Float32Array, indices: Uint32Array, width: number): Float32Array {
  const out = new Float32Array(indices.length * width);
  indices.forEach((p, i) => out.set(data.subarray(p * width, (p + 1) * width), i * width));
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.is(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('decoding a subset gives exactly the corresponding part of the full decode', async () => {
  const { model, z, full } = await setup();
  assert.is(full.label!.length, 700);
  assert.is(full.image!.length, PIXELS * 3);
  assert.is(full.audio!.length, PATCHES * 16);
  assert.ok([...full.image!, ...full.audio!, ...full.label!].every(Number.isFinite));
  const label = await model.decode(z, G, { label: true, image: null, audio: null });
  assert.is(maxAbsDiff(label.label!, full.label!), 0, 'label alone');
  const scattered = Uint32Array.of(3, 4, 17, 40, 63);
  for (const [what, ids] of [
    ['frame 1', frameIndices(G, [1])],
    ['rectangle', rectIndices(G, { frameStart: 0, frameEnd: 2, x: 2, y: 1, width: 3, height: 2 })],
    ['scattered pixels', scattered],
  ] as const) {
    const part = await model.decode(z, G, { label: false, image: ids, audio: null });
    assert.is(part.label, null);
    assert.is(maxAbsDiff(part.image!, pick(full.image!, ids, 3)), 0, what);
  }
  const patches = audioPatchIndices(model.config, G, 100, 300);
  const aud = await model.decode(z, G, { label: false, image: null, audio: patches });
  assert.is(maxAbsDiff(aud.audio!, pick(full.audio!, patches, 16)), 0, 'audio samples 100..300');
  assert.throws(() => frameIndices(G, [2]), /outside/);
  await assert.not.throws(async () => model.decode(z, G, { label: false, image: Uint32Array.of(), audio: null }));
  try {
    await model.decode(z, G, { label: false, image: Uint32Array.of(5, 3), audio: null });
    assert.unreachable('unsorted indices accepted');
  } catch (e) {
    assert.match((e as Error).message, /sorted/);
  }
});

test('the slice size does not change the decode', async () => {
  const { model, z, full } = await setup();
  for (const chunkSize of [7, 40]) {
    const out = await model.decode(z, G, { label: true, image: allIndices(PIXELS), audio: allIndices(PATCHES) }, { chunkSize });
    assert.is(maxAbsDiff(out.image!, full.image!), 0, `image, chunkSize ${chunkSize}`);
    assert.is(maxAbsDiff(out.audio!, full.audio!), 0, `audio, chunkSize ${chunkSize}`);
    assert.is(maxAbsDiff(out.label!, full.label!), 0, `label, chunkSize ${chunkSize}`);
  }
});

test("a colab-style chunk (audio, image and label queries in one cross-attention) gives the same rows", async () => {
  const { gpu, cfg, model, z } = await setup();
  // Chunk k = 1 of 8: audio patches 8..15, pixels 16..31 and the label, in sorted modality order.
  const parts = [
    modalityQueries(gpu, model.params, cfg, G, 'audio', { first: 8, count: 8 }),
    modalityQueries(gpu, model.params, cfg, G, 'image', { first: 16, count: 16 }),
    modalityQueries(gpu, model.params, cfg, G, 'label', { first: 0, count: 1 }),
  ];
  const queries = stackRows(gpu, parts);
  parts.forEach((p) => p.dispose());
  assert.equal(queries.shape, [1, 25, 1026]);
  const x = decodeQueries(gpu, z, queries, model.params, multimodalDecoder(cfg));
  queries.dispose();
  const x2 = x.reshape([25, 512]);
  const rows = async (m: 'audio' | 'image' | 'label', r0: number, r1: number) => {
    const y = linear(gpu, x2.rows(r0, r1), model.params.scope(POSTPROCESSORS[m]));
    const h = await readF32(y);
    y.dispose();
    return h;
  };
  const [audio, image, label] = [await rows('audio', 0, 8), await rows('image', 8, 24), await rows('label', 24, 25)];
  x.dispose();
  const sep = await model.decode(z, G, { label: true, image: allIndices(PIXELS).subarray(16, 32), audio: allIndices(PATCHES).subarray(8, 16) }, { projection: 'exact' });
  assert.is(maxAbsDiff(label, sep.label!), 0, 'label');
  assert.is(maxAbsDiff(image, sep.image!), 0, 'image');
  assert.is(maxAbsDiff(audio, sep.audio!), 0, 'audio');
});

test('fused projections match the original arithmetic', async () => {
  const { model, z, full } = await setup();
  const sel = { label: true, image: allIndices(PIXELS), audio: allIndices(PATCHES) };
  const exact = await model.decode(z, G, sel, { projection: 'exact' });
  for (const m of ['label', 'image', 'audio'] as const) {
    const err = relError(full[m]!, exact[m]!);
    assert.ok(err < 1e-5, `${m}: fused vs exact ${err}`);
  }
});

test('every name of the released checkpoint (manifest) is in the file; all but the three provably unused are read', async () => {
  const gpu = await testGpu();
  // The released structure (8 self-attends, 1,026-wide queries) with narrow latents.
  const cfg = withOverrides(defaultConfig('multimodal-autoencoder') as MultimodalConfig, { num_latents: 4, latent_channels: 16 });
  const read = new Set<string>();
  const weights = randomWeights(gpu, cfg, read);
  const model = new MultimodalAutoencoderModel(gpu, cfg, weights);
  read.clear(); // record what inference reads
  const { frames, audio } = windowData();
  const z = model.encode(frames, audio, G);
  for (const projection of ['fused', 'exact'] as const) {
    await model.decode(z, G, { label: true, image: Uint32Array.of(0, 1), audio: Uint32Array.of(0) }, { projection });
  }
  z.dispose();
  model.dispose();
  const manifestFile = GOLDEN_DIR ? join(GOLDEN_DIR, 'manifest_multimodal_autoencoder.json') : null;
  const names = manifestFile && existsSync(manifestFile)
    ? Object.keys((JSON.parse(readFileSync(manifestFile, 'utf8')) as { params: Record<string, number[]> }).params)
    : [...expectedParams(defaultConfig('multimodal-autoencoder')).keys()];
  assert.is(names.length, 183);
  // The encoder's key bias cancels in the softmax once the one-head
  // cross-attention folds its key projection into the latents (perceiver/layers.ts).
  const FOLDED_KEY_BIAS = 'encoder/~/cross_attention/attention/linear_1/b';
  assert.not.ok(read.has(FOLDED_KEY_BIAS));
  assert.equal([...read, ...UNUSED_AT_INFERENCE, FOLDED_KEY_BIAS].sort(), [...names].sort());
  for (const n of UNUSED_AT_INFERENCE) assert.not.ok(read.has(n), n);
  // The weight-set check (perceiver/params.ts: what a converted file holds) refuses missing, misshapen and extra parameters.
  checkWeights(cfg, weights);
  const broken = new Map(weights);
  broken.delete(UNUSED_AT_INFERENCE[2]);
  assert.throws(() => checkWeights(cfg, broken), /missing multimodal_preprocessor\/label_padding/);
  broken.set(UNUSED_AT_INFERENCE[2], weights.get('encoder/~/cross_attention/layer_norm/scale')!);
  assert.throws(() => checkWeights(cfg, broken), /label_padding\/pos_embs: \[16\] instead of \[1, 4\]/);
  broken.set(UNUSED_AT_INFERENCE[2], weights.get(UNUSED_AT_INFERENCE[2])!);
  broken.set('encoder/~/self_attention_8/mlp/linear/w', weights.get(UNUSED_AT_INFERENCE[2])!);
  assert.throws(() => checkWeights(cfg, broken), /unexpected encoder\/~\/self_attention_8/);
  for (const t of weights.values()) t.dispose();
});

test.after(() => {
  if (cached) {
    cached.z.dispose();
    cached.model.dispose();
    for (const t of cached.model.params.tensors.values()) t.dispose();
    cached = null;
  }
});

test.run();
