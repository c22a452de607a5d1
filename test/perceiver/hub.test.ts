// perceiver/hub in Node: the real fetching, fallback and caching code against
// a local stand-in for the HuggingFace hub (test/perceiver/hub_server.ts,
// serving ../shared/golden-hf): a model id loaded through a task loader and
// checked against DeepMind's outputs, the .bin fallback, a redirect, a
// connection cut half way (nothing cached, the next try works), the cache
// folder, and HF folders/files read from disk directly.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { decodePng } from '../../tools/png.ts';
import { readSafetensors } from '../../tools/safetensors.ts';
import { encodeSafetensors } from '../../tools/hf-write.ts';
import type { NdArray } from '../../tools/ndarray.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hub, hubMemoryCache, hubUrl, type HubCache } from '../../perceiver/hub/index.ts';
import { nodeHubCache, hfFiles } from '../../perceiver/hub/node.ts';
import { loadImageClassifier } from '../../perceiver/imagenet/index.ts';
import { loadVideoAutoencoder } from '../../perceiver/video/index.ts';
import { ModelWeights, storedLabels } from '../../perceiver/load.ts';
import { parseWeightHeader } from '../../engine/weights.ts';
import { convertToWeightFile } from '../../tools/convert.ts';
import { readNpz } from '../../tools/npy.ts';
import { testGpu, relError } from '../gpu.ts';
import { GOLDEN_DIR, REPO } from '../tools/helpers.ts';
import { startHub, type HubServer } from './hub_server.ts';
import { skip } from '../skip.ts';

const HF_DIR = [process.env.PERCEIVER_GOLDEN_HF_DIR, join(REPO, '..', 'shared', 'golden-hf')].find((d) => d && existsSync(d)) ?? null;
let server: HubServer;
let tmp = '';

test.before(async () => {
  if (!HF_DIR) return;
  // a sharded checkpoint: imagenet_learned's tensors split over two files and an index
  const all = readSafetensors(readFileSync(join(HF_DIR, 'imagenet_learned', 'model.safetensors')));
  const shards = [new Map(), new Map()] as Map<string, NdArray>[];
  const weightMap: Record<string, string> = {};
  [...all].forEach(([k, a], i) => {
    shards[i % 2].set(k, a);
    weightMap[k] = `model-0000${(i % 2) + 1}-of-00002.safetensors`;
  });
  server = await startHub(HF_DIR, {
    virtual: {
      'test/sharded': {
        'config.json': readFileSync(join(HF_DIR, 'imagenet_learned', 'config.json')),
        'model.safetensors.index.json': new TextEncoder().encode(JSON.stringify({ metadata: {}, weight_map: weightMap })),
        'model-00001-of-00002.safetensors': encodeSafetensors(shards[0]),
        'model-00002-of-00002.safetensors': encodeSafetensors(shards[1]),
      },
    },
  });
  tmp = mkdtempSync(join(tmpdir(), 'perceiver-hub-'));
});
test.after(async () => {
  await server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** The tensors of a weight file: name -> bytes (meta aside). */
function tensorBytes(file: Uint8Array): Map<string, Buffer> {
  const h = parseWeightHeader(file);
  return new Map(h.tensors.map((t) => [t.name, Buffer.from(file.buffer, file.byteOffset + t.offset, t.bytes)]));
}

/** Asserts two weight files hold the same tensors bit for bit. */
function sameTensors(a: Uint8Array, b: Uint8Array, what: string): void {
  const x = tensorBytes(a);
  const y = tensorBytes(b);
  assert.equal([...x.keys()], [...y.keys()], `${what}: names`);
  for (const [k, v] of x) assert.ok(v.equals(y.get(k)!), `${what}: ${k} differs`);
}

const asBytes = async (f: Uint8Array | Response) => (f instanceof Uint8Array ? f : new Uint8Array(await f.arrayBuffer()));

function pystateFile(stem: string): Uint8Array {
  const spec = JSON.parse(readFileSync(join(GOLDEN_DIR!, `${stem}.json`), 'utf8'));
  return convertToWeightFile(readFileSync(join(GOLDEN_DIR!, `${stem}.pystate`)), spec.preset, spec.overrides);
}

test('a hub model id loads through the task loader and gives DeepMind outputs; progress is one figure over all files', async () => {
  if (!HF_DIR || !GOLDEN_DIR) return skip('../shared/golden or golden-hf is absent');
  const gpu = await testGpu();
  const seen: [number, number, string][] = [];
  const model = await loadImageClassifier(gpu, hub('deepmind/vision-perceiver-learned', { endpoint: server.endpoint, cache: false }), {
    onProgress: (l, t, n) => seen.push([l, t, n]),
  });
  const sizes = ['config.json', 'model.safetensors'].map((f) => statSync(join(HF_DIR!, 'imagenet_learned', f)).size);
  const last = seen[seen.length - 1];
  assert.equal(last, [sizes[0] + sizes[1], sizes[0] + sizes[1], 'model.safetensors']);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i][0] >= seen[i - 1][0], 'progress never goes back');
  assert.ok(seen.some(([, , n]) => n === 'config.json'));
  const npz = readNpz(readFileSync(join(GOLDEN_DIR, 'imagenet_learned.npz')));
  const images = npz.get('images')!;
  const logits = await model.logits(images.data as Float32Array, images.shape as [number, number, number, number]);
  const err = relError(logits, npz.get('logits')!.data as Float32Array);
  console.log(`  imagenet_learned from the hub: max rel error ${err.toExponential(2)}`);
  assert.ok(err < 5e-4, `error ${err}`);
});

test('model.safetensors missing: the .bin fallback gives the pickle bits; redirects are followed', async () => {
  if (!HF_DIR || !GOLDEN_DIR) return skip('../shared/golden or golden-hf is absent');
  server.log.length = 0;
  const bin = await asBytes(await hub('test/conv-bin', { endpoint: server.endpoint, cache: false }).weightFile({}));
  assert.equal(server.log, ['/test/conv-bin/resolve/main/config.json', '/test/conv-bin/resolve/main/model.safetensors', '/test/conv-bin/resolve/main/model.safetensors.index.json', '/test/conv-bin/resolve/main/pytorch_model.bin']);
  sameTensors(bin, pystateFile('imagenet_conv'), 'conv from pytorch_model.bin');
  server.log.length = 0;
  const red = await asBytes(await hub('test/redirect', { endpoint: server.endpoint, cache: false }).weightFile({}));
  assert.ok(server.log.includes('/cdn/imagenet_fourier/model.safetensors'), server.log.join(' '));
  sameTensors(red, pystateFile('imagenet_fourier'), 'fourier through a redirect');
});

test('a sharded checkpoint: the index and each shard, joined, give the pickle bits', async () => {
  if (!HF_DIR || !GOLDEN_DIR) return skip('../shared/golden or golden-hf is absent');
  server.log.length = 0;
  const seen: [number, number][] = [];
  const f = await asBytes(await hub('test/sharded', { endpoint: server.endpoint, cache: false }).weightFile({ onProgress: (l, t) => seen.push([l, t]) }));
  assert.equal(server.log.slice(1), [
    '/test/sharded/resolve/main/model.safetensors',
    '/test/sharded/resolve/main/model.safetensors.index.json',
    '/test/sharded/resolve/main/model-00001-of-00002.safetensors',
    '/test/sharded/resolve/main/model-00002-of-00002.safetensors',
  ]);
  sameTensors(f, pystateFile('imagenet_learned'), 'learned from two shards');
  const [l, t] = seen[seen.length - 1];
  assert.is(l, t, 'progress ends at its total');
});

test('a connection cut half way fails cleanly and caches nothing; the next try downloads, the one after is served from the cache', async () => {
  if (!HF_DIR) return skip('../shared/golden-hf is absent');
  const dir = join(tmp, 'cache');
  const cache = nodeHubCache(dir);
  const provider = () => hub('test/cut', { endpoint: server.endpoint, cache });
  server.cut = true;
  try {
    await provider().weightFile({});
    assert.unreachable('a cut download was accepted');
  } catch (e) {
    assert.match((e as Error).message, /model\.safetensors: .*(truncated|terminated|other side closed|socket)/i);
  } finally {
    server.cut = false;
  }
  assert.is(await cache.get(provider().key), null, 'nothing cached after the cut');
  assert.ok(!existsSync(dir) || readdirSync(dir).length === 0, 'no file left in the cache folder');
  const first = await asBytes(await provider().weightFile({}));
  assert.equal(readdirSync(dir).filter((f) => f.endsWith('.partial')), []);
  server.log.length = 0;
  const seen: number[] = [];
  const again = await asBytes(await provider().weightFile({ onProgress: (l) => seen.push(l) }));
  assert.equal(server.log, [], 'the cached file is used without the network');
  assert.ok(Buffer.from(again).equals(Buffer.from(first)));
  assert.is(seen[seen.length - 1], first.byteLength);
  // a memory cache and a cache keyed by revision and dtype
  const mem: HubCache = hubMemoryCache();
  const f16 = hub('test/cut', { endpoint: server.endpoint, cache: mem, dtype: 'f16' });
  assert.is.not(f16.key, provider().key);
  await f16.weightFile({});
  assert.ok(await mem.get(f16.key));
});

test('errors name the problem: unknown repository, no weight file, not a Perceiver', async () => {
  if (!HF_DIR) return skip('../shared/golden-hf is absent');
  try {
    await hub('nobody/nothing', { endpoint: server.endpoint, cache: false }).weightFile({});
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /nobody\/nothing\/resolve\/main\/config\.json: HTTP 404/);
  }
  assert.throws(() => hubUrl('../etc', 'config.json'), /not a repository id/);
  assert.throws(() => hubUrl('a/b', 'config.json', { endpoint: 'file:///etc' }), /not an http/);
  assert.is(hubUrl('deepmind/vision-perceiver-conv', 'model.safetensors', { revision: 'refs/pr/1' }), 'https://huggingface.co/deepmind/vision-perceiver-conv/resolve/refs%2Fpr%2F1/model.safetensors');
});

test('hfFiles: an HF folder or one of its weight files, read from disk', async () => {
  if (!HF_DIR || !GOLDEN_DIR) return skip('../shared/golden or golden-hf is absent');
  const ref = pystateFile('imagenet_conv');
  sameTensors(await asBytes(await hfFiles(join(HF_DIR, 'imagenet_conv')).weightFile({})), ref, 'folder');
  sameTensors(await asBytes(await hfFiles(join(HF_DIR, 'imagenet_conv', 'pytorch_model.bin')).weightFile({})), ref, '.bin file');
  const seen: number[] = [];
  await hfFiles(join(HF_DIR, 'imagenet_conv', 'model.safetensors')).weightFile({ onProgress: (l) => seen.push(l) });
  assert.is(seen[seen.length - 1], statSync(join(HF_DIR, 'imagenet_conv', 'model.safetensors')).size);
});

test('id2label with real names becomes the classifier\'s labels', async () => {
  if (!HF_DIR) return skip('../shared/golden-hf is absent');
  const dir = join(tmp, 'labels');
  mkdirSync(dir);
  const config = JSON.parse(readFileSync(join(HF_DIR, 'imagenet_learned', 'config.json'), 'utf8'));
  config.id2label = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [String(i), `class number ${i}`]));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  copyFileSync(join(HF_DIR, 'imagenet_learned', 'model.safetensors'), join(dir, 'model.safetensors'));
  const gpu = await testGpu();
  const model = await loadImageClassifier(gpu, hfFiles(dir));
  assert.is(model.labels?.[7], 'class number 7');
  const [top] = await model.classify(decodePng(readFileSync(join(REPO, 'test/media/chelsea-224.png'))));
  assert.match(top[0].label, /^class number \d+$/);
  assert.is(top[0].label, `class number ${top[0].index}`);
});

test('id2label with real names becomes the video autoencoder\'s labels too; a wrong count is refused', async () => {
  if (!HF_DIR) return skip('../shared/golden-hf is absent');
  const dir = join(tmp, 'video-labels');
  mkdirSync(dir);
  const config = JSON.parse(readFileSync(join(HF_DIR, 'multimodal_autoencoder', 'config.json'), 'utf8'));
  config.id2label = Object.fromEntries(Array.from({ length: 700 }, (_, i) => [String(i), `action ${i}`]));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  copyFileSync(join(HF_DIR, 'multimodal_autoencoder', 'model.safetensors'), join(dir, 'model.safetensors'));
  const gpu = await testGpu();
  const model = await loadVideoAutoencoder(gpu, hfFiles(dir), { compile: false });
  assert.is(model.labels?.length, 700);
  assert.is(model.labels?.[7], 'action 7');
  model.dispose();
  const live = gpu.pool.count;
  const dummy = new ModelWeights(gpu, new Map(), null);
  assert.throws(() => storedLabels({ labels: ['only one'] }, 700, dummy), /this weight file's labels must be 700 class names/);
  assert.is(gpu.pool.count, live);
});

test.run();
