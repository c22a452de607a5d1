// The worker protocol without a browser: PerceiverWorker (worker/index.ts)
// on one end of a node:worker_threads MessageChannel, serve()
// (worker/serve.ts) on the other, with stand-in models whose calls are
// counted and can be held; then one real round trip (the built-in
// golden-compact imagenet_learned fixture on this process's GPU, DeepMind's
// logits within 5e-4). test/browser/worker.test.ts runs the real worker in
// Chromium.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MessageChannel } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PerceiverWorker, type Port } from '../../worker/index.ts';
import { serve, type TaskLoader } from '../../worker/serve.ts';
import { GpuError, type Gpu } from '../../engine/gpu.ts';
import { WeightFormatError } from '../../engine/weights.ts';
import { BUILTIN_FIXTURES, fixtureSpec, maxRelError } from '../../bench/fixture.ts';
import { convertToWeightFile } from '../../tools/convert.ts';
import { readNpz } from '../../tools/npy.ts';
import { testGpu } from '../gpu.ts';
import { nodeGpu } from '../../engine/node.ts';
import { MaskedLanguageModel } from '../../perceiver/language/fillmask.ts';
import { randomWeights } from '../../bench/random-weights.ts';
import { attentionMaps } from '../../perceiver/attention_maps.ts';
import { tinyLanguageConfig } from '../perceiver/tiny.ts';

/** A device stand-in: what serve() reads of a Gpu. */
function fakeGpu(): Gpu & { destroyed: boolean } {
  const g = {
    adapterName: 'fake adapter',
    features: { f16: false, subgroups: false, timestamps: false, emulated: true },
    device: { lost: new Promise(() => {}) },
    destroyed: false,
    destroy() {
      g.destroyed = true;
    },
  };
  return g as unknown as Gpu & { destroyed: boolean };
}

/** A gate a stand-in call waits at until the test opens it. */
function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

interface Fake {
  calls: string[];
  freed: number;
  /** classify waits here when set */
  hold: ReturnType<typeof gate> | null;
}

/** A stand-in task loader: reads nothing, reports three tensors, returns a model whose methods record their calls. */
function fakeLoaders(f: Fake): Partial<Record<'imagenet' | 'language', () => Promise<TaskLoader>>> {
  const load = (preset: string, model: Record<string, unknown>): TaskLoader => async (_gpu, source, opts) => {
    opts.expectMeta?.({ preset, overrides: {}, dtype: 'f32' });
    // bytes as they are; a stream read through, its length as loadWeights takes it (a Response's content-length)
    let n = 0;
    if (source instanceof Uint8Array) n = source.byteLength;
    else if (source instanceof Response) n = (await source.arrayBuffer()).byteLength === Number(source.headers.get('content-length')) ? Number(source.headers.get('content-length')) : -1;
    for (let i = 1; i <= 3; i++) {
      opts.onProgress?.((n * i) / 3, n, `tensor${i}`);
      await new Promise((r) => setTimeout(r, 5)); // (a cancel can arrive between tensors, as with a real upload)
    }
    return { config: { preset }, dispose: () => f.freed++, ...model };
  };
  return {
    imagenet: async () =>
      load('imagenet-learned', {
        inputSize: 64,
        async classify(img: { width: number; height: number; data: Uint8Array }, k: number) {
          f.calls.push(`classify ${img.width}x${img.height} k=${k}`);
          if (f.hold) await f.hold.p;
          return [[{ index: 7, label: 'seven', probability: img.data[0] / 255 }]];
        },
        async logits(x: Float32Array) {
          f.calls.push('logits');
          return x.map((v) => 2 * v);
        },
      }),
    language: async () =>
      load('language-mlm', {
        windowSize: 2048,
        async fillMask(template: string, opts: { onProgress?(d: number, t: number): void }) {
          f.calls.push(`fillMask ${template}`);
          if (template === 'bad') throw Object.assign(new Error('fill-mask: unclosed [MASK at 3'), { name: 'FillMaskSyntaxError', index: 3, line: 1, column: 4 });
          if (template === 'gpu') throw new GpuError('GPU out of memory: test', ['matmul(1x2)']);
          if (template === 'weights') throw new WeightFormatError('truncated weight file: test');
          for (let w = 0; w < 4; w++) {
            await new Promise((r) => setTimeout(r, 5));
            opts.onProgress?.(w + 1, 4);
          }
          return { text: template.toUpperCase(), bytes: new TextEncoder().encode(template) };
        },
      }),
  };
}

/** Every channel a test opened, closed at the end even when a test failed midway (an open port keeps the process alive). */
const channels: MessageChannel[] = [];
test.after(() => channels.forEach((c) => c.port1.close()));

function channel(): MessageChannel {
  const c = new MessageChannel();
  channels.push(c);
  return c;
}

function pair(f: Fake, opts: { transfer?: boolean } = {}) {
  const { port1, port2 } = channel();
  const gpu = fakeGpu();
  const served = serve(port2 as unknown as Port, { gpu: async () => gpu, loaders: fakeLoaders(f) });
  const client = new PerceiverWorker({ worker: port1 as unknown as Port, transfer: opts.transfer });
  const end = async () => {
    await client.dispose();
    await served;
    port1.close();
  };
  return { client, gpu, served, end };
}

const fresh = (): Fake => ({ calls: [], freed: 0, hold: null });

test('load: progress per tensor, the model info, and the weight bytes transferred (the sender\'s copy detached)', async () => {
  const f = fresh();
  const { client, end } = pair(f);
  const bytes = new Uint8Array(300).fill(1);
  const progress: [number, number, string][] = [];
  const m = await client.loadImageClassifier(bytes, { onProgress: (l, t, n) => progress.push([l, t, n]) });
  assert.equal(progress, [[100, 300, 'tensor1'], [200, 300, 'tensor2'], [300, 300, 'tensor3']]);
  assert.is(bytes.byteLength, 0, 'transferred, not copied');
  assert.is(m.preset, 'imagenet-learned');
  assert.is(m.inputSize, 64);
  assert.is(m.info.tensors, 3);
  assert.equal(m.info.meta, { preset: 'imagenet-learned', overrides: {}, dtype: 'f32' });
  await end();
});

test('load from a Response or a Blob: the body streams to the worker with the file\'s length', async () => {
  const f = fresh();
  const { client, end } = pair(f);
  const totals = async (source: Response | Blob) => {
    const seen: number[] = [];
    await client.loadImageClassifier(source, { onProgress: (_l, t) => seen.push(t) });
    return seen;
  };
  assert.equal(await totals(new Response(new Uint8Array(120), { headers: { 'content-length': '120' } })), [120, 120, 120], 'a Response');
  assert.equal(await totals(new Blob([new Uint8Array(90)])), [90, 90, 90], 'a Blob');
  await end();
});

test('a call: inputs transferred there, the result transferred back; transfer: false copies', async () => {
  const f = fresh();
  const { client, end } = pair(f);
  const m = await client.loadImageClassifier(new Uint8Array(3));
  const data = new Uint8Array(4 * 4 * 4).fill(51);
  const [top] = await m.classify({ width: 4, height: 4, data }, 3);
  assert.equal(top, [{ index: 7, label: 'seven', probability: 0.2 }]);
  assert.is(data.byteLength, 0, 'the RGBA bytes went to the worker');
  const x = Float32Array.of(1, 2, 3);
  const y = await m.logits(x, [1, 1, 1, 3]);
  assert.instance(y, Float32Array);
  assert.equal(Array.from(y), [2, 4, 6]);
  assert.equal(f.calls, ['classify 4x4 k=3', 'logits']);
  await end();

  const g = fresh();
  const copying = pair(g, { transfer: false });
  const m2 = await copying.client.loadImageClassifier(new Uint8Array(3));
  const kept = Float32Array.of(1, 2);
  await m2.logits(kept, [1, 1, 1, 2]);
  assert.equal(Array.from(kept), [1, 2], 'transfer: false leaves the caller\'s array');
  await copying.end();
});

test('progress of a call: fillMask\'s onProgress(windowsDone, windowsTotal) arrives on this side', async () => {
  const f = fresh();
  const { client, end } = pair(f);
  const m = await client.loadMaskedLanguageModel(new Uint8Array(3));
  assert.is(m.windowSize, 2048);
  const steps: number[][] = [];
  const r = await m.fillMask('abc', { topK: 2, onProgress: (d, t) => steps.push([d, t]) });
  assert.equal(steps, [[1, 4], [2, 4], [3, 4], [4, 4]]);
  assert.is(r.text, 'ABC');
  assert.instance(r.bytes, Uint8Array);
  await end();
});

test('cancel: a queued call is rejected with an AbortError and never runs; the calls around it do', async () => {
  const f = fresh();
  const { client, end } = pair(f);
  const m = await client.loadImageClassifier(new Uint8Array(3));
  const img = () => ({ width: 1, height: 1, data: new Uint8Array([255, 0, 0, 255]) });
  f.hold = gate();
  const first = m.classify(img(), 1);
  const ac = new AbortController();
  const second = m.classify(img(), 2, { signal: ac.signal });
  const third = m.classify(img(), 3);
  await new Promise((r) => setTimeout(r, 20)); // the first has started and waits at the gate
  ac.abort();
  const err = await second.then(() => null, (e: Error) => e);
  assert.ok(err, 'the aborted call rejects');
  assert.is(err!.name, 'AbortError');
  await new Promise((r) => setTimeout(r, 20)); // (the cancel message crosses the channel)
  f.hold.open();
  await first;
  await third;
  assert.equal(f.calls, ['classify 1x1 k=1', 'classify 1x1 k=3'], 'the cancelled call never ran');
  const s = await client.status();
  assert.is(s.cancelled, 1);
  assert.is(s.adapter, 'fake adapter');
  // an already-aborted signal: refused before anything is sent
  const already = await m.classify(img(), 1, { signal: AbortSignal.abort() }).then(() => null, (e: Error) => e);
  assert.is(already?.name, 'AbortError');
  await end();
});

test('cancel: a running call stops at its next progress step', async () => {
  const f = fresh();
  const { client, end } = pair(f);
  const m = await client.loadMaskedLanguageModel(new Uint8Array(3));
  const ac = new AbortController();
  const steps: number[] = [];
  const run = m.fillMask('long', { signal: ac.signal, onProgress: (d) => (steps.push(d), d === 1 && ac.abort()) });
  const err = await run.then(() => null, (e: Error) => e);
  assert.is(err?.name, 'AbortError');
  const after = await m.fillMask('next');
  assert.is(after.text, 'NEXT', 'the worker goes on with the next call');
  assert.ok((await client.status()).finished >= 3);
  await end();
});

test('cancel: a running load stops after the current tensor and leaves no model', async () => {
  const f = fresh();
  const { client, end } = pair(f);
  const ac = new AbortController();
  const seen: string[] = [];
  const err = await client
    .loadImageClassifier(new Uint8Array(30), { signal: ac.signal, onProgress: (_l, _t, name) => (seen.push(name), ac.abort()) })
    .then(() => null, (e: Error) => e);
  assert.is(err?.name, 'AbortError');
  await new Promise((r) => setTimeout(r, 40)); // (the cancel crosses; the load stops at its next tensor)
  assert.equal(seen, ['tensor1']);
  assert.is((await client.status()).models, 0, 'the stopped load left no model');
  assert.is(f.freed, 0, 'stopped inside the loader (at its next tensor), not loaded in full and freed after');
  assert.is((await client.loadImageClassifier(new Uint8Array(3))).info.tensors, 3, 'the next load runs');
  await end();
});

test('a progress callback that throws ends its call with that error, as in-thread; the worker goes on', async () => {
  const f = fresh();
  const { client, end } = pair(f);
  const m = await client.loadMaskedLanguageModel(new Uint8Array(3));
  const mine = new Error('stop at window 2');
  const steps: number[] = [];
  const err = await m
    .fillMask('long', {
      onProgress: (d) => {
        steps.push(d);
        if (d === 2) throw mine;
      },
    })
    .then(() => null, (e: unknown) => e);
  assert.is(err, mine, 'the callback\'s own error');
  await new Promise((r) => setTimeout(r, 30)); // (later progress of the stopped call would arrive by now)
  assert.equal(steps, [1, 2], 'no progress after the throw');
  assert.is((await m.fillMask('next')).text, 'NEXT', 'the worker goes on with the next call');
  await end();
});

test('errors are re-thrown here with their name, message and fields; GpuError and WeightFormatError keep their class', async () => {
  const f = fresh();
  const { client, end } = pair(f);
  const m = await client.loadMaskedLanguageModel(new Uint8Array(3));
  const syntax = (await m.fillMask('bad').catch((e) => e)) as Error & { index: number; line: number };
  assert.is(syntax.name, 'FillMaskSyntaxError');
  assert.is(syntax.message, 'fill-mask: unclosed [MASK at 3');
  assert.is(syntax.index, 3);
  assert.match(syntax.stack ?? '', /in the Perceiver worker/);
  const gpu = (await m.fillMask('gpu').catch((e) => e)) as GpuError;
  assert.instance(gpu, GpuError);
  assert.is(gpu.name, 'GpuError');
  assert.match(gpu.message, /^GPU out of memory: test\n {2}while running: matmul\(1x2\)/);
  assert.equal(gpu.kernels, ['matmul(1x2)']);
  const weights = (await m.fillMask('weights').catch((e) => e)) as Error;
  assert.instance(weights, WeightFormatError);
  assert.is(weights.message, 'truncated weight file: test');
  // what the worker refuses itself
  const nope = (await (m as unknown as { call(method: string, args: unknown[]): Promise<unknown> }).call('dispose', []).catch((e) => e)) as Error;
  assert.match(nope.message, /a language model has no method 'dispose' \(it has fillMask, fillRanges, logits\)/);
  const wrongSource = (await client.loadImageClassifier(42 as unknown as Uint8Array).catch((e) => e)) as Error;
  assert.instance(wrongSource, TypeError);
  assert.match(wrongSource.message, /a weight source must be a URL, a Uint8Array/);
  await end();
});

test('dispose: a model frees its weights there and refuses later calls; the worker frees the rest and the device', async () => {
  const f = fresh();
  const { client, gpu, end } = pair(f);
  const a = await client.loadImageClassifier(new Uint8Array(3));
  await client.loadImageClassifier(new Uint8Array(3));
  await a.dispose();
  assert.is(f.freed, 1);
  const late = (await a.logits(new Float32Array(1), [1, 1, 1, 1]).catch((e) => e)) as Error;
  assert.match(late.message, /this imagenet model was disposed/);
  assert.is((await client.status()).models, 1);
  await end();
  assert.is(f.freed, 2, 'the other model freed on close');
  assert.ok(gpu.destroyed, 'the device destroyed');
  const after = (await client.status().catch((e) => e)) as Error;
  assert.match(after.message, /disposed/);
});

test('the real thing over the channel: imagenet_learned (built-in golden-compact) on this GPU, DeepMind\'s logits within 5e-4', async () => {
  const gpu = await testGpu();
  const { port1, port2 } = channel();
  // the device is shared with the other tests of this process: the worker side must not destroy it
  const served = serve(port2 as unknown as Port, { gpu: async () => gpu, keepDevice: true });
  const client = new PerceiverWorker({ worker: port1 as unknown as Port });
  const stem = 'imagenet_learned';
  const { preset, overrides } = fixtureSpec(BUILTIN_FIXTURES, stem);
  const weights = convertToWeightFile(readFileSync(join(BUILTIN_FIXTURES, `${stem}.pystate`)), preset, overrides);
  let last = 0;
  const m = await client.loadImageClassifier(weights, { onProgress: (l) => (last = l) });
  assert.is(weights.byteLength, 0, 'the bytes were transferred');
  assert.ok(last > 0, 'load progress');
  const arrays = readNpz(readFileSync(join(BUILTIN_FIXTURES, `${stem}.npz`)));
  const images = arrays.get('images')!;
  const shape = images.shape as [number, number, number, number];
  const again = Float32Array.from(images.data as Float32Array);
  const logits = await m.logits(images.data as Float32Array, shape);
  const err = maxRelError(logits, arrays.get('logits')!.data as Float32Array);
  console.log(`  ${stem} through the worker protocol: max relative error ${err.toExponential(2)}`);
  assert.ok(err < 5e-4, String(err));
  // attention maps: an attentionMaps() value crosses as its latents, the worker records them (its maps code loaded on first use)
  const withMaps = await m.forward(again, shape, attentionMaps({ latents: [3, 0] }));
  assert.equal(Array.from(withMaps.logits), Array.from(logits));
  assert.equal(withMaps.attention!.map((perImage) => perImage.map((g) => g.latent)), Array.from({ length: shape[0] }, () => [3, 0]));
  for (const g of withMaps.attention!.flat()) assert.ok(Math.abs(g.data.reduce((a, b) => a + b, 0) - 1) < 1e-4, `latent ${g.latent}'s map sums to 1`);
  await m.dispose();
  await client.dispose();
  await served;
  port1.close();
});

test('a lost device in the worker: onLost here, and the next call recovers (the weights uploaded again from the bytes the loader kept)', async () => {
  const gpu = await nodeGpu(); // a device of its own: this test loses it
  const { port1, port2 } = channel();
  const served = serve(port2 as unknown as Port, { gpu: async () => gpu });
  const losses: string[] = [];
  const client = new PerceiverWorker({ worker: port1 as unknown as Port, onLost: (r) => losses.push(r) });
  const stem = 'imagenet_learned';
  const { preset, overrides } = fixtureSpec(BUILTIN_FIXTURES, stem);
  const m = await client.loadImageClassifier(convertToWeightFile(readFileSync(join(BUILTIN_FIXTURES, `${stem}.pystate`)), preset, overrides), { recover: 'source' });
  const arrays = readNpz(readFileSync(join(BUILTIN_FIXTURES, `${stem}.npz`)));
  const images = arrays.get('images')!;
  const run = () => m.logits((images.data as Float32Array).slice(), images.shape as [number, number, number, number]);
  await run();
  gpu.device.destroy();
  await new Promise((r) => setTimeout(r, 100)); // (the loss is reported asynchronously)
  assert.is(losses.length, 1);
  assert.match(losses[0], /the GPU device was lost \(destroyed/);
  assert.match((await client.status()).lost ?? '', /destroyed/);
  const err = maxRelError(await run(), arrays.get('logits')!.data as Float32Array);
  assert.ok(err < 5e-4, `after recovery: ${err}`);
  assert.is((await client.status()).lost, null);
  await client.dispose();
  await served;
});

test('a real fill-mask over the channel: a tiny random-weight language model, three windows, progress per window, a running call stopped after the first, the same bytes as in-thread', async () => {
  const gpu = await testGpu();
  const cfg = tinyLanguageConfig(1);
  const weights = randomWeights(gpu, cfg, { style: 'test', seed: 5 });
  const inThread = new MaskedLanguageModel(gpu, cfg, weights);
  let forwards = 0;
  const { port1, port2 } = channel();
  const served = serve(port2 as unknown as Port, {
    gpu: async () => gpu,
    keepDevice: true,
    // (the worker's model shares the weights; it is not disposed through the worker below)
    loaders: {
      language: async () => async (g) => {
        const m = new MaskedLanguageModel(g, cfg, weights);
        const logits = m.logits.bind(m);
        m.logits = (...a) => (forwards++, logits(...a)); // counted: the windows that ran
        return m;
      },
    },
  });
  const client = new PerceiverWorker({ worker: port1 as unknown as Port });
  const remote = await client.loadMaskedLanguageModel(new Uint8Array(0));
  assert.is(remote.windowSize, 48);
  // gaps far enough apart that each needs its own 48-byte window
  const template = `${'a'.repeat(10)}[MASK:3]${'b'.repeat(60)}[MASK:2]${'c'.repeat(60)}[MASK:4]${'d'.repeat(10)}`;
  const steps: number[][] = [];
  const got = await remote.fillMask(template, { topK: 3, onProgress: (d, t) => steps.push([d, t]) });
  const want = await inThread.fillMask(template, { topK: 3 });
  assert.equal(steps, [[1, 3], [2, 3], [3, 3]]);
  assert.is(got.text, want.text);
  assert.equal(Array.from(got.bytes), Array.from(want.bytes));
  assert.equal(got.gaps.map((g) => g.perByte.map((p) => p.topK.map((c) => c.byte))), want.gaps.map((g) => g.perByte.map((p) => p.topK.map((c) => c.byte))));
  assert.is(forwards, 3);
  // a running call, aborted at its first progress step: it stops before its last window
  const ac = new AbortController();
  let seen = 0;
  const stopped = await remote.fillMask(template, { signal: ac.signal, onProgress: () => (seen++, ac.abort()) }).catch((e: Error) => e);
  assert.is((stopped as Error).name, 'AbortError');
  await client.status(); // (answered after the worker has read the cancel)
  await remote.fillMask('[MASK:1]'); // queued behind the aborted call: runs once it has stopped
  assert.is(seen, 1, 'no progress reported after the abort');
  assert.ok(forwards - 3 - 1 < 3, `the aborted call ran ${forwards - 4} of its 3 windows`);
  const syntax = (await remote.fillMask('no gap here').catch((e) => e)) as Error;
  assert.match(syntax.message, /no gap/);
  await client.dispose();
  await served;
  for (const t of weights.values()) t.dispose();
});

test.run();
