// gather: embedding lookup, out[r, c] = table[clamp(ids[r], 0, V-1), c].
// Ids outside [0, V) cannot raise an error on a GPU: they are clamped to the
// nearest valid row (negative -> 0, too large -> V-1).
//
// Layout: table row-major [V, C]; ids [rows] (i32); out row-major [rows, C].
// All are aligned windows indexed from element offsets (table_off, ids_off,
// out_off); this dispatch covers `rows` rows.
//
// Tiling: PER_INVOCATION output elements per invocation (WORKGROUP apart, c
// fastest), WORKGROUP invocations per workgroup; large grids are folded
// through grid_x.

struct Params {
  rows: u32,
  cols: u32,
  vocab: u32,
  table_off: u32,
  ids_off: u32,
  out_off: u32,
  grid_x: u32,
}

@group(0) @binding(0) var<storage, read> table: array<f32>;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const WORKGROUP = 256u;
// Elements per invocation, WORKGROUP apart (coalesced on GPUs; amortises the
// per-invocation cost of CPU emulation, ~3x faster on lavapipe than one).
const PER_INVOCATION = 16u;

// One output element.
fn element(e: u32) {
  let r = e / params.cols;
  let c = e % params.cols;
  let id = u32(clamp(ids[params.ids_off + r], 0, i32(params.vocab) - 1));
  out[params.out_off + e] = table[params.table_off + id * params.cols + c];
}

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let count = params.rows * params.cols;
  let base = (wid.x + wid.y * params.grid_x) * (WORKGROUP * PER_INVOCATION) + lid;
  for (var j = 0u; j < PER_INVOCATION; j++) {
    let e = base + j * WORKGROUP;
    if (e >= count) { return; }
    element(e);
  }
}
