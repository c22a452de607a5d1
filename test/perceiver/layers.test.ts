// The Perceiver IO blocks against a plain TypeScript transcription of
// DeepMind's perceiver.py (pre-LN attention, tanh-GELU MLP, query residual,
// masks with zeroed fully masked rows), on small random parameters.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, randn, relError } from '../gpu.ts';
import { upload, readF32, type Gpu, type Tensor } from '../../engine/index.ts';
import { Params, crossAttention, selfAttention } from '../../perceiver/layers.ts';

type Host = Map<string, { shape: number[]; data: Float32Array }>;

/** Random parameters for one attention block under `scope`. */
function blockParams(host: Host, scope: string, cq: number, ckv: number, qk: number, v: number, cross: boolean, seed: number) {
  const add = (name: string, shape: number[], scale = 0.3) => {
    host.set(`${scope}/${name}`, { shape, data: randn(shape.reduce((a, b) => a * b, 1), seed++, scale) });
  };
  const norms = cross ? ['layer_norm', 'layer_norm_1', 'layer_norm_2'] : ['layer_norm', 'layer_norm_1'];
  norms.forEach((n, i) => {
    const c = cross && i === 1 ? ckv : cq;
    add(`${n}/scale`, [c], 1);
    add(`${n}/offset`, [c], 0.1);
  });
  add('attention/linear/w', [cq, qk]);
  add('attention/linear/b', [qk], 0.1);
  add('attention/linear_1/w', [ckv, qk]);
  add('attention/linear_1/b', [qk], 0.1);
  add('attention/linear_2/w', [ckv, v]);
  add('attention/linear_2/b', [v], 0.1);
  add('attention/linear_3/w', [v, cq]);
  add('attention/linear_3/b', [cq], 0.1);
  add('mlp/linear/w', [cq, cq]);
  add('mlp/linear/b', [cq], 0.1);
  add('mlp/linear_1/w', [cq, cq]);
  add('mlp/linear_1/b', [cq], 0.1);
}

// ---- plain TypeScript reference (float64) ----
const get = (h: Host, n: string) => h.get(n)!.data;

function layerNormRef(x: Float64Array, rows: number, c: number, scale: Float32Array, offset: Float32Array): Float64Array {
  const out = new Float64Array(rows * c);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < c; i++) mean += x[r * c + i];
    mean /= c;
    let vr = 0;
    for (let i = 0; i < c; i++) vr += (x[r * c + i] - mean) ** 2;
    vr /= c;
    for (let i = 0; i < c; i++) out[r * c + i] = ((x[r * c + i] - mean) / Math.sqrt(vr + 1e-5)) * scale[i] + offset[i];
  }
  return out;
}

function linearRef(x: Float64Array, rows: number, cin: number, w: Float32Array, b: Float32Array, cout: number): Float64Array {
  const out = new Float64Array(rows * cout);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < cout; o++) {
      let s = b[o];
      for (let i = 0; i < cin; i++) s += x[r * cin + i] * w[i * cout + o];
      out[r * cout + o] = s;
    }
  return out;
}

const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/** One batch element: Attention(q_in [tq,cq], kv_in [tk,ckv]) with a [tq,tk] mask. */
function attendRef(h: Host, s: string, q_in: Float64Array, kv_in: Float64Array, tq: number, tk: number, cq: number, ckv: number, qk: number, v: number, heads: number, mask: (t: number, T: number) => boolean) {
  const q = linearRef(q_in, tq, cq, get(h, `${s}/attention/linear/w`), get(h, `${s}/attention/linear/b`), qk);
  const k = linearRef(kv_in, tk, ckv, get(h, `${s}/attention/linear_1/w`), get(h, `${s}/attention/linear_1/b`), qk);
  const vv = linearRef(kv_in, tk, ckv, get(h, `${s}/attention/linear_2/w`), get(h, `${s}/attention/linear_2/b`), v);
  const dq = qk / heads;
  const dv = v / heads;
  const o = new Float64Array(tq * v);
  for (let hd = 0; hd < heads; hd++)
    for (let t = 0; t < tq; t++) {
      const logits = new Float64Array(tk);
      let anyKept = false;
      for (let T = 0; T < tk; T++) {
        let s2 = 0;
        for (let d = 0; d < dq; d++) s2 += q[t * qk + hd * dq + d] * k[T * qk + hd * dq + d];
        const keep = mask(t, T);
        anyKept ||= keep;
        logits[T] = keep ? s2 / Math.sqrt(dq) : -1e30;
      }
      if (!anyKept) continue; // fully masked rows are zeroed
      const m = Math.max(...logits);
      let z = 0;
      for (let T = 0; T < tk; T++) z += Math.exp(logits[T] - m);
      for (let T = 0; T < tk; T++) {
        const p = Math.exp(logits[T] - m) / z;
        for (let d = 0; d < dv; d++) o[t * v + hd * dv + d] += p * vv[T * v + hd * dv + d];
      }
    }
  return linearRef(o, tq, v, get(h, `${s}/attention/linear_3/w`), get(h, `${s}/attention/linear_3/b`), cq);
}

function mlpResidualRef(h: Host, s: string, x: Float64Array, rows: number, c: number, normName: string) {
  const n = layerNormRef(x, rows, c, get(h, `${s}/${normName}/scale`), get(h, `${s}/${normName}/offset`));
  const hid = linearRef(n, rows, c, get(h, `${s}/mlp/linear/w`), get(h, `${s}/mlp/linear/b`), c).map(gelu);
  const y = linearRef(hid, rows, c, get(h, `${s}/mlp/linear_1/w`), get(h, `${s}/mlp/linear_1/b`), c);
  return y.map((val, i) => val + x[i]);
}

function toGpu(gpu: Gpu, host: Host): Map<string, Tensor> {
  return new Map([...host].map(([k, v]) => [k, upload(gpu, v.data, v.shape)]));
}

const CROSS_CASES = [
  // [B, tq, tk, cq, ckv, qk, v, heads, masked]: masked multi-head, and the
  // one-head unmasked case where attend() folds the key/value projections
  // into the query side (with qk != ckv, which rescales the logits).
  { dims: [2, 5, 23, 12, 9, 8, 12, 2], masked: true },
  { dims: [2, 5, 23, 12, 9, 8, 12, 1], masked: false },
  { dims: [1, 4, 31, 10, 7, 7, 7, 1], masked: false },
];

for (const { dims, masked } of CROSS_CASES) test(`cross-attention block (heads ${dims[7]}, ${masked ? 'key and query masks' : 'unmasked'}) equals the reference`, async () => {
  const gpu = await testGpu();
  const [B, tq, tk, cq, ckv, qk, v, heads] = dims;
  const host: Host = new Map();
  blockParams(host, 'x', cq, ckv, qk, v, true, 11);
  const q = randn(B * tq * cq, 3);
  const kv = randn(B * tk * ckv, 4);
  const keyMask = Int32Array.from({ length: B * tk }, (_, i) => (masked && i % 5 === 1 ? 0 : 1));
  const queryMask = Int32Array.from({ length: B * tq }, (_, i) => (masked && (i === 2 || i === 6) ? 0 : 1));
  for (const residual of [true, false]) {
    const w = toGpu(gpu, host);
    const tensors = [upload(gpu, q, [B, tq, cq]), upload(gpu, kv, [B, tk, ckv]), upload(gpu, keyMask, [B, tk], 'i32'), upload(gpu, queryMask, [B, tq], 'i32')];
    const read = new Set<string>();
    const recorded = new (class extends Map<string, Tensor> {
      override get(name: string) {
        read.add(name);
        return super.get(name);
      }
    })(w);
    const out = crossAttention(gpu, tensors[0], tensors[1], new Params(recorded, 'x'), { heads, queryResidual: residual, ...(masked ? { keyMask: tensors[2], queryMask: tensors[3] } : { foldKeyValue: true }) });
    // The fold is taken exactly where it may be: there the key bias cancels
    // in the softmax and is never read, and no key projection runs.
    const folded = heads === 1 && !masked;
    assert.is(read.has('x/attention/linear_1/b'), !folded, `key bias read: ${read.has('x/attention/linear_1/b')}`);
    const ours = await readF32(out);
    const ref = new Float64Array(B * tq * cq);
    for (let b = 0; b < B; b++) {
      const qb = Float64Array.from(q.subarray(b * tq * cq, (b + 1) * tq * cq));
      const kvb = Float64Array.from(kv.subarray(b * tk * ckv, (b + 1) * tk * ckv));
      const nq = layerNormRef(qb, tq, cq, get(host, 'x/layer_norm/scale'), get(host, 'x/layer_norm/offset'));
      const nkv = layerNormRef(kvb, tk, ckv, get(host, 'x/layer_norm_1/scale'), get(host, 'x/layer_norm_1/offset'));
      const a = attendRef(host, 'x', nq, nkv, tq, tk, cq, ckv, qk, v, heads, (t, T) => queryMask[b * tq + t] === 1 && keyMask[b * tk + T] === 1);
      const x = residual ? a.map((val, i) => val + qb[i]) : a;
      ref.set(mlpResidualRef(host, 'x', x, tq, cq, 'layer_norm_2'), b * tq * cq);
    }
    assert.ok(relError(ours, ref) < 1e-5, `residual=${residual}: ${relError(ours, ref)}`);
    // A fully masked query row is the output bias pushed through the rest of the block.
    out.dispose();
    tensors.forEach((t) => t.dispose());
    w.forEach((t) => t.dispose());
  }
});

test('self-attention block equals the reference', async () => {
  const gpu = await testGpu();
  const [B, t, c, heads] = [2, 7, 16, 4];
  const host: Host = new Map();
  blockParams(host, 's', c, c, c, c, false, 21);
  const x = randn(B * t * c, 5);
  const w = toGpu(gpu, host);
  const xt = upload(gpu, x, [B, t, c]);
  const out = selfAttention(gpu, xt, new Params(w, 's'), heads);
  const ours = await readF32(out);
  const ref = new Float64Array(B * t * c);
  for (let b = 0; b < B; b++) {
    const xb = Float64Array.from(x.subarray(b * t * c, (b + 1) * t * c));
    const n = layerNormRef(xb, t, c, get(host, 's/layer_norm/scale'), get(host, 's/layer_norm/offset'));
    const a = attendRef(host, 's', n, n, t, t, c, c, c, c, heads, () => true).map((val, i) => val + xb[i]);
    ref.set(mlpResidualRef(host, 's', a, t, c, 'layer_norm_1'), b * t * c);
  }
  assert.ok(relError(ours, ref) < 1e-5, `${relError(ours, ref)}`);
  out.dispose();
  xt.dispose();
  w.forEach((tt) => tt.dispose());
});

test('a missing parameter is an error naming it', async () => {
  const gpu = await testGpu();
  const xt = upload(gpu, randn(12, 1), [1, 3, 4]);
  assert.throws(() => selfAttention(gpu, xt, new Params(new Map(), 'perceiver_encoder/~/self_attention'), 1), /missing parameter 'perceiver_encoder\/~\/self_attention\/layer_norm\/scale'/);
  xt.dispose();
});

test.run();
