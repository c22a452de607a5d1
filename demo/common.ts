// What every task panel of the demo shares: the context it is built with,
// the reference-fixture check, image inputs (drop zone / file picker),
// reading video frames, and the error formatting.

import type { Gpu } from '../engine/index.ts';
import type { PerceiverWorker } from '../worker/index.ts';
import { readNpz, type NdArray } from '../tools/npy.ts';
import type { DemoManifest, TaskName } from './build.ts';
import { h, clear, message } from './ui.ts';
import { fetchOk } from './weights.ts';
import { maxRelError } from '../engine/compare.ts';

export interface PanelContext {
  /** runs the models: every load and forward happens in this dedicated worker (perceiver-io-webgpu/worker) */
  worker: PerceiverWorker;
  /** the page's own device: only the kernel ladders (Kernels tab) run here, no model */
  gpu: Gpu;
  manifest: DemoManifest;
}

export interface Panel {
  task: TaskName;
  el: HTMLElement;
  /** the test hook's methods for this task */
  hook: Record<string, unknown>;
}

export { maxRelError };

export const TOLERANCE = 5e-4;
/** Weights stored as f16 are rounded to 11 significant bits (relative 2^-11 ≈ 4.9e-4 each): a looser bound. */
export const F16_TOLERANCE = 5e-3;

/** The check's tolerance for weights stored as `dtype`, and why. */
export function toleranceFor(dtype: string | undefined): { tolerance: number; note: string } {
  return dtype === 'f16'
    ? { tolerance: F16_TOLERANCE, note: 'weights stored as f16 (each rounded to 11 significant bits): tolerance 5e-3 instead of 5e-4' }
    : { tolerance: TOLERANCE, note: '' };
}

const fixtureCache = new Map<string, Promise<Map<string, NdArray>>>();

/** A reference fixture's arrays (STEM.npz from the demo build). */
export function fixtureArrays(manifest: DemoManifest, stem: string): Promise<Map<string, NdArray>> {
  const f = manifest.fixtures[stem];
  if (!f) return Promise.reject(new Error(`no reference fixture '${stem}' in this build`));
  let p = fixtureCache.get(stem);
  if (!p) {
    p = fetchOk(f.file).then(async (r) => readNpz(new Uint8Array(await r.arrayBuffer()), f.file));
    p.catch(() => fixtureCache.delete(stem));
    fixtureCache.set(stem, p);
  }
  return p;
}

export interface CheckResult {
  stem: string;
  maxRelError: number;
  tolerance: number;
  pass: boolean;
  /** what was compared */
  what: string;
  ms: number;
  /** our output, for the tests to compare independently */
  output: number[];
  shape: number[];
}

/** The result box of a reference check. */
export function checkMessage(r: CheckResult): HTMLElement {
  const err = Number.isNaN(r.maxRelError) ? 'NaN' : r.maxRelError.toExponential(2);
  return message(
    r.pass ? 'ok' : 'error',
    `${r.pass ? 'Matches' : 'Does not match'} DeepMind's reference: max relative error ${err} (tolerance ${r.tolerance.toExponential(0)})`,
    `${r.what}\nfixture ${r.stem}, ${r.ms.toFixed(0)} ms in this browser`,
  );
}

/** What one reference check computed: our values beside the fixture's, and what they are. */
export interface CheckRun {
  ours: Float32Array;
  ref: Float32Array;
  what: string;
  shape: number[];
  /** our output as the browser tests read it (default: all of `ours`) */
  output?: number[];
}

/**
 * A task panel's reference check against fixture `stem`: disables `button`
 * and says so in `box` while `compute` runs on the fixture's arrays, shows
 * the max relative error against the tolerance for the weights' `dtype` (or
 * the error), then enables the button again if `canCheck()` still holds.
 * Values `compute` left NaN (positions not decoded) are not compared.
 */
export async function runCheck(
  manifest: DemoManifest, stem: string, dtype: string | undefined,
  button: HTMLButtonElement, box: HTMLElement, canCheck: () => boolean,
  compute: (arrays: Map<string, NdArray>) => Promise<CheckRun>,
): Promise<CheckResult | null> {
  button.disabled = true;
  clear(box, message('info', `Running fixture ${stem}…`));
  try {
    const arrays = await fixtureArrays(manifest, stem);
    const tol = toleranceFor(dtype);
    const t = performance.now();
    const run = await compute(arrays);
    const err = maxRelError(run.ours, run.ref);
    const r: CheckResult = {
      stem,
      maxRelError: err,
      tolerance: tol.tolerance,
      pass: err < tol.tolerance,
      what: run.what + (tol.note ? `; ${tol.note}` : ''),
      ms: performance.now() - t,
      output: run.output ?? Array.from(run.ours),
      shape: run.shape,
    };
    clear(box, checkMessage(r));
    return r;
  } catch (e) {
    clear(box, errorBox('Reference check failed', e));
    return null;
  } finally {
    button.disabled = !canCheck();
  }
}

/** A drop zone with a file picker for images; calls back with the decoded image. */
export function imageInput(id: string, label: string, onImage: (img: ImageBitmap, name: string) => void, onError: (e: Error) => void): HTMLElement {
  const input = h('input', { type: 'file', accept: 'image/*', id });
  const take = async (file: File | undefined) => {
    if (!file) return;
    try {
      onImage(await decodeImage(file), file.name);
    } catch (e) {
      onError(e as Error);
    }
  };
  input.addEventListener('change', () => void take(input.files?.[0]));
  const zone = h('label.drop', { for: id }, h('span.drop-title', {}, label), h('span.drop-hint', {}, 'drop an image here or click to choose a file'), input);
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    void take(e.dataTransfer?.files?.[0]);
  });
  return zone;
}

export async function decodeImage(blob: Blob): Promise<ImageBitmap> {
  try {
    return await createImageBitmap(blob);
  } catch {
    throw new Error(`${(blob as File).name ?? 'the file'} is not an image this browser can decode`);
  }
}

/** The sample photograph of the build. */
export async function sampleImage(manifest: DemoManifest): Promise<ImageBitmap> {
  return decodeImage(await (await fetchOk(manifest.media[0])).blob());
}

/** `count` frames of a video file from `start` seconds, `step` seconds apart, as ImageBitmaps. */
export async function videoFrames(file: Blob, start: number, count: number, step: number): Promise<ImageBitmap[]> {
  const url = URL.createObjectURL(file);
  const video = h('video', { muted: true, playsinline: true, preload: 'auto' });
  try {
    await new Promise<void>((ok, fail) => {
      video.onloadeddata = () => ok();
      video.onerror = () => fail(new Error(`${(file as File).name ?? 'the file'} is not a video this browser can play`));
      video.src = url;
    });
    const frames: ImageBitmap[] = [];
    for (let i = 0; i < count; i++) {
      const t = Math.min(start + i * step, Math.max(0, video.duration - 1e-3));
      await new Promise<void>((ok) => {
        video.onseeked = () => ok();
        video.currentTime = t;
      });
      frames.push(await createImageBitmap(video));
    }
    return frames;
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** An error as a message box with its name. */
export function errorBox(title: string, e: unknown): HTMLElement {
  const err = e as Error;
  return message('error', title, err?.message ?? String(e));
}
