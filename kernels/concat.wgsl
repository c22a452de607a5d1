// concat: writes one part of a concatenation along the last axis,
//   out[g, coff + c] = part[b * b_stride + n * n_stride + c]   for c < ci,
// where g = b * N + n is an output row of out [B*N, ctot]. A part [B,N,ci]
// has b_stride = N*ci, n_stride = ci; a part [N,ci] broadcast over the batch
// has b_stride = 0; a part [ci] broadcast over batch and rows has both 0.
// The wrapper records one dispatch per part (and per row range when the
// output exceeds one storage binding). Elements are copied as raw 32-bit
// words, so any 32-bit dtype works.
//
// Layout: row-major. This dispatch covers output rows row0 .. row0+rows-1.
// `part` is an aligned window whose element part_off holds part element
// part_start (the first one these rows read); `out` is an aligned window
// whose element out_off is element (row0, 0) of the output.
//
// Tiling: PER_INVOCATION copied elements per invocation (WORKGROUP apart, c
// fastest), WORKGROUP invocations per workgroup; large grids are folded
// through grid_x.

struct Params {
  rows: u32,
  row0: u32,
  n: u32,
  ci: u32,
  ctot: u32,
  coff: u32,
  b_stride: u32,
  n_stride: u32,
  part_start: u32,
  part_off: u32,
  out_off: u32,
  grid_x: u32,
}

@group(0) @binding(0) var<storage, read> part: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

const WORKGROUP = 256u;
// Elements per invocation, WORKGROUP apart (coalesced on GPUs; amortises the
// per-invocation cost of CPU emulation, ~3x faster on lavapipe than one).
const PER_INVOCATION = 16u;

// One output element.
fn element(e: u32) {
  let r = e / params.ci;
  let c = e % params.ci;
  let g = params.row0 + r;
  let b = g / params.n;
  let n = g % params.n;
  let src = b * params.b_stride + n * params.n_stride + c - params.part_start;
  out[params.out_off + r * params.ctot + params.coff + c] = part[params.part_off + src];
}

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let count = params.rows * params.ci;
  let base = (wid.x + wid.y * params.grid_x) * (WORKGROUP * PER_INVOCATION) + lid;
  for (var j = 0u; j < PER_INVOCATION; j++) {
    let e = base + j * WORKGROUP;
    if (e >= count) { return; }
    element(e);
  }
}
