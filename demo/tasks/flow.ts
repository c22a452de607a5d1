// Optical flow: two images (or two consecutive frames of a video file) ->
// the flow model -> the Middlebury colour wheel next to the frames.

import { loadOpticalFlow, toImageData, type OpticalFlow } from '../../perceiver/flow/index.ts';
import { toRgba, type RgbaImage } from '../../perceiver/image.ts';
import { WeightsCard, type LoadedInfo } from '../weights.ts';
import { h, clear, canvasOf, figure, message, Stages } from '../ui.ts';
import { type PanelContext, type Panel, type CheckResult, fixtureArrays, maxRelError, toleranceFor, checkMessage, imageInput, sampleImage, videoFrames, errorBox } from '../common.ts';

/** `count` pixel indices spread evenly over `total` (the reference check decodes only these). */
function evenPixels(total: number, count: number): Uint32Array {
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.floor(((i + 0.5) * total) / count);
  return out;
}

/** The image shifted by (dx, dy) pixels, edges repeated: a pair with a known motion. */
function shifted(img: RgbaImage, dx: number, dy: number): RgbaImage {
  const { width: w, height: hh, data } = img;
  const out = new Uint8ClampedArray(w * hh * 4);
  for (let y = 0; y < hh; y++) {
    const sy = Math.min(hh - 1, Math.max(0, y - dy));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(w - 1, Math.max(0, x - dx));
      out.set(data.subarray((sy * w + sx) * 4, (sy * w + sx) * 4 + 4), (y * w + x) * 4);
    }
  }
  return { width: w, height: hh, data: out };
}

export function flowPanel(ctx: PanelContext): Panel {
  const { manifest } = ctx;
  let model: OpticalFlow | null = null;
  let info: LoadedInfo | null = null;
  const frames: [RgbaImage | null, RgbaImage | null] = [null, null];
  let last: { width: number; height: number; scale: number; maxMagnitude: number; stages: Record<string, number> } | null = null;

  const result = h('div.result#flow-result');
  const checkResult = h('div#flow-check-result');
  const framesView = h('div.frames#flow-frames');
  /** the flow picture of the current pair, shown next to its frames */
  let flowFigure: HTMLElement | null = null;
  const runButton = h('button.primary#flow-run', { type: 'button', disabled: true, onclick: () => void run() }, 'Estimate flow');
  const checkButton = h('button#flow-check', { type: 'button', disabled: true, onclick: () => void check() }, 'Check against the reference fixture');
  const videoInput = h('input#flow-video', { type: 'file', accept: 'video/*' });
  const videoTime = h('input#flow-video-time', { type: 'number', min: 0, step: 0.04, value: 0 });

  const weights = new WeightsCard(
    'flow',
    manifest,
    (src, opts) => loadOpticalFlow(ctx.gpu, src, opts),
    (m, i) => {
      model = m;
      info = i;
      checkButton.disabled = !i.fixture;
      update();
    },
    () => {
      clear(checkResult);
      clear(result);
      if (model) for (const t of model.params.tensors.values()) t.dispose();
      model = null;
      info = null;
      checkButton.disabled = true;
      update();
    },
  );

  function update() {
    runButton.disabled = !(model && frames[0] && frames[1]);
    const views = frames.map((f, i) => (f ? figure(canvasOf(f, f.width, f.height, 240), `frame ${i + 1} · ${f.width}×${f.height}`) : h('figure.empty', {}, h('span.placeholder', {}, `frame ${i + 1}`))));
    clear(framesView, ...views, flowFigure);
  }

  function setFrame(i: 0 | 1, img: ImageBitmap | RgbaImage) {
    frames[i] = toRgba(img);
    flowFigure = null;
    clear(result);
    update();
  }

  async function run(): Promise<typeof last> {
    if (!model || !frames[0] || !frames[1]) return null;
    const [a, b] = frames;
    if (a.width !== b.width || a.height !== b.height) {
      clear(result, message('error', 'The two frames differ in size', `frame 1 is ${a.width}×${a.height}, frame 2 is ${b.width}×${b.height}`));
      return null;
    }
    runButton.disabled = true;
    clear(result, message('info', 'Estimating flow…'));
    const s = new Stages();
    try {
      const m = model;
      const tiles = { n: 0 };
      const r = await s.run(`flow (normalise, encode + decode on the GPU)`, () => m.flow(a, b, { onTile: () => tiles.n++ }));
      const { picture, scale } = await s.run('colour wheel (GPU)', () => m.picture(r.flow, r.width, r.height, { legend: true }));
      let maxMag = 0;
      for (let i = 0; i < r.flow.length; i += 2) maxMag = Math.max(maxMag, Math.hypot(r.flow[i], r.flow[i + 1]));
      const c = h('canvas#flow-picture');
      c.width = picture.width;
      c.height = picture.height;
      c.getContext('2d')!.putImageData(toImageData(picture), 0, 0);
      const side = Math.min(1, 240 / Math.max(picture.width, picture.height));
      c.style.width = `${Math.round(picture.width * side)}px`;
      c.style.height = `${Math.round(picture.height * side)}px`;
      last = { width: r.width, height: r.height, scale, maxMagnitude: maxMag, stages: s.toJSON() };
      flowFigure = figure(c, `flow · colour = direction, saturation = speed (full at ${scale.toFixed(2)} px)`);
      clear(
        result,
        h('p.small', {}, `${r.width}×${r.height}, ${tiles.n} tile${tiles.n === 1 ? '' : 's'} of 368×496 · largest motion ${maxMag.toFixed(2)} px`),
        h('h4', {}, 'Timings'),
        s.table(),
      );
      return last;
    } catch (e) {
      clear(result, errorBox('Flow failed', e));
      return null;
    } finally {
      update();
    }
  }

  async function check(): Promise<CheckResult | null> {
    if (!model || !info?.fixture) return null;
    checkButton.disabled = true;
    clear(checkResult, message('info', `Running fixture ${info.fixture}…`));
    try {
      const a = await fixtureArrays(manifest, info.fixture);
      const fr = a.get('frames')!;
      const ref = a.get('flow')!.data as Float32Array;
      const [, , H, W] = fr.shape;
      const pixels = evenPixels(H * W, 256);
      const tol = toleranceFor(info.dtype);
      const t = performance.now();
      const r = await model.flowNormalized(fr.data as Float32Array, H, W, { pixels });
      const err = maxRelError(r.flow, ref);
      const res: CheckResult = {
        stem: info.fixture,
        maxRelError: err,
        tolerance: tol.tolerance,
        pass: err < tol.tolerance,
        what: `flow at ${pixels.length} evenly spread pixels of the fixture's ${H}×${W} pair (encoder on the whole pair)` + (tol.note ? `; ${tol.note}` : ''),
        ms: performance.now() - t,
        output: Array.from(pixels, (p) => [r.flow[2 * p], r.flow[2 * p + 1]]).flat(),
        shape: [pixels.length, 2],
      };
      clear(checkResult, checkMessage(res));
      return res;
    } catch (e) {
      clear(checkResult, errorBox('Reference check failed', e));
      return null;
    } finally {
      checkButton.disabled = !info?.fixture;
    }
  }

  const sampleButton = h('button#flow-sample', {
    type: 'button',
    onclick: async () => {
      try {
        const img = toRgba(await sampleImage(manifest));
        setFrame(0, img);
        setFrame(1, shifted(img, 3, 2));
      } catch (e) {
        clear(result, errorBox('Could not load the sample photo', e));
      }
    },
  }, 'Use a sample pair (photo shifted 3 px right, 2 px down)');

  const takeVideo = async () => {
    const file = videoInput.files?.[0];
    if (!file) return;
    try {
      const [f1, f2] = await videoFrames(file, Number(videoTime.value) || 0, 2, 1 / 25);
      setFrame(0, f1);
      setFrame(1, f2);
    } catch (e) {
      clear(result, errorBox('Could not read the video', e));
    }
  };
  videoInput.addEventListener('change', () => void takeVideo());
  videoTime.addEventListener('change', () => void takeVideo());

  const onErr = (e: Error) => clear(result, errorBox('Could not read the image', e));
  const el = h(
    'div.panel',
    {},
    weights.el,
    h(
      'section.card',
      {},
      h('h3', {}, 'Frames'),
      h('div.two', {}, imageInput('flow-frame1', 'Frame 1', (b) => setFrame(0, b), onErr), imageInput('flow-frame2', 'Frame 2', (b) => setFrame(1, b), onErr)),
      h('div.row.small', {}, h('label', {}, 'or two consecutive frames (1/25 s apart) of a video file ', videoInput), h('label', {}, ' from second ', videoTime)),
      h('div.row', {}, sampleButton, runButton),
      framesView,
      result,
    ),
    h('section.card', {}, h('h3', {}, 'Reference check'), h('p.small', {}, "Runs the fixture's frame pair through the loaded weights and compares the flow with DeepMind's at 256 pixels."), checkButton, checkResult),
  );
  update();
  return { task: 'flow', el, hook: { weights, run, check, last: () => last, loaded: () => info, sample: () => sampleButton.click() } };
}
