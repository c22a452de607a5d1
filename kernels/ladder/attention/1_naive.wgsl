// Attention ladder, rung 1: naive attention in three passes, the formula as
// written. (The ladder: docs/attention.md; the harness:
// `npm run bench:ladder -- attention`.)
//
//   out[b, t, h, :] = sum_T softmax_T(scale * q[b, t, h, :] . k[b, T, h, :]) v[b, T, h, :]
//
// WHAT. The same result as the shipped kernel (kernels/attention.wgsl),
// masks included: the pair (t, T) is attended when query_mask[b, t] AND
// key_mask[b, T]; a masked logit is MASKED_LOGIT (-1e30, DeepMind's value);
// a query whose every key is masked comes out as zeros.
//
// HOW. One entry point, dispatched three times; `params.phase` picks the step:
//   phase 0, SCORES:  one invocation per logit: scores[b, h, t, T] =
//                     scale * q . k (or MASKED_LOGIT), a full Tq x Tk matrix
//                     per (batch, head) written to memory.
//   phase 1, SOFTMAX: one invocation per row of that matrix: its max, the sum
//                     of exp(s - max), then each entry replaced by its
//                     probability (a row whose max is MASKED_LOGIT becomes zeros).
//   phase 2, VALUES:  one invocation per output element: out[b, t, h, c] =
//                     sum_T p[b, h, t, T] * v[b, T, h, c].
// Each pass must finish before the next starts (separate dispatches: WebGPU
// orders them), which is why the probabilities have to go through memory.
//
// WHY IT IS SLOW. Every multiply-add loads both of its operands from memory:
// a logit reads Dqk values of q and Dqk of k; an output element reads Tk
// probabilities and Tk values. Nothing loaded is used twice by the same
// invocation. And the scores matrix is B * H * Tq * Tk floats: for the flow
// decoder (182,528 queries over 2,048 latents) that is 1.5 GB, more than any
// adapter lets one shader see (maxStorageBufferBindingSize), so this rung
// cannot even run there. Rung 2 (2_online.wgsl) removes the matrix.
//
// LAYOUT. q [B, Tq, H*Dqk], k [B, Tk, H*Dqk], v [B, Tk, H*Dv], out
// [B, Tq, H*Dv], row-major, head h of a row at channels [h*D, (h+1)*D) (as
// in attention.wgsl); masks i32 [B, Tq] / [B, Tk], 1 = attend (bound to a
// dummy and ignored when the flag is off); scores [B, H, Tq, Tk].
//
// TILING. None: workgroups of WG invocations over a flat index (the grid is
// folded into x and y through grid_x when it exceeds one dimension).

struct Params {
  batches: u32, tq: u32, tk: u32, heads: u32, dqk: u32, dv: u32,
  phase: u32,   // 0 scores, 1 softmax, 2 values
  flags: u32,   // FLAG_KEY_MASK | FLAG_QUERY_MASK
  scale: f32,
  grid_x: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> query_mask: array<i32>;
@group(0) @binding(4) var<storage, read> key_mask: array<i32>;
@group(0) @binding(5) var<storage, read_write> scores: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

const WG = 64u;                // invocations per workgroup
const FLAG_KEY_MASK = 4u;      // the same flag values as attention.wgsl
const FLAG_QUERY_MASK = 8u;
const MASKED_LOGIT = -1e30;    // DeepMind's value for masked logits
const ALL_MASKED = -5e29;      // a row max at or below this: every key was masked

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * params.grid_x) * WG + li;
  switch params.phase {
    case 0u: { score(i); }
    case 1u: { softmax_row(i); }
    default: { weigh(i); }
  }
}

// Logit i of the [B, H, Tq, Tk] matrix.
fn score(i: u32) {
  let p = params;
  if (i >= p.batches * p.heads * p.tq * p.tk) { return; }
  let key = i % p.tk;
  let t = (i / p.tk) % p.tq;
  let z = i / (p.tk * p.tq);        // b * heads + h
  let b = z / p.heads;
  let h = z % p.heads;
  var live = true;
  if ((p.flags & FLAG_QUERY_MASK) != 0u) { live = query_mask[b * p.tq + t] != 0; }
  if ((p.flags & FLAG_KEY_MASK) != 0u) { live = live && key_mask[b * p.tk + key] != 0; }
  let q_at = (b * p.tq + t) * p.heads * p.dqk + h * p.dqk;
  let k_at = (b * p.tk + key) * p.heads * p.dqk + h * p.dqk;
  var s = 0.0;
  for (var d = 0u; d < p.dqk; d++) { s = q[q_at + d] * k[k_at + d] + s; }
  scores[i] = select(MASKED_LOGIT, s * p.scale, live);
}

// Row r (one query of one batch and head): logits -> probabilities, in place.
fn softmax_row(r: u32) {
  let p = params;
  if (r >= p.batches * p.heads * p.tq) { return; }
  let at = r * p.tk;
  var m = scores[at];
  for (var j = 1u; j < p.tk; j++) { m = max(m, scores[at + j]); }
  if (m <= ALL_MASKED) {
    for (var j = 0u; j < p.tk; j++) { scores[at + j] = 0.0; }
    return;
  }
  var sum = 0.0;
  for (var j = 0u; j < p.tk; j++) { sum += exp(scores[at + j] - m); }
  let inv = 1.0 / sum;
  for (var j = 0u; j < p.tk; j++) { scores[at + j] = exp(scores[at + j] - m) * inv; }
}

// Output element i of [B, Tq, H, Dv].
fn weigh(i: u32) {
  let p = params;
  if (i >= p.batches * p.tq * p.heads * p.dv) { return; }
  let c = i % p.dv;
  let h = (i / p.dv) % p.heads;
  let t = (i / (p.dv * p.heads)) % p.tq;
  let b = i / (p.dv * p.heads * p.tq);
  let p_at = ((b * p.heads + h) * p.tq + t) * p.tk;
  let v_at = b * p.tk * p.heads * p.dv + h * p.dv + c;
  var o = 0.0;
  for (var key = 0u; key < p.tk; key++) { o = scores[p_at + key] * v[v_at + key * p.heads * p.dv] + o; }
  out[i] = o;
}
