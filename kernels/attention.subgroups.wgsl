// attention.subgroups: the fused attention of attention.wgsl, computed by the
// lanes of a subgroup together, for adapters with WebGPU's `subgroups`.
//
// BUILD. This file EXTENDS attention.wgsl (see kernels/build.ts): the shipped
// module is the directives just below, then all of attention.wgsl (Params,
// bindings, constants, state layout, the FLAG_MERGE pass), then the entry
// point of this file. It is a module of its own because `enable subgroups;`
// makes a module invalid on adapters without the feature.
//
// WHAT. The same as attention.wgsl's `main`: the same formula, masks
// (MASKED_LOGIT, fully masked rows as zeros), online softmax, flags
// (FLAG_FIRST / FLAG_LAST / FLAG_SPLIT) and the same state and accumulator
// layout, so kernels/attention.ts runs either and shares everything around
// them: key slices, parallel key splits and the merge dispatch (which always
// uses attention.wgsl's `main`).
//
// WHY. In attention.wgsl one invocation owns 8 queries and walks every key
// alone: its whole 8 x 32 logit tile sits in registers, and the 32 lanes of a
// GPU warp read 32 unrelated query rows. Here the lanes of a subgroup share
// one group of SQ queries (a "round") and divide the work between them:
//   scores   lanes split the KEYS. A block holds n * KPL keys (n lanes, KPL
//            keys each); lane r takes keys kb + j*n + r (j < KPL) and
//            computes their logits against the round's SQ queries: SQ x KPL
//            accumulators per lane, whatever the head width. All lanes read
//            the same query element at once (one broadcast load), and each
//            query element read serves KPL keys, each key element SQ queries.
//   softmax  per query, the block's max is subgroupMax of the lanes' maxima
//            and its sum of exp() subgroupAdd of the lanes' sums, so every
//            lane ends up holding the same running (m, l): no workgroup
//            memory, no barrier.
//   values   lanes split the CHANNELS: lane r accumulates output channels
//            c0 + c*n + r (c < OC), so the lanes read one value row in one
//            contiguous sweep; the probability of key j for query i comes
//            from the lane that computed it, by subgroupShuffle.
// As in attention.wgsl, the output accumulator lives in `out` between key
// blocks (read, rescaled by alpha, added to, written back: once per n*KPL
// keys), so the registers do not grow with Dv.
//
// ANY SUBGROUP. Nothing assumes a subgroup size (32 on NVIDIA, 8 on lavapipe,
// 4 on SwiftShader, 64 on some AMD) nor which invocations share a subgroup,
// nor that it is full: n = subgroupAdd(1) counts the lanes that take part
// and rank = subgroupExclusiveAdd(1) numbers them 0..n-1; keys and channels
// are dealt by rank; the lane that holds rank r's probabilities is found by
// walking subgroupBallot's mask in lane order (ranks follow lane order).
// Queries come from the members too: every QUERY_STRIDE-th invocation of a
// workgroup brings one query (invocation li of workgroup x brings query
// x * SG_WG / QUERY_STRIDE + li / QUERY_STRIDE when li % QUERY_STRIDE == 0
// and it is < tq), and the subgroup processes its members' queries SQ at a
// time; round slot i's query index is fetched from its owner with
// subgroupMax. The wrapper sets QUERY_STRIDE to about subgroup size / SQ
// (from the adapter's subgroupMinSize), so that a subgroup brings one round
// of queries: 4 on NVIDIA (32 lanes, 8 queries), 1 on lavapipe (8 lanes).
// Each query is brought by exactly one invocation whatever the subgroups
// are, so a different size only changes the speed. Every invocation takes
// part in every round (none returns early), so all subgroup operations run
// in subgroup-uniform control flow; `diagnostic(off, subgroup_uniformity)`
// tells the compiler so, as its analysis cannot see that counts like n are
// the same on every lane.
//
// TILING. Workgroups of SG_WG invocations (a multiple of common subgroup
// sizes; a larger subgroup just runs partly filled), grid
// (ceil(tq / (SG_WG / QUERY_STRIDE)), key splits, batches * heads) as in
// attention.wgsl. A round is SQ = 8 queries and a value pass OC = 4
// channels per lane (attention.wgsl's constants: the same tile height and
// chunk width as one of its invocations); KPL = SG_KPL = 8 keys per lane per
// block. So SQ x KPL = 64 score accumulators (per channel d, SQ + KPL loads
// feed 64 multiply-adds) and SQ x OC = 32 value accumulators (per key, SQ
// shuffles and OC loads feed 32 multiply-adds).
//
// LADDER. The last rung (5) of the attention ladder (docs/attention.md):
// what changes from rung 4 (attention.wgsl's `main` with key splits) is the
// WHY above: the lanes of a subgroup share queries and split the keys and
// channels, instead of each invocation walking every key alone.

enable subgroups;
diagnostic(off, subgroup_uniformity);

const SG_WG = 64u;        // invocations per workgroup
const SG_KPL = 8u;        // keys per lane per block
// Invocations per query brought (see ANY SUBGROUP); must divide SG_WG.
override QUERY_STRIDE: u32 = 1u;

@compute @workgroup_size(SG_WG)
fn main_subgroups(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
  @builtin(subgroup_size) sg_size: u32,
) {
  let p = params;
  let z = wid.z;                 // batch * heads + head, within this dispatch
  let b = z / p.heads;
  let h = z % p.heads;
  let qk_stride = p.heads * p.dqk;
  let v_stride = p.heads * p.dv;
  let split = (p.flags & FLAG_SPLIT) != 0u;
  let first = (p.flags & FLAG_FIRST) != 0u || split;
  let last = (p.flags & FLAG_LAST) != 0u && !split;
  let use_kmask = (p.flags & FLAG_KEY_MASK) != 0u;
  var k_begin = 0u;
  var k_end = p.tk;
  if (split) {
    k_begin = wid.y * p.split_keys;
    k_end = min(p.tk, k_begin + p.split_keys);
  }

  // Who takes part: the lanes (bit mask in lane order), their count and this lane's rank.
  let lanes = subgroupBallot(true);
  let n = subgroupAdd(1u);
  let rank = subgroupExclusiveAdd(1u);
  let block_keys = n * SG_KPL;
  // This invocation's query (if it brings one), and the members' queries numbered 0..nq-1.
  let my_t = wid.x * (SG_WG / QUERY_STRIDE) + li / QUERY_STRIDE;
  let has_query = li % QUERY_STRIDE == 0u && my_t < p.tq;
  let nq = subgroupAdd(select(0u, 1u, has_query));
  let q_rank = subgroupExclusiveAdd(select(0u, 1u, has_query));

  for (var r0 = 0u; r0 < nq; r0 += SQ) {
    let in_round = min(SQ, nq - r0);    // real queries in this round; the other slots repeat the last
    var q_at: array<u32, SQ>;
    var o_at: array<u32, SQ>;
    var q_live: array<bool, SQ>;
    var m_run: array<f32, SQ>;
    var l_run: array<f32, SQ>;
    var t_of: array<u32, SQ>;     // the slots' query indices
    for (var i = 0u; i < SQ; i++) {
      let slot = r0 + min(i, in_round - 1u);
      let t = subgroupMax(select(0u, my_t, has_query && q_rank == slot));
      t_of[i] = t;
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

    for (var kb = k_begin; kb < k_end; kb += block_keys) {
      let resume = !first || kb > k_begin;
      let finish = last && kb + block_keys >= k_end;

      // ---- 1. scores: this lane's KPL keys against the round's SQ queries.
      var k_at: array<u32, SG_KPL>;
      var k_in: array<bool, SG_KPL>;     // a key of this dispatch (not past the end)
      var k_live: array<bool, SG_KPL>;   // ... and not masked
      for (var j = 0u; j < SG_KPL; j++) {
        k_in[j] = kb + j * n + rank < k_end;
        let key = min(kb + j * n + rank, k_end - 1u);
        k_at[j] = p.k_off + b * p.k_bs + key * qk_stride + h * p.dqk;
        k_live[j] = true;
        if (use_kmask) { k_live[j] = key_mask[p.km_off + b * p.km_bs + key] != 0; }
      }
      var s = array<array<f32, SG_KPL>, SQ>();
      for (var d = 0u; d < p.dqk; d++) {
        var qv: array<f32, SQ>;
        var kv: array<f32, SG_KPL>;
        for (var i = 0u; i < SQ; i++) { qv[i] = q[q_at[i] + d]; }
        for (var j = 0u; j < SG_KPL; j++) { kv[j] = k[k_at[j] + d]; }
        for (var i = 0u; i < SQ; i++) {
          for (var j = 0u; j < SG_KPL; j++) { s[i][j] = qv[i] * kv[j] + s[i][j]; }
        }
      }

      // ---- 2. online softmax across the lanes: logits -> p (in s), alpha, new m and l.
      var alpha: array<f32, SQ>;
      var norm: array<f32, SQ>;
      for (var i = 0u; i < SQ; i++) {
        var block_max = NEG_HUGE;   // of this lane's keys; subgroupMax gives the block's
        for (var j = 0u; j < SG_KPL; j++) {
          let logit = select(MASKED_LOGIT, s[i][j] * p.scale, q_live[i] && k_live[j]);
          s[i][j] = logit;
          if (k_in[j]) { block_max = max(block_max, logit); }
        }
        let m_new = max(m_run[i], subgroupMax(block_max));
        alpha[i] = exp(m_run[i] - m_new);
        var block_sum = 0.0;        // of this lane's keys; subgroupAdd gives the block's
        for (var j = 0u; j < SG_KPL; j++) {
          let pj = select(0.0, exp(s[i][j] - m_new), k_in[j]);
          s[i][j] = pj;
          block_sum += pj;
        }
        l_run[i] = l_run[i] * alpha[i] + subgroupAdd(block_sum);
        m_run[i] = m_new;
        norm[i] = 1.0;
        if (finish) { norm[i] = select(0.0, 1.0 / l_run[i], m_new > ALL_MASKED); }
      }

      // ---- 3. values: o = o * alpha + p . v over this lane's channels, OC per pass.
      for (var c0 = 0u; c0 < p.dv; c0 += n * OC) {
        var c_at: array<u32, OC>;    // this lane's channels (clamped; c_in says which are real)
        var c_in: array<bool, OC>;
        for (var c = 0u; c < OC; c++) {
          let ch = c0 + c * n + rank;
          c_in[c] = ch < p.dv;
          c_at[c] = min(ch, p.dv - 1u);
        }
        var acc = array<array<f32, OC>, SQ>();
        if (resume) {
          for (var i = 0u; i < SQ; i++) {
            for (var c = 0u; c < OC; c++) { acc[i][c] = out[o_at[i] + c_at[c]] * alpha[i]; }
          }
        }
        for (var j = 0u; j < SG_KPL; j++) {
          var r = 0u;   // rank of `lane`
          for (var lane = 0u; lane < sg_size; lane++) {
            // subgroupBallot: lane L is bit L % 32 of word L / 32
            if ((lanes[lane / 32u] & (1u << (lane % 32u))) == 0u) { continue; }
            let key = kb + j * n + r;
            r++;
            if (key >= k_end) { break; }
            let v_at = p.v_off + b * p.v_bs + key * v_stride + h * p.dv;
            var vv: array<f32, OC>;
            for (var c = 0u; c < OC; c++) { vv[c] = v[v_at + c_at[c]]; }
            for (var i = 0u; i < SQ; i++) {
              let pj = subgroupShuffle(s[i][j], lane);
              for (var c = 0u; c < OC; c++) { acc[i][c] = pj * vv[c] + acc[i][c]; }
            }
          }
        }
        for (var i = 0u; i < in_round; i++) {
          for (var c = 0u; c < OC; c++) {
            if (c_in[c]) { out[o_at[i] + c_at[c]] = acc[i][c] * norm[i]; }
          }
        }
      }
    }

    if (!last && rank == 0u) {
      for (var i = 0u; i < in_round; i++) {
        var at = state_carried(z, t_of[i]);
        if (split) { at = state_split_ml(wid.y, z, t_of[i]); }
        state[at] = m_run[i];
        state[at + 1u] = l_run[i];
      }
    }
  }
}
