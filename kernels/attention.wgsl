// attention: fused multi-head softmax attention, flash style.
//
//   out[b, t, h, :] = sum_T softmax_T(scale * q[b, t, h, :] . k[b, T, h, :]) v[b, T, h, :]
//
// What it computes. For every batch b, head h and query t the softmax over
// all keys T of the scaled dot products (scale = 1/sqrt(Dqk), passed in),
// applied to the values. Masking follows DeepMind's Perceiver exactly: the pair
// (t, T) is attended when query_mask[b, t] AND key_mask[b, T]; a masked logit
// is set to MASKED_LOGIT (-1e30, not -inf) before the softmax, and a query
// whose every key is masked (including a query whose own mask is 0) comes out
// as exactly zero.
//
// Layout. q [B, Tq, H*Dqk], k [B, Tk, H*Dqk], v [B, Tk, H*Dv], out [B, Tq, H*Dv],
// row-major, heads the OUTER factor of the channel dim: channel c of head h is
// at h*D + c, exactly what a linear layer produces, so nothing is transposed.
// The wrapper (kernels/attention.ts) binds windows of the tensors and passes
// element offsets (x_off) and batch strides (x_bs) in the uniform. Masks are
// i32 [B, T] (1 = attend, 0 = masked).
//
// Online softmax (why the score matrix never exists). softmax(s) . v needs the
// maximum and the sum over ALL keys, but both can be accumulated one block of
// keys at a time. Keep, per query, a running max m, a running sum l of
// exp(s - m) and an unnormalised accumulator o = sum exp(s - m) v. For a new
// block of logits s_j:
//     m' = max(m, max_j s_j)
//     alpha = exp(m - m')                 (rescales what was summed under the old max)
//     p_j = exp(s_j - m')
//     l' = l * alpha + sum_j p_j
//     o' = o * alpha + sum_j p_j v_j
// and after the last block out = o / l. Every exp() sees an argument <= 0, so
// nothing overflows, and the result equals the ordinary softmax. The state
// (m, l, o) can also be saved and resumed: when the keys are too many for one
// binding, the wrapper splits them into slices, one dispatch each, and (m, l)
// travel between dispatches in the `stats` scratch buffer while o stays in
// `out`; FLAG_FIRST starts from m = -inf, l = 0, o = 0 and FLAG_LAST divides by
// l (the normalise step) instead of saving the state.
//
// Tiling. One workgroup of WG = 64 invocations owns BLOCK_Q = 64 queries of one
// (batch, head) (grid: query blocks x 1 x batches*heads) and walks the keys in
// blocks of BLOCK_K = 32. Per key block, three phases separated by barriers:
//   1. scores: the 64 x 32 logit tile, each invocation an SQ x SK = 8 x 4
//      register tile (per channel d: 8 + 4 loads, 32 multiply-adds), looping
//      over all Dqk channels (so any Dqk works); scaled and masked into the
//      workgroup array `probs`.
//   2. softmax: invocation r owns query row r: the block max, alpha, p_j
//      (written back over the logits in `probs`) and its running m and l.
//   3. values: the output rows are cut into tiles of OQ = 8 queries x OC = 4
//      channels; invocation i takes the tiles of query group i % 8 and channel
//      tiles i / 8, i / 8 + 8, ... so any Dv works, in chunks of 4 channels
//      (the last chunk partial). A tile is read from `out`, rescaled by alpha,
//      gets p . v for the block's keys and is written back (normalised by 1/l
//      in the very last block). The accumulator lives in `out` between blocks,
//      which costs a read and a write per element per 32 keys, and lets the
//      head dimension be anything without growing the registers.
// Queries or keys past the end of a block are clamped when loading and
// dropped afterwards, so any Tq and Tk work.
//
// Note: accumulators declared inside a loop are initialised explicitly
// (`var s = array<...>()`). WGSL says a bare `var s: T;` is zeroed every time
// the declaration runs, but Dawn on lavapipe zeroes it only once, so a bare
// declaration would carry the previous iteration's sums.

struct Params {
  tq: u32, tk: u32, heads: u32, dqk: u32, dv: u32,
  q_off: u32, q_bs: u32,
  k_off: u32, k_bs: u32,
  v_off: u32, v_bs: u32,
  o_off: u32, o_bs: u32,
  qm_off: u32, qm_bs: u32,
  km_off: u32, km_bs: u32,
  scale: f32,
  flags: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> query_mask: array<i32>;
@group(0) @binding(4) var<storage, read> key_mask: array<i32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
// Online-softmax state between key slices: (m, l) per (batch*head, query).
@group(0) @binding(6) var<storage, read_write> stats: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

const WG = 64u;
const BLOCK_Q = 64u;                 // queries per workgroup (one softmax row per invocation)
const BLOCK_K = 32u;                 // keys per block
const SQ = 8u;                       // score tile: queries per invocation
const SK = 4u;                       // score tile: keys per invocation
const SCORE_Q_GROUPS = BLOCK_Q / SQ; // 8 x (BLOCK_K / SK = 8) invocations = WG
const OQ = 8u;                       // output tile: queries
const OC = 4u;                       // output tile: channels
const OUT_Q_GROUPS = BLOCK_Q / OQ;   // 8 query groups ...
const OUT_C_GROUPS = WG / OUT_Q_GROUPS; // ... x 8 channel groups = WG

const FLAG_FIRST = 1u;      // no saved state: start from m = -inf, l = 0, o = 0
const FLAG_LAST = 2u;       // normalise and write the result instead of saving state
const FLAG_KEY_MASK = 4u;
const FLAG_QUERY_MASK = 8u;

const MASKED_LOGIT = -1e30;  // DeepMind's value for masked logits
const NEG_HUGE = -3.0e38;    // "minus infinity" for the running max (finite: no inf - inf)
const ALL_MASKED = -5e29;    // a final max at or below this means every key was masked

// The block's logits, then (phase 2 onwards) its probabilities: [BLOCK_Q][BLOCK_K].
var<workgroup> probs: array<f32, BLOCK_Q * BLOCK_K>;
// Per query row of the block: the rescale factor alpha and the final 1/l (0 for fully masked rows).
var<workgroup> row_alpha: array<f32, BLOCK_Q>;
var<workgroup> row_norm: array<f32, BLOCK_Q>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let p = params;
  let b = wid.z / p.heads;
  let h = wid.z % p.heads;
  let q0 = wid.x * BLOCK_Q;           // first query of this workgroup
  let qk_stride = p.heads * p.dqk;     // elements per row of q and k
  let v_stride = p.heads * p.dv;       // elements per row of v and out
  let first = (p.flags & FLAG_FIRST) != 0u;
  let last = (p.flags & FLAG_LAST) != 0u;
  let use_kmask = (p.flags & FLAG_KEY_MASK) != 0u;

  // Phase-1 tile: queries sq .. sq+SQ-1 of the block against keys sk .. sk+SK-1.
  let sq = (li % SCORE_Q_GROUPS) * SQ;
  let sk = (li / SCORE_Q_GROUPS) * SK;
  var q_at: array<u32, SQ>;      // where each query's head-h channels start in q
  var q_live: array<bool, SQ>;   // query mask
  for (var i = 0u; i < SQ; i++) {
    let t = min(q0 + sq + i, p.tq - 1u);
    q_at[i] = p.q_off + b * p.q_bs + t * qk_stride + h * p.dqk;
    q_live[i] = true;
    if ((p.flags & FLAG_QUERY_MASK) != 0u) { q_live[i] = query_mask[p.qm_off + b * p.qm_bs + t] != 0; }
  }

  // Phase-2 row: the running max and sum of query q0 + li.
  let row_t = q0 + li;
  let stat_at = 2u * (wid.z * p.tq + row_t);
  var m_run = NEG_HUGE;
  var l_run = 0.0;
  if (!first && row_t < p.tq) {
    m_run = stats[stat_at];
    l_run = stats[stat_at + 1u];
  }

  // Phase-3 tiles: queries oq .. oq+OQ-1, channel tiles ct = cg, cg + OUT_C_GROUPS, ...
  let oq = (li % OUT_Q_GROUPS) * OQ;
  let cg = li / OUT_Q_GROUPS;
  let n_ctiles = (p.dv + OC - 1u) / OC;
  var o_at: array<u32, OQ>;      // where each query's head-h output channels start
  for (var i = 0u; i < OQ; i++) {
    o_at[i] = p.o_off + b * p.o_bs + min(q0 + oq + i, p.tq - 1u) * v_stride + h * p.dv;
  }

  for (var kb = 0u; kb < p.tk; kb += BLOCK_K) {
    let nk = min(BLOCK_K, p.tk - kb);       // keys in this block
    let resume = !first || kb > 0u;          // `out` holds an accumulator to rescale
    let finish = last && kb + BLOCK_K >= p.tk;

    // ---- Phase 1: logits of the block, scaled and masked, into `probs`.
    var k_at: array<u32, SK>;
    var k_live: array<bool, SK>;
    for (var j = 0u; j < SK; j++) {
      let key = min(kb + sk + j, p.tk - 1u);
      k_at[j] = p.k_off + b * p.k_bs + key * qk_stride + h * p.dqk;
      k_live[j] = true;
      if (use_kmask) { k_live[j] = key_mask[p.km_off + b * p.km_bs + key] != 0; }
    }
    var s = array<array<f32, SK>, SQ>();
    for (var d = 0u; d < p.dqk; d++) {
      var qv: array<f32, SQ>;
      var kv: array<f32, SK>;
      for (var i = 0u; i < SQ; i++) { qv[i] = q[q_at[i] + d]; }
      for (var j = 0u; j < SK; j++) { kv[j] = k[k_at[j] + d]; }
      for (var i = 0u; i < SQ; i++) {
        for (var j = 0u; j < SK; j++) { s[i][j] = qv[i] * kv[j] + s[i][j]; }
      }
    }
    for (var i = 0u; i < SQ; i++) {
      for (var j = 0u; j < SK; j++) {
        probs[(sq + i) * BLOCK_K + sk + j] = select(MASKED_LOGIT, s[i][j] * p.scale, q_live[i] && k_live[j]);
      }
    }
    workgroupBarrier();

    // ---- Phase 2: online-softmax update of row li; logits become probabilities.
    let row = li * BLOCK_K;
    var block_max = NEG_HUGE;
    for (var j = 0u; j < nk; j++) { block_max = max(block_max, probs[row + j]); }
    let m_new = max(m_run, block_max);
    let alpha = exp(m_run - m_new);
    var block_sum = 0.0;
    for (var j = 0u; j < BLOCK_K; j++) {
      let pj = select(0.0, exp(probs[row + j] - m_new), j < nk);
      probs[row + j] = pj;
      block_sum += pj;
    }
    l_run = l_run * alpha + block_sum;
    m_run = m_new;
    row_alpha[li] = alpha;
    row_norm[li] = select(0.0, 1.0 / l_run, m_run > ALL_MASKED);
    workgroupBarrier();

    // ---- Phase 3: o = o * alpha + p . v over this block's keys, tile by tile.
    var alpha_o: array<f32, OQ>;
    var norm_o: array<f32, OQ>;
    for (var i = 0u; i < OQ; i++) {
      alpha_o[i] = row_alpha[oq + i];
      norm_o[i] = select(1.0, row_norm[oq + i], finish);
    }
    for (var ct = cg; ct < n_ctiles; ct += OUT_C_GROUPS) {
      let c0 = ct * OC;
      var acc = array<array<f32, OC>, OQ>();
      if (resume) {
        for (var i = 0u; i < OQ; i++) {
          for (var c = 0u; c < OC; c++) { acc[i][c] = out[o_at[i] + min(c0 + c, p.dv - 1u)] * alpha_o[i]; }
        }
      }
      for (var j = 0u; j < nk; j++) {
        let v_row = p.v_off + b * p.v_bs + (kb + j) * v_stride + h * p.dv;
        var vv: array<f32, OC>;
        var pv: array<f32, OQ>;
        for (var c = 0u; c < OC; c++) { vv[c] = v[v_row + min(c0 + c, p.dv - 1u)]; }
        for (var i = 0u; i < OQ; i++) { pv[i] = probs[(oq + i) * BLOCK_K + j]; }
        for (var i = 0u; i < OQ; i++) {
          for (var c = 0u; c < OC; c++) { acc[i][c] = pv[i] * vv[c] + acc[i][c]; }
        }
      }
      for (var i = 0u; i < OQ; i++) {
        if (q0 + oq + i >= p.tq) { break; }
        for (var c = 0u; c < OC; c++) {
          if (c0 + c >= p.dv) { break; }
          out[o_at[i] + c0 + c] = acc[i][c] * norm_o[i];
        }
      }
    }
    workgroupBarrier();
  }

  if (!last && row_t < p.tq) {
    stats[stat_at] = m_run;
    stats[stat_at + 1u] = l_run;
  }
}
