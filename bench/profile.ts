// Per-kernel GPU times for `npm run bench -- --profile` (bench/model.ts).
// Only benchmarks import this; the engine carries just the `gpu.profiler`
// hook (engine/gpu.ts), which is null, and free, otherwise.
//
//   const p = startProfile(gpu);   // record a forward...
//   const profile = await p.stop(); console.log(formatProfile(profile));
//
// Two sources, the report names which:
//   'gpu-timestamps'  where the device has 'timestamp-query': every dispatch
//                     gets its own compute pass whose begin/end timestamps go
//                     to a query set (QUERIES_PER_SET per set, more sets as
//                     needed); stop() resolves them into buffers and reads them
//                     back. Per-dispatch passes add a little GPU work of their
//                     own, so the profiled forward runs slightly slower than an
//                     unprofiled one. Dawn rounds timestamps to 65.5 us
//                     unless the device is made with PROFILE_DAWN_FLAGS.
//   'cpu-queue'       without timestamps: every dispatch is submitted on its own
//                     and its time is when the queue reported it done minus when
//                     the one before it was done (or it was submitted, if later):
//                     host-side, includes submit and callback latency, coarse
//                     for kernels under a millisecond.

import type { Gpu } from '../engine/index.ts';

/**
 * Dawn toggles for a Gpu that will be profiled (nodeGpu({ dawnFlags })):
 * without them Dawn quantizes timestamps to 65.5 us (a browser's timing-attack
 * guard), which hides short kernels.
 */
export const PROFILE_DAWN_FLAGS = ['disable-dawn-features=timestamp_quantization'];

/** WebGPU caps a query set at 4096 queries: two per dispatch. */
const QUERIES_PER_SET = 4096;
const QUERY_RESOLVE = 0x0200; // GPUBufferUsage.QUERY_RESOLVE
const COPY_SRC = 0x0004;
const MAP_READ_DST = 0x0001 | 0x0008; // MAP_READ | COPY_DST

export interface KernelTime {
  /** kernel (shader) name, or the dispatch label with its tensor shapes */
  name: string;
  count: number;
  ms: number;
  /** of the summed kernel time */
  share: number;
}

export interface Profile {
  source: 'gpu-timestamps' | 'cpu-queue';
  dispatches: number;
  /** summed per-dispatch times */
  kernelMs: number;
  /** wall time from start to stop (stop waits for the GPU) */
  wallMs: number;
  byKernel: KernelTime[];
  byDispatch: KernelTime[];
}

interface Sample {
  kernel: string;
  label: string;
  ms: number;
}

export interface Profiling {
  readonly source: Profile['source'];
  /** waits for the recorded work, detaches, and returns the times */
  stop(): Promise<Profile>;
}

/** Starts profiling `gpu`'s dispatches; `cpu` forces the host-side fallback. */
export function startProfile(gpu: Gpu, opts: { cpu?: boolean } = {}): Profiling {
  if (gpu.profiler) throw new Error('startProfile: this Gpu is already being profiled');
  return gpu.features.timestamps && !opts.cpu ? timestampProfile(gpu) : queueProfile(gpu);
}

function timestampProfile(gpu: Gpu): Profiling {
  const device = gpu.device;
  const sets: { set: GPUQuerySet; names: { kernel: string; label: string }[] }[] = [];
  const t0 = performance.now();
  gpu.profiler = {
    timestampWrites(kernel, label) {
      let cur = sets[sets.length - 1];
      if (!cur || cur.names.length * 2 === QUERIES_PER_SET) {
        cur = { set: device.createQuerySet({ type: 'timestamp', count: QUERIES_PER_SET }), names: [] };
        sets.push(cur);
      }
      const i = cur.names.length;
      cur.names.push({ kernel, label });
      return { querySet: cur.set, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
    },
  };
  return {
    source: 'gpu-timestamps',
    async stop() {
      gpu.profiler = null;
      await gpu.sync();
      const wallMs = performance.now() - t0;
      const samples: Sample[] = [];
      for (const { set, names } of sets) {
        const bytes = names.length * 2 * 8;
        const resolved = device.createBuffer({ size: bytes, usage: QUERY_RESOLVE | COPY_SRC });
        const staging = device.createBuffer({ size: bytes, usage: MAP_READ_DST });
        const enc = device.createCommandEncoder();
        enc.resolveQuerySet(set, 0, names.length * 2, resolved, 0);
        enc.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
        device.queue.submit([enc.finish()]);
        await staging.mapAsync(0x0001 /* GPUMapMode.READ */);
        const ns = new BigInt64Array(staging.getMappedRange().slice(0));
        staging.destroy();
        resolved.destroy();
        set.destroy();
        names.forEach((n, i) => {
          const d = Number(ns[2 * i + 1] - ns[2 * i]);
          samples.push({ ...n, ms: Math.max(0, d) / 1e6 });
        });
      }
      return summarize('gpu-timestamps', samples, wallMs);
    },
  };
}

function queueProfile(gpu: Gpu): Profiling {
  const samples: Sample[] = [];
  const pending: Promise<void>[] = [];
  const previousHook = gpu.onDispatch;
  let lastDone = performance.now();
  const t0 = lastDone;
  // A profiler that asks for no timestamps: it only marks the Gpu as being
  // profiled, so a second startProfile is refused in this mode too.
  gpu.profiler = { timestampWrites: () => undefined };
  gpu.onDispatch = (label) => {
    previousHook?.(label);
    gpu.submit();
    const submitted = performance.now();
    const sample: Sample = { kernel: label.slice(0, label.indexOf('(')), label, ms: 0 };
    samples.push(sample);
    // Callbacks arrive in submission order: each kernel starts when the one
    // before it finished or when it was submitted, whichever is later.
    pending.push(
      gpu.device.queue.onSubmittedWorkDone().then(() => {
        const now = performance.now();
        sample.ms = now - Math.max(lastDone, submitted);
        lastDone = now;
      }),
    );
  };
  return {
    source: 'cpu-queue',
    async stop() {
      gpu.onDispatch = previousHook;
      gpu.profiler = null;
      await gpu.sync();
      await Promise.all(pending);
      return summarize('cpu-queue', samples, performance.now() - t0);
    },
  };
}

function group(samples: Sample[], key: (s: Sample) => string, total: number): KernelTime[] {
  const m = new Map<string, KernelTime>();
  for (const s of samples) {
    const k = key(s);
    let g = m.get(k);
    if (!g) m.set(k, (g = { name: k, count: 0, ms: 0, share: 0 }));
    g.count++;
    g.ms += s.ms;
  }
  const rows = [...m.values()].sort((a, b) => b.ms - a.ms);
  for (const r of rows) r.share = total > 0 ? r.ms / total : 0;
  return rows;
}

function summarize(source: Profile['source'], samples: Sample[], wallMs: number): Profile {
  const kernelMs = samples.reduce((a, s) => a + s.ms, 0);
  return {
    source,
    dispatches: samples.length,
    kernelMs,
    wallMs,
    byKernel: group(samples, (s) => s.kernel, kernelMs),
    byDispatch: group(samples, (s) => s.label, kernelMs),
  };
}

/** The per-kernel table, then the `top` most expensive dispatch shapes. */
export function formatProfile(p: Profile, top = 10): string {
  const source = p.source === 'gpu-timestamps'
    ? 'GPU timestamps, one compute pass per dispatch'
    : 'CPU-side, not GPU timestamps: each dispatch submitted alone and timed by queue completion, submit and callback latency included';
  const out = [
    `profile (${source}): ${p.dispatches} dispatches, kernels ${p.kernelMs.toFixed(1)} ms of ${p.wallMs.toFixed(1)} ms wall`,
  ];
  const table = (title: string, rows: KernelTime[], width: number) => {
    out.push('', `${title.padEnd(width)}  ${'count'.padStart(6)}  ${'total ms'.padStart(11)}  ${'share'.padStart(6)}  ${'mean ms'.padStart(10)}`);
    out.push(`${'-'.repeat(width)}  ${'-'.repeat(6)}  ${'-'.repeat(11)}  ${'-'.repeat(6)}  ${'-'.repeat(10)}`);
    for (const r of rows) {
      const name = r.name.length > width ? `${r.name.slice(0, width - 3)}...` : r.name;
      out.push(`${name.padEnd(width)}  ${String(r.count).padStart(6)}  ${r.ms.toFixed(2).padStart(11)}  ${`${(r.share * 100).toFixed(1)}%`.padStart(6)}  ${(r.ms / r.count).toFixed(3).padStart(10)}`);
    }
  };
  table('kernel', p.byKernel, 24);
  if (top > 0) table(`top ${Math.min(top, p.byDispatch.length)} dispatch shapes`, p.byDispatch.slice(0, top), 100);
  return out.join('\n');
}
