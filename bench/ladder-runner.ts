// Runs a kernel ladder (kernels/ladder/rungs.ts) on one adapter at one
// shape: every rung on the same inputs, checked against a TypeScript
// reference and timed. Used by `npm run bench:ladder` (bench/ladder.ts), the
// ladder test and the demo's Kernels tab, so it imports nothing from Node.
//
// Per rung: milliseconds per run, GFLOP/s (attention 2*B*H*Tq*Tk*(Dqk+Dv),
// the softmax not counted; matmul 2*M*N*K), the modelled storage bytes read
// and written per output element (rungs.ts), the speed-up over the previous
// rung that ran and over the naive one, and the max relative error
// (engine/compare.ts) against a float64 reference on sampled output rows (all
// rows when there are few). A rung that cannot run at the shape says why.
//
// Timing: a first run (compiles the pipelines; its output is the one
// checked), then rounds of: one timed run, repeated to fill `targetMs` when
// it was shorter (at most maxReps), the mean taken, clock stopped when the
// queue is done; the time is the median round (lower middle).

import { upload, readF32, type Gpu, type Tensor } from '../engine/index.ts';
import { maxRelError } from '../engine/compare.ts';
import {
  ATTENTION_RUNGS, MATMUL_RUNGS, qkvBindings, matmulBindings, type AttentionShape, type MatmulShape, type AttentionInputs, type MatmulInputs, type Rung,
} from '../kernels/ladder/rungs.ts';
import { noise } from './random-weights.ts';

export type LadderKernel = 'attention' | 'matmul';

export interface LadderShape<S> {
  name: string;
  /** where Perceiver IO has it */
  what: string;
  full: S;
  /** reduced, for --quick and the demo's default */
  quick: S;
}

/**
 * Perceiver IO's attention shapes (the released configurations,
 * perceiver/config.ts): channels per head Dqk, Dv.
 */
export const ATTENTION_SHAPES: LadderShape<AttentionShape>[] = [
  {
    name: 'imagenet-encoder',
    what: "ImageNet-Fourier encoder cross-attention: 512 latents over 224x224 = 50,176 pixels, one head, 261 channels (3 RGB + 258 Fourier; the key/value fold makes the pixels themselves the keys and values)",
    full: { B: 1, Tq: 512, Tk: 50176, H: 1, Dqk: 261, Dv: 261 },
    quick: { B: 1, Tq: 32, Tk: 4096, H: 1, Dqk: 261, Dv: 261 },
  },
  {
    name: 'flow-decoder',
    what: 'optical-flow decoder cross-attention: 182,528 pixel queries (368 x 496) over 2,048 latents, one head, 512 channels',
    full: { B: 1, Tq: 182528, Tk: 2048, H: 1, Dqk: 512, Dv: 512 },
    quick: { B: 1, Tq: 1024, Tk: 128, H: 1, Dqk: 512, Dv: 512 },
  },
  {
    name: 'flow-latents',
    what: "optical-flow latents' self-attention: 2,048 x 2,048, 16 heads of 32 channels (512 in all)",
    full: { B: 1, Tq: 2048, Tk: 2048, H: 16, Dqk: 32, Dv: 32 },
    quick: { B: 1, Tq: 256, Tk: 256, H: 16, Dqk: 32, Dv: 32 },
  },
  {
    name: 'imagenet-latents',
    what: "ImageNet latents' self-attention: 512 x 512, 8 heads of 128 channels (1,024 in all)",
    full: { B: 1, Tq: 512, Tk: 512, H: 8, Dqk: 128, Dv: 128 },
    quick: { B: 1, Tq: 128, Tk: 128, H: 8, Dqk: 128, Dv: 128 },
  },
];

/** Linear layers of the released models: rows x in -> out. */
export const MATMUL_SHAPES: LadderShape<MatmulShape>[] = [
  {
    name: 'imagenet-latent-projection',
    what: 'ImageNet latents through a 1024 x 1024 linear layer (attention projections, MLP)',
    full: { M: 512, K: 1024, N: 1024 },
    quick: { M: 128, K: 256, N: 256 },
  },
  {
    name: 'imagenet-input-projection',
    what: "ImageNet-Fourier's 50,176 input rows of 261 channels through a 261 x 261 linear layer (odd width: no vec4)",
    full: { M: 50176, K: 261, N: 261 },
    quick: { M: 512, K: 261, N: 261 },
  },
  {
    name: 'flow-input-projection',
    what: "optical flow's 182,528 input rows of 322 channels through a 322 x 322 linear layer",
    full: { M: 182528, K: 322, N: 322 },
    quick: { M: 512, K: 324, N: 324 },
  },
  {
    name: 'mlm-value-projection',
    what: 'the language model: 2,048 byte embeddings of 768 channels to the 1,280-channel values',
    full: { M: 2048, K: 768, N: 1280 },
    quick: { M: 256, K: 256, N: 512 },
  },
];

export interface RungResult {
  id: string;
  title: string;
  files: string[];
  entry?: string;
  changes: string;
  /** 'ok', or 'cannot' (with the reason), or 'failed' (an error: the message) */
  status: 'ok' | 'cannot' | 'failed';
  reason?: string;
  ms?: number;
  /** runs per timed round, and rounds (ms is the median round's mean) */
  reps?: number;
  rounds?: number;
  gflops?: number;
  /** modelled storage bytes per output element */
  readPerOutput: number;
  writtenPerOutput: number;
  /** over the previous rung that ran, and over the naive rung (when it ran) */
  speedupPrevious?: number;
  speedupNaive?: number;
  maxRelError?: number;
  /** how many output rows were compared with the reference, of how many */
  checkedRows?: number;
  rows?: number;
  /** the dispatches of one run (shader names), e.g. to see the split + merge */
  dispatches?: string[];
}

export interface LadderOptions {
  /** wall-clock budget for the repetitions after the first run (ms) */
  targetMs?: number;
  maxReps?: number;
  /** timing rounds per rung (the median is reported: a shared host's load drifts) */
  rounds?: number;
  /** output rows compared with the reference (spread evenly; Infinity: all) */
  sampleRows?: number;
  /** attention: random key and query masks (and, with B > 1, a batch whose keys are all masked) */
  masks?: boolean;
  seed?: number;
  /** false: check each rung, but do not time it (tests) */
  timed?: boolean;
  /** only these rungs (ids) */
  only?: string[];
  /** called as each rung finishes */
  onRung?: (r: RungResult) => void;
  /** called between rungs, so a page can repaint */
  yieldToHost?: () => Promise<void>;
}

export function flopsOf(kernel: LadderKernel, s: AttentionShape | MatmulShape): number {
  if (kernel === 'attention') {
    const a = s as AttentionShape;
    return 2 * a.B * a.H * a.Tq * a.Tk * (a.Dqk + a.Dv);
  }
  const m = s as MatmulShape;
  return 2 * m.M * m.N * m.K;
}

export function describeShape(kernel: LadderKernel, s: AttentionShape | MatmulShape): string {
  if (kernel === 'attention') {
    const a = s as AttentionShape;
    return `${a.B > 1 ? `${a.B} x ` : ''}${a.Tq} queries over ${a.Tk} keys, ${a.H} head${a.H > 1 ? 's' : ''} x (${a.Dqk}, ${a.Dv})`;
  }
  const m = s as MatmulShape;
  return `${m.M}x${m.K} @ ${m.K}x${m.N}`;
}

/** Evenly spread row indices, first and last included. */
function sampleRows(rows: number, n: number): number[] {
  if (n >= rows) return Array.from({ length: rows }, (_, i) => i);
  const picked = new Set<number>();
  for (let i = 0; i < n; i++) picked.add(Math.round((i * (rows - 1)) / Math.max(1, n - 1)));
  return [...picked].sort((a, b) => a - b);
}

/** Host data: uniform in [-1, 1) (std 1/sqrt(3)). */
const uniform = (n: number, seed: number) => noise(n, seed, 1 / Math.sqrt(3));

/**
 * DeepMind's attend() in float64 for some query rows: masked logits -1e30,
 * queries whose every key is masked wiped to zero. Returns [rows.length, H*Dv].
 */
export function attentionReference(
  s: AttentionShape, q: Float32Array, k: Float32Array, v: Float32Array, rows: number[],
  keyMask?: Int32Array, queryMask?: Int32Array,
): Float64Array {
  const { Tq, Tk, H, Dqk, Dv } = s;
  const out = new Float64Array(rows.length * H * Dv);
  const scale = 1 / Math.sqrt(Dqk);
  const logits = new Float64Array(Tk);
  rows.forEach((row, r) => {
    const b = Math.floor(row / Tq), t = row % Tq;
    for (let h = 0; h < H; h++) {
      let max = -Infinity;
      let any = false;
      for (let T = 0; T < Tk; T++) {
        const on = (!queryMask || queryMask[b * Tq + t] !== 0) && (!keyMask || keyMask[b * Tk + T] !== 0);
        any ||= on;
        let dot = 0;
        const qa = (b * Tq + t) * H * Dqk + h * Dqk, ka = (b * Tk + T) * H * Dqk + h * Dqk;
        for (let d = 0; d < Dqk; d++) dot += q[qa + d] * k[ka + d];
        logits[T] = on ? dot * scale : -1e30;
        max = Math.max(max, logits[T]);
      }
      if (!any) continue;
      let sum = 0;
      for (let T = 0; T < Tk; T++) sum += (logits[T] = Math.exp(logits[T] - max));
      for (let T = 0; T < Tk; T++) {
        const p = logits[T] / sum;
        const va = (b * Tk + T) * H * Dv + h * Dv, oa = r * H * Dv + h * Dv;
        for (let c = 0; c < Dv; c++) out[oa + c] += p * v[va + c];
      }
    }
  });
  return out;
}

/** a @ b in float64 for some rows: [rows.length, N]. */
function matmulReference(s: MatmulShape, a: Float32Array, b: Float32Array, rows: number[]): Float64Array {
  const { K, N } = s;
  const out = new Float64Array(rows.length * N);
  rows.forEach((m, r) => {
    for (let i = 0; i < K; i++) {
      const x = a[m * K + i];
      for (let n = 0; n < N; n++) out[r * N + n] += x * b[i * N + n];
    }
  });
  return out;
}

/** Rows `rows` of a [R, C] tensor, read back (one read per run of consecutive rows). */
async function readRows(t: Tensor, rows: number[]): Promise<Float32Array> {
  const C = t.shape[1];
  const out = new Float32Array(rows.length * C);
  for (let i = 0; i < rows.length; ) {
    let j = i + 1;
    while (j < rows.length && rows[j] === rows[j - 1] + 1) j++;
    out.set(await readF32(t.rows(rows[i], rows[j - 1] + 1)), i * C);
    i = j;
  }
  return out;
}

interface Prepared<I> {
  inputs: I;
  rows: number;
  /** output as [rows, columns] */
  asRows: (out: Tensor) => Tensor;
  reference: (rows: number[]) => Float64Array;
  dispose: () => void;
}

function prepareAttention(gpu: Gpu, s: AttentionShape, opts: LadderOptions): Prepared<AttentionInputs> {
  const seed = opts.seed ?? 1;
  const { B, Tq, Tk, H, Dqk, Dv } = s;
  const q = uniform(B * Tq * H * Dqk, seed), k = uniform(B * Tk * H * Dqk, seed + 1), v = uniform(B * Tk * H * Dv, seed + 2);
  let km: Int32Array | undefined, qm: Int32Array | undefined;
  if (opts.masks) {
    // about one key in four and one query in eight masked; with B > 1 the last batch has every key masked
    const bits = noise(B * (Tk + Tq), seed + 3, 1);
    km = Int32Array.from({ length: B * Tk }, (_, i) => (B > 1 && Math.floor(i / Tk) === B - 1 ? 0 : bits[i] > -0.25 ? 1 : 0));
    qm = Int32Array.from({ length: B * Tq }, (_, i) => (bits[B * Tk + i] > -0.375 ? 1 : 0));
  }
  const tensors = {
    q: upload(gpu, q, [B, Tq, H * Dqk]), k: upload(gpu, k, [B, Tk, H * Dqk]), v: upload(gpu, v, [B, Tk, H * Dv]),
    keyMask: km && upload(gpu, km, [B, Tk], 'i32'), queryMask: qm && upload(gpu, qm, [B, Tq], 'i32'),
  };
  return {
    inputs: { ...tensors, heads: H },
    rows: B * Tq,
    asRows: (out) => out.reshape([B * Tq, H * Dv]),
    reference: (rows) => attentionReference(s, q, k, v, rows, km, qm),
    dispose: () => Object.values(tensors).forEach((t) => t?.dispose()),
  };
}

function prepareMatmul(gpu: Gpu, s: MatmulShape, opts: LadderOptions): Prepared<MatmulInputs> {
  const seed = opts.seed ?? 1;
  const a = uniform(s.M * s.K, seed), b = noise(s.K * s.N, seed + 1, 1 / Math.sqrt(3 * s.K));
  const tensors = { a: upload(gpu, a, [s.M, s.K]), b: upload(gpu, b, [s.K, s.N]) };
  return {
    inputs: tensors,
    rows: s.M,
    asRows: (out) => out,
    reference: (rows) => matmulReference(s, a, b, rows),
    dispose: () => Object.values(tensors).forEach((t) => t.dispose()),
  };
}

/** Runs every rung of a ladder at one shape. */
export async function runLadder(gpu: Gpu, kernel: LadderKernel, shape: AttentionShape | MatmulShape, opts: LadderOptions = {}): Promise<RungResult[]> {
  const targetMs = opts.targetMs ?? 1000;
  const maxReps = opts.maxReps ?? 20;
  const rungs = (kernel === 'attention' ? ATTENTION_RUNGS : MATMUL_RUNGS) as Rung<AttentionShape | MatmulShape, AttentionInputs | MatmulInputs>[];
  const flops = flopsOf(kernel, shape);
  const results: RungResult[] = [];
  let prepared: Prepared<AttentionInputs | MatmulInputs> | null = null;
  let checked: { rows: number[]; ref: Float64Array } | null = null;
  // the operands themselves must fit the adapter's buffers, whatever the rung
  const operands = kernel === 'attention' ? qkvBindings(shape as AttentionShape) : matmulBindings(shape as MatmulShape);
  const over = operands.filter(([, bytes]) => bytes > gpu.limits.maxBufferSize);
  const tooBig = over.length
    ? `${over.map(([n, bytes]) => `${n} needs a ${(bytes / 2 ** 20).toFixed(0)} MiB buffer`).join(', ')}: over this adapter's maxBufferSize of ${(gpu.limits.maxBufferSize / 2 ** 20).toFixed(0)} MiB`
    : null;
  try {
    for (const rung of rungs) {
      if (opts.only && !opts.only.includes(rung.id)) continue;
      await opts.yieldToHost?.();
      const traffic = rung.traffic(gpu, shape);
      const r: RungResult = {
        id: rung.id, title: rung.title, files: rung.files, entry: rung.entry, changes: rung.changes,
        status: 'ok', readPerOutput: traffic.read, writtenPerOutput: traffic.written,
      };
      results.push(r);
      const why = tooBig ?? rung.cannot(gpu, shape);
      if (why) {
        r.status = 'cannot';
        r.reason = why;
        opts.onRung?.(r);
        continue;
      }
      try {
        prepared ??= kernel === 'attention'
          ? prepareAttention(gpu, shape as AttentionShape, opts)
          : prepareMatmul(gpu, shape as MatmulShape, opts);
        const p = prepared;
        if (!checked) {
          const rows = sampleRows(p.rows, opts.sampleRows ?? 32);
          checked = { rows, ref: p.reference(rows) };
        }
        // first run: compiles, and its output is checked; the dispatches it made are recorded
        const dispatches: string[] = [];
        const hook = gpu.onDispatch;
        gpu.onDispatch = (label) => dispatches.push(label.slice(0, label.indexOf('(')));
        let out: Tensor;
        try {
          out = rung.run(gpu, p.inputs);
        } finally {
          gpu.onDispatch = hook;
        }
        r.dispatches = dispatches;
        const got = await readRows(p.asRows(out), checked.rows);
        out.dispose();
        r.maxRelError = maxRelError(got, checked.ref, false);
        r.checkedRows = checked.rows.length;
        r.rows = p.rows;
        if (opts.timed === false) {
          opts.onRung?.(r);
          continue;
        }
        // timed: once, then repeated to fill the budget
        const measure = async (reps: number) => {
          const t0 = performance.now();
          for (let i = 0; i < reps; i++) rung.run(gpu, p.inputs).dispose();
          await gpu.sync();
          return (performance.now() - t0) / reps;
        };
        const times: number[] = [];
        let reps = 1;
        for (let round = 0; round < Math.max(1, opts.rounds ?? 1); round++) {
          let ms = await measure(1);
          reps = 1;
          if (ms < targetMs && maxReps > 1) {
            reps = Math.max(1, Math.min(maxReps, Math.floor(targetMs / Math.max(ms, 1e-3))));
            if (reps > 1) ms = await measure(reps);
          }
          times.push(ms);
        }
        const ms = times.sort((a, b) => a - b)[Math.floor((times.length - 1) / 2)];
        r.ms = ms;
        r.rounds = times.length;
        r.reps = reps;
        r.gflops = flops / (ms * 1e6);
        const ran = results.filter((x) => x.status === 'ok' && x.ms !== undefined && x !== r);
        const prev = ran[ran.length - 1];
        if (prev) r.speedupPrevious = prev.ms! / ms;
        const naive = results.find((x) => x.id === 'naive');
        if (naive && naive !== r && naive.status === 'ok' && naive.ms !== undefined) r.speedupNaive = naive.ms / ms;
      } catch (e) {
        r.status = 'failed';
        r.reason = (e as Error).message.split('\n')[0];
      }
      opts.onRung?.(r);
    }
  } finally {
    prepared?.dispose();
  }
  return results;
}

/** The shapes of a ladder, by name (`--shape NAME` matches a name or a part of one). */
export function ladderShapes(kernel: LadderKernel, name?: string): LadderShape<AttentionShape | MatmulShape>[] {
  const all = (kernel === 'attention' ? ATTENTION_SHAPES : MATMUL_SHAPES) as LadderShape<AttentionShape | MatmulShape>[];
  if (!name) return all;
  const exact = all.filter((s) => s.name === name);
  const picked = exact.length ? exact : all.filter((s) => s.name.includes(name));
  if (!picked.length) throw new Error(`no ${kernel} shape named '${name}' (shapes: ${all.map((s) => s.name).join(', ')})`);
  return picked;
}

/** The adapter's description for a report: name and the optional features the rungs care about. */
export function adapterLine(gpu: Gpu): string {
  const f = gpu.features;
  const sg = gpu.device.adapterInfo?.subgroupMinSize;
  const features = [f.f16 && 'shader-f16', f.subgroups && `subgroups${sg ? ` (${sg}${gpu.device.adapterInfo?.subgroupMaxSize !== sg ? `-${gpu.device.adapterInfo?.subgroupMaxSize}` : ''} lanes)` : ''}`, f.timestamps && 'timestamp-query', f.emulated && 'CPU emulation'].filter(Boolean);
  return `${gpu.adapterName}${features.length ? ` · ${features.join(' · ')}` : ''}`;
}
