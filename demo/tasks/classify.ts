// Image classification: an image (drop zone, file picker or the sample
// photo) -> the colab's preprocessing -> the ImageNet model -> a top-5 bar
// chart, with the time of each stage. The forward (and the attention maps)
// runs in the model worker.

import { imagenetClasses, preprocessImageNet, type AttentionMap } from '../../perceiver/imagenet/index.ts';
import type { RemoteImageClassifier } from '../../worker/index.ts';
import { centerCropBox } from '../../perceiver/imagenet/preprocess.ts';
import { mapsControls, mapsView, cropPicture } from '../maps.ts';
import { toRgba } from '../../perceiver/image.ts';
import { softmax, topK, type TopKEntry } from '../../perceiver/topk.ts';
import { WeightsCard, type LoadedInfo } from '../weights.ts';
import { h, clear, barChart, canvasOf, figure, message, Stages } from '../ui.ts';
import { type PanelContext, type Panel, type CheckResult, imageInput, sampleImage, errorBox, runCheck } from '../common.ts';

export function classifyPanel(ctx: PanelContext): Panel {
  const { worker, manifest } = ctx;
  let model: RemoteImageClassifier | null = null;
  let info: LoadedInfo | null = null;
  let image: { bitmap: ImageBitmap; name: string; decodeMs?: number } | null = null;
  let last: { top5: TopKEntry[]; stages: Record<string, number>; maps: AttentionMap[] | null } | null = null;
  const mapsCtl = mapsControls('classify');

  const result = h('div.result#classify-result');
  const checkResult = h('div#classify-check-result');
  const runButton = h('button.primary#classify-run', { type: 'button', disabled: true, onclick: () => void classify() }, 'Classify');
  const checkButton = h('button#classify-check', { type: 'button', disabled: true, onclick: () => void check() }, 'Check against the reference fixture');
  const note = h('p.note#classify-note', { hidden: true });
  const preview = h('div.preview#classify-preview', {}, h('span.placeholder', {}, 'no image yet'));

  const weights = new WeightsCard(
    'classify',
    manifest,
    (src, opts) => worker.loadImageClassifier(src, opts),
    (m, i) => {
      model = m;
      info = i;
      checkButton.disabled = !i.fixture;
      note.hidden = !/golden/.test(i.name);
      note.textContent =
        'These are the small random-weight test models DeepMind\'s code was run with: their labels mean nothing, but their numbers must match the reference (use "Check against the reference fixture"). Load released weights for real predictions.';
      update();
    },
    () => {
      clear(checkResult);
      clear(result);
      model?.dispose().catch(() => {}); // (a worker that failed has nothing left to free)
      model = null;
      info = null;
      checkButton.disabled = true;
      update();
    },
  );

  function update() {
    runButton.disabled = !(model && image);
  }

  function setImage(bitmap: ImageBitmap, name: string, decodeMs?: number) {
    image = { bitmap, name, decodeMs };
    clear(preview, figure(canvasOf(bitmap, bitmap.width, bitmap.height, 224), `${name} · ${bitmap.width}×${bitmap.height}`));
    update();
    if (model) void classify();
  }

  async function classify(): Promise<TopKEntry[] | null> {
    if (!model || !image) return null;
    const m = model;
    runButton.disabled = true;
    clear(result, message('info', 'Classifying…'));
    const s = new Stages();
    try {
      if (image.decodeMs !== undefined) s.add('decode image', image.decodeMs);
      const rgba = await s.run('read pixels', () => toRgba(image!.bitmap));
      const size = m.inputSize;
      const input = await s.run(`preprocess (centre crop, bicubic ${size}×${size}, normalise)`, () => preprocessImageNet(rgba, size));
      const latents = mapsCtl.read(m.config.encoder.numLatents);
      // in the worker: upload, forward (and the maps, whose code the worker loads on first use), read back
      const { logits, attention } = await s.run(`forward (GPU)${latents ? ' + attention maps' : ''}`, () => m.forward(input, [1, size, size, 3], latents ? { latents } : undefined));
      const maps: AttentionMap[] | null = attention?.[0] ?? null;
      const labels = await s.run('class names (first use: lazy chunk)', () => imagenetClasses());
      const top5 = await s.run('softmax + top-5', () => topK(softmax(logits), 5, labels));
      let mapsEl: HTMLElement | null = null;
      if (maps) {
        const crop = centerCropBox(rgba.width, rgba.height, size);
        const picture = cropPicture(image.bitmap, { x: crop.x, y: crop.y, width: crop.size, height: crop.size }, size, size);
        mapsEl = await s.run('draw the heat maps', () =>
          mapsView('classify', maps!.map((g) => ({ latent: g.latent, picture, grid: g, caption: `latent ${g.latent}: where it looks in the ${size}×${size} input (${g.width}×${g.height} grid)` })), 'Attention maps (the encoder cross-attention)'),
        );
      }
      last = { top5, stages: s.toJSON(), maps };
      clear(
        result,
        h('h4', {}, `Top 5 · ${info?.preset ?? ''}`),
        barChart(top5.map((t) => ({ label: `${t.label}`, value: t.probability }))),
        mapsEl,
        h('h4', {}, 'Timings'),
        s.table(),
      );
      return top5;
    } catch (e) {
      clear(result, errorBox('Classification failed', e));
      return null;
    } finally {
      update();
    }
  }

  async function check(): Promise<CheckResult | null> {
    if (!model || !info?.fixture) return null;
    const m = model;
    return runCheck(manifest, info.fixture, info.dtype, checkButton, checkResult, () => !!info?.fixture, async (arrays) => {
      const images = arrays.get('images')!;
      const ref = arrays.get('logits')!.data as Float32Array;
      const [b, hh, w, c] = images.shape;
      const logits = await m.logits(images.data as Float32Array, [b, hh, w, c]);
      return { ours: logits, ref, shape: [b, ref.length / b], what: `logits [${b}, ${ref.length / b}] for ${b} images of ${hh}×${w} (the fixture's normalised inputs)` };
    });
  }

  const sampleButton = h('button#classify-sample', {
    type: 'button',
    onclick: async () => {
      const t = performance.now();
      try {
        const bmp = await sampleImage(manifest);
        setImage(bmp, 'sample photo (chelsea, CC0)', performance.now() - t);
      } catch (e) {
        clear(result, errorBox('Could not load the sample photo', e));
      }
    },
  }, 'Use the sample photo');

  const el = h(
    'div.panel',
    {},
    weights.el,
    h(
      'section.card',
      {},
      h('h3', {}, 'Image'),
      h(
        'div.io',
        {},
        h(
          'div.inputs',
          {},
          imageInput('classify-image', 'Image to classify', (bmp, name) => setImage(bmp, name), (e) => clear(result, errorBox('Could not read the image', e))),
          h('div.row', {}, sampleButton, runButton),
          mapsCtl.el,
          preview,
        ),
        h('div.outputs', {}, result),
      ),
      note,
    ),
    h('section.card', {}, h('h3', {}, 'Reference check'), h('p.small', {}, "Runs the fixture's inputs through the loaded weights and compares the logits with those DeepMind's JAX code gave."), checkButton, checkResult),
  );

  return {
    task: 'classify',
    el,
    hook: {
      weights,
      check,
      classify,
      last: () => last,
      loaded: () => info,
    },
  };
}
