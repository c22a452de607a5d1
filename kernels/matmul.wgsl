// matmul: out = activation(A @ B + bias) + residual, f32 accumulation; A, bias,
// residual and out are f32, B is BT (f32 here; kernels/matmul.ts derives the
// f16-storage variant by declaring BT = f16 under `enable f16;`).
//
// Layout: every operand is a flat array; the wrapper (kernels/matmul.ts)
// binds windows of the tensors and passes element offsets and strides, so one
// shader covers plain, transposed and batched products:
//   A[batch, m, k] = a[a_off + batch * a_bs + m * a_ms + k * a_ks]
//   B[batch, k, n] = b[b_off + batch * b_bs + k * b_ks + n * b_ns]   (b_bs = 0: B shared)
//   out[batch, m, n] = out[c_off + batch * c_bs + m * N + n]         (row-major [M, N])
//   residual: same indexing as out, from r_off; bias[n] from bias_off.
// `flags` selects the epilogue: FLAG_BIAS, FLAG_GELU, FLAG_RESIDUAL.
//
// Four tilings of the same product, one entry point each (the wrapper picks
// one per adapter and shape). In all of them rows and columns past the edge
// are clamped for loading (they read valid memory; `main_vec4` shifts its
// last tile of columns instead) and skipped when storing; the grid is
// (column blocks, row blocks, batches). The first three take any
// M, N, K and strides; `main_vec4` only untransposed A and B whose rows are
// whole vec4s.
//
// Each entry point is compiled as a module of its own: the declarations up to
// the first entry point, then its code up to the next (kernels/matmul.ts cuts
// them apart), so `main_vec4`'s module can declare a and b as arrays of vec4s.
//
// The matmul ladder (docs/attention.md, `npm run bench:ladder -- matmul`)
// climbs to these from kernels/ladder/matmul/1_naive.wgsl (one output per
// invocation) and 2_tiled.wgsl (16 x 16 workgroup-memory tiles, one output
// per invocation): rung 3 is `main`, 4 `main_vec4`, 5 `main_unrolled` and
// 6 `main_tiled`, each described below by what it changes.
//
// `main`, register blocking: each invocation computes a TILE_M x TILE_N block
// of outputs (64 accumulators held in registers); a workgroup of WG_X x WG_Y
// invocations covers (WG_Y * TILE_M) rows by (WG_X * TILE_N) columns. Per
// step of k an invocation loads TILE_M values of A and TILE_N values of B and
// does TILE_M * TILE_N multiply-adds, so every loaded value is reused 8 times.
// No workgroup memory: on CPU emulation (lavapipe) barriers are expensive and
// shared-memory loads cost as much as storage loads, so the register tile is
// what buys speed.
//
// `main_unrolled`, the same idea written out: each invocation computes 8 rows
// (acc0 .. acc7) by one vec4 of columns, with no loop but the one over k.
// SwiftShader (the software adapter of headless Chromium) does not unroll
// loops, so `main`'s arrays live in memory there; this kernel keeps everything
// in registers and runs about 8x faster on it. A workgroup of U_WG_X x U_WG_Y
// invocations covers 8 * U_WG_Y rows by 4 * U_WG_X columns.
//
// `main_vec4`, `main`'s register tile read in vec4s, for lavapipe: there every
// storage load is emitted per SIMD lane (bounds check, branch, scalar load),
// whatever the addresses, and these loads take most of `main`'s time (with
// them moved out of its k loop it runs 4x faster); a vec4 load pays that once
// per lane for four values. Its module binds
// a and b as array<vec4<f32>> / array<vec4<BT>>, so it needs a_ks = b_ns = 1,
// K and N multiples of 4 and 16-byte-aligned starts (the wrapper checks and
// runs `main` otherwise). Each invocation computes V_ROWS x V_COLS outputs:
// per 4 steps of k it loads one vec4 of A per row (4 k) and V_COLS / 4 vec4s
// of B per k, 24 loads for 512 multiply-adds where `main` makes 64 for 256.
// A workgroup of V_WG x V_WG invocations covers V_WG * V_ROWS rows by
// V_WG * V_COLS columns.
//
// `main_tiled`, workgroup memory (what GPUs want): a workgroup of TW x TW
// invocations computes a TB x TB block of outputs. Per step of TK it stages a
// TB x TK slab of A and a TK x TB slab of B in workgroup memory (each
// invocation loads TILE_LOADS values of each; neighbouring invocations load
// neighbouring k of A and n of B), then each invocation accumulates TR x TR
// outputs, rows ly + TW * i and columns lx + TW * j, so neighbouring
// invocations read neighbouring words of the slabs.

alias BT = f32;

struct Params {
  m: u32, n: u32, k: u32,
  a_off: u32, a_ms: u32, a_ks: u32, a_bs: u32,
  b_off: u32, b_ks: u32, b_ns: u32, b_bs: u32,
  c_off: u32, c_bs: u32,
  r_off: u32, bias_off: u32,
  flags: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<BT>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> residual: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

const TILE_M = 8u;   // main: output rows per invocation
const TILE_N = 8u;   // main: output columns per invocation
const WG_X = 4u;     // main: invocations along N (a workgroup covers 32 columns ...)
const WG_Y = 16u;    // main: invocations along M (... by 128 rows: little waste at N = 261, 322)

const V_ROWS = 8u;   // main_vec4: output rows per invocation
const V_COLS = 16u;  // main_vec4: output columns per invocation (four vec4s)
const V_WG = 4u;     // main_vec4: invocations along each side (a workgroup covers 32 rows by 64 columns)

const U_ROWS = 8u;   // main_unrolled: output rows per invocation (acc0 .. acc7)
const U_WG_X = 8u;   // main_unrolled: invocations along N (a workgroup covers 32 columns ...)
const U_WG_Y = 8u;   // main_unrolled: invocations along M (... by 64 rows)

const TW = 16u;        // main_tiled: invocations along each side of the workgroup
const TR = 4u;         // main_tiled: output rows (and columns, a vec4) per invocation
const TB = 64u;        // main_tiled: output rows (and columns) per workgroup, TW * TR
const TK = 16u;        // main_tiled: k per staged slab
const TILE_LOADS = TB * TK / (TW * TW); // main_tiled: values of each slab an invocation loads

var<workgroup> slab_a: array<f32, TB * TK>;   // [k][row]
var<workgroup> slab_b: array<f32, TB * TK>;   // [k][column]

const FLAG_BIAS = 1u;
const FLAG_GELU = 2u;
const FLAG_RESIDUAL = 4u;

const SQRT_2_OVER_PI = 0.7978845608028654;
const GELU_CUBIC = 0.044715;
// tanh(x) is exactly 1.0 in f32 for x >= 9.1; clamping its argument keeps
// drivers that build tanh from exp() from overflowing to inf/inf = NaN.
const TANH_CLAMP = 10.0;

// GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// Finite for any finite x (x^3 may reach inf; the clamp absorbs it).
fn gelu(x: f32) -> f32 {
  let u = SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x);
  return 0.5 * x * (1.0 + tanh(clamp(u, -TANH_CLAMP, TANH_CLAMP)));
}

// The epilogue for output (row, n), row = batch * c_bs + m * N: bias,
// activation, residual, store.
fn store(v0: f32, row: u32, n: u32) {
  let p = params;
  var v = v0;
  if ((p.flags & FLAG_BIAS) != 0u) { v = v + bias[p.bias_off + n]; }
  if ((p.flags & FLAG_GELU) != 0u) { v = gelu(v); }
  if ((p.flags & FLAG_RESIDUAL) != 0u) { v = v + residual[p.r_off + row + n]; }
  out[p.c_off + row + n] = v;
}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let p = params;
  let batch = wid.z;
  let n0 = (wid.x * WG_X + lid.x) * TILE_N;
  let m0 = (wid.y * WG_Y + lid.y) * TILE_M;

  // Where this invocation's rows of A and columns of B start (edges clamped).
  var a_row: array<u32, TILE_M>;
  var b_col: array<u32, TILE_N>;
  for (var i = 0u; i < TILE_M; i++) {
    a_row[i] = p.a_off + batch * p.a_bs + min(m0 + i, p.m - 1u) * p.a_ms;
  }
  for (var j = 0u; j < TILE_N; j++) {
    b_col[j] = p.b_off + batch * p.b_bs + min(n0 + j, p.n - 1u) * p.b_ns;
  }

  var acc = array<array<f32, TILE_N>, TILE_M>();
  for (var k = 0u; k < p.k; k++) {
    let ak = k * p.a_ks;
    let bk = k * p.b_ks;
    var av: array<f32, TILE_M>;
    var bv: array<f32, TILE_N>;
    for (var i = 0u; i < TILE_M; i++) { av[i] = a[a_row[i] + ak]; }
    for (var j = 0u; j < TILE_N; j++) { bv[j] = f32(b[b_col[j] + bk]); }
    for (var i = 0u; i < TILE_M; i++) {
      for (var j = 0u; j < TILE_N; j++) {
        acc[i][j] = av[i] * bv[j] + acc[i][j];
      }
    }
  }

  // Store the in-range part of the tile.
  for (var i = 0u; i < TILE_M; i++) {
    let m = m0 + i;
    if (m >= p.m) { break; }
    for (var j = 0u; j < TILE_N; j++) {
      let n = n0 + j;
      if (n >= p.n) { break; }
      store(acc[i][j], batch * p.c_bs + m * p.n, n);
    }
  }
}

@compute @workgroup_size(U_WG_X, U_WG_Y)
fn main_unrolled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let p = params;
  let batch = wid.z;
  let n0 = (wid.x * U_WG_X + lid.x) * 4u;
  let m0 = (wid.y * U_WG_Y + lid.y) * U_ROWS;
  // rows of A and columns of B, edges clamped
  let a_base = p.a_off + batch * p.a_bs;
  let a0 = a_base + min(m0, p.m - 1u) * p.a_ms;
  let a1 = a_base + min(m0 + 1u, p.m - 1u) * p.a_ms;
  let a2 = a_base + min(m0 + 2u, p.m - 1u) * p.a_ms;
  let a3 = a_base + min(m0 + 3u, p.m - 1u) * p.a_ms;
  let a4 = a_base + min(m0 + 4u, p.m - 1u) * p.a_ms;
  let a5 = a_base + min(m0 + 5u, p.m - 1u) * p.a_ms;
  let a6 = a_base + min(m0 + 6u, p.m - 1u) * p.a_ms;
  let a7 = a_base + min(m0 + 7u, p.m - 1u) * p.a_ms;
  let b_base = p.b_off + batch * p.b_bs;
  let b0 = b_base + min(n0, p.n - 1u) * p.b_ns;
  let b1 = b_base + min(n0 + 1u, p.n - 1u) * p.b_ns;
  let b2 = b_base + min(n0 + 2u, p.n - 1u) * p.b_ns;
  let b3 = b_base + min(n0 + 3u, p.n - 1u) * p.b_ns;
  var acc0 = vec4<f32>();
  var acc1 = vec4<f32>();
  var acc2 = vec4<f32>();
  var acc3 = vec4<f32>();
  var acc4 = vec4<f32>();
  var acc5 = vec4<f32>();
  var acc6 = vec4<f32>();
  var acc7 = vec4<f32>();
  var ak = 0u;  // k * a_ks
  var bk = 0u;  // k * b_ks
  for (var k = 0u; k < p.k; k++) {
    let w = vec4<f32>(f32(b[b0 + bk]), f32(b[b1 + bk]), f32(b[b2 + bk]), f32(b[b3 + bk]));
    acc0 = w * a[a0 + ak] + acc0;
    acc1 = w * a[a1 + ak] + acc1;
    acc2 = w * a[a2 + ak] + acc2;
    acc3 = w * a[a3 + ak] + acc3;
    acc4 = w * a[a4 + ak] + acc4;
    acc5 = w * a[a5 + ak] + acc5;
    acc6 = w * a[a6 + ak] + acc6;
    acc7 = w * a[a7 + ak] + acc7;
    ak += p.a_ks;
    bk += p.b_ks;
  }
  store4(acc0, batch, m0, n0);
  store4(acc1, batch, m0 + 1u, n0);
  store4(acc2, batch, m0 + 2u, n0);
  store4(acc3, batch, m0 + 3u, n0);
  store4(acc4, batch, m0 + 4u, n0);
  store4(acc5, batch, m0 + 5u, n0);
  store4(acc6, batch, m0 + 6u, n0);
  store4(acc7, batch, m0 + 7u, n0);
}

// Output row m, columns n0 .. n0 + 3 of main_unrolled (the in-range part).
fn store4(v: vec4<f32>, batch: u32, m: u32, n0: u32) {
  if (m >= params.m) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (n0 + j < params.n) { store(v[j], batch * params.c_bs + m * params.n, n0 + j); }
  }
}

// main_vec4: see the header. acc[i][j] holds row m0 + i, columns nc + 4 j .. nc + 4 j + 3.
@compute @workgroup_size(V_WG, V_WG)
fn main_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let p = params;
  let batch = wid.z;
  let m0 = (wid.y * V_WG + lid.y) * V_ROWS;
  let n0 = (wid.x * V_WG + lid.x) * V_COLS;
  // Past the right edge the tile shifts left to end at column N - 1 (N >= V_COLS)
  // rather than clamping each column: its columns stay one contiguous run of B.
  let nc = min(n0, p.n - V_COLS);
  let a_at = p.a_off + batch * p.a_bs;           // offsets and strides in f32s here ...
  var b_at = (p.b_off + batch * p.b_bs + nc) / 4u;  // ... and in vec4s (all multiples of 4)

  var acc = array<array<vec4<f32>, V_COLS / 4u>, V_ROWS>();
  for (var k4 = 0u; k4 < p.k / 4u; k4++) {
    var av: array<vec4<f32>, V_ROWS>;   // A[m0 + i, 4 k4 .. 4 k4 + 3]
    for (var i = 0u; i < V_ROWS; i++) { av[i] = a[(a_at + min(m0 + i, p.m - 1u) * p.a_ms) / 4u + k4]; }
    for (var kk = 0u; kk < 4u; kk++) {
      var bv: array<vec4<f32>, V_COLS / 4u>;   // B[4 k4 + kk, nc .. nc + V_COLS - 1]
      for (var j = 0u; j < V_COLS / 4u; j++) { bv[j] = vec4<f32>(b[b_at + j]); }
      b_at += p.b_ks / 4u;
      for (var i = 0u; i < V_ROWS; i++) {
        for (var j = 0u; j < V_COLS / 4u; j++) { acc[i][j] = bv[j] * av[i][kk] + acc[i][j]; }
      }
    }
  }

  // Store the in-range part; columns before n0 belong to the tile on the left.
  for (var i = 0u; i < V_ROWS; i++) {
    let m = m0 + i;
    if (m >= p.m) { break; }
    for (var j = n0 - nc; j < V_COLS; j++) {
      store(acc[i][j / 4u][j % 4u], batch * p.c_bs + m * p.n, nc + j);
    }
  }
}

@compute @workgroup_size(TW, TW)
fn main_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
  let p = params;
  let batch = wid.z;
  let row0 = wid.y * TB;
  let col0 = wid.x * TB;
  let a_base = p.a_off + batch * p.a_bs;
  let b_base = p.b_off + batch * p.b_bs;

  // acc[i][j]: output row row0 + lid.y + TW * i, column col0 + lid.x + TW * j
  var acc = array<vec4<f32>, TR>();
  for (var k0 = 0u; k0 < p.k; k0 += TK) {
    for (var l = 0u; l < TILE_LOADS; l++) {
      let e = l * TW * TW + li;
      // slab of A: e is (row e / TK, k e % TK); slab of B: (k e / TB, column e % TB)
      let ka = k0 + e % TK;
      let va = a[a_base + min(row0 + e / TK, p.m - 1u) * p.a_ms + min(ka, p.k - 1u) * p.a_ks];
      slab_a[(e % TK) * TB + e / TK] = select(0.0, va, ka < p.k);
      let kb = k0 + e / TB;
      let vb = f32(b[b_base + min(kb, p.k - 1u) * p.b_ks + min(col0 + e % TB, p.n - 1u) * p.b_ns]);
      slab_b[e] = select(0.0, vb, kb < p.k);
    }
    workgroupBarrier();
    for (var k = 0u; k < TK; k++) {
      let s = k * TB + lid.x;
      let bv = vec4<f32>(slab_b[s], slab_b[s + TW], slab_b[s + 2u * TW], slab_b[s + 3u * TW]);
      for (var i = 0u; i < TR; i++) {
        acc[i] = bv * slab_a[k * TB + lid.y + TW * i] + acc[i];
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < TR; i++) {
    let m = row0 + lid.y + TW * i;
    if (m >= p.m) { break; }
    for (var j = 0u; j < TR; j++) {
      let n = col0 + lid.x + TW * j;
      if (n < p.n) { store(acc[i][j], batch * p.c_bs + m * p.n, n); }
    }
  }
}
