// The kernel ladders: every step from the naive kernel to the shipped one, as
// something that can be run, checked and timed (bench/ladder-runner.ts runs
// them; docs/attention.md walks up them).
//
// A rung is a WGSL file and a way to run it. The first rungs of each ladder
// are files of their own (kernels/ladder/KERNEL/N_NAME.wgsl, compiled into
// kernels/ladder/ladder.gen.ts by kernels/build.ts); the last rungs ARE the
// shipped kernels, run through their own wrappers (kernels/attention.ts,
// kernels/matmul.ts) with the testing knobs forcing one variant. Nothing
// here is part of a shipped bundle: only the ladder harness, its test and the
// demo's Kernels tab import this module.
//
// Each rung also states a model of its memory traffic: the bytes its storage
// loads and stores request per output element, counted from its code (every
// load counted, as if there were no cache; a vec4 load is 16 bytes). It is
// what the code asks of memory, not what a cache hierarchy delivers: the
// point is how each step cuts it.

import { empty, type Gpu, type Tensor } from '../../engine/index.ts';
import { attention, attentionTesting } from '../attention.ts';
import { matmul, matmulTesting, type MatmulVariant } from '../matmul.ts';
import { shaderConst } from '../../engine/shader.ts';
import { ladder_attention_1_naive, ladder_attention_2_online, ladder_matmul_1_naive, ladder_matmul_2_tiled, LADDER_SOURCES } from './ladder.gen.ts';

export { LADDER_SOURCES };

export interface AttentionShape { B: number; Tq: number; Tk: number; H: number; Dqk: number; Dv: number }
export interface MatmulShape { M: number; K: number; N: number }

export interface AttentionInputs {
  q: Tensor; // [B, Tq, H*Dqk]
  k: Tensor; // [B, Tk, H*Dqk]
  v: Tensor; // [B, Tk, H*Dv]
  heads: number;
  keyMask?: Tensor; // i32 [B, Tk]
  queryMask?: Tensor; // i32 [B, Tq]
}
export interface MatmulInputs {
  a: Tensor; // [M, K]
  b: Tensor; // [K, N]
}

export interface Rung<S, I> {
  /** short id: 'naive', 'online', ... */
  id: string;
  title: string;
  /** the WGSL it runs: repository paths (keys of LADDER_SOURCES) */
  files: string[];
  /** the entry point, where the file has several */
  entry?: string;
  /** what it changes from the rung below, in a line */
  changes: string;
  /** why it cannot run at this shape on this adapter, or null */
  cannot(gpu: Gpu, s: S): string | null;
  /** records the work (no sync); the result is a new tensor */
  run(gpu: Gpu, x: I): Tensor;
  /** storage bytes read and written per output element (the model above) */
  traffic(gpu: Gpu, s: S): { read: number; written: number };
}

export type AttentionRung = Rung<AttentionShape, AttentionInputs>;
export type MatmulRung = Rung<MatmulShape, MatmulInputs>;

const F32 = 4;
const FLAG_KEY_MASK = 4; // as in the ladder's WGSL and attention.wgsl
const FLAG_QUERY_MASK = 8;

/** Why some bindings are over the adapter's limits (storage binding and buffer size), or null. */
function overLimit(gpu: Gpu, bindings: [string, number][]): string | null {
  const limit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  const over = bindings.filter(([, bytes]) => bytes > limit);
  if (!over.length) return null;
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  return `${over.map(([n, b]) => `${n} needs ${mb(b)}`).join(', ')}: over this adapter's ${mb(limit)} binding limit`;
}

/** The operands' sizes in bytes (the ladder runner checks them against maxBufferSize, whatever the rung). */
export const qkvBindings = (s: AttentionShape): [string, number][] => [
  ['q', s.B * s.Tq * s.H * s.Dqk * F32], ['k', s.B * s.Tk * s.H * s.Dqk * F32],
  ['v', s.B * s.Tk * s.H * s.Dv * F32], ['out', s.B * s.Tq * s.H * s.Dv * F32],
];

function ladderArgs(x: AttentionInputs) {
  const [B, Tq, Cqk] = x.q.shape;
  const Tk = x.k.shape[1];
  const H = x.heads;
  const flags = (x.keyMask ? FLAG_KEY_MASK : 0) | (x.queryMask ? FLAG_QUERY_MASK : 0);
  // an absent mask binds q (never read: its flag is off)
  return { B, Tq, Tk, H, Dqk: Cqk / H, Dv: x.v.shape[2] / H, flags, masks: { query_mask: x.queryMask ?? x.q, key_mask: x.keyMask ?? x.q } };
}

/** Runs the shipped attention with the testing knobs set, restoring them after. */
function shippedAttention(gpu: Gpu, x: AttentionInputs, kernel: 'portable' | 'subgroups', splits: number): Tensor {
  const saved = { kernel: attentionTesting.kernel, splits: attentionTesting.splits };
  attentionTesting.kernel = kernel;
  attentionTesting.splits = splits;
  try {
    return attention(gpu, x.q, x.k, x.v, { heads: x.heads, keyMask: x.keyMask, queryMask: x.queryMask });
  } finally {
    Object.assign(attentionTesting, saved);
  }
}

/**
 * A constant of a shipped kernel, read from its source as written (the
 * shipped, minified code keeps only the constants its wrapper reads).
 */
function sourceConst(file: string, name: string): number {
  const m = new RegExp(`const ${name} = (\\d+)u;`).exec(LADDER_SOURCES[file] ?? '');
  if (!m) throw new Error(`${file}: no constant ${name}`);
  return Number(m[1]);
}
const ac = (name: string) => sourceConst('kernels/attention.wgsl', name);

/** The shipped portable kernel's traffic: per SQ queries and SK keys, 2 x (SQ + SUB) x Dqk score loads, (SQ + SK) x OC per OC channels (plus SQ x OC writes). */
function registerTraffic(s: AttentionShape) {
  const SQ = ac('SQ'), SK = ac('SK'), SUB = ac('SUB'), OC = ac('OC');
  const blocks = Math.ceil(s.Tk / SK);
  const chunks = Math.ceil(s.Dv / OC);
  const perQuery = (blocks * ((SK / SUB) * (SQ + SUB) * s.Dqk + chunks * (SQ + SK) * OC) - chunks * SQ * OC) / SQ;
  return { read: (perQuery / s.Dv) * F32, written: ((blocks * chunks * OC) / s.Dv) * F32 };
}

export const ATTENTION_RUNGS: AttentionRung[] = [
  {
    id: 'naive',
    title: 'three passes: scores, softmax, p x v',
    files: ['kernels/ladder/attention/1_naive.wgsl'],
    changes: 'the formula as written: the Tq x Tk scores matrix in memory, then a row softmax, then probabilities x values',
    cannot: (gpu, s) => overLimit(gpu, [...qkvBindings(s), ['the scores matrix', s.B * s.H * s.Tq * s.Tk * F32]]),
    run(gpu, x) {
      const { B, Tq, Tk, H, Dqk, Dv, flags, masks } = ladderArgs(x);
      const out = empty(gpu, [B, Tq, H * Dv]);
      const scores = empty(gpu, [B * H * Tq * Tk]);
      const WG = shaderConst(ladder_attention_1_naive, 'WG');
      const counts = [B * H * Tq * Tk, B * H * Tq, B * Tq * H * Dv];
      counts.forEach((n, phase) => {
        const params = { batches: B, tq: Tq, tk: Tk, heads: H, dqk: Dqk, dv: Dv, phase, flags, scale: 1 / Math.sqrt(Dqk) };
        gpu.dispatch(ladder_attention_1_naive, { q: x.q, k: x.k, v: x.v, ...masks, scores, out, params }, Math.ceil(n / WG));
      });
      scores.dispose();
      return out;
    },
    traffic(_, s) {
      const rows = s.B * s.H * s.Tq, outs = rows * s.Dv;
      // scores: 2 Dqk loads and a store per logit; softmax: 3 reads and a write per logit; values: 2 loads per multiply-add
      const read = rows * s.Tk * 2 * s.Dqk + rows * s.Tk * 3 + outs * 2 * s.Tk;
      const written = rows * s.Tk * 2 + outs;
      return { read: (read / outs) * F32, written: (written / outs) * F32 };
    },
  },
  {
    id: 'online',
    title: 'online softmax, a query per invocation',
    files: ['kernels/ladder/attention/2_online.wgsl'],
    changes: 'one pass: each invocation walks the keys with a running max and sum (online softmax); no scores matrix',
    cannot: (gpu, s) => overLimit(gpu, qkvBindings(s)),
    run(gpu, x) {
      const { B, Tq, Tk, H, Dqk, Dv, flags, masks } = ladderArgs(x);
      const out = empty(gpu, [B, Tq, H * Dv]);
      const params = { batches: B, tq: Tq, tk: Tk, heads: H, dqk: Dqk, dv: Dv, flags, scale: 1 / Math.sqrt(Dqk) };
      gpu.dispatch(ladder_attention_2_online, { q: x.q, k: x.k, v: x.v, ...masks, out, params }, Math.ceil((B * H * Tq) / shaderConst(ladder_attention_2_online, 'WG')));
      return out;
    },
    traffic(_, s) {
      // per key: Dqk of q, Dqk of k, Dv of v, Dv of the accumulator read (but the first) and Dv written; then the normalising pass
      const read = s.Tk * (2 * s.Dqk + 2 * s.Dv);
      return { read: (read / s.Dv) * F32, written: (s.Tk + 1) * F32 };
    },
  },
  {
    id: 'register',
    title: 'register tiles (shipped main, no splits)',
    files: ['kernels/attention.wgsl'],
    entry: 'main',
    changes: 'an invocation owns 8 queries and walks 32-key blocks: each k load serves 8 queries, each q load 16 keys; the accumulator is touched once per block',
    cannot: () => null,
    run: (gpu, x) => shippedAttention(gpu, x, 'portable', 1),
    traffic: (_, s) => registerTraffic(s),
  },
  {
    id: 'splits',
    title: 'key splits + merge (shipped main)',
    files: ['kernels/attention.wgsl'],
    entry: 'main',
    changes: 'few queries over many keys: the keys are split across workgroups, each keeping its own softmax state, and a merge pass combines them; the kernel as shipped',
    cannot: () => null,
    run: (gpu, x) => shippedAttention(gpu, x, 'portable', 0),
    // the merge pass adds (splits + 1) values per output, at most 17: left out
    traffic: (_, s) => registerTraffic(s),
  },
  {
    id: 'subgroups',
    title: 'subgroups (shipped main_subgroups)',
    files: ['kernels/attention.subgroups.wgsl', 'kernels/attention.wgsl'],
    entry: 'main_subgroups',
    changes: "a subgroup's lanes share 8 queries and split the keys (scores) and the channels (values); subgroupMax/Add combine the softmax, subgroupShuffle passes the probabilities",
    cannot: (gpu) => (gpu.features.subgroups ? null : 'this adapter has no subgroups feature'),
    run: (gpu, x) => shippedAttention(gpu, x, 'subgroups', 0),
    traffic(gpu, s) {
      // n lanes: per block of n x KPL keys and a round of SQ queries, 16 Dqk score loads per lane;
      // per OC x n channels, SQ x OC accumulator reads and writes per lane and OC value loads per key
      const n = Math.max(1, gpu.device.adapterInfo?.subgroupMinSize ?? 32);
      const SQ = ac('SQ'), OC = ac('OC'), KPL = sourceConst('kernels/attention.subgroups.wgsl', 'SG_KPL');
      const blocks = Math.ceil(s.Tk / (n * KPL));
      const passes = Math.ceil(s.Dv / (n * OC));
      const perQuery = (blocks * (n * (SQ + KPL) * s.Dqk + passes * n * (SQ * OC + n * KPL * OC))) / SQ;
      return { read: (perQuery / s.Dv) * F32, written: ((blocks * passes * n * OC) / s.Dv) * F32 };
    },
  },
];

/** Runs the shipped matmul with its variant forced, restoring the knob after. */
function shippedMatmul(gpu: Gpu, x: MatmulInputs, variant: MatmulVariant): Tensor {
  const saved = matmulTesting.variant;
  matmulTesting.variant = variant;
  try {
    return matmul(gpu, x.a, x.b);
  } finally {
    matmulTesting.variant = saved;
  }
}

const mc = (name: string) => sourceConst('kernels/matmul.wgsl', name);

function ladderMatmul(shader: typeof ladder_matmul_1_naive) {
  return (gpu: Gpu, x: MatmulInputs) => {
    const [M, K] = x.a.shape, N = x.b.shape[1];
    const out = empty(gpu, [M, N]);
    const WG = shaderConst(shader, 'WG');
    gpu.dispatch(shader, { a: x.a, b: x.b, out, params: { m: M, n: N, k: K } }, [Math.ceil(N / WG), Math.ceil(M / WG)]);
    return out;
  };
}

export const matmulBindings = (s: MatmulShape): [string, number][] => [['a', s.M * s.K * F32], ['b', s.K * s.N * F32], ['out', s.M * s.N * F32]];
/** Bytes per output when each output element costs `perK` loads per step of k, and one store. */
const perK = (loads: number) => (s: MatmulShape) => ({ read: loads * s.K * F32, written: F32 });

export const MATMUL_RUNGS: MatmulRung[] = [
  {
    id: 'naive',
    title: 'an output per invocation',
    files: ['kernels/ladder/matmul/1_naive.wgsl'],
    changes: 'the textbook loop: two loads per multiply-add',
    cannot: (gpu, s) => overLimit(gpu, matmulBindings(s)),
    run: ladderMatmul(ladder_matmul_1_naive),
    traffic: (_, s) => perK(2)(s),
  },
  {
    id: 'workgroup',
    title: 'workgroup-memory tiles',
    files: ['kernels/ladder/matmul/2_tiled.wgsl'],
    changes: 'a workgroup stages 16 x 16 tiles of a and b in workgroup memory: each value fetched serves 16 multiply-adds (two barriers per step)',
    cannot: (gpu, s) => overLimit(gpu, matmulBindings(s)),
    run: ladderMatmul(ladder_matmul_2_tiled),
    traffic: (gpu, s) => perK(2 / shaderConst(ladder_matmul_2_tiled, 'WG'))(s),
  },
  {
    id: 'blocked',
    title: 'register blocking (shipped main)',
    files: ['kernels/matmul.wgsl'],
    entry: 'main',
    changes: 'no workgroup memory: each invocation keeps an 8 x 8 block of outputs in registers; per k, 16 loads feed 64 multiply-adds',
    cannot: () => null,
    run: (gpu, x) => shippedMatmul(gpu, x, 'blocked'),
    traffic: (_, s) => perK((mc('TILE_M') + mc('TILE_N')) / (mc('TILE_M') * mc('TILE_N')))(s),
  },
  {
    id: 'vec4',
    title: 'vec4 loads (shipped main_vec4)',
    files: ['kernels/matmul.wgsl'],
    entry: 'main_vec4',
    changes: 'the register tile read as vec4s (8 x 16 outputs): one load brings four values; lavapipe pays its per-lane load cost once per vec4',
    // matmul.ts runs 'blocked' instead where vec4 rows do not fit
    cannot: (_, s) => (s.K % 4 || s.N % 4 ? `needs K and N multiples of 4 (K=${s.K}, N=${s.N}); matmul.ts runs 'blocked' here` : s.N < mc('V_COLS') ? `needs N >= ${mc('V_COLS')}` : null),
    run: (gpu, x) => shippedMatmul(gpu, x, 'vec4'),
    traffic: (_, s) => perK((mc('V_ROWS') + mc('V_COLS')) / (mc('V_ROWS') * mc('V_COLS')))(s),
  },
  {
    id: 'unrolled',
    title: 'unrolled (shipped main_unrolled)',
    files: ['kernels/matmul.wgsl'],
    entry: 'main_unrolled',
    changes: "8 rows x one vec4 of columns in named registers, no inner loops: for compilers that do not unroll (SwiftShader)",
    cannot: () => null,
    run: (gpu, x) => shippedMatmul(gpu, x, 'unrolled'),
    traffic: (_, s) => perK((mc('U_ROWS') + 4) / (mc('U_ROWS') * 4))(s),
  },
  {
    id: 'tiled',
    title: 'workgroup + register tiles (shipped main_tiled)',
    files: ['kernels/matmul.wgsl'],
    entry: 'main_tiled',
    changes: "both reuses at once: 64 x 64 tiles staged in workgroup memory, 4 x 4 outputs per invocation from them; the GPUs' default",
    cannot: () => null,
    run: (gpu, x) => shippedMatmul(gpu, x, 'tiled'),
    // per TK steps of k an invocation stages TILE_LOADS values of each slab for TR x TR outputs
    traffic: (_, s) => perK((2 * (mc('TB') * mc('TK')) / (mc('TW') * mc('TW'))) / (mc('TK') * mc('TR') * mc('TR')))(s),
  },
];
