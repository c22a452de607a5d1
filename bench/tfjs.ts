// TensorFlow.js's WebGPU backend (@tensorflow/tfjs-backend-webgpu, a dev
// dependency) on the same Dawn entry point as our engine, for the side-by-side
// columns of bench/kernels.ts. TF.js looks for `navigator.gpu`; we point it at
// the entry point our Gpu came from, so it asks the same Dawn instance for a
// high-performance adapter (its own device on it, as an application gets).
//
// Timing mirrors ours: `matmul` / `attention` make the inputs and run once
// at the row's exact shape (TF.js compiles pipelines per shape class and
// uploads inputs lazily); each `time()` of the returned run is then one
// timed run and, when that was shorter than the budget, repetitions to fill
// it, so bench/kernels.ts can alternate rounds of ours and TF.js. The clock
// stops when the queue has finished (TF.js's pending commands are submitted,
// then onSubmittedWorkDone), with no read-back in the timed region. Every
// intermediate and result tensor is disposed.
//
// What TF.js runs for each of our kernels:
//   matmul           tf.matMul(a, b)
//   matmul +bias     tf.fused.matMul({ a, b, bias })    (bias fused into its matmul)
//   matmul +gelu     the above WITHOUT the GELU: TF.js has no GELU activation to
//                    fuse, and the same function from its elementwise ops costs
//                    it more than the matmul itself on lavapipe; leaving it out
//                    favours TF.js, so the ratio is a lower bound
//   attention        per head: q k^T (tf.matMul transposeB) * 1/sqrt(d), softmax,
//                    times v; heads moved to the batch axis and back by transposes
//                    (TF.js's batched matmul wants them there)

import { availableParallelism } from 'node:os';
import type * as TF from '@tensorflow/tfjs-core';
import { noise } from './random-weights.ts';

export interface TfjsTiming {
  ms: number;
  reps: number;
  /** this process's CPU time over wall time and cores, as bench/kernels.ts's host cpu column */
  hostCpu: number;
}

/** One warmed-up TF.js computation with its inputs: time it any number of times, then dispose. */
export interface TfjsRun {
  time(): Promise<TfjsTiming>;
  dispose(): void;
}

export interface Tfjs {
  /** adapter vendor / architecture as TF.js's backend reports them */
  adapter: string;
  /** a [M, K] times b [K, N], plus a bias [N] when asked (never a GELU: see above) */
  matmul(M: number, K: number, N: number, opts: { bias?: boolean }): Promise<TfjsRun>;
  attention(Tq: number, Tk: number, heads: number, Dqk: number, Dv: number): Promise<TfjsRun>;
}

/** Per-row time budget and repetition cap, as bench/kernels.ts uses for ours. */
export interface Budget {
  targetMs: number;
  maxReps: number;
}

/**
 * Timed repetitions after one run of `onceMs`: as many as fill the budget (at
 * most maxReps); 1 means the single run already is the measurement. The one
 * rule for ours (bench/kernels.ts) and TF.js.
 */
export function repetitions(onceMs: number, budget: Budget): number {
  return Math.min(budget.maxReps, Math.round(budget.targetMs / Math.max(onceMs, 1e-3)));
}

/**
 * Starts TF.js's WebGPU backend on `entry` (a WebGPU entry point; keep it
 * referenced for the process's life). Throws an Error saying why when TF.js
 * cannot run there.
 */
export async function startTfjs(entry: GPU, budget: Budget): Promise<Tfjs> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav) Object.defineProperty(nav, 'gpu', { value: entry, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu: entry, userAgent: 'node' }, configurable: true, writable: true });
  const tf: typeof TF = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-webgpu');
  // TF.js logs its backend choice and warnings; keep the table clean.
  tf.env().set('DEBUG', false);
  if (!tf.findBackendFactory('webgpu')) throw new Error('tfjs-backend-webgpu did not register (it found no navigator.gpu)');
  const ok = await tf.setBackend('webgpu');
  if (!ok || tf.getBackend() !== 'webgpu') throw new Error(`tf.setBackend('webgpu') failed (backend is ${tf.getBackend()})`);
  await tf.ready();
  const backend = tf.backend() as unknown as {
    device: GPUDevice;
    commandEncoder: GPUCommandEncoder | null;
    endComputePassEncoder(): void;
    submitQueue(): void;
    adapterInfo?: { vendor?: string; architecture?: string };
  };
  const info = backend.adapterInfo ?? {};
  const adapter = [info.vendor, info.architecture].filter((s) => s).join(' ') || 'unknown adapter';

  /** Submits TF.js's recorded commands (as its own read-back does) and waits for the queue. */
  const finish = async () => {
    if (backend.commandEncoder) {
      backend.endComputePassEncoder();
      backend.submitQueue();
    }
    await backend.device.queue.onSubmittedWorkDone();
  };

  // TF.js does not check WebGPU's limits itself (e.g. a binding over
  // maxStorageBufferBindingSize): its work then fails validation and finishes
  // at once. An error scope around each measurement turns that into an error
  // naming Dawn's message, instead of an impossible time.
  const device = backend.device;
  /** Warms `run` up (failing, with Dawn's message, where TF.js's work is invalid) and returns its timer. */
  const prepare = async (run: () => TF.Tensor, inputs: TF.Tensor[]): Promise<TfjsRun> => {
    const measure = async (reps: number): Promise<TfjsTiming> => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      device.pushErrorScope('validation');
      device.pushErrorScope('out-of-memory');
      for (let i = 0; i < reps; i++) run().dispose();
      await finish();
      const wall = performance.now() - t0;
      const oom = await device.popErrorScope();
      const invalid = await device.popErrorScope();
      const error = oom ?? invalid;
      if (error) throw new Error(`TF.js's WebGPU work failed: ${error.message.split('\n')[0]}`);
      const cpu = process.cpuUsage(c0);
      return { ms: wall / reps, reps, hostCpu: (cpu.user + cpu.system) / 1000 / (wall * availableParallelism()) };
    };
    const dispose = () => inputs.forEach((t) => t.dispose());
    try {
      await measure(1); // warm-up: pipelines for this shape, input uploads
    } catch (e) {
      dispose();
      throw e;
    }
    return {
      async time() {
        const once = await measure(1);
        const reps = repetitions(once.ms, budget);
        return reps <= 1 ? once : measure(reps);
      },
      dispose,
    };
  };

  /** The same inputs as bench/kernels.ts's rows: uniform in [-scale, scale), deterministic in `seed`. */
  const random = (shape: number[], seed: number, scale = 1): TF.Tensor =>
    tf.tensor(noise(shape.reduce((a, b) => a * b, 1), seed, scale / Math.sqrt(3)), shape);

  return {
    adapter,
    matmul(M, K, N, opts) {
      const a = random([M, K], 1) as TF.Tensor2D;
      const b = random([K, N], 2, 1 / Math.sqrt(K)) as TF.Tensor2D;
      const bias = opts.bias ? random([N], 3) : undefined;
      const run = () => tf.tidy(() => (bias ? tf.fused.matMul({ a, b, bias }) : tf.matMul(a, b)));
      return prepare(run, bias ? [a, b, bias] : [a, b]);
    },
    attention(Tq, Tk, heads, Dqk, Dv) {
      const q = random([Tq, heads, Dqk], 4);
      const k = random([Tk, heads, Dqk], 5);
      const v = random([Tk, heads, Dv], 6);
      const run = () =>
        tf.tidy(() => {
          // [T, heads, D] -> [heads, T, D] (a reshape when there is one head)
          const byHead = (t: TF.Tensor, T: number, D: number) => (heads === 1 ? tf.reshape(t, [1, T, D]) : tf.transpose(t, [1, 0, 2])) as TF.Tensor3D;
          const scores = tf.mul(tf.matMul(byHead(q, Tq, Dqk), byHead(k, Tk, Dqk), false, true), 1 / Math.sqrt(Dqk));
          const out = tf.matMul(tf.softmax(scores) as TF.Tensor3D, byHead(v, Tk, Dv));
          return heads === 1 ? tf.reshape(out, [Tq, Dv]) : tf.reshape(tf.transpose(out, [1, 0, 2]), [Tq, heads * Dv]);
        });
      return prepare(run, [q, k, v]);
    },
  };
}
