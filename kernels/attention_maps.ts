// attentionMaps: the softmax attention probabilities of chosen query rows
// (kernels/attention_maps.wgsl), the numbers kernels/attention.ts folds
// into its output without ever storing them.
//
//   q [B, Tq, H*Dqk], k [B, Tk, H*Dqk], rows (query indices, R of them)
//     -> probs [B, H, R, Tk], probs[b, h, r, :] = softmax(q[b, rows[r], h] . k[b, :, h] / sqrt(Dqk))
//
// Same scale, masking and state as attention(): for the same q, k and mask
// these are the probabilities attention() applies to the values. Per batch:
// one scores pass per key slice (keys too many for one binding), one merge
// pass, one normalise pass per key slice. Optional: nothing imports this
// module but code that asked for maps (perceiver/attention_maps.ts loads it
// with import()), so it costs a task bundle nothing until it is used.

import { empty, upload, type Gpu, type Tensor } from '../engine/index.ts';
import { shaderConst } from '../engine/shader.ts';
import { attention_maps as shader } from './attention_maps.gen.ts'; // its own generated module (kernels/build.ts ON_DEMAND)
import { bindingLimit, window } from './slicing.ts';

export interface AttentionMapsOptions {
  heads: number;
  /** i32 [B, Tk], 1 = attend (as attention()'s keyMask) */
  keyMask?: Tensor;
}

// Must match attention_maps.wgsl.
const MODE_SCORES = 0;
const MODE_MERGE = 1;
const MODE_NORMALISE = 2;
const FLAG_KEY_MASK = 1;

export function attentionMaps(gpu: Gpu, q: Tensor, k: Tensor, rows: readonly number[], opts: AttentionMapsOptions): Tensor {
  const { heads: H, keyMask } = opts;
  const fail = (msg: string): never => {
    throw new Error(`attentionMaps(q=${q}, k=${k}, heads=${H}): ${msg}`);
  };
  for (const [n, t] of [['q', q], ['k', k]] as const) {
    if (t.dtype !== 'f32') fail(`${n} must be f32, got ${t.dtype}`);
    if (t.shape.length !== 3) fail(`${n} must be [B, T, channels]`);
  }
  const [B, Tq, C] = q.shape;
  const Tk = k.shape[1];
  if (k.shape[0] !== B || k.shape[2] !== C) fail('q and k must have the same batch size and channels');
  if (!Number.isInteger(H) || H < 1 || C % H !== 0 || C === 0) fail('the channel count must be a positive multiple of heads');
  if (Tk === 0) fail('needs at least one key');
  const R = rows.length;
  if (R === 0) fail('no rows asked for');
  if (R > gpu.limits.maxComputeWorkgroupsPerDimension) fail(`more than ${gpu.limits.maxComputeWorkgroupsPerDimension} rows at a time`);
  for (const r of rows) if (!Number.isInteger(r) || r < 0 || r >= Tq) fail(`row ${r} is not a query index in [0, ${Tq})`);
  if (keyMask && (keyMask.dtype !== 'i32' || keyMask.shape.join() !== `${B},${Tk}`)) fail(`keyMask must be i32 [${B}, ${Tk}], got ${keyMask}`);
  const Dqk = C / H;

  const WG = shaderConst(shader, 'WG'), SK = shaderConst(shader, 'SK'), SR = shaderConst(shader, 'SR');
  const align = gpu.limits.minStorageBufferOffsetAlignment;
  const room = Math.floor((bindingLimit(gpu) - align) / 4); // elements a window may hold
  const slots = Math.ceil(Tk / SK);
  const stateElems = 2 * H * R * (1 + slots);
  // per batch: the probabilities, q and the softmax state must each fit one binding
  if (Math.max(H * R * Tk, Tq * C, stateElems) > room) fail(`${R} rows over ${Tk} keys do not fit one ${bindingLimit(gpu)}-byte binding: ask for fewer rows at a time`);
  let keysPerSlice = Math.floor(room / C);
  keysPerSlice -= keysPerSlice % SK; // slices start on an SK boundary (partial slots are per SK keys)
  if (keysPerSlice < SK) fail(`${SK} keys of ${C} channels do not fit one binding`);

  const out = empty(gpu, [B, H, R, Tk]);
  const rowIds = upload(gpu, Int32Array.from(rows), [R], 'i32');
  const state = empty(gpu, [stateElems]);
  for (let b = 0; b < B; b++) {
    const qw = window(q, b * Tq * C, Tq * C);
    const pw = window(out, b * H * R * Tk, H * R * Tk);
    const slices: [number, number][] = [];
    for (let k0 = 0; k0 < Tk; k0 += keysPerSlice) slices.push([k0, Math.min(Tk, k0 + keysPerSlice)]);
    const pass = (mode: number, [k0, k1]: [number, number]) => {
      const kw = window(k, (b * Tk + k0) * C, (k1 - k0) * C);
      const mw = keyMask ? window(keyMask, b * Tk + k0, k1 - k0) : null;
      const args = {
        q: qw.view, k: kw.view, rows: rowIds, key_mask: mw?.view ?? rowIds, probs: pw.view, state,
        params: {
          rows: R, tk: k1 - k0, tk_all: Tk, key0: k0, slots, heads: H, dqk: Dqk,
          q_off: qw.off, k_off: kw.off, km_off: mw?.off ?? 0, r_off: 0, p_off: pw.off,
          scale: 1 / Math.sqrt(Dqk), mode, flags: keyMask ? FLAG_KEY_MASK : 0,
        },
      };
      const keyBlocks = Math.ceil((k1 - k0) / (WG * SK));
      const grid: [number, number, number] = mode === MODE_MERGE ? [Math.ceil((H * R) / WG), 1, 1] : [keyBlocks, mode === MODE_SCORES ? Math.ceil(R / SR) : R, H];
      gpu.dispatch(shader, args, grid);
    };
    for (const s of slices) pass(MODE_SCORES, s);
    pass(MODE_MERGE, slices[0]);
    for (const s of slices) pass(MODE_NORMALISE, s);
  }
  rowIds.dispose();
  state.dispose();
  return out;
}
