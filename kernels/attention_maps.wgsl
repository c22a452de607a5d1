// attention_maps: the attention probabilities of chosen query rows, written out.
//
//   probs[h, r, T] = softmax_T(scale * q[rows[r], h, :] . k[T, h, :])
//
// WHAT. attention.wgsl never forms the probabilities: it keeps per query only
// the online-softmax state (running max m, running sum l) and folds the
// probabilities straight into the values. To look at them (Perceiver's
// attention maps: where each latent looks in the input) this kernel computes
// them for a few requested query rows, with the same arithmetic: the same
// logits (the dot product accumulated channel by channel in the same order,
// times the same scale), the same masking (a masked key gets MASKED_LOGIT,
// -1e30; a row whose every key is masked comes out as zeros), the same
// state and the same merge rule
//     m = max(m1, m2),  l = l1 e^(m1-m) + l2 e^(m2-m),
// and p = exp(s - m) * (1 / l) as attention.wgsl's last block normalises.
// Nothing else runs it: a forward that asks for no maps dispatches nothing
// from this file.
//
// THREE PASSES of this one entry point (params.mode), recorded by
// kernels/attention_maps.ts for one batch at a time:
//   MODE_SCORES     grid (key blocks, blocks of SR rows, heads): one
//                   invocation owns SK consecutive keys of SR rows of one
//                   head; it writes their scaled logits into `probs` and each
//                   row's (m, l) over them into a partial slot of `state`.
//                   Run once per key slice (keys too many for one binding:
//                   `key0` places the slice).
//   MODE_MERGE      one invocation per (row, head): merges the row's partial
//                   slots into its final (m, l).
//   MODE_NORMALISE  grid (key blocks, rows, heads): p = exp(s - m) / l in place.
//
// LAYOUT. q [Tq, H*Dqk] and k [Tk, H*Dqk] of one batch (heads are the outer
// factor of the channels, as in attention.wgsl), rows i32 [R] (query row
// indices), key_mask i32 [Tk] (1 = attend), probs [H, R, Tk_all] row-major.
// state: the final (m, l) pairs [H][R], then the partial pairs [H][R][slots]
// with slots = ceil(Tk_all / SK). Windows of the tensors are bound at
// aligned offsets with element offsets (x_off) in the uniform.
//
// TILING. WG = 64 invocations, each SK = 16 keys of SR = 8 rows: per
// channel d 16 k loads and 8 q loads for 128 multiply-adds (what pays on the
// CPU emulations, as in attention.wgsl), the 8 x 16 logits in registers;
// rows past the last are clamped when loading and dropped. No workgroup
// memory, no barriers.

struct Params {
  rows: u32,     // R: query rows asked for
  tk: u32,       // keys in this dispatch's slice
  tk_all: u32,   // keys in all (the length of a probs row)
  key0: u32,     // the slice's first key (a multiple of SK)
  slots: u32,    // partial (m, l) slots per row: ceil(tk_all / SK)
  heads: u32, dqk: u32,
  q_off: u32, k_off: u32, km_off: u32, r_off: u32, p_off: u32,
  scale: f32,
  mode: u32,
  flags: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> rows: array<i32>;
@group(0) @binding(3) var<storage, read> key_mask: array<i32>;
@group(0) @binding(4) var<storage, read_write> probs: array<f32>;
@group(0) @binding(5) var<storage, read_write> state: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

const WG = 64u;            // invocations per workgroup
const SK = 16u;            // keys per invocation
const SR = 8u;             // rows per invocation in the scores pass

const MODE_SCORES = 0u;
const MODE_MERGE = 1u;
const MODE_NORMALISE = 2u;
const FLAG_KEY_MASK = 1u;

const MASKED_LOGIT = -1e30;  // DeepMind's value for masked logits (as attention.wgsl)
const NEG_HUGE = -3.0e38;    // "minus infinity" for a running max
const ALL_MASKED = -5e29;    // a final max at or below this: every key was masked

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  if (params.mode == MODE_MERGE) {
    merge(wid.x * WG + li);
    return;
  }
  let p = params;
  let h = wid.z;                        // head
  let j0 = (wid.x * WG + li) * SK;      // first key of this invocation, within the slice
  if (j0 >= p.tk) { return; }
  let nk = min(SK, p.tk - j0);

  if (p.mode == MODE_NORMALISE) {
    let r = wid.y;                      // requested row
    let p_at = p.p_off + (h * p.rows + r) * p.tk_all + p.key0 + j0;   // probs of key j0
    let at = 2u * (h * p.rows + r);
    let m = state[at];
    let norm = select(0.0, 1.0 / state[at + 1u], m > ALL_MASKED);
    for (var j = 0u; j < nk; j++) { probs[p_at + j] = exp(probs[p_at + j] - m) * norm; }
    return;
  }

  // MODE_SCORES (grid y: blocks of SR rows): s[i][j] = q_i . k_j over the
  // channels in order, as attention.wgsl, for SR rows at once so that each
  // loaded key channel serves SR multiply-adds.
  let stride = p.heads * p.dqk;
  var k_at: array<u32, SK>;
  for (var j = 0u; j < SK; j++) { k_at[j] = p.k_off + min(j0 + j, p.tk - 1u) * stride + h * p.dqk; }
  let r0 = wid.y * SR;
  var q_at: array<u32, SR>;
  for (var i = 0u; i < SR; i++) { q_at[i] = p.q_off + u32(rows[p.r_off + min(r0 + i, p.rows - 1u)]) * stride + h * p.dqk; }
  var s = array<array<f32, SK>, SR>();
  for (var d = 0u; d < p.dqk; d++) {
    var kv: array<f32, SK>;
    for (var j = 0u; j < SK; j++) { kv[j] = k[k_at[j] + d]; }
    for (var i = 0u; i < SR; i++) {
      let qv = q[q_at[i] + d];
      for (var j = 0u; j < SK; j++) { s[i][j] = qv * kv[j] + s[i][j]; }
    }
  }
  for (var i = 0u; i < SR; i++) {
    let row = r0 + i;
    if (row >= p.rows) { break; }
    var m = NEG_HUGE;
    for (var j = 0u; j < nk; j++) {
      var live = true;
      if ((p.flags & FLAG_KEY_MASK) != 0u) { live = key_mask[p.km_off + j0 + j] != 0; }
      s[i][j] = select(MASKED_LOGIT, s[i][j] * p.scale, live);
      m = max(m, s[i][j]);
    }
    var l = 0.0;
    let at = p.p_off + (h * p.rows + row) * p.tk_all + p.key0 + j0;
    for (var j = 0u; j < nk; j++) {
      l += exp(s[i][j] - m);
      probs[at + j] = s[i][j];
    }
    let slot = 2u * p.heads * p.rows + 2u * ((h * p.rows + row) * p.slots + (p.key0 + j0) / SK);
    state[slot] = m;
    state[slot + 1u] = l;
  }
}

// MODE_MERGE: row i = h * rows + r merges its slots into the final (m, l).
fn merge(i: u32) {
  let p = params;
  if (i >= p.heads * p.rows) { return; }
  let base = 2u * p.heads * p.rows + 2u * i * p.slots;
  var m = NEG_HUGE;
  for (var s = 0u; s < p.slots; s++) { m = max(m, state[base + 2u * s]); }
  var l = 0.0;
  for (var s = 0u; s < p.slots; s++) { l += state[base + 2u * s + 1u] * exp(state[base + 2u * s] - m); }
  state[2u * i] = m;
  state[2u * i + 1u] = l;
}
