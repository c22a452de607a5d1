// Measured choices between interchangeable kernels, per adapter.
//
// A kernel wrapper with several implementations of one operation (e.g.
// kernels/matmul.ts: register-blocked, vec4, workgroup-tiled) asks
// `tunedChoice(gpu, key, job)` at a shape key. Until that key is measured the
// answer is undefined (the wrapper uses its own default) and the key is
// queued with a job that builds its candidates. `tunePending(gpu)` (called by
// an application once it has run the shapes it needs, e.g. after its first
// forward) times each queued job's candidates between gpu.sync() calls and
// keeps the fastest. Choices belong to the adapter: `exportTuning` gives them
// with the adapter's name as JSON-ready data (a file, localStorage), and
// `importTuning` takes them back on the same adapter, so the measuring happens
// once per machine.

import type { Gpu } from './gpu.ts';

export interface TuneJob {
  /** candidate name -> records one run of it (the tuner submits and waits) */
  candidates: Record<string, () => void>;
  /** frees what the job allocated */
  dispose(): void;
}

/** Milliseconds per run of candidate `name`; `best` is the fastest candidate's so far (a slower one may stop early). */
export type Measure = (gpu: Gpu, run: () => void, best: number, name: string) => Promise<number>;

export interface TuningCache {
  adapter: string;
  /** shape key -> chosen candidate */
  choices: Record<string, string>;
}

interface Tuning {
  choices: Map<string, string>;
  pending: Map<string, (gpu: Gpu) => TuneJob>;
  /** false: keys are not queued (imported or measured choices still apply) */
  enabled: boolean;
}

const tunings = new WeakMap<Gpu, Tuning>();

/** The Gpu's tuning state; `tuning(gpu).enabled = false` keeps kernels on their defaults (deterministic tests). */
export function tuning(gpu: Gpu): Tuning {
  if (gpu.dry) gpu = Object.getPrototypeOf(gpu) as Gpu; // Gpu.prepare's view: the device's own choices
  let t = tunings.get(gpu);
  if (!t) tunings.set(gpu, (t = { choices: new Map(), pending: new Map(), enabled: true }));
  return t;
}

/** x rounded up to a power of two: shape keys bucket sizes with it, so nearby sizes share one measurement. */
export const pow2 = (x: number): number => 2 ** Math.ceil(Math.log2(x));

/** The measured choice at `key`, or undefined (then `job`, which builds its candidates on the Gpu it is given, is queued for tunePending). */
export function tunedChoice(gpu: Gpu, key: string, job: (gpu: Gpu) => TuneJob): string | undefined {
  const t = tuning(gpu);
  const c = t.choices.get(key);
  if (c === undefined && t.enabled && !gpu.dry) t.pending.set(key, job);
  return c;
}

/** Runs filling about this long per timed round, so that short GPU runs outweigh the submit-and-wait overhead. */
const ROUND_MS = 20;
const MAX_REPS = 64;
/** Timed rounds per candidate (the minimum counts). */
const ROUNDS = 3;

/**
 * Wall time on the device: one untimed run (warm-up; tunePending has compiled the pipelines), then
 * ROUNDS rounds of as many runs as fill ROUND_MS; a candidate that needs over
 * twice the best time in a round is not timed further.
 */
export const timeOnDevice: Measure = async (gpu, run, best) => {
  run();
  await gpu.sync();
  let ms = Infinity;
  let reps = 1;
  for (let round = 0; round < ROUNDS && (round === 0 || ms <= 2 * best); round++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) run();
    await gpu.sync();
    const t = (performance.now() - t0) / reps;
    ms = Math.min(ms, t);
    reps = Math.max(1, Math.min(MAX_REPS, Math.round(ROUND_MS / t)));
  }
  return ms;
};

/**
 * Measures every queued key (candidates in the order the job lists them)
 * and keeps the fastest. Returns the keys it decided.
 */
export async function tunePending(gpu: Gpu, measure: Measure = timeOnDevice): Promise<string[]> {
  if (gpu.dry) return [];
  const t = tuning(gpu);
  const done: string[] = [];
  for (const [key, make] of t.pending) {
    t.pending.delete(key);
    if (t.choices.has(key)) continue;
    // the candidates' pipelines, compiled without blocking (Gpu.prepare)
    await gpu.prepare((dry) => {
      const j = make(dry);
      for (const run of Object.values(j.candidates)) run();
      j.dispose();
    });
    const job = make(gpu);
    try {
      let best = Infinity;
      let choice = '';
      for (const [name, run] of Object.entries(job.candidates)) {
        const ms = await measure(gpu, run, best, name);
        if (ms < best) [best, choice] = [ms, name];
      }
      if (choice) t.choices.set(key, choice);
      done.push(key);
    } finally {
      job.dispose();
    }
  }
  return done;
}

/** This adapter's choices, JSON-ready. */
export function exportTuning(gpu: Gpu): TuningCache {
  return { adapter: gpu.adapterName, choices: Object.fromEntries(tuning(gpu).choices) };
}

/** Takes choices exported on the same adapter (another adapter's are ignored); returns how many it took. */
export function importTuning(gpu: Gpu, cache: TuningCache): number {
  if (cache?.adapter !== gpu.adapterName) return 0;
  const t = tuning(gpu);
  let n = 0;
  for (const [key, choice] of Object.entries(cache.choices ?? {})) {
    if (typeof choice === 'string') {
      t.choices.set(key, choice);
      t.pending.delete(key);
      n++;
    }
  }
  return n;
}
