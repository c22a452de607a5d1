// maxpool: 2-D max pooling with TensorFlow SAME padding by -inf:
//   y[b,oy,ox,c] = max over ky, kx < size of x[b, oy*s + ky - pad_top, ox*s + kx - pad_left, c]
// taking only taps inside the image (padding by -inf never wins; with SAME
// padding every window holds at least one real tap).
//
// Layout: x NHWC [B,H,W,C], y NHWC [B,OH,OW,C], both aligned windows indexed
// from element offsets x_off / y_off.
//
// Tiling: PER_INVOCATION output elements per invocation (WORKGROUP apart, c
// fastest, so neighbouring invocations read neighbouring channels), WORKGROUP
// invocations per workgroup; large grids are folded through grid_x.

struct Params {
  batch: u32,
  in_h: u32,
  in_w: u32,
  channels: u32,
  out_h: u32,
  out_w: u32,
  size: u32,
  stride: u32,
  pad_top: u32,
  pad_left: u32,
  x_off: u32,
  y_off: u32,
  grid_x: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

const WORKGROUP = 256u;
// Elements per invocation, WORKGROUP apart (coalesced on GPUs; amortises the
// per-invocation cost of CPU emulation, ~3x faster on lavapipe than one).
const PER_INVOCATION = 16u;

// One output element.
fn element(e: u32) {
  let C = params.channels;
  let c = e % C;
  let pix = e / C;
  let ox = pix % params.out_w;
  let oy = (pix / params.out_w) % params.out_h;
  let b = pix / (params.out_w * params.out_h);

  // The window clipped to the image, in i32 (its start may be negative).
  let y_lo = i32(oy * params.stride) - i32(params.pad_top);
  let x_lo = i32(ox * params.stride) - i32(params.pad_left);
  let y0 = u32(max(y_lo, 0));
  let x0 = u32(max(x_lo, 0));
  let y1 = u32(min(y_lo + i32(params.size), i32(params.in_h)));
  let x1 = u32(min(x_lo + i32(params.size), i32(params.in_w)));

  let img = params.x_off + b * params.in_h * params.in_w * C;
  var m = x[img + (y0 * params.in_w + x0) * C + c];
  for (var iy = y0; iy < y1; iy++) {
    for (var ix = x0; ix < x1; ix++) {
      m = max(m, x[img + (iy * params.in_w + ix) * C + c]);
    }
  }
  y[params.y_off + e] = m;
}

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let count = params.batch * params.out_h * params.out_w * params.channels;
  let base = (wid.x + wid.y * params.grid_x) * (WORKGROUP * PER_INVOCATION) + lid;
  for (var j = 0u; j < PER_INVOCATION; j++) {
    let e = base + j * WORKGROUP;
    if (e >= count) { return; }
    element(e);
  }
}
