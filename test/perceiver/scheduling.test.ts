// Whole-model scheduling: a warm forward (pipelines compiled, constant
// tables cached) of the ImageNet presets and the MLM is one command buffer,
// takes every storage buffer from the pool (creates none), and writes only its
// inputs to the GPU (the weights stay where loading put them). Command
// buffers are the engine's count (Gpu.submit is the one place that submits);
// buffers and writes are counted by wrapping the device's createBuffer and
// writeBuffer for one forward.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, relError } from '../gpu.ts';
import type { Gpu } from '../../engine/index.ts';
import { BUILTIN_FIXTURES, loadFixture, disposeFixture } from '../../bench/fixture.ts';
import { RUNNERS, type HostArray, type RunContext } from '../../bench/runners.ts';
import { presetConfig, type MultimodalConfig } from '../../perceiver/config.ts';
import { MultimodalAutoencoderModel, allIndices, type WindowGeometry } from '../../perceiver/video/model.ts';
import { randomWeights, noise } from '../../bench/random-weights.ts';

const STORAGE = 0x0080; // GPUBufferUsage.STORAGE
const UNIFORM = 0x0040; // GPUBufferUsage.UNIFORM
const MAP_READ = 0x0001; // GPUBufferUsage.MAP_READ

interface Counts {
  submits: number;
  /** host read-backs (staging buffers mapped for reading) */
  readBacks: number;
  storageBuffers: number;
  /** writes to storage buffers (uniform slabs not counted) */
  writes: number;
}

/** Runs `body` with the command buffers it submits and the device's createBuffer / writeBuffer counted. */
async function counted(gpu: Gpu, body: () => Promise<unknown>): Promise<Counts> {
  const device = gpu.device, queue = device.queue;
  const counts: Counts = { submits: 0, readBacks: 0, storageBuffers: 0, writes: 0 };
  const createBuffer = device.createBuffer, writeBuffer = queue.writeBuffer;
  const submits0 = gpu.submitCount;
  queue.writeBuffer = function (this: GPUQueue, ...a: Parameters<GPUQueue['writeBuffer']>) {
    if (!(a[0].usage & UNIFORM)) counts.writes++; // the engine's uniform slabs are written at each submit
    return writeBuffer.apply(this, a);
  } as GPUQueue['writeBuffer'];
  device.createBuffer = function (this: GPUDevice, d: GPUBufferDescriptor) {
    if (d.usage & STORAGE) counts.storageBuffers++;
    if (d.usage & MAP_READ) counts.readBacks++;
    return createBuffer.call(this, d);
  };
  try {
    await body();
  } finally {
    counts.submits = gpu.submitCount - submits0;
    queue.writeBuffer = writeBuffer;
    device.createBuffer = createBuffer;
  }
  return counts;
}

async function checkForward(ctx: RunContext, inputs: number) {
  const run = RUNNERS[ctx.config.preset]!;
  await run(ctx); // warm: pipelines, cached tables, pool sizes
  const c = await counted(ctx.gpu, () => run(ctx));
  assert.is(c.submits, 1, `${ctx.config.preset}: ${c.submits} command buffers in one forward`);
  assert.is(c.storageBuffers, 0, `${ctx.config.preset}: ${c.storageBuffers} new storage buffers (the pool should supply them)`);
  assert.is(c.writes, inputs, `${ctx.config.preset}: ${c.writes} buffer writes for ${inputs} inputs`);
}

for (const stem of ['imagenet_conv', 'imagenet_fourier', 'imagenet_learned']) {
  test(`${stem}: a warm forward is one command buffer, pooled buffers, inputs the only writes`, async () => {
    const gpu = await testGpu();
    const f = await loadFixture(gpu, BUILTIN_FIXTURES, stem);
    try {
      await checkForward({ gpu, config: f.config, weights: f.weights, inputs: f.arrays as ReadonlyMap<string, HostArray>, full: false }, 1);
    } finally {
      disposeFixture(f);
    }
  });
}

test('language-mlm: a warm forward is one command buffer, pooled buffers, inputs the only writes', async () => {
  const gpu = await testGpu();
  const config = presetConfig('language-mlm', { num_latents: 8, latent_channels: 32, num_blocks: 1, num_self_attends_per_block: 1, num_self_attention_heads: 2 });
  const weights = randomWeights(gpu, config, { style: 'test' });
  const T = (config as { maxSeqLen: number }).maxSeqLen;
  const ids = Int32Array.from({ length: T }, (_, i) => 6 + (i % 200));
  const mask = Int32Array.from({ length: T }, (_, i) => (i < T - 50 ? 1 : 0));
  try {
    const inputs = new Map<string, HostArray>([['inputs', { shape: [1, T], data: ids }], ['input_mask', { shape: [1, T], data: mask }]]);
    await checkForward({ gpu, config, weights, inputs, full: false }, 2);
  } finally {
    for (const t of weights.values()) t.dispose();
  }
});

test('chunked decoders: every chunk recorded before one read-back per output; progress as the GPU finishes each chunk', async () => {
  const gpu = await testGpu();
  const config = presetConfig('multimodal-autoencoder', { num_latents: 8, latent_channels: 32, num_blocks: 1, num_self_attends_per_block: 1, num_self_attention_heads: 2 });
  const weights = randomWeights(gpu, config, { style: 'test' });
  const model = new MultimodalAutoencoderModel(gpu, config as MultimodalConfig, weights);
  const g: WindowGeometry = { frames: 2, height: 8, width: 8, audioSamples: 256 };
  const frames = noise(2 * 8 * 8 * 3, 1, 0.3).map((v) => v + 0.5), audio = noise(256, 2, 0.5);
  try {
    const z = model.encode(frames, audio, g);
    const sel = { image: allIndices(128), audio: allIndices(16), label: true };
    const whole = await model.decode(z, g, sel, { chunkSize: 1024 }); // one chunk per modality (and warm)
    const reports: number[] = [];
    let chunked!: Awaited<ReturnType<typeof model.decode>>;
    const c = await counted(gpu, async () => {
      chunked = await model.decode(z, g, sel, { chunkSize: 10, onProgress: (done) => reports.push(done) });
    });
    assert.is(c.readBacks, 3, `${c.readBacks} read-backs for 13 + 2 + 1 chunks (one per modality expected)`);
    // progress: audio (16 patches), then image (128 pixels), then the label, in chunks of 10
    const want = [10, 16, ...Array.from({ length: 13 }, (_, i) => 16 + Math.min(10 * (i + 1), 128)), 145];
    assert.equal(reports, want);
    for (const k of ['label', 'image', 'audio'] as const) assert.ok(relError(chunked[k]!, whole[k]!) < 1e-6, k);
    z.dispose();
  } finally {
    model.dispose();
    for (const t of weights.values()) t.dispose();
  }
});

test.run();
