// The multimodal autoencoder against DeepMind's own outputs (the golden
// fixture: random weights at 32 latents x 64, the colab's 128-chunk
// reconstruction of a 16 x 224 x 224 window with 30,720 audio samples).
// The encoder runs once on the whole window; the decoder decodes, with two
// different slice sizes, a documented subset: the label, all the audio
// (1,920 patches) and 2 x 224 pixels (row 112 of the first and last frames)
// with slices of 4096; the label, the pixels and the first 700 audio patches
// with slices of 333.
// `npm run bench:reference -- --fixtures ../shared/golden multimodal_autoencoder`
// compares whole frames (or, on a GPU, everything).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { testGpu } from '../gpu.ts';
import { loadFixture, disposeFixture, maxRelError } from '../../bench/fixture.ts';
import type { MultimodalConfig } from '../../perceiver/config.ts';
import { MultimodalAutoencoderModel, releasedGeometry, rectIndices, allIndices } from '../../perceiver/video/model.ts';
import { GOLDEN_DIR } from '../tools/helpers.ts';
import { skip } from '../skip.ts';

const TOLERANCE = 5e-4;
const STEM = 'multimodal_autoencoder';

test("golden fixture: label, all audio and two pixel rows within 5e-4 of DeepMind's, for two slice sizes", async () => {
  if (!GOLDEN_DIR || !existsSync(join(GOLDEN_DIR, `${STEM}.pystate`))) {
    skip('the golden fixtures are absent (set PERCEIVER_GOLDEN_DIR)');
    return;
  }
  const gpu = await testGpu();
  const f = await loadFixture(gpu, GOLDEN_DIR, STEM);
  const cfg = f.config as MultimodalConfig;
  const model = new MultimodalAutoencoderModel(gpu, cfg, f.weights);
  const images = f.arrays.get('images')!, audio = f.arrays.get('audio')!;
  const g = releasedGeometry(cfg);
  assert.equal(images.shape, [1, g.frames, g.height, g.width, 3]);
  const z = model.encode(images.data as Float32Array, audio.data as Float32Array, g);

  const rows = [0, g.frames - 1].map((t) => rectIndices(g, { frameStart: t, frameEnd: t + 1, x: 0, y: 112, width: g.width, height: 1 }));
  const pixels = new Uint32Array(rows[0].length + rows[1].length);
  pixels.set(rows[0]);
  pixels.set(rows[1], rows[0].length);
  const sel = { label: true, audio: allIndices(g.audioSamples / cfg.samplesPerPatch), image: pixels };
  const refImage = f.arrays.get('rec_image')!.data as Float32Array;
  const refPixels = new Float32Array(pixels.length * 3);
  pixels.forEach((p, i) => refPixels.set(refImage.subarray(p * 3, p * 3 + 3), i * 3));
  // Slices of 4096: everything above in one slice per modality.
  const whole = await model.decode(z, g, sel, { chunkSize: 4096 });
  const err = (o: typeof whole, patches = sel.audio) => {
    const refAudio = f.arrays.get('rec_audio')!.data as Float32Array;
    return {
      label: maxRelError(o.label!, f.arrays.get('rec_label')!.data),
      audio: maxRelError(o.audio!, refAudio.subarray(patches[0] * 16, (patches[patches.length - 1] + 1) * 16)),
      image: maxRelError(o.image!, refPixels),
    };
  };
  const e1 = err(whole);
  // Slices of 333 (odd, several per modality), on the label, the pixels and the first 700 audio patches.
  const sel2 = { ...sel, audio: sel.audio.subarray(0, 700) };
  const sliced = await model.decode(z, g, sel2, { chunkSize: 333 });
  const e2 = err(sliced, sel2.audio);
  console.log(`  max relative errors: slices of 4096 ${JSON.stringify(e1)}; slices of 333 ${JSON.stringify(e2)}`);
  for (const [n, e] of [[4096, e1], [333, e2]] as const) {
    for (const k of ['label', 'audio', 'image'] as const) assert.ok(e[k] < TOLERANCE, `${k} with slices of ${n}: max relative error ${e[k]}`);
  }
  // The two slice sizes agree exactly.
  assert.equal(sliced.label, whole.label, 'label');
  assert.equal(sliced.image, whole.image, 'image');
  assert.equal(sliced.audio, whole.audio!.subarray(0, 700 * 16), 'audio');
  z.dispose();
  model.dispose();
  disposeFixture(f);
});

test.run();
