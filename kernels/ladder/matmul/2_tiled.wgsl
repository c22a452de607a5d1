// Matmul ladder, rung 2: workgroup-memory tiling, one output per invocation.
//
//   out[m, n] = sum_k a[m, k] * b[k, n];  a [M, K], b [K, N], out [M, N], row-major f32
//
// WHAT CHANGES FROM RUNG 1. The WG x WG invocations of a workgroup compute a
// WG x WG block of outputs, and all of them need the same WG rows of a and
// the same WG columns of b. So the workgroup walks k in steps of WG: each
// invocation loads ONE value of a and ONE of b into workgroup memory (a
// WG x WG tile of each, shared by the workgroup), a barrier waits until the
// tiles are complete, then each invocation does WG multiply-adds from the
// tiles, and a second barrier keeps the tiles until everyone is done.
//
// WHY IT SHOULD HELP. Loads from storage (global memory) drop from 2 per
// multiply-add to 2 per WG multiply-adds: each value fetched is used WG = 16
// times. On a GPU workgroup memory is on-chip and an order of magnitude
// faster than global memory; this is the classic first step.
//
// WHAT IT COSTS. Two barriers per step. On a CPU emulation (lavapipe,
// SwiftShader) workgroup memory is ordinary memory, so nothing is saved,
// and a barrier splits the shader into coroutines: expect it to be SLOWER
// there than rung 1. Rung 3 (the shipped `main`) gets the reuse from
// registers instead, which pays on both.
//
// TILING. Workgroups of WG x WG invocations, one output each; grid
// (ceil(N / WG), ceil(M / WG)). Tile entries past the edge of a or b are
// zeros, so any M, N, K work.

struct Params { m: u32, n: u32, k: u32 }

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const WG = 16u;   // invocations along each side of a workgroup, and k per step

var<workgroup> tile_a: array<array<f32, WG>, WG>;   // [row][k]
var<workgroup> tile_b: array<array<f32, WG>, WG>;   // [k][column]

@compute @workgroup_size(WG, WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let p = params;
  let col = gid.x;
  let row = gid.y;
  var acc = 0.0;
  for (var k0 = 0u; k0 < p.k; k0 += WG) {
    // each invocation stages one value of each tile (zero past the edges)
    let ka = k0 + lid.x;
    let kb = k0 + lid.y;
    tile_a[lid.y][lid.x] = select(0.0, a[min(row, p.m - 1u) * p.k + min(ka, p.k - 1u)], row < p.m && ka < p.k);
    tile_b[lid.y][lid.x] = select(0.0, b[min(kb, p.k - 1u) * p.n + min(col, p.n - 1u)], kb < p.k && col < p.n);
    workgroupBarrier();
    for (var i = 0u; i < WG; i++) { acc = tile_a[lid.y][i] * tile_b[i][lid.x] + acc; }
    workgroupBarrier();
  }
  if (row < p.m && col < p.n) { out[row * p.n + col] = acc; }
}
