// Bad calls get clear errors: for each task, a table of wrong calls and the
// message each must give (docs/reliability.md, "Bad calls"), on reduced-size
// models with random weights; then what comes back for the inputs that are
// accepted on purpose (NUL bytes, lone surrogates, invalid UTF-8, small
// frames, audio of another length).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu } from '../gpu.ts';
import type { Gpu, Tensor } from '../../engine/index.ts';
import { encodeWeights } from '../../engine/weights.ts';
import { defaultConfig, presetConfig, withOverrides, type FlowConfig, type ImageNetConfig, type LanguageConfig, type ModelConfig, type MultimodalConfig } from '../../perceiver/config.ts';
import { storedShapes } from '../../perceiver/params.ts';
import { randomWeights } from '../../bench/random-weights.ts';
import { ImageClassifier, loadImageClassifier } from '../../perceiver/imagenet/index.ts';
import { MaskedLanguageModel, loadMaskedLanguageModel, bytesToIds, idsToBytes, decode, utf8 } from '../../perceiver/language/index.ts';
import { OpticalFlow, loadOpticalFlow } from '../../perceiver/flow/index.ts';
import { VideoAutoencoder, loadVideoAutoencoder } from '../../perceiver/video/index.ts';
import { tinyLanguageConfig } from './tiny.ts';

const SMALL = { num_latents: 8, latent_channels: 16, num_blocks: 1, num_self_attends_per_block: 1, num_self_attention_heads: 2 };

/** A converted weight file (zeros) for `cfg`, with `meta` as the converter writes it. */
function weightFile(cfg: ModelConfig, meta: Record<string, unknown>): Uint8Array {
  const tensors = [...storedShapes(cfg)].map(([name, shape]) => ({ name, dtype: 'f32' as const, shape, data: new Float32Array(shape.reduce((a, d) => a * d, 1)) }));
  return encodeWeights(meta, tensors);
}

const rgba = (width: number, height: number, bytes = width * height * 4) => ({ width, height, data: new Uint8Array(Math.max(0, bytes)).fill(90) });

type Case = [what: string, call: () => unknown, message: RegExp];

/** Runs each call; each must throw (or reject with) an Error whose message matches. */
async function table(cases: Case[]): Promise<void> {
  for (const [what, call, message] of cases) {
    let error: unknown = null;
    try {
      await call();
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof Error, `${what}: expected an Error, got ${error === null ? 'success' : String(error)}`);
    assert.match((error as Error).message, message, `${what}: ${(error as Error).message}`);
    assert.not.match((error as Error).message, /Cannot read propert|is not a function|Invalid typed array|undefined/, `${what}: a runtime error leaked`);
  }
}

// ---------------------------------------------------------------- the models

const imagenetCfg = presetConfig('imagenet-learned', { ...SMALL, image_size: 16 }) as ImageNetConfig;
const flowCfg: FlowConfig = { ...withOverrides(defaultConfig('optical-flow') as FlowConfig, SMALL), trainSize: [24, 32], patchChannels: 8, fourierBands: 6 };
const languageCfg = tinyLanguageConfig(1);
const videoCfg: MultimodalConfig = {
  ...(presetConfig('multimodal-autoencoder', { num_latents: 32, latent_channels: 64, num_blocks: 1, num_self_attends_per_block: 1, num_self_attention_heads: 4 }) as MultimodalConfig),
  numFrames: 4,
  imageSize: 4,
  audioSamplesPerFrame: 32,
};

const weightsOf = (gpu: Gpu, cfg: ModelConfig) => randomWeights(gpu, cfg, { style: 'test', seed: 7 });
const free = (w: Map<string, Tensor>) => w.forEach((t) => t.dispose());

// ---------------------------------------------------------------- classify

test('classify: bad images, k, sizes, non-finite input, another task\'s weights, mismatched files, use after dispose', async () => {
  const gpu = await testGpu();
  const weights = weightsOf(gpu, imagenetCfg);
  const flowWeights = weightsOf(gpu, flowCfg);
  const model = new ImageClassifier(gpu, imagenetCfg, weights);
  const nan = new Float32Array(16 * 16 * 3);
  nan[3] = NaN;
  const mismatched = weightFile(imagenetCfg, { preset: 'imagenet-learned', overrides: { ...SMALL, image_size: 16, num_latents: 12 } });
  await table([
    ['an image of 0x0 pixels', () => model.classify(rgba(0, 0)), /image size 0x0: width and height must be positive integers/],
    ['a negative size', () => model.classify(rgba(-1, -1, 4)), /image size -1x-1: width and height must be positive integers/],
    ['a fractional size', () => model.classify(rgba(1.5, 2, 12)), /image size 1.5x2/],
    ['fewer bytes than width x height x 4', () => model.classify(rgba(4, 4, 10)), /image data has 10 bytes; 4x4 RGBA needs 64/],
    ['null', () => model.classify(null as never), /expected an image \(\{ width, height, data \} RGBA bytes, or a browser image\), got null/],
    ['a number', () => model.classify(5 as never), /expected an image .* got number/],
    ['an empty list', () => model.classify([]), /classify: no images/],
    ['a 1x1 image (nothing to crop)', () => model.classify(rgba(1, 1)), /image 1x1 is too small to crop/],
    ['k = 0', () => model.classify(rgba(8, 8), 0), /k \(labels per image\) must be a positive integer, got 0/],
    ['k = 2.5', () => model.classify(rgba(8, 8), 2.5), /must be a positive integer, got 2.5/],
    ['logits of another image size', () => model.logits(new Float32Array(20 * 20 * 3), [1, 20, 20, 3]), /images must be 16x16, got 20x20/],
    ['logits with too few values', () => model.logits(new Float32Array(10), [1, 16, 16, 3]), /10 values for shape \[1,16,16,3\] \(768 expected\)/],
    ['logits with a NaN', () => model.logits(nan, [1, 16, 16, 3]), /ImageClassifier.logits: images: value 3 is NaN; inputs must be finite numbers/],
    ['logits with an infinity', () => model.logits(new Float32Array(768).fill(-Infinity), [1, 16, 16, 3]), /value 0 is -Infinity/],
    ['the optical-flow config', () => new ImageClassifier(gpu, flowCfg as never, weights), /ImageClassifier needs an imagenet-\* preset, got optical-flow/],
    ['optical-flow weights', () => new ImageClassifier(gpu, imagenetCfg, flowWeights), /imagenet-learned weights do not match the config \(another task's weights.*\): missing classification_decoder/],
    ['an optical-flow weight file', () => loadImageClassifier(gpu, weightFile(flowCfg, { preset: 'optical-flow', overrides: SMALL })), /this weight file is for preset 'optical-flow', not imagenet-conv, imagenet-fourier or imagenet-learned/],
    ['a file whose overrides do not describe its tensors', () => loadImageClassifier(gpu, mismatched), /imagenet-learned weights do not match the config .*trainable_position_encoding\/pos_embs: \[8, 16\] instead of \[12, 16\]/],
    ['a file without a preset', () => loadImageClassifier(gpu, weightFile(imagenetCfg, {})), /this weight file names no preset; it must be one of imagenet-conv, imagenet-fourier, imagenet-learned/],
    ['a file with a bad override', () => loadImageClassifier(gpu, weightFile(imagenetCfg, { preset: 'imagenet-learned', overrides: { num_latents: -3 } })), /override num_latents must be a positive integer, got -3/],
  ]);
  assert.is((await model.classify(rgba(20, 18)))[0].length, 5, 'the model still works after the refusals');
  model.dispose();
  await table([
    ['classify after dispose()', () => model.classify(rgba(8, 8)), /ImageClassifier was used after dispose\(\)/],
    ['logits after dispose()', () => model.logits(new Float32Array(768), [1, 16, 16, 3]), /ImageClassifier was used after dispose\(\)/],
  ]);
  free(weights);
  free(flowWeights);
});

// ---------------------------------------------------------------- fill-mask

test('fill-mask: empty text, gap marks, ranges, non-strings, another task\'s weights, use after dispose', async () => {
  const gpu = await testGpu();
  const weights = weightsOf(gpu, languageCfg);
  const model = new MaskedLanguageModel(gpu, languageCfg, weights);
  await table([
    ['empty text', () => model.fillMask(''), /fill-mask: the text is empty/],
    ['text without a gap', () => model.fillMask('no gap here'), /the text has no gap; a gap is written \[MASK:N\]/],
    ['[MASK:0]', () => model.fillMask('a[MASK:0]b'), /malformed gap mark "\[MASK:0\]" at character 1 .*the byte count must be at least 1/],
    ['[MASK:99999999]', () => model.fillMask('a[MASK:99999999]'), /malformed gap mark "\[MASK:99999999\]" .*a gap can cover at most 48 bytes \(the model's window\)/],
    ['[MASK] without a count', () => model.fillMask('a[MASK]'), /malformed gap mark/],
    ['a number instead of text', () => model.fillMask(5 as never), /fill-mask: expected a string, got number|not a string|expected a string/],
    ['a range past the text', () => model.fillRanges('abc', [[2, 10]]), /byte range 0 \[2,10\] must be \[start, end\) with integers 0 <= start < end <= 3/],
    ['an empty range', () => model.fillRanges('abc', [[2, 2]]), /byte range 0 \[2,2\]/],
    ['a NaN range', () => model.fillRanges('abc', [[NaN, 1]]), /byte range 0/],
    ['logits of more than a window', () => model.logits(new Int32Array(49), new Int32Array(49), 1), /ids and mask must hold \[1, L\] values with 1 <= L <= 48; got 49 and 49$/],
    ['logits at a position outside', () => model.logits(new Int32Array(8), new Int32Array(8), 1, Int32Array.of(8)), /positions must lie in \[0, 8\)/],
    ['the imagenet config', () => new MaskedLanguageModel(gpu, imagenetCfg as never, weights), /MaskedLanguageModel needs the language-mlm preset, got imagenet-learned/],
    ['weights of another size', () => new MaskedLanguageModel(gpu, { ...languageCfg, dModel: 40 }, weights), /language-mlm weights do not match the config .*basic_decoder\/cross_attention\/layer_norm\/offset: \[32\] instead of \[40\]/],
    ['an imagenet weight file', () => loadMaskedLanguageModel(gpu, weightFile(imagenetCfg, { preset: 'imagenet-learned', overrides: { ...SMALL, image_size: 16 } })), /this weight file is for preset 'imagenet-learned', not language-mlm/],
  ]);
  model.dispose();
  await table([
    ['fillMask after dispose()', () => model.fillMask('a[MASK:1]'), /MaskedLanguageModel was used after dispose\(\)/],
    ['fillRanges after dispose()', () => model.fillRanges('abc', [[0, 1]]), /MaskedLanguageModel was used after dispose\(\)/],
    ['logits after dispose()', () => model.logits(new Int32Array(4), new Int32Array(4), 1), /MaskedLanguageModel was used after dispose\(\)/],
  ]);
  free(weights);
});

test('fill-mask: NUL bytes and lone surrogates are text like any other; predicted bytes that are not UTF-8 keep their bytes', async () => {
  const gpu = await testGpu();
  const weights = weightsOf(gpu, languageCfg);
  const model = new MaskedLanguageModel(gpu, languageCfg, weights);
  // NUL is byte 0 (id 6): kept, not a terminator
  const withNul = await model.fillMask('a\0b[MASK:2]c');
  assert.equal(Array.from(withNul.bytes.subarray(0, 3)), [0x61, 0x00, 0x62]);
  assert.is(withNul.bytes[5], 0x63);
  assert.is(withNul.text.slice(0, 3), 'a\0b');
  // a lone surrogate is encoded as U+FFFD (EF BF BD), as TextEncoder does
  const lone = await model.fillMask('x\uD800[MASK:1]');
  assert.equal(Array.from(lone.bytes.subarray(0, 4)), [0x78, 0xef, 0xbf, 0xbd]);
  // the model's bytes are kept exactly in .bytes; .text decodes them with U+FFFD where they are not UTF-8
  const gap = lone.gaps[0];
  assert.is(gap.bytes.length, 1);
  assert.is(gap.text, new TextDecoder().decode(gap.bytes));
  // bytes in, bytes out: any byte, valid UTF-8 or not, is an id (byte + 6) and back
  const invalid = Uint8Array.of(0xff, 0xc3, 0x28, 0x00, 0x80);
  assert.equal(Array.from(bytesToIds(invalid)), [261, 201, 46, 6, 134]);
  assert.equal(idsToBytes(bytesToIds(invalid)), invalid);
  assert.is(decode(bytesToIds(invalid)), '\uFFFD\uFFFD(\0\uFFFD');
  assert.equal(utf8('\uD800'), Uint8Array.of(0xef, 0xbf, 0xbd));
  model.dispose();
  free(weights);
});

// ---------------------------------------------------------------- flow

test('flow: frame pairs of different sizes, bad frames, non-finite input, pixel indices, another task\'s weights, use after dispose', async () => {
  const gpu = await testGpu();
  const weights = weightsOf(gpu, flowCfg);
  const model = new OpticalFlow(gpu, flowCfg, weights);
  const nan = new Float32Array(2 * 24 * 32 * 3);
  nan[5] = NaN;
  async function* frames(...list: ReturnType<typeof rgba>[]) {
    yield* list;
  }
  const drain = async (g: AsyncGenerator<unknown>) => {
    for await (const _ of g);
  };
  await table([
    ['frames of different sizes', () => model.flow(rgba(32, 24), rgba(24, 32)), /frame 1 is 32x24 but frame 2 is 24x32; both frames of a pair must have the same size/],
    ['a 0x0 frame', () => model.flow(rgba(0, 0), rgba(0, 0)), /image size 0x0: width and height must be positive integers/],
    ['a frame short of bytes', () => model.flow(rgba(32, 24), rgba(32, 24, 100)), /image data has 100 bytes; 32x24 RGBA needs 3072/],
    ['null as a frame', () => model.flow(rgba(32, 24), null as never), /expected an image .* got null/],
    ['a sequence whose third frame has another size', () => drain(model.sequence(frames(rgba(32, 24), rgba(32, 24), rgba(16, 16)))), /frame 0 is 32x24 but frame 2 is 16x16/],
    ['normalised frames of the wrong length', () => model.flowNormalized(new Float32Array(10), 24, 32), /optical-flow: 10 values for a 32x24 RGB frame pair \(4608 expected: \[2, H, W, 3\]\)/],
    ['a NaN in normalised frames', () => model.flowNormalized(nan, 24, 32), /OpticalFlow.flowNormalized: frames: value 5 is NaN; inputs must be finite numbers/],
    ['an infinity', () => model.flowNormalized(new Float32Array(4608).fill(Infinity), 24, 32), /value 0 is Infinity/],
    ['a pixel index past the frame', () => model.flowNormalized(new Float32Array(4608), 24, 32, { pixels: Uint32Array.of(768) }), /pixel index 768 outside the 32x24 frame/],
    ['imagenet weights', () => new OpticalFlow(gpu, flowCfg, weightsOf(gpu, imagenetCfg)), /optical-flow weights do not match the config .*missing flow_decoder/],
    ['a language weight file', () => loadOpticalFlow(gpu, weightFile(languageCfg, { preset: 'language-mlm' })), /this weight file is for preset 'language-mlm', not optical-flow/],
  ]);
  model.dispose();
  await table([
    ['flow after dispose()', () => model.flow(rgba(32, 24), rgba(32, 24)), /OpticalFlow was used after dispose\(\)/],
    ['picture after dispose()', () => model.picture(new Float32Array(2), 1, 1), /OpticalFlow was used after dispose\(\)/],
  ]);
  free(weights);
});

test('flow: frames smaller than the model\'s tile are edge-padded to it and the flow cropped back', async () => {
  const gpu = await testGpu();
  const weights = weightsOf(gpu, flowCfg);
  const model = new OpticalFlow(gpu, flowCfg, weights);
  const r = await model.flow(rgba(5, 3), rgba(5, 3));
  assert.is(r.flow.length, 5 * 3 * 2);
  assert.ok(r.flow.every(Number.isFinite));
  model.dispose();
  free(weights);
});

// ---------------------------------------------------------------- video

test('video: empty clips, sample rates, window sizes, non-finite audio and frames, another task\'s weights, use after dispose', async () => {
  const gpu = await testGpu();
  const weights = weightsOf(gpu, videoCfg);
  const model = new VideoAutoencoder(gpu, videoCfg, weights);
  const frames = (n: number) => Array.from({ length: n }, () => rgba(12, 10));
  const audio = new Float32Array(128);
  audio[17] = NaN;
  const window = 4 * 4 * 4 * 3;
  await table([
    ['a clip without frames', () => model.autoencode({ frames: [] }), /autoencode: the clip has no frames/],
    ['44.1 kHz audio', () => model.autoencode({ frames: frames(4), audio: new Float32Array(128), sampleRate: 44100 }), /the model takes 48000 Hz audio .* resample the clip's 44100 Hz audio first/],
    ['a NaN audio sample', () => model.autoencode({ frames: frames(4), audio }), /autoencode: audio: value 17 is NaN; inputs must be finite numbers/],
    ['a 0x0 frame', () => model.autoencode({ frames: [rgba(12, 10), rgba(0, 0)] }), /image size 0x0/],
    ['preprocessed frames of the wrong size', () => model.autoencode({ frames: { data: new Float32Array(10), count: 1 } }), /preprocessed frames must be \[1, 4, 4, 3\]/],
    ['encode with the wrong number of frame values', () => model.encode(new Float32Array(10), new Float32Array(128)), /a 4x4x4 window with 128 audio samples needs 192 frame values and 128 samples, got 10 and 128/],
    ['encode with audio of the wrong length', () => model.encode(new Float32Array(window), new Float32Array(127)), /needs 192 frame values and 128 samples, got 192 and 127/],
    ['encode with an infinite frame value', () => model.encode(new Float32Array(window).fill(Infinity), new Float32Array(128)), /VideoAutoencoder.encode: frames: value 0 is Infinity/],
    ['a negative frame index', () => model.autoencode({ frames: frames(4) }, { video: { frames: [-1] } }), /frame -1 is not a clip frame index/],
    ['flow weights', () => new VideoAutoencoder(gpu, videoCfg, weightsOf(gpu, flowCfg)), /multimodal-autoencoder weights do not match the config .*missing/],
    ['an imagenet weight file', () => loadVideoAutoencoder(gpu, weightFile(imagenetCfg, { preset: 'imagenet-learned', overrides: { ...SMALL, image_size: 16 } })), /this weight file is for preset 'imagenet-learned', not multimodal-autoencoder/],
  ]);
  // audio of another length than the clip's frames x 1,920 samples (here 4 x 32): shorter is padded with silence (and says how much), longer is cut at the last frame
  const short = await model.autoencode({ frames: frames(4), audio: new Float32Array(100) }, { video: 'none' });
  assert.is(short.audioPaddedSamples, 28);
  assert.is(short.audio!.length, 128);
  const long = await model.autoencode({ frames: frames(4), audio: new Float32Array(1000) }, { video: 'none' });
  assert.is(long.audioPaddedSamples, 0);
  assert.is(long.audio!.length, 128);
  // frames of different sizes: each is centre-cropped and resized on its own
  const mixed = await model.autoencode({ frames: [rgba(12, 10), rgba(30, 20)] }, { audio: false });
  assert.is(mixed.frameCount, 2);
  model.dispose();
  await table([
    ['autoencode after dispose()', () => model.autoencode({ frames: frames(4) }), /VideoAutoencoder was used after dispose\(\)/],
    ['encode after dispose()', () => model.encode(new Float32Array(window), new Float32Array(128)), /VideoAutoencoder was used after dispose\(\)/],
  ]);
  free(weights);
});

test.run();
