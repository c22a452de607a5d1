// attention: fused multi-head softmax attention, flash style.
//
//   out[b, t, h, :] = sum_T softmax_T(scale * q[b, t, h, :] . k[b, T, h, :]) v[b, T, h, :]
//
// WHAT. For every batch b, head h and query t: the softmax over all keys T of
// the scaled dot products (scale = 1/sqrt(Dqk), passed in), applied to the
// values. Masking follows DeepMind's Perceiver exactly: the pair (t, T) is
// attended when query_mask[b, t] AND key_mask[b, T]; a masked logit is set to
// MASKED_LOGIT (-1e30, not -inf) before the softmax; a query whose every key is
// masked (including a query whose own mask is 0) comes out as exactly zero.
//
// LAYOUT. q [B, Tq, H*Dqk], k [B, Tk, H*Dqk], v [B, Tk, H*Dv], out [B, Tq, H*Dv],
// row-major. Heads are the OUTER factor of the channel dim: channel c of head h
// is at h*D + c, exactly what a linear layer produces, so nothing is
// transposed: head h of a row is the contiguous run [h*D, (h+1)*D). The wrapper
// (kernels/attention.ts) binds windows of the tensors and passes element
// offsets (x_off) and batch strides (x_bs). Masks are i32 [B, T], 1 = attend.
//
// ONLINE SOFTMAX (why the Tq x Tk score matrix never exists). softmax(s) . v
// needs the max and the sum over ALL keys, but both can be built one block of
// keys at a time. Keep per query a running max m, a running sum l of exp(s - m)
// and an unnormalised accumulator o = sum exp(s - m) v. For a new block of
// logits s_j with values v_j:
//     m'    = max(m, max_j s_j)
//     alpha = exp(m - m')             rescales everything summed under the old max
//     p_j   = exp(s_j - m')
//     l'    = l * alpha + sum_j p_j
//     o'    = o * alpha + sum_j p_j v_j
// and at the end out = o / l. Every exp() gets an argument <= 0, so nothing
// overflows, and the result is the ordinary softmax (a masked logit of -1e30
// gets p = exp(-1e30 - m') = 0 as soon as one real logit has been seen).
// Starting from m = -huge, l = 0, o = 0, a row that only ever saw masked
// logits ends with m = -1e30: that is how fully masked rows are detected and
// written as zeros.
//
// The state (m, l, o) of two disjoint sets of keys also merges exactly:
//     m = max(m1, m2),  l = l1 e^(m1-m) + l2 e^(m2-m),  o = o1 e^(m1-m) + o2 e^(m2-m)
// which the wrapper uses in two ways:
//   * key slices in sequence (keys too many for one binding): one dispatch per
//     slice; o stays in `out` and (m, l) in `state` between dispatches.
//     FLAG_FIRST starts from scratch; FLAG_LAST divides by l (the normalise
//     step) instead of saving (m, l).
//   * key splits in parallel (few queries over many keys, where one workgroup
//     per block of queries would leave the device idle): the grid's y index
//     picks a split of the keys, each split writes its own (m, l, o) to
//     `state` (FLAG_SPLIT; for that dispatch the wrapper binds a scratch
//     buffer as `out`, so each split's o lands in its own rows), and a second
//     dispatch of this same shader (FLAG_MERGE; the splits' o bound as `v`)
//     merges the splits, and the state carried from earlier slices, with the
//     formula above (and normalises after the last slice).
//
// TILING. One invocation owns SQ = 8 queries of one (batch, head); a workgroup
// is WG = 32 invocations, i.e. BLOCK_Q = 256 consecutive queries; the grid is
// (query blocks, key splits, batches * heads). No workgroup memory and no
// barriers: on CPU emulation (lavapipe) a barrier turns the shader into
// coroutines and costs more than it saves. Each invocation walks the keys in
// blocks of SK = 32:
//   1. scores: the SQ x SK logit tile in registers, computed in SUB = 16-key
//      halves (8 x 16 accumulators; per channel d: 8 + 16 loads, 128
//      multiply-adds), looping over all Dqk channels, so any Dqk works.
//   2. softmax: mask, block max, alpha and p_j, all in registers.
//   3. values: o = o * alpha + p . v in chunks of OC = 4 channels, so any Dv
//      works (the last chunk partial). The accumulator lives in `out` between
//      blocks: read, rescaled, 32 keys' worth of p . v added, written back
//      (and divided by l in the very last block). That costs one read and one
//      write per output element per 32 keys, and keeps the registers
//      independent of the head dimension.
// Queries or keys past the end are clamped when loading (they read valid
// memory) and dropped afterwards, so any Tq and Tk work.
//
// SUBGROUPS. attention.subgroups.wgsl extends this file with a second entry
// point, `main_subgroups`, for adapters with the subgroups feature: the same
// results and state, with a subgroup's lanes sharing queries and splitting
// keys and channels. It reuses everything declared here, so names and
// constants (SQ, OC, the flags, the state helpers) are shared by both.
//
// LADDER. This kernel is rungs 3 and 4 of the attention ladder
// (docs/attention.md, `npm run bench:ladder -- attention`). From rung 2
// (kernels/ladder/attention/2_online.wgsl: one query per invocation, one key
// at a time) it changes the TILING above: 8 queries per invocation and keys
// in blocks of 32, so each loaded key serves 8 queries, each loaded query
// value 16 keys, and the accumulator in `out` is touched once per block
// instead of once per key (rung 3); then the parallel key splits and the
// merge pass for few queries over many keys (rung 4).
//
// Note: arrays declared inside a loop are initialised explicitly
// (`var s = array<...>()`). WGSL says a bare `var s: T;` is zeroed each time the
// declaration runs, but Dawn on lavapipe zeroes it only once, so a bare
// declaration would carry the previous iteration's sums.

struct Params {
  tq: u32, tk: u32, heads: u32, dqk: u32, dv: u32,
  q_off: u32, q_bs: u32,
  k_off: u32, k_bs: u32,
  v_off: u32, v_bs: u32,
  o_off: u32, o_bs: u32,
  qm_off: u32, qm_bs: u32,
  km_off: u32, km_bs: u32,
  // parallel key splits: keys per split, number of splits, grid z extent
  split_keys: u32, splits: u32, zs: u32,
  scale: f32,
  flags: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> query_mask: array<i32>;
@group(0) @binding(4) var<storage, read> key_mask: array<i32>;
// The result; with FLAG_SPLIT the splits' accumulators [split][batch*head][query][Dv].
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
// Online-softmax (m, l) pairs, two regions (see the state_* helpers):
//   carried [batch*head][query]          between sequential key slices,
//   split   [split][batch*head][query]   one per parallel key split.
@group(0) @binding(6) var<storage, read_write> state: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

const WG = 32u;          // invocations per workgroup
const SQ = 8u;           // queries per invocation
const SK = 32u;          // keys per block
const SUB = 16u;         // keys per pass of the score tile
const OC = 4u;           // output channels per chunk
const BLOCK_Q = 256u;    // WG * SQ: queries per workgroup
const BLOCK_K = 32u;     // SK, for the wrapper
const MAX_SPLITS = 16u;  // most parallel key splits the merge handles

const FLAG_FIRST = 1u;       // no saved state: start from m = -huge, l = 0, o = 0
const FLAG_LAST = 2u;        // divide by l and write the result instead of saving (m, l)
const FLAG_KEY_MASK = 4u;
const FLAG_QUERY_MASK = 8u;
const FLAG_SPLIT = 16u;      // this dispatch computes one split of the keys per grid row y
const FLAG_MERGE = 32u;      // this dispatch merges the splits' states into `out`

const MASKED_LOGIT = -1e30;  // DeepMind's value for masked logits
const NEG_HUGE = -3.0e38;    // "minus infinity" for the running max (finite: no inf - inf)
const ALL_MASKED = -5e29;    // a final max at or below this means every key was masked

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  if ((params.flags & FLAG_MERGE) != 0u) {
    merge_splits(wid, li);
    return;
  }
  let p = params;
  let z = wid.z;                 // batch * heads + head, within this dispatch
  let b = z / p.heads;
  let h = z % p.heads;
  let t0 = (wid.x * WG + li) * SQ;  // this invocation's first query
  let qk_stride = p.heads * p.dqk;  // elements per row of q and k
  let v_stride = p.heads * p.dv;    // elements per row of v and out
  let split = (p.flags & FLAG_SPLIT) != 0u;
  let first = (p.flags & FLAG_FIRST) != 0u || split;
  let last = (p.flags & FLAG_LAST) != 0u && !split;
  let use_kmask = (p.flags & FLAG_KEY_MASK) != 0u;
  // The keys of this dispatch (all of them, or split wid.y).
  var k_begin = 0u;
  var k_end = p.tk;
  if (split) {
    k_begin = wid.y * p.split_keys;
    k_end = min(p.tk, k_begin + p.split_keys);
  }
  if (t0 >= p.tq) { return; }   // a workgroup's spare invocations past the last query

  var q_at: array<u32, SQ>;     // start of each query's head-h channels in q
  var o_at: array<u32, SQ>;     // ... of its accumulator (in `out`, or in `state` for a split)
  var q_live: array<bool, SQ>;  // query mask
  var m_run: array<f32, SQ>;
  var l_run: array<f32, SQ>;
  for (var i = 0u; i < SQ; i++) {
    let t = min(t0 + i, p.tq - 1u);
    q_at[i] = p.q_off + b * p.q_bs + t * qk_stride + h * p.dqk;
    o_at[i] = p.o_off + b * p.o_bs + t * v_stride + h * p.dv;
    if (split) { o_at[i] = split_o(wid.y, z, t); }
    q_live[i] = true;
    if ((p.flags & FLAG_QUERY_MASK) != 0u) { q_live[i] = query_mask[p.qm_off + b * p.qm_bs + t] != 0; }
    m_run[i] = NEG_HUGE;
    l_run[i] = 0.0;
    if (!first) {
      m_run[i] = state[state_carried(z, t)];
      l_run[i] = state[state_carried(z, t) + 1u];
    }
  }

  for (var kb = k_begin; kb < k_end; kb += SK) {
    let nk = min(SK, k_end - kb);          // keys in this block
    let resume = !first || kb > k_begin;   // the accumulator holds earlier keys
    let finish = last && kb + SK >= k_end;

    var k_at: array<u32, SK>;
    var v_at: array<u32, SK>;
    var k_live: array<bool, SK>;
    for (var j = 0u; j < SK; j++) {
      let key = min(kb + j, k_end - 1u);
      k_at[j] = p.k_off + b * p.k_bs + key * qk_stride + h * p.dqk;
      v_at[j] = p.v_off + b * p.v_bs + key * v_stride + h * p.dv;
      k_live[j] = true;
      if (use_kmask) { k_live[j] = key_mask[p.km_off + b * p.km_bs + key] != 0; }
    }

    // ---- 1. scores s[i][j] = q_i . k_j, SUB keys at a time.
    var s = array<array<f32, SK>, SQ>();
    for (var j0 = 0u; j0 < SK; j0 += SUB) {
      var part = array<array<f32, SUB>, SQ>();
      for (var d = 0u; d < p.dqk; d++) {
        var qv: array<f32, SQ>;
        var kv: array<f32, SUB>;
        for (var i = 0u; i < SQ; i++) { qv[i] = q[q_at[i] + d]; }
        for (var j = 0u; j < SUB; j++) { kv[j] = k[k_at[j0 + j] + d]; }
        for (var i = 0u; i < SQ; i++) {
          for (var j = 0u; j < SUB; j++) { part[i][j] = qv[i] * kv[j] + part[i][j]; }
        }
      }
      for (var i = 0u; i < SQ; i++) {
        for (var j = 0u; j < SUB; j++) { s[i][j0 + j] = part[i][j]; }
      }
    }

    // ---- 2. online softmax: logits -> probabilities p_j (in s), alpha, new m and l.
    var alpha: array<f32, SQ>;
    var norm: array<f32, SQ>;   // 1 while accumulating; 1/l (or 0: all masked) when finishing
    for (var i = 0u; i < SQ; i++) {
      var block_max = NEG_HUGE;
      for (var j = 0u; j < SK; j++) {
        let logit = select(MASKED_LOGIT, s[i][j] * p.scale, q_live[i] && k_live[j]);
        s[i][j] = logit;
        if (j < nk) { block_max = max(block_max, logit); }
      }
      let m_new = max(m_run[i], block_max);
      alpha[i] = exp(m_run[i] - m_new);
      var block_sum = 0.0;
      for (var j = 0u; j < SK; j++) {
        let pj = select(0.0, exp(s[i][j] - m_new), j < nk);
        s[i][j] = pj;
        block_sum += pj;
      }
      l_run[i] = l_run[i] * alpha[i] + block_sum;
      m_run[i] = m_new;
      norm[i] = 1.0;
      if (finish) { norm[i] = select(0.0, 1.0 / l_run[i], m_new > ALL_MASKED); }
    }

    // ---- 3. o = o * alpha + p . v, OC channels at a time; p_j = 0 past the last key.
    for (var c0 = 0u; c0 < p.dv; c0 += OC) {
      var acc = array<array<f32, OC>, SQ>();
      if (resume) {
        for (var i = 0u; i < SQ; i++) {
          for (var c = 0u; c < OC; c++) { acc[i][c] = out[o_at[i] + min(c0 + c, p.dv - 1u)] * alpha[i]; }
        }
      }
      for (var j = 0u; j < SK; j++) {
        var vv: array<f32, OC>;
        for (var c = 0u; c < OC; c++) { vv[c] = v[v_at[j] + min(c0 + c, p.dv - 1u)]; }
        for (var i = 0u; i < SQ; i++) {
          for (var c = 0u; c < OC; c++) { acc[i][c] = s[i][j] * vv[c] + acc[i][c]; }
        }
      }
      for (var i = 0u; i < SQ; i++) {
        if (t0 + i >= p.tq) { break; }
        for (var c = 0u; c < OC; c++) {
          if (c0 + c >= p.dv) { break; }
          out[o_at[i] + c0 + c] = acc[i][c] * norm[i];
        }
      }
    }
  }

  if (!last) {
    for (var i = 0u; i < SQ; i++) {
      if (t0 + i >= p.tq) { break; }
      var at = state_carried(z, t0 + i);
      if (split) { at = state_split_ml(wid.y, z, t0 + i); }
      state[at] = m_run[i];
      state[at + 1u] = l_run[i];
    }
  }
}

// Indices into `state` of the (m, l) pair carried between sequential key
// slices and of split s's (m, l) pair; index of split s's accumulator row.
fn state_carried(z: u32, t: u32) -> u32 {
  return 2u * (z * params.tq + t);
}

fn state_split_ml(s: u32, z: u32, t: u32) -> u32 {
  return 2u * params.zs * params.tq + 2u * ((s * params.zs + z) * params.tq + t);
}

fn split_o(s: u32, z: u32, t: u32) -> u32 {
  return ((s * params.zs + z) * params.tq + t) * params.dv;
}

// FLAG_MERGE: one invocation per query of one (batch, head). Merges the
// splits' states, and the state carried from earlier key slices unless
// FLAG_FIRST, with the rescaling above; then either normalises into `out`
// (FLAG_LAST; rows that never saw an unmasked key become zeros) or leaves the
// merged accumulator in `out` and (m, l) in the carried region.
fn merge_splits(wid: vec3<u32>, li: u32) {
  let p = params;
  let z = wid.z;
  let b = z / p.heads;
  let h = z % p.heads;
  let t = wid.x * WG + li;
  if (t >= p.tq) { return; }
  let first = (p.flags & FLAG_FIRST) != 0u;
  let last = (p.flags & FLAG_LAST) != 0u;
  var m = NEG_HUGE;
  if (!first) { m = state[state_carried(z, t)]; }
  for (var s = 0u; s < p.splits; s++) { m = max(m, state[state_split_ml(s, z, t)]); }
  var weight: array<f32, MAX_SPLITS>;   // e^(m_s - m), then divided by l when normalising
  var carried_weight = 0.0;
  var l = 0.0;
  if (!first) {
    carried_weight = exp(state[state_carried(z, t)] - m);
    l = state[state_carried(z, t) + 1u] * carried_weight;
  }
  for (var s = 0u; s < p.splits; s++) {
    let at = state_split_ml(s, z, t);
    weight[s] = exp(state[at] - m);
    l += state[at + 1u] * weight[s];
  }
  if (last) {
    let norm = select(0.0, 1.0 / l, m > ALL_MASKED);
    carried_weight *= norm;
    for (var s = 0u; s < p.splits; s++) { weight[s] *= norm; }
  } else {
    state[state_carried(z, t)] = m;
    state[state_carried(z, t) + 1u] = l;
  }
  let o_at = p.o_off + b * p.o_bs + t * p.heads * p.dv + h * p.dv;
  for (var c = 0u; c < p.dv; c++) {
    var o = 0.0;
    if (!first) { o = out[o_at + c] * carried_weight; }
    // the splits' accumulators are bound as `v` for this dispatch
    for (var s = 0u; s < p.splits; s++) { o += v[split_o(s, z, t) + c] * weight[s]; }
    out[o_at + c] = o;
  }
}
