// attention: fused multi-head softmax attention, flash style (kernels/attention.wgsl).
//
//   q [B, Tq, H*Dqk], k [B, Tk, H*Dqk], v [B, Tk, H*Dv] -> out [B, Tq, H*Dv]
//
// Heads are the outer factor of the channel dim (channel c of head h is
// h*D + c). Scale 1/sqrt(Dqk). Masks are i32 [B, Tk] / [B, Tq] (1 = attend);
// masked logits are -1e30 before the softmax and queries with every key
// masked come out as zeros, as in DeepMind's Perceiver.
//
// Large inputs: when q, k, v, the output or a mask would exceed
// maxStorageBufferBindingSize (182528 keys of 322 channels is 235 MB), each
// batch runs as dispatches over slices of queries and of keys. The key slices
// of one query slice carry the online-softmax state: the unnormalised output
// stays in `out`, the running max and sum go through a scratch buffer, and the
// last slice normalises. Every window is bound at an aligned byte offset with
// the remainder passed as an element offset.
//
// Few queries over many keys (the encoder's cross-attention): the keys are
// also split across workgroups of one dispatch, each split keeping its own
// softmax state, and a second dispatch merges them (see attention.wgsl).
//
// Two kernels compute the same thing: attention.wgsl's `main` (portable: one
// invocation, 8 queries) and, where the adapter has `subgroups`,
// attention.subgroups.wgsl's `main_subgroups` (a subgroup's lanes share their
// queries and split keys and channels). Both keep the same state, so slices,
// splits and the merge pass (always the portable `main`) are shared. Where
// both can run on a hardware GPU, the tuner (engine/tune.ts) times them per shape once the
// application calls tunePending; until then `attentionKernel` gives the
// adapter's default.

import { Tensor, empty } from '../engine/index.ts';
import type { Gpu, ShaderInfo, DispatchOptions } from '../engine/index.ts';
import { attention as attentionShader, attentionSubgroups } from './shaders.gen.ts';
import { pow2, tunedChoice, type TuneJob } from '../engine/tune.ts';
import { shaderConst as constOf } from '../engine/shader.ts';
import { bindingLimit, window } from './slicing.ts';

export interface AttentionOptions {
  heads: number;
  keyMask?: Tensor; // i32 [B, Tk], 1 = attend, 0 = masked
  queryMask?: Tensor; // i32 [B, Tq], 1 = real query, 0 = padded query
}

/**
 * Testing knobs (0 = automatic): explicit key / query slice sizes, to run the
 * sliced path on small shapes (a smaller binding limit: slicing.ts
 * setBindingLimitForTests). Leave at 0 in real use.
 */
export const attentionTesting = {
  keysPerSlice: 0, queriesPerSlice: 0, splits: 0,
  /** force a kernel ('' = the adapter's default, see attentionKernel) */
  kernel: '' as '' | AttentionKernel,
  /** the subgroup kernel's QUERY_STRIDE (0 = from the adapter's subgroup size) */
  queryStride: 0,
  /** also tune on CPU emulations (normally hardware GPUs only) */
  tuneOnEmulation: false,
};

export type AttentionKernel = 'portable' | 'subgroups';

/**
 * The kernel attention runs on this adapter until the tuner (engine/tune.ts)
 * has timed both at a shape: `subgroups` where the device has the subgroups
 * feature and is a hardware GPU; `portable` elsewhere, including the CPU
 * emulations (fallback adapters: lavapipe, SwiftShader), where it measured
 * faster (README). A forced choice (attentionTesting.kernel) is checked
 * against the device and is never tuned.
 */
export function attentionKernel(gpu: Gpu): AttentionKernel {
  const forced = attentionTesting.kernel;
  if (forced === 'subgroups' && !gpu.features.subgroups) throw new Error('attention: this device has no subgroups');
  return forced || (gpu.features.subgroups && !gpu.features.emulated ? 'subgroups' : 'portable');
}

/**
 * Parallel key splits for few queries over many keys: split the keys until
 * there are about `targetWorkgroups` workgroups (TARGET_WORKGROUPS_CPU on a
 * CPU emulation, whose few cores are busy with that many, TARGET_WORKGROUPS_GPU
 * on a GPU, which needs thousands of warps in flight), keeping at least
 * MIN_SPLIT_KEYS keys per split (and at most the shader's MAX_SPLITS).
 */
const TARGET_WORKGROUPS_CPU = 64;
const TARGET_WORKGROUPS_GPU = 1024;
const MIN_SPLIT_KEYS = 512;

/** A constant of the shaders (attention.subgroups holds attention's code and its own). */
const shaderConst = (name: string) => constOf(attentionSubgroups, name);

/** The kernel's shader and dispatch options (entry point, override constants), queries per workgroup, split target. */
interface Plan extends DispatchOptions {
  shader: ShaderInfo;
  blockQ: number;
  targetWorkgroups: number;
}

/**
 * How attention runs on this adapter. The subgroup kernel gets QUERY_STRIDE
 * = subgroupMinSize / SQ (rounded down to a power of two in [1, SG_WG], so it
 * divides SG_WG), so that one subgroup brings one round of SQ queries
 * (attention.subgroups.wgsl).
 */
function kernelPlan(gpu: Gpu, kernel: AttentionKernel): Plan {
  const targetWorkgroups = gpu.features.emulated ? TARGET_WORKGROUPS_CPU : TARGET_WORKGROUPS_GPU;
  if (kernel === 'portable') return { shader: attentionShader, blockQ: shaderConst('BLOCK_Q'), targetWorkgroups };
  const wg = shaderConst('SG_WG');
  const perRound = (gpu.device.adapterInfo?.subgroupMinSize ?? 0) / shaderConst('SQ');
  const stride = attentionTesting.queryStride || Math.min(wg, 2 ** Math.max(0, Math.floor(Math.log2(perRound))));
  return { shader: attentionSubgroups, entryPoint: 'main_subgroups', blockQ: wg / stride, constants: { QUERY_STRIDE: stride }, targetWorkgroups };
}

/** Queries and keys timed per candidate when tuning (at most; one batch): a few workgroups and key splits. */
const TUNE_QUERIES = 256;
const TUNE_KEYS = 2048;

interface Shape { B: number; Tq: number; Tk: number; H: number; Dqk: number; Dv: number }

/** Operands of the shape, cut (values: whatever the pooled buffers hold), and one run per kernel. */
function tuneJob(gpu: Gpu, s: Shape): TuneJob {
  const Tq = Math.min(s.Tq, TUNE_QUERIES), Tk = Math.min(s.Tk, TUNE_KEYS);
  const q = empty(gpu, [1, Tq, s.H * s.Dqk]), k = empty(gpu, [1, Tk, s.H * s.Dqk]), v = empty(gpu, [1, Tk, s.H * s.Dv]);
  const run = (kernel: AttentionKernel) => () => fused(gpu, q, k, v, { heads: s.H }, kernel).dispose();
  return { candidates: { portable: run('portable'), subgroups: run('subgroups') }, dispose: () => [q, k, v].forEach((t) => t.dispose()) };
}

// Must match attention.wgsl.
const FLAG_FIRST = 1;
const FLAG_LAST = 2;
const FLAG_KEY_MASK = 4;
const FLAG_QUERY_MASK = 8;
const FLAG_SPLIT = 16;
const FLAG_MERGE = 32;

export function attention(gpu: Gpu, q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Tensor {
  return fused(gpu, q, k, v, opts);
}

/** attention with the kernel given, or (undefined) forced, tuned or the adapter's default. */
function fused(gpu: Gpu, q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions, kernel?: AttentionKernel): Tensor {
  const { heads: H, keyMask, queryMask } = opts;
  const what = () =>
    `attention(q=${q}, k=${k}, v=${v}, heads=${H}` +
    `${keyMask ? `, keyMask=${keyMask}` : ''}${queryMask ? `, queryMask=${queryMask}` : ''})`;
  const fail = (msg: string): never => {
    throw new Error(`${what()}: ${msg}`);
  };
  for (const [n, t] of [['q', q], ['k', k], ['v', v]] as const) {
    if (t.dtype !== 'f32') fail(`${n} must be f32, got ${t.dtype}`);
    if (t.shape.length !== 3) fail(`${n} must be [B, T, channels]`);
  }
  if (!Number.isInteger(H) || H < 1) fail('heads must be a positive integer');
  const [B, Tq, Cqk] = q.shape;
  const [, Tk, Ck] = k.shape;
  const Cv = v.shape[2];
  if (k.shape[0] !== B || v.shape[0] !== B) fail('q, k and v must have the same batch size');
  if (v.shape[1] !== Tk) fail('k and v must have the same number of keys');
  if (Ck !== Cqk) fail('q and k must have the same number of channels');
  if (Cqk === 0) fail('q and k need at least one channel');
  if (Cqk % H !== 0 || Cv % H !== 0) fail(`the channel counts must be multiples of heads=${H}`);
  for (const [n, m, T] of [['keyMask', keyMask, Tk], ['queryMask', queryMask, Tq]] as const) {
    if (!m) continue;
    if (m.dtype !== 'i32' && m.dtype !== 'u32') fail(`${n} must be i32, got ${m.dtype}`);
    if (m.shape.length !== 2 || m.shape[0] !== B || m.shape[1] !== T) fail(`${n} must be [${B}, ${T}]`);
  }
  const Dqk = Cqk / H, Dv = Cv / H;
  if (!kernel) {
    kernel = attentionKernel(gpu);
    // Timed only on hardware GPUs: on the CPU emulations the portable kernel
    // measured faster at every model shape (README), and timing the encoder
    // shape there costs tens of seconds at first use.
    if (!attentionTesting.kernel && gpu.features.subgroups && (!gpu.features.emulated || attentionTesting.tuneOnEmulation)) {
      const s = { B: pow2(B), Tq: pow2(Tq), Tk: pow2(Tk), H, Dqk, Dv };
      const chosen = tunedChoice(gpu, `attention ${Object.values(s)}`, (g) => tuneJob(g, s));
      if (chosen === 'portable' || chosen === 'subgroups') kernel = chosen;
    }
  }
  const plan = kernelPlan(gpu, kernel);
  const BLOCK_Q = plan.blockQ, BLOCK_K = shaderConst('BLOCK_K');
  const WG = shaderConst('WG'), MAX_SPLITS = shaderConst('MAX_SPLITS');
  const out = empty(gpu, [B, Tq, Cv]);
  if (B * Tq * Cv === 0) return out;
  if (Tk === 0) fail('needs at least one key');

  const limitBytes = bindingLimit(gpu);
  // the most elements a window may hold after rounding its start down to the alignment
  const maxElems = Math.floor(limitBytes / 4) - gpu.limits.minStorageBufferOffsetAlignment / 4;
  const maxGrid = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (H > maxGrid) fail(`more than ${maxGrid} heads`);

  // Per-batch element counts, and the widest row of any binding.
  const qE = Tq * Cqk, kE = Tk * Cqk, vE = Tk * Cv, oE = Tq * Cv;
  const rowElems = Math.max(Cqk, Cv);
  if (rowElems > maxElems) fail(`one row needs ${rowElems * 4} bytes, over the ${limitBytes}-byte binding limit`);
  const forced = attentionTesting.keysPerSlice > 0 || attentionTesting.queriesPerSlice > 0;
  const wholeBatch = !forced && Math.max(qE, kE, vE, oE, Tq, Tk) <= maxElems && Math.ceil(Tq / BLOCK_Q) <= maxGrid;

  interface Piece { b0: number; nb: number; t0: number; nt: number; }
  const pieces: { queries: Piece; keySlices: [number, number][] }[] = [];
  if (wholeBatch) {
    const nbMax = Math.max(1, Math.min(Math.floor(maxElems / Math.max(qE, kE, vE, oE, Tq, Tk)), Math.floor(maxGrid / H)));
    for (let b0 = 0; b0 < B; b0 += nbMax) {
      pieces.push({ queries: { b0, nb: Math.min(nbMax, B - b0), t0: 0, nt: Tq }, keySlices: [[0, Tk]] });
    }
  } else {
    // query slices: q and out rows, and the carried (m, l) of every head, each within one binding
    let qs = attentionTesting.queriesPerSlice || Math.min(Math.floor(maxElems / Math.max(rowElems, 2 * H)), maxGrid * BLOCK_Q);
    let ks = attentionTesting.keysPerSlice || Math.floor(maxElems / rowElems);
    if (qs > BLOCK_Q && !attentionTesting.queriesPerSlice) qs -= qs % BLOCK_Q;
    if (ks > BLOCK_K && !attentionTesting.keysPerSlice) ks -= ks % BLOCK_K;
    const keySlices: [number, number][] = [];
    for (let k0 = 0; k0 < Tk; k0 += ks) keySlices.push([k0, Math.min(Tk, k0 + ks)]);
    for (let b0 = 0; b0 < B; b0++) {
      for (let t0 = 0; t0 < Tq; t0 += qs) pieces.push({ queries: { b0, nb: 1, t0, nt: Math.min(qs, Tq - t0) }, keySlices });
    }
  }

  const scale = 1 / Math.sqrt(Dqk);
  const maskFlags = (keyMask ? FLAG_KEY_MASK : 0) | (queryMask ? FLAG_QUERY_MASK : 0);
  for (const { queries: { b0, nb, t0, nt }, keySlices } of pieces) {
    // Rows [t0, t0 + nt) of batches [b0, b0 + nb): with several batches the rows are whole.
    const rows = (t: Tensor, T: number, C: number, r0: number, r1: number) =>
      window(t, (b0 * T + r0) * C, ((nb - 1) * T + r1 - r0) * C);
    const qw = rows(q, Tq, Cqk, t0, t0 + nt);
    const ow = rows(out, Tq, Cv, t0, t0 + nt);
    const qmw = queryMask ? rows(queryMask, Tq, 1, t0, t0 + nt) : null;
    const zs = nb * H;
    const queryBlocks = Math.ceil(nt / BLOCK_Q);

    // Parallel key splits (within each key slice) when there are few workgroups.
    const sliceKeys = Math.max(...keySlices.map(([k0, k1]) => k1 - k0));
    let splits = 1;
    if (Math.ceil(nt / WG) <= maxGrid) {
      splits = attentionTesting.splits ||
        Math.min(MAX_SPLITS, Math.ceil(plan.targetWorkgroups / (queryBlocks * zs)), Math.floor(sliceKeys / MIN_SPLIT_KEYS));
      splits = Math.max(1, Math.min(splits, MAX_SPLITS, sliceKeys));
      // the carried and the splits' states must fit one binding
      while (splits > 1 && Math.max(2 * zs * nt * (1 + splits), splits * zs * nt * Dv) > maxElems) splits--;
    }
    let splitKeys = 0;
    if (splits > 1) {
      splitKeys = Math.ceil(sliceKeys / splits);
      if (!attentionTesting.splits) splitKeys = Math.ceil(splitKeys / BLOCK_K) * BLOCK_K;
    }
    // (m, l) carried between key slices and per split; the splits' accumulators
    const stateElems = 2 * zs * nt * (1 + splits);
    if (stateElems > maxElems) fail(`the online-softmax state of ${nt} queries needs ${stateElems * 4} bytes, over the binding limit`);
    const state = empty(gpu, [stateElems]);
    const partial = splits > 1 ? empty(gpu, [splits * zs * nt * Dv]) : null;

    keySlices.forEach(([k0, k1], s) => {
      const kw = rows(k, Tk, Cqk, k0, k1);
      const vw = rows(v, Tk, Cv, k0, k1);
      const kmw = keyMask ? rows(keyMask, Tk, 1, k0, k1) : null;
      // splits of this slice: every split must have keys
      const sliceSplits = splits > 1 ? Math.ceil((k1 - k0) / splitKeys) : 1;
      // FLAG_SPLIT writes the splits' accumulators to `partial` (bound as out);
      // FLAG_MERGE reads them back (bound as v) and writes out.
      const args = (flags: number) => ({
        q: qw.view, k: kw.view,
        v: flags & FLAG_MERGE ? partial! : vw.view,
        query_mask: qmw?.view ?? qw.view,
        key_mask: kmw?.view ?? qw.view,
        out: flags & FLAG_SPLIT ? partial! : ow.view,
        state,
        params: {
          tq: nt, tk: k1 - k0, heads: H, dqk: Dqk, dv: Dv,
          q_off: qw.off, q_bs: qE,
          k_off: kw.off, k_bs: kE,
          v_off: vw.off, v_bs: vE,
          o_off: ow.off, o_bs: oE,
          qm_off: qmw?.off ?? 0, qm_bs: Tq,
          km_off: kmw?.off ?? 0, km_bs: Tk,
          split_keys: splitKeys, splits: sliceSplits, zs,
          scale,
          flags: maskFlags | flags,
        },
      });
      const order = (s === 0 ? FLAG_FIRST : 0) | (s === keySlices.length - 1 ? FLAG_LAST : 0);
      if (sliceSplits > 1) {
        gpu.dispatch(plan.shader, args(FLAG_SPLIT), [queryBlocks, sliceSplits, zs], plan);
        gpu.dispatch(attentionShader, args(FLAG_MERGE | order), [Math.ceil(nt / WG), 1, zs]);
      } else {
        gpu.dispatch(plan.shader, args(order), [queryBlocks, 1, zs], plan);
      }
    });
    state.dispose();
    partial?.dispose();
  }
  return out;
}
