// flow_color: the Middlebury colour coding of optical flow (Baker, Scharstein,
// Lewis, Roth, Black, Szeliski, "A Database and Evaluation Methodology for
// Optical Flow", IJCV 2011; their flowToColor.m / computeColor.m, as also
// in the `flow_vis` package), written as RGBA8 pixels.
//
// For a flow (u, v) in pixels, normalised by the magnitude scale R
// (un = u / R, vn = v / R, rad = |(un, vn)|):
//   a   = atan2(-vn, -un) / pi                      in [-1, 1]
//   fk  = (a + 1) / 2 * (NCOLS - 1);  k0 = floor(fk);  k1 = (k0 + 1) mod NCOLS
//   col = lerp(wheel[k0], wheel[k1], fk - k0) / 255           per channel
//   col = 1 - rad * (1 - col)   if rad <= 1  (saturation grows with |flow|)
//   col = 0.75 * col            otherwise    (beyond the scale: darker)
//   byte = floor(255 * col)
// The wheel has NCOLS = 55 hues in six ramps (red-yellow 15, yellow-green 6,
// green-cyan 4, cyan-blue 11, blue-magenta 13, magenta-red 6), built here
// from those lengths exactly as makeColorwheel: ramp entry i of length L is
// floor(255 * i / L). Right (+u) is red, down (+v) yellow, left cyan, up
// blue-violet. Unknown flow (NaN, or |u| or |v| > UNKNOWN_FLOW) is black.
// A flow with v = 0 and u > 0 gets a = -1 (wheel entry 0, pure red), as
// numpy's atan2(-0.0, -u) gives.
//
// R: `fixed_scale` when > 0, else the largest |flow| over the known pixels,
// found by a first dispatch with mode = MODE_REDUCE into stats[0] (the
// float's bits: for non-negative floats u32 order is float order, so
// atomicMax on the bits is a float max). Zero flow everywhere gives R = 0,
// treated as "all pixels at the centre" (white).
//
// Legend (legend_size > 0): the square of side legend_size at (legend_x0,
// legend_y0) shows the wheel itself: a disk of radius legend_size / 2 - 1
// whose pixel at offset (dx, dy) from the centre is coloured as the flow
// (dx, dy) * R / radius (so its rim is |flow| = R), on a white square.
//
// Layout: flow [pixels, 2] f32 (u, v), an aligned window at element flow_off;
// out [pixels] u32, each r | g << 8 | b << 16 | a << 24 (bytes R, G, B, A in
// memory: ImageData's order), an aligned window at element out_off. This
// dispatch covers global pixels p0 .. p0 + n - 1 (pixel = y * width + x).
//
// Tiling: PER_INVOCATION consecutive pixels per invocation (one atomic per
// invocation when reducing), WORKGROUP invocations per workgroup; large
// grids are folded through grid_x.

struct Params {
  n: u32,
  p0: u32,
  width: u32,
  mode: u32,
  flow_off: u32,
  out_off: u32,
  fixed_scale: f32,
  legend_x0: u32,
  legend_y0: u32,
  legend_size: u32,
  grid_x: u32,
}

@group(0) @binding(0) var<storage, read> flow: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<atomic<u32>>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

const WORKGROUP = 64u;
const PER_INVOCATION = 16u;
const MODE_REDUCE = 0u;
const NCOLS = 55u;
const RY = 15u;
const YG = 6u;
const GC = 4u;
const CB = 11u;
const BM = 13u;
const MR = 6u;
const UNKNOWN_FLOW = 1e9;
const PI = 3.14159265358979;
const BEYOND_SCALE = 0.75;
const OPAQUE = 0xff000000u;
const WHITE = 0xffffffffu;
const BLACK = 0xff000000u;
const ABS_MASK = 0x7fffffffu;
const INF_BITS = 0x7f800000u;

// Wheel entry k (0 .. NCOLS - 1) as 0..255 values.
fn wheel(kin: u32) -> vec3<f32> {
  var k = kin;
  if (k < RY) { return vec3<f32>(255.0, f32((255u * k) / RY), 0.0); }
  k = k - RY;
  if (k < YG) { return vec3<f32>(f32(255u - (255u * k) / YG), 255.0, 0.0); }
  k = k - YG;
  if (k < GC) { return vec3<f32>(0.0, 255.0, f32((255u * k) / GC)); }
  k = k - GC;
  if (k < CB) { return vec3<f32>(0.0, f32(255u - (255u * k) / CB), 255.0); }
  k = k - CB;
  if (k < BM) { return vec3<f32>(f32((255u * k) / BM), 0.0, 255.0); }
  k = k - BM;
  return vec3<f32>(255.0, 0.0, f32(255u - (255u * k) / MR));
}

// NaN or infinite (checked on the bits: compilers may fold x != x away).
fn not_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & ABS_MASK) >= INF_BITS;
}

fn unknown(u: f32, v: f32) -> bool {
  return not_finite(u) || not_finite(v) || abs(u) > UNKNOWN_FLOW || abs(v) > UNKNOWN_FLOW;
}

// The colour of a normalised flow (un, vn), packed RGBA.
fn color(un: f32, vn: f32) -> u32 {
  let rad = sqrt(un * un + vn * vn);
  var a = atan2(-vn, -un) / PI;
  if (vn == 0.0 && un > 0.0) { a = -1.0; }
  let fk = (a + 1.0) * 0.5 * f32(NCOLS - 1u);
  let k0 = min(u32(max(floor(fk), 0.0)), NCOLS - 1u);
  var k1 = k0 + 1u;
  if (k1 == NCOLS) { k1 = 0u; }
  let f = fk - f32(k0);
  var col = (1.0 - f) * (wheel(k0) / 255.0) + f * (wheel(k1) / 255.0);
  if (rad <= 1.0) {
    col = 1.0 - rad * (1.0 - col);
  } else {
    col = col * BEYOND_SCALE;
  }
  let b = vec3<u32>(clamp(floor(255.0 * col), vec3<f32>(0.0), vec3<f32>(255.0)));
  return b.x | (b.y << 8u) | (b.z << 16u) | OPAQUE;
}

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let first = ((wid.x + wid.y * params.grid_x) * WORKGROUP + lid) * PER_INVOCATION;
  if (first >= params.n) { return; }
  let last = min(first + PER_INVOCATION, params.n);
  if (params.mode == MODE_REDUCE) {
    var m = 0.0;
    for (var i = first; i < last; i = i + 1u) {
      let u = flow[params.flow_off + 2u * i];
      let v = flow[params.flow_off + 2u * i + 1u];
      if (!unknown(u, v)) { m = max(m, sqrt(u * u + v * v)); }
    }
    atomicMax(&stats[0], bitcast<u32>(m));
    return;
  }
  var scale = params.fixed_scale;
  if (scale <= 0.0) { scale = bitcast<f32>(atomicLoad(&stats[0])); }
  var inv = 0.0;
  if (scale > 0.0) { inv = 1.0 / scale; }
  let size = params.legend_size;
  let radius = f32(size) * 0.5 - 1.0;
  let centre = f32(size) * 0.5 - 0.5;
  for (var i = first; i < last; i = i + 1u) {
    let p = params.p0 + i;
    let x = p % params.width;
    let y = p / params.width;
    var rgba: u32;
    if (size > 0u && x >= params.legend_x0 && x < params.legend_x0 + size && y >= params.legend_y0 && y < params.legend_y0 + size) {
      let dx = (f32(x - params.legend_x0) - centre) / radius;
      let dy = (f32(y - params.legend_y0) - centre) / radius;
      if (dx * dx + dy * dy <= 1.0) { rgba = color(dx, dy); } else { rgba = WHITE; }
    } else {
      let u = flow[params.flow_off + 2u * i];
      let v = flow[params.flow_off + 2u * i + 1u];
      if (unknown(u, v)) { rgba = BLACK; } else { rgba = color(u * inv, v * inv); }
    }
    out[params.out_off + i] = rgba;
  }
}
