// space_to_depth: a strided gather of 32-bit elements, out[e] = x[f(e)],
// used for space_to_depth (einops `b (t dt) (h dh) (w dw) c ->
// b t h w (dt dh dw c)`), its 4-D form, and strided subsampling
// (x[:, ::s, ::s]).
//
// The output is seen as a row-major array of up to MAX_DIMS axes with extents
// dims (dims_lo = axes 0..3, dims_hi = axes 4..7; the last axis varies
// fastest; unused leading axes have extent 1). Element e has digits
// d_0..d_7 along them, and reads input element
//   f(e) = sum_k d_k * stride_k          (strides_lo / strides_hi)
// The wrapper chooses the axes and strides per operation.
//
// Layout: x and out are aligned windows. This dispatch covers global output
// elements [e0, e0 + n); out[out_off + e] = x[x_off + f(e0 + e) - in_start],
// where in_start is the smallest input element the dispatch reads.
//
// Tiling: PER_INVOCATION output elements per invocation (WORKGROUP apart),
// WORKGROUP invocations per workgroup; large grids are folded through grid_x.

struct Params {
  dims_lo: vec4<u32>,
  dims_hi: vec4<u32>,
  strides_lo: vec4<u32>,
  strides_hi: vec4<u32>,
  n: u32,
  e0: u32,
  in_start: u32,
  x_off: u32,
  out_off: u32,
  grid_x: u32,
}

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

const WORKGROUP = 256u;
// Elements per invocation, WORKGROUP apart (coalesced on GPUs; amortises the
// per-invocation cost of CPU emulation, ~3x faster on lavapipe than one).
const PER_INVOCATION = 16u;
const MAX_DIMS = 8u;
// Axes held by each vec4 of dims / strides.
const HALF = MAX_DIMS / 2u;

// One output element.
fn element(e: u32) {
  var rest = params.e0 + e;
  var src = 0u;
  for (var j = 0u; j < MAX_DIMS; j++) {
    let k = MAX_DIMS - 1u - j;
    var extent: u32;
    var stride: u32;
    if (k >= HALF) {
      extent = params.dims_hi[k - HALF];
      stride = params.strides_hi[k - HALF];
    } else {
      extent = params.dims_lo[k];
      stride = params.strides_lo[k];
    }
    src += (rest % extent) * stride;
    rest /= extent;
  }
  out[params.out_off + e] = x[params.x_off + src - params.in_start];
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
