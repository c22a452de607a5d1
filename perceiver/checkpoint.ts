// The building blocks of a checkpoint's leaf list (perceiver/params.ts): each
// Haiku module's parameters with their shapes, in Haiku's flat naming
// (`module/path/param`). The per-task lists live beside each model
// (perceiver/NAME/params.ts), so a task's bundle carries only its own.

import type { EncoderConfig } from './config.ts';

export interface CheckpointShapes {
  params: Map<string, number[]>;
  state: Map<string, number[]>;
}

/** Width of a Fourier position encoding with concat_pos: d + 2·d·K. */
export function fourierChannels(dims: number, bands: number): number {
  return dims + 2 * dims * bands;
}

/** Collects a checkpoint's leaves, module by module. */
export class CheckpointBuilder implements CheckpointShapes {
  readonly params = new Map<string, number[]>();
  readonly state = new Map<string, number[]>();
  add(name: string, shape: number[], into: 'params' | 'state' = 'params'): void {
    if (this.params.has(name) || this.state.has(name)) throw new Error(`expectedParams: duplicate name ${name}`);
    for (const d of shape) if (!Number.isSafeInteger(d) || d <= 0) throw new Error(`expectedParams: bad shape [${shape}] for ${name}`);
    this[into].set(name, shape);
  }
  linear(scope: string, inC: number, outC: number): void {
    this.add(`${scope}/b`, [outC]);
    this.add(`${scope}/w`, [inC, outC]);
  }
  layerNorm(scope: string, c: number): void {
    this.add(`${scope}/offset`, [c]);
    this.add(`${scope}/scale`, [c]);
  }
  posEmbs(scope: string, n: number, c: number): void {
    this.add(`${scope}/pos_embs`, [n, c]);
  }

  /** hk Attention + MLP of a Cross/SelfAttention block (widening factor 1 in every release). */
  private block(scope: string, cq: number, ckv: number, qk: number, v: number, out: number, heads: number, cross: boolean): void {
    if (qk % heads || v % heads) {
      throw new Error(`${scope}: qk channels ${qk} and v channels ${v} must be divisible by ${heads} heads`);
    }
    this.linear(`${scope}/attention/linear`, cq, qk);
    this.linear(`${scope}/attention/linear_1`, ckv, qk);
    this.linear(`${scope}/attention/linear_2`, ckv, v);
    this.linear(`${scope}/attention/linear_3`, v, out);
    this.layerNorm(`${scope}/layer_norm`, cq);
    this.layerNorm(`${scope}/layer_norm_1`, cross ? ckv : out);
    if (cross) this.layerNorm(`${scope}/layer_norm_2`, out);
    this.linear(`${scope}/mlp/linear`, out, out);
    this.linear(`${scope}/mlp/linear_1`, out, out);
  }

  /** CrossAttention(shape_for_attn='kv'): qk defaults to the kv width, v to qk, output = query width. */
  cross(scope: string, cq: number, ckv: number, heads: number, qkChannels: number | null = null, vChannels: number | null = null): void {
    const qk = qkChannels ?? ckv;
    this.block(scope, cq, ckv, qk, vChannels ?? qk, cq, heads, true);
  }

  /** SelfAttention: qk defaults to the width, v to qk; the output is v wide and must equal the width. */
  self(scope: string, c: number, heads: number, qkChannels: number | null, vChannels: number | null): void {
    const qk = qkChannels ?? c;
    const v = vChannels ?? qk;
    if (v !== c) throw new Error(`${scope}: v channels ${v} must equal the latent width ${c} (residual)`);
    this.block(scope, c, c, qk, v, v, heads, false);
  }

  encoder(e: EncoderConfig, inputChannels: number): void {
    const s = e.scope;
    this.posEmbs(`${s}/~/trainable_position_encoding`, e.numLatents, e.latentChannels);
    this.cross(`${s}/~/cross_attention`, e.latentChannels, inputChannels, e.numCrossAttentionHeads, e.crossQkChannels, e.crossVChannels);
    for (let i = 0; i < e.numSelfAttendsPerBlock; i++) {
      this.self(`${s}/~/self_attention${i ? `_${i}` : ''}`, e.latentChannels, e.numSelfAttentionHeads, e.selfQkChannels, e.selfVChannels);
    }
  }
}
