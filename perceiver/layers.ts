// The generic Perceiver IO layers, exactly as DeepMind's perceiver.py:
// pre-LayerNorm attention blocks (eps 1e-5), an MLP with tanh-GELU, optional
// query residual, and no final LayerNorm anywhere. Parameters are looked up
// by their Haiku names (`scope/module/name`), so the converted checkpoint
// maps onto the code one to one.

import type { Gpu, Tensor } from '../engine/index.ts';
import { matmul } from '../kernels/matmul.ts';
import { attention } from '../kernels/attention.ts';
import { layerNorm } from '../kernels/layernorm.ts';
import { scale } from '../kernels/elementwise.ts';

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
  /** allow the one-head key/value fold below (the encoder's cross-attention) */
  foldKeyValue?: boolean;
  /** shown this attention's softmax operands (attention maps, see AttentionTap) */
  tap?: AttentionTap;
}

/**
 * Sees the operands of one attention's softmax: the probabilities are
 * softmax over the keys of q . k / sqrt(channels per head), with the key
 * mask (queries are never masked where a tap is used: the encoder's
 * latents). With the key/value fold these are the folded q Wk^T and the
 * inputs themselves, which give the same probabilities (see `attend`).
 * Called while the forward is being recorded; perceiver/attention_maps.ts
 * computes the maps from them.
 */
export type AttentionTap = (q: Tensor, k: Tensor, opts: { heads: number; keyMask?: Tensor }) => void;

/** Testing knob: false turns the key/value fold off everywhere (to check that it changes nothing). */
export const layersTesting = { foldKeyValue: true };

/**
 * `Attention`: q, k, v projections (linear, linear_1, linear_2), multi-head
 * softmax attention (fused kernel), output projection (linear_3).
 *
 * With `foldKeyValue`, one head, no masks and fewer queries than keys (the
 * encoder cross-attention over a large input), the key and value projections move to
 * the query side, which is the same arithmetic with far less work:
 *   logits = (q Wk^T) . x + q . bk, and q . bk is the same for every key of a
 *            query, so it cancels in the softmax;
 *   out    = sum_T p_T (x_T Wv + bv) = (sum_T p_T x_T) Wv + bv, as the p_T sum to 1.
 * So attention runs on the inputs x themselves with queries q Wk^T, and Wv is
 * applied to the few attended rows. For 182,528 flow inputs this saves two
 * [182528, 322] x [322, 322] projections per tile. (Decoders never fold, so
 * a query's output does not depend on how many queries share its chunk.)
 */
export function attend(gpu: Gpu, qIn: Tensor, kvIn: Tensor, p: Params, opts: AttendOptions): Tensor {
  const q = linear(gpu, qIn, p.scope('linear'));
  let heads: Tensor;
  const fold = opts.foldKeyValue === true && layersTesting.foldKeyValue && opts.heads === 1 && !opts.keyMask && !opts.queryMask && qIn.shape[1] < kvIn.shape[1];
  if (fold) {
    const wk = p.get('linear_1/w'); // [Ckv, qk]
    const [ckv, qk] = wk.shape;
    let qx = matmul(gpu, q, wk, { transposeB: true }); // [B, Tq, Ckv]
    if (qk !== ckv) {
      // the kernel scales logits by 1/sqrt(Ckv), the original by 1/sqrt(qk)
      const r = scale(gpu, qx, Math.sqrt(ckv / qk));
      qx.dispose();
      qx = r;
    }
    opts.tap?.(qx, kvIn, { heads: 1 });
    const attended = attention(gpu, qx, kvIn, kvIn, { heads: 1 }); // [B, Tq, Ckv]
    qx.dispose();
    heads = linear(gpu, attended, p.scope('linear_2'));
    attended.dispose();
  } else {
    const k = linear(gpu, kvIn, p.scope('linear_1'));
    const v = linear(gpu, kvIn, p.scope('linear_2'));
    opts.tap?.(q, k, { heads: opts.heads, keyMask: opts.keyMask });
    heads = attention(gpu, q, k, v, { heads: opts.heads, keyMask: opts.keyMask, queryMask: opts.queryMask });
    k.dispose();
    v.dispose();
  }
  q.dispose();
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
  /** kv already went through this block's layer_norm_1 (built slice by slice by the caller) */
  kvNormalized?: boolean;
  /** see `attend` */
  foldKeyValue?: boolean;
  /** see `attend` */
  tap?: AttentionTap;
}

/**
 * CrossAttention: a = Attn(LN(q), LN_1(kv)); x = q + a (query residual) or a;
 * x += MLP(LN_2(x)).
 */
export function crossAttention(gpu: Gpu, q: Tensor, kv: Tensor, p: Params, opts: CrossAttentionOptions): Tensor {
  const nq = norm(gpu, q, p.scope('layer_norm'));
  const nkv = opts.kvNormalized ? kv : norm(gpu, kv, p.scope('layer_norm_1'));
  const a = attend(gpu, nq, nkv, p.scope('attention'), {
    heads: opts.heads,
    keyMask: opts.keyMask,
    queryMask: opts.queryMask,
    residual: opts.queryResidual ? q : undefined,
    foldKeyValue: opts.foldKeyValue,
    tap: opts.tap,
  });
  nq.dispose();
  if (nkv !== kv) nkv.dispose();
  const n2 = norm(gpu, a, p.scope('layer_norm_2'));
  const out = mlpResidual(gpu, a, n2, p.scope('mlp'));
  n2.dispose();
  a.dispose();
  return out;
}
