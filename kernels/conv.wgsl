// conv: 2-D convolution with TensorFlow SAME padding, optional bias, optional
// eval-mode batch norm and optional ReLU (the Perceiver conv stem):
//   y[b,oy,ox,co] = sum_{ky,kx,ci} x[b, oy*s + ky - pad_top, ox*s + kx - pad_left, ci] * w[ky,kx,ci,co]
//                   (taps outside the image read as zero)
//   y += bias[co]                                              if has_bias
//   y = (y - mean[co]) * (scale[co] * inverseSqrt(var[co] + eps)) + offset[co]   if has_bn
//   y = max(y, 0)                                              if relu
// (the batch-norm order of operations is Haiku's BatchNorm in eval mode).
//
// Layout: x NHWC [B,H,W,Cin], w HWIO [kh,kw,Cin,Cout] (Cout contiguous),
// y NHWC [B,OH,OW,Cout]; per-channel vectors [Cout]. Every array is bound as
// an aligned window and indexed from its element offset in `params`. Unused
// optional vectors are bound to a dummy and never read.
//
// Tiling: one invocation computes one output pixel for CO_TILE consecutive
// output channels (register blocked: each input tap is loaded once and used
// CO_TILE times; weight rows are contiguous in co). Channel indices past Cout
// are clamped on load and skipped on store, so Cout needs no padding.
// WORKGROUP invocations per workgroup; large grids are folded through grid_x.

struct Params {
  batch: u32,
  in_h: u32,
  in_w: u32,
  cin: u32,
  out_h: u32,
  out_w: u32,
  cout: u32,
  kh: u32,
  kw: u32,
  stride: u32,
  pad_top: u32,
  pad_left: u32,
  x_off: u32,
  w_off: u32,
  y_off: u32,
  bias_off: u32,
  scale_off: u32,
  offset_off: u32,
  mean_off: u32,
  var_off: u32,
  has_bias: u32,
  has_bn: u32,
  relu: u32,
  eps: f32,
  grid_x: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> bn_scale: array<f32>;
@group(0) @binding(4) var<storage, read> bn_offset: array<f32>;
@group(0) @binding(5) var<storage, read> bn_mean: array<f32>;
@group(0) @binding(6) var<storage, read> bn_var: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;

const WORKGROUP = 64u;
// Output channels per invocation: two vec4 accumulators (acc0, acc1) of
// LANES channels each.
const LANES = 4u;
const CO_TILE = 2u * LANES;

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * params.grid_x) * WORKGROUP + lid;
  let co_groups = (params.cout + CO_TILE - 1u) / CO_TILE;
  let pixels = params.batch * params.out_h * params.out_w;
  if (t >= pixels * co_groups) { return; }
  let cg = t % co_groups;
  let pix = t / co_groups;
  let ox = pix % params.out_w;
  let oy = (pix / params.out_w) % params.out_h;
  let b = pix / (params.out_w * params.out_h);
  let co0 = cg * CO_TILE;
  let last = params.cout - 1u;

  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  // Input coordinates as i32: taps left of / above the image are negative.
  let iy0 = i32(oy * params.stride) - i32(params.pad_top);
  let ix0 = i32(ox * params.stride) - i32(params.pad_left);
  for (var ky = 0u; ky < params.kh; ky++) {
    let iy = iy0 + i32(ky);
    if (iy < 0 || iy >= i32(params.in_h)) { continue; }
    for (var kx = 0u; kx < params.kw; kx++) {
      let ix = ix0 + i32(kx);
      if (ix < 0 || ix >= i32(params.in_w)) { continue; }
      let xb = params.x_off + ((b * params.in_h + u32(iy)) * params.in_w + u32(ix)) * params.cin;
      let wb = params.w_off + (ky * params.kw + kx) * params.cin * params.cout;
      for (var ci = 0u; ci < params.cin; ci++) {
        let xv = x[xb + ci];
        let wr = wb + ci * params.cout;
        let w0 = vec4<f32>(w[wr + min(co0, last)], w[wr + min(co0 + 1u, last)], w[wr + min(co0 + 2u, last)], w[wr + min(co0 + 3u, last)]);
        let w1 = vec4<f32>(w[wr + min(co0 + 4u, last)], w[wr + min(co0 + 5u, last)], w[wr + min(co0 + 6u, last)], w[wr + min(co0 + 7u, last)]);
        acc0 = xv * w0 + acc0;
        acc1 = xv * w1 + acc1;
      }
    }
  }

  let yb = params.y_off + pix * params.cout;
  var acc = array<vec4<f32>, 2>(acc0, acc1);
  for (var j = 0u; j < CO_TILE; j++) {
    let co = co0 + j;
    if (co >= params.cout) { break; }
    var v = acc[j / LANES][j % LANES];
    if (params.has_bias != 0u) { v += bias[params.bias_off + co]; }
    if (params.has_bn != 0u) {
      let inv = bn_scale[params.scale_off + co] * inverseSqrt(bn_var[params.var_off + co] + params.eps);
      v = (v - bn_mean[params.mean_off + co]) * inv + bn_offset[params.offset_off + co];
    }
    if (params.relu != 0u) { v = max(v, 0.0); }
    y[yb + co] = v;
  }
}
