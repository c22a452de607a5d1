// The three ImageNet presets against DeepMind's own outputs (golden fixtures),
// batch vs per-image, chunked vs unchunked decoding, and the classify
// pipeline on a real photograph.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testGpu, randn, relError } from '../gpu.ts';
import { upload, readF32 } from '../../engine/index.ts';
import { BUILTIN_FIXTURES, loadFixture, disposeFixture, maxRelError, fixtureSpec } from '../../bench/fixture.ts';
import { encodeWeights } from '../../engine/weights.ts';
import { convertPickle } from '../../tools/convert.ts';
import { readNpz } from '../../tools/npy.ts';
import { loadImageClassifier } from '../../perceiver/imagenet/load.ts';
import type { ImageNetConfig } from '../../perceiver/config.ts';
import { Params } from '../../perceiver/layers.ts';
import { imagenetLogits, classificationDecoder } from '../../perceiver/imagenet/model.ts';
import { decodeQueries, decodeInChunks } from '../../perceiver/decoder.ts';
import { encode } from '../../perceiver/encoder.ts';
import { ImageClassifier } from '../../perceiver/imagenet/classify.ts';
import { decodePng } from '../../tools/png.ts';
import { skip } from '../skip.ts';

const here = dirname(fileURLToPath(import.meta.url));
const GOLDEN = join(here, '../../../shared/golden');
const MEDIA = join(here, '../../../shared/media');
const TOLERANCE = 5e-4;

async function logitsFor(stem: string, dir: string) {
  const gpu = await testGpu();
  const f = await loadFixture(gpu, dir, stem);
  const images = f.arrays.get('images')!;
  const x = upload(gpu, images.data as Float32Array, images.shape);
  const out = imagenetLogits(gpu, x, new Params(f.weights), f.config as ImageNetConfig);
  const logits = await readF32(out);
  x.dispose();
  out.dispose();
  return { f, logits, ref: f.arrays.get('logits')!.data };
}

for (const stem of ['imagenet_conv', 'imagenet_fourier', 'imagenet_learned']) {
  test(`${stem}: built-in fixture matches DeepMind's logits`, async () => {
    const { f, logits, ref } = await logitsFor(stem, BUILTIN_FIXTURES);
    const err = maxRelError(logits, ref);
    disposeFixture(f);
    assert.ok(err < TOLERANCE, `max relative error ${err}`);
  });
}

for (const stem of ['imagenet_conv', 'imagenet_fourier', 'imagenet_learned']) {
  test(`${stem}: golden 224px fixture matches DeepMind's logits`, async () => {
    if (!existsSync(join(GOLDEN, `${stem}.pystate`))) {
      skip(`${GOLDEN} is absent (the golden fixtures are read in place)`);
      return;
    }
    const { f, logits, ref } = await logitsFor(stem, GOLDEN);
    const err = maxRelError(logits, ref);
    disposeFixture(f);
    assert.ok(err < TOLERANCE, `max relative error ${err}`);
  });
}

test('an f16 weight file with keepF16: Linear weights f16 on the GPU (shader-f16), logits within 5e-3', async () => {
  const gpu = await testGpu();
  const stem = 'imagenet_fourier';
  const { preset, overrides } = fixtureSpec(BUILTIN_FIXTURES, stem);
  const converted = convertPickle(readFileSync(join(BUILTIN_FIXTURES, `${stem}.pystate`)), preset, overrides, 'f16');
  const model = await loadImageClassifier(gpu, encodeWeights(converted.meta, converted.tensors), { keepF16: true });
  const dtype = (name: string) => model.params.tensors.get(name)!.dtype;
  const linear = 'perceiver_encoder/~/self_attention/mlp/linear';
  assert.is(dtype(`${linear}/w`), gpu.features.f16 ? 'f16' : 'f32');
  assert.is(dtype(`${linear}/b`), 'f32');
  assert.is(dtype('perceiver_encoder/~/self_attention/layer_norm/scale'), 'f32');
  const arrays = readNpz(readFileSync(join(BUILTIN_FIXTURES, `${stem}.npz`)));
  const images = arrays.get('images')!;
  const logits = await model.logits(images.data as Float32Array, images.shape as [number, number, number, number]);
  const err = maxRelError(logits, arrays.get('logits')!.data as Float32Array);
  assert.ok(err < 5e-3, `max relative error ${err}`);
  for (const t of model.params.tensors.values()) t.dispose();
});

test('a batch gives the same logits as each image alone', async () => {
  const gpu = await testGpu();
  const f = await loadFixture(gpu, BUILTIN_FIXTURES, 'imagenet_fourier');
  const images = f.arrays.get('images')!;
  const [b, h, w, c] = images.shape;
  const params = new Params(f.weights);
  const run = async (data: Float32Array, n: number) => {
    const x = upload(gpu, data, [n, h, w, c]);
    const out = imagenetLogits(gpu, x, params, f.config as ImageNetConfig);
    const r = await readF32(out);
    x.dispose();
    out.dispose();
    return r;
  };
  const together = await run(images.data as Float32Array, b);
  const per = h * w * c;
  for (let i = 0; i < b; i++) {
    const alone = await run((images.data as Float32Array).slice(i * per, (i + 1) * per), 1);
    assert.ok(relError(alone, together.subarray(i * 1000, (i + 1) * 1000)) < 1e-5, `image ${i}`);
  }
  disposeFixture(f);
});

test('decoding in chunks equals decoding all queries at once', async () => {
  const gpu = await testGpu();
  const f = await loadFixture(gpu, BUILTIN_FIXTURES, 'imagenet_conv');
  const cfg = f.config as ImageNetConfig;
  const params = new Params(f.weights);
  const images = f.arrays.get('images')!;
  const x = upload(gpu, images.data as Float32Array, images.shape);
  const { imagenetInputs } = await import('../../perceiver/imagenet/model.ts');
  const inputs = imagenetInputs(gpu, x, params, cfg);
  const z = encode(gpu, inputs, params, cfg.encoder);
  const spec = classificationDecoder(cfg);
  const batch = images.shape[0];
  const total = 37;
  const width = cfg.decoderQueryChannels;
  const host = randn(batch * total * width, 7);
  const all = upload(gpu, host, [batch, total, width]);
  const whole = await readF32(decodeQueries(gpu, z, all, params, spec));
  const chunked = await decodeInChunks(gpu, z, total, params, spec, {
    chunkSize: 8,
    makeChunk(start, count) {
      const part = new Float32Array(batch * count * width);
      for (let b = 0; b < batch; b++) part.set(host.subarray((b * total + start) * width, (b * total + start + count) * width), b * count * width);
      return { queries: upload(gpu, part, [batch, count, width]) };
    },
  });
  assert.is(chunked.channels, cfg.numClasses);
  assert.ok(relError(chunked.data, whole) < 1e-6, 'chunked != whole');
  [x, inputs, z, all].forEach((t) => t.dispose());
  disposeFixture(f);
});

test('classify: a real photograph through the colab preprocessing to top-5 labels', async () => {
  const gpu = await testGpu();
  const f = await loadFixture(gpu, BUILTIN_FIXTURES, 'imagenet_learned');
  const photo = existsSync(join(MEDIA, 'chelsea.png')) ? join(MEDIA, 'chelsea.png') : join(here, '../media/chelsea-224.png');
  const img = decodePng(readFileSync(photo));
  const model = new ImageClassifier(gpu, f.config as ImageNetConfig, f.weights);
  const [top] = await model.classify(img, 5);
  assert.is(top.length, 5);
  let sum = 0;
  for (let i = 0; i < 5; i++) {
    assert.ok(top[i].label.length > 0);
    assert.ok(top[i].index >= 0 && top[i].index < 1000);
    if (i > 0) assert.ok(top[i].probability <= top[i - 1].probability);
    sum += top[i].probability;
  }
  assert.ok(sum > 0 && sum <= 1 + 1e-6);
  // The pipeline's logits equal the model's on the same preprocessed input.
  const { preprocessImageNet } = await import('../../perceiver/imagenet/preprocess.ts');
  const size = model.inputSize;
  const logits = await model.logits(preprocessImageNet(img, size), [1, size, size, 3]);
  const best = logits.indexOf(Math.max(...logits));
  assert.is(top[0].index, best);
  disposeFixture(f);
});

test.run();
