// elementwise: out = a + b with b repeating (broadcast over a's leading
// axes), or out = a * alpha when has_b = 0.
//   out[i] = a[i] + b[(e0 + i) % nb - b_start]      (has_b != 0)
//   out[i] = a[i] * alpha                           (has_b == 0; b unused)
// b has a's shape (nb = numel(a)) or a's trailing shape (e.g. a position
// table [N,C] added to every batch element of [B,N,C]).
//
// Layout: flat arrays. This dispatch covers global elements [e0, e0 + n) of
// a and out; a and out are aligned windows starting at those elements
// (element offsets a_off, out_off); b is an aligned window whose element
// b_off holds b element b_start.
//
// Tiling: PER_INVOCATION elements per invocation (WORKGROUP apart), WORKGROUP
// invocations per workgroup; large grids are folded through grid_x.

struct Params {
  n: u32,
  e0: u32,
  nb: u32,
  b_start: u32,
  a_off: u32,
  b_off: u32,
  out_off: u32,
  has_b: u32,
  alpha: f32,
  grid_x: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const WORKGROUP = 256u;
// Elements per invocation, WORKGROUP apart (coalesced on GPUs; amortises the
// per-invocation cost of CPU emulation, ~3x faster on lavapipe than one).
const PER_INVOCATION = 16u;

// One output element.
fn element(i: u32) {
  let v = a[params.a_off + i];
  if (params.has_b != 0u) {
    out[params.out_off + i] = v + b[params.b_off + (params.e0 + i) % params.nb - params.b_start];
  } else {
    out[params.out_off + i] = v * params.alpha;
  }
}

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let count = params.n;
  let base = (wid.x + wid.y * params.grid_x) * (WORKGROUP * PER_INVOCATION) + lid;
  for (var j = 0u; j < PER_INVOCATION; j++) {
    let e = base + j * WORKGROUP;
    if (e >= count) { return; }
    element(e);
  }
}
