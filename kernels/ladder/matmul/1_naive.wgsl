// Matmul ladder, rung 1: naive, one output per invocation.
// (The harness: `npm run bench:ladder -- matmul`.)
//
//   out[m, n] = sum_k a[m, k] * b[k, n]
//
// LAYOUT. a [M, K], b [K, N], out [M, N], row-major f32, whole tensors
// bound (the shipped kernels/matmul.wgsl also takes offsets, strides,
// transposes, batches, bias, GELU and a residual; the ladder keeps to the
// product itself).
//
// HOW. The textbook loop: invocation (x, y) of the grid owns output
// (row y, column x) and runs over k, loading a[m, k] and b[k, n] for each
// multiply-add. Workgroups of WG x WG invocations cover WG x WG outputs.
//
// WHY IT IS SLOW. Two loads per multiply-add, and each value of a is loaded
// N times (once per column), each value of b M times. A GPU runs out of
// memory bandwidth long before it runs out of arithmetic; a CPU emulation
// (lavapipe) pays for every load with a bounds check per SIMD lane.
// Rung 2 (2_tiled.wgsl) shares loads between invocations.
//
// TILING. None beyond the workgroup shape; grid (ceil(N / WG), ceil(M / WG)).

struct Params { m: u32, n: u32, k: u32 }

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const WG = 16u;   // invocations along each side of a workgroup

@compute @workgroup_size(WG, WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = params;
  let col = gid.x;
  let row = gid.y;
  if (row >= p.m || col >= p.n) { return; }
  var acc = 0.0;
  for (var i = 0u; i < p.k; i++) { acc = a[row * p.k + i] * b[i * p.n + col] + acc; }
  out[row * p.n + col] = acc;
}
