// Video autoencoding: a short clip (a video file's first 16 frames at 25 fps
// with its audio, a synthetic pan over the sample photo, or the reference
// fixture's clip) -> the Kinetics multimodal autoencoder -> reconstructed
// frames next to the inputs, and the top-5 Kinetics-700 labels. On the
// fixture's clip the label logits and the reconstructed pixels are also
// compared with DeepMind's. The model runs in the model worker.

import { SAMPLE_RATE, type ClipResult, type VideoClip, type FrameSelection } from '../../perceiver/video/index.ts';
import type { RemoteVideoAutoencoder } from '../../worker/index.ts';
import { toRgba, type RgbaImage } from '../../perceiver/image.ts';
import { WeightsCard, type LoadedInfo } from '../weights.ts';
import { mapsControls, mapsView, type MapItem } from '../maps.ts';
import { h, clear, barChart, canvasOf, figure, message, Stages } from '../ui.ts';
import { type PanelContext, type Panel, type CheckResult, fixtureArrays, maxRelError, toleranceFor, checkMessage, sampleImage, videoFrames, errorBox, runCheck } from '../common.ts';

const FRAMES = 16;
const FPS = 25;

/** A square window of the first frame, side PATCH at the centre: the fast option (each pixel is a decoder query). */
const PATCH = 32;

/** The values of a frame (or its crop) in order. */
function values(data: Float32Array, offset: number, size: number, crop = { x: 0, y: 0, side: size }): Float32Array {
  const out = new Float32Array(crop.side * crop.side * 3);
  for (let y = 0; y < crop.side; y++) out.set(data.subarray(offset + ((crop.y + y) * size + crop.x) * 3, offset + ((crop.y + y) * size + crop.x + crop.side) * 3), y * crop.side * 3);
  return out;
}

/** float32 RGB [side, side, 3] -> RGBA bytes: [lo, hi] to 0..255, clipped (default [0, 1], as the colab shows frames). */
function toPixels(v: Float32Array, side: number, lo = 0, hi = 1): RgbaImage {
  const out = new Uint8ClampedArray(side * side * 4);
  for (let i = 0; i < side * side; i++) {
    for (let c = 0; c < 3; c++) out[i * 4 + c] = Math.round(((v[i * 3 + c] - lo) / (hi - lo)) * 255);
    out[i * 4 + 3] = 255;
  }
  return { width: side, height: side, data: out };
}

/**
 * A reconstructed frame (or crop) as a figure. Values mostly outside [0, 1]
 * (random-weight test models) would show as a flat colour, so they are shown
 * stretched from their own range instead, and the caption says so.
 */
function reconstruction(v: Float32Array, side: number): HTMLElement {
  let lo = Infinity;
  let hi = -Infinity;
  let outside = 0;
  for (const x of v) {
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
    if (x < 0 || x > 1) outside++;
  }
  const stretch = outside > v.length / 2 && hi > lo;
  const caption = `reconstruction · values ${lo.toFixed(2)} to ${hi.toFixed(2)}${stretch ? ', shown stretched to that range' : ''}`;
  return figure(canvasOf(stretch ? toPixels(v, side, lo, hi) : toPixels(v, side), side, side, 160), caption);
}

/** 16 frames panning across the sample photo (a clip with known motion and no audio). */
function panClip(img: RgbaImage): RgbaImage[] {
  const side = Math.floor(Math.min(img.width, img.height) * 0.8);
  const out: RgbaImage[] = [];
  for (let f = 0; f < FRAMES; f++) {
    const x0 = Math.round(((img.width - side) * f) / (FRAMES - 1));
    const y0 = Math.round(((img.height - side) * (FRAMES - 1 - f)) / (FRAMES - 1));
    const data = new Uint8ClampedArray(side * side * 4);
    for (let y = 0; y < side; y++) data.set(img.data.subarray(((y0 + y) * img.width + x0) * 4, ((y0 + y) * img.width + x0 + side) * 4), y * side * 4);
    out.push({ width: side, height: side, data });
  }
  return out;
}

/** A media file's audio, mono at 48 kHz, or null when it has none. */
async function audioOf(file: Blob, seconds: number): Promise<Float32Array | null> {
  try {
    const ctx = new OfflineAudioContext(1, Math.ceil(seconds * SAMPLE_RATE), SAMPLE_RATE);
    const buf = await ctx.decodeAudioData(await file.arrayBuffer());
    const src = ctx.createBufferSource();
    src.buffer = buf;
    src.connect(ctx.destination);
    src.start();
    return (await ctx.startRendering()).getChannelData(0).slice();
  } catch {
    return null;
  }
}

export function videoPanel(ctx: PanelContext): Panel {
  const { manifest } = ctx;
  let model: RemoteVideoAutoencoder | null = null;
  let info: LoadedInfo | null = null;
  /** the clip; `exact`: the fixture's frames as they are (float32 [16, 224, 224, 3] in [0, 1]) and its stem */
  let clip: { frames: RgbaImage[]; audio: Float32Array | null; name: string; exact?: { data: Float32Array; count: number; stem: string } } | null = null;
  let last: { labels: { label: string; probability: number }[]; psnr: number; check: CheckResult | null; stages: Record<string, number> } | null = null;

  const result = h('div.result#video-result');
  const checkResult = h('div#video-check-result');
  const clipView = h('div.strip#video-clip', {}, h('span.placeholder', {}, 'no clip yet'));
  const which = h('select#video-frames', {}, h('option', { value: 'ends' }, 'first and last frame'), h('option', { value: 'all' }, 'all 16 frames'), h('option', { value: 'patch' }, `a ${PATCH}×${PATCH} patch of the first frame (fast on software adapters)`), h('option', { value: 'none' }, 'none (labels only)'));
  const runButton = h('button.primary#video-run', { type: 'button', disabled: true, onclick: () => void run() }, 'Autoencode');
  const checkButton = h('button#video-check', { type: 'button', disabled: true, onclick: () => void check() }, 'Check against the reference fixture');
  const fileInput = h('input#video-file', { type: 'file', accept: 'video/*' });

  const weights = new WeightsCard(
    'video',
    manifest,
    (src, opts) => ctx.worker.loadVideoAutoencoder(src, opts),
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
    runButton.disabled = !(model && clip);
  }

  function setClip(frames: RgbaImage[], audio: Float32Array | null, name: string, exact?: NonNullable<typeof clip>['exact']) {
    clip = { frames, audio, name, exact };
    const shown = frames.filter((_, i) => i % 3 === 0 || i === frames.length - 1);
    clear(clipView, ...shown.map((f) => canvasOf(f, f.width, f.height, 96)), h('p.small.strip-caption', {}, `${name}: ${frames.length} frames at ${FPS} fps${audio ? ' with audio' : ', no audio'} (every third shown)`));
    update();
  }

  const mapsCtl = mapsControls('video');

  /** Heat maps of the first window: per latent, over a few of its frames, with the attention shares of the frame, the audio and the label. */
  function mapsOf(r: ClipResult): HTMLElement | null {
    const w = r.windows[0];
    if (!w?.attention) return null;
    const size = r.size;
    const per = size * size * 3;
    const lastFrame = w.plan.frames - 1; // the window's last real frame
    const frames = [...new Set([0, Math.floor(lastFrame / 2), lastFrame])];
    const sum = (a: ArrayLike<number>, from = 0, to = a.length) => {
      let t = 0;
      for (let i = from; i < to; i++) t += a[i];
      return t;
    };
    const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
    const items: MapItem[] = w.attention.flatMap((m) => {
      const { height: gh, width: gw, data } = m.image;
      return frames.map((f) => {
        const cells = data.subarray(f * gh * gw, (f + 1) * gh * gw);
        return {
          latent: m.latent,
          picture: toPixels(values(r.inputFrames, (w.plan.firstFrame + f) * per, size), size),
          grid: { width: gw, height: gh, data: cells },
          label: `${m.latent} · frame ${w.plan.firstFrame + f}`,
          caption: `latent ${m.latent}, frame ${w.plan.firstFrame + f}: ${pct(sum(cells))} of its attention here, ${pct(sum(data))} on all frames, ${pct(sum(m.audio))} on the audio, ${pct(m.label)} on the label`,
        };
      });
    });
    return mapsView('video', items, 'Attention maps (the encoder cross-attention, first window)');
  }

  async function run(): Promise<typeof last> {
    if (!model || !clip) return null;
    const m = model;
    const c = clip;
    runButton.disabled = true;
    clear(result, message('info', 'Autoencoding…'));
    const s = new Stages();
    try {
      const pick = which.value;
      const n = c.frames.length;
      const m0 = Math.floor((m.size - PATCH) / 2);
      const video: FrameSelection =
        pick === 'all' ? 'all' : pick === 'none' ? 'none' : pick === 'patch' ? { rect: { frameStart: 0, frameEnd: 1, x: m0, y: m0, width: PATCH, height: PATCH } } : { frames: [0, n - 1] };
      const input: VideoClip = { frames: c.exact ?? c.frames, audio: c.audio, sampleRate: SAMPLE_RATE };
      const t = performance.now();
      const latents = mapsCtl.read(m.config.encoder.numLatents);
      const r: ClipResult = await m.autoencode(input, { video, audio: false, topK: 5, attention: latents ? { latents } : undefined });
      const total = performance.now() - t;
      const enc = r.windows.reduce((x, w) => x + w.seconds.encode * 1000, 0);
      const dec = r.windows.reduce((x, w) => x + w.seconds.decode * 1000, 0);
      // The pipeline records each window's encode and runs it with the decode's first read back, so the two are one stage here.
      s.add('preprocess (centre square, bilinear 224, /255)', Math.max(0, total - enc - dec));
      s.add(`encode + decode label and pixels (GPU, ${r.windows.length} window${r.windows.length > 1 ? 's' : ''} of 16 frames), read back`, enc + dec);
      const size = r.size;
      const per = size * size * 3;
      const crop = pick === 'patch' ? { x: m0, y: m0, side: PATCH } : undefined;
      const shown = video === 'all' ? [...Array(n).keys()].filter((i) => i % 5 === 0 || i === n - 1) : video === 'none' ? [] : pick === 'patch' ? [0] : [0, n - 1];
      const what = crop ? `${PATCH}×${PATCH} patch of frame` : 'frame';
      const psnr = r.windows[0]?.psnr.video ?? NaN;
      const checked = c.exact ? await compare(c.exact.stem, r, shown, crop, enc + dec) : null;
      last = { labels: r.labels.map((l) => ({ label: l.label, probability: l.probability })), psnr, check: checked, stages: s.toJSON() };
      clear(
        result,
        shown.length
          ? h(
              'div.recon',
              {},
              ...shown.map((f) =>
                h(
                  'div.pair',
                  {},
                  figure(canvasOf(toPixels(values(r.inputFrames, f * per, size, crop), crop?.side ?? size), crop?.side, crop?.side, 160), `input ${what} ${f}`),
                  reconstruction(values(r.frames, f * per, size, crop), crop?.side ?? size),
                ),
              ),
            )
          : null,
        h('p.small', {}, `video PSNR ${Number.isFinite(psnr) ? psnr.toFixed(2) : '–'} dB over the reconstructed frames · ${r.audioSource === 'input' ? 'audio from the clip' : 'no audio: silence encoded'}`),
        checked ? checkMessage(checked) : null,
        h('h4', {}, 'Top 5 Kinetics-700 labels'),
        barChart(r.labels.map((l) => ({ label: l.label, value: l.probability }))),
        mapsOf(r),
        h('h4', {}, 'Timings'),
        s.table(),
      );
      return last;
    } catch (e) {
      clear(result, errorBox('Autoencoding failed', e));
      return null;
    } finally {
      update();
    }
  }

  /** The run on the fixture's clip against DeepMind's: the label logits and every reconstructed pixel. */
  async function compare(stem: string, r: ClipResult, frames: number[], crop: { x: number; y: number; side: number } | undefined, ms: number): Promise<CheckResult> {
    const a = await fixtureArrays(manifest, stem);
    const refImage = a.get('rec_image')!.data as Float32Array;
    const size = r.size;
    // the compared frames (or their crops), ours and DeepMind's, in the same order
    const per = size * size * 3;
    const pick = (data: Float32Array) => frames.flatMap((f) => Array.from(values(data, f * per, size, crop)));
    const ours = pick(r.frames);
    const want = pick(refImage);
    const label = maxRelError(r.windows[0].logits, a.get('rec_label')!.data as Float32Array, false);
    const image = ours.length ? maxRelError(Float32Array.from(ours), Float32Array.from(want), false) : 0; // every requested pixel decoded
    const tol = toleranceFor(info?.dtype);
    const pixels = ours.length / 3;
    const err = Math.max(label, image);
    return {
      stem,
      maxRelError: err,
      tolerance: tol.tolerance,
      pass: err < tol.tolerance,
      what:
        `label logits [700]: ${label.toExponential(2)}` +
        (pixels ? `; reconstructed colours at ${pixels} pixels (${crop ? `the ${crop.side}×${crop.side} patch of frame 0` : `frame${frames.length > 1 ? 's' : ''} ${frames.join(', ')}`}): ${image.toExponential(2)}` : '') +
        ` (the fixture's clip, encoder on the whole window)` +
        (tol.note ? `; ${tol.note}` : ''),
      ms,
      output: Array.from(r.windows[0].logits),
      shape: [1, 700],
    };
  }

  /** The fixture's clip as the input (its frames go to the model as they are). */
  async function useReference(): Promise<void> {
    if (!info?.fixture) return;
    try {
      const stem = info.fixture;
      const a = await fixtureArrays(manifest, stem);
      const images = a.get('images')!;
      const [, count, size] = images.shape;
      const data = images.data as Float32Array;
      const per = size * size * 3;
      const frames = Array.from({ length: count }, (_, f) => toPixels(values(data, f * per, size), size));
      setClip(frames, a.get('audio')!.data as Float32Array, `${stem} (the reference fixture's clip)`, { data, count, stem });
    } catch (e) {
      clear(result, errorBox('Could not load the reference clip', e));
    }
  }

  async function check(): Promise<CheckResult | null> {
    if (!model || !info?.fixture) return null;
    const m = model;
    return runCheck(manifest, info.fixture, info.dtype, checkButton, checkResult, () => !!info?.fixture, async (a) => {
      const images = a.get('images')!;
      const audio = a.get('audio')!.data as Float32Array;
      const r = await m.autoencode({ frames: { data: images.data as Float32Array, count: images.shape[1] }, audio, sampleRate: SAMPLE_RATE }, { video: 'none', audio: false });
      const logits = r.windows[0].logits;
      return { ours: logits, ref: a.get('rec_label')!.data as Float32Array, shape: [1, logits.length], what: `label logits [700] for the fixture's 16 frames and audio (encoder on the whole window)` };
    });
  }

  const sampleButton = h('button#video-sample', {
    type: 'button',
    onclick: async () => {
      try {
        setClip(panClip(toRgba(await sampleImage(manifest))), null, 'pan over the sample photo');
      } catch (e) {
        clear(result, errorBox('Could not make the sample clip', e));
      }
    },
  }, 'Use a synthetic clip (a pan over the sample photo)');
  const referenceButton = h('button#video-reference', { type: 'button', disabled: true, onclick: () => void useReference() }, "Use the reference clip (the fixture's: the result is checked against DeepMind's)");

  fileInput.addEventListener('change', async () => {
    const file = fileInput.files?.[0];
    if (!file) return;
    try {
      const bitmaps = await videoFrames(file, 0, FRAMES, 1 / FPS);
      setClip(bitmaps.map((b) => toRgba(b)), await audioOf(file, FRAMES / FPS), file.name);
    } catch (e) {
      clear(result, errorBox('Could not read the video', e));
    }
  });

  const el = h(
    'div.panel',
    {},
    weights.el,
    h(
      'section.card',
      {},
      h('h3', {}, 'Clip'),
      h('div.row.small', {}, h('label', {}, 'A short video file (its first 16 frames at 25 fps, and its audio) ', fileInput)),
      h('div.row', {}, sampleButton, referenceButton),
      clipView,
      h('div.row', {}, h('label', {}, 'Reconstruct ', which), runButton),
      mapsCtl.el,
      result,
    ),
    h('section.card', {}, h('h3', {}, 'Reference check'), h('p.small', {}, "Runs the fixture's frames and audio through the loaded weights and compares the label logits with DeepMind's."), checkButton, checkResult),
  );
  return { task: 'video', el, hook: { weights, run, check, last: () => last, loaded: () => info, sample: () => sampleButton.click(), reference: useReference } };
}
