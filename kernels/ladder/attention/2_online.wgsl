// Attention ladder, rung 2: one query per invocation, online softmax, one pass.
//
// WHAT. The same result as rung 1 (1_naive.wgsl) and the shipped kernel,
// masks included (MASKED_LOGIT, fully masked queries as zeros).
//
// WHAT CHANGES FROM RUNG 1. The Tq x Tk scores matrix is gone, and so are
// two of the three passes. One invocation owns one query of one (batch,
// head) and walks the keys in order, keeping the ONLINE SOFTMAX state: a
// running max m, a running sum l of exp(s - m), and the unnormalised output
// o = sum exp(s - m) v. For each new key with logit s and value row v_T:
//     m'    = max(m, s)
//     alpha = exp(m - m')          rescales what was summed under the old max
//     p     = exp(s - m')
//     l'    = l * alpha + p
//     o'    = o * alpha + p * v_T
// and at the end out = o / l. This is exactly softmax(s) . v (every exp()
// argument is <= 0, so nothing overflows), computed without ever holding
// more than one logit.
//
// WHY IT SHOULD HELP. Memory traffic: rung 1 wrote Tq * Tk logits, read them
// three times in the softmax, wrote the probabilities and read them once
// more per output channel; here logits never leave the invocation. And it
// runs at any size: nothing grows with Tq * Tk, so the flow decoder fits.
//
// WHAT IS STILL SLOW. Each invocation reads its query row again for every
// key (Dqk loads per key; Dqk is not known when the shader is compiled, so
// the row cannot sit in a fixed-size register array), and every key's value
// row is read by every query separately: one load per multiply-add, as in
// rung 1. And o, Dv floats per query, does not fit in registers either (any
// Dv), so it lives in `out`: read, rescaled and written back for every key.
// Rung 3 (the shipped kernel) attacks all three by giving each invocation a
// block of queries and walking the keys in blocks.
//
// LAYOUT. As attention.wgsl: q [B, Tq, H*Dqk], k [B, Tk, H*Dqk],
// v [B, Tk, H*Dv], out [B, Tq, H*Dv], masks i32 [B, Tq] / [B, Tk].
//
// TILING. One invocation per (batch, head, query), WG per workgroup, a flat
// index folded into x and y through grid_x; no workgroup memory.

struct Params {
  batches: u32, tq: u32, tk: u32, heads: u32, dqk: u32, dv: u32,
  flags: u32,   // FLAG_KEY_MASK | FLAG_QUERY_MASK
  scale: f32,
  grid_x: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> query_mask: array<i32>;
@group(0) @binding(4) var<storage, read> key_mask: array<i32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

const WG = 64u;                // invocations per workgroup
const FLAG_KEY_MASK = 4u;      // the same flag values as attention.wgsl
const FLAG_QUERY_MASK = 8u;
const MASKED_LOGIT = -1e30;    // DeepMind's value for masked logits
const NEG_HUGE = -3.0e38;      // "minus infinity" for the running max (finite: no inf - inf)
const ALL_MASKED = -5e29;      // a final max at or below this: every key was masked

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let p = params;
  let i = (wid.x + wid.y * p.grid_x) * WG + li;   // (b * heads + h) * tq + t
  if (i >= p.batches * p.heads * p.tq) { return; }
  let t = i % p.tq;
  let z = i / p.tq;
  let b = z / p.heads;
  let h = z % p.heads;
  var q_live = true;
  if ((p.flags & FLAG_QUERY_MASK) != 0u) { q_live = query_mask[b * p.tq + t] != 0; }
  let q_at = (b * p.tq + t) * p.heads * p.dqk + h * p.dqk;
  let o_at = (b * p.tq + t) * p.heads * p.dv + h * p.dv;

  var m = NEG_HUGE;
  var l = 0.0;
  for (var key = 0u; key < p.tk; key++) {
    var live = q_live;
    if ((p.flags & FLAG_KEY_MASK) != 0u) { live = live && key_mask[b * p.tk + key] != 0; }
    let k_at = (b * p.tk + key) * p.heads * p.dqk + h * p.dqk;
    var s = 0.0;
    for (var d = 0u; d < p.dqk; d++) { s = q[q_at + d] * k[k_at + d] + s; }
    s = select(MASKED_LOGIT, s * p.scale, live);
    let m_new = max(m, s);
    let alpha = exp(m - m_new);
    let pk = exp(s - m_new);
    l = l * alpha + pk;
    m = m_new;
    let v_at = (b * p.tk + key) * p.heads * p.dv + h * p.dv;
    for (var c = 0u; c < p.dv; c++) {
      var o = 0.0;
      if (key > 0u) { o = out[o_at + c] * alpha; }   // the first key starts the sum
      out[o_at + c] = pk * v[v_at + c] + o;
    }
  }
  // Normalise; a query that only ever saw masked logits becomes zeros.
  let norm = select(0.0, 1.0 / l, m > ALL_MASKED);
  for (var c = 0u; c < p.dv; c++) { out[o_at + c] = out[o_at + c] * norm; }
}
