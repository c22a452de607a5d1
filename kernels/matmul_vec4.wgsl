// matmul_vec4: out = activation(A @ B + bias) + residual with vec4 loads and
// stores; the same product, epilogue and Params as kernels/matmul.wgsl (A,
// bias, residual, out f32; B is BT, f32 here, f16 in the variant that
// kernels/matmul.ts derives), for contiguous operands only:
//
// Layout: A row-major along k (a_ks = 1), B and out row-major along n
// (b_ns = 1), K and N multiples of 4, every offset and stride in Params a
// multiple of 4 (the wrapper checks; Params are in elements, the arrays here
// in vec4s, hence the divisions by 4). Then
//   A[batch, m, 4k4 .. 4k4+3] = a[(a_off + batch * a_bs + m * a_ms) / 4 + k4]
//   B[batch, k, 4n4 .. 4n4+3] = b[(b_off + batch * b_bs + k * b_ks) / 4 + n4]
//   out[batch, m, 4n4 .. 4n4+3] = out[(c_off + batch * c_bs + m * N) / 4 + n4]
//
// Tiling: each invocation computes 8 rows x one vec4 of columns; per step of
// 4 k it loads 8 vec4 of A and a 4x4 block of B (a mat4x4 whose columns are
// 4 rows of B), so acc_i += W * a_i. The 8 rows are written out, not looped:
// SwiftShader (the software adapter of headless Chromium) does not unroll
// loops, and there this kernel runs 5-10x faster than `main` of matmul.wgsl.
// A workgroup of WG_X x WG_Y invocations covers 8 * WG_Y rows by 4 * WG_X
// columns; the grid is (column blocks, row blocks, batches). Rows past the
// edge are clamped for loading and skipped when storing.

alias BT = f32;

struct Params {
  m: u32, n: u32, k: u32,
  a_off: u32, a_ms: u32, a_ks: u32, a_bs: u32,
  b_off: u32, b_ks: u32, b_ns: u32, b_bs: u32,
  c_off: u32, c_bs: u32,
  r_off: u32, bias_off: u32,
  flags: u32,
}

@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<BT>>;
@group(0) @binding(2) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> residual: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(5) var<uniform> params: Params;

const V4_ROWS = 8u;  // output rows per invocation (acc0 .. acc7)
const V4_WG_X = 8u;  // invocations along N: a workgroup covers 32 columns ...
const V4_WG_Y = 8u;  // ... by 64 rows

const FLAG_BIAS = 1u;
const FLAG_GELU = 2u;
const FLAG_RESIDUAL = 4u;

const SQRT_2_OVER_PI = 0.7978845608028654;
const GELU_CUBIC = 0.044715;
const TANH_CLAMP = 10.0;  // as in matmul.wgsl: tanh is 1.0 in f32 past 9.1

// GELU, tanh approximation, per component (see matmul.wgsl).
fn gelu(x: vec4<f32>) -> vec4<f32> {
  let u = SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x);
  return 0.5 * x * (1.0 + tanh(clamp(u, vec4(-TANH_CLAMP), vec4(TANH_CLAMP))));
}

// The epilogue for row m of columns 4n4 .. 4n4+3 (skipped past the last row).
fn store(v0: vec4<f32>, batch: u32, m: u32, n4: u32) {
  let p = params;
  if (m >= p.m) { return; }
  let o = (batch * p.c_bs + m * p.n) / 4u + n4;
  var v = v0;
  if ((p.flags & FLAG_BIAS) != 0u) { v = v + bias[p.bias_off / 4u + n4]; }
  if ((p.flags & FLAG_GELU) != 0u) { v = gelu(v); }
  if ((p.flags & FLAG_RESIDUAL) != 0u) { v = v + residual[p.r_off / 4u + o]; }
  out[p.c_off / 4u + o] = v;
}

@compute @workgroup_size(V4_WG_X, V4_WG_Y)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let p = params;
  let batch = wid.z;
  let n4 = wid.x * V4_WG_X + lid.x;
  if (4u * n4 >= p.n) { return; }
  let m0 = (wid.y * V4_WG_Y + lid.y) * V4_ROWS;
  let last = p.m - 1u;
  let a_base = (p.a_off + batch * p.a_bs) / 4u;
  let ams = p.a_ms / 4u;
  let r0 = a_base + min(m0, last) * ams;
  let r1 = a_base + min(m0 + 1u, last) * ams;
  let r2 = a_base + min(m0 + 2u, last) * ams;
  let r3 = a_base + min(m0 + 3u, last) * ams;
  let r4 = a_base + min(m0 + 4u, last) * ams;
  let r5 = a_base + min(m0 + 5u, last) * ams;
  let r6 = a_base + min(m0 + 6u, last) * ams;
  let r7 = a_base + min(m0 + 7u, last) * ams;
  let bks = p.b_ks / 4u;
  var bi = (p.b_off + batch * p.b_bs) / 4u + n4;
  var acc0 = vec4<f32>();
  var acc1 = vec4<f32>();
  var acc2 = vec4<f32>();
  var acc3 = vec4<f32>();
  var acc4 = vec4<f32>();
  var acc5 = vec4<f32>();
  var acc6 = vec4<f32>();
  var acc7 = vec4<f32>();
  for (var k4 = 0u; k4 < p.k / 4u; k4++) {
    let w = mat4x4<f32>(vec4<f32>(b[bi]), vec4<f32>(b[bi + bks]), vec4<f32>(b[bi + 2u * bks]), vec4<f32>(b[bi + 3u * bks]));
    bi += 4u * bks;
    acc0 = w * a[r0 + k4] + acc0;
    acc1 = w * a[r1 + k4] + acc1;
    acc2 = w * a[r2 + k4] + acc2;
    acc3 = w * a[r3 + k4] + acc3;
    acc4 = w * a[r4 + k4] + acc4;
    acc5 = w * a[r5 + k4] + acc5;
    acc6 = w * a[r6 + k4] + acc6;
    acc7 = w * a[r7 + k4] + acc7;
  }
  store(acc0, batch, m0, n4);
  store(acc1, batch, m0 + 1u, n4);
  store(acc2, batch, m0 + 2u, n4);
  store(acc3, batch, m0 + 3u, n4);
  store(acc4, batch, m0 + 4u, n4);
  store(acc5, batch, m0 + 5u, n4);
  store(acc6, batch, m0 + 6u, n4);
  store(acc7, batch, m0 + 7u, n4);
}
