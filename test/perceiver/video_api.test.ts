// perceiver/video/api.ts end to end on a tiny window geometry (4 frames of
// 4x4, 32 audio samples per frame) with random weights at the golden
// fixture's widths: RGBA frames in, windows (the last padded and trimmed),
// reconstructions, top-5 Kinetics-700 labels, PSNR, silence for a clip
// without audio, and partial decodes equal to the full one.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu } from '../gpu.ts';
import { presetConfig, type MultimodalConfig } from '../../perceiver/config.ts';
import { VideoAutoencoder } from '../../perceiver/video/index.ts';
import { preprocessFrame } from '../../perceiver/video/preprocess.ts';
import { psnr } from '../../perceiver/video/psnr.ts';
import { KINETICS700_CLASSES } from '../../perceiver/video/labels.ts';
import { randomWeights, noise } from '../../bench/random-weights.ts';

const FIXTURE = { num_latents: 32, latent_channels: 64, num_blocks: 2, num_self_attends_per_block: 2, num_self_attention_heads: 4 };
const SIZE = 4;
const SPF = 32;

/** RGBA frames 12x10 (centre crop 10x10 -> 4x4). */
function rgbaFrames(n: number) {
  return Array.from({ length: n }, (_, t) => {
    const data = new Uint8ClampedArray(12 * 10 * 4);
    for (let i = 0; i < 120; i++) data.set([(i * 7 + t * 30) & 255, (i * 3) & 255, (t * 50) & 255, 255], i * 4);
    return { width: 12, height: 10, data };
  });
}

let ae: VideoAutoencoder | null = null;
async function model(): Promise<VideoAutoencoder> {
  if (ae) return ae;
  const gpu = await testGpu();
  // The fixture's widths on a tiny window: 4 frames of 4x4, 128 samples.
  const cfg = { ...(presetConfig('multimodal-autoencoder', FIXTURE) as MultimodalConfig), numFrames: 4, imageSize: SIZE, audioSamplesPerFrame: SPF };
  ae = new VideoAutoencoder(gpu, cfg, randomWeights(gpu, cfg, { style: 'test', seed: 5 }));
  return ae;
}

test('a 6-frame clip: two windows, the last padded and trimmed back; labels, audio, PSNR', async () => {
  const m = await model();
  const frames = rgbaFrames(6);
  const audio = noise(6 * SPF - 50, 9, 0.3);
  const r = await m.autoencode({ frames, audio, sampleRate: 48000 });
  assert.is(r.frameCount, 6);
  assert.is(r.frames.length, 6 * SIZE * SIZE * 3);
  assert.ok(r.frames.every(Number.isFinite));
  assert.is(r.audio!.length, 6 * SPF);
  assert.ok(r.audio!.every(Number.isFinite));
  assert.is(r.audioSource, 'input');
  assert.is(r.audioPaddedSamples, 50);
  assert.equal(r.windows.map((w) => [w.plan.firstFrame, w.plan.frames, w.plan.paddedFrames, w.plan.samples]), [[0, 4, 0, 128], [4, 2, 2, 14]]);
  for (const w of r.windows) {
    assert.is(w.labels.length, 5);
    assert.ok(w.labels.every((l) => KINETICS700_CLASSES[l.index] === l.label));
    assert.ok(w.labels[0].probability >= w.labels[4].probability);
    assert.is(w.logits.length, 700);
    assert.ok(Number.isFinite(w.psnr.video) && Number.isFinite(w.psnr.audio));
  }
  assert.is(r.labels.length, 5);
  // The preprocessed input is the colab's crop + resize + /255, and PSNR is over the real frames.
  assert.equal(r.inputFrames.subarray(0, SIZE * SIZE * 3), preprocessFrame(frames[0], SIZE));
  const per = SIZE * SIZE * 3;
  assert.ok(Math.abs(r.windows[1].psnr.video - psnr(r.frames.subarray(4 * per), r.inputFrames.subarray(4 * per), { clip: [0, 1] }).psnr) < 1e-9);
  assert.throws(() => m.preprocess({ data: new Float32Array(5), count: 1 }), /must be/);
  try {
    await m.autoencode({ frames, audio, sampleRate: 44100 });
    assert.unreachable('44.1 kHz accepted');
  } catch (e) {
    assert.match((e as Error).message, /48000 Hz/);
  }
});

test('partial decodes equal the full one; a clip without audio uses silence and says so', async () => {
  const m = await model();
  const frames = rgbaFrames(6);
  const full = await m.autoencode({ frames, audio: null });
  assert.is(full.audioSource, 'silence');
  assert.is(full.audioPaddedSamples, 6 * SPF);
  assert.ok(full.windows.every((w) => Number.isNaN(w.psnr.audio)));
  const per = SIZE * SIZE * 3;
  const one = await m.autoencode({ frames, audio: null }, { video: { frames: [5] }, audio: false });
  assert.is(one.audio, null);
  assert.ok(one.frames.subarray(0, 5 * per).every(Number.isNaN));
  assert.equal(one.frames.subarray(5 * per), full.frames.subarray(5 * per));
  assert.equal(one.windows.map((w) => w.logits), full.windows.map((w) => w.logits));
  assert.ok(Number.isNaN(one.windows[0].psnr.video));
  const rect = await m.autoencode({ frames, audio: null }, { video: { rect: { frameStart: 3, frameEnd: 5, x: 1, y: 1, width: 3, height: 2 } }, audio: false });
  let decoded = 0;
  for (let i = 0; i < rect.frames.length; i++) {
    if (Number.isNaN(rect.frames[i])) continue;
    decoded++;
    assert.is(rect.frames[i], full.frames[i]);
  }
  assert.is(decoded, 2 * 3 * 2 * 3);
  const labelOnly = await m.autoencode({ frames: rgbaFrames(3), audio: null }, { video: 'none', audio: false, topK: 3 });
  assert.ok(labelOnly.frames.every(Number.isNaN));
  assert.is(labelOnly.labels.length, 3);
  // The low-level API: encode once, decode the label, then the audio.
  const enc = m.encode(new Float32Array(4 * per).fill(0.5), new Float32Array(4 * SPF));
  const label = await m.decode(enc, {});
  const audio = await m.decode(enc, { label: false, audio: { start: 10, end: 40 } });
  assert.is(label.label!.length, 700);
  assert.equal([...audio.audioPatches!], [0, 1, 2]);
  assert.is(audio.audio!.length, 48);
  enc.dispose();
});

test.after(() => {
  if (ae) {
    ae.dispose();
    for (const t of ae.model.params.tensors.values()) t.dispose();
    ae = null;
  }
});

test.run();
