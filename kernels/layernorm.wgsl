// layernorm: per row of x [rows, C],
//   mean = sum(x) / C,  var = sum((x - mean)^2) / C          (two passes, f32)
//   y = (x - mean) * (scale * inverseSqrt(var + eps)) + offset
// which is Haiku's LayerNorm(axis=-1, create_scale, create_offset) in the
// same order of operations. The first pass sums x - x[0] (a shift by the
// row's first element) so that rows with a large mean and a small spread
// lose no precision in the sum; the second pass is centred on the mean.
//
// Layout: x and y are row-major [rows, C] (C contiguous); scale and offset
// are [C]. Every array is bound as an aligned window and indexed from the
// element offsets in `params` (x_off, y_off, scale_off, offset_off).
//
// Tiling, two entry points with the same bindings (the wrapper picks one):
//  - `row_per_invocation`: one invocation owns one row and loops over C three
//    times (sum, centred sum of squares, write), ROWS_PER_GROUP rows per
//    workgroup. No barriers: best on CPU emulation (lavapipe).
//  - `row_per_workgroup`: WG_THREADS invocations share one row, each taking
//    every WG_THREADS-th column; partial sums are combined by a tree
//    reduction in workgroup memory (two reductions per row). Best on GPUs.
// `row_per_invocation` accumulates in SUM_LANES independent partial sums
// (shorter rounding chains, more parallel adds); `row_per_workgroup` in
// WG_THREADS. Row counts over 65535 groups are folded by the engine into
// (x, y) through `grid_x`.

struct Params {
  rows: u32,
  cols: u32,
  x_off: u32,
  y_off: u32,
  scale_off: u32,
  offset_off: u32,
  eps: f32,
  grid_x: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> scale: array<f32>;
@group(0) @binding(2) var<storage, read> offset: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

const ROWS_PER_GROUP = 16u;
const WG_THREADS = 64u;
const SUM_LANES = 4u;

var<workgroup> partial: array<f32, WG_THREADS>;

@compute @workgroup_size(ROWS_PER_GROUP)
fn row_per_invocation(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * params.grid_x) * ROWS_PER_GROUP + lid;
  if (row >= params.rows) { return; }
  let C = params.cols;
  let xb = params.x_off + row * C;
  let yb = params.y_off + row * C;
  let body = C - C % SUM_LANES;

  let shift = x[xb];
  var s = vec4<f32>(0.0);
  for (var c = 0u; c < body; c += SUM_LANES) {
    s += vec4<f32>(x[xb + c], x[xb + c + 1u], x[xb + c + 2u], x[xb + c + 3u]) - shift;
  }
  var tail = 0.0;
  for (var c = body; c < C; c++) { tail += x[xb + c] - shift; }
  let mean = shift + ((s.x + s.y) + (s.z + s.w) + tail) / f32(C);

  var q = vec4<f32>(0.0);
  for (var c = 0u; c < body; c += SUM_LANES) {
    let d = vec4<f32>(x[xb + c], x[xb + c + 1u], x[xb + c + 2u], x[xb + c + 3u]) - mean;
    q += d * d;
  }
  var qt = 0.0;
  for (var c = body; c < C; c++) {
    let d = x[xb + c] - mean;
    qt += d * d;
  }
  let variance = ((q.x + q.y) + (q.z + q.w) + qt) / f32(C);
  let inv = inverseSqrt(variance + params.eps);

  for (var c = 0u; c < C; c++) {
    y[yb + c] = (x[xb + c] - mean) * (scale[params.scale_off + c] * inv) + offset[params.offset_off + c];
  }
}

// Sums `v` over the workgroup; every invocation gets the total.
fn workgroup_sum(v: f32, lid: u32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var stride = WG_THREADS / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG_THREADS)
fn row_per_workgroup(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * params.grid_x;
  // The whole workgroup leaves together, so the barriers stay uniform.
  if (row >= params.rows) { return; }
  let C = params.cols;
  let xb = params.x_off + row * C;
  let yb = params.y_off + row * C;

  let shift = x[xb];
  var s = 0.0;
  for (var c = lid; c < C; c += WG_THREADS) { s += x[xb + c] - shift; }
  let mean = shift + workgroup_sum(s, lid) / f32(C);

  var q = 0.0;
  for (var c = lid; c < C; c += WG_THREADS) {
    let d = x[xb + c] - mean;
    q += d * d;
  }
  let variance = workgroup_sum(q, lid) / f32(C);
  let inv = inverseSqrt(variance + params.eps);

  for (var c = lid; c < C; c += WG_THREADS) {
    y[yb + c] = (x[xb + c] - mean) * (scale[params.scale_off + c] * inv) + offset[params.offset_off + c];
  }
}
