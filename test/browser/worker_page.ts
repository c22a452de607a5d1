// The page test/browser/worker.test.ts opens (bundled by esbuild next to the
// worker script, so PerceiverWorker finds ./worker.js by default): it
// watches the main thread with a 'longtask' PerformanceObserver and runs the
// worker API, recording what the test then checks.

import { PerceiverWorker, type RemoteImageClassifier } from '../../worker/index.ts';
import { WeightFormatError } from '../../engine/weights.ts';
import { readNpz } from '../../tools/npy.ts';
import { maxRelError } from '../../engine/compare.ts';

interface LongTask {
  start: number;
  duration: number;
  /** where Chromium attributes it ('window' for this page's own frame) */
  container: string;
}

const longTasks: LongTask[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const a = (e as PerformanceEntry & { attribution?: { containerType?: string }[] }).attribution?.[0];
    longTasks.push({ start: e.startTime, duration: e.duration, container: a?.containerType ?? '' });
  }
}).observe({ type: 'longtask', buffered: true });

/** Long tasks that began in [t0, t1]. */
const during = (t0: number, t1: number) => longTasks.filter((t) => t.start >= t0 && t.start <= t1).map((t) => ({ ...t, start: Math.round(t.start - t0) }));

/**
 * Runs `fn`, and with `tick` the largest gap between timer ticks `tick` ms
 * apart meanwhile (what a user would feel as a freeze; NaN without). The
 * worker run has no ticks: on a loaded machine any task, a timer's too, can
 * be stretched past 100 ms by the OS, and then only the library's own tasks
 * are on the main thread to be measured.
 */
async function heartbeat<T>(fn: () => Promise<T>, tick: number | null): Promise<{ value: T; maxGap: number; t0: number; t1: number }> {
  let last = performance.now();
  let maxGap = tick ? 0 : NaN;
  const timer = tick
    ? setInterval(() => {
        const now = performance.now();
        maxGap = Math.max(maxGap, now - last);
        last = now;
      }, tick)
    : undefined;
  const t0 = performance.now();
  try {
    const value = await fn();
    return { value, maxGap: tick ? Math.max(maxGap, performance.now() - last) : NaN, t0, t1: performance.now() };
  } finally {
    clearInterval(timer);
  }
}

/** The comparison run's timer period. */
const TICK_MS = 10;

async function fixture(stem: string) {
  const a = readNpz(new Uint8Array(await (await fetch(`fixtures/${stem}.npz`)).arrayBuffer()), stem);
  const images = a.get('images')!;
  return { images: images.data as Float32Array, shape: images.shape as [number, number, number, number], logits: a.get('logits')!.data as Float32Array };
}

const hook = {
  longTasks,

  /** A deliberate 150 ms busy loop: the observer must see it (or the long-task check proves nothing). */
  async busy(ms: number): Promise<LongTask[]> {
    const t0 = performance.now();
    // in a task of its own (what the test harness evaluates is not an event-loop task)
    await new Promise<void>((done) =>
      setTimeout(() => {
        const t = performance.now();
        while (performance.now() - t < ms) {
          // spin
        }
        done();
      }, 0),
    );
    await new Promise((r) => setTimeout(r, 200)); // entries are delivered after the task
    return during(t0 - 1, performance.now());
  },

  /**
   * Starts a worker, loads the weights by URL, classifies the fixture's
   * images (logits) and an RGBA picture, queues three calls and cancels the
   * middle one, and provokes two errors; returns what happened and the main
   * thread's long tasks meanwhile.
   */
  async roundTrip(stem: string) {
    const ref = await fixture(stem);
    // the first half of the weight file, for a truncated load (read before the watched window: reading a
    // response of a few MB into an ArrayBuffer is itself a 50-150 ms task on this machine's main thread)
    const bytes = new Uint8Array(await (await fetch(`weights/${stem}.weights`)).arrayBuffer());
    const half = bytes.slice(0, bytes.length >> 1);
    const progress: [number, number, string][] = [];
    const marks: [string, number][] = [];
    const mark = (name: string) => marks.push([name, performance.now()]);
    const run = await heartbeat(async () => {
      mark('start');
      const w = new PerceiverWorker();
      const status = await w.status();
      mark('device');
      const tLoad = performance.now();
      const model: RemoteImageClassifier = await w.loadImageClassifier(`weights/${stem}.weights`, { onProgress: (l, t, n) => progress.push([l, t, n]) });
      const loadMs = performance.now() - tLoad;
      mark('loaded');
      const sent = ref.images.slice();
      const t = performance.now();
      const logits = await model.logits(sent, ref.shape);
      const firstMs = performance.now() - t;
      const detached = sent.byteLength === 0;
      mark('forward');

      // cancellation: three calls queued, the middle one aborted before it starts
      const size = 48;
      const picture = () => ({ width: size, height: size, data: new Uint8ClampedArray(size * size * 4).fill(128) });
      const ac = new AbortController();
      const bitmap = await createImageBitmap(new ImageData(picture().data, size, size));
      const a = model.classify(bitmap, 3); // an ImageBitmap: transferred (closed here)
      const bitmapClosed = bitmap.width === 0;
      const b = model.classify(picture(), 3, { signal: ac.signal });
      const c = model.classify(picture(), 3);
      ac.abort();
      const outcomes = await Promise.allSettled([a, b, c]);
      const after = await w.status();
      mark('queue');

      // errors from the worker, re-thrown here
      const wrongTask = await w.loadOpticalFlow(`weights/${stem}.weights`).then(() => null, (e: Error) => ({ name: e.name, message: e.message }));
      const truncated = await w.loadImageClassifier(half).then(() => null, (e: Error) => ({ name: e.name, message: e.message, isClass: e instanceof WeightFormatError }));
      mark('errors');
      await model.dispose();
      const end = await w.status();
      await w.dispose();
      mark('disposed');
      return {
        adapter: status.adapter,
        loadMs,
        firstMs,
        err: maxRelError(logits, ref.logits),
        detached,
        bitmapClosed,
        outcomes: outcomes.map((o) => (o.status === 'fulfilled' ? { ok: true, top: o.value[0].length } : { ok: false, name: (o.reason as Error).name })),
        counts: { started: after.started, cancelled: after.cancelled },
        wrongTask,
        truncated,
        modelsAtEnd: end.models,
      };
    }, null);
    return { ...run.value, marks: marks.map(([n, t]) => [n, Math.round(t - marks[0][1])]), progress: progress.length, lastProgress: progress[progress.length - 1], maxGap: run.maxGap, longTasks: during(run.t0, run.t1) };
  },

  /** A worker script that is not there: every request rejects with a message saying so. */
  async missingScript(): Promise<string[]> {
    const w = new PerceiverWorker({ worker: 'no-such-worker.js' });
    const messages = await Promise.all([w.status(), w.loadImageClassifier(new Uint8Array(16))].map((p) => p.then(() => 'resolved', (e: Error) => e.message)));
    await w.dispose();
    return messages;
  },

  /** The same load and forward on the main thread (no worker), for comparison: its long tasks. */
  async onMainThread(stem: string) {
    const { createGpu } = await import('../../engine/gpu.ts');
    const { loadImageClassifier } = await import('../../perceiver/imagenet/index.ts');
    const ref = await fixture(stem);
    const run = await heartbeat(async () => {
      const gpu = await createGpu(navigator.gpu);
      const model = await loadImageClassifier(gpu, await fetch(`weights/${stem}.weights`));
      const logits = await model.logits(ref.images, ref.shape);
      for (const t of model.params.tensors.values()) t.dispose();
      gpu.destroy();
      return maxRelError(logits, ref.logits);
    }, TICK_MS);
    return { err: run.value, t0: run.t0, maxGap: run.maxGap, longTasks: during(run.t0, run.t1) };
  },
};

(window as unknown as { __worker: typeof hook }).__worker = hook;
