// fourier: Perceiver IO Fourier position features (generate_fourier_features
// with concat_pos=True, sine_only=False) for a set of grid points.
//
// For point p with flat grid index g (row-major over `dims`, unravelled to
// per-axis indices i_0..i_{d-1}) the output row of width d + 2*d*K is
//   [pos_0(i_0) .. pos_{d-1}(i_{d-1}),
//    sin(pi*pos_a*freq_a,k) for a = 0..d-1, k = 0..K-1   (dimension-major),
//    cos(pi*pos_a*freq_a,k) in the same order].
// A feature depends only on one axis index, so the wrapper computes every
// distinct value once on the CPU (float64, exact range reduction) into
// `table`, and this kernel only assembles rows from it:
//   table[pos_base[a] + i_a]                      position on axis a
//   table[trig_base[a] + i_a*K + k]               sin for axis a, band k
//   table[trig_base[a] + cos_shift + i_a*K + k]   cos for axis a, band k
//
// Layout: `out` is row-major [points, width] (an aligned window; element
// offset out_off). Point p of this dispatch is global point point0 + p; its
// flat grid index is first + point0 + p, or indices[idx_off + point0 + p]
// when use_indices != 0 (out-of-range indices are clamped to the last grid
// point; `indices` is then a dummy). At most MAX_AXES axes.
//
// Tiling: PER_INVOCATION output elements per invocation (WORKGROUP apart),
// WORKGROUP invocations per workgroup; grids over 65535 workgroups are folded
// into (x, y) through `grid_x`.

struct Params {
  dims: vec4<u32>,
  pos_base: vec4<u32>,
  trig_base: vec4<u32>,
  n: u32,
  width: u32,
  axes: u32,
  bands: u32,
  point0: u32,
  first: u32,
  use_indices: u32,
  idx_off: u32,
  out_off: u32,
  cos_shift: u32,
  total_points: u32,
  grid_x: u32,
}

@group(0) @binding(0) var<storage, read> table: array<f32>;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const WORKGROUP = 256u;
// Elements per invocation, WORKGROUP apart (coalesced on GPUs; amortises the
// per-invocation cost of CPU emulation, ~3x faster on lavapipe than one).
const PER_INVOCATION = 16u;
const MAX_AXES = 4u;

// One output element.
fn element(e: u32) {
  let p = e / params.width;
  let ch = e % params.width;
  let point = params.point0 + p;

  var flat = params.first + point;
  if (params.use_indices != 0u) { flat = min(indices[params.idx_off + point], params.total_points - 1u); }

  // Unravel the flat index (row-major: the last axis varies fastest).
  var idx = vec4<u32>(0u);
  var rest = flat;
  for (var k = 0u; k < MAX_AXES; k++) {
    if (k < params.axes) {
      let a = params.axes - 1u - k;
      idx[a] = rest % params.dims[a];
      rest = rest / params.dims[a];
    }
  }

  let d = params.axes;
  let K = params.bands;
  var v: f32;
  if (ch < d) {
    v = table[params.pos_base[ch] + idx[ch]];
  } else {
    let c = ch - d;
    let per_kind = d * K;
    let is_cos = c >= per_kind;
    let cb = select(c, c - per_kind, is_cos);
    let a = cb / K;
    let band = cb % K;
    let base = params.trig_base[a] + select(0u, params.cos_shift, is_cos);
    v = table[base + idx[a] * K + band];
  }
  out[params.out_off + e] = v;
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
