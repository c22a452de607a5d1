// patches: Perceiver IO's optical-flow input, patches_for_flow followed by
// space_to_depth over the two frames:
//   out[b,h,w, (f*PATCH + ph)*PATCH*C + pw*C + c] = frames[b, f, h+ph-1, w+pw-1, c]
// for frame f in {0, 1}, patch offsets ph, pw < PATCH (3x3, stride 1), and
// zero outside the frame (each frame zero-padded by HALO = 1 pixel). Channel
// order (f, ph, pw, c): frame 0's 9*C channels, then frame 1's.
//
// Layout: frames [B, FRAMES, H, W, C], out [B, H, W, FRAMES*PATCH*PATCH*C],
// both row-major aligned windows. This dispatch covers output rows
// (b, h) = row0 .. row0 + rows - 1 (row = b*H + h); its frames window
// starts at the first element of image b = row0 / H, at element frames_off.
//
// Tiling: PER_INVOCATION output elements per invocation (WORKGROUP apart,
// channels fastest), WORKGROUP invocations per workgroup; large grids are
// folded through grid_x.

struct Params {
  rows: u32,
  row0: u32,
  height: u32,
  width: u32,
  channels: u32,
  frames_off: u32,
  out_off: u32,
  grid_x: u32,
}

@group(0) @binding(0) var<storage, read> frames: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

const WORKGROUP = 256u;
// Elements per invocation, WORKGROUP apart (coalesced on GPUs; amortises the
// per-invocation cost of CPU emulation, ~3x faster on lavapipe than one).
const PER_INVOCATION = 16u;
const FRAMES = 2u;
const PATCH = 3u;
const HALO = 1;

// One output element.
fn element(e: u32) {
  let C = params.channels;
  let OC = FRAMES * PATCH * PATCH * C;
  let W = params.width;
  let H = params.height;
  let ch = e % OC;
  let w = (e / OC) % W;
  let row = params.row0 + e / (OC * W);
  let h = row % H;
  // Image index relative to the first image of this dispatch's window.
  let b = row / H - params.row0 / H;

  let c = ch % C;
  let pw = (ch / C) % PATCH;
  let ph = (ch / (C * PATCH)) % PATCH;
  let f = ch / (C * PATCH * PATCH);
  let iy = i32(h + ph) - HALO;
  let ix = i32(w + pw) - HALO;
  var v = 0.0;
  if (iy >= 0 && iy < i32(H) && ix >= 0 && ix < i32(W)) {
    v = frames[params.frames_off + (((b * FRAMES + f) * H + u32(iy)) * W + u32(ix)) * C + c];
  }
  out[params.out_off + e] = v;
}

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let count = params.rows * params.width * FRAMES * PATCH * PATCH * params.channels;
  let base = (wid.x + wid.y * params.grid_x) * (WORKGROUP * PER_INVOCATION) + lid;
  for (var j = 0u; j < PER_INVOCATION; j++) {
    let e = base + j * WORKGROUP;
    if (e >= count) { return; }
    element(e);
  }
}
