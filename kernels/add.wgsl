// add: out = a + b, elementwise over two tensors of the same shape.
//
// Layout: flat arrays of `n` f32 values.
// Tiling: one invocation per element, 256 per workgroup. Large grids are
// folded into x and y by the engine, which fills `grid_x` with the x extent.

struct Params { n: u32, grid_x: u32 }

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const WORKGROUP = 256u;

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * params.grid_x) * WORKGROUP + lid;
  if (i >= params.n) { return; }
  out[i] = a[i] + b[i];
}
