// Optical flow: two images (or two consecutive frames of a video file, or
// the reference fixture's pair) -> the flow model -> the Middlebury colour
// wheel next to the frames. The flow of the whole frame, or of a window at
// its centre (fast on software adapters: the encoder still sees the whole
// pair, the decoder only the window's pixels). On the fixture's pair the
// result is also compared with DeepMind's flow at every decoded pixel. The
// model (and the colour wheel, a GPU kernel) runs in the model worker.

import type { RemoteOpticalFlow } from '../../worker/index.ts';
import { toRgba, type RgbaImage } from '../../perceiver/image.ts';
import { WeightsCard, type LoadedInfo } from '../weights.ts';
import { mapsControls, mapsView } from '../maps.ts';
import { h, clear, canvasOf, figure, message, Stages } from '../ui.ts';
import { type PanelContext, type Panel, type CheckResult, fixtureArrays, maxRelError, toleranceFor, checkMessage, imageInput, sampleImage, videoFrames, errorBox, runCheck } from '../common.ts';

/** Side of the centre window that the fast option decodes. */
const WINDOW = 64;

interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The WINDOW x WINDOW square at the centre of a frame (the frame, when smaller). */
function centreWindow(width: number, height: number): Rect {
  const w = Math.min(WINDOW, width), hh = Math.min(WINDOW, height);
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - hh) / 2), width: w, height: hh };
}

/** Flat pixel indices (y * width + x) of a rectangle. */
function rectPixels(width: number, r: Rect): Uint32Array {
  const out = new Uint32Array(r.width * r.height);
  for (let y = 0; y < r.height; y++) for (let x = 0; x < r.width; x++) out[y * r.width + x] = (r.y + y) * width + r.x + x;
  return out;
}

/** The flow vectors [n, 2] of a flow field [H, W, 2] at flat pixel indices. */
function flowAt(flow: Float32Array, pixels: Uint32Array): Float32Array {
  const out = new Float32Array(2 * pixels.length);
  pixels.forEach((p, i) => out.set(flow.subarray(2 * p, 2 * p + 2), 2 * i));
  return out;
}

/** A normalised frame [H, W, 3] in [-1, 1] as RGBA bytes, for display. */
function displayFrame(data: Float32Array, offset: number, width: number, height: number): RgbaImage {
  const out = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) out[i * 4 + c] = Math.round((data[offset + i * 3 + c] + 1) * 127.5);
    out[i * 4 + 3] = 255;
  }
  return { width, height, data: out };
}

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
  let model: RemoteOpticalFlow | null = null;
  let info: LoadedInfo | null = null;
  const frames: [RgbaImage | null, RgbaImage | null] = [null, null];
  /** set while the frames are the fixture's pair: its normalised frames [2, H, W, 3] and DeepMind's flow [H, W, 2] */
  let reference: { stem: string; frames: Float32Array; flow: Float32Array } | null = null;
  /** the window the last run decoded (outlined on the frames) */
  let shownWindow: Rect | null = null;
  let last: { width: number; height: number; window: Rect | null; scale: number; maxMagnitude: number; check: CheckResult | null; stages: Record<string, number> } | null = null;

  const result = h('div.result#flow-result');
  const checkResult = h('div#flow-check-result');
  const framesView = h('div.frames#flow-frames');
  /** the flow picture of the current pair, shown next to its frames */
  let flowFigure: HTMLElement | null = null;
  const runButton = h('button.primary#flow-run', { type: 'button', disabled: true, onclick: () => void run() }, 'Estimate flow');
  const checkButton = h('button#flow-check', { type: 'button', disabled: true, onclick: () => void check() }, 'Check against the reference fixture');
  const videoInput = h('input#flow-video', { type: 'file', accept: 'video/*' });
  const videoTime = h('input#flow-video-time', { type: 'number', min: 0, step: 0.04, value: 0 });
  const mapsCtl = mapsControls('flow');
  const region = h('select#flow-region', {}, h('option', { value: 'all' }, 'the whole frame'), h('option', { value: 'window' }, `a ${WINDOW}×${WINDOW} window at the centre (fast on software adapters)`));

  const weights = new WeightsCard(
    'flow',
    manifest,
    (src, opts) => ctx.worker.loadOpticalFlow(src, opts),
    (m, i) => {
      model = m;
      info = i;
      checkButton.disabled = referenceButton.disabled = !i.fixture;
      update();
    },
    () => {
      clear(checkResult);
      clear(result);
      model?.dispose().catch(() => {}); // (a worker that failed has nothing left to free)
      model = null;
      info = null;
      checkButton.disabled = referenceButton.disabled = true;
      update();
    },
  );

  function update() {
    runButton.disabled = !(model && frames[0] && frames[1]);
    const views = frames.map((f, i) => {
      if (!f) return h('figure.empty', {}, h('span.placeholder', {}, `frame ${i + 1}`));
      const c = canvasOf(f, f.width, f.height, 240);
      if (shownWindow) {
        const ctx = c.getContext('2d')!;
        ctx.strokeStyle = '#ffd400';
        ctx.lineWidth = Math.max(1, f.width / 240) * 2;
        ctx.strokeRect(shownWindow.x, shownWindow.y, shownWindow.width, shownWindow.height);
      }
      return figure(c, `frame ${i + 1} · ${f.width}×${f.height}${reference ? ` · ${reference.stem}` : ''}${shownWindow ? ' · window outlined' : ''}`);
    });
    clear(framesView, ...views, flowFigure);
  }

  function setFrame(i: 0 | 1, img: ImageBitmap | RgbaImage) {
    frames[i] = toRgba(img);
    reference = null;
    shownWindow = null;
    flowFigure = null;
    clear(result);
    update();
  }

  /** The fixture's frame pair as the input (exact: its normalised floats go to the model as they are). */
  async function useReference(): Promise<void> {
    if (!info?.fixture) return;
    try {
      const a = await fixtureArrays(manifest, info.fixture);
      const fr = a.get('frames')!;
      const [, , H, W] = fr.shape;
      const data = fr.data as Float32Array;
      setFrame(0, displayFrame(data, 0, W, H));
      setFrame(1, displayFrame(data, H * W * 3, W, H));
      reference = { stem: info.fixture, frames: data, flow: a.get('flow')!.data as Float32Array };
      update();
    } catch (e) {
      clear(result, errorBox('Could not load the reference pair', e));
    }
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
      const ref = reference;
      const { width: W, height: H } = a;
      const win = region.value === 'window' ? centreWindow(W, H) : null;
      const pixels = win ? rectPixels(W, win) : undefined;
      const tiles = { n: 0 };
      const latents = mapsCtl.read(m.config.encoder.numLatents);
      const opts = { pixels, onTile: () => tiles.n++, attention: latents ? { latents } : undefined };
      const what = win ? `${win.width}×${win.height} window` : 'whole frame';
      const r = await s.run(`flow of the ${what} (normalise, encode + decode on the GPU)`, () => (ref ? m.flowNormalized(ref.frames, H, W, opts) : m.flow(a, b, opts)));
      const shown = win ?? { width: W, height: H };
      const flow = pixels ? flowAt(r.flow, pixels) : r.flow;
      const { picture, scale } = await s.run('colour wheel (GPU)', () => m.picture(flow, shown.width, shown.height, { legend: true }));
      let maxMag = 0;
      for (let i = 0; i < flow.length; i += 2) maxMag = Math.max(maxMag, Math.hypot(flow[i], flow[i + 1]));
      let checked: CheckResult | null = null;
      if (ref) {
        // DeepMind's flow at the decoded pixels
        const at = pixels ?? Uint32Array.from({ length: W * H }, (_, i) => i);
        const err = maxRelError(flow, flowAt(ref.flow, at), false); // every decoded pixel must have a value
        const tol = toleranceFor(info?.dtype);
        checked = {
          stem: ref.stem,
          maxRelError: err,
          tolerance: tol.tolerance,
          pass: err < tol.tolerance,
          what: `flow at the ${at.length} pixels of the ${what} of the fixture's ${W}×${H} pair (encoder on the whole pair)` + (tol.note ? `; ${tol.note}` : ''),
          ms: s.list[0].ms,
          output: Array.from(flow),
          shape: [shown.height, shown.width, 2],
        };
      }
      const c = canvasOf(picture, picture.width, picture.height, 240);
      c.id = 'flow-picture';
      shownWindow = win;
      last = { width: W, height: H, window: win, scale, maxMagnitude: maxMag, check: checked, stages: s.toJSON() };
      flowFigure = figure(c, `flow${win ? ` in the ${what}` : ''} · colour = direction, saturation = speed (full at ${scale.toFixed(2)} px)`);
      // attention maps: per tile and latent, over frame 1 where the tile lies
      const mapsEl = r.attention
        ? mapsView('flow', r.attention.flatMap(({ tile, maps }, i) => maps.map((g) => ({ latent: g.latent, label: r.attention!.length > 1 ? `${g.latent} · tile ${i + 1}` : undefined, picture: a, grid: g, region: tile, caption: `latent ${g.latent}${r.attention!.length > 1 ? `, tile ${i + 1} at (${tile.x}, ${tile.y})` : ''}: where it looks in the tile (${g.width}×${g.height})` }))), 'Attention maps (the encoder cross-attention, over frame 1)')
        : null;
      clear(
        result,
        h('p.small', {}, `${W}×${H}, ${tiles.n} tile${tiles.n === 1 ? '' : 's'} of 368×496${win ? `, ${pixels!.length} pixels decoded` : ''} · largest motion ${maxMag.toFixed(2)} px`),
        checked ? checkMessage(checked) : null,
        mapsEl,
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
    const m = model;
    return runCheck(manifest, info.fixture, info.dtype, checkButton, checkResult, () => !!info?.fixture, async (a) => {
      const fr = a.get('frames')!;
      const [, , H, W] = fr.shape;
      const pixels = evenPixels(H * W, 256);
      const r = await m.flowNormalized(fr.data as Float32Array, H, W, { pixels });
      return {
        ours: r.flow,
        ref: a.get('flow')!.data as Float32Array,
        shape: [pixels.length, 2],
        what: `flow at ${pixels.length} evenly spread pixels of the fixture's ${H}×${W} pair (encoder on the whole pair)`,
        output: Array.from(pixels, (p) => [r.flow[2 * p], r.flow[2 * p + 1]]).flat(),
      };
    });
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
  const referenceButton = h('button#flow-reference', { type: 'button', disabled: true, onclick: () => void useReference() }, "Use the reference pair (the fixture's frames: the flow is checked against DeepMind's)");

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
      h('div.row', {}, sampleButton, referenceButton),
      h('div.row', {}, h('label', {}, 'Estimate ', region), runButton),
      mapsCtl.el,
      framesView,
      result,
    ),
    h('section.card', {}, h('h3', {}, 'Reference check'), h('p.small', {}, "Runs the fixture's frame pair through the loaded weights and compares the flow with DeepMind's at 256 pixels."), checkButton, checkResult),
  );
  update();
  return { task: 'flow', el, hook: { weights, run, check, last: () => last, loaded: () => info, sample: () => sampleButton.click(), reference: useReference } };
}
