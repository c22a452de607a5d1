// The generic Perceiver IO layers, exactly as DeepMind's perceiver.py:
// pre-LayerNorm attention blocks (eps 1e-5), an MLP with tanh-GELU, optional
// query residual, and no final LayerNorm anywhere. Parameters are looked up
// by their Haiku names (`scope/module/name`), so the converted checkpoint
// maps onto the code one to one.

import type { Gpu, Tensor } from '../engine/index.ts';
import { matmul } from '../kernels/matmul.ts';
import { attention } from '../kernels/attention.ts';
import { layerNorm } from '../kernels/layernorm.ts';

/** Named parameters (Haiku flat names) seen from one module scope. */
export class Params {
  constructor(readonly tensors: ReadonlyMap<string, Tensor>, readonly prefix = '') {}

  scope(name: string): Params {
    return new Params(this.tensors, this.prefix ? `${this.prefix}/${name}` : name);
  }

  get(name: string): Tensor {
    const full = this.prefix ? `${this.prefix}/${name}` : name;
    const t = this.tensors.get(full);
    if (!t) throw new Error(`missing parameter '${full}'`);
    return t;
  }

  has(name: string): boolean {
    return this.tensors.has(this.prefix ? `${this.prefix}/${name}` : name);
  }
}

export interface LinearOptions {
  activation?: 'none' | 'gelu';
  residual?: Tensor;
}

/** hk.Linear: x[..., in] @ w[in, out] + b (fused activation and residual). */
export function linear(gpu: Gpu, x: Tensor, p: Params, opts: LinearOptions = {}): Tensor {
  return matmul(gpu, x, p.get('w'), { bias: p.get('b'), ...opts });
}

export function norm(gpu: Gpu, x: Tensor, p: Params): Tensor {
  return layerNorm(gpu, x, p.get('scale'), p.get('offset'), 1e-5);
}

export interface AttendOptions {
  heads: number;
  keyMask?: Tensor;
  queryMask?: Tensor;
  /** added to the output projection (the block's residual), fused */
  residual?: Tensor;
}

/**
 * `Attention`: q, k, v projections (linear, linear_1, linear_2), multi-head
 * softmax attention (fused kernel), output projection (linear_3).
 */
export function attend(gpu: Gpu, qIn: Tensor, kvIn: Tensor, p: Params, opts: AttendOptions): Tensor {
  const q = linear(gpu, qIn, p.scope('linear'));
  const k = linear(gpu, kvIn, p.scope('linear_1'));
  const v = linear(gpu, kvIn, p.scope('linear_2'));
  const heads = attention(gpu, q, k, v, { heads: opts.heads, keyMask: opts.keyMask, queryMask: opts.queryMask });
  q.dispose();
  k.dispose();
  v.dispose();
  const out = linear(gpu, heads, p.scope('linear_3'), { residual: opts.residual });
  heads.dispose();
  return out;
}

/** MLP (widening factor 1 in every released model): linear -> GELU -> linear_1, plus the residual. */
function mlpResidual(gpu: Gpu, x: Tensor, normed: Tensor, p: Params): Tensor {
  const h = linear(gpu, normed, p.scope('linear'), { activation: 'gelu' });
  const out = linear(gpu, h, p.scope('linear_1'), { residual: x });
  h.dispose();
  return out;
}

/** SelfAttention: x += Attn(LN(x)); x += MLP(LN_1(x)). */
export function selfAttention(gpu: Gpu, x: Tensor, p: Params, heads: number): Tensor {
  const n = norm(gpu, x, p.scope('layer_norm'));
  const a = attend(gpu, n, n, p.scope('attention'), { heads, residual: x });
  n.dispose();
  const n1 = norm(gpu, a, p.scope('layer_norm_1'));
  const out = mlpResidual(gpu, a, n1, p.scope('mlp'));
  n1.dispose();
  a.dispose();
  return out;
}

export interface CrossAttentionOptions {
  heads: number;
  queryResidual: boolean;
  keyMask?: Tensor;
  queryMask?: Tensor;
}

/**
 * CrossAttention: a = Attn(LN(q), LN_1(kv)); x = q + a (query residual) or a;
 * x += MLP(LN_2(x)).
 */
export function crossAttention(gpu: Gpu, q: Tensor, kv: Tensor, p: Params, opts: CrossAttentionOptions): Tensor {
  const nq = norm(gpu, q, p.scope('layer_norm'));
  const nkv = norm(gpu, kv, p.scope('layer_norm_1'));
  const a = attend(gpu, nq, nkv, p.scope('attention'), {
    heads: opts.heads,
    keyMask: opts.keyMask,
    queryMask: opts.queryMask,
    residual: opts.queryResidual ? q : undefined,
  });
  nq.dispose();
  nkv.dispose();
  const n2 = norm(gpu, a, p.scope('layer_norm_2'));
  const out = mlpResidual(gpu, a, n2, p.scope('mlp'));
  n2.dispose();
  a.dispose();
  return out;
}
